"""The class as a table for the terminal (`make grade`, `make report`), at most 100 columns wide.

A line per submission with its points per Part, its notes on lines of their own below it
(wrapped between words), who canvas.csv holds back, then a line per question under its
label ("A.1 entropy"), with its points and how the class did.
"""

from __future__ import annotations

import textwrap

from .report import ClassResults, Row, points

WIDTH = 100  # the terminal table fits an ordinary terminal
NOTE_CHARS = 400  # a note longer than this is shortened, at a word boundary


def print_table(results: ClassResults) -> str:
    """The class as a terminal table, at most WIDTH columns: a line per submission with its points
    per Part ("*": written answers in the Part not graded yet; "-": none of them graded), its
    notes on their own lines below it, then a line per question with its label."""
    parts: dict[str, list[str]] = {}
    for column in results.columns:
        parts.setdefault(results.labels[column].part if column in results.labels else "", []).append(column)
    fixed = 8 + 8 + 2 + max([6, *(len(row.status) for row in results.rows)])  # auto, total, status
    if len(parts) == 1 or WIDTH - fixed - 6 * len(parts) < 16:
        parts = {}  # one Part, or too many to show: the question lines below say it all
    who = WIDTH - fixed - 6 * len(parts)
    head = f"{'student':<{who}}" + "".join(f"{(p or '-')[:5]:>6}" for p in parts) + f"{'auto':>8}{'total':>8}  status"
    most = f"{'  (points)':<{who}}" + "".join(f"{_fmt(sum(results.max_points[c] for c in cs)):>6}"
                                               for cs in parts.values())
    lines = [head, most + f"{_fmt(results.auto_max):>8}{_fmt(results.total_max):>8}"]
    for row in results.rows:
        cells = "".join(f"{part_cell(results, row, cs):>6}" for cs in parts.values())
        scored = row.status == "graded"
        auto, total = (_fmt(row.autograded), _fmt(row.total)) if scored else ("-", "-")
        lines.append(f"{shortened(f'{row.student} {named(row)}'.strip(), who - 1):<{who}}{cells}{auto:>8}{total:>8}"
                     f"  {row.status}")
        notes = ([f"late: {row.late}"] if row.late else []) + row.notes
        lines += [wrapped(textwrap.shorten(note, NOTE_CHARS, placeholder=" ..."), "      ") for note in notes]
    held = [row for row in results.rows if results.held_back(row)]
    if held:
        names = ", ".join(row.student for row in held)
        lines.append(wrapped(f"canvas.csv leaves the score blank for {len(held)} of {len(results.rows)} "
                             f"submissions, not fully graded (the class report says why): "
                             + textwrap.shorten(names, 1000, placeholder=" ..."), "  ", first="  "))
    if parts:
        lines.append("  per Part: '*' written answers in it not graded yet, '-' none graded yet")
    lines.append("  questions:")
    width = min(40, max((len(results.label(c)) for c in results.columns), default=0) + 2)
    graded = [row for row in results.rows if row.status == "graded"]
    for column in results.columns:
        values = [row.scores[column] for row in graded if row.scores.get(column) is not None]
        top = results.max_points[column]
        if column in results.manual:
            said = f"written: {len(values)} of {len(graded)} graded"
        else:
            said = f"full marks {sum(v >= top for v in values)} of {len(values)}"
        lines.append(f"    {shortened(results.label(column), width - 1):<{width}}{points(top):>7}   {said}")
    isolations = sorted({row.isolation for row in results.rows})
    lines += [wrapped(f"isolation: {i}", "      ", first="  ") for i in isolations]
    return "\n".join(lines)


def named(row: Row) -> str:
    return "" if row.name == row.student else row.name


def part_cell(results: ClassResults, row: Row, columns: list[str]) -> str:
    got = [row.scores.get(c) for c in columns]
    if all(v is None for v in got):
        return "-" if row.status == "graded" else ""
    waiting = any(v is None for c, v in zip(columns, got) if c in results.manual)
    return _fmt(round(sum(v for v in got if v is not None), 2)) + ("*" if waiting else "")


def shortened(text: str, width: int) -> str:
    """Text within `width` columns, cut between words where it can be."""
    if len(text) <= width:
        return text
    cut = textwrap.shorten(text, width, placeholder=" ...")
    return cut if cut != "..." else text[:width - 3] + "..."


def wrapped(text: str, indent: str, first: str | None = None) -> str:
    """Text on lines of at most WIDTH columns, broken between words."""
    return textwrap.fill(text, WIDTH, initial_indent=indent if first is None else first, subsequent_indent=indent,
                         break_on_hyphens=False)


def _fmt(value: float) -> str:
    return f"{value:g}"
