"""What a hidden check uses: argument types, hidden inputs, comparisons, partial credit, and the
calibration data of a grader module.

A check receives a `Student` (vicourse/grading/student.py), whose calls return plain data: floats,
ints, bools, nested lists, dicts. Every comparison below runs in the grading process on that data
only.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TorchTensor:
    """An argument that should arrive in the student's kernel as a torch tensor."""

    data: Any
    dtype: str = "float32"


# ---------------------------------------------------------------- hidden inputs

# The secret that the hidden checks' random inputs are drawn from, one per graded submission.
# It is set by the grading process (ExecuteWithChecks: drawn afresh, or given by the batch's
# coordinator, which keeps it in outcomes.json so that a regrade can repeat the run) and never
# enters the student's kernel, so no later submission can know its inputs in advance.
_SECRET: dict[str, str | None] = {"hex": None}


def set_grading_secret(secret: str | None = None) -> str:
    """Use `secret` (hex) for the hidden inputs from now on; None draws a fresh one. Returns it."""
    _SECRET["hex"] = secret or secrets.token_hex(16)
    return _SECRET["hex"]


def grading_secret() -> str:
    """The secret in use, drawn on first use when none was set."""
    return _SECRET["hex"] or set_grading_secret()


def hidden_rng(label) -> np.random.Generator:
    """A generator for one check's hidden inputs: a function of the grading secret and the
    check's own label, so checks draw independent inputs, and the same secret repeats them."""
    digest = hashlib.sha256(f"{grading_secret()}:{label}".encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[i:i + 8], "little") for i in range(0, 32, 8)])


# ---------------------------------------------------------------- comparisons


def _kind(value) -> str:
    """What came back, in the grader's words: its type, never its content (which the student chose)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a dict"
    return "an object of another type"


def as_float(value, what: str) -> float:
    """A finite-or-infinite real number, or an AssertionError saying what came back."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AssertionError(f"{what}: expected a single number, got {_kind(value)}")
    value = float(value)
    if math.isnan(value):
        raise AssertionError(f"{what}: got NaN")
    return value


def as_array(value, what: str, shape: tuple | None = None) -> np.ndarray:
    """A float array of the given shape (None entries match any size)."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected an array of numbers, got {_kind(value)}") from None
    if shape is not None:
        ok = array.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, array.shape))
        if not ok:
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise AssertionError(f"{what}: expected shape {want}, got an array of another shape")
    if np.isnan(array).any():
        raise AssertionError(f"{what}: the result contains NaN")
    return array


def assert_close(actual, expected, what: str, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Compare a student's numbers with the reference.

    The default rtol lets float32 work pass.  Infinities must match exactly.
    The message shows neither what the student returned nor the reference value.
    """
    expected = np.asarray(expected, dtype=float)
    got = as_array(actual, what, shape=expected.shape)
    same_inf = np.isinf(expected) == np.isinf(got)
    if not same_inf.all() or (np.isinf(expected) & (np.sign(expected) != np.sign(got))).any():
        raise AssertionError(f"{what}: infinities are not where they should be")
    finite = ~np.isinf(expected)
    if not np.allclose(got[finite], expected[finite], rtol=rtol, atol=atol):
        raise AssertionError(f"{what}: does not match the reference")


def assert_within_se(estimate, truth: float, standard_error: float, what: str, z: float = 4.0) -> None:
    """A Monte Carlo estimate must lie within z standard errors of the truth.

    With z = 4 a correct estimator fails with probability about 6e-5 per
    comparison; the seeds are fixed, so a pass is reproducible.
    """
    value = as_float(estimate, what)
    if not abs(value - truth) <= z * standard_error:
        raise AssertionError(
            f"{what}: more than {z:g} Monte Carlo standard errors from the expected value"
        )


# ---------------------------------------------------------------- partial credit


class PartialCredit(AssertionError):
    """Raised by a check that grades `items` independent items, `wrong` of them wrong.

    Scored right minus wrong, floored at zero: the test cell earns max(0, right - wrong) / items
    of its points, so an answer that guesses (a constant, an empty list, a coin flip per item)
    expects next to nothing, while knowing more items always earns more. The grading process
    (`ExecuteWithChecks`) writes that score as the cell's last output, where stock nbgrader reads
    partial credit; a cell that keeps nothing fails as any other check does. The message says how
    many items are wrong, never which.
    """

    def __init__(self, wrong: int, items: int, what: str = "answers"):
        if not 0 < wrong <= items:
            raise ValueError(f"PartialCredit needs 0 < wrong <= items, got {wrong} of {items}")
        self.wrong, self.items = wrong, items
        verb = "is" if wrong == 1 else "are"
        super().__init__(f"{wrong} of the {items} {what} {verb} not right; each wrong one cancels a right one")

    @property
    def kept(self) -> float:
        """The fraction of the cell's points earned: right minus wrong, never below zero."""
        return max(0, self.items - 2 * self.wrong) / self.items


def grade_items(got: dict, key: dict, what: str = "answers") -> None:
    """Grade the items of `key` right minus wrong (PartialCredit if any of `got` differs, by
    value or by type, so that 1 does not pass for True; a missing item counts as wrong).

    Keep each block's key balanced (as many True as False items; no letter the answer to more
    than half of a multiple-choice block): then every constant or empty answer earns nothing."""
    wrong = sum(1 for k, v in key.items() if type(got.get(k)) is not type(v) or got.get(k) != v)
    if wrong:
        raise PartialCredit(wrong, len(key), what)


# ---------------------------------------------------------------- calibration data


@dataclass(frozen=True)
class Variant:
    """A submission made from the source solution by replacing answer cells.

    `replace` maps answer-cell grade ids to their new source.  `loses` names the
    test cells (grade ids) that must score zero; `keeps` maps test cells that earn
    partial credit to the fraction of their points they keep (e.g. 3/7 when two of
    seven items are wrong: right minus wrong); every other autograded cell must keep its points.
    Correct alternatives lose nothing.
    """

    name: str
    replace: dict[str, str]
    loses: frozenset[str] = field(default_factory=frozenset)
    keeps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "loses", frozenset(self.loses))
