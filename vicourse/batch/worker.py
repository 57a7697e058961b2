"""The worker side of batch grading: one task grades one submission.

`grade_submission(job)` runs on a dask worker (a local process, or a machine of a
cluster that shares the course folder). It builds a scratch course on the worker's
own disk: the staged submission (sent as bytes by the coordinator), a private copy
of the template gradebook that knows the assignment, and the course's config with
its paths pointed there; release/, grader_tests/ and the non-notebook files of
source/ (copied to build/worker-source/: vicourse/batch/worker_view.py) are read from the
shared course folder. Stock nbgrader's Autograde converter (vicourse/batch/grading_child.py), configured by the
course's nbgrader_config.py (so kernels start through ExecuteWithChecks and the
sandbox), grades it in a child process forked from a forkserver that has nbgrader,
numpy and scipy imported already: a child costs milliseconds, not nbgrader's ~4 s
start, and it can still be killed, with its kernel, at the wall-clock limit.

The task writes nothing of the course: it returns plain data (the status and its
reasons, the grading record, the gradebook rows nbgrader wrote in the private copy,
the files of autograded/<student>/<A>/, and where the time went), and the
coordinator alone writes the course's gradebook and folders (vicourse/batch/coordinator.py).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from ..grading.grader_files import grader_imports

# Imported once by the forkserver, not once per submission: nbgrader and the course library
# (vicourse/batch/grading_child.py), then what the assignment's hidden checks import
# (vicourse/batch/forkserver_imports.py).
# A worker itself imports none of them. vicourse.batch.forkserver_setup comes first: it gives the
# forkserver one math thread before numpy loads.
PRELOAD = ["vicourse.batch.forkserver_setup", "vicourse.batch.grading_child", "vicourse.apps.config_check", "numpy"]
CHECK_IMPORTS = "VICOURSE_FORKSERVER_IMPORTS"
RECEIVED = "received"  # where a scratch course holds the submitted files before staging

_forkserver = None
_forkserver_lock = threading.Lock()


def start_forkserver(course: str | Path | None = None, assignment: str | None = None):
    """This process's forkserver (one, shared by the worker threads of a local cluster), started
    now if it is not running; it returns at once and the imports go on in the background.
    The first batch's assignment also decides what else it imports: its grader module's imports.
    (A later batch of another assignment in the same process has its processes import theirs.)"""
    global _forkserver
    with _forkserver_lock:
        if _forkserver is None:
            # A dask worker started by a nanny is a daemonic process, which multiprocessing forbids
            # to have children. Its grading children never outlive it: each is killed at its time
            # limit, and dies with the forkserver (PR_SET_PDEATHSIG), which ends with this process.
            multiprocessing.current_process().daemon = False
            _forkserver = multiprocessing.get_context("forkserver")
            checks = grader_imports(Path(course) / "grader_tests", assignment) if course and assignment else []
            _forkserver.set_forkserver_preload(PRELOAD + ["vicourse.batch.forkserver_imports"])
            # read (and removed) by vicourse.batch.forkserver_imports in the forkserver, which inherits it
            os.environ[CHECK_IMPORTS] = ",".join(name for name in checks if name not in PRELOAD)
        try:
            multiprocessing.forkserver.ensure_running()  # a no-op while it runs
        finally:
            os.environ.pop(CHECK_IMPORTS, None)
        return _forkserver


def fork_context():
    """Grade in this process (no cluster; one submission): fork each grading process from this
    one, which has nbgrader imported already, rather than start a forkserver for it. (Its kernel
    gets one math thread from the environment grading_child.run gives it.)"""
    return multiprocessing.get_context("fork")


def grade_submission(job: dict, here: bool = False) -> dict:
    """Grade one staged submission; retry once, in a fresh process, if its grading process died.

    job: course (the shared course folder), assignment, student, files ({relative path:
    bytes} of the staged submission), template (the template gradebook), timeout
    (seconds for the whole submission), extra (nbgrader options, "--Class.trait=value").
    here: fork the grading process from this one (no cluster) instead of the forkserver."""
    received = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="vicourse-grade-"))
    try:
        context = fork_context() if here else start_forkserver(job["course"], job["assignment"])
        result = attempt(job, scratch / "1", context)
        if result["status"] == "failed":
            first = result["notes"].pop()
            result = attempt(job, scratch / "2", context)
            if result["status"] != "graded":
                result["notes"].append(f"graded again in a fresh process after: {first}")
        result["timing"]["task"] = round(time.perf_counter() - received, 3)
        result["worker"] = f"{socket.gethostname()}:{os.getpid()}"
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def attempt(job: dict, scratch: Path, context) -> dict:
    student, assignment = job["student"], job["assignment"]
    make_scratch_course(job, scratch)
    started = time.perf_counter()
    process = context.Process(target=run_child, args=(job, str(scratch), time.time()), name=f"grade {student}")
    process.start()
    process.join(job["timeout"])
    overran = process.is_alive()
    if overran:
        kill_tree(process.pid)
        process.join()
    seconds = time.perf_counter() - started
    record = read_json(scratch / "results" / student / f"{assignment}.json")
    child = read_json(scratch / "child.json")
    graded = scratch / "autograded" / student / assignment / f"{assignment}.ipynb"
    timing = {"process_start": child.get("process_start"), "autograde": child.get("autograde"),
              "total": round(seconds, 3), **record.get("timing", {})}
    result = {"student": student, "status": "graded", "notes": [], "record": record, "rows": None, "files": {},
              "isolation": record.get("isolation", ""), "seconds": round(seconds, 3), "timing": timing}
    staging = list(child.get("staging", []))
    if child.get("unreadable"):  # nothing to grade: said once, never tried again in a fresh process
        result.update(status="unreadable", notes=staging + [child["unreadable"]])
        return result
    incomplete = why_incomplete(record, graded)
    if incomplete is None and not child.get("rows"):
        incomplete = "nbgrader did not record the grades"
    if incomplete is None:
        result.update(notes=staging + record_notes(record), rows=child["rows"], files=read_files(graded.parent))
    elif overran:
        result["status"] = "timed out"
        result["notes"] = staging + [f"grading took longer than {job['timeout']:.0f} s and was stopped ({incomplete})"]
    else:
        result["status"] = "failed"
        log = (scratch / "log.txt").read_text(errors="replace") if (scratch / "log.txt").exists() else ""
        if not child and (process.exitcode or 0) > 0:
            ended = stopped_before_grading(process.exitcode)
        else:
            ended = process_end(process.exitcode, "\n".join((child.get("error") or "", log)), student)
        result["notes"] = staging + [f"{incomplete}; {ended}"]
    return result


def run_child(job: dict, scratch: str, launched: float) -> None:
    """The grading process's entry (vicourse/batch/grading_child.py, already imported by the forkserver)."""
    from .grading_child import run

    run(job, scratch, launched)


