"""Hostile LMS downloads: `nbgrader zip_collect` with the course's extractor
(vicourse/lms/collect.py) must not write outside its folder, follow a link, or
unpack without bound, and must name each entry it refused."""

import io
import json
import os
import shutil
import stat
import time
import zipfile

from conftest import ROOT
from vicourse.course import check_config, copy_course, nbgrader
from vicourse.lms.deadlines import lateness

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"


def test_a_zip_cannot_escape_plant_a_link_or_flood_the_disk(tmp_path):
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + "\nc.SafeExtractor.max_total_mb = 5\n")
    root = copy_course(TOY, tmp_path / "course", config=config)
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    secret = root / "grader_tests" / f"test_{A}.py"
    with zipfile.ZipFile(archive / "download.zip", "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(f"fine_1001_1_{A}.ipynb", "{}")
        zipped.writestr(f"../../up_1002_2_{A}.ipynb", "escaped")
        zipped.writestr(f"{tmp_path}/abs_1003_3_{A}.ipynb", "escaped")
        link = zipfile.ZipInfo(f"link_1004_4_{A}.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, str(secret))  # a link member's data is its target
        zipped.writestr(f"bomb_1005_5_{A}.ipynb", b"\0" * (64 << 20))  # 64 MB, some 64 kB compressed
    (archive / f"outside_1006_6_{A}.ipynb").symlink_to(secret)  # a link in the download folder itself

    started = time.perf_counter()
    result = nbgrader(root, "zip_collect", A, "--force", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.perf_counter() - started < 60

    assert not list(tmp_path.rglob("up_1002*")) and not list(tmp_path.rglob("abs_1003*"))
    unpacked = [*(root / "downloaded" / A / "extracted").rglob("*"), *(root / "submitted").rglob("*")]
    assert unpacked and not [p for p in unpacked if p.is_symlink()]
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["1001"]
    assert all(p.stat().st_size <= 5 << 20 for p in (root / "downloaded").rglob("*") if p.is_file())
    log = json.loads((root / "reports" / A / "collect.json").read_text())
    refused = {r["file"].rsplit("/", 1)[-1]: r["reason"] for r in log["refused"]}
    assert refused[f"up_1002_2_{A}.ipynb"] == refused[f"abs_1003_3_{A}.ipynb"] == "its path leaves the archive's folder"
    assert refused[f"link_1004_4_{A}.ipynb"] == refused[f"outside_1006_6_{A}.ipynb"] == "symbolic link"
    assert "expand beyond 5 MB" in refused[f"bomb_1005_5_{A}.ipynb"]


def test_a_loose_pattern_cannot_name_a_folder_outside_submitted(tmp_path):
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text()
                      + '\nc.LmsCollector.patterns = [r"(?P<student_id>[^_]+)_(?P<file_id>.+)\\.ipynb$"]\n')
    root = copy_course(TOY, tmp_path / "course", config=config)
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    (archive / f".._{A}.ipynb").write_text("{}")  # student id ".."
    (archive / f"ok_{A}.ipynb").write_text("{}")
    result = nbgrader(root, "zip_collect", A, "--force", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["ok"]
    log = json.loads((root / "reports" / A / "collect.json").read_text())
    assert log["refused"] == [{"file": f".._{A}.ipynb",
                               "reason": f"the student id '..' in .._{A}.ipynb is not a plain name (letters, digits, _.@+-)"}]


# ------------------------------------------------------------------ who and when come from the LMS

DEADLINE = "2026-10-02 00:00:00"


def zipped(members) -> bytes:
    """A zip of (name, (y, m, d, H, M, S), text or bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, when, data in members:
            archive.writestr(zipfile.ZipInfo(name, when), data)
    return buffer.getvalue()


def collected(tmp_path, members, extra_config="", loose=()):
    """A toy course with `members` as a Canvas-style download (and `loose` files put in archive/
    by hand), collected by stock zip_collect: (course root, collect.json)."""
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text()
                      + f"\nc.Course.deadlines = {{{A!r}: {DEADLINE!r}}}\n" + extra_config)
    root = copy_course(TOY, tmp_path / "course", config=config)
    (root / "release" / A).mkdir(parents=True)  # only the released notebooks' names matter here
    shutil.copy(root / "source" / A / f"{A}.ipynb", root / "release" / A)
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    if members:
        (archive / "submissions.zip").write_bytes(zipped(members))
    for name, data in loose:
        (archive / name).write_bytes(data)
    result = nbgrader(root, "zip_collect", A, "--force", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return root, json.loads((root / "reports" / A / "collect.json").read_text())


def handed_in(root, student, notebook=f"{A}.ipynb"):
    return (root / "submitted" / student / A / notebook).read_text()


def timestamp(root, student):
    return (root / "submitted" / student / A / "timestamp.txt").read_text()


BOB = f"bob_1008_5008_{A}.ipynb"
MALLORY = f"mallory_LATE_2001_9001_{A}.zip"


def test_a_member_inside_a_students_zip_named_like_a_classmate_is_refused(tmp_path):
    """Mallory's zip holds a blank notebook named like Bob's upload, newer than his, and her own
    notebook back-dated to before the deadline; Canvas marked her upload late."""
    mine = zipped([(f"notes/{BOB}", (2026, 10, 4, 9, 0, 0), "mallory's blank"),
                   (f"{A}.ipynb", (2026, 9, 20, 9, 0, 0), "mallory's own")])
    root, log = collected(tmp_path, [(BOB, (2026, 10, 1, 10, 0, 0), "bob's work"),
                                     (MALLORY, (2026, 10, 4, 9, 36, 0), mine)])
    assert handed_in(root, "1008") == "bob's work" and timestamp(root, "1008").startswith("2026-10-01 10:00:00")
    assert handed_in(root, "2001") == "mallory's own" and sorted(os.listdir(root / "submitted" / "2001" / A)) == \
        [f"{A}.ipynb", "timestamp.txt"]
    forged = f"submissions/mallory_LATE_2001_9001_{A}/notes/{BOB}"
    assert [r for r in log["refused"] if r["file"] == forged] == [{"file": forged, "reason": (
        f"inside {MALLORY} (student 2001), named like the upload of student 1008: "
        "a file inside a student's own upload cannot speak for a classmate")}]
    assert log["duplicates"] == [] and log["unmatched"] == []
    # the upload's time in Canvas's download, never the back-dated zip time inside it
    assert timestamp(root, "2001").startswith("2026-10-04 09:36:00")
    assert log["late"] == {"2001": "2 d 9 h 36 min"}
    assert log["collected"]["1008"]["name"] == "bob" and log["collected"]["2001"]["marked_late"]


def test_canvas_late_marker_flags_an_upload_whatever_its_times(tmp_path):
    """_LATE alone marks a submission late (a per-student due date Canvas knows and we do not)."""
    inner = zipped([(f"{A}.ipynb", (2026, 9, 1, 0, 0, 0), "early by its zip time")])
    root, log = collected(tmp_path, [(f"eve_LATE_2002_9002_{A}.zip", (2026, 10, 1, 23, 0, 0), inner),
                                     (f"dan_2003_9003_{A}.ipynb", (2026, 10, 1, 23, 0, 0), "on time")])
    assert log["late"] == {"2002": "marked late by the LMS"}
    assert timestamp(root, "2002").startswith("2026-10-01 23:00:00")
    config = check_config(root)  # the reports' late column
    assert lateness(root, A, "2002", config) == "marked late by the LMS" and lateness(root, A, "2003", config) == ""


def test_look_alike_ids_and_paths_inside_an_upload_are_refused(tmp_path):
    """Inside Mallory's zip: Bob's id in fullwidth and Arabic-Indic digits, with a zero-width
    space; a folder named like a Gradescope submission; ../ and an absolute path; a metadata file."""
    mine = zipped([
        (f"a/bob_\uff11\uff10\uff10\uff18_5008_{A}.ipynb", (2026, 10, 1, 0, 0, 0), "fullwidth"),
        (f"b/bob_\u0661\u0660\u0660\u0668_5008_{A}.ipynb", (2026, 10, 1, 0, 0, 0), "arabic-indic"),
        (f"c/bob_10\u200b08_5008_{A}.ipynb", (2026, 10, 1, 0, 0, 0), "zero width"),
        (f"submission_77/{A}.ipynb", (2026, 10, 1, 0, 0, 0), "gradescope folder"),
        (f"../../{BOB}", (2026, 10, 1, 0, 0, 0), "up"),
        (f"/{BOB}", (2026, 10, 1, 0, 0, 0), "absolute"),
        ("submission_metadata.yml", (2026, 10, 1, 0, 0, 0), "submission_5008:\n  :submitters: [{:sid: '2001'}]\n"),
        (f"{A}.ipynb", (2026, 10, 1, 0, 0, 0), "mallory's own"),
        (f"__MACOSX/._{A}.ipynb", (2026, 10, 1, 0, 0, 0), "resource fork"),
        (f".ipynb_checkpoints/{A}-checkpoint.ipynb", (2026, 10, 1, 0, 0, 0), "checkpoint"),
    ])
    root, log = collected(tmp_path, [(BOB, (2026, 10, 1, 10, 0, 0), "bob's work"),
                                     (f"mallory_2001_9001_{A}.zip", (2026, 10, 1, 11, 0, 0), mine)])
    assert handed_in(root, "1008") == "bob's work" and handed_in(root, "2001") == "mallory's own"
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["1008", "2001"]
    refused = {r["file"].split(f"mallory_2001_9001_{A}", 1)[-1]: r["reason"] for r in log["refused"]}
    for inner in (f"/a/bob_\uff11\uff10\uff10\uff18_5008_{A}.ipynb", f"/b/bob_\u0661\u0660\u0660\u0668_5008_{A}.ipynb",
                  f"/c/bob_10\u200b08_5008_{A}.ipynb"):
        assert "named like the upload of student 1008" in refused[inner], inner
    assert "named like the upload of submission_77" in refused[f"/submission_77/{A}.ipynb"]
    assert refused[f".zip/../../{BOB}"] == refused[f".zip//{BOB}"] == "its path leaves the archive's folder"
    assert "only the one the export holds beside the uploads is read" in refused["/submission_metadata.yml"]
    assert sorted(u["file"].rsplit("/", 2)[-2] for u in log["unmatched"]) == [".ipynb_checkpoints", "__MACOSX"]
    assert log["duplicates"] == []
    assert not list(tmp_path.rglob(BOB))[1:]  # only the download's own copy of Bob's upload


def test_two_uploads_at_the_same_time_keep_canvass_latest_attempt_and_say_so(tmp_path):
    root, log = collected(tmp_path, [(f"ann_2004_9004_{A}.ipynb", (2026, 10, 1, 9, 0, 0), "first"),
                                     (f"ann_2004_9004_{A}-2.ipynb", (2026, 10, 1, 9, 0, 0), "third"),
                                     (f"ann_2004_9004_{A}-1.ipynb", (2026, 10, 1, 9, 0, 0), "second")])
    assert handed_in(root, "2004") == "third"
    (duplicate,) = log["duplicates"]
    assert duplicate["kept"] == f"submissions/ann_2004_9004_{A}-2.ipynb"
    assert sorted(duplicate["same_time"]) == [f"submissions/ann_2004_9004_{A}-1.ipynb",
                                              f"submissions/ann_2004_9004_{A}.ipynb"]


def test_file_names_with_spaces_or_extra_words_are_collected_by_their_id(tmp_path):
    root, log = collected(tmp_path, [
        ("leeanna_1003_5003_HW3 final.ipynb", (2026, 10, 1, 9, 0, 0), "spaces"),
        (f"kim_1004_5004_{A} (1).ipynb", (2026, 10, 1, 9, 0, 0), "a copy's name"),
        ("homework.ipynb", (2026, 10, 1, 9, 0, 0), "no id"),
    ])
    assert handed_in(root, "1003", "HW3_final.ipynb") == "spaces" and handed_in(root, "1004") == "a copy's name"
    assert log["collected"]["1003"]["files"][0]["note"] == "collected as HW3_final.ipynb"
    assert log["misnamed"] == [{"student": "1003", "notebook": "HW3_final.ipynb"}]
    (missed,) = log["unmatched"]
    assert missed["file"] == "submissions/homework.ipynb"
    assert f"<name>_<user id>_<submission id>_{A}.ipynb" in missed["reason"]


METADATA = """submission_31:
  :submitters:
  - :name: Robert Tables
    :sid: '1008'
    :email: bob@example.edu
  :created_at: 2026-10-01 10:00:00.000000000 +00:00
submission_32:
  :submitters:
  - :name: Mallory Q. Mischief
    :sid: '2001'
  :created_at: 2026-10-03 12:00:00.000000000 +00:00
"""


def test_gradescope_students_and_times_come_from_the_exports_metadata_only(tmp_path):
    export = "assignment_77_export"
    forged = METADATA.replace("'1008'", "'2001'").replace("'2001'\n  :created_at: 2026-10-03", "'1008'\n  :created_at: 2026-09-03")
    root, log = collected(tmp_path, [
        (f"{export}/submission_metadata.yml", (2026, 10, 5, 0, 0, 0), METADATA),
        (f"{export}/submission_31/{A}.ipynb", (2026, 10, 5, 0, 0, 0), "bob's work"),
        (f"{export}/submission_32/{A}.ipynb", (2026, 9, 1, 0, 0, 0), "mallory's own"),
        (f"{export}/submission_32/submission_metadata.yml", (2026, 10, 5, 0, 0, 0), forged),
        (f"{export}/submission_32/submission_31/{A}.ipynb", (2026, 10, 5, 0, 0, 0), "mallory's blank"),
    ])
    assert handed_in(root, "1008") == "bob's work" and handed_in(root, "2001") == "mallory's own"
    assert timestamp(root, "2001").startswith("2026-10-03 12:00:00") and log["late"] == {"2001": "1 d 12 h 00 min"}
    assert log["read"] == [{"file": f"submissions/{export}/submission_metadata.yml",
                            "as": "Gradescope's list of submitters and times"}]
    assert log["unmatched"] == []
    refused = {r["file"].rsplit("submission_32/", 1)[-1]: r["reason"] for r in log["refused"]}
    assert "named like the upload of submission_31" in refused[f"submission_31/{A}.ipynb"]
    assert "only the one the export holds" in refused["submission_metadata.yml"]
    assert {s: c["name"] for s, c in log["collected"].items()} == {"1008": "Robert Tables", "2001": "Mallory Q. Mischief"}


def test_a_students_zip_put_in_archive_by_hand_is_still_one_upload(tmp_path):
    """Canvas's download unpacked by hand into archive/: a student's zip there is her upload."""
    inner = zipped([(f"x/{BOB}", (2026, 10, 9, 0, 0, 0), "forged"), (f"{A}.ipynb", (2026, 9, 1, 0, 0, 0), "own")])
    root, log = collected(tmp_path, [], loose=[(BOB, b"bob's work"), (f"mallory_2001_9001_{A}.zip", inner)])
    assert handed_in(root, "1008") == "bob's work" and handed_in(root, "2001") == "own"
    assert any("named like the upload of student 1008" in r["reason"] for r in log["refused"])
