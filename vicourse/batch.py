"""Autograde every submission of an assignment: parallel, isolated, timed, lossless.

For each `submitted/<student>/<assignment>/`:
1. stage a copy under `build/staged/` (the original is never modified),
   repaired against the release where cells or metadata went missing;
2. run stock `nbgrader autograde` over the staged copies, one process per worker
   (each grading its share of students), in its own process group, with a
   wall-clock limit; a share that overruns is retried one submission at a time;
3. record an outcome: status, the reasons, and what the hidden checks said.

Completion is judged from results, not from a file existing: a submission is
"graded" only when the grading record that `ExecuteWithChecks` writes (outside
the sandbox, where the kernel cannot reach) says the notebook ran to its end
and every check ran, and nbgrader wrote the autograded notebook. Every
submission of a process that died or overran is graded again alone, in a
fresh process; a second failure is recorded with the reason. A submission
that cannot be read gets an outcome saying why; the batch always goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from nbgrader.utils import determine_grade

from .course import check_config, kernel_environment, open_gradebook, read_notebook, run_module_command
from .grading_executor import CHECK_FAILED, is_test_cell
from .release import generate_releases
from .repair import edited_locked_cells, load_submission, repair
from .sandbox import isolation

STAGED = "build/staged"
RESULTS = "build/results"  # grading records (nbgrader_config.py points ExecuteWithChecks here)


@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | unreadable | failed | timed out
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # grade id -> message for failed checks
    seconds: float = 0.0
    score: float | None = None  # autograded points, from the autograded notebook
    isolation: str = ""


def stage(root: Path, assignment: str, student: str, release_nb, chunk: str) -> Outcome:
    """Copy one submission to build/staged/<chunk>/, repaired; say what was done."""
    outcome = Outcome(student)
    source_dir = root / "submitted" / student / assignment
    target_dir = root / STAGED / chunk / student / assignment
    shutil.rmtree(target_dir, ignore_errors=True)
    # links are copied as links, then dropped: following one would copy whatever it points
    # at, with the grader's rights, into the submission
    shutil.copytree(source_dir, target_dir, symlinks=True)
    links = sorted(p for p in target_dir.rglob("*") if p.is_symlink())
    for link in links:
        link.unlink()
    if links:
        outcome.notes.append("symbolic links in the submission were dropped: "
                             + ", ".join(str(p.relative_to(target_dir)) for p in links))
    wanted = target_dir / f"{assignment}.ipynb"
    if not wanted.exists():
        others = sorted(target_dir.glob("*.ipynb"))
        if not others:
            outcome.status = "unreadable"
            outcome.notes.append(f"no notebook in the submission (expected {assignment}.ipynb)")
            return outcome
        others[0].rename(wanted)
        outcome.notes.append(f"graded {others[0].name} as {assignment}.ipynb")
    loaded = load_submission(wanted)
    if loaded.fatal:
        outcome.status = "unreadable"
        outcome.notes.append(loaded.fatal)
        wanted.unlink()
        return outcome
    fixed = repair(loaded.notebook, release_nb)
    outcome.notes.extend(fixed.notes)
    edited = edited_locked_cells(loaded.notebook, release_nb)
    if edited:
        outcome.notes.append("locked cells edited (restored from the release for grading): " + ", ".join(edited))
    nbformat.write(fixed.notebook, str(wanted))
    return outcome


def autograde_chunk(root: Path, assignment: str, chunk: str, outcomes: list[Outcome], timeout: float,
                    extra: list[str]) -> None:
    """One stock `nbgrader autograde` process for the staged students in build/staged/<chunk>.

    One process per worker pays nbgrader's start-up (~4 s) once, not once per
    submission.  The process runs in its own group so that, if it overruns, it is
    killed together with its kernels.  Outcomes whose grading did not complete are
    left with status "failed" or "timed out" and the reason.
    """
    for outcome in outcomes:
        shutil.rmtree(root / "autograded" / outcome.student / assignment, ignore_errors=True)
        (root / RESULTS / outcome.student / f"{assignment}.json").unlink(missing_ok=True)
    student = outcomes[0].student if len(outcomes) == 1 else "*"
    command = [
        *run_module_command("nbgrader"), "autograde", assignment, "--student", student, "--force",
        "--log-level=WARN", f"--CourseDirectory.submitted_directory={STAGED}/{chunk}",
        f"--ExecuteWithChecks.results_dir={root / RESULTS}", *extra,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=root, env=kernel_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=timeout * len(outcomes))
        overran = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        log, _ = process.communicate()
        overran = True
    seconds = (time.perf_counter() - started) / len(outcomes)
    for outcome in outcomes:
        outcome.seconds = seconds
        graded = root / "autograded" / outcome.student / assignment / f"{assignment}.ipynb"
        record = read_record(root / RESULTS / outcome.student / f"{assignment}.json")
        outcome.isolation = record.get("isolation", outcome.isolation)
        incomplete = why_incomplete(record, graded)
        if incomplete is None:
            outcome.status, outcome.notes = "graded", outcome.notes + record_notes(record)
            outcome.checks = failed_checks(graded)
            outcome.score = autograded_score(graded)
        elif overran:
            outcome.status = "timed out"
            outcome.notes.append(f"grading took longer than {timeout:.0f} s and was stopped ({incomplete})")
        else:
            outcome.status = "failed"
            outcome.notes.append(f"{incomplete}; {process_end(process.returncode, log, outcome.student)}")


def read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def why_incomplete(record: dict, graded: Path) -> str | None:
    """None when the grading completed; otherwise what is missing."""
    if not record:
        return "no grading record: the notebook was not run to its end"
    if not record.get("finished"):
        return f"the hidden checks did not run (stopped after {record.get('cells_run', 0)} cells)"
    if not graded.exists():
        return "nbgrader did not save the graded notebook"
    return None


def process_end(returncode: int | None, log: str, student: str) -> str:
    if returncode is not None and returncode < 0:
        return f"the grading process was killed by signal {-returncode}"
    mine = [line for line in log.splitlines() if student in line or "Error" in line][-3:]
    return f"nbgrader exited with {returncode}: " + (" | ".join(mine)[-400:] or "no message")


def record_notes(record: dict) -> list[str]:
    """What the grading record says went wrong along the way, in words."""
    notes = [f"{where} timed out" for where in record.get("timed_out", [])]
    notes += [f"{where} killed the kernel" for where in record.get("kernel_died", [])]
    if record.get("not_run"):
        notes.append(f"notebook limit reached (time, or kernel restarts): {len(record['not_run'])} cells not run")
    if record.get("truncated"):
        notes.append("output truncated in " + ", ".join(record["truncated"]))
    missing = [gid for gid, message in record.get("checks", {}).items() if message == "no hidden check"]
    if missing:
        notes.append("no hidden check for " + ", ".join(missing))
    return notes


def autograded_score(graded_path: Path) -> float:
    """Points of the autograded test cells, scored by nbgrader's own rule."""
    total = 0.0
    for cell in read_notebook(graded_path).cells:
        if is_test_cell(cell):
            total += determine_grade(cell)[0] or 0.0
    return total


