"""An assignment's hidden checks: loaded sealed from its grader module, and run one at a time.

A check is a function `test_<grade id>(student)` of grader_tests/test_<notebook>.py. It passes,
fails with a message for the student (AssertionError), or keeps part of the cell's points
(checking.PartialCredit); a check that crashes costs its cell, never the batch.
"""

from __future__ import annotations

import logging
import os
import sys
import types

from .checking import PartialCredit
from .grader_files import grader_file
from .student import Student

log = logging.getLogger("vicourse.grading")

def load_grader_module(graders_dir: str | os.PathLike, notebook: str):
    """The hidden grader module for a notebook, or None if it has none.

    Sealed: the source is read and compiled in memory, never through the import
    system, so no `.pyc` in `__pycache__` (planted or stale) is ever trusted, and
    grader_tests never has to be on sys.path (so the kernel cannot import it).
    """
    path = grader_file(graders_dir, notebook)
    if not path.is_file():
        return None
    name = f"vicourse_graders_{notebook}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    exec(code, module.__dict__)
    return module


def load_checks(graders_dir: str | os.PathLike, notebook: str) -> dict:
    """The hidden checks for a notebook: {test cell grade id: check function}."""
    module = load_grader_module(graders_dir, notebook)
    return {} if module is None else checks_in(module)


def checks_in(module) -> dict:
    """A grader module's checks: its callables named test_<grade id>."""
    return {n: f for n, f in vars(module).items() if n.startswith("test_") and callable(f)}


def run_check_scored(check, student: Student) -> tuple[str | None, float]:
    """(None, 1.0) if the check passes; otherwise the message for the student and the
    fraction of the points kept (0.0 unless the check raised PartialCredit)."""
    try:
        check(student)
    except PartialCredit as exc:
        return str(exc), exc.kept
    except AssertionError as exc:
        return str(exc) or "the hidden check failed", 0.0
    except Exception:  # noqa: BLE001 - a broken check must not stop the batch
        log.exception("hidden check %s crashed", check.__name__)
        return "the hidden check could not run on this submission; ask your instructor", 0.0
    return None, 1.0


def run_check(check, student: Student) -> str | None:
    """None if the check passes, otherwise the message for the student."""
    return run_check_scored(check, student)[0]
