"""Grading many submissions: the coordinator, its dask tasks and workers, and the grading process
each submission gets, forked from a forkserver."""