def failed_checks(graded_path: Path) -> dict[str, str]:
    """Messages of the hidden checks that failed, read from the autograded notebook."""
    messages = {}
    for cell in read_notebook(graded_path).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == CHECK_FAILED:
                messages[gid] = output.get("evalue", "")
    return messages


def students(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def ensure_release(root: Path, assignment: str) -> None:
    """The gradebook must know the assignment (generate_assignment records it)."""
    from nbgrader.api import MissingEntry

    try:
        with open_gradebook(root) as gradebook:
            gradebook.find_assignment(assignment)
        return
    except MissingEntry:
        pass
    generate_releases(root, [assignment])


def grade_all(
    root: Path,
    assignment: str,
    workers: int = os.cpu_count() or 1,
    timeout: float = 900.0,
    extra: list[str] | None = None,
    only: list[str] | None = None,
) -> list[Outcome]:
    """Grade every submission; return one outcome each, also saved as JSON."""
    config = check_config(root)
    ensure_release(root, assignment)
    release_nb = read_notebook(root / "release" / assignment / f"{assignment}.ipynb")
    names = only or students(root, assignment)
    workers = max(1, min(workers, len(names)))
    shutil.rmtree(root / STAGED, ignore_errors=True)
    staged = [stage(root, assignment, name, release_nb, str(i % workers)) for i, name in enumerate(names)]
    chunks = {str(k): [o for i, o in enumerate(staged) if i % workers == k and o.status == "graded"]
              for k in range(workers)}
    jobs = [(k, c) for k, c in chunks.items() if c]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: autograde_chunk(root, assignment, job[0], job[1], timeout, extra or []), jobs))
    # Every submission whose grading did not complete is graded again alone, in a fresh
    # process, so a submission that kills or hangs its process costs only itself.
    # One that already ran alone and overran is not run a second time.
    retry = [(name, o) for name, chunk in chunks.items() for o in chunk
             if o.status != "graded" and not (o.status == "timed out" and len(chunk) == 1)]
    for chunk, outcome in retry:
        first = outcome.notes.pop()  # the reason autograde_chunk gave, last
        single = root / STAGED / f"{chunk}-{outcome.student}"
        single.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / STAGED / chunk / outcome.student), str(single / outcome.student))
        autograde_chunk(root, assignment, single.name, [outcome], timeout, extra or [])
        if outcome.status != "graded":
            outcome.notes.append(f"graded again alone after: {first}")
    for outcome in staged:
        # a submission with no grading record: what its kernel would have had, by the course config
        outcome.isolation = outcome.isolation or isolation(config).summary
    # a student whose submission could not be graded still has a row in `nbgrader export`
    with open_gradebook(root) as gradebook:
        for outcome in staged:
            gradebook.update_or_create_student(outcome.student)
    save_outcomes(root, assignment, staged)
    return staged


def save_outcomes(root: Path, assignment: str, outcomes: list[Outcome]) -> Path:
    path = root / "reports" / assignment / "outcomes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = {}
    if path.exists():
        previous = {o["student"]: o for o in json.loads(path.read_text())}
    previous.update({o.student: asdict(o) for o in outcomes})
    path.write_text(json.dumps(sorted(previous.values(), key=lambda o: o["student"]), indent=1))
    return path
