"""The grading process of one submission, forked for it from the forkserver
(vicourse/batch/worker.py), which imported this module, and so nbgrader, once.

It stages the submitted files the worker received (vicourse/grading/staging.py: read, checked and
repaired here, under this process's time limit, so that no notebook can hold up the batch),
autogrades the scratch course with stock nbgrader's Autograde converter and the course's
nbgrader_config.py (kernels start in the sandbox through ExecuteWithChecks), then saves what
nbgrader wrote in the private gradebook as plain data (child.json) for the worker to return.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import time
from pathlib import Path

import jsonschema

# Imported here, so in the forkserver, ready for every grading process.
from nbgrader.converters import Autograde
from nbgrader.nbgraderformat import common as nbgraderformat_common

from ..course import check_config, kernel_environment, run_converter
from ..grading import executor  # noqa: F401 - the preprocessor nbgrader_config.py names
from ..grading.sandbox_host import private_mount_namespace
from ..grading.sandbox_isolation import isolation
from ..grading.staging import stage_folder
from .gradebook_rows import ignore_add_submission_warnings, read_rows
from .worker import RECEIVED

# What sandbox this machine gives, probed once (a bwrap run), here in the forkserver:
# every grading process forked from it starts knowing.
isolation()


class _SchemaChecks:
    """What nbgrader's metadata validator uses of the jsonschema module, with each schema checked
    against its meta-schema once. jsonschema.validate repeats that check on every call: nbgrader
    calls it for every cell, twice per notebook, which cost 0.2 s of a grading process's 1.4 s of
    CPU for 01. The errors raised are jsonschema.validate's own (the best match), unchanged."""

    def __init__(self):
        self._validators = {}

    def validate(self, instance, schema):
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[key] = cls(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


nbgraderformat_common.jsonschema = _SchemaChecks()


def scratch_config(job: dict, scratch: Path):
    """The course's config, with the gradebook, submissions, output and records in `scratch`."""
    from traitlets.config.loader import KVArgParseConfigLoader

    course = Path(job["course"])
    config = check_config(course)
    config.CourseDirectory.root = str(scratch)
    # the non-notebook files of source/<A> (vicourse/batch/worker_view.py): a worker never reads source/
    config.CourseDirectory.source_directory = job.get("source") or str(course / "source")
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.db_url = f"sqlite:///{scratch / 'gradebook.db'}"
    config.ExecuteWithChecks.results_dir = str(scratch / "results")
    config.Sandbox.owner = str(course)  # the course's uid range and scratch folders, not the scratch course's
    if job.get("hidden_seed"):  # the coordinator's secret for this submission's hidden inputs
        config.ExecuteWithChecks.hidden_seed = job["hidden_seed"]
    if job.get("extra"):
        config.merge(KVArgParseConfigLoader(argv=list(job["extra"])).load_config())
    return config


def run(job: dict, scratch: str, launched: float) -> None:
    """In the forked child: autograde the scratch course with stock nbgrader, save what it wrote."""
    die_with_parent()
    private_mount_namespace()  # as root: its kernels' socket tmpfs vanish with it, however it ends
    scratch = Path(scratch)
    note = {"process_start": round(time.time() - launched, 3)}
    environment = kernel_environment()  # one math thread per kernel; nothing of the grader's path
    os.environ.clear()
    os.environ.update(environment)
    ignore_add_submission_warnings()  # stock Autograde adds the submission to the scratch gradebook
    handler = logging.FileHandler(scratch / "log.txt")
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    try:
        config = scratch_config(job, scratch)
        staged = stage_folder(scratch / RECEIVED, scratch / "submitted" / job["student"] / job["assignment"],
                              job["assignment"], Path(config.ExecuteWithChecks.release_dir))
        note["staging"] = staged.notes
        if staged.unreadable:
            note["unreadable"] = staged.unreadable
            return
        started = time.perf_counter()
        autograde(config, job["assignment"], job["student"])
        note["autograde"] = round(time.perf_counter() - started, 3)
        note["rows"] = read_rows(config.CourseDirectory.db_url, job["assignment"], job["student"])
    except BaseException as exc:  # noqa: BLE001 - reported as the reason, never raised into the worker
        note["error"] = f"{type(exc).__name__}: {exc}"[:1000]
    finally:
        (scratch / "child.json").write_text(json.dumps(note))


def autograde(config, assignment: str, student: str) -> None:
    """Stock nbgrader autograde of one student, in this process (as `nbgrader autograde A --student S --force`)."""
    run_converter(Autograde, config, assignment, student)


def die_with_parent() -> None:
    """SIGKILL this process when its parent (the forkserver, which ends with its worker or coordinator) ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):  # not Linux: the time limit still kills it
        pass
