"""A kernel of many busy processes cannot starve the classmate graded beside it.

Two submissions of 06 (the heaviest notebook, training included) are graded side by side on
two workers: a correct one, and a blank one whose first cell starts 200 busy processes, each in
a session of its own, and keeps them busy for 110 s. Each kernel's processes share one control
group capped at one core (vicourse/grading/cgroups.py), so the hog has one core and the classmate the
other: the correct submission keeps full marks and its status the first time, with no cell timed
out. Without the cap (c.Sandbox.cgroups = False) the hog's 200 processes and the classmate's one
share both cores, and the classmate's training runs out of time (it is then graded again alone:
the next test).
"""

from __future__ import annotations

import os

import pytest
from nbformat.v4 import new_code_cell

from conftest import ROOT
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import copy_course, read_notebook, source_notebook
from vicourse.grading.sandbox_isolation import isolation
from vicourse.reports import report

NAME = "06_vqvae"
ISOLATION = isolation()
if ISOLATION.hierarchy is None and not os.environ.get("CI"):
    pytest.skip(f"no control groups on this machine: {ISOLATION.summary}", allow_module_level=True)

HOG = """
import os, time
end = time.time() + 110
busy = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.setsid()
        while time.time() < end:
            pass
        os._exit(0)
    busy += 1
print(busy, "busy processes")
time.sleep(max(0.0, end - time.time()))
"""


def test_a_correct_06_beside_a_200_process_hog_keeps_full_marks(tmp_path):
    root = copy_course(ROOT, tmp_path / "course", parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME])
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    source_nb = read_notebook(source_notebook(root, NAME))
    hog = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    hog.cells.insert(1, new_code_cell(HOG))
    # the hog first, so that both start together on the two workers
    examples.submit(root, NAME, {"a-hog": hog, "b-correct": examples.filled(release_nb, source_nb)})
    outcomes = {o.student: o for o in coordinator.grade_all(root, NAME, workers=2, timeout=900)}
    correct = outcomes["b-correct"]
    assert correct.status == "graded" and not [n for n in correct.notes if "timed out" in n], correct  # nor graded again
    columns, scores, max_points, manual = report.question_scores(root, NAME)
    auto = [c for c in columns if c not in manual]
    assert sum(scores["b-correct"][c] or 0 for c in auto) == sum(max_points[c] for c in auto)
    assert sum(scores["a-hog"][c] or 0 for c in auto) == 0


VICTIM = """
import time
started = time.process_time()
total = 0
while time.process_time() - started < 0.5:  # half a second of CPU: under a second alone
    total += 1
"""
SHORT_HOG = HOG.replace("time.time() + 110", "time.time() + 40").replace(
    "time.sleep(max(0.0, end - time.time()))", "")


def test_a_submission_slowed_by_a_classmate_is_graded_again_alone(tmp_path):
    """Without control groups (c.Sandbox.cgroups = False: kernels at nice 19, capped per process only),
    a classmate's 200 busy processes slow a 01 submission's half second of work past its cell's
    limit. It is not left with a timed-out cell: the batch grades it again alone, where it keeps
    full marks, and says why."""
    root = copy_course(ROOT, tmp_path / "course", parts=("source", "grader_tests"))
    (root / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text() + "c.Sandbox.cgroups = False\n")
    release.generate_releases(root, ["01_entropy_kl"])
    release_nb = read_notebook(root / "release" / "01_entropy_kl" / "01_entropy_kl.ipynb")
    source_nb = read_notebook(source_notebook(root, "01_entropy_kl"))
    hog = read_notebook(root / "release" / "01_entropy_kl" / "01_entropy_kl.ipynb")
    # the busy processes live as long as their kernel: keep it busy for 30 s, each cell within its limit
    hog.cells[1:1] = [new_code_cell(SHORT_HOG)] + [new_code_cell("import time\ntime.sleep(6)") for _ in range(5)]
    victim = examples.filled(release_nb, source_nb)
    victim.cells.insert(2, new_code_cell(VICTIM))
    examples.submit(root, "01_entropy_kl", {"a-hog": hog, "b-victim": victim})
    outcomes = {o.student: o for o in coordinator.grade_all(root, "01_entropy_kl", workers=2, timeout=600,
                                                      extra=["--Execute.timeout=8"])}
    victim_outcome = outcomes["b-victim"]
    assert any(note.startswith("graded again alone, after:") for note in victim_outcome.notes), victim_outcome
    again = [n for n in victim_outcome.notes if n.endswith("timed out") and not n.startswith("graded again alone")]
    assert victim_outcome.status == "graded" and again == [], victim_outcome
    columns, scores, max_points, manual = report.question_scores(root, "01_entropy_kl")
    auto = [c for c in columns if c not in manual]
    assert sum(scores["b-victim"][c] or 0 for c in auto) == sum(max_points[c] for c in auto)
