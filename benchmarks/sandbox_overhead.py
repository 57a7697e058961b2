"""What the sandbox costs per submission, in one run: the full sandbox, the sandbox without the
limits on a kernel as a whole (bwrap and per-process rlimits only: control groups, the seccomp
filter and the socket tmpfs off), and no sandbox.

    .venv/bin/python benchmarks/sandbox_overhead.py [assignment] [copies] [kernels]

1. Kernel life cycle, the three in turn, `kernels` times each: start a kernel, run the notebook's
   imports and one call, shut it down. This is where the sandbox's cost lives (bwrap set-up, the
   copied files, the uid slot, the control group, the filter, the tmpfs).
2. The same `copies` correct submissions autograded end to end by the batch with one worker,
   with the full sandbox and with none, in the order A B B A, nbgrader's own work included.
Prints seconds per kernel and per submission, and the overheads.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

from vicourse.authoring import examples, release
from vicourse.batch import coordinator, dask_tasks
from vicourse.course import copy_course
from vicourse.grading.executor import live_student
from vicourse.grading.sandbox_isolation import isolation

ROOT = Path(__file__).resolve().parents[1]
# each a set of c.Sandbox settings
MODES = {"full sandbox": {}, "without the whole-kernel limits": {"cgroups": False, "seccomp": False,
                                                                 "socket_tmpfs": False},
         "no sandbox": {"enabled": False}}


def kernel_once(settings: dict, folder: str) -> float:
    from traitlets.config import Config

    config = Config()
    for name, value in settings.items():
        setattr(config.Sandbox, name, value)
    nb = new_notebook(cells=[new_code_cell("import numpy as np, scipy.stats\ndef f(x):\n    return 2 * x\n")])
    started = time.perf_counter()
    with live_student(nb, folder, timeout=60, config=config) as student:
        assert student.f(2) == 4
    return time.perf_counter() - started


def grade_batch(root: Path, assignment: str) -> float:
    with dask_tasks.dask_client(None, 1):  # the local cluster, started once for all four runs, untimed
        pass
    started = time.perf_counter()
    outcomes = coordinator.grade_all(root, assignment, workers=1)
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
        kernel_once({}, folder)  # warm the file cache for all
        runs = {mode: [] for mode in MODES}
        for _ in range(kernels):
            for mode, settings in MODES.items():
                runs[mode].append(kernel_once(settings, folder))
    median = {mode: statistics.median(times) for mode, times in runs.items()}
    print(f"kernel life cycle, median of {kernels}: " + ", ".join(f"{m} {t:.3f} s" for m, t in median.items()))
    print(f"  the whole-kernel limits (control group, seccomp filter, socket tmpfs) cost "
          f"{median['full sandbox'] - median['without the whole-kernel limits']:+.3f} s per kernel; "
          f"the full sandbox against none {median['full sandbox'] - median['no sandbox']:+.3f} s")

    # A B B A: a drift in the machine's speed (caches warming, other load) cancels out
    timings = {"full sandbox": [], "without the whole-kernel limits": []}
    for label in ("full sandbox", "without the whole-kernel limits", "without the whole-kernel limits", "full sandbox"):
        with tempfile.TemporaryDirectory() as tmp:
            root = copy_course(ROOT, Path(tmp))
            config = root / "nbgrader_config.py"
            config.write_text(config.read_text() + "".join(f"c.Sandbox.{name} = {value!r}\n"
                                                           for name, value in MODES[label].items()))
            release.generate_releases(root, [assignment])
            full = examples.full_solution(root, assignment)
            examples.submit(root, assignment, {f"s{i:03d}": full for i in range(copies)})
            timings[label].append(grade_batch(root, assignment) / copies)
    timings = {label: statistics.mean(runs) for label, runs in timings.items()}
    full, before = timings["full sandbox"], timings["without the whole-kernel limits"]
    print(f"autograde of {copies} submissions of {assignment}, 1 worker, mean of 2 runs each: full sandbox "
          f"{full:.2f} s, without the whole-kernel limits {before:.2f} s per submission: the limits cost "
          f"{full - before:+.2f} s per submission")


if __name__ == "__main__":
    main()
