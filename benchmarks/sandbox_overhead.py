"""What the sandbox costs per submission, sandboxed against unsandboxed, in one run.

    .venv/bin/python benchmarks/sandbox_overhead.py [assignment] [copies] [kernels]

1. Kernel life cycle, alternating sandboxed and unsandboxed, `kernels` times each:
   start a kernel, run the notebook's imports and one call, shut it down. This is
   where the sandbox's cost lives (bwrap set-up, the copied files, the uid slot).
2. The same `copies` correct submissions autograded end to end by the batch with one
   worker, sandboxed and not, in the order A B B A, with nbgrader's own work included.
Prints seconds per submission for each and the overhead, sandboxed minus unsandboxed.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

from vicourse import batch, examples, release
from vicourse.course import copy_course
from vicourse.grading_executor import live_student
from vicourse.sandbox import isolation

ROOT = Path(__file__).resolve().parents[1]
UNSANDBOXED = "c.Sandbox.enabled = False\n"


def kernel_once(sandboxed: bool, folder: str) -> float:
    from traitlets.config import Config

    config = Config()
    config.Sandbox.enabled = sandboxed
    nb = new_notebook(cells=[new_code_cell("import numpy as np, scipy.stats\ndef f(x):\n    return 2 * x\n")])
    started = time.perf_counter()
    with live_student(nb, folder, timeout=60, config=config) as student:
        assert student.f(2) == 4
    return time.perf_counter() - started


def grade_batch(root: Path, assignment: str) -> float:
    with batch.dask_client(None, 1):  # the local cluster, started once for all four runs, untimed
        pass
    started = time.perf_counter()
    outcomes = batch.grade_all(root, assignment, workers=1)
    assert all(o.status == "graded" for o in outcomes), [o.notes for o in outcomes]
    return time.perf_counter() - started


def main() -> None:
    assignment = sys.argv[1] if len(sys.argv) > 1 else "01_entropy_kl"
    copies = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    kernels = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    found = isolation()
    print(f"isolation: {found.summary}")
    if not found.sandboxed:
        print("no sandbox on this machine: nothing to compare")
        return
    with tempfile.TemporaryDirectory() as folder:
        kernel_once(True, folder)  # warm the file cache for both
        runs = {True: [], False: []}
        for _ in range(kernels):
            for sandboxed in (True, False):
                runs[sandboxed].append(kernel_once(sandboxed, folder))
    on, off = statistics.median(runs[True]), statistics.median(runs[False])
    print(f"kernel life cycle, median of {kernels}: sandboxed {on:.3f} s, unsandboxed {off:.3f} s, "
          f"overhead {on - off:+.3f} s per kernel")

    # A B B A: a drift in the machine's speed (caches warming, other load) cancels out
    timings = {"sandboxed": [], "unsandboxed": []}
    for label in ("sandboxed", "unsandboxed", "unsandboxed", "sandboxed"):
        with tempfile.TemporaryDirectory() as tmp:
            root = copy_course(ROOT, Path(tmp))
            config = root / "nbgrader_config.py"
            config.write_text(config.read_text() + (UNSANDBOXED if label == "unsandboxed" else ""))
            release.generate_releases(root, [assignment])
            full = examples.full_solution(root, assignment)
            examples.submit(root, assignment, {f"s{i:03d}": full for i in range(copies)})
            timings[label].append(grade_batch(root, assignment) / copies)
    timings = {label: statistics.mean(runs) for label, runs in timings.items()}
    print(f"autograde of {copies} submissions of {assignment}, 1 worker, mean of 2 runs each: sandboxed {timings['sandboxed']:.2f} s, "
          f"unsandboxed {timings['unsandboxed']:.2f} s per submission, "
          f"overhead {timings['sandboxed'] - timings['unsandboxed']:+.2f} s per submission")


if __name__ == "__main__":
    main()
