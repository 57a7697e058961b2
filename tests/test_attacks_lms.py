"""Hostile LMS downloads: `nbgrader zip_collect` with the course's extractor
(vicourse/collect.py) must not write outside its folder, follow a link, or
unpack without bound, and must name each entry it refused."""

import json
import stat
import time
import zipfile

from conftest import ROOT
from vicourse.course import copy_course, nbgrader

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
    assert log["unmatched"] == [{"file": f".._{A}.ipynb", "reason": "student id or notebook name is not a plain name"}]
