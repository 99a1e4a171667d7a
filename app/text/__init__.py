"""Text folding, acronyms, question types and typo correction: the words a question and a brief are matched by."""
