"""`make demo` runs in a course of its own (build/demo/): the course it starts from (its
submissions, gradebook, reports and tracked files) is left byte for byte as it was; the solutions
it builds are the tracked ones, byte for byte; and a second run rebuilds and regrades nothing.

On the toy course, with its tracked solutions and two sample submissions, through the command
line in a process of its own, as `make demo` runs it."""

import shutil
import subprocess

from conftest import ROOT
from vicourse.authoring import examples, release, solutions
from vicourse.course import copy_course, run_module_command

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"


def files(root) -> dict:
    """Every file of the course outside build/, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != "build"}


def demo(root) -> str:
    done = subprocess.run([*run_module_command("vicourse"), "demo", "--workers", "1"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_demo_leaves_the_course_as_it_was_and_runs_again_incrementally(tmp_path):
    root = copy_course(TOY, tmp_path / "course", config=ROOT / "nbgrader_config.py")
    release.generate_releases(root)  # the tracked release, and a gradebook that knows it
    solutions.build_solutions(root)  # the tracked solutions
    for path in examples.write_examples(root, A):
        if path.stem not in ("full", "garbled"):
            path.unlink()
    (root / "submitted" / "ada" / A).mkdir(parents=True)  # the course's own student and report
    shutil.copy(root / "release" / A / f"{A}.ipynb", root / "submitted" / "ada" / A)
    (root / "reports" / A).mkdir(parents=True)
    (root / "reports" / A / "grades.csv").write_text("student\nada\n")
    before = files(root)

    first = demo(root)
    assert files(root) == before, "the demo changed the course it was made from"
    demo_course = root / "build" / "demo"
    for tracked in (root / "solutions" / A).iterdir():
        assert (demo_course / "solutions" / A / tracked.name).read_bytes() == tracked.read_bytes(), tracked.name
    assert "byte for byte the tracked solutions/" in first, first
    assert sorted(p.name for p in (demo_course / "submitted").iterdir()) == ["demo-full", "demo-garbled"]
    assert (demo_course / "feedback" / "demo-full" / A / f"{A}.html").exists()
    assert "what next:" in first and f"make report A={A} COURSE=build/demo" in first, first

    built = {p: p.stat().st_mtime_ns for p in (demo_course / "solutions").rglob("*") if p.is_file()}
    second = demo(root)
    assert f"release/{A}/ unchanged" in second and f"solutions/{A}/ unchanged" in second, second
    assert f"2 submissions of {A} (0 graded in this run, 2 unchanged)" in second, second
    assert {p: p.stat().st_mtime_ns for p in built} == built, "the second demo rebuilt the solutions"
    assert files(root) == before
