"""What TAs hand back, on the two-question toy course: an LMS zip collected by stock
`nbgrader zip_collect`, graded as a batch, then every report checked for content
against the gradebook, and the feedback checked for leaks of the hidden checks.

One zip (built here, with the archive times that decide lateness) holds an
on-time, a late, a misnamed, a duplicate and a multi-notebook entry, a renamed
copy of a classmate's unusual answer, a spy that prints the hidden inputs
and the grader's source, a file name with spaces, and Mallory's late zip with a
blank notebook named like Bob's upload inside it (and her own, back-dated). Two more
students are handed in directly, with names that would inject a formula into a
spreadsheet and a script into a web page. `vicourse collect` collects the zip and
records the students' names in the gradebook. A TA grades the written answer of three
students (WRITTEN); the others' wait.
"""

import base64
import csv
import io
import json
import shutil
import subprocess
import zipfile

import nbformat
import numpy as np
import pytest

from conftest import ROOT
from vicourse.authoring import examples, release
from vicourse.batch import coordinator
from vicourse.course import (copy_course, nbgrader, open_gradebook, read_notebook, run_module_command,
                             source_notebook)
from vicourse.reports import all_reports, gradescope
from vicourse.reports.report import question_scores

TOY = ROOT / "tests" / "fixtures" / "toy_course"
A = "00_toy"
DEADLINE = "2026-10-02 00:00:00"
CANVAS_COLUMN = "Toy assignment (4242)"
FORMULA = '=HYPERLINK("evil.example","x")'
SCRIPT = "<img src=x onerror=alert(1)>"
HOSTILE_ID = FORMULA + SCRIPT  # a student id handed in through the exchange
BOB = f"bob_1008_5008_{A}.ipynb"
MALLORY = "mallory_LATE_2001_9001_work.zip"
WRITTEN = {"1001": 1.0, "1002": 0.0, "1008": 1.0}  # the written answer `explain`, graded by hand
LABELS = {"A double (2 pts)": "test_double", "B half (1 pt)": "test_half", "B explain (1 pt, written)": "explain"}

UNUSUAL = "def double(x):\n    result = np.asarray(x) + np.asarray(x)  # add it to itself\n    return result\n"
COPIED = "def double(values):\n  out=np.asarray(values)+np.asarray(values)\n\n  return out\n"
SPY = '''import numpy as np

def double(x):
    print("hidden input:", repr(x), list(np.asarray(x, dtype=float)))
    raise ValueError("the inputs were " + repr(x))

try:
    print(open({grader!r}).read())
except OSError as error:
    print("no grader here:", error)
'''


def notebook(release_nb, source_nb, **replace):
    return nbformat.writes(examples.filled(release_nb, source_nb, replace=replace))


