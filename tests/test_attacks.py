"""Hostile submissions of 01, one per attack class (tests/attacks.py), each on an
otherwise blank notebook, graded in ONE batch with correct, blank and all-wrong
submissions. Every attack must earn nothing, change nothing it should not,
leave no process behind and reach no listener; classmates keep their marks;
every submission gets exactly one outcome, with the reason.

CI must sandbox (the wheel ships bwrap); elsewhere the suite is skipped only
with a message naming what is missing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import socket
import threading
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

from attacks import FORGED_SCORE, MARKDOWN_INJECTION, MEMORY_SPREAD, SHADOW_FILES, attack_cells
from conftest import ROOT, grader_module
from vicourse.__main__ import feedback
from vicourse.authoring import examples, release
from vicourse.authoring.variant_grader import defined_names
from vicourse.batch import coordinator
from vicourse.course import copy_course, read_notebook, source_notebook
from vicourse.grading.graded_outputs import NEUTRALISED
from vicourse.grading.sandbox_host import course_key, uid_range
from vicourse.grading.sandbox_isolation import isolation
from vicourse.reports import report
from vicourse.reports.html_safety import dangerous_url

NAME = "01_entropy_kl"
ISOLATION = isolation()
if not ISOLATION.sandboxed and not os.environ.get("CI"):
    pytest.skip(f"no sandbox on this machine: {ISOLATION.summary}", allow_module_level=True)

CORRECT = ("z-correct-1", "z-correct-2")
# correct but for one of the four true/false items of H1 (1 point), and forging a full score
FORGER = "f-forged-score"
ONE_TF_WRONG = {"tf_answers": "tf_answers = {1: True, 2: True, 3: True, 4: False}\n"}
BASELINE = ("b-blank", "w-all-wrong")


OTHER = "02_elbo"
# Notebooks that nbgrader would choke on, or that are not this assignment's: each gets a reason, the
# batch goes on. Those still readable are graded; the correct ones keep full marks.
def without_metadata(root) -> str:
    raw = json.loads((root / "release" / NAME / f"{NAME}.ipynb").read_text())
    for cell in raw["cells"]:
        cell.pop("metadata")
    return json.dumps(raw)


V3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
      "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [], "metadata": {}}]}]}
# written as files, as they are: {submission: (its text, the reason its outcome must give)}
RAW = {
    "m1-empty-json": (lambda root: "{}", "not a notebook: the JSON has no nbformat version"),
    "m2-a-list": (lambda root: "[1, 2, 3]", "not a notebook: the JSON has no nbformat version"),
    "m3-nbformat-5": (lambda root: json.dumps({"nbformat": 5, "cells": []}), "nbformat 5, expected 4"),
    "m4-another-assignment": (lambda root: (root / "release" / OTHER / f"{OTHER}.ipynb").read_text(),
                              f"this is {OTHER}'s notebook, not {NAME}'s"),
    "m5-cells-without-metadata": (without_metadata, "cells had no metadata"),
    "m8-nbformat-3": (lambda root: json.dumps(V3), "an nbformat 3 notebook"),
}
FULL_MARKS_DESPITE = ("m6-duplicated-test-cell", "m7-cell-from-another-notebook")


def malformed_but_readable(release_nb, source_nb, root):
    correct = examples.filled(release_nb, source_nb)
    duplicated = nbformat.from_dict(json.loads(nbformat.writes(correct)))
    test_cell = next(i for i, c in enumerate(duplicated.cells) if c.metadata.get("nbgrader", {}).get("grade")
                     and not c.metadata["nbgrader"].get("solution"))
    duplicated.cells.insert(test_cell + 1, nbformat.from_dict(json.loads(json.dumps(duplicated.cells[test_cell]))))
    pasted = nbformat.from_dict(json.loads(nbformat.writes(correct)))
    other = read_notebook(root / "release" / OTHER / f"{OTHER}.ipynb")
    foreign = next(c for c in other.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    pasted.cells.insert(3, foreign)
    return {FULL_MARKS_DESPITE[0]: duplicated, FULL_MARKS_DESPITE[1]: pasted}


def all_wrong(release_nb, source_nb):
    """Every code answer replaced by definitions of the same names that return a wrong number."""
    solutions = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    wrong = {}
    for grade_id, source in solutions.items():
        if any(c.metadata.get("nbgrader", {}).get("grade_id") == grade_id and c.cell_type == "code"
               for c in release_nb.cells):
            wrong[grade_id] = "".join(f"{name} = lambda *args, **kwargs: 0.123\n" for name in defined_names(source))
    return examples.filled(release_nb, source_nb, replace=wrong)


def with_attack(release_nb, code: str, markdown: str = ""):
    """The blank release with the attack as an extra cell near the top, and `markdown`
    as the answer to every written question."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(release_nb)))
    nb.cells.insert(1, new_code_cell(code))
    for cell in nb.cells:
        if markdown and cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = markdown
    return nb


