"""Run the hidden graders against one notebook:

    pytest grader_tests --submission path/to/01_entropy_kl.ipynb

The notebook is executed once in its own sandboxed kernel (with the course's
timeouts); each check then calls into that kernel through plain-data proxies,
exactly as during `nbgrader autograde`.  The kernel's working folder is a copy
of the assignment's release folder, never the folder the submission sits in
(which may hold other students' work).  Only the grader module named after the
notebook runs; the others are skipped.
"""

import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from vicourse.grading.executor import live_student
from vicourse.grading.hidden_checks import load_grader_module


class SealedModule(pytest.Module):
    """A grader module compiled from its source, as autograde loads it: never from a .pyc."""

    def _getobj(self):
        return load_grader_module(self.path.parent, self.path.stem.removeprefix("test_"))


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name.startswith("test_"):
        return SealedModule.from_parent(parent, path=module_path)


def pytest_addoption(parser):
    parser.addoption("--submission", action="store", default=None, help="notebook to grade")
    parser.addoption("--cell-timeout", action="store", type=int, default=120, help="seconds per cell")


def pytest_collection_modifyitems(config, items):
    submission = config.getoption("--submission")
    if submission is None:
        return
    wanted = f"test_{Path(submission).stem}.py"
    skip = pytest.mark.skip(reason=f"grader for another notebook (submission is {Path(submission).name})")
    for item in items:
        if item.path.name != wanted:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nb(request):
    """The submission's namespace, as a vicourse.grading.student.Student."""
    submission = request.config.getoption("--submission")
    if submission is None:
        pytest.skip("no --submission given")
    path = Path(submission).resolve()
    notebook = nbformat.read(str(path), as_version=4)
    os.environ.setdefault("MPLBACKEND", "Agg")
    release = Path(__file__).resolve().parents[1] / "release" / path.stem
    with tempfile.TemporaryDirectory() as empty:
        files = str(release) if release.is_dir() else empty
        with live_student(notebook, files, timeout=request.config.getoption("--cell-timeout")) as student:
            yield student
