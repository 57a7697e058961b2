"""Who handed in an LMS upload, and when, read only from what Canvas or Gradescope wrote.

An LMS download holds one *entry* per upload, written by the LMS itself:

* Canvas: a top-level file `name[_LATE]_userid_submissionid_file[-N].ext`. A student's own
  zip is such an entry; what is inside it the student wrote.
* Gradescope: a folder `submission_<id>/` beside `submission_metadata.yml`, which names the
  submitter and the time. The files in the folder the student named.

The student and the time used for lateness come from the entry (its name, its time in the
download, the metadata beside it), never from a file inside it: a student controls those
names and zip times. A file inside an entry whose name speaks for another student is refused.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from pathlib import PurePosixPath

# Each pattern must match an entry's whole name. Canvas's name part has no "_"; the ids are the
# first "_<digits>_<digits>_" after it, so words a student put in the file name cannot move them.
CANVAS = (r"(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<student_id>[0-9]+)_(?P<submission_id>[0-9]+)_"
          r"(?P<file_id>.+?)(?:-(?P<attempt>[0-9]+))?(?P<ext>\.[A-Za-z0-9]+)?")
GRADESCOPE = r"submission_(?P<submission_id>[0-9]+)"
METADATA = "submission_metadata.yml"  # Gradescope's list of submissions, beside their folders
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")


def match_entry(name: str, patterns: list[str]) -> dict | None:
    """The named groups of the first pattern that matches the whole name, else None."""
    for pattern in patterns:
        found = re.fullmatch(pattern, name)
        if found:
            return {k: v for k, v in found.groupdict().items() if v is not None}
    return None


def identities(info: dict) -> set[tuple[str, str]]:
    """What a match says about who handed it in: its student id and its submission folder."""
    return {(key, info[key]) for key in ("student_id", "submission_id") if info.get(key)}


def fold(text: str) -> str:
    """A name as a reader sees it: compatibility forms (fullwidth digits, ligatures) folded,
    every decimal digit of any script made ASCII, invisible format characters dropped."""
    text = unicodedata.normalize("NFKC", text)
    out = []
    for char in text:
        if unicodedata.category(char) == "Cf":  # zero-width spaces and joiners, direction marks
            continue
        digit = unicodedata.decimal(char, None)
        out.append(str(digit) if digit is not None and not char.isascii() else char)
    return "".join(out)


def speaks_for(name: str, patterns: list[str]) -> set[tuple[str, str]]:
    """Whom a name inside an upload would identify, were it an entry: as written, or as it
    looks (a fullwidth or Arabic-Indic "1008" reads as 1008)."""
    found = set()
    for candidate in {name, fold(name)}:
        info = match_entry(candidate, patterns)
        if info:
            found |= identities(info)
    return found


def gradescope_submitter(metadata, submission_id: str) -> dict | None:
    """Student id, name and time of `submission_<id>` from a parsed submission_metadata.yml;
    None when the file does not list it."""
    try:
        entry = metadata[f"submission_{submission_id}"]
        person = entry[":submitters"][0]
        student = str(person.get(":sid") or person.get(":email") or "").strip()
        created = entry.get(":created_at")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if not student:
        return None
    when = created if isinstance(created, datetime) else parse_time(str(created)) if created else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return {"student_id": student, "name": str(person.get(":name") or ""), "time": when}


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def notebook_name(stem: str, ext: str, released: list[str]) -> tuple[str | None, str]:
    """(the name a file is collected under, a note saying why it differs from the file's name).

    A released notebook's name inside a longer one ("02_elbo (1)", "02_elbo final") is that
    notebook; other words and spaces become "_" ("HW3 final" -> "HW3_final"). None when nothing
    usable is left."""
    if stem in released:
        return stem + ext, ""
    within = [r for r in released if re.search(rf"(?<![A-Za-z0-9]){re.escape(r)}(?![A-Za-z0-9])", stem)]
    if len(within) == 1:
        return within[0] + ext, f"collected as {within[0] + ext}"
    plain = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", fold(stem)).strip("_.")
    if not SAFE_ID.fullmatch(plain):
        return None, ""
    return plain + ext, ("" if plain == stem else f"collected as {plain + ext}")


def rename_hint(assignment: str) -> str:
    return (f"to collect it, give it a name of Canvas's form, <name>_<user id>_<submission id>_{assignment}.ipynb, "
            f"or put it in a Gradescope export's submission_<id>/ folder")


def as_utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


def suffix(name: str) -> str:
    return PurePosixPath(name).suffix
