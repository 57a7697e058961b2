"""`vicourse reset` (`make reset CONFIRM=yes`): start a course over without losing anything.

It removes the students' work and all that was made from it: submitted/, autograded/ (its
README stays), feedback/, reports/, the gradebook (manual grades and comments included) and
build/. First it packs all but build/ (rebuilt by the commands) into
backups/reset-<UTC time>.tar.gz and checks that the archive reads back. Untouched: downloaded/
(the LMS downloads as they came), cluster-certs/, backups/ and every tracked folder.

A SQLite gradebook goes into the archive as a consistent copy (SQLite's backup API, safe while
formgrader has it open). Any other gradebook (PostgreSQL) is copied row for row, in nbgrader's
own schema, into a SQLite gradebook.db in the archive, which nbgrader and formgrader open as
they are; the database itself is left as it is: reset never drops a database.
"""

from __future__ import annotations

import shutil
import sqlite3
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

WORK = ("submitted", "autograded", "feedback", "reports")  # archived, then removed
REBUILT = ("build",)  # removed
KEPT_IN_AUTOGRADED = ("README.md",)
BACKUPS = "backups"


def gradebook_file(url: str) -> Path | None:
    """The file of a SQLite gradebook URL, else None."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def work_to_archive(root: Path) -> list[Path]:
    """The folders of students' work that exist, and the entries of autograded/ other than its README."""
    found = []
    for name in WORK:
        folder = root / name
        if name == "autograded" and folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.name not in KEPT_IN_AUTOGRADED)
        elif folder.exists():
            found.append(folder)
    return found


def describe(root: Path, url: str) -> list[str]:
    """What reset would archive and remove, one line each."""
    lines = []
    for path in work_to_archive(root):
        count = sum(1 for _ in path.iterdir()) if path.is_dir() else 1
        lines.append(f"{path.relative_to(root)}{'/' if path.is_dir() else ''} ({count} entries)")
    database = gradebook_file(url)
    if database is None:
        lines.append(f"the gradebook at {hidden_password(url)}: copied into the archive, left in place")
    elif database.exists():
        lines.append(f"the gradebook {database} (scores, manual grades, comments)")
    return lines


def hidden_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def copy_gradebook(url: str, target: Path) -> None:
    """The gradebook at url as a SQLite gradebook at target: a backup of a SQLite file, else every
    row of nbgrader's tables copied into a gradebook nbgrader made (so it has nbgrader's schema
    and its migration version)."""
    database = gradebook_file(url)
    if database is not None:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return
    from nbgrader.api import Base
    from sqlalchemy import create_engine

    from ..course import open_gradebook

    with open_gradebook(Path("."), "sqlite:///" + str(target)):
        pass  # nbgrader creates the schema and stamps its version
    source, copy = create_engine(url), create_engine("sqlite:///" + str(target))
    try:
        with source.connect() as read, copy.begin() as write:
            for table in reversed(Base.metadata.sorted_tables):
                write.execute(table.delete())  # the course row a new gradebook starts with
            for table in Base.metadata.sorted_tables:  # parents before children
                rows = [dict(row._mapping) for row in read.execute(table.select())]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        source.dispose()
        copy.dispose()


def archive(root: Path, url: str, now: datetime | None = None) -> Path:
    """backups/reset-<UTC time>.tar.gz with the students' work and the gradebook; checked to read back."""
    now = now or datetime.now(timezone.utc)
    folder = root / BACKUPS
    folder.mkdir(exist_ok=True)
    stem = f"reset-{now:%Y%m%d-%H%M%S}"
    target, n = folder / f"{stem}.tar.gz", 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}.tar.gz"
    partial = target.with_name(target.name + ".partial")
    try:
        write_archive(root, url, now, partial)
    except BaseException:
        partial.unlink(missing_ok=True)  # nothing is removed, and no half archive is left
        raise
    partial.rename(target)
    return target


def write_archive(root: Path, url: str, now: datetime, partial: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="vicourse-reset-") as scratch:
        names = []
        with tarfile.open(partial, "w:gz") as tar:
            for path in work_to_archive(root):
                tar.add(path, arcname=str(path.relative_to(root)))  # links are stored as links, never followed
                names.append(str(path.relative_to(root)))
            database = gradebook_file(url)
            if database is None or database.exists():
                copy = Path(scratch) / "gradebook.db"
                copy_gradebook(url, copy)
                tar.add(copy, arcname="gradebook.db")
                names.append("gradebook.db")
            note = Path(scratch) / "RESET.txt"
            note.write_text(restore_note(root, url, now, names))
            tar.add(note, arcname="RESET.txt")
        with tarfile.open(partial, "r:gz") as tar:  # read it all back before anything is removed
            for member in tar:
                if member.isfile():
                    tar.extractfile(member).read()


def restore_note(root: Path, url: str, now: datetime, names: list[str]) -> str:
    where = ("gradebook.db is a copy of " + hidden_password(url) + " in nbgrader's schema; the database itself "
             "was left as it was") if gradebook_file(url) is None else "gradebook.db is the course's gradebook"
    return (f"`vicourse reset` of {root} at {now:%Y-%m-%d %H:%M:%S} UTC.\n"
            f"Archived: {', '.join(names) or 'nothing'}.\n{where}.\n"
            f"To restore, from the course folder: tar -xzf <this archive> (and point c.CourseDirectory.db_url at "
            f"gradebook.db if the course used another database).\n")


def remove(root: Path, url: str) -> list[str]:
    """Remove the students' work, build/ and a SQLite gradebook inside the course; what was removed."""
    removed = []
    for path in work_to_archive(root) + [root / name for name in REBUILT if (root / name).exists()]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(f"{path.relative_to(root)}{'/' if path.is_dir() else ''}")
    database = gradebook_file(url)
    if database is not None and database.resolve().is_relative_to(root.resolve()):
        for path in (database, *(database.with_name(database.name + s) for s in ("-journal", "-wal", "-shm"))):
            if path.exists():
                path.unlink()
                removed.append(str(path.resolve().relative_to(root.resolve())))
    return removed
