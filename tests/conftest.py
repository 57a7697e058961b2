"""Shared, expensive fixtures: each notebook is executed as few times as possible.

* `course`: a temporary copy of the course (source, graders, config) with fresh
  releases and its own gradebook, so tests never touch the working tree.
* `graded(assignment)`: the solution, the blank release, a sample of the
  known-wrong answers and correct alternatives from its grader module, and the
  sample submissions in examples/, autograded by stock nbgrader in ONE parallel
  batch; returns scores and outcomes per submission.
* `calibrated(assignment)`: every variant of its grader module, graded by
  vicourse.authoring.calibration in one sandboxed process that runs the notebook once
  (about a second a variant instead of a fresh autograde run each); a dict
  {variant name: {lost grade id: message}}.  The session's calibrations run two
  at a time in the background from the first request.
* `solution(assignment)`: a live kernel that ran the source notebook, as a
  Student, for cross-checking stated numbers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor

STARTED_WITH = {key: os.environ.get(key) for key in ("OMP_NUM_THREADS",)}  # as the test session found it
os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports matplotlib
from vicourse.course import same_arithmetic  # noqa: E402 - imports no math library

# before numpy and torch load: the tests' own references use the arithmetic of kernels and graders
os.environ.update(same_arithmetic())
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from vicourse import shipped
from vicourse.authoring import examples, release
from vicourse.authoring.calibration import grade_variants, variants_of
from vicourse.authoring.solutions import MARKER_LINE, HIDDEN_BLOCK
from vicourse.batch import coordinator
from vicourse.course import assignments, copy_course, read_notebook, source_notebook
from vicourse.grading.executor import live_student
from vicourse.grading.hidden_checks import checks_in, load_grader_module
from vicourse.reports import report
from vicourse.shipped import working_copy

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = assignments(ROOT)
VARIANT_KINDS = {"WRONG_ANSWERS": "wrong", "CORRECT_ALTERNATIVES": "alternative"}
CHECK_TIMEOUT = "--ExecuteWithChecks.check_timeout=10"
# per-cell limit for the numpy notebooks: three times their slowest cell while two submissions are
# graded at once (a torch import, under 5 s), short enough that the broken example's endless loop
# stays cheap; the attack battle uses the same
CELL_TIMEOUT = "--Execute.timeout=15"
# variants of each kind that also go through stock autograde, to show that both routes agree
# (the calibration grades every variant; each stock run costs a whole notebook execution)
STOCK_SAMPLE = {"WRONG_ANSWERS": 1, "CORRECT_ALTERNATIVES": 1}
# Hidden inputs are drawn from a fresh secret in every real batch; the tests fix theirs, so that a
# Monte Carlo check's rare unlucky draw cannot make the suite flaky (tests/test_attacks.py checks
# that real batches draw different inputs)
TEST_SECRET = b"vicourse tests: a fixed secret for reproducible hidden inputs"


def stock_sample(variants: list, kind: str, module=None) -> list[int]:
    """Indices of the variants that are autograded end to end: evenly spread over the list,
    unless the grader module names them in STOCK_AUTOGRADE (a notebook that trains models
    re-trains for every autograde, so it picks variants that leave training alone)."""
    chosen = getattr(module, "STOCK_AUTOGRADE", {}).get(kind)
    if chosen is not None:
        return [i for i, v in enumerate(variants) if v.name in chosen]
    count = min(STOCK_SAMPLE[kind], len(variants))
    return sorted({round(i * (len(variants) - 1) / max(count - 1, 1)) for i in range(count)})


def partial_sample(variants: list) -> list[int]:
    """Indices of the known-wrong variants that earn partial credit and are autograded end to
    end: the last such variant (one submission per assignment, to keep the suite fast; the
    calibration grades all of them)."""
    partial = [i for i, v in enumerate(variants) if v.keeps]
    return partial[-1:]


def grader_module(assignment: str):
    """(the sealed grader module, its checks {grade id: function})."""
    module = load_grader_module(ROOT / "grader_tests", assignment)
    return module, checks_in(module)


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    root = copy_course(ROOT, tmp_path_factory.mktemp("course"), parts=("source", "grader_tests", "examples"))
    release.generate_releases(root)
    return root


@dataclass
class Graded:
    scores: dict  # submission -> {grade id: score}
    outcomes: dict  # submission -> vicourse.batch.outcomes.Outcome
    max_points: dict  # grade id -> points
    autograded: list  # grade ids of autograded test cells


def calibration_submissions(course: Path, assignment: str) -> dict[str, str]:
    """submission name -> notebook text."""
    release_nb = read_notebook(course / "release" / assignment / f"{assignment}.ipynb")
    source_nb = read_notebook(source_notebook(course, assignment))
    module, _ = grader_module(assignment)
    texts = {
        "solution": nbformat.writes(examples.filled(release_nb, source_nb)),
        "release": nbformat.writes(release_nb),
    }
    for kind, prefix in VARIANT_KINDS.items():
        variants = getattr(module, kind, [])
        for index in stock_sample(variants, kind, module):
            nb = examples.filled(release_nb, source_nb, replace=variants[index].replace)
            texts[f"{prefix}-{index:02d}"] = nbformat.writes(nb)
    wrong = getattr(module, "WRONG_ANSWERS", [])
    for index in partial_sample(wrong):
        nb = examples.filled(release_nb, source_nb, replace=wrong[index].replace)
        texts[f"partial-{index:02d}"] = nbformat.writes(nb)
    for path in sorted((course / "examples" / assignment).glob("*.ipynb")):
        texts[f"example-{path.stem}"] = path.read_text(encoding="utf-8")
    return texts


@pytest.fixture(scope="session")
def graded(course):
    cache: dict[str, Graded] = {}

    def get(assignment: str) -> Graded:
        if assignment not in cache:
            for name, text in calibration_submissions(course, assignment).items():
                folder = course / "submitted" / name / assignment
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{assignment}.ipynb").write_text(text, encoding="utf-8")
            trains = shipped.trains_networks(course, assignment)
            outcomes = coordinator.grade_all(
                course, assignment, workers=os.cpu_count() or 2, timeout=600,
                extra=[CHECK_TIMEOUT] if trains else [CELL_TIMEOUT, CHECK_TIMEOUT],  # training keeps the course's limit
                secret=TEST_SECRET,
            )
            columns, scores, max_points, manual = report.question_scores(course, assignment)
            cache[assignment] = Graded(
                scores, {o.student: o for o in outcomes}, max_points, [c for c in columns if c not in manual]
            )
        return cache[assignment]

    return get


@pytest.fixture(scope="session")
def calibrated(request):
    """At the first request, every assignment this session's tests calibrate is started, two at
    a time: a torch notebook's calibration trains on one core before it grades its variants on
    all of them, so two side by side keep both cores busy."""
    wanted = [a for a in ASSIGNMENTS if any(
        "calibrated" in item.fixturenames and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("assignment") == a for item in request.session.items)]
    pool = ThreadPoolExecutor(max_workers=2)
    futures: dict[str, Future] = {}

    def calibrate(assignment: str) -> dict[str, dict]:
        module, _ = grader_module(assignment)
        variants = variants_of(module)
        lost = grade_variants(source_notebook(ROOT, assignment), ROOT / "grader_tests", [v.replace for v in variants],
                              secret=TEST_SECRET.hex())
        return {v.name: one for v, one in zip(variants, lost)}

    def get(assignment: str) -> dict[str, dict]:
        if not futures:
            for name in [assignment] + [a for a in wanted if a != assignment]:
                futures[name] = pool.submit(calibrate, name)
        if assignment not in futures:
            futures[assignment] = pool.submit(calibrate, assignment)
        return futures[assignment].result()

    yield get
    pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def grader(request):
    """The hidden grader module of the calling test module's assignment (its NAME)."""
    return grader_module(request.module.NAME)[0]


@pytest.fixture(scope="module")
def nb(request, solution):
    """The solution of the calling test module's assignment (its NAME), live, as a Student."""
    return solution(request.module.NAME)


@pytest.fixture(scope="session")
def solution():
    stack = contextlib.ExitStack()
    students = {}

    def get(assignment: str):
        if assignment not in students:
            nb = read_notebook(source_notebook(ROOT, assignment))
            for cell in nb.cells:
                cell.source = MARKER_LINE.sub("", HIDDEN_BLOCK.sub("", cell.source))
            os.environ.setdefault("MPLBACKEND", "Agg")
            workdir = working_copy(ROOT, assignment, Path(stack.enter_context(tempfile.TemporaryDirectory())))
            students[assignment] = stack.enter_context(live_student(nb, str(workdir), timeout=300))
        return students[assignment]

    with stack:
        yield get
