"""Late flags: a submission's time against the assignment's deadline in nbgrader_config.py.

The time is nbgrader's own `timestamp.txt` beside the submission, written by
`nbgrader collect` (exchange, vicourse/lms/exchange.py) and by `nbgrader zip_collect` (the
upload's time in the LMS download, vicourse/lms/collect.py). Deadlines are set per assignment:

    c.Course.deadlines = {"01_entropy_kl": "2026-10-09 23:59:00 Europe/Berlin"}

A deadline without a time zone is read as UTC.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from nbgrader.utils import parse_utc


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from '2026-10-09 23:59:00', with an optional offset or zone name."""
    text = text.strip()
    head, _, zone = text.rpartition(" ")
    if head and "/" in zone:  # an IANA name such as Europe/Berlin
        local = datetime.fromisoformat(head).replace(tzinfo=ZoneInfo(zone))
        return local.astimezone(timezone.utc)
    return parse_utc(text).replace(tzinfo=timezone.utc)


def deadline(config, assignment: str) -> datetime | None:
    due = dict(config.Course.get("deadlines", {})).get(assignment)
    return parse_time(due) if due else None


def submitted_at(root: Path, assignment: str, student: str) -> datetime | None:
    path = root / "submitted" / student / assignment / "timestamp.txt"
    try:
        return parse_time(path.read_text()[:64])
    except (OSError, ValueError):
        return None


def late_by(when: datetime | None, due: datetime | None) -> str:
    """'' if on time or no deadline; else how late ('3 h 05 min'), or why it is not known."""
    if due is None:
        return ""
    if when is None:
        return "no submission time known"
    seconds = (when - due).total_seconds()
    if seconds <= 0:
        return ""
    days, rest = divmod(int(seconds), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    return (f"{days} d " if days else "") + f"{hours} h {minutes:02d} min"


def lateness(root: Path, assignment: str, student: str, config) -> str:
    """How late, by timestamp.txt and the deadline; else what the last collect found (Canvas's
    `_LATE` marks a submission late by a due date it knows, a student's extension included)."""
    return late_by(submitted_at(root, assignment, student), deadline(config, assignment)) or \
        collected_late(root, assignment).get(student, "")


def collected_late(root: Path, assignment: str) -> dict[str, str]:
    try:
        return dict(json.loads((root / "reports" / assignment / "collect.json").read_text()).get("late", {}))
    except (OSError, ValueError, TypeError):
        return {}
