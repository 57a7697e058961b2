"""What a hidden check sees of a submission: a `Student`, and the transport behind it.

Attribute access on a Student gives a proxy for a name in the student's notebook. Calling it
sends the arguments to wherever the student's code lives (a kernel: kernel_calls.KernelTransport;
an in-process namespace: `local_student`) and returns plain data: floats, ints, bools, nested
lists, dicts. What the student's code raised reaches the check as a StudentCodeError whose
message names the function and, for Python's own exception types, the type: never its text.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import kernel_side
from .checking import TorchTensor

log = logging.getLogger("vicourse.checks")


class StudentCodeError(AssertionError):
    """The student's code raised, or a name the check needs is missing.

    The message names the function and the exception type only: the exception
    text could echo hidden inputs, so it goes to the grader's log instead.
    """


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
