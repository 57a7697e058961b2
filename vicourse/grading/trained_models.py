"""Trained models that cross from the student's kernel as data.

A hidden check that grades a trained model asks the student's code for parameters only: a dict
{name: nested lists of numbers}, as `model.state_dict()` or `dict(model.named_parameters())`
arrives through the transport. The grader module builds the notebook's architecture itself, and
`load_parameters` puts those numbers into it, so that every forward pass that earns points runs
in the grading process, with the grader's code (docs/trained-models.md).
"""

from __future__ import annotations

import numpy as np
import torch


def load_parameters(module: torch.nn.Module, state, what: str) -> torch.nn.Module:
    """`module`, in float64, holding the numbers of `state` for each of its parameters and buffers.

    Each of the module's names must be in `state`, with exactly its shape and finite values; other
    names in `state` (a mask, running statistics) are ignored. An AssertionError says what is missing
    or misshapen in the grader's words: the names are the architecture's, the shapes are numbers."""
    if not isinstance(state, dict):
        raise AssertionError(f"{what}: expected a dict of named parameters, got a {type(state).__name__}")
    module = module.double()
    loaded = {}
    for name, expected in module.state_dict().items():
        if name not in state:
            raise AssertionError(f"{what}: no entry {name!r}, which the notebook's architecture has")
        try:
            array = np.asarray(state[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: {name!r} is not an array of numbers") from None
        if array.shape != tuple(expected.shape):
            raise AssertionError(f"{what}: {name!r} has shape {array.shape}; the notebook's architecture has "
                                 f"{tuple(expected.shape)}")
        if not np.isfinite(array).all():
            raise AssertionError(f"{what}: {name!r} holds values that are not finite")
        loaded[name] = torch.from_numpy(array)
    module.load_state_dict(loaded)
    return module.eval()
