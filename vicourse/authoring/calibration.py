"""Grade many variants of a notebook quickly, to calibrate the hidden checks.

A variant is the solution with some answer cells replaced (`checking.Variant`).
Autograding each one through nbgrader costs a fresh kernel and the whole
notebook; here the notebook runs once, in-process, and for each variant only
the cells that can change a grade are re-run:

* the replaced cells, with the variant's source;
* every later graded cell (answers and tests) with its own source, since a
  later answer may call the replaced one, as it would in the student's run.

Before a cell is re-run, the names it binds are removed, so a variant cell that
raises leaves its names undefined, as in a fresh run, instead of silently
keeping the solution's.  Every hidden check then runs through the same
`run_check`, with requests and replies passed through JSON exactly as with a
kernel (`student.local_student`).  Each variant is graded in a forked copy of
the executed notebook, as many at once as there are cores, so nothing a
variant does outlives it.  A check that has the student's code train a model
(`Student.training`) names the answer cells that training runs; its reply is
computed once before the copies fork and reused by every variant that leaves
those cells alone, so only variants of the training code train again.

A test cell is lost if its hidden check fails or its own visible asserts raise:
the rule nbgrader's scoring applies.  The kernel transport has its own tests,
and tests/test_graders.py autogrades a sample of the variants with stock
nbgrader to confirm that the two routes agree.

Variants are code as a student would write it (an instructor may well paste in
a real submission), so `grade_variants` runs the whole calibration in one
process inside the course sandbox (vicourse/grading/sandbox.py): it sees the notebook,
the grader module and the library read-only, and writes only its results.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_solution

from ..grading.checking import set_grading_secret
from ..course import run_module_command
from ..grading.graded_outputs import is_test_cell
from ..grading.hidden_checks import load_checks, run_check_scored
from ..grading.sandbox import run_sandboxed
from ..grading.student import Student, local_transport
from ..shipped import working_copy
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


def kept_fractions(lost: dict) -> dict[str, float]:
    """{grade id: fraction of its points kept} for the cells a result says score less than full."""
    return {g: (v["kept"] if isinstance(v, dict) else 0.0) for g, v in lost.items()}


def expected_fractions(variant) -> dict[str, float]:
    """What a variant's grader module says it keeps of the cells it does not keep whole."""
    return {**{g: 0.0 for g in variant.loses}, **dict(variant.keeps)}


def agrees(variant, lost: dict) -> bool:
    got, want = kept_fractions(lost), expected_fractions(variant)
    return set(got) == set(want) and all(abs(got[g] - want[g]) < 1e-12 for g in want)


def variants_of(module) -> list:
    """A grader module's calibration variants: known-wrong answers, then correct alternatives."""
    return [v for kind in ("WRONG_ANSWERS", "CORRECT_ALTERNATIVES") for v in getattr(module, kind, [])]


# ---------------------------------------------------------------- in the sandbox

INSIDE = "/run/calibration"


def grade_variants(notebook: Path, graders_dir: Path, replaces: list[dict[str, str]],
                   timeout: float = 1800, secret: str | None = None) -> list[dict[str, str]]:
    """For each `replace`, {test cell grade id: why it scores zero}, graded in the sandbox.

    secret: what the hidden inputs are drawn from (checking.hidden_rng); None draws a fresh one."""
    import vicourse

    assignment = notebook.stem
    library = str(Path(vicourse.__file__).resolve().parent)
    readonly = {str(notebook.resolve()): f"{INSIDE}/{notebook.name}",
                str((graders_dir / f"test_{assignment}.py").resolve()): f"{INSIDE}/graders/test_{assignment}.py",
                library: library}
    with tempfile.TemporaryDirectory(prefix="vicourse-calibration-") as folder, \
            tempfile.TemporaryDirectory(prefix="vicourse-calibration-files-") as files:
        working_copy(notebook.parents[2], assignment, Path(files))
        private = Path(folder)
        (private / "job.json").write_text(json.dumps({"notebook": f"{INSIDE}/{notebook.name}", "replaces": replaces,
                                                         "secret": secret}))
        # the library bound above, not whichever copy the environment's (editable) install names
        result = run_sandboxed([*run_module_command("vicourse.authoring.calibration"), str(private / "job.json")], private,
                               readonly, timeout, files=files, cpus=os.cpu_count() or 1)  # a copy per core
        answer = private / "results.json"
        if result.returncode != 0 or not answer.exists():
            raise RuntimeError(f"calibration of {assignment} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return json.loads(answer.read_text())


def _run_job(job_path: str) -> None:
    """Inside the sandbox: run the notebook once, grade every variant, write results.json."""
    job = json.loads(Path(job_path).read_text())
    set_grading_secret(job.get("secret"))
    notebook = Path(job["notebook"])
    nb = nbformat.read(str(notebook), as_version=4)
    grader = VariantGrader(nb, load_checks(notebook.parent / "graders", notebook.stem), workdir=".")
    results = grader.grade_forked(job["replaces"], jobs=os.cpu_count() or 1)
    (Path(job_path).parent / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    _run_job(sys.argv[1])
