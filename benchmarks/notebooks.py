"""Execution time of every notebook's solution against its budget, and the torch
notebooks' held-out metrics, over several seeds.

    python benchmarks/notebooks.py [--seeds 5] [--secrets 5] [ASSIGNMENT ...]

The budget on a 2-core CPU machine is 30 s for a numpy notebook and 120 s for a
torch one (one that imports a module from vicourse/shipped).  For each seed, the
solution runs in the grading sandbox exactly as a submission would (`SEED = s`
in a torch notebook's set-up cell; a numpy notebook just runs again), on the
CPU, and then on CUDA where a GPU is visible.  The held-out metrics are the
grader module's own `*_heldout_scores` functions, so the numbers printed are the
ones the hidden checks' thresholds are set from; where they train the student's
code on data of their own (05), `--secrets 5` gives five worlds per seed, and the
seconds they take count towards the grading run's budget.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vicourse import shipped  # noqa: E402
from vicourse.authoring.solutions import HIDDEN_BLOCK, MARKER_LINE  # noqa: E402
from vicourse.course import assignments, kernel_environment, read_notebook, source_notebook  # noqa: E402
from vicourse.grading.checking import set_grading_secret  # noqa: E402
from vicourse.grading.executor import live_student  # noqa: E402
from vicourse.grading.hidden_checks import load_grader_module  # noqa: E402

SEED_LINE = re.compile(r"^SEED = \d+$", re.M)


def run_once(assignment: str, seed: int, device: str, edit=None, extra=None, secrets: int = 1) -> dict:
    """Seconds to run the solution in the sandbox, and the grader's held-out metrics with the
    seconds each took (a check that trains the student's code on its own data is part of the
    grading run's time).

    The metrics are computed for `secrets` grading secrets, each its own world of hidden inputs
    (`benchmark-<seed>-<k>`), and reported as `<metric> [k]` when there is more than one.
    `edit(source) -> source` changes each cell before the run (a variation of the
    procedure); `extra(student) -> dict` reads more numbers from the live notebook.
    """
    nb = read_notebook(source_notebook(ROOT, assignment))
    for cell in nb.cells:
        cell.source = SEED_LINE.sub(f"SEED = {seed}", MARKER_LINE.sub("", HIDDEN_BLOCK.sub("", cell.source)))
        if edit is not None:
            cell.source = edit(cell.source)
    metrics = {name: f for name, f in vars(load_grader_module(ROOT / "grader_tests", assignment)).items()
               if name.endswith("_heldout_scores")}
    saved = dict(os.environ)
    os.environ.update(kernel_environment())  # one thread per kernel, as in grading
    os.environ["CUDA_VISIBLE_DEVICES"] = "0" if device == "cuda" else ""
    try:
        with tempfile.TemporaryDirectory() as folder:
            shipped.working_copy(ROOT, assignment, Path(folder))
            started = time.perf_counter()
            with live_student(nb, folder, timeout=600) as student:
                seconds = time.perf_counter() - started
                scores = {}
                for index in range(secrets):
                    set_grading_secret(f"benchmark-{seed}-{index}".encode().hex())
                    suffix = f" [{index}]" if secrets > 1 else ""
                    for name, f in metrics.items():
                        begun = time.perf_counter()
                        for k, v in f(student).items():
                            scores[f"{name.removesuffix('_heldout_scores')} {k}{suffix}"] = v
                        scores[f"{name.removesuffix('_heldout_scores')} seconds{suffix}"] = time.perf_counter() - begun
                if extra is not None:
                    scores.update(extra(student))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"seconds": seconds, **scores}


def print_table(title: str, rows: list[dict]) -> None:
    """One column per seed, then the minimum, median and maximum of each row."""
    print(f"\n{title}")
    print(f"{'':28s}" + "".join(f"{f'seed {s}':>9s}" for s in range(len(rows))) + "      min   median      max")
    for k in rows[0]:
        values = [r[k] for r in rows]
        summary = (min(values), statistics.median(values), max(values))
        print(f"{k:28s}" + "".join(f"{v:9.4g}" for v in values) + "".join(f"{v:9.4g}" for v in summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--secrets", type=int, default=1, help="grading secrets (worlds of hidden data) per seed")
    args = parser.parse_args()
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if devices == ["cpu"]:
        print("no GPU visible: CPU times only")
    for assignment in args.assignments or assignments(ROOT):
        trains = shipped.trains_networks(ROOT, assignment)
        budget = 120 if trains else 30  # seconds on 2 CPU cores
        for device in devices if trains else ["cpu"]:
            rows = [run_once(assignment, seed, device, secrets=args.secrets) for seed in range(args.seeds)]
            print_table(f"{assignment} on {device}, {os.cpu_count()} cores, one math thread per kernel", rows)
            # a grading run: the notebook, then every check (those that train included)
            slowest = max(r["seconds"] + sum(v for k, v in r.items() if k.endswith("seconds") and k != "seconds")
                          / args.secrets for r in rows)
            if device == "cpu":
                verdict = "within" if slowest <= budget else "OVER"
                print(f"slowest grading run (notebook and the checks' training) {slowest:.1f} s: {verdict} the "
                      f"{budget} s budget on one CPU core")


if __name__ == "__main__":
    main()
