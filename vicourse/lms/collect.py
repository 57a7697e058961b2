"""Collecting an LMS download (Canvas or Gradescope zip) with stock `nbgrader zip_collect`.

nbgrader_config.py plugs two classes into `nbgrader zip_collect`:

* `SafeExtractor` (vicourse/lms/lms_extract.py) unpacks `downloaded/<A>/archive/` safely and
  records, for each file, the upload (*entry*) it came from and the entry's time in the download.
* `LmsCollector` decides, once for the whole download, who handed in each file and when, from
  the entry alone (vicourse/lms/lms_entries.py): the student from the entry's name (Canvas) or the
  metadata beside it (Gradescope), the time from the entry, lateness from the deadline or
  Canvas's `_LATE`. A file inside a student's upload named like another student's upload is
  refused. Of several files for one notebook of one student the newest upload is kept, and
  nbgrader only ever sees that one, with its time, from which it writes `timestamp.txt`.

reports/<A>/collect.json says what was done: files collected (with the student's name as the
LMS gave it), files read (Gradescope's metadata), files not collected and why, refused
members, duplicates (the one kept and the ones skipped), misnamed notebooks, students with
several notebooks, and late submissions. Nothing is dropped without a line there.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import List, Unicode

from .deadlines import deadline, late_by
from .lms_entries import (CANVAS, GRADESCOPE, METADATA, SAFE_ID, as_utc, gradescope_submitter, identities,
                          match_entry, notebook_name, rename_hint, speaks_for, suffix)
from .lms_extract import ENTRIES, SafeExtractor  # noqa: F401 - nbgrader_config.py names it here

MARKED_LATE = "marked late by the LMS"


class Journal:
    """reports/<A>/collect.json, rewritten after each step (zip_collect has no final hook)."""

    def __init__(self, app):
        self.root = Path(app.coursedir.root)
        self.assignment = app.coursedir.assignment_id
        self.config = app.config
        self.path = self.root / "reports" / self.assignment / "collect.json"

    def load(self) -> dict:
        try:
            return {**self.empty(), **json.loads(self.path.read_text())}
        except (OSError, ValueError):
            return self.empty()

    @staticmethod
    def empty() -> dict:
        return {"refused": [], "unmatched": [], "read": [], "flagged": [], "collected": {}, "duplicates": []}

    def save(self, data: dict) -> None:
        data.update(derived(data, self.assignment, deadline(self.config, self.assignment)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_suffix(".json.tmp")
        fresh.write_text(json.dumps(data, indent=1))
        fresh.replace(self.path)

    def add(self, key: str, entry: dict) -> None:
        data = self.load()
        data[key].append(entry)
        self.save(data)


def derived(data: dict, assignment: str, due: datetime | None) -> dict:
    """Misnamed notebooks, several notebooks and late flags, from the files each student handed in."""
    several, misnamed, late = [], [], {}
    for student, info in sorted(data["collected"].items()):
        notebooks = sorted({f["notebook"] for f in info["files"]})
        misnamed += [{"student": student, "notebook": n} for n in notebooks if n != f"{assignment}.ipynb"]
        if len(notebooks) > 1:
            several.append({"student": student, "notebooks": notebooks})
        when = max((datetime.fromisoformat(f["time"]) for f in info["files"] if f.get("time")), default=None)
        flag = late_by(when, due) if when or due else ""
        if flag or info.get("marked_late"):
            late[student] = flag or MARKED_LATE
    return {"misnamed": misnamed, "several_notebooks": several, "late": late}


@dataclass
class Candidate:
    """A file that can be collected: whose, as which notebook, from which upload, when."""

    file: str
    student: str
    notebook: str
    time: datetime
    entry: str
    name: str = ""
    late: bool = False
    note: str = ""
    rank: tuple = field(default=())  # newest upload first; then exact name, Canvas's attempt, ids


class LmsCollector(FileNameCollectorPlugin):
    """Maps each unpacked file to (student, notebook, time) from the upload it came from."""

    patterns = List(Unicode(), default_value=[CANVAS, GRADESCOPE], help=(
        "Regular expressions, each matched against the whole name of an upload as the LMS wrote it "
        "(a top-level file or a student's zip of a Canvas download; a submission folder of a Gradescope "
        "export), never against names inside it. Named groups: student_id (or submission_id, looked up "
        "in submission_metadata.yml), file_id, and optionally name, late, attempt.")).tag(config=True)

    def collect(self, submitted_file: str):
        if not hasattr(self, "decided"):
            self.decided = self.plan()
        relative = Path(submitted_file).relative_to(self.extracted).as_posix()
        return self.decided.get(relative)  # None: not collected, and collect.json says why

    def plan(self) -> dict:
        app = self.parent
        self.assignment = app.coursedir.assignment_id
        self.extracted = Path(app._format_collect_path(app.extracted_directory))
        journal = Journal(app)
        data = journal.load()
        try:
            records = {r["file"]: r for r in json.loads((self.extracted.parent / ENTRIES).read_text())}
        except (OSError, ValueError, KeyError, TypeError):
            records = None
        released_dir = Path(app.coursedir.format_path(app.coursedir.release_directory, ".", self.assignment))
        released = sorted(p.stem for p in released_dir.glob("*.ipynb"))
        self.metadata: dict[str, object] = {}
        candidates: dict[tuple, list[Candidate]] = {}
        for where, _, files in os.walk(self.extracted):
            for name in files:
                relative = Path(where, name).relative_to(self.extracted).as_posix()
                record = (records or {}).get(relative)
                if record is None:
                    reason = ("not unpacked by this collect" if records is not None else
                              "unpacked without vicourse's SafeExtractor: who handed it in, and when, is unknown")
                    data["refused"].append({"file": relative, "reason": reason})
                elif record["role"] == "metadata":
                    data["read"].append({"file": relative, "as": "Gradescope's list of submitters and times"})
                else:
                    verdict = self.judge(record, released)
                    if isinstance(verdict, Candidate):
                        candidates.setdefault((verdict.student, verdict.notebook), []).append(verdict)
                    else:
                        data[verdict[0]].append({"file": relative, "reason": verdict[1]})
        return self.choose(candidates, data, journal)

    def judge(self, record: dict, released: list[str]):
        """A Candidate, or ("unmatched" | "refused", why)."""
        entry, inside = record["entry"], record["inside"]
        info = match_entry(entry, self.patterns)
        if info is None:
            return "unmatched", f"matches no file-name pattern: {rename_hint(self.assignment)}"
        when, name = datetime.fromisoformat(record["time"]), info.get("name", "")
        if info.get("submission_id") and not info.get("student_id") and record.get("metadata"):
            submitter = gradescope_submitter(self.read_metadata(record["metadata"]), info["submission_id"])
            if submitter is None:
                return "refused", f"{entry} is not listed in the export's {METADATA}"
            info["student_id"], name, when = submitter["student_id"], submitter["name"], submitter["time"] or when
        student = info.get("student_id") or f"submission_{info.get('submission_id')}"
        if not SAFE_ID.fullmatch(student):
            return "refused", f"the student id {student!r} in {entry} is not a plain name (letters, digits, _.@+-)"
        own = identities({**info, "student_id": student})
        parts = PurePosixPath(inside).parts if inside else ()
        for part in parts:
            if PurePosixPath(part).stem in released:
                continue  # the assignment's own name speaks for nobody, however loose the patterns
            other = classmates(speaks_for(part, self.patterns), own)
            if other:
                return "refused", (f"inside {entry} (student {student}), named like the upload of {other}: "
                                   "a file inside a student's own upload cannot speak for a classmate")
        if parts and parts[-1] == METADATA:
            return "refused", f"a {METADATA} inside {entry}: only the one the export holds beside the uploads is read"
        if any(part == "__MACOSX" or part.startswith("._") or any(fnmatch(part, g) for g in self.ignored())
               for part in parts):
            return "unmatched", "editor or system files (__MACOSX, ._*, CourseDirectory.ignore), not a notebook"
        filename = parts[-1] if parts else entry
        inner = match_entry(filename, self.patterns) if parts else info
        stem = (inner or {}).get("file_id") or PurePosixPath(filename).stem
        if suffix(filename) not in self.valid_ext:
            return "unmatched", "not a notebook"
        notebook, note = notebook_name(stem, suffix(filename), released)
        if notebook is None:
            return "unmatched", f"no plain notebook name can be read from {filename!r}: rename it {self.assignment}.ipynb"
        exact = PurePosixPath(filename).stem in released
        rank = (when, exact, int(info.get("attempt") or 0), int(info.get("submission_id") or 0), record["file"])
        return Candidate(record["file"], student, notebook, when, entry, name, bool(info.get("late")), note, rank)

    def ignored(self) -> list[str]:
        return list(self.parent.coursedir.ignore)  # .ipynb_checkpoints, __pycache__, ...

    def read_metadata(self, relative: str):
        if relative not in self.metadata:
            import yaml

            try:
                self.metadata[relative] = yaml.safe_load((self.extracted / relative).read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                self.metadata[relative] = None
        return self.metadata[relative]

    def choose(self, candidates: dict, data: dict, journal: Journal) -> dict:
        """Keep the newest upload of each notebook of each student; journal everything."""
        decided = {}
        for (student, notebook), found in sorted(candidates.items()):
            found.sort(key=lambda c: c.rank, reverse=True)
            kept, skipped = found[0], found[1:]
            decided[kept.file] = {"student_id": student, "file_id": PurePosixPath(notebook).stem,
                                  "timestamp": as_utc(kept.time)}
            person = data["collected"].setdefault(student, {"name": "", "files": [], "marked_late": False})
            person["name"] = person["name"] or kept.name or next((c.name for c in skipped if c.name), "")
            person["marked_late"] |= kept.late
            person["files"].append({"file": kept.file, "notebook": notebook, "time": as_utc(kept.time),
                                    "upload": kept.entry, **({"note": kept.note} if kept.note else {})})
            if skipped:
                same_time = [c.file for c in skipped if c.time == kept.time and digest(self.extracted / c.file)
                             != digest(self.extracted / kept.file)]
                data["duplicates"].append({"student": student, "notebook": notebook, "kept": kept.file,
                                           "skipped": [c.file for c in skipped],
                                           **({"same_time": same_time} if same_time else {})})
        journal.save(data)
        return decided


def classmates(named: set, own: set) -> str:
    """Whom `named` identifies besides the uploader: students by id, else submission folders."""
    students = {v for k, v in named if k == "student_id"}
    others = students - {v for k, v in own if k == "student_id"}
    if not students:
        others = {v for k, v in named if k == "submission_id"} - {v for k, v in own if k == "submission_id"}
        return ", ".join(f"submission_{v}" for v in sorted(others))
    return ", ".join(f"student {v}" for v in sorted(others))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summary(root: Path, assignment: str) -> str:
    """The collect report, in words."""
    data = {**Journal.empty(), **json.loads((root / "reports" / assignment / "collect.json").read_text())}
    lines = [f"collected {len(data['collected'])} students' submissions of {assignment}"]
    lines += [f"  read {r['file']} ({r['as']})" for r in data["read"]]
    lines += [f"  NOT COLLECTED {u['file']}: {u['reason']}" for u in data["unmatched"]]
    lines += [f"  REFUSED {r['file']}: {r['reason']}" for r in data["refused"]]
    lines += [f"  FLAGGED {f['student']} {f['file']}: {f['reason']}" for f in data["flagged"]]
    for d in data["duplicates"]:
        lines.append(f"  duplicate {d['student']} {d['notebook']}: kept {d['kept']}, skipped {', '.join(d['skipped'])}")
        if d.get("same_time"):
            lines.append(f"    SAME UPLOAD TIME, DIFFERENT FILES: {', '.join(d['same_time'])}; check which one counts")
    for student, info in sorted(data["collected"].items()):
        lines += [f"  {student} {f['file']}: {f['note']}" for f in info["files"] if f.get("note")]
    lines += [f"  misnamed {m['student']}: {m['notebook']} (graded as {assignment}.ipynb when it is the only one)"
              for m in data["misnamed"]]
    lines += [f"  several notebooks from {s['student']}: {', '.join(s['notebooks'])}" for s in data["several_notebooks"]]
    lines += [f"  LATE {student}: {by}" for student, by in sorted(data["late"].items())]
    return "\n".join(lines + [f"  (reports/{assignment}/collect.json)"])
