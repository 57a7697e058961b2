"""A kernel of many busy processes cannot starve the classmate graded beside it.

Two submissions of 01 are graded side by side on two workers, every cell limited to 8 s: a
correct one with an extra half second of CPU work, and a blank one that starts 200 busy
processes, each in a session of its own, and keeps them busy for about 25 s. Each kernel's
processes share one control group capped at one core (vicourse/grading/cgroups.py), so the hog
has one core and the classmate the other: the correct submission is graded the first time, no
cell timed out, with full marks. Without the cap (c.Sandbox.cgroups = False: kernels at nice 19,
capped per process only) the hog's 200 processes and the classmate's one share both cores, and
the classmate's cell runs past its limit; the batch then grades it again alone, where it keeps
full marks (the second test, which also shows that the first one fails without its defence).
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

NAME = "01_entropy_kl"
ISOLATION = isolation()
if ISOLATION.hierarchy is None and not os.environ.get("CI"):
    pytest.skip(f"no control groups on this machine: {ISOLATION.summary}", allow_module_level=True)

HOG = """
import os, time
end = time.time() + 25
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
"""
VICTIM = """
import time
started = time.process_time()
total = 0
while time.process_time() - started < 0.5:  # half a second of CPU: under a second alone
    total += 1
"""


def graded_beside_a_hog(tmp_path, cgroups: bool):
    """The victim's outcome and the course, after a batch of the two."""
    root = copy_course(ROOT, tmp_path / "course", parts=("source", "grader_tests"))
    if not cgroups:
        (root / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text() + "c.Sandbox.cgroups = False\n")
    release.generate_releases(root, [NAME])
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    source_nb = read_notebook(source_notebook(root, NAME))
    hog = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    # the busy processes live as long as their kernel: keep it alive until they end, each cell within
    # its limit (forking 200 processes that share one core may itself take that long)
    hog.cells[1:1] = [new_code_cell(HOG)] + [new_code_cell("time.sleep(max(0, min(6, end - time.time())))")
                                             for _ in range(5)]
    victim = examples.filled(release_nb, source_nb)
    victim.cells.insert(2, new_code_cell(VICTIM))
    examples.submit(root, NAME, {"a-hog": hog, "b-victim": victim})  # the hog first: both start together
    outcomes = {o.student: o for o in coordinator.grade_all(root, NAME, workers=2, timeout=600,
                                                            extra=["--Execute.timeout=8"])}
    return root, outcomes["b-victim"]


def full_marks(root, student: str) -> bool:
    columns, scores, max_points, manual = report.question_scores(root, NAME)
    auto = [c for c in columns if c not in manual]
    return sum(scores[student][c] or 0 for c in auto) == sum(max_points[c] for c in auto)


def test_a_classmates_200_busy_processes_cost_no_time_out(tmp_path):
    root, victim = graded_beside_a_hog(tmp_path, cgroups=True)
    assert victim.status == "graded", victim
    assert not [n for n in victim.notes if "timed out" in n or n.startswith("graded again alone")], victim
    assert full_marks(root, "b-victim")


def test_without_control_groups_the_slowed_submission_is_graded_again_alone(tmp_path):
    """Without control groups the same hog slows the same submission's half second of work past its
    cell's limit. It is not left with a timed-out cell: the batch grades it again alone, where it
    keeps full marks, and says why."""
    root, victim = graded_beside_a_hog(tmp_path, cgroups=False)
    assert any(note.startswith("graded again alone, after:") for note in victim.notes), victim
    again = [n for n in victim.notes if n.endswith("timed out") and not n.startswith("graded again alone")]
    assert victim.status == "graded" and again == [], victim
    assert full_marks(root, "b-victim")
