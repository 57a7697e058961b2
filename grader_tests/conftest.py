"""Run the hidden graders against one notebook:

    pytest grader_tests --submission path/to/01_entropy_kl.ipynb

The notebook is executed once in its own kernel (with the course's timeouts);
each check then calls into that kernel through plain-data proxies, exactly as
during `nbgrader autograde`.  Only the grader module named after the notebook
runs; the others are skipped.
"""

import os
from pathlib import Path

import nbformat
import pytest

from vicourse.grading_executor import live_student


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
    """The submission's namespace, as a vicourse.checking.Student."""
    submission = request.config.getoption("--submission")
    if submission is None:
        pytest.skip("no --submission given")
    path = Path(submission).resolve()
    notebook = nbformat.read(str(path), as_version=4)
    os.environ.setdefault("MPLBACKEND", "Agg")
    with live_student(notebook, str(path.parent), timeout=request.config.getoption("--cell-timeout")) as student:
        yield student
