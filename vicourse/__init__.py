"""vicourse: the small library behind the variational-inference course.

Notebooks use `device` (torch device and seeds); hidden graders use `checking`;
the pipeline (autograde hook, batch grading, reports, solutions) lives in the
other modules and is driven by the Makefile.
"""
