"""The nbgrader exchange, collected by the course's `SafeExchangeCollect` (vicourse/lms/exchange.py).

The first tests plant what a hostile student can leave in the inbound folder (links to the
instructor's files, a hard link, a named pipe, a device, a back-dated folder, an unreadable
name) and run stock `nbgrader collect` with the course's config. The last runs the whole
round trip with real Unix users on an exchange set up as docs/exchange.md says: two students
and an instructor, release -> fetch -> submit -> the symlink swap -> collect -> grade. It needs
root (useradd, runuser); elsewhere it is skipped with a message naming what is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import copy_course, nbgrader, read_notebook, source_notebook

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"
COURSE = "vi-course"


def course_with_exchange(tmp_path, extra=""):
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text()
                      + f"\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\n" + extra)
    root = copy_course(TOY, tmp_path / "course", config=config)
    inbound = tmp_path / "exchange" / COURSE / "inbound"
    inbound.mkdir(parents=True)
    return root, inbound


def submission(inbound: Path, student: str, stated: str, files: dict[str, str]) -> Path:
    """An inbound folder as `nbgrader submit` names it: student+assignment+time+random."""
    folder = inbound / f"{student}+{A}+{stated} UTC+{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "timestamp.txt").write_text(f"{stated} UTC")
    return folder


def journal(root):
    return json.loads((root / "reports" / A / "collect.json").read_text())


def collect(root):
    result = nbgrader(root, "collect", A, "--update", timeout=300, quiet=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_collect_never_follows_a_link_and_refuses_hard_links_pipes_and_devices(tmp_path):
    root, inbound = course_with_exchange(tmp_path, "c.ExchangeCollect.check_owner = False\n")
    source, grader = root / "source" / A / f"{A}.ipynb", root / "grader_tests" / f"test_{A}.py"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    bob = submission(inbound, "bob", now, {f"{A}.ipynb": "bob's work"})
    mallory = submission(inbound, "mallory", now, {"notes.txt": "mine"})
    (mallory / f"{A}.ipynb").symlink_to(source)  # the swap: the instructor's solution
    (mallory / "test.py").symlink_to(grader)
    (mallory / "linked").symlink_to(root / "source")  # a link to a whole folder
    (mallory / "draft.txt").write_text("a file with two names")
    os.link(mallory / "draft.txt", mallory / "hard.txt")
    os.mkfifo(mallory / "pipe.ipynb")  # would hang a plain copy
    (mallory / "stolen.py").write_bytes(grader.read_bytes())  # the bytes of a private file
    deep = mallory
    for _ in range(1200):  # deeper than a recursive walk survives (os.makedirs itself would not)
        deep = deep / "d"
        deep.mkdir()
    if os.geteuid() == 0:
        os.mknod(mallory / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero: endless
    (inbound / f"eve+{A}+{now} UTC+link").symlink_to(root / "source")  # a whole submission that is a link
    (inbound / f"eve+{A}+not a time+x").mkdir()  # crashed stock collect for every student
    try:
        collect(root)
    finally:  # shutil.rmtree, and so pytest's clean-up, would recurse too deep on it
        while deep != mallory:
            deep.rmdir()
            deep = deep.parent

    collected = root / "submitted" / "mallory" / A
    assert sorted(os.listdir(collected)) == ["d", "notes.txt", "stolen.py", "timestamp.txt"]
    assert not [p for p in (root / "submitted").rglob("*") if p.is_symlink() or not (p.is_dir() or p.is_file())]
    assert (root / "submitted" / "bob" / A / f"{A}.ipynb").read_text() == "bob's work"
    assert not (root / "submitted" / "eve").exists()
    log = journal(root)
    refused = {r["file"].split("/", 1)[-1] if "/" in r["file"] else r["file"]: r["reason"] for r in log["refused"]}
    assert refused[f"{A}.ipynb"] == refused["test.py"] == refused["linked"] == "a symbolic link: not collected"
    assert refused["hard.txt"] == refused["draft.txt"] == "a hard link (one of 2 names of one file): not collected"
    assert refused["pipe.ipynb"] == "a named pipe (FIFO): not collected"
    if os.geteuid() == 0:
        assert refused["zero"] == "a device: not collected"
    assert refused["/".join(["d"] * 33)] == "folders nested deeper than 32: not collected"
    assert refused[f"eve+{A}+{now} UTC+link"] == "a symbolic link, not a submission folder"
    assert "no time nbgrader can read" in refused[f"eve+{A}+not a time+x"]
    assert log["flagged"] == [{"student": "mallory", "file": f"{mallory.name}/stolen.py",
                               "reason": f"the same bytes as the course's private grader_tests/test_{A}.py"}]
    # the batch says so too, in the outcome the reports show
    release.generate_releases(root)
    outcomes = {o.student: o for o in coordinator.grade_all(root, A, workers=1, timeout=300, progress=False)}
    assert f"FLAGGED: stolen.py has the same bytes as the course's private grader_tests/test_{A}.py" in \
        outcomes["mallory"].notes


def test_a_back_dated_submission_is_timed_by_its_last_change(tmp_path):
    root, inbound = course_with_exchange(tmp_path, "c.ExchangeCollect.check_owner = False\n")
    early = "2026-01-01 00:00:00.000000"  # written by hand, long before the folder was made
    submission(inbound, "mallory", early, {f"{A}.ipynb": "late work"})
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    collect(root)
    stamp = (root / "submitted" / "mallory" / A / "timestamp.txt").read_text()
    assert datetime.fromisoformat(stamp) >= before.replace(microsecond=0)
    note = journal(root)["collected"]["mallory"]["note"]
    assert note.startswith("changed at") and "after the time its name gives (2026-01-01 00:00:00)" in note


def test_a_submission_in_a_classmates_name_is_refused(tmp_path):
    """With check_owner (the default) the folder must belong to the student it names: here every
    folder is this test's user's, so none is collected under another name."""
    root, inbound = course_with_exchange(tmp_path)
    me = __import__("pwd").getpwuid(os.geteuid()).pw_name
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    submission(inbound, me, now, {f"{A}.ipynb": "mine"})
    forged = submission(inbound, "bob", "2099-01-01 00:00:00.000000", {f"{A}.ipynb": "blank"})
    collect(root)
    assert sorted(os.listdir(root / "submitted")) == [me]
    assert {"file": forged.name, "reason": f"submitted in bob's name but owned by {me}: not collected"} \
        in journal(root)["refused"]


# ------------------------------------------------------------------ real users, a real exchange

def missing_for_real_users() -> str | None:
    """What this machine lacks for the round trip with real Unix users, or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "not root: creating Unix users (useradd) and acting as them (runuser) needs root"
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    return None


