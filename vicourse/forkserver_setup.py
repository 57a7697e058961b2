"""Imported first by the batch's forkserver (batch_worker.PRELOAD), before numpy and scipy:
the math libraries it loads next, and the grading processes it forks, get one thread each.
The process that starts the forkserver keeps its own environment."""

import os

from .course import ONE_MATH_THREAD

os.environ.update(ONE_MATH_THREAD, MPLBACKEND="Agg")
