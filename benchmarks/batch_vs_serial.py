"""Batch autograding throughput: N copies of a correct submission graded with one
worker (serial) and with one worker per core, in one run, on a temporary course.

    .venv/bin/python benchmarks/batch_vs_serial.py [assignment] [copies]

Prints seconds per submission for each and the speed-up ratio.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from vicourse import batch, examples, release
from vicourse.course import copy_course

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    assignment = sys.argv[1] if len(sys.argv) > 1 else "01_entropy_kl"
    copies = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    workers = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_course(ROOT, Path(tmp))
        release.generate_releases(root, [assignment])
        full = examples.full_solution(root, assignment)
        examples.submit(root, assignment, {f"s{i:03d}": full for i in range(copies)})
        timings = {}
        for label, n in (("serial", 1), (f"batch x{workers}", workers)):
            started = time.perf_counter()
            outcomes = batch.grade_all(root, assignment, workers=n)
            timings[label] = time.perf_counter() - started
            assert all(o.status == "graded" for o in outcomes)
        for label, seconds in timings.items():
            print(f"{label:>10}: {seconds:6.1f} s for {copies} submissions ({seconds / copies:.2f} s each)")
        serial, parallel = timings.values()
        print(f"speed-up batch/serial: {serial / parallel:.2f}x on {workers} cores")


if __name__ == "__main__":
    main()
