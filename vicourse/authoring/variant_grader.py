"""A notebook executed once in a namespace, and each variant of it graded in a forked copy.

The calibration (vicourse/authoring/calibration.py) runs this inside the sandbox. For a variant,
only the cells that can change a grade run again: its replaced cells, with the variant's source,
and every later graded cell with its own. Before a cell runs again, the names it binds are
removed, so a variant cell that raises leaves its names undefined, as in a fresh run.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import tempfile
import traceback
import warnings
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_solution

from ..grading.graded_outputs import is_test_cell
from ..grading.hidden_checks import run_check_scored
from ..grading.student import Student, local_transport
from .solutions import HIDDEN_BLOCK

MAGIC_LINE = re.compile(r"^[ \t]*[%!].*$", re.M)


def runnable(source: str) -> str:
    """Cell source as plain Python: no hidden-test block, no IPython magics."""
    return MAGIC_LINE.sub("", HIDDEN_BLOCK.sub("", source))


def defined_names(source: str) -> list[str]:
    """Names a cell binds at module level (defs, classes, assignments, imports, loop targets)."""
    try:
        tree = ast.parse(runnable(source))
    except SyntaxError:
        return []
    names: list[str] = []

    def targets(node):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(statements):
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
                targets(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.extend((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for name in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, name, None) or [])

    visit(tree.body)
    return sorted(set(names))


class VariantGrader:
    """A notebook executed once in a namespace; `grade_forked(replaces, jobs)` grades variants."""

    def __init__(self, nb: NotebookNode, checks: dict, workdir: str = "."):
        self.workdir = workdir
        self.cells = [c for c in nb.cells if c.cell_type == "code"]
        self.checks = checks
        self.namespace: dict = {"__name__": "__main__"}
        self.plain = local_transport(self.namespace)
        self.student = Student(self._transport)
        # a training call's reply, by request and the sources of the answer cells it runs (None:
        # the solution's), and the cells the variant graded in this copy replaces
        self.trained: dict[str, dict] = {}
        self.replaced: dict[str, str] = {}
        self.position = {
            c.metadata.nbgrader["grade_id"]: i for i, c in enumerate(self.cells) if is_grade(c) or is_solution(c)
        }
        failed = [i for i in range(len(self.cells)) if self._execute(self.cells[i].source)]
        if failed:
            raise RuntimeError(f"the notebook itself raised in code cells {failed}")

    def _transport(self, request: dict) -> dict:
        """Calls go to the namespace; a call that trains a model on the grader's data
        (`Student.training`) runs only the cells it names and the grader's references, so its
        reply is kept and reused by every variant that leaves those cells as they are: the
        parent trains once before the copies fork, and only a variant of the training code
        trains again."""
        if "cells" not in request:
            return self.plain(request)
        key = json.dumps([request, {g: self.replaced.get(g) for g in request["cells"]}], sort_keys=True)
        if key not in self.trained:
            self.trained[key] = self.plain(request)
        return self.trained[key]

    def _execute(self, source: str) -> bool:
        """Run one cell; True if it raised."""
        quiet = io.StringIO()
        with contextlib.chdir(self.workdir), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a wrong answer's overflow warnings are expected
            try:
                exec(compile(runnable(source), "<cell>", "exec"), self.namespace)
            except BaseException:  # noqa: BLE001 - a raising cell is what is being measured
                return True
        return False

    def _rerun(self, indices: list[int], replace: dict[str, str]) -> set[str]:
        """Re-run cells, replaced where asked; the grade ids of test cells that raised."""
        raised = set()
        for i in indices:
            cell = self.cells[i]
            grade_id = cell.metadata.nbgrader["grade_id"]
            source = replace.get(grade_id, cell.source)
            for name in defined_names(cell.source) + defined_names(source):
                self.namespace.pop(name, None)
            if self._execute(source) and is_test_cell(cell):
                raised.add(grade_id)
        return raised

    def _later_graded(self, replace: dict[str, str]) -> list[int]:
        """The cells a variant re-runs: its replaced cells and every graded cell after the first."""
        unknown = set(replace) - set(self.position)
        if unknown:
            raise KeyError(f"no graded cell with grade id {sorted(unknown)}")
        first = min((self.position[g] for g in replace), default=len(self.cells))
        return [i for i, c in enumerate(self.cells) if i >= first and (is_grade(c) or is_solution(c))]

    def _grade_here(self, replace: dict[str, str], later_graded: list[int]) -> dict[str, str]:
        """{test cell grade id: why it scores zero} for the solution with `replace` applied (in a
        forked copy: the cells it re-runs are not restored)."""
        raised = self._rerun(later_graded, replace)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the checks call the variant's code, overflows and all
            return self._check_all(raised)

    def grade_forked(self, replaces: list[dict[str, str]], jobs: int) -> list[dict[str, str]]:
        """The lost cells of each variant, each in a forked copy of the executed notebook, `jobs` at a
        time.  A copy needs no restoring afterwards (half the re-running), no variant can leave
        anything behind for the next, and the cores are all used."""
        for replace in replaces:
            self._later_graded(replace)  # an unknown grade id is the caller's mistake: say so here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._check_all(set())  # once here, so lazy imports and caches are shared by every copy
        results: list = [None] * len(replaces)
        with tempfile.TemporaryDirectory(prefix="variants-") as folder:
            pending, running = list(range(len(replaces))), {}
            while pending or running:
                while pending and len(running) < max(1, jobs):
                    index = pending.pop(0)
                    running[self._fork(replaces[index], Path(folder) / f"{index}.json")] = index
                pid, status = os.wait()
                index = running.pop(pid)
                answer = Path(folder) / f"{index}.json"
                if not answer.exists():
                    raise RuntimeError(f"grading variant {index} ended its process ({status}) without a result")
                results[index] = json.loads(answer.read_text())
        return results

    def _fork(self, replace: dict[str, str], answer: Path) -> int:
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            self.replaced = dict(replace)
            lost = self._grade_here(replace, self._later_graded(replace))
            partial = answer.with_suffix(".part")
            partial.write_text(json.dumps(lost))
            partial.rename(answer)  # whole or absent: the parent never reads half a result
            code = 0
        except BaseException:  # noqa: BLE001 - reported, and the parent says which variant
            traceback.print_exc()
        finally:
            os._exit(code)  # noqa: the child must not run the parent's cleanup or atexit handlers

    def _check_all(self, raised: set[str]) -> dict:
        """{grade id: why it scores zero} for lost cells, and {grade id: {"message": ..., "kept":
        fraction}} for cells earning partial credit."""
        lost: dict = {}
        for cell in self.cells:
            if not is_test_cell(cell):
                continue
            grade_id = cell.metadata.nbgrader["grade_id"]
            check = self.checks.get(grade_id)
            message, kept = run_check_scored(check, self.student) if check else (None, 1.0)
            if grade_id in raised and (message is None or kept > 0):  # a failed check's message says more
                message, kept = "the test cell's own asserts raised", 0.0
            if message is not None:
                lost[grade_id] = {"message": message, "kept": kept} if kept > 0 else message
        return lost
