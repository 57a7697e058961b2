"""A misspelt class or setting in nbgrader_config.py stops every command, naming the closest valid
one: nbgrader and traitlets would ignore it and grade on their defaults (a 30 s cell limit instead
of the course's, no custom preprocessor)."""

import pytest

from conftest import ROOT
from vicourse.__main__ import main
from vicourse.apps.config_check import ConfigError
from vicourse.course import check_config, copy_course

TOY = ROOT / "tests" / "fixtures" / "toy_course"
TYPOS = """
c.Execute.timout = 300
c.ExecuteWithCheck.check_timeout = 5
"""


@pytest.fixture
def misspelt(tmp_path, monkeypatch):
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + TYPOS)
    root = copy_course(TOY, tmp_path / "course", config=config)
    monkeypatch.chdir(root)
    return root


def test_the_course_config_is_accepted_as_it_is():
    check_config(ROOT)


def test_settings_of_classes_the_config_does_not_import_are_accepted(tmp_path):
    """nbgrader's apps, exchange and plugins, nbconvert's exporters, the course's own classes, and a
    setting given to a parent class for its subclass, as traitlets applies them."""
    config = tmp_path / "nbgrader_config.py"
    config.write_text((ROOT / "nbgrader_config.py").read_text() + """
c.ZipCollectApp.archive_directory = "archive"
c.Exchange.root = "/srv/nbgrader/exchange"
c.LateSubmissionPlugin.penalty_method = "none"
c.SafeExchangeCollect.check_owner = True
c.WebPDFExporter.paginate = False
c.Execute.check_timeout = 20
c.Course.deadlines = {}
""")
    check_config(copy_course(TOY, tmp_path / "course", config=config))


def test_a_misspelt_setting_or_class_is_refused_with_the_closest_name(misspelt):
    with pytest.raises(ConfigError) as refused:
        check_config(misspelt)
    message = str(refused.value)
    assert "`c.Execute.timout`" in message and "did you mean `c.Execute.timeout`?" in message, message
    assert "`c.ExecuteWithCheck`" in message and "did you mean `c.ExecuteWithChecks`?" in message, message
    lines = (misspelt / "nbgrader_config.py").read_text().splitlines()
    assert f"(line {lines.index('c.Execute.timout = 300') + 1})" in message, message


@pytest.mark.parametrize("command", [["release"], ["grade", "00_toy"], ["report", "00_toy"], ["check-config"]])
def test_every_command_stops_before_doing_anything(capsys, misspelt, command):
    try:
        main(command)
        code = 0
    except SystemExit as done:
        code = done.code
    _, err = capsys.readouterr()
    assert code == 3, err
    assert "did you mean `c.Execute.timeout`?" in err and "Traceback" not in err, err
    assert sorted(p.name for p in misspelt.iterdir()) == ["grader_tests", "nbgrader_config.py", "source"]
