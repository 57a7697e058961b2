"""Each submission's outcome in a batch, kept in reports/<A>/outcomes.json, and the bar that counts them.

An outcome says how grading a submission ended (graded, failed, timed out, unreadable) and why,
what the hidden checks said, where the time went, and what graded it (the digest a re-run compares).
The coordinator (vicourse/batch/coordinator.py) writes the file as results come in, so a batch
cut short resumes where it stopped; the reports read it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

STATUSES = ("graded", "failed", "timed out", "unreadable")


@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | unreadable | failed | timed out
    notes: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # grade id -> message for failed checks
    seconds: float = 0.0
    score: float | None = None  # autograded points, from the autograded notebook
    isolation: str = ""
    digest: str = ""  # of the submission and of what graded it: a re-run skips it while unchanged
    run: str = ""  # when the batch that graded it started (UTC)
    hidden_seed: str = ""  # the secret its hidden inputs were drawn from (kept here, never in a kernel)
    timing: dict = field(default_factory=dict)  # seconds: process start, kernel start, cells, checks, gradebook

    @classmethod
    def from_dict(cls, saved: dict) -> "Outcome":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def ran_out_of_time(outcome: Outcome) -> bool:
    """Timed out as a whole, or in a cell: possibly because of what ran beside it."""
    return outcome.status == "timed out" or any(note.endswith("timed out") for note in outcome.notes)


def why_slow(outcome: Outcome) -> str:
    return "; ".join(n for n in outcome.notes if "timed out" in n or "longer than" in n)[:300] or outcome.status


class Progress:
    """A tqdm bar: submissions done, counts by status, and the slowest submission so far."""

    def write(self, text: str) -> None:
        self.bar.write(text)

    def __init__(self, total: int, assignment: str, skipped: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=f"grading {assignment}", unit="sub", file=sys.stderr, disable=not enabled,
                        dynamic_ncols=True)
        self.counts = dict.fromkeys(STATUSES, 0)
        self.slowest = None
        if skipped:
            self.bar.write(f"{skipped} submissions unchanged since they were graded: kept (--force regrades them)")

    def done(self, outcome: Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.slowest is None or outcome.seconds > self.slowest.seconds:
            self.slowest = outcome
        shown = {status: n for status, n in self.counts.items() if n}
        shown["slowest"] = f"{self.slowest.student} {self.slowest.seconds:.1f}s"
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()


def load_outcomes(root: Path, assignment: str) -> dict[str, dict]:
    path = root / "reports" / assignment / "outcomes.json"
    try:
        return {o["student"]: o for o in json.loads(path.read_text())}
    except (OSError, ValueError):
        return {}


def save_outcomes(root: Path, assignment: str, outcomes: list[Outcome]) -> Path:
    """Merge into reports/<A>/outcomes.json, written whole to a new file and renamed into place."""
    path = root / "reports" / assignment / "outcomes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = load_outcomes(root, assignment)
    saved.update({o.student: asdict(o) for o in outcomes})
    fresh = path.with_suffix(".json.tmp")
    fresh.write_text(json.dumps(sorted(saved.values(), key=lambda o: o["student"]), indent=1))
    fresh.replace(path)
    return path
