"""Autograde every submission of an assignment: parallel, isolated, timed, lossless,
resumable, on one machine or a cluster, with one engine: dask.distributed.

For each `submitted/<student>/<assignment>/` the coordinator (this module)
1. hashes it: a re-run grades only submissions that are new or changed (or whose
   grader, config or options changed) unless `force` is given (submitted.py); the hashes
   live in reports/<A>/outcomes.json (outcomes.py), on the coordinator, where no kernel can reach;
2. stages a copy under `build/staged/<A>/<student>/<A>/` (the original is never
   modified), repaired against the release where cells or metadata went missing;
3. sends it, as bytes, as one dask task (dask_tasks.py, worker.py) to a worker:
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

import hashlib
import hmac
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.utils import determine_grade

from ..authoring.release import generate_releases
from ..course import check_config, gradebook_url, open_gradebook, read_notebook
from ..grading.graded_outputs import CHECK_FAILED, is_test_cell
from ..grading.sandbox_isolation import isolation
from . import worker_view
from .cluster import check_scheduler
from .dask_tasks import dask_client, run_tasks
from .gradebook_rows import write_rows
from .outcomes import Outcome, Progress, load_outcomes, ran_out_of_time, save_outcomes, why_slow
from .submitted import folder_digest, grading_digest, students, submitted_files, unchanged
from .worker import start_forkserver

RESULTS = "build/results"  # grading records (nbgrader_config.py points ExecuteWithChecks here)
TEMPLATES = "build/gradebook-templates"  # the assignment's definition, copied by each worker


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


def refuse_in_grading_process() -> None:
    """Exit at once in a process forked from the grading forkserver (vicourse/batch/forkserver_setup.py):
    a batch started there is the coordinator's own script, run again by multiprocessing without a
    main guard. The grading process then ends before grading, and its outcome names the script."""
    if getattr(sys.modules.get("vicourse.batch.forkserver_setup"), "GRADING_PROCESS", False):
        raise SystemExit(1)  # not an Exception: the forkserver's child exits quietly, with code 1


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


