"""Execution time of every notebook's solution against its budget, and the torch
notebooks' held-out metrics, over several seeds.

    python benchmarks/notebooks.py [--seeds 5] [--secrets 5] [ASSIGNMENT ...]

The budget on a 2-core CPU machine is 30 s for a numpy notebook and 120 s for a
torch one (one that imports a module from vicourse/shipped), the grader's own
training runs included.  For each seed, the solution runs in the grading sandbox
exactly as a submission would (`SEED = s` in a torch notebook's set-up cell; a
numpy notebook just runs again), on the CPU, and then on CUDA where a GPU is
visible.  The held-out metrics are the grader module's own `*_heldout_scores`
functions, so the numbers printed are the ones the hidden checks' thresholds are
set from.  A function that takes a `seed` trains a model in the kernel on data
drawn from the grading secret (docs/trained-models.md): it is called once per
secret, with the notebook's seed as the training seed, so five seeds and five
secrets give 25 runs, and its table has one column per run.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
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
from vicourse.checking import set_grading_secret  # noqa: E402
from vicourse.course import assignments, kernel_environment, read_notebook, source_notebook  # noqa: E402
from vicourse.grading_executor import live_student, load_grader_module  # noqa: E402
from vicourse.solutions import HIDDEN_BLOCK, MARKER_LINE  # noqa: E402

SEED_LINE = re.compile(r"^SEED = \d+$", re.M)


def trains_in_the_kernel(scores) -> bool:
    """Whether a `*_heldout_scores` function trains the student's model on secret data (it takes a seed)."""
    return "seed" in inspect.signature(scores).parameters


def secret(index: int) -> str:
    """The grading secret of the benchmark's run `index`: fixed, so that a benchmark repeats."""
    return hashlib.sha256(f"benchmark secret {index}".encode()).hexdigest()[:32]


def run_once(assignment: str, seed: int, device: str, edit=None, extra=None, secrets: int = 0) -> dict:
    """Seconds to run the solution in the sandbox, and the grader's held-out metrics.

    `edit(source) -> source` changes each cell before the run (a variation of the
    procedure); `extra(student) -> dict` reads more numbers from the live notebook.
    With `secrets`, the metrics that train in the kernel are computed once per secret,
    as `"<metric> [secret i]"`, each with its training time.
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
                for name, f in metrics.items():
                    if not trains_in_the_kernel(f):
                        scores.update({f"{name.removesuffix('_heldout_scores')} {k}": v for k, v in f(student).items()})
                for index in range(secrets):  # each secret's checks in the module's order, as grading runs them
                    set_grading_secret(secret(index))
                    for name, f in metrics.items():
                        if trains_in_the_kernel(f):
                            started = time.perf_counter()
                            found = f(student, seed=seed)
                            found["seconds"] = time.perf_counter() - started
                            prefix = name.removesuffix("_heldout_scores")
                            scores.update({f"{prefix} {k} [secret {index}]": v for k, v in found.items()})
                if extra is not None:
                    scores.update(extra(student))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"seconds": seconds, **scores}


def print_table(title: str, rows: list[dict]) -> None:
    """One column per seed, then the minimum, median and maximum of each row; the metrics computed
    once per secret in a table of their own, one column per seed and secret."""
    per_secret = sorted({k.rsplit(" [secret ", 1)[0] for k in rows[0] if " [secret " in k})
    if per_secret:
        secrets = sorted({int(k.rsplit(" [secret ", 1)[1][:-1]) for k in rows[0] if " [secret " in k})
        print_table(title, [{k: v for k, v in r.items() if " [secret " not in k} for r in rows])
        runs = [{k: r[f"{k} [secret {i}]"] for k in per_secret} for r in rows for i in secrets]
        print(f"\nthe grader's training runs in the kernel, on secret data: run = (seed, secret) "
              f"{[(s, i) for s in range(len(rows)) for i in secrets]}")
        print_table("", runs)
        return
    print(f"\n{title}")
    print(f"{'':28s}" + "".join(f"{f'run {s}':>9s}" for s in range(len(rows))) + "      min   median      max")
    for k in rows[0]:
        values = [r[k] for r in rows]
        summary = (min(values), statistics.median(values), max(values))
        print(f"{k:28s}" + "".join(f"{v:9.4g}" for v in values) + "".join(f"{v:9.4g}" for v in summary))


def grading_seconds(row: dict) -> float:
    """What grading one submission costs in the kernel: the notebook, and the grader's training calls
    for the slowest of the secrets."""
    secrets = {k.rsplit(" [secret ", 1)[1] for k in row if " [secret " in k}
    training = [sum(v for k, v in row.items() if k.endswith(f"seconds [secret {i}")) for i in secrets]
    return row["seconds"] + max(training, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--secrets", type=int, default=5, help="secrets per seed for a grader that trains in the kernel")
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
            slowest = max(grading_seconds(r) for r in rows)
            if device == "cpu":
                verdict = "within" if slowest <= budget else "OVER"
                print(f"slowest grading run (the notebook and the grader's training in the kernel) {slowest:.1f} s: "
                      f"{verdict} the {budget} s budget on 2 CPU cores")


if __name__ == "__main__":
    main()
