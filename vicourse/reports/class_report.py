"""reports/<A>/class_report.html: how the class did, at a glance, in one offline file.

Plots are PNGs drawn by matplotlib (no display needed) and embedded as base64,
so the file works without a network and without the course folder. Every piece
of text that comes from a submission (names, notes, messages) is HTML-escaped:
the TA's browser must not run what a student planted.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import datetime
from html import escape
from pathlib import Path
from statistics import mean, median

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .html_safety import REPORT_POLICY, with_policy
from .report import ClassResults, Row, class_results

# notes that mean part of a graded submission did not run: its score may be too low
PARTLY = ("timed out", "killed the kernel", "cells not run", "no hidden check", "GRADEBOOK DISAGREES")


def png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def histogram(values: list[float], top: float, title: str) -> str:
    """An <img> of the scores' histogram, one bar centred on each attainable step up to `top`."""
    figure = Figure(figsize=(4.2, 2.4))
    axes = figure.subplots()
    width = max(1, math.ceil(top / 20)) if top >= 1 else top  # whole points per bar, at most ~20 bars
    steps = max(1, math.ceil(top / width))
    edges = [(i - 0.5) * width for i in range(steps + 2)]
    axes.hist(values, bins=edges, color="#4a78b0", edgecolor="white")
    axes.set_xlim(edges[0], edges[-1])
    every = -(-(steps + 1) // 8)  # at most 8 labels: a 28-point total must stay legible
    ticks = [i * width for i in range(0, steps + 1, every)]
    axes.set_xticks(ticks, [f"{round(t, 1):g}" for t in ticks])
    if not values:  # e.g. a written answer before anyone graded it: say so, not an empty frame
        axes.set_ylim(0, 1)
        axes.text(top / 2, 0.5, "no scores yet", ha="center", va="center", color="#666")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of submissions
    axes.set_xlabel("points")
    axes.set_ylabel("submissions")
    axes.set_title(title, fontsize=10)
    return f'<img alt="histogram: {escape(title)}" src="{png(figure)}">'


def unfinished(results: ClassResults, row: Row) -> str | None:
    """Why a submission is not fully graded, or None: why its score is held back from canvas.csv,
    and notes that say part of it did not run."""
    held = results.held_back(row)
    if row.status != "graded":
        return f"{held}: " + "; ".join(row.notes)
    partly = [n for n in row.notes if any(p in n for p in PARTLY)]
    return "; ".join(partly + ([held] if held else [])) or None


def named(row: Row) -> str:
    """The student's name, blank where only the id is known."""
    return "" if row.name == row.student else row.name


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_class_report(root: Path, assignment: str, results: ClassResults | None = None) -> Path:
    results = results or class_results(root, assignment)
    rows = results.rows
    graded = [r for r in rows if r.status == "graded"]
    parts = [f"<h1>Class report: {escape(assignment)}</h1>",
             f"<p>{len(rows)} submissions, {len(graded)} graded; written {datetime.now():%Y-%m-%d %H:%M}. "
             "Points of written answers count once a grader has entered them.</p>"]

    totals = [r.total for r in graded]
    if totals:
        parts.append(f"<p>Total: mean {mean(totals):.2f}, median {median(totals):g} of {results.total_max:g}; "
                     f"autograded mean {mean(r.autograded for r in graded):.2f} of {results.auto_max:g}.</p>")
    parts.append('<h2>Score distribution</h2><div class="distribution">'
                 + histogram(totals, results.total_max, "total points") + "</div>")

    parts.append("<h2>Each question</h2><div class=\"questions\">")
    for grade_id in results.columns:
        values = [r.scores[grade_id] for r in graded if r.scores.get(grade_id) is not None]
        kind = "written" if grade_id in results.manual else "autograded"
        label = results.label(grade_id)
        parts.append(f'<figure class="question" data-question="{escape(grade_id)}">'
                     + histogram(values, results.max_points[grade_id], f"{label} ({kind})")
                     + f"<figcaption>{escape(label)}: {len(values)} scored</figcaption></figure>")
    parts.append("</div>")

    hardest = []
    for grade_id in results.columns:
        values = [r.scores[grade_id] for r in graded if r.scores.get(grade_id) is not None]
        if values:
            share = mean(values) / results.max_points[grade_id]
            full = sum(v >= results.max_points[grade_id] for v in values)
            hardest.append([results.label(grade_id), f"{share:.0%}", f"{full} of {len(values)}",
                            f"{results.max_points[grade_id]:g}"])
    hardest.sort(key=lambda r: float(r[1].rstrip("%")))
    parts.append("<h2>Hardest questions</h2>"
                 + table(["question", "mean share of points", "full marks", "points"], hardest[:10]))

    slowest = sorted(rows, key=lambda r: r.seconds, reverse=True)[:10]
    parts.append("<h2>Slowest submissions</h2>" + table(
        ["student", "name", "seconds", "status"], [[r.student, named(r), f"{r.seconds:.1f}", r.status] for r in slowest]))

    pending = [[r.student, named(r), reason] for r in rows if (reason := unfinished(results, r))]
    parts.append(f"<h2>Not fully graded ({len(pending)})</h2>" + (
        table(["student", "name", "reason"], pending) if pending else "<p>Every submission is fully graded.</p>"))

    late = [[r.student, named(r), r.late] for r in rows if r.late]
    parts.append(f"<h2>Late ({len(late)})</h2>"
                 + (table(["student", "name", "late by"], late) if late else "<p>None.</p>"))

    isolations: dict[str, int] = {}
    for r in rows:
        isolations[r.isolation] = isolations.get(r.isolation, 0) + 1
    warning = any(not i.startswith("sandboxed") for i in isolations)
    parts.append("<h2>Isolation</h2>"
                 + ('<p class="warning">STUDENT CODE RAN WITHOUT A SANDBOX for some submissions.</p>' if warning else "")
                 + table(["isolation", "submissions"], [[i, n] for i, n in sorted(isolations.items())]))
    if (root / "reports" / assignment / "similarity.html").exists():
        parts.append('<p>Most similar pairs of submissions: <a href="similarity.html">similarity.html</a> '
                     "(for review, not a verdict).</p>")

    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
             "text-align:left;vertical-align:top}.questions{display:flex;flex-wrap:wrap;gap:1em}"
             "figure{margin:0}.warning{color:#b00;font-weight:bold}")
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8">'
            # no script may run, whatever slips through: only inline styles and embedded images
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
            "style-src 'unsafe-inline'\">"
            f'<title>{escape(assignment)}: class report</title>'
            f"<style>{style}</style></head><body>" + "\n".join(parts) + "</body></html>")
    path = root / "reports" / assignment / "class_report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(with_policy(html, REPORT_POLICY), encoding="utf-8")
    return path
