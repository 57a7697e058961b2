"""Gradescope's run_autograder: grade the submission with the bundle's sealed graders and write
results.json (the bundle: vicourse/lms/gradescope_bundle.py).

`python -m vicourse.lms.autograder --root /autograder --source /autograder/source` takes the notebook
from <root>/submission (the assignment's name, else the only notebook there), grades it as
`vicourse grade-one` does (a scratch copy of the bundle's course, the batch path: repair, the
sandbox, the hidden checks, time limits) and writes <root>/results/results.json.

Student code runs in the sandbox where the container allows one: bubblewrap needs unprivileged
user namespaces, or root with CAP_SYS_ADMIN, which a container's seccomp profile may refuse.
There the kernel sees no /autograder at all: neither the graders nor the results folder, and its
processes end with it. Where no sandbox can be set up, the bundle's config decides (`make
gradescope A=... REQUIRE_SANDBOX=1` refuses: score 0 and the reason), and by default the
submission is graded unsandboxed, as root, like any autograder that runs the student's code in
its own process: it could then read the graders and alter this run. Either way the results file
is written last, after every kernel has ended, to a temporary name in the results folder and
renamed over whatever is there; what the sandbox gave is in a test only instructors see.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

SEE_INSTRUCTOR = "Your instructor will look at it."


def submission_notebook(folder: Path, assignment: str) -> Path | None:
    """The notebook to grade: <assignment>.ipynb (the shallowest), else the only notebook."""
    found = [p for p in folder.rglob("*.ipynb") if p.is_file() and not p.is_symlink()
             and ".ipynb_checkpoints" not in p.parts] if folder.is_dir() else []
    named = sorted((p for p in found if p.name == f"{assignment}.ipynb"), key=lambda p: (len(p.parts), str(p)))
    if named:
        return named[0]
    return found[0] if len(found) == 1 else None


def failed(message: str, seconds: float = 0.0) -> dict:
    return {"score": 0.0, "execution_time": round(seconds, 1), "output": message, "output_format": "text",
            "stdout_visibility": "hidden", "tests": []}


def results_for(root: Path, source: Path) -> dict:
    from ..batch.grade_one import grade_one
    from ..reports.gradescope import results_json

    assignment = json.loads((source / "bundle.json").read_text())["assignment"]
    notebook = submission_notebook(root / "submission", assignment)
    if notebook is None:
        return failed(f"No notebook to grade: upload {assignment}.ipynb, the notebook you were given, "
                      "filled in (one notebook, or one of that name).")
    with contextlib.redirect_stdout(sys.stderr):
        results, row, outcome = grade_one(source / "course", notebook, assignment)
    data = results_json(results, row)
    data["tests"].append({"name": "Isolation of the student's code (instructors only)", "score": 0.0,
                          "max_score": 0.0, "output": outcome.isolation or row.isolation, "visibility": "hidden",
                          "output_format": "text"})
    return data


def write_results(path: Path, data: dict) -> None:
    """results.json in one step: a temporary file beside it, renamed over whatever is there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        json.dump(data, out, indent=1)
    os.chmod(temporary, 0o644)  # mkstemp's file is the owner's only
    os.replace(temporary, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vicourse.lms.autograder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's folder (/autograder)")
    parser.add_argument("--source", type=Path, help="the unpacked bundle (default: ROOT/source)")
    args = parser.parse_args(argv)
    source = args.source or args.root / "source"
    started = time.perf_counter()
    os.environ.setdefault("MPLBACKEND", "Agg")
    print(f"grading with the course library in {Path(__file__).resolve().parents[1]}", file=sys.stderr)
    try:
        data = results_for(args.root, source)
    except Exception as error:  # noqa: BLE001 - the student still gets a results file that says so
        traceback.print_exc()
        data = failed(f"The autograder could not grade this submission ({error.__class__.__name__}). "
                      + SEE_INSTRUCTOR, time.perf_counter() - started)
    target = args.root / "results" / "results.json"
    write_results(target, data)
    print(f"{target}: score {data['score']:g}, {len(data['tests'])} tests, "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
