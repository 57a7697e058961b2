"""What a hidden check sees of a submission, and the comparisons checks use.

A check receives a `Student`: attribute access gives a proxy for a name in the
student's notebook.  Calling it sends the arguments to wherever the student's
code lives (a kernel, or an in-process namespace in unit tests) and returns
plain data: floats, ints, bools, nested lists, dicts.  Every comparison below
runs in the grading process on that data only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import kernel_side

log = logging.getLogger("vicourse.checks")


class StudentCodeError(AssertionError):
    """The student's code raised, or a name the check needs is missing.

    The message names the function and the exception type only: the exception
    text could echo hidden inputs, so it goes to the grader's log instead.
    """


@dataclass(frozen=True)
class TorchTensor:
    """An argument that should arrive in the student's kernel as a torch tensor."""

    data: Any
    dtype: str = "float32"


def encode_argument(x):
    """Arguments -> JSON with type tags that kernel_side.decode_argument undoes."""
    if isinstance(x, TorchTensor):
        return {"__tensor__": _array_bytes(np.asarray(x.data, dtype=float)), "dtype": x.dtype}
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":  # strings, objects: as nested lists
            return {"__ndarray__": x.tolist(), "dtype": str(x.dtype)}
        return {"__ndarray__": _array_bytes(x), "dtype": str(x.dtype)}
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return {"__tuple__": [encode_argument(v) for v in x]}
    if isinstance(x, list):
        return [encode_argument(v) for v in x]
    if isinstance(x, dict):
        return {str(k): encode_argument(v) for k, v in x.items()}
    return x


def _array_bytes(x: np.ndarray) -> dict:
    """A numeric array as base64 of its raw bytes: hidden inputs can be 10^5 numbers, which as
    JSON lists cost 0.2 s each way, and NaN and inf survive (JSON has neither)."""
    return {"base64": base64.b64encode(x.tobytes(order="C")).decode("ascii"), "layout": x.dtype.str,
            "shape": list(x.shape)}


Transport = Callable[[dict], dict]


class Student:
    """The student's notebook namespace, reachable only through a transport."""

    def __init__(self, transport: Transport, timeout: float | None = None, training: dict | None = None):
        self._transport = transport
        self._timeout = timeout
        self._training = training

    def __getattr__(self, name: str) -> "StudentFunction":
        if name.startswith("_"):
            raise AttributeError(name)
        return StudentFunction(self._transport, name, self._timeout, self._training)

    def with_timeout(self, seconds: float) -> "Student":
        """The same namespace, with calls allowed `seconds` each instead of the course's
        per-call limit: for a check that asks the student's code to train a model."""
        return Student(self._transport, seconds, self._training)

    def training(self, seconds: float, references: dict[str, str], cells: tuple[str, ...]) -> "Student":
        """For a check that has the student's code train a model on the grader's data.

        Calls may take `seconds`.  For the duration of each call, the names in `references`
        are bound in the kernel to the grader's own code (source text defining each name), so
        the trained model depends only on the student's training code and not on an earlier
        answer that it calls, which has its own check (kernel_side.call_with_references).
        `cells` names the answer cells (grade ids) whose code the call runs besides the locked
        cells; the calibration reuses a result for variants that leave those cells alone."""
        return Student(self._transport, seconds, {"references": dict(references), "cells": list(cells)})

    def value(self, name: str):
        """The value of a variable in the student's notebook, as plain data."""
        return _unwrap(name, self._transport({"kind": "value", "name": name}))


@dataclass
class StudentFunction:
    transport: Transport
    name: str
    timeout: float | None = None
    training: dict | None = None

    def __call__(self, *args, **kwargs):
        request = {
            "kind": "call",
            "name": self.name,
            "args": encode_argument(list(args)),
            "kwargs": encode_argument(kwargs),
        }
        if self.timeout is not None:
            request["timeout"] = float(self.timeout)
        if self.training is not None:
            request.update(self.training)
        return _unwrap(self.name, self.transport(request))


# Exception types a check may name when the student's code raises: Python's own, so the name is
# the grader's words. Any other name (a class the student defined, whose name could carry the
# hidden inputs out to the feedback) is reported as "an exception".
NAMED_ERRORS = frozenset({
    "ArithmeticError", "AssertionError", "AttributeError", "FloatingPointError", "ImportError", "IndexError",
    "KeyError", "LookupError", "MemoryError", "ModuleNotFoundError", "NotImplementedError", "OverflowError",
    "RecursionError", "RuntimeError", "TypeError", "UnboundLocalError", "ValueError", "ZeroDivisionError",
    "LinAlgError",
})


def _unwrap(name: str, reply: dict):
    if reply.get("ok"):
        return reply.get("value")
    error = reply.get("error", "an error")
    log.info("student code %s raised %s: %s", name, str(error)[:200], str(reply.get("detail", ""))[:2000])
    if error == "NameError" and str(reply.get("detail", "")).endswith("is not defined"):
        raise StudentCodeError(f"`{name}` is not defined: run the cell that defines it")
    if error == "Timeout":
        raise StudentCodeError(f"`{name}` did not return within the time limit")
    if error in ("NoReply", "BadReply"):
        raise StudentCodeError(f"calling `{name}` gave no single valid reply: something in the notebook "
                               "replaced or added to the grader's output")
    what = error if error in NAMED_ERRORS else "an exception"
    raise StudentCodeError(f"`{name}` raised {what} on the grader's inputs")


def local_student(namespace: dict) -> Student:
    """A Student over an in-process namespace (unit tests, authoring).

    Requests and replies go through JSON exactly as they do with a kernel.
    """
    return Student(local_transport(namespace))


def local_transport(namespace: dict) -> Transport:
    """The transport of `local_student`: kernel_side.answer on the namespace, through JSON."""

    def transport(request: dict) -> dict:
        request = json.loads(json.dumps(request))
        reply = kernel_side.answer(namespace, request)
        return json.loads(json.dumps(reply))

    return transport


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
