"""Imported first by the batch's forkserver (worker.PRELOAD), before numpy and scipy:
the math libraries it loads next, and the grading processes it forks, get one thread each.
The process that starts the forkserver keeps its own environment.

It also marks every process forked from the forkserver as a grading process. multiprocessing
runs the coordinator's script again in each of them; a script that calls `coordinator.grade_all`
without a main guard would start a batch of its own there, which grades, hangs or fails
depending on the machine's load. `grade_all` refuses at once in a marked process, so such a
submission always fails before grading begins, and its outcome says why."""

import os

from ..course import ONE_MATH_THREAD, same_arithmetic

# PYTORCH_NVML_BASED_CUDA_CHECK: a grader module that imports torch (05, 06) is imported here, and
# torch's CUDA probe would otherwise initialise the driver in the process that every grading
# process forks from. Kernels are started afresh, so they still see the GPU.
os.environ.update(ONE_MATH_THREAD, MPLBACKEND="Agg", PYTORCH_NVML_BASED_CUDA_CHECK="1")
os.environ.update(same_arithmetic())  # the checks' own arithmetic (a grader's forward pass) too

GRADING_PROCESS = True  # read by coordinator.refuse_in_grading_process
