"""Retrieve: candidate passages and sentences for a question, scored and ranked (the learned quote ranker)."""
