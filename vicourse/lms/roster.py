"""Students' names in the gradebook (nbgrader's Student first and last name), where formgrader,
`nbgrader export`, grades.csv and the reports find them.

Two sources: a roster CSV (`make roster FILE=roster.csv`: id, first name, last name), which is
the authority and overwrites; and the LMS download (`make collect`), whose names only fill
students the gradebook knows no name for. Canvas writes one lower-case word ("smithjane"),
kept whole as the last name; Gradescope's full name is split at its last space.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from ..course import check_config, open_gradebook
from ..reports.report import spreadsheet_safe
from .lms_entries import SAFE_ID

HEADER_IDS = {"id", "student", "student id", "student_id", "sid", "username"}


def read_roster(path: Path) -> dict[str, tuple[str, str]]:
    """{student id: (first name, last name)}; raises ValueError naming every bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    names, problems = {}, []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() in HEADER_IDS:
            continue
        if len(row) != 3:
            problems.append(f"line {number}: expected 3 columns (id, first name, last name), found {len(row)}")
            continue
        student, first, last = (cell.strip() for cell in row)
        if not SAFE_ID.fullmatch(student):
            problems.append(f"line {number}: {student!r} is not a plain student id (letters, digits, _.@+-)")
        elif student in names:
            problems.append(f"line {number}: student {student} is listed twice")
        else:
            names[student] = (first, last)
    if problems:
        raise ValueError(f"{path}: nothing written, fix these lines:\n  " + "\n  ".join(problems))
    return names


def split_name(full: str) -> tuple[str, str]:
    """(first, last) from an LMS's name: "Jane Q. Smith" -> ("Jane Q.", "Smith"); one word -> ("", word)."""
    first, _, last = full.strip().rpartition(" ")
    return first.strip(), last


def write_names(root: Path, names: dict[str, tuple[str, str]], overwrite: bool) -> list[str]:
    """Record names in the gradebook; without `overwrite`, only for students with no name yet.
    Returns the ids whose names were written."""
    course_id = check_config(root).CourseDirectory.get("course_id", "default_course")
    written = []
    with open_gradebook(root, course_id=course_id) as gradebook:
        known = {s.id: s for s in gradebook.students}
        for student, (first, last) in sorted(names.items()):
            old = known.get(student)
            if old is not None and not overwrite and (old.first_name or old.last_name):
                continue
            gradebook.update_or_create_student(student, first_name=clean_name(first), last_name=clean_name(last))
            written.append(student)
    return written


def clean_name(text: str) -> str:
    """A name as the gradebook may hold it: `nbgrader export` writes names into its CSV without
    quoting, so a comma, quote or line break would shift the columns (and start a new cell that a
    spreadsheet could read as a formula); and no name may start a formula itself."""
    return spreadsheet_safe(" ".join(re.sub(r'[\x00-\x1f\x7f,"]', " ", text).split()))


def names_from_collect(root: Path, assignment: str) -> dict[str, tuple[str, str]]:
    """Names the LMS download gave (reports/<A>/collect.json)."""
    path = root / "reports" / assignment / "collect.json"
    collected = json.loads(path.read_text()).get("collected", {}) if path.exists() else {}
    return {s: split_name(c["name"]) for s, c in collected.items() if c.get("name", "").strip()}
