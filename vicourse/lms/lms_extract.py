"""Unpacking an LMS download for `nbgrader zip_collect`, remembering which upload each file
came from (`SafeExtractor`, configured in nbgrader_config.py).

Everything in `downloaded/<A>/archive/` is unpacked into `extracted/`, refusing what could
escape or hang: members whose path leaves the folder (`../`, absolute paths), links, devices,
two members written to one path, and archives that expand beyond a size or member budget (zip
bombs, nested ones included). Each folder level of a download is read the same way:

* `submission_metadata.yml` there makes it a Gradescope export: every folder beside it is an
  upload (an *entry*, vicourse/lms/lms_entries.py);
* a file, or a folder named like an upload (`c.LmsCollector.patterns`), is an entry; a
  student's own zip among them is unpacked into a folder of its name;
* any other zip is a download of its own, any other folder a level of this one.

For every file unpacked, `downloaded/<A>/entries.json` records its entry, its path inside
the entry, and the entry's time in the download: the LMS's upload time. `LmsCollector`
(vicourse/lms/collect.py) decides from that record alone, never from names or zip times inside
an upload.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable
from zoneinfo import ZoneInfo

from nbgrader.plugins import ExtractorPlugin
from traitlets import Int, Unicode

from .lms_entries import METADATA, as_utc, match_entry

CHUNK = 1 << 20
ENTRIES = "entries.json"  # beside archive/ and extracted/


@dataclass
class Item:
    """A file of a download: its path in it, its time there, and how to read it."""

    parts: tuple[str, ...]
    time: datetime
    open: Callable
    label: str  # where it came from, for messages


def entry_patterns(app) -> list[str]:
    from .collect import LmsCollector

    collector = getattr(app, "collector_plugin_inst", None)
    return list((collector if isinstance(collector, LmsCollector) else LmsCollector(parent=app)).patterns)


class SafeExtractor(ExtractorPlugin):
    """Unpacks the downloads without letting a member escape the folder or fill the disk."""

    max_total_mb = Int(2048, help="Largest total size the archives may expand to.").tag(config=True)
    max_members = Int(20000, help="Most files all archives together may hold.").tag(config=True)
    max_depth = Int(2, help="Archives inside archives are unpacked this deep (a student's own zip).").tag(config=True)
    archive_timezone = Unicode("UTC", help="Time zone of the times stored in the archives.").tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        from .collect import Journal

        self.journal = Journal(self.parent)
        self.refused: list[dict] = []  # saved once at the end: a zip of 20000 links must not cost 20000 saves
        self.budget = {"bytes": self.max_total_mb << 20, "members": self.max_members}
        self.patterns = entry_patterns(self.parent)
        self.extracted = Path(extracted_path)
        self.records: list[dict] = []
        self.level(self.loose(Path(archive_path)), (), self.extracted, 0)
        path = self.extracted.parent / ENTRIES
        path.write_text(json.dumps(self.records, indent=0))
        self.journal.save({**Journal.empty(), "refused": self.refused})

    def refuse(self, name: str, reason: str) -> None:
        self.log.warning("Refused %s: %s", name, reason)
        self.refused.append({"file": name, "reason": reason})

    # ------------------------------------------------------------- listing a download

    def loose(self, folder: Path) -> list[Item]:
        """The files put in archive/ by hand, each at its own modification time."""
        items = []
        for where, folders, files in os.walk(folder):
            for name in sorted(folders + files):
                path = Path(where, name)
                label = str(path.relative_to(folder))
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):  # a link would copy whatever it points at
                    self.refuse(label, "symbolic link")
                elif stat.S_ISREG(mode):
                    when = datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc)
                    items.append(Item(tuple(PurePosixPath(label).parts), when, lambda p=path: open(p, "rb"), label))
                elif not stat.S_ISDIR(mode):
                    self.refuse(label, "not a regular file (a device, pipe or socket)")
        return items

    def members(self, zipped: zipfile.ZipFile, label: str) -> list[Item] | None:
        """A zip's files as items; None when it holds more than the budget allows."""
        members = [m for m in zipped.infolist() if not m.is_dir()]
        if len(members) > self.budget["members"]:
            self.refuse(label, f"holds {len(members)} files, more than the {self.max_members} allowed")
            return None
        self.budget["members"] -= len(members)
        items = []
        for member in members:
            name = member.filename.replace("\\", "/")
            parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
            where = f"{label}/{member.filename}"
            if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
                self.refuse(where, "its path leaves the archive's folder")
            elif stat.S_ISLNK(member.external_attr >> 16):
                self.refuse(where, "symbolic link")
            else:
                when = datetime(*member.date_time, tzinfo=ZoneInfo(self.archive_timezone))
                items.append(Item(parts, when, lambda m=member: zipped.open(m), where))
        return items

    # ------------------------------------------------------------- reading its levels

    def level(self, items: list[Item], prefix: tuple, target: Path, depth: int) -> None:
        """One folder level of a download (see the module's docstring)."""
        n = len(prefix)
        children: dict[str, list[Item]] = {}
        for item in items:
            children.setdefault(item.parts[n], []).append(item)
        metadata = None
        if any(len(i.parts) == n + 1 for i in children.get(METADATA, [])):
            meta = next(i for i in children.pop(METADATA) if len(i.parts) == n + 1)
            if self.write(meta, target / METADATA):
                metadata = self.record(target / METADATA, METADATA, "", meta.time, None, role="metadata")
        for name, group in children.items():  # in the archive's order: a bomb stops what comes after it
            files = [i for i in group if len(i.parts) == n + 1]
            below = [i for i in group if len(i.parts) > n + 1]
            if files and below:
                for item in below:
                    self.refuse(item.label, "a file of the same name as this folder was unpacked first")
            if files:
                item = files[0]
                if name.lower().endswith(".zip") and match_entry(name, self.patterns) is None and metadata is None:
                    self.download(item, target / name[:-4], depth)  # a download inside the download
                else:
                    self.entry(name, [item], n, target, metadata, depth)
            elif metadata is not None or match_entry(name, self.patterns) is not None:
                self.entry(name, below, n, target, metadata, depth)
            else:
                self.level(below, prefix + (name,), target / name, depth)

    def download(self, item: Item, folder: Path, depth: int) -> None:
        if depth >= self.max_depth:
            return self.refuse(item.label, f"an archive nested deeper than {self.max_depth} levels")
        with self.spooled(item, folder.with_suffix(".zip")) as path:
            if path is not None:
                self.unzip(path, item.label, lambda items: self.level(items, (), folder, depth + 1))

    def entry(self, name: str, items: list[Item], n: int, target: Path, metadata: str | None, depth: int) -> None:
        """An upload: its files, each recorded with the upload's name and time in the download."""
        when = max(i.time for i in items)
        if len(items) == 1 and len(items[0].parts) == n + 1 and name.lower().endswith(".zip"):
            # a student's own zip: unpacked into a folder of its name; inside, only its files count
            folder = target / name[:-4]
            if depth >= self.max_depth:
                return self.refuse(items[0].label, f"an archive nested deeper than {self.max_depth} levels")
            with self.spooled(items[0], target / name) as path:
                if path is not None:
                    self.unzip(path, items[0].label, lambda inner: self.inside(inner, folder, folder, name, when,
                                                                               metadata, depth + 1))
            return
        if len(items) == 1 and len(items[0].parts) == n + 1:
            if self.write(items[0], target / name):
                self.record(target / name, name, "", when, metadata)
            return
        folder = target / name
        for item in items:
            self.inside([Item(item.parts[n + 1:], item.time, item.open, item.label)], folder, folder, name, when,
                        metadata, depth)

    def inside(self, items: list[Item], folder: Path, top: Path, name: str, when, metadata, depth: int) -> None:
        """Files inside an upload; a zip among them is unpacked in place while the depth allows."""
        for item in items:
            path = folder.joinpath(*item.parts)
            if path.suffix.lower() == ".zip" and depth < self.max_depth:
                with self.spooled(item, path) as spooled:
                    if spooled is not None:
                        self.unzip(spooled, item.label, lambda inner, p=path: self.inside(
                            inner, p.with_suffix(""), top, name, when, metadata, depth + 1))
            elif self.write(item, path):
                self.record(path, name, path.relative_to(top).as_posix(), when, metadata)

    # ------------------------------------------------------------- writing

    def unzip(self, path: Path, label: str, then) -> None:
        try:
            with zipfile.ZipFile(path) as zipped:
                items = self.members(zipped, label)
                if items is not None:
                    then(items)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as error:
            self.refuse(label, f"not a readable zip archive ({error})")

    @contextlib.contextmanager
    def spooled(self, item: Item, path: Path):
        """The item written to `path` for unzipping, removed afterwards; None if refused."""
        written = self.write(item, path)
        try:
            yield path if written else None
        finally:
            if written:  # a refused one may be another member's file
                path.unlink(missing_ok=True)

    def write(self, item: Item, path: Path) -> bool:
        """Copy one member to `path`, counting what really comes out (an archive's directory
        can lie about sizes); never over a file already there. False when refused."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            self.refuse(item.label, "another member was already unpacked to the same path")
            return False
        except OSError as error:
            self.refuse(item.label, f"cannot be unpacked here ({error.strerror})")
            return False
        written, over = 0, False
        try:
            with item.open() as source, os.fdopen(sink, "wb") as out:
                while chunk := source.read(CHUNK):
                    written += len(chunk)
                    if written > self.budget["bytes"]:
                        over = True
                        break
                    out.write(chunk)
        except (OSError, ValueError, zipfile.BadZipFile, NotImplementedError, EOFError) as error:
            path.unlink(missing_ok=True)
            self.refuse(item.label, f"cannot be read ({error})")
            return False
        if over:
            path.unlink()
            self.budget["bytes"] = -1  # spent: every later member is refused as well
            self.refuse(item.label, f"the archives expand beyond {self.max_total_mb} MB: unpacking stopped")
            return False
        self.budget["bytes"] -= written
        stamp = item.time.timestamp()
        os.utime(path, (stamp, stamp))
        return True

    def record(self, path: Path, entry: str, inside: str, when: datetime, metadata: str | None,
               role: str = "entry") -> str:
        relative = path.relative_to(self.extracted).as_posix()
        self.records.append({"file": relative, "entry": entry, "inside": inside, "time": as_utc(when),
                             "metadata": metadata, "role": role})
        return relative