def closed_folder() -> tuple[Path, str] | None:
    """The first folder other users cannot enter on the way to this course's Python (CI keeps
    it under /root), with the name inside it that they need; None if every step is open."""
    needed = {Path(sys.executable).resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
              ROOT.resolve()}
    for path in sorted(needed):
        for depth in range(1, len(path.parts)):
            folder = Path(*path.parts[:depth])
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return folder, path.parts[depth]
    return None


class Machine:
    """Unix users and a group made for one test run (unique names, homes in a temporary folder),
    removed afterwards, and a way to run a command as one of them."""

    def __init__(self, base: Path):
        self.base, self.tag, self.users, self.groups = base, uuid.uuid4().hex[:6], [], []
        self.closed = closed_folder()
        self.stash = base / "stash"
        self.stash.mkdir(mode=0o700)

    def group(self, role: str) -> str:
        name = f"vc{role}{self.tag}"
        subprocess.run(["groupadd", name], check=True, capture_output=True)
        self.groups.append(name)
        return name

    def user(self, role: str, group: str | None = None) -> str:
        name = f"vc{role}{self.tag}"
        home = self.base / "home" / name
        home.parent.mkdir(exist_ok=True, mode=0o755)
        primary = ["-g", group] if group else ["-N"]
        subprocess.run(["useradd", *primary, "-m", "-d", str(home), "-s", "/bin/sh", name], check=True,
                       capture_output=True)
        self.users.append(name)
        return name

    def home(self, user: str) -> Path:
        return self.base / "home" / user

    def run(self, user: str, command: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        """`command` as `user` in `cwd`, with a clean environment. Where the course's Python lies
        under a folder only root may enter, a private mount namespace of this command alone lays
        an open folder over it that shows just the Python's own folder (nothing else changes)."""
        script = ""
        if self.closed:
            folder, inside = self.closed
            script = (f'mount --bind "{folder / inside}" "{self.stash}" && mount -t tmpfs -o mode=0755,size=1m '
                      f'vicourse "{folder}" && mkdir "{folder / inside}" && mount --bind "{self.stash}" '
                      f'"{folder / inside}" && ')
        script += 'cd "$1" && shift && exec runuser -u "$0" -- "$@"'
        env = ["env", "-i", f"HOME={self.home(user)}", f"USER={user}", f"LOGNAME={user}", "LANG=C.UTF-8",
               "PATH=/usr/local/bin:/usr/bin:/bin"]
        result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, user, str(cwd),
                                 *env, *command], capture_output=True, text=True, timeout=300)
        if check:
            assert result.returncode == 0, f"{command} as {user}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def nbgrader(self, user: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
        return self.run(user, [sys.executable, "-m", "nbgrader", *args], cwd)

    def remove(self) -> None:
        for name in self.users:
            subprocess.run(["userdel", name], capture_output=True)
        for name in self.groups:
            subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture
def machine():
    missing = missing_for_real_users()
    if missing:
        pytest.skip(f"the exchange round trip with real Unix users needs root and useradd: {missing}")
    base = Path(tempfile.mkdtemp(prefix="vicourse-exchange-"))  # under /tmp: every user can reach it
    base.chmod(0o755)
    made = Machine(base)
    try:
        yield made
    finally:
        made.remove()
        shutil.rmtree(base, ignore_errors=True)


def test_real_students_submit_one_swaps_in_a_link_and_collect_refuses_it(machine):
    """docs/exchange.md's set-up, with real users: Bob's submission is collected untouched and
    graded; Mallory swaps her submitted notebook for a link to the instructor's solution and
    adds one to the grader, plants a submission in Bob's name, and gets nothing of it."""
    staff = machine.group("grp")
    teacher, bob, mallory = machine.user("ins", staff), machine.user("bob"), machine.user("mal")
    exchange, course = machine.base / "exchange", machine.base / "course"
    exchange.mkdir(mode=0o755)
    exchange.chmod(0o1777)  # anyone may make a course folder in it; none may move another's away
    config = machine.base / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n")
    copy_course(TOY, course, config=config)
    release.generate_releases(course)
    shutil.chown(course, teacher, staff)
    for path in course.rglob("*"):
        shutil.chown(path, teacher, staff)
    course.chmod(0o2750)  # the course folder: the course staff only
    machine.nbgrader(teacher, course, "release_assignment", A)
    inbound = exchange / COURSE / "inbound"
    machine.run(teacher, ["chmod", "3733", str(inbound)], course)  # + sticky: no student renames another's
    assert stat.S_IMODE(inbound.stat().st_mode) == 0o3733 and inbound.stat().st_gid == __import__("grp").getgrnam(staff).gr_gid

    release_nb = read_notebook(course / "release" / A / f"{A}.ipynb")
    work = {bob: nbformat.writes(examples.filled(release_nb, read_notebook(source_notebook(course, A)))),
            mallory: nbformat.writes(release_nb)}
    destinations = {}
    for student, text in work.items():
        home = machine.home(student)
        (home / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(exchange)!r}\n"
                                                 f"c.CourseDirectory.course_id = {COURSE!r}\n")
        machine.nbgrader(student, home, "fetch_assignment", A)
        (home / A / f"{A}.ipynb").write_text(text)  # the student's answers
        shutil.chown(home / A / f"{A}.ipynb", student)
        submitted = machine.nbgrader(student, home, "submit", A)
        destinations[student] = Path(re.search(r"Destination: (.+)", submitted.stderr + submitted.stdout)[1].strip())

    # Mallory, after submitting: what the documented permissions stop
    for attempt in (["ls", str(inbound)], ["cat", str(course / "source" / A / f"{A}.ipynb")],
                    ["mv", str(exchange / COURSE), str(exchange / "taken")]):
        assert machine.run(mallory, attempt, machine.home(mallory), check=False).returncode != 0, attempt
    # ... and what collect must stop: the swap in her own inbound folder, and a folder in Bob's name
    mine = destinations[mallory]
    forged = inbound / f"{bob}+{A}+2099-01-01 00:00:00.000000 UTC+forged"
    machine.run(mallory, ["sh", "-c", f'rm "{mine}/{A}.ipynb" && ln -s "{course}/source/{A}/{A}.ipynb" "{mine}/{A}.ipynb"'
                         f' && ln -s "{course}/grader_tests/test_{A}.py" "{mine}/test_{A}.py"'
                         f' && mkdir "{forged}" && cp "{A}/{A}.ipynb" "{forged}/"'], machine.home(mallory))

    machine.nbgrader(teacher, course, "collect", A)
    assert (course / "submitted" / bob / A / f"{A}.ipynb").read_text() == work[bob]  # untouched
    assert sorted(os.listdir(course / "submitted" / mallory / A)) == ["submission_secret.txt", "timestamp.txt"]
    assert not [p for p in (course / "submitted").rglob("*") if p.is_symlink()]
    log = journal(course)
    refused = {r["file"]: r["reason"] for r in log["refused"]}
    assert refused[f"{mine.name}/{A}.ipynb"] == refused[f"{mine.name}/test_{A}.py"] == "a symbolic link: not collected"
    assert refused[forged.name] == f"submitted in {bob}'s name but owned by {mallory}: not collected"

    # make grade
    outcomes = {o.student: o for o in coordinator.grade_all(course, A, workers=1, timeout=300, progress=False)}
    assert outcomes[bob].status == "graded" and outcomes[bob].score == 3
    assert outcomes[mallory].status == "unreadable" and "no notebook" in outcomes[mallory].notes[0]
    grader_bytes = (course / "grader_tests" / f"test_{A}.py").read_bytes()
    for folder in ("submitted", "autograded"):
        assert not [p for p in (course / folder).rglob("*") if p.is_file() and p.read_bytes() == grader_bytes]