def fingerprints(root: Path, *parts: str) -> dict[str, str]:
    found = {}
    for part in parts:
        base = root / part
        for path in sorted([base] if base.is_file() else base.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def marked_processes(marker: str, course: Path) -> list[str]:
    """Processes whose command line carries the marker, or that run as a sandbox uid of this course
    (another course's kernels, graded at the same time on a shared machine, are not ours to count)."""
    uids = uid_range(course_key(course))
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            uid = int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        if marker in cmdline or uid in uids:
            left.append(f"{pid} (uid {uid}): {cmdline[:120]}")
    return left


class Listener:
    """A TCP port on loopback that counts who connects."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.socket.accept()
                self.connections += 1
                connection.close()
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.socket.close()


@pytest.fixture(scope="module")
def battle(tmp_path_factory):
    root = copy_course(ROOT, tmp_path_factory.mktemp("attacked"), parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME, OTHER])
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    source_nb = read_notebook(source_notebook(root, NAME))
    marker = "vicourse-attack-" + secrets.token_hex(6)
    listener = Listener()
    _, checks = grader_module(NAME)
    cells = attack_cells(course=str(root), library=str(ROOT / "vicourse"), gradebook=str(root / "gradebook.db"),
                         port=listener.port, marker=marker, checks=sorted(checks))
    submissions = {name: with_attack(release_nb, code) for name, code in cells.items()}
    submissions["a11-html-injection"] = with_attack(release_nb, cells["a11-html-injection"],
                                                    MARKDOWN_INJECTION.format(marker=marker))
    submissions.update({"b-blank": release_nb, "w-all-wrong": all_wrong(release_nb, source_nb)})
    submissions.update(malformed_but_readable(release_nb, source_nb, root))
    submissions.update({name: examples.filled(release_nb, source_nb) for name in CORRECT})
    forger = examples.filled(release_nb, source_nb, replace=ONE_TF_WRONG)
    forger.cells.insert(1, new_code_cell(FORGED_SCORE))
    submissions[FORGER] = forger
    examples.submit(root, NAME, submissions)
    # links in a submitted folder, to the grader and the gradebook, for the kernel to read
    links = root / "submitted" / "a3-read-secrets" / NAME
    (links / "grader.py").symlink_to(root / "grader_tests" / f"test_{NAME}.py")
    (links / "gradebook.db").symlink_to(root / "gradebook.db")
    for filename, text in SHADOW_FILES.items():
        (root / "submitted" / "a12-shadow-modules" / NAME / filename).write_text(text.format(marker=marker))
    for name, (text, _) in RAW.items():
        (root / "submitted" / name / NAME).mkdir(parents=True)
        (root / "submitted" / name / NAME / f"{NAME}.ipynb").write_text(text(root))
    protected = ("grader_tests", "source", "release", "submitted", "nbgrader_config.py")
    before = fingerprints(root, *protected) | fingerprints(ROOT, "vicourse")
    startup = Path.home() / ".ipython" / "profile_default" / "startup"
    try:
        outcomes = coordinator.grade_all(root, NAME, workers=2, timeout=600,
                                   extra=["--Execute.timeout=15", "--ExecuteWithChecks.check_timeout=10"])
        left_behind = marked_processes(marker, root)
    finally:
        listener.close()
    after = fingerprints(root, *protected) | fingerprints(ROOT, "vicourse")
    planted = sorted(startup.glob(f"*{marker}*"))
    for path in planted:  # should the sandbox ever fail, leave no trap for later kernels
        path.unlink()
    columns, scores, max_points, manual = report.question_scores(root, NAME)
    auto = [c for c in columns if c not in manual]
    return {
        "root": root, "outcomes": outcomes, "left_behind": left_behind, "connections": listener.connections,
        "changed": sorted(p for p in before if before[p] != after.get(p)),
        "points": {s: sum(scores.get(s, {}).get(c) or 0 for c in auto) for s in submissions},
        "scores": scores, "max_points": max_points,
        "full": sum(max_points[c] for c in auto), "names": sorted([*submissions, *RAW]),
        "csv": report.write_report(root, NAME), "startup_files": planted, "marker": marker,
    }


def test_grading_was_sandboxed(battle):
    assert ISOLATION.sandboxed, ISOLATION.summary
    assert {o.isolation for o in battle["outcomes"]} == {ISOLATION.summary}


@pytest.mark.parametrize("attack", sorted(attack_cells(course="", library="", gradebook="", port=0, marker="",
                                                       checks=[])))
def test_every_attack_earns_nothing(battle, attack):
    assert battle["points"][attack] == 0


def test_a_hook_that_answers_every_request_again_fails_the_calls(battle):
    """The forged replies reach the grader (the hook ran after the silent requests) and are refused."""
    record = json.loads((battle["root"] / coordinator.RESULTS / "a4-forged-replies" / f"{NAME}.json").read_text())
    assert any("no single valid reply" in (message or "") for message in record["checks"].values()), record["checks"]


def test_a_kernel_cannot_award_itself_a_score(battle):
    """Only the grading process writes a score into a test cell: one true/false item wrong of
    four earns exactly 1/2 of H1 (right minus wrong), the forged execute_results count for nothing, and the
    full-point cells keep their points (a forged 1.0 would lower the 2-point ones)."""
    scores = battle["scores"][FORGER]
    assert scores["test_tf_answers"] == battle["max_points"]["test_tf_answers"] / 2
    assert battle["points"][FORGER] == battle["full"] - battle["max_points"]["test_tf_answers"] / 2
    graded = read_notebook(battle["root"] / "autograded" / FORGER / NAME / f"{NAME}.ipynb")
    h1 = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_tf_answers")
    forged = [o for o in h1.outputs if o.get("metadata", {}).get("vicourse") == NEUTRALISED]
    assert forged and forged[0].data["text/plain"] == "1.0", "the forgery ran, and was kept only as display"
    results = [o for o in h1.outputs if o.output_type == "execute_result"]
    assert [o.data["text/plain"] for o in results] == [repr(battle["max_points"]["test_tf_answers"] / 2)]


def test_correct_submissions_keep_full_marks_and_baselines_earn_nothing(battle):
    assert battle["full"] > 0
    assert [battle["points"][name] for name in CORRECT] == [battle["full"]] * len(CORRECT)
    assert [battle["points"][name] for name in BASELINE] == [0, 0]


def test_no_protected_file_changed(battle):
    assert battle["changed"] == []
    assert battle["startup_files"] == [], "a kernel wrote IPython start-up files into the grader's home"


def test_no_process_outlives_grading(battle):
    assert battle["left_behind"] == []


def test_no_connection_reached_the_listener(battle):
    assert battle["connections"] == 0


def test_one_outcome_per_submission_with_the_reason(battle):
    outcomes = {o.student: o for o in battle["outcomes"]}
    assert sorted(outcomes) == battle["names"]
    saved = json.loads((battle["root"] / "reports" / NAME / "outcomes.json").read_text())
    assert sorted(o["student"] for o in saved) == battle["names"]
    for outcome in outcomes.values():
        assert outcome.status == "graded" or outcome.notes, outcome
    with battle["csv"].open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert sorted(row[0] for row in rows) == battle["names"]
    assert "GRADEBOOK DISAGREES" not in battle["csv"].read_text()


def test_flooded_output_is_truncated_with_a_note(battle):
    root = battle["root"]
    graded = root / "autograded" / "a10-output-flood" / NAME / f"{NAME}.ipynb"
    assert graded.stat().st_size < 25_000_000
    assert "output truncated" in " ".join(next(o for o in battle["outcomes"] if o.student == "a10-output-flood").notes)


def test_symbolic_links_in_a_submission_are_dropped_and_reported(battle):
    outcome = next(o for o in battle["outcomes"] if o.student == "a3-read-secrets")
    assert "symbolic links in the submission were dropped: gradebook.db, grader.py" in outcome.notes
    staged = battle["root"] / "autograded" / "a3-read-secrets" / NAME
    assert not (staged / "grader.py").exists() and not (staged / "gradebook.db").exists()


def test_feedback_never_shows_the_graders_or_the_solution(battle):
    root = battle["root"]
    feedback(root, NAME)
    grader_text = (root / "grader_tests" / f"test_{NAME}.py").read_text()
    secret_lines = [line.strip() for line in grader_text.splitlines() if len(line.strip()) > 40][:20]
    assert secret_lines
    for name in ("a3-read-secrets", "a4-forged-replies", "a10-output-flood"):
        html = (root / "feedback" / name / NAME / f"{NAME}.html").read_text()
        assert len(html) < 30_000_000
        assert not [line for line in secret_lines if line in html], name


def test_no_script_reaches_the_viewers_of_a_graded_notebook(battle):
    """Formgrader and feedback render the student's markdown and outputs as HTML."""
    root, marker = battle["root"], battle["marker"]
    graded = (root / "autograded" / "a11-html-injection" / NAME / f"{NAME}.ipynb").read_text()
    assert "text/html" not in graded and "application/javascript" not in graded and "image/svg+xml" not in graded
    feedback(root, NAME, "a11-html-injection")
    html = (root / "feedback" / "a11-html-injection" / NAME / f"{NAME}.html").read_text()
    assert marker in html  # the answer is shown, as text
    assert f"<script>alert('{marker}')" not in html
    assert not re.search(r"<[a-z]+[^>]*\son(error|mouseover|load)=", html)
    assert script_urls(html) == []
    directives = dict(d.strip().split(" ", 1) for d in policy_of(html).split(";"))
    assert "'unsafe-inline'" not in directives["script-src"] and "'none'" in directives["default-src"]
    for cell in json.loads(graded)["cells"]:  # only numeric image sizes survive in output metadata
        for output in cell.get("outputs", []):
            for fields in output.get("metadata", {}).values():
                assert all(isinstance(v, (int, float)) for v in fields.values()), output["metadata"]


def test_modules_submitted_beside_the_notebook_are_never_imported(battle):
    """The kernel runs in a copy of the release folder, so a submitted numpy.py or vi_torch.py stays inert."""
    graded = battle["root"] / "autograded" / "a12-shadow-modules" / NAME / f"{NAME}.ipynb"
    assert f"{battle['marker']}-shadow" not in graded.read_text()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value or "" for name, value in attrs if name in ("href", "src", "action", "formaction")]


