"""Executed, student-safe solution notebooks (.ipynb with outputs, and .html).

nbgrader's own generate_solution keeps the hidden tests and the markers, so
this strips them from the instructor notebook, executes it, and exports it.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor
from traitlets.config import Config

from ..course import assignments, kernel_environment, read_notebook, source_notebook
from ..reports.html_safety import notebook_page
from ..shipped import working_copy

HIDDEN_BLOCK = re.compile(r"\n?[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", re.S)
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
# A written question's rubric, at the end of its (locked) question cell: stock nbgrader's
# ClearMarkScheme removes it from the release, and autograde restores it for formgrader.
MARK_SCHEME_BEGIN = "=== BEGIN MARK SCHEME ==="
MARK_SCHEME_END = "=== END MARK SCHEME ==="
MARK_SCHEME = re.compile(re.escape(MARK_SCHEME_BEGIN) + r"\n?(.*?)\n?" + re.escape(MARK_SCHEME_END), re.S)


def mark_scheme(source: str) -> str | None:
    """The rubric in a cell's source, or None."""
    found = MARK_SCHEME.search(source)
    return found.group(1).strip() if found else None


def without_mark_scheme(source: str) -> str:
    """A cell's source as stock nbgrader releases it: the rubric region gone."""
    return "\n".join(line for line in _strip_lines(source.split("\n")))


def _strip_lines(lines):
    inside = False
    for line in lines:
        if MARK_SCHEME_BEGIN.strip("= ") in line:
            inside = True
        elif MARK_SCHEME_END.strip("= ") in line:
            inside = False
        elif not inside:
            yield line


def _rubric_for_graders(match) -> str:
    body = "\n".join(f"> {line}" if line else ">" for line in match.group(1).strip().splitlines())
    return f"> **For graders.**\n>\n{body}"


def student_safe(source_nb):
    """The source notebook without hidden tests, solution markers or nbgrader metadata;
    each rubric shown as a quoted block for graders."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        cell.source = MARKER_LINE.sub("", HIDDEN_BLOCK.sub("", cell.source)).rstrip()
        cell.source = MARK_SCHEME.sub(_rubric_for_graders, cell.source)
        cell.metadata.pop("nbgrader", None)
        cell.metadata.pop("editable", None)
        cell.metadata.pop("deletable", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def merged_streams(outputs: list) -> list:
    """Consecutive stream outputs of one name joined into one: how the kernel split its
    printing into messages depends on timing, and must not show in the file."""
    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (output.output_type == "stream" and last is not None and last.output_type == "stream"
                and last.name == output.name):
            last.text += output.text
        else:
            merged.append(output)
    return merged


def build_solution(root: Path, name: str, timeout: int = 600) -> float:
    """Write solutions/<name>/<name>.ipynb and .html; return the execution time."""
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
        # run where a student would: the assignment's files and the course modules it imports;
        # no per-cell timestamps, so that building twice gives the same bytes
        # The kernel talks to this process over socket files in a private folder, not over localhost
        # TCP ports in plain text that any local process could connect to.
        with tempfile.TemporaryDirectory(prefix=f"vicourse-solution-{name}-") as folder, \
                tempfile.TemporaryDirectory(prefix="vicourse-sockets-") as sockets:
            working_copy(root, name, Path(folder))
            local_kernel = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
            ExecutePreprocessor(timeout=timeout, record_timing=False, config=local_kernel).preprocess(
                nb, {"metadata": {"path": folder}})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - started
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merged_streams(cell.outputs)
    nbformat.write(nb, str(out_dir / f"{name}.ipynb"))
    (out_dir / f"{name}.html").write_text(solution_page(nb), encoding="utf-8")
    return seconds


def solution_page(nb) -> str:
    """The executed solution as the HTML page students get: math rendered, no script."""
    html, _ = HTMLExporter().from_notebook_node(nb)
    return notebook_page(html)


def build_solutions(root: Path, names: list[str] | None = None, jobs: int | None = None) -> None:
    """build_solution for each assignment, `jobs` at a time (default: one per core): each kernel
    has one math thread. Fresh (spawned) processes, since each one changes its environment."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    names = names or assignments(root)
    with ProcessPoolExecutor(max_workers=min(jobs or os.cpu_count() or 1, len(names)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {pool.submit(build_solution, root, name): name for name in names}
        for done in as_completed(running):
            name = running[done]
            print(f"solutions/{name}/{name}.ipynb and .html (executed in {done.result():.1f} s)")
