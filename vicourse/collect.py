"""Collecting an LMS download (Canvas or Gradescope zip) with stock `nbgrader zip_collect`.

nbgrader_config.py plugs two classes into `nbgrader zip_collect`:

* `SafeExtractor` unpacks the archives in `downloaded/<A>/archive/`, refusing
  what could escape or hang: members whose path leaves the folder (`../`, absolute
  paths), symbolic links, and archives that expand beyond a size or member budget
  (zip bombs, nested ones included). A student's own zip inside the download is
  unpacked once more, into a folder named after it. Each file keeps the archive's
  timestamp, which is the submission time.
* `LmsCollector` maps each extracted file to a student and a notebook with the
  course's file-name patterns, and gives nbgrader the file's time, so that of
  duplicate submissions the newest is kept (nbgrader's own rule) and nbgrader
  writes `timestamp.txt`, from which late submissions are flagged (deadlines.py).

Both write what they did to reports/<A>/collect.json after every step: files
that match no pattern, refused archive members, duplicates (the one kept and the
ones skipped), students with several notebooks, and late submissions. Nothing is
dropped without a line there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Int, List, Unicode

from .deadlines import deadline, late_by

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")
CHUNK = 1 << 20


class Journal:
    """reports/<A>/collect.json, rewritten after each step (zip_collect has no final hook)."""

    def __init__(self, app):
        self.root = Path(app.coursedir.root)
        self.assignment = app.coursedir.assignment_id
        self.config = app.config
        self.path = self.root / "reports" / self.assignment / "collect.json"

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return self.empty()

    @staticmethod
    def empty() -> dict:
        return {"refused": [], "unmatched": [], "collected": {}}

    def save(self, data: dict) -> None:
        data.update(derived(data, self.assignment, deadline(self.config, self.assignment)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1))

    def add(self, key: str, entry: dict) -> None:
        data = self.load()
        data[key].append(entry)
        self.save(data)


def derived(data: dict, assignment: str, due: datetime | None) -> dict:
    """Duplicates, misnamed notebooks, several notebooks and late flags, from the files each
    student handed in."""
    duplicates, several, misnamed, late = [], [], [], {}
    for student, info in sorted(data["collected"].items()):
        by_notebook: dict[str, list] = {}
        for f in info["files"]:
            by_notebook.setdefault(f["notebook"], []).append(f)
        for notebook, files in sorted(by_notebook.items()):
            if len(files) > 1:
                newest = max(files, key=lambda f: f["time"])  # nbgrader keeps the newest
                duplicates.append({"student": student, "notebook": notebook, "kept": newest["file"],
                                   "skipped": [f["file"] for f in files if f is not newest]})
        misnamed += [{"student": student, "notebook": n} for n in sorted(by_notebook) if n != f"{assignment}.ipynb"]
        if len(by_notebook) > 1:
            several.append({"student": student, "notebooks": sorted(by_notebook)})
        when = max(datetime.fromisoformat(f["time"]) for f in info["files"])
        if late_by(when, due):
            late[student] = late_by(when, due)
    return {"duplicates": duplicates, "misnamed": misnamed, "several_notebooks": several, "late": late}


class SafeExtractor(ExtractorPlugin):
    """Unpacks zip archives without letting a member escape the folder or fill the disk."""

    max_total_mb = Int(2048, help="Largest total size the archives may expand to.").tag(config=True)
    max_members = Int(20000, help="Most files all archives together may hold.").tag(config=True)
    max_depth = Int(2, help="Archives inside archives are unpacked this deep (a student's own zip).").tag(config=True)
    archive_timezone = Unicode("UTC", help="Time zone of the times stored in the archives.").tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        self.journal = Journal(self.parent)
        self.journal.save(Journal.empty())
        self.budget = {"bytes": self.max_total_mb << 20, "members": self.max_members}
        source, target = Path(archive_path), Path(extracted_path)
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_symlink():  # a link in the download folder would copy whatever it points at
                self.refuse(str(relative), "symbolic link")
            elif path.is_file() and path.suffix.lower() == ".zip":
                self.unzip(path, target / relative.parent / path.stem, str(relative), 1)
            elif path.is_file():
                (target / relative.parent).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)

    def refuse(self, name: str, reason: str) -> None:
        self.log.warning("Refused %s: %s", name, reason)
        self.journal.add("refused", {"file": name, "reason": reason})

    def unzip(self, archive: Path, folder: Path, label: str, depth: int) -> None:
        try:
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.infolist() if not m.is_dir()]
                if len(members) > self.budget["members"]:
                    return self.refuse(label, f"holds {len(members)} files, more than the {self.max_members} allowed")
                self.budget["members"] -= len(members)
                for member in members:
                    if not self.extract_member(zipped, member, folder, f"{label}/{member.filename}", depth):
                        return  # the budget is spent: stop this archive, report it, go on with the next
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
            self.refuse(label, f"not a readable zip archive ({error})")

    def extract_member(self, zipped, member, folder: Path, label: str, depth: int) -> bool:
        parts = PurePosixPath(member.filename.replace("\\", "/")).parts
        if not parts or member.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            self.refuse(label, "its path leaves the archive's folder")
            return True
        if stat.S_ISLNK(member.external_attr >> 16):
            self.refuse(label, "symbolic link")
            return True
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        # the sizes in an archive's directory can lie: count what really comes out
        with zipped.open(member) as source, open(target, "wb") as sink:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > self.budget["bytes"]:
                    break
                sink.write(chunk)
        if written > self.budget["bytes"]:
            target.unlink()
            self.refuse(label, f"the archives expand beyond {self.max_total_mb} MB: unpacking stopped")
            return False
        self.budget["bytes"] -= written
        when = datetime(*member.date_time, tzinfo=ZoneInfo(self.archive_timezone)).timestamp()
        os.utime(target, (when, when))
        if target.suffix.lower() == ".zip" and depth < self.max_depth:
            self.unzip(target, target.with_suffix(""), label, depth + 1)
            target.unlink()
        return True


class LmsCollector(FileNameCollectorPlugin):
    """Maps an extracted file to (student, notebook, time) with the course's patterns."""

    patterns = List(Unicode(), help=(
        "Regular expressions tried in order on each file's path relative to the extracted folder; "
        "each names (?P<student_id>...) and (?P<file_id>...), optionally (?P<name>...) and "
        "(?P<timestamp>...). Without a timestamp group the file's time (the archive's) is used.")).tag(config=True)

    def collect(self, submitted_file: str):
        journal = Journal(self.parent)
        extracted = Path(self.parent._format_collect_path(self.parent.extracted_directory))
        relative = Path(submitted_file).relative_to(extracted).as_posix()
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            journal.add("unmatched", {"file": relative, "reason": "not a notebook"})
            return None
        found = next((m for p in self.patterns or [self.named_regexp] if (m := re.match(p, relative))), None)
        if found is None:
            journal.add("unmatched", {"file": relative, "reason": "matches no file-name pattern"})
            return None
        info = {k: v for k, v in found.groupdict().items() if v is not None}
        info.update(gradescope_submitter(extracted, relative, info))
        if "submission_id" in info:  # no metadata file: the submission stands for the student
            info.setdefault("student_id", f"submission_{info['submission_id']}")
        # ids become folder names under submitted/: a loose pattern must not reach "../" or "."
        if not SAFE_ID.fullmatch(info.get("student_id", "")) or not SAFE_ID.fullmatch(info.get("file_id", "")):
            journal.add("unmatched", {"file": relative, "reason": "student id or notebook name is not a plain name"})
            return None
        if not info.get("timestamp"):
            info["timestamp"] = datetime.fromtimestamp(os.stat(submitted_file).st_mtime, timezone.utc).isoformat()
        data = journal.load()
        student = data["collected"].setdefault(info["student_id"], {"name": info.get("name", ""), "files": []})
        student["files"].append({"file": relative, "notebook": info["file_id"] + ".ipynb",
                                 "time": datetime.fromisoformat(info["timestamp"]).astimezone(timezone.utc).isoformat()})
        journal.save(data)
        return {k: info[k] for k in ("student_id", "file_id", "timestamp")}