def script_urls(page: str) -> list[str]:
    """The URLs in a page's attributes that a browser would run as script or open as a document."""
    parser = _Links()
    parser.feed(page)
    return [url for url in parser.urls if dangerous_url(url) and not url.startswith("data:image/png;base64,")]


def policy_of(page: str) -> str:
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    return found.group(1).replace("&#x27;", "'") if found else ""


def attack_result(battle, name: str) -> dict:
    """What an attack cell printed about itself ("<marker>-result <json>"), from its graded notebook."""
    graded = read_notebook(battle["root"] / "autograded" / name / NAME / f"{NAME}.ipynb")
    tag = f"{battle['marker']}-result "
    for output in graded.cells[1].get("outputs", []):
        text = output.get("text", "")
        if tag in text:
            return json.loads(text.split(tag, 1)[1].splitlines()[0])
    raise AssertionError(f"{name} printed no result: {graded.cells[1].get('outputs')}")


def needs(available, what: str):
    if not available and not os.environ.get("CI"):
        pytest.skip(f"{what} not available here: {ISOLATION.summary}")


def test_a_kernel_cannot_hold_more_memory_by_spreading_it_over_processes(tmp_path):
    """Four processes of 1.25 GiB each: the kernel's 4 GiB are counted over all its processes."""
    needs(ISOLATION.hierarchy, "control groups")
    root = copy_course(ROOT, tmp_path / "course", parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME])
    marker = "vicourse-attack-" + secrets.token_hex(6)
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    examples.submit(root, NAME, {"a13-memory-spread": with_attack(release_nb, MEMORY_SPREAD.format(marker=marker))})
    coordinator.grade_all(root, NAME, workers=1, timeout=600, extra=["--Execute.timeout=120"])
    result = attack_result({"root": root, "marker": marker}, "a13-memory-spread")
    assert result["allocating"] == 0, f"the attack did not finish in its 100 s (a busy machine?): {result}"
    assert result["holding"] <= 3 and result["killed"] >= 1, result


