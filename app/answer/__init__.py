"""Answer: the quotes, the calibrated confidence, who says what, and how answers are scored."""
