"""Batch grading (dask, vicourse/batch/coordinator.py) against stock serial `nbgrader autograde`, in one run.

    .venv/bin/python benchmarks/autograde.py [--count 13] [--workers N] [--cell-timeout 10]

On a temporary copy of the course, N submissions of 01_entropy_kl (correct ones,
known-wrong variants from its grader module, half-done ones, a broken one with an
endless loop and missing cells, a cheater, an unreadable file) are staged and repaired
once; then
1. stock `nbgrader autograde 01_entropy_kl` grades the staged copies in ONE process
   (its start paid once), serially, into its own gradebook;
2. the course tool grades the same submissions: a fresh LocalCluster with one worker
   per core (its start and its forkserver's included), one task per submission.

Prints both wall times and the ratio; the per-submission overhead (time not spent
running the student's cells); where a submission's time goes (process start, kernel
start, the imports cell, the other cells, the checks, nbgrader's own work, the
gradebook writes); and the projection for 500 submissions of 05_gmvae.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vicourse.authoring import examples, release  # noqa: E402
from vicourse.batch import coordinator, dask_tasks
from vicourse.batch.outcomes import STATUSES, Outcome
from vicourse.batch.submitted import STAGED, stage
from vicourse.course import copy_course, nbgrader, read_notebook, source_notebook  # noqa: E402
from vicourse.grading.hidden_checks import load_grader_module  # noqa: E402

A = "01_entropy_kl"
# 05_gmvae's solution in the grading sandbox, one math thread, training included: 36.4 to 37.1 s
# over five seeds, one at a time on a 2-core machine (benchmarks/notebooks.py, 2026-11-24; README,
# Measured).  Two side by side run about 8% slower.
GMVAE_SECONDS = (36.4, 37.1)


def submissions(root: Path, count: int) -> dict[str, str]:
    """name -> notebook text: a mix of correct, wrong, half-done, broken, cheating and unreadable."""
    release_nb = read_notebook(root / "release" / A / f"{A}.ipynb")
    source_nb = read_notebook(source_notebook(root, A))
    import nbformat

    wrong = getattr(load_grader_module(root / "grader_tests", A), "WRONG_ANSWERS", [])
    texts = {f"k-{kind}": examples.make_example(kind, release_nb, source_nb)
             for kind in ("partial", "broken", "cheater", "garbled")}
    for i, variant in enumerate(wrong[:3]):
        texts[f"w-{i}"] = nbformat.writes(examples.filled(release_nb, source_nb, replace=variant.replace))
    i = 0
    while len(texts) < count:
        texts[f"c-{i:02d}"] = nbformat.writes(examples.filled(release_nb, source_nb))
        i += 1
    return texts


def cell_seconds(record: dict) -> float:
    return sum(record.get("timing", {}).get("cells", []))


def busy_cpu_seconds() -> float | None:
    """CPU-seconds all cores have spent busy since boot (Linux /proc/stat), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def records(root: Path, names) -> dict[str, dict]:
    found = {}
    for name in names:
        path = root / coordinator.RESULTS / name / f"{A}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=13, help="submissions (one is unreadable)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--cell-timeout", type=int, default=10, help="per-cell limit, for the endless loop")
    args = parser.parse_args()
    options = [f"--Execute.timeout={args.cell_timeout}", "--ExecuteWithChecks.check_timeout=10"]
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_course(ROOT, Path(tmp) / "course")
        release.generate_releases(root, [A])
        texts = submissions(root, args.count)
        for name, text in texts.items():
            folder = root / "submitted" / name / A
            folder.mkdir(parents=True)
            (folder / f"{A}.ipynb").write_text(text)
        readable = []
        for name in texts:
            outcome = Outcome(name)
            stage(root, A, outcome)
            if outcome.status != "unreadable":
                readable.append(name)

        # 1. stock nbgrader, one process for the whole batch, on a copy of the course
        stock = copy_course(root, Path(tmp) / "stock", parts=("source", "grader_tests", "release"))
        shutil.copytree(root / STAGED / A, stock / "submitted")
        for name in texts:
            if name not in readable:
                shutil.rmtree(stock / "submitted" / name)
        release.generate_releases(stock, [A])
        started, cpu = time.perf_counter(), busy_cpu_seconds()
        result = nbgrader(stock, "autograde", A, "--force", *options)
        stock_seconds = time.perf_counter() - started
        stock_cpu = busy_cpu_seconds() - cpu if cpu is not None else None
        if result.returncode != 0:
            print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
        stock_records = records(stock, readable)

        # 2. the course tool: a fresh local cluster, one worker per core, its start included
        started, cpu = time.perf_counter(), busy_cpu_seconds()
        with dask_tasks.dask_client(None, args.workers):
            cluster_start = time.perf_counter() - started
            outcomes = coordinator.grade_all(root, A, workers=args.workers, extra=options, force=True, progress=False)
        ours_seconds = time.perf_counter() - started
        ours_cpu = busy_cpu_seconds() - cpu if cpu is not None else None

    graded = [o for o in outcomes if o.status == "graded"]
    statuses = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    n = len(readable)
    # the student's code runs in its cells and in the hidden checks' calls into it: the same work in both
    ours_cells = sum(sum(o.timing.get("cells", [])) + (o.timing.get("checks") or 0) for o in graded)
    stock_cells = sum(cell_seconds(r) + r.get("timing", {}).get("checks", 0) for r in stock_records.values())
    print(f"{len(texts)} submissions of {A} ({n} readable; ours: {statuses}), cell limit {args.cell_timeout} s, "
          f"{os.cpu_count()} cores")
    print(f"  stock nbgrader autograde, serial, one process: {stock_seconds:7.1f} s ({stock_seconds / n:.2f} s each)")
    print(f"  course tool, LocalCluster x{args.workers}:           {ours_seconds:7.1f} s ({ours_seconds / n:.2f} s each),"
          f" of which {cluster_start:.1f} s starting the cluster")
    print(f"  speed-up: {stock_seconds / ours_seconds:.2f}x")
    if stock_cpu is not None:
        # the ratio's ceiling: the cores' busy time per submission, against stock's wall time per submission
        print(f"  CPU time of the whole machine: stock {stock_cpu:.1f} s ({stock_cpu / stock_seconds:.2f} cores busy), "
              f"course tool {ours_cpu:.1f} s ({ours_cpu / ours_seconds:.2f} of {os.cpu_count()} cores busy)")
    print("per-submission overhead (time not spent running the student's cells or the checks' calls into them),"
          " amortised:")
    print(f"  stock: {(stock_seconds - stock_cells) / n:.2f} s    "
          f"course tool: {(ours_seconds * args.workers - ours_cells) / n:.2f} s of worker time "
          f"({args.workers} workers x wall time, minus cells and checks, per submission)")

    def mean(key, rows=graded):
        values = [o.timing.get(key) or 0.0 for o in rows]
        return statistics.mean(values) if values else 0.0

    imports = statistics.mean([o.timing["cells"][0] for o in graded if o.timing.get("cells")] or [0])
    cells = statistics.mean([sum(o.timing.get("cells", [])[1:]) for o in graded] or [0])
    total, autograde = mean("total"), mean("autograde")
    kernel, checks = mean("kernel_start"), mean("checks")
    print("where one graded submission's time goes (mean, course tool):")
    rows = [
        ("grading process start (fork from the forkserver)", mean("process_start")),
        ("kernel start (sandbox + ipykernel, ready)", kernel),
        ("imports (the notebook's first code cell)", imports),
        ("executing the other cells", cells),
        ("hidden checks", checks),
        ("nbgrader's own work (sanitize, overwrite cells, save, its gradebook)",
         autograde - kernel - imports - cells - checks),
        ("worker: scratch course, results read back", total - autograde - mean("process_start")),
        ("coordinator: gradebook writes", mean("gradebook")),
    ]
    for label, seconds in rows:
        print(f"  {label:<72} {seconds:6.2f} s")
    print(f"  {'total per submission, on its worker':<72} {total:6.2f} s")
    slowest = max(graded, key=lambda o: o.seconds)
    print(f"  slowest: {slowest.student}, {slowest.seconds:.1f} s")
    # the same graded submissions under stock, one kernel at a time: what running two side by side costs
    same = [stock_records[o.student].get("timing", {}) for o in graded if o.student in stock_records]

    def stock_mean(value):
        return statistics.mean([value(t) for t in same] or [0])

    print(f"  stock, for comparison (one kernel at a time): kernel start {stock_mean(lambda t: t['kernel_start']):.2f} s, "
          f"imports {stock_mean(lambda t: (t.get('cells') or [0])[0]):.2f} s, "
          f"other cells {stock_mean(lambda t: sum((t.get('cells') or [])[1:])):.2f} s, "
          f"hidden checks {stock_mean(lambda t: t.get('checks') or 0):.2f} s; process start paid once")

    overhead = max(ours_seconds * args.workers - ours_cells, 0) / n
    direct = statistics.mean([o.timing["total"] - sum(o.timing.get("cells", [])) - (o.timing.get("checks") or 0)
                              + (o.timing.get("gradebook") or 0) for o in graded] or [0])
    print(f"  course tool, per submission on its worker (no idle time, no cluster start): {direct:.2f} s")
    print("projection, 500 submissions of 05_gmvae (its solution runs "
          f"{GMVAE_SECONDS[0]:.0f}-{GMVAE_SECONDS[1]:.0f} s in the sandbox on one thread, README 'Measured'),"
          f" plus {overhead:.1f} s overhead each:")
    for label, workers in (("one 2-core machine (2 workers)", 2), ("a cluster of 16 workers", 16),
                           ("a cluster of 64 workers", 64)):
        low, high = (500 * (t + overhead) / workers / 3600 for t in GMVAE_SECONDS)
        print(f"  {label:<34} {low:5.1f} to {high:5.1f} hours")


if __name__ == "__main__":
    main()