def lms_zip(path, release_nb, source_nb, grader_path):
    """A Canvas-style submissions download: (name in the zip, archive time, text)."""
    full = notebook(release_nb, source_nb)
    blank = nbformat.writes(release_nb)
    inner = io.BytesIO()  # a student's own zip, holding two notebooks
    with zipfile.ZipFile(inner, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo(f"{A}.ipynb", (2026, 10, 1, 9, 0, 0)), full)
        zipped.writestr(zipfile.ZipInfo("scratch.ipynb", (2026, 10, 1, 9, 0, 0)), blank)
    forger = io.BytesIO()  # Mallory's: a blank named like Bob's upload, newer than it; her own back-dated
    with zipfile.ZipFile(forger, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo(f"notes/{BOB}", (2026, 10, 4, 9, 0, 0)), blank)
        zipped.writestr(zipfile.ZipInfo(f"{A}.ipynb", (2026, 10, 1, 8, 0, 0)), blank)
    entries = [
        (f"smithjane_1001_5001_{A}.ipynb", (2026, 10, 1, 10, 0, 0), notebook(release_nb, source_nb, double=UNUSUAL)),
        (f"doejohn_LATE_1002_5002_{A}.ipynb", (2026, 10, 3, 12, 30, 0), full),
        ("homework.ipynb", (2026, 10, 1, 8, 0, 0), full),  # matches no pattern
        (f"leeann_1003_5003_{A}.ipynb", (2026, 10, 1, 9, 0, 0), blank),  # the older of two
        (f"leeann_1003_5003_{A}-1.ipynb", (2026, 10, 1, 11, 0, 0), full),  # Canvas renames a resubmission
        ("kimbo_1004_5004_work.zip", (2026, 10, 1, 9, 5, 0), inner.getvalue()),
        (f"copycat_1005_5005_{A}.ipynb", (2026, 10, 1, 12, 0, 0), notebook(release_nb, source_nb, double=COPIED)),
        (f"spy_1006_5006_{A}.ipynb", (2026, 10, 1, 12, 0, 0),
         notebook(release_nb, source_nb, double=SPY.format(grader=str(grader_path)))),
        (f"{FORMULA}_1007_5007_{A}.ipynb", (2026, 10, 1, 12, 0, 0), full),  # a name for the Canvas column
        (BOB, (2026, 10, 1, 10, 0, 0), full),
        (MALLORY, (2026, 10, 4, 9, 36, 0), forger.getvalue()),  # Canvas marked it late: 2.4 days
        ("leeanna_1009_5009_HW3 final.ipynb", (2026, 10, 1, 11, 0, 0), full),  # her only submission
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, when, data in entries:
            zipped.writestr(zipfile.ZipInfo(name, when), data)


@pytest.fixture(scope="module")
def handed_back(tmp_path_factory):
    config = tmp_path_factory.mktemp("config") / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text()
                      + f"\nc.Course.deadlines = {{{A!r}: {DEADLINE!r}}}\nc.Course.canvas_columns = {{{A!r}: {CANVAS_COLUMN!r}}}\n")
    root = copy_course(TOY, tmp_path_factory.mktemp("toy"), config=config)
    release.generate_releases(root)
    release_nb = read_notebook(root / "release" / A / f"{A}.ipynb")
    source_nb = read_notebook(source_notebook(root, A))
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    lms_zip(archive / "submissions.zip", release_nb, source_nb, root / "grader_tests" / f"test_{A}.py")
    collected = subprocess.run([*run_module_command("vicourse"), "collect", A], cwd=root, capture_output=True,
                               text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    folder = root / "submitted" / HOSTILE_ID / A  # handed in through the exchange: no archive time
    folder.mkdir(parents=True)
    (folder / f"{A}.ipynb").write_text(notebook(release_nb, source_nb))
    outcomes = coordinator.grade_all(root, A, workers=2, timeout=300, extra=[
        "--Execute.timeout=5", "--Execute.iopub_timeout=5", "--ExecuteWithChecks.check_timeout=5"])
    grade_by_hand(root, WRITTEN)
    all_reports.write_all(root, A)
    return root, {o.student: o for o in outcomes}


def grade_by_hand(root, scores: dict):
    """What a TA does in formgrader: a score for the written answer `explain`."""
    with open_gradebook(root) as gradebook:
        for student, score in scores.items():
            gradebook.find_grade("explain", A, A, student).manual_score = score
        gradebook.db.commit()


def read_csv(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_zip_collect_reports_every_entry_by_name(handed_back):
    root, _ = handed_back
    log = json.loads((root / "reports" / A / "collect.json").read_text())
    assert sorted(p.name for p in (root / "submitted").iterdir() if p.name.isdigit()) == \
        ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "2001"]
    assert [u["file"] for u in log["unmatched"]] == ["submissions/homework.ipynb"]
    (duplicate,) = log["duplicates"]
    assert duplicate["student"] == "1003" and duplicate["kept"].endswith(f"{A}-1.ipynb")
    assert duplicate["skipped"] == [f"submissions/leeann_1003_5003_{A}.ipynb"]
    # nbgrader kept the newest: the full solution, not the blank first try
    assert (root / "submitted" / "1003" / A / f"{A}.ipynb").read_text() == \
        notebook(read_notebook(root / "release" / A / f"{A}.ipynb"), read_notebook(source_notebook(root, A)))
    assert log["several_notebooks"] == [{"student": "1004", "notebooks": [f"{A}.ipynb", "scratch.ipynb"]}]
    assert {"student": "1004", "notebook": "scratch.ipynb"} in log["misnamed"]
    assert log["late"] == {"1002": "1 d 12 h 30 min", "2001": "2 d 9 h 36 min"}
    assert log["collected"]["1001"]["name"] == "smithjane"
    assert (root / "submitted" / "1002" / A / "timestamp.txt").read_text().startswith("2026-10-03 12:30:00")


def test_a_blank_named_like_a_classmates_upload_replaces_nothing(handed_back):
    """Mallory's zip holds a blank named like Bob's upload and newer than it: refused by name,
    Bob keeps full marks, and her upload is late by Canvas's time, not her back-dated one."""
    root, outcomes = handed_back
    log = json.loads((root / "reports" / A / "collect.json").read_text())
    forged = f"submissions/mallory_LATE_2001_9001_work/notes/{BOB}"
    assert [r["file"] for r in log["refused"]] == [forged]
    assert "named like the upload of student 1008" in log["refused"][0]["reason"]
    assert log["collected"]["1008"]["files"] == [{"file": f"submissions/{BOB}", "notebook": f"{A}.ipynb",
                                                  "time": "2026-10-01T10:00:00+00:00", "upload": BOB}]
    assert outcomes["1008"].status == "graded" and outcomes["1008"].score == 3  # all autograded points
    grades = {r["student"]: r for r in csv.DictReader((root / "reports" / A / "grades.csv").open(newline=""))}
    assert float(grades["1008"]["autograded"]) == float(grades["1008"]["autograded_max"]) == 3
    assert grades["2001"]["late"] == "2 d 9 h 36 min" and float(grades["2001"]["autograded"]) == 0
    canvas = {r[1]: r for r in read_csv(root / "reports" / A / "canvas.csv")[2:]}
    assert canvas["1008"][5] == "4" and canvas["1008"][0] == "bob"  # full marks, the written answer graded


def test_a_file_name_with_spaces_is_collected_by_its_id(handed_back):
    root, outcomes = handed_back
    log = json.loads((root / "reports" / A / "collect.json").read_text())
    assert log["collected"]["1009"]["files"][0]["notebook"] == "HW3_final.ipynb"
    assert outcomes["1009"].status == "graded" and outcomes["1009"].score == 3
    assert f"graded HW3_final.ipynb as {A}.ipynb" in outcomes["1009"].notes


def test_grades_csv_agrees_with_the_gradebook(handed_back):
    """A row per student and nothing else (a spreadsheet or pandas reads every row as one): the
    questions are headed by their labels, with their points."""
    root, outcomes = handed_back
    columns, scores, max_points, manual = question_scores(root, A)
    rows = read_csv(root / "reports" / A / "grades.csv")
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header == ["student", "name", *LABELS, "autograded", "autograded_max", "total", "total_max", "status",
                      "late", "notes", "isolation"]
    assert sorted(LABELS.values()) == sorted(columns) and {max_points[c] for c in ("test_half", "explain")} == {1}
    assert sorted(r["student"].removeprefix("'") for r in body) == sorted(outcomes)  # every row is a student
    for row in body:
        student = row["student"].removeprefix("'")
        assert float(row["total_max"]) == sum(max_points.values()) and float(row["autograded_max"]) == 3
        for title, column in LABELS.items():
            expected = scores.get(student, {}).get(column)
            assert row[title] == ("" if expected is None else str(expected)), (student, column)
        assert float(row["autograded"]) == sum(v or 0 for c, v in scores.get(student, {}).items() if c not in manual)
        assert row["status"] == outcomes[student].status
        late = {"1002": "1 d 12 h 30 min", "2001": "2 d 9 h 36 min", HOSTILE_ID: "no submission time known"}
        assert row["late"] == late.get(student, "")
        assert row["isolation"].startswith("sandboxed")
    assert float(next(r for r in body if r["student"] == "1001")["A double (2 pts)"]) == 2


def test_results_json_follow_gradescopes_format(handed_back):
    root, outcomes = handed_back
    _, scores, max_points, manual = question_scores(root, A)
    named = {"A double": "test_double", "B half": "test_half"}  # as the notebook heads them
    for student in outcomes:
        data = json.loads((root / "reports" / A / "gradescope" / student / "results.json").read_text())
        assert gradescope.problems(data) == []
        # the documented fields, checked here independently of the module
        assert isinstance(data["score"], (int, float)) and isinstance(data["output"], str)
        for test in data["tests"]:
            assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
            assert test["visibility"] in {"hidden", "after_due_date", "after_published", "visible"}
            assert test["score"] == (scores[student].get(named[test["name"]]) or 0)
            assert test["max_score"] == max_points[named[test["name"]]]
        assert sorted(named[t["name"]] for t in data["tests"]) == sorted(set(max_points) - manual)
        if outcomes[student].status == "graded":
            assert data["score"] == sum(t["score"] for t in data["tests"])
    spy = json.loads((root / "reports" / A / "gradescope" / "1006" / "results.json").read_text())
    failed = next(t for t in spy["tests"] if t["name"] == "A double")
    assert failed["score"] == 0 and "double" in failed["output"]


def test_canvas_csv_has_the_import_columns(handed_back):
    root, outcomes = handed_back
    rows = read_csv(root / "reports" / A / "canvas.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", CANVAS_COLUMN]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == 4
    body = {r[1].removeprefix("'"): r for r in rows[2:]}
    assert set(body) == set(outcomes)
    with (root / "reports" / A / "grades.csv").open(newline="") as handle:
        totals = {r["student"].removeprefix("'"): r["total"] for r in csv.DictReader(handle)}
    for student, row in body.items():
        fully_graded = outcomes[student].status == "graded" and student in WRITTEN
        assert row[5] == (f"{float(totals[student]):g}" if fully_graded else ""), student
    assert body["1001"][0] == "smithjane" and body["1001"][5] == "4" and body["1002"][5] == "3"


def test_no_partial_grade_is_posted_and_the_report_says_whose_is_held_back(handed_back):
    """A score whose written answers no grader has scored yet is not final: canvas.csv leaves it
    blank (a partial score would reach students as their grade), and `vicourse report` names them."""
    root, outcomes = handed_back
    waiting = sorted(s for s, o in outcomes.items() if o.status == "graded" and s not in WRITTEN)
    assert "1009" in waiting
    body = {r[1].removeprefix("'"): r[5] for r in read_csv(root / "reports" / A / "canvas.csv")[2:]}
    assert [s for s in waiting if body[s] != ""] == []
    ran = subprocess.run([*run_module_command("vicourse"), "report", A], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    said = ran.stdout[ran.stdout.index("canvas.csv leaves the score blank"):].split("questions:")[0]
    held = [s for s in outcomes if s not in WRITTEN]
    assert f"for {len(held)} of {len(outcomes)} submissions" in said, said
    named = {word.strip(",") for word in said.split(": ", 1)[1].split()}
    assert named >= set(waiting) - {HOSTILE_ID} and not named & set(WRITTEN), said


def test_no_cell_is_read_as_a_formula(handed_back, tmp_path):
    root, _ = handed_back
    for name in ("grades.csv", "canvas.csv", "similarity.csv"):
        for row in read_csv(root / "reports" / A / name):
            assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row), (name, row)
    exported = nbgrader(root, "export", "--to", str(tmp_path / "export.csv"))  # the names collect recorded
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "export.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))  # written unquoted: a comma in a name would add a column
    assert "smithjane" in {r["last_name"] for r in rows} and all(None not in r for r in rows if r["student_id"].isdigit())
    assert not [r for r in rows if r["last_name"][:1] in ("=", "+", "-", "@")]
    assert any(row[0] == "'" + HOSTILE_ID for row in read_csv(root / "reports" / A / "grades.csv"))
    formula_name = next(row[0] for row in read_csv(root / "reports" / A / "canvas.csv") if row[1] == "1007")
    assert formula_name == "'=HYPERLINK( evil.example x )"  # the LMS name, defused


def test_class_report_is_self_contained_with_a_histogram_per_question(handed_back):
    root, outcomes = handed_back
    html = (root / "reports" / A / "class_report.html").read_text()
    columns = question_scores(root, A)[0]
    assert html.count('<figure class="question"') == len(columns)
    for column in columns:
        assert f'data-question="{column}"' in html
    for label in ("A double", "B half", "B explain"):  # as the notebook heads them, not test_double
        assert f"<figcaption>{label}: " in html
    hardest = html.split("<h2>Hardest questions</h2>")[1].split("</table>")[0]
    assert "<td>A double</td>" in hardest and "test_" not in hardest
    images = html.split('src="')[1:]
    assert len(images) == len(columns) + 1  # the distribution, then one per question
    for image in images:
        assert image.startswith("data:image/png;base64,")
        assert base64.b64decode(image.split('"')[0].split(",")[1])[:4] == b"\x89PNG"
    assert "http://" not in html and "https://" not in html
    for heading in ("Score distribution", "Hardest questions", "Slowest submissions", "Not fully graded", "Isolation"):
        assert heading in html
    assert "sandboxed" in html and "written answers not graded yet" in html
    assert SCRIPT not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_similarity_finds_the_renamed_copy_first(handed_back):
    root, _ = handed_back
    rows = read_csv(root / "reports" / A / "similarity.csv")[1:]
    top = max(float(r[2]) for r in rows)
    pair = next(r for r in rows if {r[0], r[1]} == {"1001", "1005"})
    assert float(pair[2]) == top and "double 100%" in pair[3]
    against_solution = next(r for r in rows if {r[0], r[1]} == {"1001", "1002"})
    assert "double" not in against_solution[3]
    html = (root / "reports" / A / "similarity.html").read_text()
    assert "1001 and 1005" in html and "not a verdict" in html


def test_feedback_shows_scores_and_messages_never_the_hidden_inputs_or_the_grader(handed_back):
    root, _ = handed_back
    result = nbgrader(root, "generate_feedback", A, "--student", "1006", "--force")
    assert result.returncode == 0, result.stderr
    html = (root / "feedback" / "1006" / A / f"{A}.html").read_text()
    assert "HiddenCheckFailed" in html and "double" in html and "Score" in html
    assert "no grader here" in html  # the spy ran, and could not read the grader
    hidden = np.random.default_rng(0).normal(size=5)  # the toy grader's hidden input
    shown = [root / "feedback" / "1006" / A / f"{A}.html", root / "reports" / A / "gradescope" / "1006" / "results.json",
             root / "reports" / A / "class_report.html", root / "reports" / A / "grades.csv"]
    grader_source = (root / "grader_tests" / f"test_{A}.py").read_text()
    for path in shown:
        text = path.read_text()
        for value in hidden:
            assert f"{abs(value):.6f}"[2:] not in text, (path, value)
        assert "default_rng(0)" not in text and "assert_close(nb" not in text, path
        assert grader_source.splitlines()[0] not in text, path


def test_feedback_says_not_graded_yet_and_names_the_questions(handed_back):
    """`vicourse feedback` warns that written answers wait for a grader, and the pages say so
    instead of "Score: 0.0 / 1.0"; every graded cell is named as the notebook heads it."""
    root, _ = handed_back
    ran = subprocess.run([*run_module_command("vicourse"), "feedback", A], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    warning = ran.stderr[ran.stderr.index("WARNING: written answers not graded yet"):]
    assert "1009" in warning and "1001" not in warning
    def page(student):
        return (root / "feedback" / student / A / f"{A}.html").read_text()
    waiting, graded = page("1009"), page("1001")  # full marks on the autograded questions, both
    assert '<li><a href="#explain">B explain</a> (not graded yet; 1.0 points)</li>' in waiting
    assert "Not graded yet (1.0 points)" in waiting and "(Score so far: 3.0 / 4.0; written answers not graded yet)" \
        in waiting
    assert "Score: 0.0 / 1.0" not in waiting and "Written response" not in waiting
    assert '<li><a href="#explain">B explain</a> (Score: 1.0 / 1.0)</li>' in graded
    assert '<li><a href="#test_double">A double</a> (Score: 2.0 / 2.0)</li>' in graded
    assert "not graded yet" not in graded.lower() and "Test cell" not in graded
    assert '<span class="nbgrader-label">B half</span>' in graded
    for html in (waiting, graded):  # still made safe to open (vicourse/reports/html_safety.py)
        assert html.count("Content-Security-Policy") == 1


GRADER_REWRITE = """import numpy as np

for path in ({grader!r}, {gradebook!r}):
    try:  # make the hidden check a no-op, and spoil the gradebook
        with open(path, "a") as handle:
            handle.write("\\ndef test_double(nb):\\n    pass\\n")
    except OSError as error:
        print("cannot write", error)
try:
    print(open({grader!r}).read())
except OSError as error:
    print("cannot read", error)

def double(x):
    return 2 if np.ndim(x) == 0 and x == 1 else 0  # passes the visible assert only
"""


def test_grade_one_grades_a_notebook_in_the_sandbox_with_the_course_graders(handed_back, tmp_path):
    """grade-one runs student code, so it gets an attack: rewriting the grader and the gradebook."""
    root, _ = handed_back
    grader, gradebook = root / "grader_tests" / f"test_{A}.py", root / "gradebook.db"
    before = grader.read_bytes(), gradebook.read_bytes()
    nb = examples.filled(read_notebook(root / "release" / A / f"{A}.ipynb"), read_notebook(source_notebook(root, A)),
                         replace={"double": GRADER_REWRITE.format(grader=str(grader), gradebook=str(gradebook))})
    path = tmp_path / "mine.ipynb"  # not named after the assignment: found from its cells
    nbformat.write(nb, path)
    result = subprocess.run([*run_module_command("vicourse"), "grade-one", str(path), "--json",
                             "--cell-timeout", "5"], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert gradescope.problems(data) == []
    assert data["score"] == 1 and {t["name"]: t["score"] for t in data["tests"]} == {"A double": 0, "B half": 1}
    assert (grader.read_bytes(), gradebook.read_bytes()) == before
    assert "assert_close" not in result.stdout


def test_names_reach_the_gradebook_formgrader_and_reports(handed_back, tmp_path):
    """Last in the module: the roster it loads renames students the other tests read."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from vicourse.course import check_config

    root, _ = handed_back
    config = check_config(root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)  # what formgrader shows
    names = {s["id"]: (s["first_name"], s["last_name"]) for s in api.get_students()}
    assert names["1001"] == ("", "smithjane") and names["2001"] == ("", "mallory")
    assert names[HOSTILE_ID] == (None, None)
    grades = {r["student"].removeprefix("'"): r for r in csv.DictReader((root / "reports" / A / "grades.csv").open(newline=""))}
    assert grades["1001"]["name"] == "smithjane" and grades[HOSTILE_ID]["name"] == ""
    html = (root / "reports" / A / "class_report.html").read_text()
    assert "<td>2001</td><td>mallory</td><td>2 d 9 h 36 min</td>" in html

    # a roster is the authority: it overwrites, and a bad line writes nothing
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first name,last name\n1001,Jane,Smith\n1008,Robert,Tables\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("1002,John,Doe\n../x,Evil,Path\n")
    run = [*run_module_command("vicourse"), "roster"]
    refused = subprocess.run([*run, str(bad)], cwd=root, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "line 2: '../x' is not a plain student id" in refused.stderr
    done = subprocess.run([*run, str(roster)], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "names of 2 students recorded" in done.stdout
    names = {s["id"]: (s["first_name"], s["last_name"]) for s in api.get_students()}
    assert names["1001"] == ("Jane", "Smith") and names["1008"] == ("Robert", "Tables") and names["1002"] == ("", "doejohn")
    all_reports.write_all(root, A)
    grades = {r["student"]: r for r in csv.DictReader((root / "reports" / A / "grades.csv").open(newline=""))}
    assert grades["1001"]["name"] == "Jane Smith"
