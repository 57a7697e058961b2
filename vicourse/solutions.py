"""Executed, student-safe solution notebooks (.ipynb with outputs, and .html).

nbgrader's own generate_solution keeps the hidden tests and the markers, so
this strips them from the instructor notebook, executes it, and exports it.
"""

from __future__ import annotations

import copy
import re
import tempfile
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

from .course import assignments, kernel_environment, read_notebook, source_notebook
from .shipped import working_copy

HIDDEN_BLOCK = re.compile(r"\n?[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", re.S)
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def student_safe(source_nb):
    """The source notebook without hidden tests, solution markers or nbgrader metadata."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        cell.source = MARKER_LINE.sub("", HIDDEN_BLOCK.sub("", cell.source)).rstrip()
        cell.metadata.pop("nbgrader", None)
        cell.metadata.pop("editable", None)
        cell.metadata.pop("deletable", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def build_solution(root: Path, name: str, timeout: int = 600) -> float:
    """Write solutions/<name>/<name>.ipynb and .html; return the execution time."""
    import os

    nb = student_safe(read_notebook(source_notebook(root, name)))
    out_dir = root / "solutions" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    os.environ.update(kernel_environment())
    # grading kernels draw nothing (Agg); solutions should show their figures inline
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # progress bars help a student waiting on training; in a solution they are noise, and their
    # rates would make every build differ from the last
    os.environ["TQDM_DISABLE"] = "1"
    started = time.perf_counter()
    try:
        # run where a student would: the assignment's files and the course modules it imports
        with tempfile.TemporaryDirectory(prefix=f"vicourse-solution-{name}-") as folder:
            working_copy(root, name, Path(folder))
            ExecutePreprocessor(timeout=timeout).preprocess(nb, {"metadata": {"path": folder}})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - started
    nbformat.write(nb, str(out_dir / f"{name}.ipynb"))
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out_dir / f"{name}.html").write_text(html, encoding="utf-8")
    return seconds


def build_solutions(root: Path, names: list[str] | None = None) -> None:
    for name in names or assignments(root):
        seconds = build_solution(root, name)
        print(f"solutions/{name}/{name}.ipynb and .html (executed in {seconds:.1f} s)")
