"""`nbgrader collect` from the exchange, without following what a student planted in it.

nbgrader_config.py sets `c.ExchangeFactory.collect` to `SafeExchangeCollect`, a stock
`ExchangeCollect` (same options: --update, --before-duedate, --student) with three changes:

* Each submission folder in `inbound/` is copied by vicourse/lms/safe_copy.py: a symbolic link
  (say, to the instructor's source notebook or grader module), a hard link, a device, a pipe
  or a socket is refused with a note, as is a file or folder owned by anyone but the student.
  The inbound entry itself must be a folder owned by the student it names (`check_owner`;
  stock nbgrader only warns), so no student can submit in a classmate's name.
* Its time is the later of the time in its name and the last change the file system saw
  there (ctime, which no user can set back): a submission changed after `nbgrader submit`,
  or given an early time by hand, is judged by when it was really last changed.
* A file whose bytes equal one of the course's private files (source/, grader_tests/, not
  a released file) is flagged: a student cannot read those, so it came through a trick.

Everything goes to reports/<A>/collect.json, as `make collect` writes it, and to the log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc
from traitlets import Float

from .collect import Journal
from .lms_entries import SAFE_ID, as_utc
from .safe_copy import MAX_DEPTH, Refused, Rules, copy_tree, kind_of, user_name

MIN_BYTES = 16  # a shorter file (an empty __init__.py) says nothing about where it came from


def course_copies(root: Path, folder: Path) -> list[tuple[str, str]]:
    """(file in `folder`, course file) for each file whose bytes equal one of the course's private
    files: source/ and grader_tests/, except those also in release/ (students have them)."""
    private: dict[int, list[Path]] = {}
    for part in ("source", "grader_tests"):
        for path in sorted((root / part).rglob("*")):
            if path.is_file() and not path.is_symlink() and path.stat().st_size >= MIN_BYTES:
                private.setdefault(path.stat().st_size, []).append(path)
    public: set[str] | None = None
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size not in private:
            continue
        mine = sha256(path)
        for course_file in private[path.stat().st_size]:
            if sha256(course_file) == mine:
                if public is None:  # released files are the students' own: hashed only when needed
                    public = {sha256(p) for p in (root / "release").rglob("*") if p.is_file() and not p.is_symlink()}
                if mine not in public:
                    found.append((path.relative_to(folder).as_posix(), course_file.relative_to(root).as_posix()))
                break
    return found


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def latest_change(path: str) -> float:
    """The latest ctime in a folder, read without following any link (iteratively: a folder
    nested thousands deep must not exhaust the recursion limit)."""
    latest, pending = os.lstat(path).st_ctime, [(path, 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            latest = max(latest, info.st_ctime)
            if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                pending.append((entry.path, depth + 1))
    return latest


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


class SafeExchangeCollect(ExchangeCollect):
    """Stock exchange collect that refuses links, foreign owners and back-dated submissions."""

    change_grace = Float(60.0, help="Seconds a submission may change after the time in its name before "
                                    "collect notes it (nbgrader submit sets permissions just after).").tag(config=True)

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not os.access(self.inbound_path, os.R_OK | os.X_OK):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        self.journal = Journal(self)
        self.data = Journal.empty()
        wanted = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        groups: dict[str, list[dict]] = {}
        for name in sorted(os.listdir(self.inbound_path)):
            record = self.record(name)
            if record and (wanted is None or record["username"] == wanted):
                groups.setdefault(record["username"], []).append(record)
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                self.duedate = gradebook.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for records in groups.values():
            records.sort(key=lambda r: r["timestamp"], reverse=True)
            on_time = [r for r in records if self.duedate is not None and r["timestamp"] <= self.duedate]
            self.src_records.append(on_time[0] if self.before_duedate and on_time else records[0])
        self.journal.save(self.data)

    def record(self, name: str) -> dict | None:
        """An inbound entry of this assignment, checked; None (and a note) if it is refused."""
        parts = name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            return None  # another assignment's
        username = parts[0]
        path = os.path.join(self.inbound_path, name)
        try:
            stated, info = parse_utc(parts[2]), os.lstat(path)
        except (ValueError, OverflowError):
            return self.refuse(name, "its name gives no time nbgrader can read (student+assignment+time)")
        except OSError:
            return None  # gone since it was listed
        if not stat.S_ISDIR(info.st_mode):
            return self.refuse(name, f"{kind_of(info.st_mode)[1]}, not a submission folder")
        if not SAFE_ID.fullmatch(username):
            return self.refuse(name, f"the student name {username!r} is not a plain name")
        owner = user_name(info.st_uid)
        if self.check_owner and owner != username:
            return self.refuse(name, f"submitted in {username}'s name but owned by {owner}: not collected")
        changed = utc(latest_change(path))
        stated = stated.replace(tzinfo=None)
        return {"username": username, "filename": name, "stated": stated, "timestamp": max(stated, changed)}

    def refuse(self, name: str, reason: str) -> None:
        self.log.warning("Refused %s: %s", name, reason)
        self.data["refused"].append({"file": name, "reason": reason})

    def copy_files(self):
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect", self.coursedir.assignment_id,
                             self.coursedir.course_id)
        for record in self.src_records:
            student = record["username"]
            dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, self.coursedir.assignment_id)
            if os.path.isdir(dest):
                existing = self.coursedir.get_existing_timestamp(dest)
                newer = existing is None or record["timestamp"] > existing
                if not ((self.update and newer) or (self.before_duedate and existing != record["timestamp"])):
                    self.log.info("Submission already collected (--update collects a newer one): %s", student)
                    continue
            self.collect_one(record, dest)
        self.journal.save(self.data)

    def collect_one(self, record: dict, dest: str) -> None:
        student, name = record["username"], record["filename"]
        source = os.path.join(self.inbound_path, name)
        partial = f"{dest}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        size = self.coursedir.max_file_size
        rules = Rules(ignore=list(self.coursedir.ignore), include=list(self.coursedir.include),
                      max_file_bytes=1000 * size if size else None,
                      max_total_bytes=1000 * self.coursedir.max_dir_size)
        try:
            copied = copy_tree(source, partial, rules)
        except (Refused, OSError) as error:
            shutil.rmtree(partial, ignore_errors=True)
            return self.refuse(name, str(error))
        when = max(record["timestamp"], utc(copied.changed))
        with open(os.path.join(partial, "timestamp.txt"), "w") as handle:  # replaces the student's own
            handle.write(when.isoformat(" "))
        if self.coursedir.groupshared:
            group_shared(partial)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.rename(partial, dest)
        self.log.info("Collected %s %s (%s)", student, self.coursedir.assignment_id, name)
        for relative, _, why in copied.refused:
            self.refuse(f"{name}/{relative}", f"{why}: not collected")
        for relative, why in copied.skipped:
            self.data["unmatched"].append({"file": f"{name}/{relative}", "reason": why})
        notebooks = [f for f in copied.files if f.endswith(".ipynb")]
        entry = {"name": "", "submission": name, "marked_late": False,
                 "files": [{"file": f"{name}/{f}", "notebook": f, "time": as_utc(when.replace(tzinfo=timezone.utc))}
                           for f in notebooks]}
        if (when - record["stated"]).total_seconds() > self.change_grace:
            entry["note"] = (f"changed at {when:%Y-%m-%d %H:%M:%S} UTC, after the time its name gives "
                             f"({record['stated']:%Y-%m-%d %H:%M:%S}): the later time counts")
            self.log.warning("%s: %s", name, entry["note"])
        self.data["collected"][student] = entry
        root = Path(self.coursedir.root)
        for relative, course_file in course_copies(root, Path(dest)):
            reason = f"the same bytes as the course's private {course_file}"
            self.log.warning("FLAGGED %s %s: %s", student, relative, reason)
            self.data["flagged"].append({"student": student, "file": f"{name}/{relative}", "reason": reason})


def group_shared(folder: str) -> None:
    """What stock collect does for a group-shared course: folders g+rwxs, files g+rw."""
    for where, _, files in os.walk(folder):
        os.chmod(where, (os.stat(where).st_mode | 0o2770) & 0o2777)
        for name in files:
            path = os.path.join(where, name)
            os.chmod(path, (os.stat(path).st_mode | 0o660) & 0o777)