def make_scratch_course(job: dict, scratch: Path) -> None:
    """The submitted files as they came (the grading process stages them into submitted/), and a
    private copy of the template gradebook."""
    folder = scratch / RECEIVED
    for relative, data in job["files"].items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(job["template"], scratch / "gradebook.db")


def kill_tree(pid: int) -> None:
    """Kill a grading process and everything it started (a sandbox dies with it anyway)."""
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def read_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def read_json(path: Path) -> dict:
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


def stopped_before_grading(exitcode: int) -> str:
    """Why a grading process may exit before it starts grading: most often, multiprocessing
    running the coordinator's own script again in it, to an unguarded call of grade_all."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    # as multiprocessing decides: a main module run with -m is imported by name, a script by its path
    script = None if spec is not None and spec.name else getattr(main, "__file__", None)
    why = f"the grading process exited with {exitcode} before grading began"
    if script:
        why += (f"; multiprocessing runs {os.path.basename(script)} again in every grading process, so if it calls "
                "grade_all, the call must sit under `if __name__ == '__main__':`")
    return why


def process_end(exitcode: int | None, log: str, student: str) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the grading process was killed by signal {-exitcode}"
    mine = [line for line in log.splitlines() if student in line or "Error" in line][-3:]
    return f"the grading process exited with {exitcode}: " + (" | ".join(mine)[-400:] or "no message")


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
