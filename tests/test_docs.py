"""The README is a newcomer's first day, and every guide it points to is there."""

import re

from conftest import ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_a_first_day_and_links_each_role_to_its_guide():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for guide in ("docs/instructor.md", "docs/ta.md", "docs/students.md", "docs/design.md", "benchmarks/README.md"):
        assert f"]({guide})" in text, guide
    assert "make demo" in text and "make test" in text


def test_every_relative_link_in_the_docs_resolves():
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
