"""Grading calibration variants: in-process re-run (vicourse.authoring.calibration) against a full
stock autograde of each variant, the same variants, in one run, on a temporary course.

    .venv/bin/python benchmarks/calibration_vs_autograde.py [assignment] [variants]

Prints seconds per variant for each route, whether both routes agree, and the ratio.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

os.environ.setdefault("MPLBACKEND", "Agg")

from vicourse.authoring import examples, release
from vicourse.authoring.calibration import grade_variants  # noqa: E402
from vicourse.batch import coordinator
from vicourse.course import copy_course, read_notebook, source_notebook  # noqa: E402
from vicourse.grading.hidden_checks import load_grader_module  # noqa: E402
from vicourse.reports import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    assignment = sys.argv[1] if len(sys.argv) > 1 else "01_entropy_kl"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    module = load_grader_module(ROOT / "grader_tests", assignment)
    variants = module.WRONG_ANSWERS[:: max(1, len(module.WRONG_ANSWERS) // count)][:count]

    started = time.perf_counter()
    lost = grade_variants(source_notebook(ROOT, assignment), ROOT / "grader_tests", [v.replace for v in variants])
    fast = {v.name: set(one) for v, one in zip(variants, lost)}
    fast_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        root = copy_course(ROOT, Path(tmp))
        release.generate_releases(root, [assignment])
        release_nb = read_notebook(root / "release" / assignment / f"{assignment}.ipynb")
        source_nb = read_notebook(source_notebook(root, assignment))
        for i, variant in enumerate(variants):
            nb = examples.filled(release_nb, source_nb, replace=variant.replace)
            folder = root / "submitted" / f"v{i:02d}" / assignment
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
        started = time.perf_counter()
        coordinator.grade_all(root, assignment, workers=1)
        stock_seconds = time.perf_counter() - started
        columns, scores, max_points, manual = report.question_scores(root, assignment)
        stock = {
            v.name: {g for g in columns if g not in manual and (scores[f"v{i:02d}"].get(g) or 0) < max_points[g]}
            for i, v in enumerate(variants)
        }

    n = len(variants)
    print(f"{assignment}: {n} known-wrong variants, one process each way")
    print(f"  sandboxed re-run  : {fast_seconds:6.1f} s ({fast_seconds / n:.2f} s per variant, setup included)")
    print(f"  stock autograde   : {stock_seconds:6.1f} s ({stock_seconds / n:.2f} s per variant)")
    print(f"  same cells lost by both routes: {fast == stock}")
    print(f"  speed-up: {stock_seconds / fast_seconds:.1f}x")


if __name__ == "__main__":
    main()
