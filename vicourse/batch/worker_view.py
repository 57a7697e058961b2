"""What a grading worker is given of the course: what grading needs, and nothing more.

A worker on another machine may be one a student could reach (docs/cluster.md), so the
coordinator keeps two things of stock nbgrader's autograde away from it:

* the instructor notebooks. Stock autograde copies the files of source/<A>/ other than
  notebooks over each submission (data files a student must not replace); it never opens
  the notebooks, which hold the solutions. The coordinator copies those other files to
  build/worker-source/<A>/ and workers take them from there, never from source/.
* the rubrics. The gradebook keeps each locked cell's text as the instructor wrote it,
  rubric ("mark scheme") included, and autograde writes that text back into the graded
  notebook for formgrader. A worker's template gradebook holds, instead, the text students
  were given (stock ClearMarkScheme's, with its checksum), so the worker grades exactly as
  before; the coordinator puts each rubric back into the graded notebook it receives,
  where stock autograde would have put it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

WORKER_SOURCE = "build/worker-source"


def source_folder(root: Path, assignment: str) -> Path:
    """build/worker-source/<A>/: the files of source/<A>/ other than notebooks. Returns
    build/worker-source, the source directory a worker's autograde is pointed at."""
    target = root / WORKER_SOURCE / assignment
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    source = root / "source" / assignment
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    return root / WORKER_SOURCE


def template(gradebook, assignment: str, target: Path, course_id: str, config) -> tuple[Path, dict]:
    """The template gradebook workers copy (gradebook_rows.write_template), without
    rubrics: made on this machine's own disk, then moved to `target`, so no version with
    rubrics is ever in the shared folder. Returns it and what `restore_rubrics` needs."""
    import sqlite3
    import tempfile

    from .gradebook_rows import write_template

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vicourse-template-") as private:
        made = write_template(gradebook, assignment, Path(private) / target.name, course_id)
        rubrics = strip_rubrics(made, config)
        # SQLite built without secure_delete (Debian's has it) leaves replaced text in free pages; VACUUM
        # writes the file anew without them
        connection = sqlite3.connect(made, isolation_level=None)
        connection.execute("VACUUM")
        connection.close()
        fresh = target.with_name(f".{target.name}.new")
        shutil.copyfile(made, fresh)
        fresh.replace(target)
    return target, rubrics


def strip_rubrics(template: Path, config) -> dict:
    """Take the rubrics out of a template gradebook, in place.

    Returns {notebook: {cell: [the stored text, its checksum, the text the worker has, its
    checksum]}} for each locked cell that held one, for `restore_rubrics`."""
    from nbformat import NotebookNode
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import ClearMarkScheme
    from nbgrader.utils import compute_checksum

    clear = ClearMarkScheme(config=config)
    changed: dict = {}
    with Gradebook(f"sqlite:///{template}") as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                graded = {cell.name: cell.max_score for cell in notebook.grade_cells}
                answers = {cell.name for cell in notebook.solution_cells}
                for stored in notebook.source_cells:
                    if not stored.locked:
                        continue  # autograde writes only locked cells' stored text into a graded notebook
                    metadata = {"grade": stored.name in graded, "solution": stored.name in answers,
                                "locked": True, "grade_id": stored.name}
                    if stored.name in graded:
                        metadata["points"] = graded[stored.name]
                    cell = NotebookNode(cell_type=stored.cell_type, source=stored.source,
                                        metadata=NotebookNode(nbgrader=NotebookNode(metadata)))
                    clear.preprocess_cell(cell, {}, 0)
                    if cell.source == stored.source:
                        continue
                    given = compute_checksum(cell)
                    changed.setdefault(notebook.name, {})[stored.name] = [stored.source, stored.checksum,
                                                                          cell.source, given]
                    stored.source, stored.checksum = cell.source, given
        gradebook.db.commit()
    return changed


def restore_rubrics(files: dict[str, bytes], rubrics: dict) -> None:
    """Put the rubrics back into the graded notebooks a worker returned ({path: bytes}), as
    stock autograde writes them: the stored text, made harmless as every markdown cell is."""
    import nbformat

    from ..grading.graded_outputs import harmless_markdown

    for name, cells in rubrics.items():
        path = f"{name}.ipynb"
        if path not in files:
            continue
        notebook = nbformat.reads(files[path].decode("utf-8"), as_version=nbformat.NO_CONVERT)
        for cell in notebook.cells:
            nbgrader = cell.get("metadata", {}).get("nbgrader", {})
            if nbgrader.get("grade_id") not in cells:
                continue
            full, full_checksum, given, given_checksum = cells[nbgrader["grade_id"]]
            tidy = harmless_markdown if cell.cell_type == "markdown" else str
            if cell.source == tidy(given):
                cell.source = tidy(full)
            if nbgrader.get("checksum") == given_checksum:
                nbgrader["checksum"] = full_checksum
        files[path] = nbformat.writes(notebook).encode("utf-8")