def test_the_socket_folder_is_capped_in_size_and_files(battle):
    needs(os.geteuid() == 0, "a capped tmpfs for the socket folder (grading as root)")
    result = attack_result(battle, "a14-socket-flood")
    assert result["files"] <= 64 and result["bytes"] <= 1 << 20, result


def test_system_calls_beyond_the_sandbox_are_refused(battle):
    needs(ISOLATION.seccomp_file, "a seccomp filter")
    result = attack_result(battle, "a15-syscalls")
    assert {call: said for call, said in result.items() if said != "Operation not permitted"} == {}


def test_nothing_the_student_chose_reaches_the_messages(battle):
    """An exception class named after the hidden inputs: the check names no class it did not choose."""
    root, marker = battle["root"], battle["marker"]
    record = json.loads((root / coordinator.RESULTS / "a16-leaky-exception" / f"{NAME}.json").read_text())
    messages = " ".join(m or "" for m in record["checks"].values())
    assert "raised an exception on the grader's inputs" in messages
    feedback(root, NAME, "a16-leaky-exception")
    report.write_report(root, NAME)
    places = {"grading record": messages,
              "feedback": (root / "feedback" / "a16-leaky-exception" / NAME / f"{NAME}.html").read_text(),
              "grades.csv": (root / "reports" / NAME / "grades.csv").read_text()}
    places.update({p.parent.name: p.read_text() for p in (root / "reports" / NAME / "gradescope").glob("*/results.json")})
    # the attack's own source, shown in its feedback, names the class's prefix; the leak is what follows it
    assert [where for where, text in places.items() if re.search(rf"Leak{marker}\w", text)] == []


