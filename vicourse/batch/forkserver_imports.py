"""Imported last by the batch's forkserver: the modules the assignment's hidden checks import,
named by the process that started it (worker.start_forkserver). The forkserver itself
survives only an ImportError in its preload list; any other error would end it, and with it the
grading of every submission. So each module is imported on its own here, and one that fails in
any way is left to the grading processes, which import the grader module and report its error."""

import importlib
import os

from .worker import CHECK_IMPORTS

for _name in filter(None, os.environ.pop(CHECK_IMPORTS, "").split(",")):
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: BLE001 - see above: never end the forkserver over a grader's import
        pass