def gradescope_submitter(extracted: Path, relative: str, info: dict) -> dict:
    """A Gradescope export names folders `submission_<id>`; its submission_metadata.yml gives
    the student (SID, else email) and the submission time. {} when there is no such file."""
    submission = info.get("submission_id")
    if not submission:
        return {}
    top = extracted / relative.split(f"submission_{submission}/")[0]
    try:
        import yaml

        meta = yaml.safe_load((top / "submission_metadata.yml").read_text())[f"submission_{submission}"]
        person = meta[":submitters"][0]
        return {"student_id": str(person.get(":sid") or person.get(":email")), "name": person.get(":name", ""),
                "timestamp": str(meta[":created_at"])}
    except (OSError, KeyError, IndexError, TypeError, ValueError, AttributeError):
        return {}


def summary(root: Path, assignment: str) -> str:
    """The collect report, in words."""
    data = json.loads((root / "reports" / assignment / "collect.json").read_text())
    lines = [f"collected {len(data['collected'])} students' submissions of {assignment}"]
    lines += [f"  NOT COLLECTED {u['file']}: {u['reason']}" for u in data["unmatched"]]
    lines += [f"  REFUSED {r['file']}: {r['reason']}" for r in data["refused"]]
    lines += [f"  duplicate {d['student']} {d['notebook']}: kept {d['kept']}, skipped {', '.join(d['skipped'])}"
              for d in data["duplicates"]]
    lines += [f"  misnamed {m['student']}: {m['notebook']} (graded as {assignment}.ipynb when it is the only one)"
              for m in data["misnamed"]]
    lines += [f"  several notebooks from {s['student']}: {', '.join(s['notebooks'])}" for s in data["several_notebooks"]]
    lines += [f"  LATE {student}: {by}" for student, by in sorted(data["late"].items())]
    return "\n".join(lines + [f"  (reports/{assignment}/collect.json)"])
