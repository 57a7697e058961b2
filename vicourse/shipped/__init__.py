"""Modules that ship inside release folders.

A notebook may import a module from this folder by its bare name (`import
vi_torch`).  Releases, solution builds and grading kernels all get a copy of
each such module beside the notebook, so one file here serves every assignment
that uses it, and a student's folder stays self-contained.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..course import read_notebook, source_notebook

HERE = Path(__file__).resolve().parent
IMPORT = re.compile(r"^\s*(?:from|import)\s+(\w+)", re.M)


def available() -> dict[str, Path]:
    """Module name -> file, for every module that can ship."""
    return {p.stem: p for p in sorted(HERE.glob("*.py")) if not p.stem.startswith("_")}


def imported_by(nb) -> list[Path]:
    """The shippable modules a notebook's code cells import."""
    names = {m for cell in nb.cells if cell.cell_type == "code" for m in IMPORT.findall(cell.source)}
    return [path for name, path in available().items() if name in names]


def ship(nb, folder: Path) -> list[Path]:
    """Copy the modules `nb` imports into `folder`; the copies' paths."""
    copies = []
    for path in imported_by(nb):
        target = Path(folder) / path.name
        shutil.copyfile(path, target)
        copies.append(target)
    return copies


def trains_networks(root: Path, assignment: str) -> bool:
    """Whether an assignment is a torch notebook: one that imports a shipped module (the torch
    foundation) and trains networks, so it has the larger time budget."""
    return bool(imported_by(read_notebook(source_notebook(root, assignment))))


def working_copy(root: Path, assignment: str, target: Path) -> Path:
    """`target` filled as a student's folder would be: the source folder's files
    (not the instructor notebook) and the modules the notebook imports."""
    source = Path(root) / "source" / assignment
    target = Path(target)
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(f"{assignment}.ipynb",
                                                                                        ".ipynb_checkpoints"))
    ship(read_notebook(source_notebook(root, assignment)), target)
    return target
