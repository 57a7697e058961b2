"""Shared, expensive fixtures: each notebook is executed as few times as possible.

* `course`: a temporary copy of the course (source, graders, config) with fresh
  releases and its own gradebook, so tests never touch the working tree.
* `graded(assignment)`: the solution, the blank release, a sample of the
  known-wrong answers and correct alternatives from its grader module, and the
  sample submissions in examples/, autograded by stock nbgrader in ONE parallel
  batch, in a course copy of the lane's; returns scores and outcomes per submission.
* `calibrated(assignment)`: every variant of its grader module, graded by
  vicourse.authoring.calibration in one sandboxed process that runs the notebook once
  (about a second a variant instead of a fresh autograde run each); a dict
  {variant name: {lost grade id: message}}.
* `solution(assignment)`: a live kernel that ran the source notebook, as a
  Student, for cross-checking stated numbers.

The calibrations and the `graded` batches (the torch notebooks' train networks for minutes of CPU)
are graded by a background lane from the first test on, beside the rest of the suite, most of which
uses one core (pytest_collection_modifyitems orders the tests):

1. the CPU-share tests, before the lane starts: they measure what other load costs;
2. the tests that use one core, beside the lane;
3. the tests that grade a batch of their own two submissions at a time (BOTH_CORES), when the
   lane has less left to do;
4. the tests that read the lane's results.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

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
from vicourse.authoring.calibration import expected_fractions, grade_variants, variants_of
from vicourse.authoring.solutions import MARKER_LINE, HIDDEN_BLOCK
from vicourse.batch.outcomes import Outcome, load_outcomes
from vicourse.course import assignments, copy_course, read_notebook, source_notebook
from vicourse.grading.executor import live_student
from vicourse.grading.hidden_checks import checks_in, load_grader_module
from vicourse.reports import report
from vicourse.shipped import working_copy

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = assignments(ROOT)
TORCH = [a for a in ASSIGNMENTS if shipped.trains_networks(ROOT, a)]
QUIET_FIRST = ("test_cpu_share.py",)  # they measure what other load costs: run alone
# the batches of two workers that run when the lane has less left to do: {test file: the fixture that
# grades its batch}. The 06 cheats run beside the lane: with them after it, the lane finished minutes
# before the suite
BOTH_CORES = {"test_attacks.py": "battle", "test_attacks_05.py": "cheats"}
VARIANT_KINDS = {"WRONG_ANSWERS": "wrong", "CORRECT_ALTERNATIVES": "alternative"}
CHECK_TIMEOUT = "--ExecuteWithChecks.check_timeout=10"
# per-cell limit for the batches of the assignments with sample submissions (examples/), short enough
# that the broken example's endless loop stays cheap: ten times their slowest cell (a torch import,
# under 1.5 s while two submissions are graded at once); the attack battle (01) uses the same. The
# others keep the course's limit: 04's EM on the digits takes 7 s beside a classmate, more under load
CELL_TIMEOUT = "--Execute.timeout=15"
# variants of each kind that also go through stock autograde, in one submission, to show that both
# routes agree (the calibration grades every variant; each stock run costs a whole notebook execution)
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


def stock_submission(module, kind: str) -> tuple[str, dict, dict] | None:
    """(submission name, replace, {grade id: fraction kept} expected) for the sampled variants of one
    kind, graded together in one stock submission: each bug is charged once, so together they lose
    what each loses. Variants that share a cell cannot be told apart this way and are refused."""
    variants = getattr(module, kind, [])
    chosen = stock_sample(variants, kind, module)
    if not chosen:
        return None
    replace, expected = {}, {}
    for index in chosen:
        variant = variants[index]
        wanted = expected_fractions(variant)
        shared = (set(variant.replace) & set(replace)) | (set(wanted) & set(expected))
        if shared:
            raise ValueError(f"{module.__name__}: STOCK_AUTOGRADE variants of {kind} share cells {sorted(shared)}")
        replace.update(variant.replace)
        expected.update(wanted)
    name = VARIANT_KINDS[kind] + "-" + "-".join(f"{index:02d}" for index in chosen)
    return name, replace, expected


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
    root: Path  # the course that graded them: submitted/, autograded/, the gradebook


def calibration_submissions(course: Path, assignment: str) -> dict[str, str]:
    """submission name -> notebook text."""
    release_nb = read_notebook(course / "release" / assignment / f"{assignment}.ipynb")
    source_nb = read_notebook(source_notebook(course, assignment))
    module, _ = grader_module(assignment)
    texts = {
        "solution": nbformat.writes(examples.filled(release_nb, source_nb)),
        "release": nbformat.writes(release_nb),
    }
    for kind in VARIANT_KINDS:
        sampled = stock_submission(module, kind)
        if sampled:
            name, replace, _ = sampled
            texts[name] = nbformat.writes(examples.filled(release_nb, source_nb, replace=replace))
    wrong = getattr(module, "WRONG_ANSWERS", [])
    for index in partial_sample(wrong):
        nb = examples.filled(release_nb, source_nb, replace=wrong[index].replace)
        texts[f"partial-{index:02d}"] = nbformat.writes(nb)
    for path in sorted((course / "examples" / assignment).glob("*.ipynb")):
        texts[f"example-{path.stem}"] = path.read_text(encoding="utf-8")
    return texts


# the lane's batch, in a process of its own: a process has one local cluster and one forkserver, which
# a batch in the foreground shares
LANE_BATCH = ("import json, sys\nfrom pathlib import Path\nfrom vicourse.batch import coordinator\n"
              "root, assignment, options = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])\n"
              "coordinator.grade_all(root, assignment, progress=False, secret=bytes.fromhex(options.pop('secret')),"
              " **options)\n")


def grade_batch(course: Path, assignment: str) -> Graded:
    """The submissions of calibration_submissions, autograded by `make grade`'s engine in one batch, in a
    process of its own."""
    for name, text in calibration_submissions(course, assignment).items():
        folder = course / "submitted" / name / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{assignment}.ipynb").write_text(text, encoding="utf-8")
    loops = (course / "examples" / assignment / "broken.ipynb").exists()
    options = {"workers": os.cpu_count() or 2, "timeout": 600, "extra": [CELL_TIMEOUT, CHECK_TIMEOUT] if loops else [CHECK_TIMEOUT]}
    ran = subprocess.run([sys.executable, "-c", LANE_BATCH, str(course), assignment,
                          json.dumps({**options, "secret": TEST_SECRET.hex()})], cwd=ROOT, capture_output=True, text=True)
    if ran.returncode != 0:
        raise RuntimeError(f"the batch of {assignment} failed ({ran.returncode}):\n{ran.stderr[-3000:]}")
    outcomes = [Outcome.from_dict(saved) for saved in load_outcomes(course, assignment).values()]
    columns, scores, max_points, manual = report.question_scores(course, assignment)
    return Graded(scores, {o.student: o for o in outcomes}, max_points, [c for c in columns if c not in manual], course)


def calibrate(assignment: str) -> dict[str, dict]:
    module, _ = grader_module(assignment)
    variants = variants_of(module)
    lost = grade_variants(source_notebook(ROOT, assignment), ROOT / "grader_tests", [v.replace for v in variants],
                          secret=TEST_SECRET.hex())
    return {v.name: one for v, one in zip(variants, lost)}


def lane_work(item) -> tuple[str, str] | None:
    """("calibrated", assignment) where a test reads a calibration, ("graded", assignment) where it reads
    a batch: the work of the background lane."""
    assignment = getattr(getattr(item, "callspec", None), "params", {}).get("assignment")
    if "calibrated" in item.fixturenames and assignment in ASSIGNMENTS:
        return "calibrated", assignment
    if "graded" in item.fixturenames and assignment in ASSIGNMENTS:
        return "graded", assignment
    return None


def pytest_collection_modifyitems(session, config, items):
    """The QUIET_FIRST tests first, before the lane starts; then those that use one core, beside the lane;
    then those that use two; the tests that wait for the lane last."""
    def order(item) -> int:
        if item.path.name in QUIET_FIRST:
            return 0
        if lane_work(item):
            return 3
        return 2 if BOTH_CORES.get(item.path.name) in item.fixturenames else 1

    items.sort(key=order)


class Lane:
    """One background thread that grades the calibrations and the batches that this session's tests read
    (the batches in a course copy of its own, where no other test grades)."""

    def __init__(self, folder: Path, jobs: set[tuple[str, str]]):
        self.folder, self.futures = folder, {}
        # the torch notebooks' work first (the longest jobs), their calibrations before their batches
        self.jobs = sorted(jobs, key=lambda job: (job[1] not in TORCH, job))
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lane")
        self.course: Path | None = None

    def start(self) -> None:
        if self.futures or not self.jobs:
            return
        for kind, assignment in self.jobs:
            self.futures[kind, assignment] = self.pool.submit(self._run, kind, assignment)

    def _run(self, kind: str, assignment: str):
        if kind == "calibrated":
            return calibrate(assignment)
        if self.course is None:
            self.course = copy_course(ROOT, self.folder, parts=("source", "grader_tests", "examples"))
            release.generate_releases(self.course)
        return grade_batch(self.course, assignment)

    def result(self, kind: str, assignment: str):
        """The lane's result; work that no collected test announced is queued now."""
        self.start()
        if (kind, assignment) not in self.futures:
            self.futures[kind, assignment] = self.pool.submit(self._run, kind, assignment)
        return self.futures[kind, assignment].result()


@pytest.fixture(scope="session")
def lane(request, tmp_path_factory):
    work = {job for job in map(lane_work, request.session.items) if job}
    lane = Lane(tmp_path_factory.mktemp("lane"), work)
    yield lane
    lane.pool.shutdown(cancel_futures=True)


@pytest.fixture(autouse=True)
def _lane_runs_beside_the_tests(request, lane):
    if request.node.path.name not in QUIET_FIRST:
        lane.start()


@pytest.fixture(scope="session")
def graded(lane):
    def get(assignment: str) -> Graded:
        return lane.result("graded", assignment)

    return get


@pytest.fixture(scope="session")
def calibrated(lane):
    def get(assignment: str) -> dict[str, dict]:
        return lane.result("calibrated", assignment)

    return get


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
