"""`make demo`: the whole pipeline on the sample submissions, in a course of its own, build/demo/.

build/demo/ gets copies of this course's nbgrader_config.py (whose paths follow its file, so the
copy grades itself), source/ and grader_tests/, and makes its own releases, solutions, gradebook,
submitted/ (examples/A/K.ipynb as the submission of student demo-K), autograded/, reports/ and
feedback/. Nothing of this course changes: its submitted/, gradebook and reports/ stay as they
were, `git status` stays clean, and `make clean` removes the demo with build/.

A second run is incremental: a release or a solution is rebuilt only when what it is made from
changed (recorded in build/demo/.built/), and grading takes only new or changed submissions.
The solutions it builds must be the tracked solutions/, byte for byte; a difference is reported.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import time
from pathlib import Path

from .command_line import FAILED, OK, shown

DEMO = Path("build") / "demo"
BUILT = ".built"
LIBRARY = Path(__file__).resolve().parents[1]  # the vicourse package
SKIPPED = ("__pycache__", ".ipynb_checkpoints")


def mirror(source: Path, target: Path) -> None:
    """target/ holds exactly source/'s files; only those whose bytes differ are written."""
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file() and not set(p.parts) & set(SKIPPED)}
    if target.exists():
        for path in sorted(target.rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(target) not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for relative in sorted(wanted):
        copy_if_changed(source / relative, target / relative)


def copy_if_changed(source: Path, target: Path) -> None:
    if not (target.is_file() and filecmp.cmp(source, target, shallow=False)):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def fingerprint(*paths: Path) -> str:
    """A hash of the files at these paths (folders: every file, by relative name and bytes)."""
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not set(p.parts) & set(SKIPPED)) \
            if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


class Built:
    """build/demo/.built/<step>-<A>: the fingerprint of what a step's output was made from."""

    def __init__(self, demo: Path):
        self.folder = demo / BUILT

    def current(self, step: str, name: str, digest: str, outputs: list[Path]) -> bool:
        stamp = self.folder / f"{step}-{name}"
        return all(p.exists() for p in outputs) and stamp.is_file() and stamp.read_text() == digest

    def record(self, step: str, name: str, digest: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{step}-{name}").write_text(digest)


def make_demo_course(root: Path) -> Path:
    demo = root / DEMO
    demo.mkdir(parents=True, exist_ok=True)
    copy_if_changed(root / "nbgrader_config.py", demo / "nbgrader_config.py")
    for part in ("source", "grader_tests"):
        mirror(root / part, demo / part)
    return demo


def in_gradebook(demo: Path, name: str) -> bool:
    from nbgrader.api import MissingEntry

    from ..course import open_gradebook

    try:
        with open_gradebook(demo) as gradebook:
            gradebook.find_assignment(name)
        return True
    except MissingEntry:
        return False


def releases(demo: Path, names: list[str], built: Built) -> None:
    from ..authoring import release

    for name in names:
        digest = fingerprint(demo / "source" / name, demo / "nbgrader_config.py", LIBRARY / "shipped")
        if built.current("release", name, digest, [demo / "release" / name / f"{name}.ipynb"]) \
                and in_gradebook(demo, name):
            print(f"release/{name}/ unchanged")
            continue
        release.generate_releases(demo, [name])
        built.record("release", name, digest)


def solutions(root: Path, demo: Path, names: list[str], built: Built) -> list[str]:
    """Build the solutions that are out of date; the files that differ from the tracked solutions/."""
    from ..authoring import solutions as building

    digests = {name: fingerprint(demo / "source" / name, LIBRARY / "shipped", LIBRARY / "authoring" / "solutions.py",
                                 LIBRARY / "reports" / "html_safety.py") for name in names}
    outputs = {name: [demo / "solutions" / name / f"{name}{ext}" for ext in (".ipynb", ".html")] for name in names}
    stale = [name for name in names if not built.current("solution", name, digests[name], outputs[name])]
    for name in sorted(set(names) - set(stale)):
        print(f"solutions/{name}/ unchanged")
    if stale:
        building.build_solutions(demo, stale)
        for name in stale:
            built.record("solution", name, digests[name])
    differ = []
    for name in names:
        for tracked in sorted((root / "solutions" / name).glob("*")):
            built_file = demo / "solutions" / name / tracked.name
            if not (built_file.is_file() and filecmp.cmp(tracked, built_file, shallow=False)):
                differ.append(shown(tracked))
    return differ


def submissions(root: Path, demo: Path, name: str) -> list[str]:
    """examples/<A>/<K>.ipynb as submitted/demo-<K>/<A>/<A>.ipynb; the demo students."""
    students = []
    for example in sorted((root / "examples" / name).glob("*.ipynb")):
        students.append(f"demo-{example.stem}")
        copy_if_changed(example, demo / "submitted" / students[-1] / name / f"{name}.ipynb")
    for folder in (demo / "submitted").glob(f"demo-*/{name}"):
        if folder.parent.name not in students:  # an example that was removed
            shutil.rmtree(folder)
    return students


def run_demo(root: Path, workers: int) -> int:
    """Everything the demo does, in build/demo/; the exit code."""
    from ..course import assignments
    from .commands_feedback import export, feedback
    from .commands_grading import grade_run, what_next

    started = time.perf_counter()
    demo = make_demo_course(root)
    built = Built(demo)
    names = assignments(demo)
    print(f"== the demo course: {shown(demo)}/ (its own gradebook, submissions and reports) ==")
    print("== releases ==")
    releases(demo, names, built)
    print("== solutions ==")
    differ = solutions(root, demo, names, built)
    if differ:
        print(f"  SOLUTIONS DIFFER from the tracked ones: {', '.join(differ)}. solutions/ is stale (make "
              "solutions, then commit) or the build is not reproducible on this machine")
    else:
        print(f"  {shown(demo / 'solutions')}/ is byte for byte the tracked solutions/")
    failed = bool(differ)
    graded = [name for name in names if (root / "examples" / name).is_dir()]
    for name in graded:
        students = submissions(root, demo, name)
        print(f"== autograde {name} (sample submissions from examples/{name}; a broken, a garbled or a "
              "cheating one is graded as such) ==")
        print(grade_run(demo, name, workers, timeout=600, cell_timeout=15, only=students).summary)
        run = feedback(demo, name)
        print(run.summary(demo))
        failed |= run.failed
    failed |= not export(demo)
    course = f" COURSE={os.path.relpath(demo, root)}"
    print(f"== done in {time.perf_counter() - started:.0f} s: {shown(demo)}/reports/, {shown(demo)}/feedback/; "
          f"this course's submitted/, gradebook and reports/ were not touched ==")
    if graded:
        print(what_next(demo, graded[0], course))
    return FAILED if failed else OK
