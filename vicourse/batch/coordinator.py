"""Autograde every submission of an assignment: parallel, isolated, timed, lossless,
resumable, on one machine or a cluster, with one engine: dask.distributed.

For each `submitted/<student>/<assignment>/` the coordinator (this module)
1. hashes it: a re-run grades only submissions that are new or changed (or whose
   grader, config or options changed) unless `force` is given; the hashes live in
   reports/<A>/outcomes.json, on the coordinator, where no kernel can reach;
2. stages a copy under `build/staged/<A>/<student>/<A>/` (the original is never
   modified), repaired against the release where cells or metadata went missing;
3. sends it, as bytes, as one dask task (vicourse/batch/worker.py) to a worker:
   by default a LocalCluster of one single-threaded worker per core, or
   an existing cluster (`scheduler`: `dask scheduler`/`dask worker`, dask-jobqueue,
   dask-kubernetes, over mutual TLS: vicourse/batch/cluster.py; its workers read a few
   paths of the course folder: vicourse/batch/worker_view.py). The worker grades it
   with stock nbgrader's Autograde, configured by nbgrader_config.py (the sandbox,
   ExecuteWithChecks), in a scratch course with a private gradebook, killed with its
   kernel at the wall-clock limit, and returns plain data;
4. records its outcome (status, the reasons, what the hidden checks said, where
   the time went) and, alone, writes the course's gradebook (any SQLAlchemy
   db_url; see gradebook_rows.py) and autograded/<student>/<A>/.

Completion is judged from results, not from a file existing: a submission is
"graded" only when the grading record that `ExecuteWithChecks` writes (outside
the sandbox, where the kernel cannot reach) says the notebook ran to its end and
every check ran, and nbgrader wrote the autograded notebook. A grading process
that died is replaced by a fresh one for a second try; a second failure is
recorded with the reason. A submission that ran out of time (as a whole, or in a
cell) while others were graded beside it is graded again alone at the end of the
batch, and that outcome is kept; one that still timed out is tried again by the next
run. A worker that dies loses nothing: dask runs its submission elsewhere; one
that keeps killing workers (dask's KilledWorker) is recorded as failed. A submission that cannot be read gets an outcome saying why.
Each submission ends with exactly one outcome, and the batch always goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.utils import determine_grade

from . import worker_view
from .worker import grade_submission, start_forkserver
from .cluster import Access, check_scheduler, connect
from ..course import check_config, gradebook_url, open_gradebook, read_notebook
from .gradebook_rows import write_rows
from ..grading.executor import CHECK_FAILED, is_test_cell
from ..authoring.release import generate_releases
from ..lms.exchange import course_copies
from ..lms.safe_copy import HARD_LINK, LINK, SPECIAL, UNREADABLE, Copied, Refused, Rules, copy_tree
from ..grading.sandbox import isolation
from ..grading.staging import stage_folder

STAGED = "build/staged"
RESULTS = "build/results"  # grading records (nbgrader_config.py points ExecuteWithChecks here)
TEMPLATES = "build/gradebook-templates"  # the assignment's definition, copied by each worker
STATUSES = ("graded", "failed", "timed out", "unreadable")


@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | unreadable | failed | timed out
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # grade id -> message for failed checks
    seconds: float = 0.0
    score: float | None = None  # autograded points, from the autograded notebook
    isolation: str = ""
    digest: str = ""  # of the submission and of what graded it: a re-run skips it while unchanged
    run: str = ""  # when the batch that graded it started (UTC)
    hidden_seed: str = ""  # the secret its hidden inputs were drawn from (kept here, never in a kernel)
    timing: dict = field(default_factory=dict)  # seconds: process start, kernel start, cells, checks, gradebook

    @classmethod
    def from_dict(cls, saved: dict) -> "Outcome":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def stage(root: Path, assignment: str, outcome: Outcome) -> Path:
    """Stage one submission in build/staged/<A>/<student>/<A>/ here, as each grading process does
    for its own (vicourse/grading/staging.py), noting what was done in its outcome (status "unreadable"
    when there is nothing to grade). The staged copies are laid out as nbgrader's submitted/, so
    stock autograde can grade them too (tests and benchmarks compare the two)."""
    target = root / STAGED / assignment / outcome.student / assignment
    files = submitted_files(root, root / "submitted" / outcome.student / assignment, outcome)
    with tempfile.TemporaryDirectory(prefix="vicourse-received-") as received:
        for relative, data in (files or {}).items():
            (Path(received) / relative).parent.mkdir(parents=True, exist_ok=True)
            (Path(received) / relative).write_bytes(data)
        staged = stage_folder(Path(received), target, assignment, root / "release")
    outcome.notes.extend(staged.notes)
    if staged.unreadable and files is not None:
        outcome.status = "unreadable"
        outcome.notes.append(staged.unreadable)
    return target


# What the coordinator reads of a submitted folder, before any parsing: a notebook and the few
# files beside it. Past this, the submission is too large to grade.
MAX_SUBMISSION_BYTES = 100_000_000
DROPPED = ((LINK, "symbolic links"), (HARD_LINK, "hard links"), (SPECIAL, "devices, pipes and sockets"),
           (UNREADABLE, "unreadable files"))


def submitted_files(root: Path, folder: Path, outcome: Outcome) -> dict[str, bytes] | None:
    """The regular files of a submitted folder, as bytes, read through descriptors that never follow
    a link (vicourse/lms/safe_copy.py): links, hard links, devices and pipes are left out with a note,
    and a copy of one of the course's private files is flagged. None, with the outcome marked
    unreadable, when there is too much to read."""
    with tempfile.TemporaryDirectory(prefix="vicourse-submitted-") as scratch:
        target = Path(scratch) / "files"
        try:
            copied = copy_tree(folder, target, Rules(max_total_bytes=MAX_SUBMISSION_BYTES), check_owner=False)
        except Refused as error:
            target.mkdir(exist_ok=True)
            copied = Copied(refused=[(".", LINK, str(error))])
        for kind, words in DROPPED:
            dropped = sorted(path for path, k, _ in copied.refused if k == kind)
            if dropped:
                outcome.notes.append(f"{words} in the submission were dropped: " + ", ".join(dropped))
        outcome.notes += [f"FLAGGED: {mine} has the same bytes as the course's private {theirs}"
                          for mine, theirs in course_copies(root, target)]
        if copied.size > MAX_SUBMISSION_BYTES or any(why for _, why in copied.skipped if "bytes" in why):
            outcome.status = "unreadable"
            outcome.notes.append(f"unreadable: too large (more than {MAX_SUBMISSION_BYTES} bytes of files)")
            return None
        return {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


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


def ensure_release(root: Path, assignment: str, db_url: str | None = None) -> None:
    """The gradebook must know the assignment (generate_assignment records it)."""
    from nbgrader.api import MissingEntry

    try:
        with open_gradebook(root, db_url) as gradebook:
            gradebook.find_assignment(assignment)
        return
    except MissingEntry:
        pass
    generate_releases(root, [assignment])


# ---------------------------------------------------------------- what has changed


def folder_digest(folder: Path) -> str:
    """Content hash of a submission folder: every file's path and bytes, links by their target.
    A folder too large to grade is known by its files' names, sizes and times instead."""
    digest = hashlib.sha256()
    paths = sorted(folder.rglob("*")) if folder.is_dir() else []
    huge = sum(p.lstat().st_size for p in paths if p.is_file() and not p.is_symlink()) > MAX_SUBMISSION_BYTES
    for path in paths:
        relative = str(path.relative_to(folder)).encode()
        if path.is_symlink():
            digest.update(b"link\0" + relative + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            found = path.lstat()
            content = f"{found.st_size}:{found.st_mtime_ns}".encode() if huge else path.read_bytes()
            digest.update(b"file\0" + relative + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def grading_digest(root: Path, assignment: str, extra: list[str]) -> str:
    """What grades a submission besides itself: its hidden checks, the config, the options."""
    digest = hashlib.sha256(json.dumps(extra).encode())
    for path in (root / "grader_tests" / f"test_{assignment}.py", root / "nbgrader_config.py"):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def unchanged(previous: dict | None, digest: str, in_gradebook: set[str]) -> bool:
    """Graded before from the same files by the same graders, and its rows are in the gradebook."""
    if not previous or previous.get("digest") != digest:
        return False
    return previous["status"] != "graded" or previous["student"] in in_gradebook


# ---------------------------------------------------------------- the batch


def grade_all(
    root: Path,
    assignment: str,
    workers: int | None = None,
    timeout: float = 900.0,
    extra: list[str] | None = None,
    only: list[str] | None = None,
    force: bool = False,
    scheduler: str | None = None,
    db_url: str | None = None,
    progress: bool = True,
    secret: bytes | None = None,
    insecure: bool = False,
    certs: Path | None = None,
) -> list[Outcome]:
    """Grade every submission that is new or changed (all with `force`); return one outcome
    for each submission asked for (those left as they were included), also saved as JSON.

    workers: local workers (default: the number of cores), unless `scheduler`
    (tls://host:8786) names a running dask cluster, reached with the client certificate in
    `certs` (default: cluster-certs/); plain TCP only on loopback or with `insecure`
    (vicourse/batch/cluster.py). db_url: the gradebook (default: the
    course config's). timeout: wall-clock seconds for one submission. secret: what this batch's
    hidden inputs are drawn from (default: fresh random bytes, so no batch repeats another's)."""
    refuse_in_grading_process()
    config = check_config(root)
    access = check_scheduler(root, scheduler, insecure, certs) if scheduler else None  # refused before any work
    extra = list(extra or [])
    db_url = db_url or gradebook_url(root)
    course_id = config.CourseDirectory.get("course_id", "default_course")
    ensure_release(root, assignment, db_url)
    names = only or students(root, assignment)
    run = datetime.now(timezone.utc).isoformat(timespec="seconds")
    batch_secret = secret or os.urandom(32)  # each submission's hidden inputs: a secret of this batch and its student
    previous = load_outcomes(root, assignment)
    graders = grading_digest(root, assignment, extra)
    digests = {name: hashlib.sha256((graders + folder_digest(root / "submitted" / name / assignment)).encode())
               .hexdigest() for name in names}
    with open_gradebook(root, db_url, course_id) as gradebook:
        record = gradebook.find_assignment(assignment)
        in_gradebook = {s.student.id for s in record.submissions}
        outcomes = {name: Outcome.from_dict(previous[name]) for name in names
                    if not force and unchanged(previous.get(name), digests[name], in_gradebook)}
        todo = [name for name in names if name not in outcomes]
        kept = len(outcomes)
        if scheduler is None and len(todo) > 1:
            # its imports (nbgrader, numpy, what the checks import) run while the submissions are staged
            start_forkserver(root, assignment)
        jobs = {}
        for name in todo:
            outcome = outcomes[name] = Outcome(name, digest=digests[name], run=run)
            # read as bytes only: each grading process stages (parses, repairs) its own submission
            files = submitted_files(root, root / "submitted" / name / assignment, outcome)
            if files is None:
                # a student whose submission could not be graded still has a row in `nbgrader export`
                gradebook.update_or_create_student(name)
                forget_grading(root, assignment, name)
                continue
            outcome.hidden_seed = hmac.new(batch_secret, name.encode(), "sha256").hexdigest()[:32]
            jobs[name] = {"course": str(root), "assignment": assignment, "student": name, "files": files,
                          "timeout": timeout, "extra": extra, "hidden_seed": outcome.hidden_seed}
        # the ones still to grade are saved as their results come in: a batch cut short grades them next time
        save_outcomes(root, assignment, [o for name, o in outcomes.items() if name not in jobs])
        if jobs:
            # what workers are given: the assignment's definition without its rubrics, and no source/
            template, rubrics = worker_view.template(gradebook, assignment, root / TEMPLATES / f"{assignment}.db",
                                                     course_id, config)
            source = worker_view.source_folder(root, assignment)
            for job in jobs.values():
                job.update(template=str(template), source=str(source))
            late_plugin = late_submission_plugin(config)
            before = {name: list(outcomes[name].notes) for name in jobs}  # the coordinator's own notes
            with dask_client(access, min(workers or os.cpu_count() or 1, len(jobs))) as (client, chosen), \
                    Progress(len(todo), assignment, kept, progress) as bar:
                for name in todo:  # found unreadable before grading: counted as such, as the summary does
                    if name not in jobs:
                        bar.done(outcomes[name])
                for name, result in run_tasks(client, jobs, chosen):
                    outcome = outcomes[name]
                    worker_view.restore_rubrics(result["files"], rubrics)
                    finish(root, assignment, outcome, result, gradebook, late_plugin)
                    save_outcomes(root, assignment, [outcome])  # a batch cut short resumes from here
                    bar.done(outcome)
                # Something ran out of time while classmates were graded beside it: grade it again
                # alone, where nothing but its own code can slow it, and keep that outcome.
                again = [name for name in jobs if len(jobs) > 1 and ran_out_of_time(outcomes[name])]
                if again:
                    bar.write(f"grading {len(again)} submissions again, one at a time, that ran out of time "
                              "beside others")
                for name in again:
                    first = outcomes[name]
                    notes = before[name] + [f"graded again alone, after: {why_slow(first)}"]
                    outcome = outcomes[name] = Outcome(name, notes=notes, digest=digests[name], run=run,
                                                       hidden_seed=first.hidden_seed)
                    for _, result in run_tasks(client, {name: jobs[name]}, chosen[:1] if chosen else None):
                        worker_view.restore_rubrics(result["files"], rubrics)
                        finish(root, assignment, outcome, result, gradebook, late_plugin)
                    save_outcomes(root, assignment, [outcome])
    fallback = isolation(config).summary
    for outcome in outcomes.values():
        # a submission with no grading record: what its kernel would have had, by the course config
        outcome.isolation = outcome.isolation or fallback
    ordered = [outcomes[name] for name in names]
    save_outcomes(root, assignment, ordered)
    return ordered


def ran_out_of_time(outcome: Outcome) -> bool:
    """Timed out as a whole, or in a cell: possibly because of what ran beside it."""
    return outcome.status == "timed out" or any(note.endswith("timed out") for note in outcome.notes)


def why_slow(outcome: Outcome) -> str:
    return "; ".join(n for n in outcome.notes if "timed out" in n or "longer than" in n)[:300] or outcome.status


def refuse_in_grading_process() -> None:
    """Exit at once in a process forked from the grading forkserver (vicourse/batch/forkserver_setup.py):
    a batch started there is the coordinator's own script, run again by multiprocessing without a
    main guard. The grading process then ends before grading, and its outcome names the script."""
    if getattr(sys.modules.get("vicourse.batch.forkserver_setup"), "GRADING_PROCESS", False):
        raise SystemExit(1)  # not an Exception: the forkserver's child exits quietly, with code 1


def run_tasks(client, jobs: dict, workers: list[str] | None = None):
    """(student, result) for each job as it completes; a task that failed or kept killing its
    workers yields a result saying so. One result per student, whatever dask retried.

    workers: the ones to use (None: all); others only when none of these is left."""
    if client is None:
        for name, job in jobs.items():
            try:
                yield name, grade_submission(job, here=True)
            except Exception as exc:  # noqa: BLE001 - as a failed task, below
                yield name, task_failed(name, exc)
        return
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = {client.submit(grade_submission, job, key=f"grade-{job['assignment']}-{i}-{os.urandom(4).hex()}",
                             pure=False, workers=workers, allow_other_workers=workers is not None): name
               for i, (name, job) in enumerate(jobs.items())}
    seen = set()
    for future in as_completed(futures):
        name = futures[future]
        if name in seen:
            continue
        seen.add(name)
        try:
            result = future.result()
        except KilledWorker as exc:
            result = lost(name, f"its grading killed the dask workers that ran it ({exc}); it was not graded")
        except Exception as exc:  # noqa: BLE001 - a task that broke costs its own submission only
            result = task_failed(name, exc)
        future.release()
        yield name, result


def task_failed(student: str, exc: Exception) -> dict:
    return lost(student, f"the grading task failed: {type(exc).__name__}: {str(exc)[:300]}")


def lost(student: str, reason: str) -> dict:
    """The result of a task that returned none: failed, and tried again by the next run."""
    return {"student": student, "status": "failed", "notes": [reason], "record": {}, "rows": None, "files": {},
            "isolation": "", "seconds": 0.0, "timing": {}, "again": True}


def finish(root: Path, assignment: str, outcome: Outcome, result: dict, gradebook, late_plugin) -> None:
    """Take a worker's result: the outcome, the grading record, autograded/ files, gradebook rows."""
    outcome.status = result["status"]
    outcome.notes += result["notes"]
    outcome.isolation = result["isolation"]
    outcome.seconds = result["seconds"]
    outcome.timing = dict(result["timing"])
    if result.get("again") or outcome.status == "timed out":
        outcome.digest = ""  # not graded in full (the cluster failed it, or it ran out of time): the next run tries again
    if result["record"]:
        path = root / RESULTS / outcome.student / f"{assignment}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result["record"], indent=1))
    target = forget_grading(root, assignment, outcome.student, keep_record=bool(result["record"]))
    if outcome.status != "graded":
        gradebook.update_or_create_student(outcome.student)
        return
    for relative, data in result["files"].items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    started = time.perf_counter()
    write_rows(gradebook, assignment, outcome.student, result["rows"], late_plugin)
    outcome.timing["gradebook"] = round(time.perf_counter() - started, 3)
    graded = target / f"{assignment}.ipynb"
    outcome.checks = failed_checks(graded)
    outcome.score = autograded_score(graded)


def forget_grading(root: Path, assignment: str, student: str, keep_record: bool = False) -> Path:
    """Remove what an earlier grading of this submission left: autograded/<student>/<A>/, its record."""
    target = root / "autograded" / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    if not keep_record:
        (root / RESULTS / student / f"{assignment}.json").unlink(missing_ok=True)
    return target


def late_submission_plugin(config):
    """The late-penalty plugin nbgrader's AssignLatePenalties would use, from the course config."""
    from nbgrader.preprocessors import AssignLatePenalties

    step = AssignLatePenalties(config=config)
    step.init_plugin()
    return step.plugin_inst


_LOCAL: dict[str, object] = {}  # this process's local cluster and its client, kept for the next batch


# The local cluster's settings. The scheduler hands a submission to a worker only when it is free
# (a saturation of 1), so none waits behind a slow one while another worker idles, and there is no
# work to steal. With no dashboard, the samplers that feed one (a stack sampler every 10 ms, system
# metrics, event-loop ticks) only took CPU from grading: 1.2 of 70 CPU-seconds in a 12-submission batch.
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    # dask starts an HTTP server in the scheduler and in each worker even without a dashboard, on every
    # interface unless told otherwise (LOCAL_HTTP); these serve nothing: no task list, no worker logs
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
}
# Where those servers listen: loopback, on ports of the system's choosing.
LOCAL_HTTP = {"dashboard_address": "127.0.0.1:0", "worker_dashboard_address": "127.0.0.1:0"}


@contextlib.contextmanager
def dask_client(scheduler: Access | None, workers: int):
    """A client of the cluster at `scheduler` (checked by cluster.check_scheduler), else of a local cluster
    of at least `workers` single-threaded workers: one submission at a time per worker, one math
    thread per kernel. The local cluster talks in memory (inproc://): it opens no port.

    The local cluster is kept for the rest of this process (closed when it exits), grown when a
    batch asks for more workers: a later batch (the demo's next assignment, the next test)
    finds its workers and its forkserver (nbgrader imported) started. Yields (client, the addresses of
    the workers to use, None for all); (None, None) for one worker while no local cluster runs:
    then the tasks run one after another in this process, in the same way."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with connect(scheduler) as client:
            yield client, None
        return
    if workers == 1 and "cluster" not in _LOCAL:
        # one submission (grade-one) or one worker asked for: the same task, run in this process,
        # without starting a cluster for it
        yield None, None
        return
    cluster, client = _LOCAL.get("cluster"), _LOCAL.get("client")
    if cluster is None or cluster.status.name != "running" or client.status != "running":
        # A task only waits for the grading process it forks from this process's forkserver, so
        # the workers are threads of this process: none has an interpreter to start or nbgrader
        # to import.
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                   memory_limit=0, silence_logs=logging.ERROR, **LOCAL_HTTP)
        client = Client(cluster)
        _LOCAL.update(cluster=cluster, client=client)
    elif len(cluster.workers) < workers:
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster.scale(workers)
    client.wait_for_workers(workers, timeout=300)
    running = sorted(client.scheduler_info()["workers"])
    yield client, (running[:workers] if len(running) > workers else None)


class Progress:
    """A tqdm bar: submissions done, counts by status, and the slowest submission so far."""

    def write(self, text: str) -> None:
        self.bar.write(text)

    def __init__(self, total: int, assignment: str, skipped: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=f"grading {assignment}", unit="sub", file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True)
        self.counts = dict.fromkeys(STATUSES, 0)
        self.slowest = None
        if skipped:
            self.bar.write(f"{skipped} submissions unchanged since they were graded: kept (--force regrades them)")

    def done(self, outcome: Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.slowest is None or outcome.seconds > self.slowest.seconds:
            self.slowest = outcome
        shown = {status: n for status, n in self.counts.items() if n}
        shown["slowest"] = f"{self.slowest.student} {self.slowest.seconds:.1f}s"
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()


def load_outcomes(root: Path, assignment: str) -> dict[str, dict]:
    path = root / "reports" / assignment / "outcomes.json"
    try:
        return {o["student"]: o for o in json.loads(path.read_text())}
    except (OSError, ValueError):
        return {}


def save_outcomes(root: Path, assignment: str, outcomes: list[Outcome]) -> Path:
    """Merge into reports/<A>/outcomes.json, written whole to a new file and renamed into place."""
    path = root / "reports" / assignment / "outcomes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = load_outcomes(root, assignment)
    saved.update({o.student: asdict(o) for o in outcomes})
    fresh = path.with_suffix(".json.tmp")
    fresh.write_text(json.dumps(sorted(saved.values(), key=lambda o: o["student"]), indent=1))
    fresh.replace(path)
    return path
