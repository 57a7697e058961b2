"""Code that runs inside the student's kernel to call one of the student's names.

This file's *source text* is sent to the kernel with every grader call, so it
must stay self-contained: standard library only, numpy and torch imported
lazily.  It turns arguments (JSON with type tags) into numpy arrays or torch
tensors, calls the student's function, and turns the result into plain JSON
data (numbers, lists, dicts).  The verdict is never computed here: whatever
the student's code does to this process, all it can hand back is data.
"""


def decode_argument(x):
    """Rebuild an argument from its JSON form (see vicourse.grading.student.encode_argument)."""
    if isinstance(x, dict):
        if "__ndarray__" in x:
            import numpy

            return numpy.asarray(decode_array(x["__ndarray__"]), dtype=x["dtype"])
        if "__tensor__" in x:
            import torch

            return torch.from_numpy(decode_array(x["__tensor__"])).to(getattr(torch, x["dtype"]))
        if "__tuple__" in x:
            return tuple(decode_argument(v) for v in x["__tuple__"])
        return {k: decode_argument(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode_argument(v) for v in x]
    return x


def decode_array(data):
    """A numpy array from raw bytes in base64 (see vicourse.grading.student.encode_argument), or from
    nested lists. Writable, as an array the student built would be."""
    if not isinstance(data, dict):
        return data
    import base64

    import numpy

    raw = bytearray(base64.b64decode(data["base64"]))
    return numpy.frombuffer(raw, dtype=numpy.dtype(data["layout"])).reshape(tuple(data["shape"]))


def to_plain(x, depth=0):
    """Numbers, numpy/torch arrays and scalars, lists, tuples, dicts -> JSON data."""
    if depth > 32:
        raise TypeError("the result is nested too deeply")
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, float)):
        # float()/int() drop any subclass (and its rigged __eq__); bool is handled above
        return float(x) if isinstance(x, float) else int(x)
    module = type(x).__module__ or ""
    if module.startswith("torch") and hasattr(x, "detach"):
        return to_plain(x.detach().cpu().tolist(), depth + 1)
    if module.startswith("numpy") and hasattr(x, "tolist"):
        return to_plain(x.tolist(), depth + 1)
    if isinstance(x, (list, tuple)):
        return [to_plain(v, depth + 1) for v in x]
    if isinstance(x, dict):
        return {str(k): to_plain(v, depth + 1) for k, v in x.items()}
    raise TypeError(f"got an object of type {type(x).__name__}; expected numbers or arrays")


def answer(namespace, request):
    """Carry out one request against the student's namespace; return a JSON-able reply."""
    name = request["name"]
    if name not in namespace:
        return {"ok": False, "error": "NameError", "detail": f"{name} is not defined"}
    target = namespace[name]
    try:
        if request["kind"] == "call":
            args = decode_argument(request["args"])
            kwargs = decode_argument(request["kwargs"])
            target = call_with_references(namespace, target, args, kwargs, request.get("references") or {})
        return {"ok": True, "value": to_plain(target)}
    except BaseException as exc:  # noqa: BLE001 - report anything the student's code raises
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:2000]}


def call_with_references(namespace, function, args, kwargs, references):
    """Call `function` with some of the notebook's names bound, for the call only, to the
    grader's own code: {name: source text that defines that name, imports included}.

    A check that trains the student's model this way charges the training code alone, not an
    earlier answer the training calls; the student's own definitions are put back afterwards."""
    saved = {name: namespace[name] for name in references if name in namespace}
    try:
        for name, source in references.items():
            scope = {}
            exec(source, scope)  # noqa: S102 - the grader's code, in the kernel that asked for it
            namespace[name] = scope[name]
        return function(*args, **kwargs)
    finally:
        for name in references:
            namespace.pop(name, None)
        namespace.update(saved)
