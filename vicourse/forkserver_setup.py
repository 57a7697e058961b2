"""Imported first by the batch's forkserver (batch_worker.PRELOAD), before numpy and scipy:
the math libraries it loads next, and the grading processes it forks, get one thread each.
The process that starts the forkserver keeps its own environment."""

import os

from .course import ONE_MATH_THREAD

# PYTORCH_NVML_BASED_CUDA_CHECK: a grader module that imports torch (05, 06) is imported here, and
# torch's CUDA probe would otherwise initialise the driver in the process that every grading
# process forks from. Kernels are started afresh, so they still see the GPU.
os.environ.update(ONE_MATH_THREAD, MPLBACKEND="Agg", PYTORCH_NVML_BASED_CUDA_CHECK="1")
