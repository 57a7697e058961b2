"""Grading many submissions: the coordinator, its dask workers and the grading processes they fork."""