def test_notebooks_nbgrader_cannot_read_get_a_reason_and_the_batch_goes_on(battle):
    outcomes = {o.student: o for o in battle["outcomes"]}
    for name, (_, reason) in RAW.items():
        assert any(reason in note for note in outcomes[name].notes), (name, outcomes[name])
    for name in ("m1-empty-json", "m2-a-list", "m3-nbformat-5", "m4-another-assignment"):
        assert outcomes[name].status == "unreadable"
    assert outcomes["m5-cells-without-metadata"].status == "graded"
    for name in FULL_MARKS_DESPITE:
        assert outcomes[name].status == "graded" and battle["points"][name] == battle["full"], outcomes[name]
    assert any("appears 2 times" in note for note in outcomes[FULL_MARKS_DESPITE[0]].notes)
    assert any("not one of this assignment's" in note for note in outcomes[FULL_MARKS_DESPITE[1]].notes)


LOOKUP = '''
import json
import numpy as np
TABLE = {table!r}
def entropy(p):
    return TABLE.get(json.dumps(np.round(np.asarray(p, dtype=float), 9).tolist()), 0.123)
'''


def test_hidden_inputs_do_not_repeat_from_one_batch_to_the_next(tmp_path):
    """A submission that answers entropy's hidden inputs from a lookup table (what a student
    could have collected from an earlier batch, were its inputs fixed) earns the points in the
    batch whose secret made the table, and nothing in the next one."""
    import hmac

    from vicourse.grading.checking import set_grading_secret
    from vicourse.grading.student import local_student

    root = copy_course(ROOT, tmp_path / "course", parts=("source", "grader_tests"))
    release.generate_releases(root, [NAME])
    module, checks = grader_module(NAME)
    secret = b"a batch whose hidden inputs leaked"
    table = {}

    def recorder(p):
        table[json.dumps(np.round(np.asarray(p, dtype=float), 9).tolist())] = module._ref_entropy(np.asarray(p, float))
        return table[json.dumps(np.round(np.asarray(p, dtype=float), 9).tolist())]

    set_grading_secret(hmac.new(secret, b"replayer", "sha256").hexdigest()[:32])  # as the batch derives it
    assert checks["test_entropy"](local_student({"entropy": recorder})) is None
    release_nb = read_notebook(root / "release" / NAME / f"{NAME}.ipynb")
    visible = next(c for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_entropy")
    exec(visible.source, {"entropy": recorder, "np": np})  # the visible asserts' inputs: in the notebook anyway
    replayer = examples.filled(release_nb, read_notebook(source_notebook(root, NAME)),
                               replace={"entropy": LOOKUP.format(table=table)})
    examples.submit(root, NAME, {"replayer": replayer})
    options = ["--Execute.timeout=15", "--ExecuteWithChecks.check_timeout=10"]

    def entropy_points(**kwargs) -> float:
        coordinator.grade_all(root, NAME, workers=1, timeout=300, extra=options, force=True, **kwargs)
        return report.question_scores(root, NAME)[1]["replayer"]["test_entropy"]

    assert entropy_points(secret=secret) > 0, "the table answers the batch it was made from"
    assert entropy_points() == 0, "a fresh batch draws inputs the table does not have"
