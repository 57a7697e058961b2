"""The zip Gradescope's autograder takes for one assignment (`make gradescope A=...`).

Gradescope unpacks it into /autograder/source, runs setup.sh once to build its image, and for
each submission copies run_autograder to /autograder/run_autograder and runs it as root, with the
student's files in /autograder/submission; it reads /autograder/results/results.json
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The bundle holds:

* setup.sh: Python and the pinned packages (requirements.lock) in /autograder/venv;
* run_autograder: `python -m vicourse.lms.autograder`, with the course library from lib/;
* lib/vicourse/: the course library;
* course/: what grading one submission needs and nothing more: nbgrader_config.py, the sealed
  grader module without its calibration (`grading_part`), the release folder students were given, the files of source/<A>/ other than
  notebooks, and a gradebook that knows the assignment's cells as students got them (no rubrics).
  No instructor notebook: no solution travels.
"""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..batch import worker_view
from ..batch.coordinator import ensure_release
from ..course import check_config, open_gradebook

BUNDLE = "build/gradescope"
REQUIRE_SANDBOX = "\n# Gradescope bundle: refuse to grade where no sandbox can be set up\nc.Sandbox.required = True\n"

SETUP = """#!/usr/bin/env bash
# Run once by Gradescope, as root, when it builds the autograder image. Choose its Ubuntu 24.04
# base image: the pinned packages need Python 3.11 or later.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv >/dev/null
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else
  "this autograder needs Python 3.11 or later: choose the Ubuntu 24.04 base image")'
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --disable-pip-version-check -r "$here/requirements.lock"
# the course library itself is imported from $here/lib (run_autograder); check that it loads
PYTHONPATH="$here/lib" /autograder/venv/bin/python -c "import vicourse.lms.autograder"
"""

RUN = """#!/usr/bin/env bash
# Gradescope copies this to /autograder/run_autograder and runs it, as root, for each submission.
# AUTOGRADER_ROOT (default /autograder), AUTOGRADER_SOURCE (default $AUTOGRADER_ROOT/source) and
# VICOURSE_PYTHON (default /autograder/venv/bin/python) run it on another tree.
set -uo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
source_dir="${AUTOGRADER_SOURCE:-$root/source}"
python="${VICOURSE_PYTHON:-$root/venv/bin/python}"
cd "$source_dir"
PYTHONPATH="$source_dir/lib" exec "$python" -m vicourse.lms.autograder --root "$root" --source "$source_dir"
"""


def _library(target: Path) -> None:
    package = Path(__file__).resolve().parents[1]  # the whole vicourse package
    shutil.copytree(package, target / "vicourse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


CALIBRATION = {"WRONG_ANSWERS", "CORRECT_ALTERNATIVES", "STOCK_AUTOGRADE"}


def _bound(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used(statement: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def grading_part(text: str) -> str:
    """A grader module without its calibration: the known-wrong answers and correct alternatives
    of `make calibrate` hold solution code and grade nothing. What they alone use goes with them;
    every check and everything it uses stays, byte for byte."""
    body = ast.parse(text).body
    removed = {i for i, s in enumerate(body) if _bound(s) & CALIBRATION}
    while True:
        kept_uses = set().union(*(_used(s) for i, s in enumerate(body) if i not in removed))
        removed_uses = set().union(*(_used(body[i]) for i in removed))
        more = {i for i, s in enumerate(body) if i not in removed and _bound(s)
                and not _bound(s) & kept_uses and _bound(s) & removed_uses
                and not any(name.startswith("test_") for name in _bound(s))}
        if not more:
            break
        removed |= more
    lines = text.splitlines(keepends=True)
    for i in sorted(removed, reverse=True):
        first = min([body[i].lineno] + [d.lineno for d in getattr(body[i], "decorator_list", [])])
        del lines[first - 1:body[i].end_lineno]
    return "".join(lines)


def _lock(root: Path) -> Path:
    """The pinned versions: the course's, else those of the project this library comes from."""
    for candidate in (root / "requirements.lock", Path(__file__).resolve().parents[2] / "requirements.lock"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no requirements.lock in {root}: the bundle installs exactly those versions")


def _course(root: Path, assignment: str, target: Path, require_sandbox: bool) -> None:
    config = check_config(root)
    ensure_release(root, assignment)
    release = root / "release" / assignment
    if not (release / f"{assignment}.ipynb").is_file():
        raise SystemExit(f"{release} has no {assignment}.ipynb: run `make release` first")
    target.mkdir(parents=True)
    text = (root / "nbgrader_config.py").read_text()
    (target / "nbgrader_config.py").write_text(text + (REQUIRE_SANDBOX if require_sandbox else ""))
    (target / "grader_tests").mkdir()
    grader = (root / "grader_tests" / f"test_{assignment}.py").read_text()
    (target / "grader_tests" / f"test_{assignment}.py").write_text(grading_part(grader))
    shutil.copytree(release, target / "release" / assignment)
    shutil.copytree(worker_view.source_folder(root, assignment) / assignment, target / "source" / assignment)
    course_id = config.CourseDirectory.get("course_id", "default_course")
    with open_gradebook(root) as gradebook:
        worker_view.template(gradebook, assignment, target / "gradebook.db", course_id, config)


def build(root: Path, assignment: str, require_sandbox: bool = False, output: Path | None = None) -> Path:
    """Write build/gradescope/<A>.zip (or `output`) and return its path."""
    output = output or root / BUNDLE / f"{assignment}.zip"
    with tempfile.TemporaryDirectory(prefix="vicourse-gradescope-") as scratch:
        folder = Path(scratch)
        _course(root, assignment, folder / "course", require_sandbox)
        _library(folder / "lib")
        shutil.copy2(_lock(root), folder / "requirements.lock")
        (folder / "setup.sh").write_text(SETUP)
        (folder / "run_autograder").write_text(RUN)
        (folder / "bundle.json").write_text(json.dumps({"assignment": assignment}, indent=1) + "\n")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo.from_file(path, str(path.relative_to(folder)))
                    if path.name in ("setup.sh", "run_autograder"):
                        info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
                    bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        partial.replace(output)
    return output
