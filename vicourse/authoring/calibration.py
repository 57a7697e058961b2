"""Grade many variants of a notebook quickly, to calibrate the hidden checks.

A variant is the solution with some answer cells replaced (`checking.Variant`).
Autograding each one through nbgrader costs a fresh kernel and the whole
notebook; here the notebook runs once, in-process, and for each variant only
the cells that can change a grade are re-run (vicourse/authoring/variant_grader.py):

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

import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat

from ..course import run_module_command
from ..grading.checking import set_grading_secret
from ..grading.hidden_checks import load_checks
from ..grading.sandbox import run_sandboxed
from ..shipped import working_copy
from .variant_grader import VariantGrader


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
    """A grader module's calibration variants: known-wrong answers, then correct alternatives.
    Results and tests refer to a variant by its name, so two with one name are refused."""
    variants = [v for kind in ("WRONG_ANSWERS", "CORRECT_ALTERNATIVES") for v in getattr(module, kind, [])]
    names = [v.name for v in variants]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{module.__name__}: calibration variants share a name: {repeated}")
    return variants


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
        result = run_sandboxed([*run_module_command("vicourse.authoring.calibration"), str(private / "job.json")],
                               private, readonly, timeout, files=files, cpus=os.cpu_count() or 1)  # a copy per core
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
