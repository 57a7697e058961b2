"""Autograde every submission of an assignment: parallel, isolated, timed, lossless.

For each `submitted/<student>/<assignment>/`:
1. stage a copy under `build/staged/` (the original is never modified),
   repaired against the release where cells or metadata went missing;
2. run stock `nbgrader autograde` over the staged copies, one process per worker
   (each grading its share of students), in its own process group, with a
   wall-clock limit; a share that overruns is retried one submission at a time;
3. record an outcome: status, the reasons, and what the hidden checks said.

A submission that cannot be read, or whose grading crashes or hangs, gets an
outcome saying why; the batch always goes on to the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .course import check_config, gradebook_url, kernel_environment, read_notebook
from .grading_executor import CHECK_FAILED
from .release import generate_releases
from .repair import edited_locked_cells, load_submission, repair

STAGED = "build/staged"


@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | unreadable | failed | timed out
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # grade id -> message for failed checks
    seconds: float = 0.0


def stage(root: Path, assignment: str, student: str, release_nb, chunk: str) -> Outcome:
    """Copy one submission to build/staged/<chunk>/, repaired; say what was done."""
    outcome = Outcome(student)
    source_dir = root / "submitted" / student / assignment
    target_dir = root / STAGED / chunk / student / assignment
    shutil.rmtree(target_dir, ignore_errors=True)
    shutil.copytree(source_dir, target_dir)
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
    killed together with its kernels.
    """
    for outcome in outcomes:
        shutil.rmtree(root / "autograded" / outcome.student / assignment, ignore_errors=True)
    student = outcomes[0].student if len(outcomes) == 1 else "*"
    command = [
        sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student, "--force",
        "--log-level=WARN", f"--CourseDirectory.submitted_directory={STAGED}/{chunk}", *extra,
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
        if graded.exists():
            outcome.notes.extend(execution_notes(graded))
            outcome.checks = failed_checks(graded)
        elif overran:
            outcome.status = "timed out"
            outcome.notes.append(f"grading took longer than {timeout:.0f} s and was stopped")
        else:
            outcome.status = "failed"
            mine = [line for line in log.splitlines() if outcome.student in line or "Error" in line][-3:]
            outcome.notes.append("nbgrader could not grade it: " + " | ".join(mine)[-400:])


def failed_checks(graded_path: Path) -> dict[str, str]:
    """Messages of the hidden checks that failed, read from the autograded notebook."""
    messages = {}
    for cell in read_notebook(graded_path).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == CHECK_FAILED:
                messages[gid] = output.get("evalue", "")
    return messages


def execution_notes(graded_path: Path) -> list[str]:
    """Cells that hung or killed the kernel."""
    notes = []
    for cell in read_notebook(graded_path).cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") in ("CellTimeoutError", "DeadKernelError"):
                where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or "an ungraded cell"
                what = "timed out" if output["ename"] == "CellTimeoutError" else "killed the kernel"
                notes.append(f"{where} {what}")
    return notes


def students(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def ensure_release(root: Path, assignment: str) -> None:
    """The gradebook must know the assignment (generate_assignment records it)."""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(gradebook_url(root)) as gradebook:
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
    check_config(root)
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
    # a chunk that overran is retried one submission at a time, so only the culprit is lost
    retry = [o for o in staged if o.status == "timed out"]
    for outcome in retry:
        outcome.status, outcome.notes = "graded", [n for n in outcome.notes if not n.startswith("grading took")]
        chunk = next(k for k, c in chunks.items() if outcome in c)
        single = root / STAGED / f"{chunk}-{outcome.student}"
        single.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / STAGED / chunk / outcome.student), str(single / outcome.student))
        autograde_chunk(root, assignment, single.name, [outcome], timeout, extra or [])
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
