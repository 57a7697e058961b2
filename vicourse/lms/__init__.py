"""Submissions in from the exchange and the LMS downloads, and the Gradescope autograder out."""
