"""Read and write the network's parameters (and optionally its data) as files.

Formats, chosen by the file's suffix:

* ``.json``: one object, ``{"W1": [[..], [..]], "b1": [..], ...}``; ``NaN`` and
  ``Infinity`` are accepted so that a diverged run can still be diagnosed;
* ``.npz``: NumPy's archive (``np.savez``, ``np.savez_compressed``), read member by member
  from each ``.npy`` header, never through pickle;
* ``.safetensors``: the ``safetensors`` package's NumPy API, once the header is checked;
* ``.pt`` / ``.pth``: a PyTorch state_dict, under the notebook's names or under
  ``reference_impls.torch_xor``'s (``hidden.weight``, ``hidden.bias``, ``output.weight``,
  ``output.bias``). torch is imported only for these files and loads with
  ``weights_only=True``.

Keys: ``W1`` (2, 2), ``b1`` (2, 1) or (2,), ``W2`` (1, 2), ``b2`` (1, 1), (1,) or a scalar;
optional ``X`` (2, m) and ``Y`` (m,) or (1, m). :func:`load_params` returns float64 arrays in
the notebook's shapes and fills in the notebook's XOR data when ``X`` and ``Y`` are absent.

Nothing is ever unpickled. Every unusable file raises :class:`ParamsFileError`, whose
message names the file, the key and what was expected, on one line of at most 300 characters.

Files come from anywhere, so reading them is bounded: only a regular file is opened (a FIFO,
a device, a socket or a directory is refused from its metadata, without waiting), a file
larger than ``max_bytes`` (:data:`MAX_BYTES` unless raised) is refused before it is read, and
so is an archive whose members would unpack to more. Each format's structure (the ``.npz``
directory and ``.npy`` headers, the safetensors header, the pickle inside a PyTorch file) is
checked before its data is decoded. Memory stays within a small multiple of ``max_bytes`` (the
file, what it unpacks to, the float64 copies), except for JSON, which Python's parser turns
into objects of up to ~15 times the text's size.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck_xor._safe_read import (
    MemberReader,
    RefusedError,
    read_regular_file,
    too_large,
    unique_keys,
    zip_members,
)

__all__ = ["MAX_BYTES", "SUFFIXES", "ParamsFileError", "load_params", "save_params"]

SUFFIXES = (".json", ".npz", ".safetensors", ".pt", ".pth")
MAX_BYTES = 64 * 2**20
"""The default limit of :func:`load_params` on a file's size, and on what its archive unpacks to."""

# Accepted shapes per key; the first is the one load_params returns. X and Y depend on m.
_PARAM_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "W1": ((2, 2),),
    "b1": ((2, 1), (2,)),
    "W2": ((1, 2),),
    "b2": ((1, 1), (1,), ()),
}
_KEYS = (*_PARAM_SHAPES, "X", "Y")
_EXPECTED_KEYS = "keys W1, b1, W2, b2 (optional X, Y)"
# reference_impls.torch_xor.XorNet's state_dict names -> the notebook's.
_TORCH_NAMES = {"hidden.weight": "W1", "hidden.bias": "b1", "output.weight": "W2", "output.bias": "b2"}
# The notebook's data, used when a file holds parameters only: inputs (2, 4), 1-D labels (4,).
_XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
_XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


# The parts of an error message, in characters; the problem gets what they leave of the whole.
_MESSAGE_CHARS, _PATH_CHARS, _KEY_CHARS, _EXPECTED_CHARS = 300, 100, 48, 100


def _escaped(text: str) -> str:
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line of at most ``limit`` characters: newlines and other control
    characters escaped as ``repr`` escapes them, the middle of anything longer cut to "..."."""
    head = _escaped(text[:limit])
    if len(text) <= limit and len(head) <= limit:
        return head
    half = (limit - 3) // 2
    tail = _escaped(text[-limit:])
    return f"{head[:half]}...{tail[len(tail) - half :]}"


class ParamsFileError(ValueError):
    """An unusable parameter file. ``str(exc)`` is one line of at most 300 characters naming the
    file, the key and what was expected; the parts are also kept, whole, as ``path``, ``key``
    (None for the whole file) and ``expected``."""

    def __init__(self, path: str | os.PathLike[str], key: str | None, problem: str, expected: str) -> None:
        self.path, self.key, self.expected = str(path), key, expected
        # One short line whatever the file holds (a key may be megabytes of control characters):
        # the command prints it as its only words on stderr.
        where = "the file" if key is None else "key " + _one_line(repr(key[: 2 * _KEY_CHARS]), _KEY_CHARS)
        head = f"{_one_line(self.path, _PATH_CHARS)}: {where} "
        tail = f"; expected {_one_line(expected, _EXPECTED_CHARS)}."
        super().__init__(head + _one_line(problem, _MESSAGE_CHARS - len(head) - len(tail)) + tail)


def _is_key(name: str) -> bool:
    """Whether a parameter file may hold ``name``."""
    return name in _KEYS


def _unknown_key(path: str, key: str, source: str) -> ParamsFileError:
    return ParamsFileError(path, key, f"is not a known key of {source}", f"only {_EXPECTED_KEYS}")


def _dtype_problem(dtype: np.dtype) -> str | None:
    """What is wrong with an array of ``dtype`` as parameters, or None: only real numbers do."""
    if dtype.kind in "iuf":
        return None
    return "holds Python objects" if dtype.kind == "O" else f"holds dtype {dtype}"


def _shape_text(shapes: tuple[tuple[int, ...], ...]) -> str:
    return " or ".join("a scalar" if s == () else str(s) for s in shapes)


def _expected_for(key: str, m: int | None = None) -> str:
    if key in _PARAM_SHAPES:
        return f"shape {_shape_text(_PARAM_SHAPES[key])}"
    if key == "X":
        return "shape (2, m) with m >= 1"
    n = "m" if m is None else str(m)
    return f"shape ({n},) or (1, {n})"


# --- from whatever the format decoded to, to validated float64 arrays ---------------------


def _json_leaves_ok(value: Any) -> str | None:
    """Why a decoded JSON value is not a nested list of numbers, or None if it is one.

    Walks iteratively: JSON nests as deep as the parser allows, deeper than Python recursion.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            kind = {str: "a string", dict: "an object", bool: "a boolean"}.get(type(item), "null")
            return f"holds {kind} ({json.dumps(item)[:40]})"
    return None


def _to_float64(path: str, key: str, value: Any, m: int | None = None) -> np.ndarray:
    """Convert one decoded value to a float64 array, refusing anything that is not numbers."""
    expected = f"real numbers in {_expected_for(key, m)}"
    if isinstance(value, np.ndarray):
        problem = _dtype_problem(value.dtype)
        if problem is not None:
            raise ParamsFileError(path, key, problem, expected)
    else:
        problem = _json_leaves_ok(value)
        if problem is not None:
            raise ParamsFileError(path, key, problem, expected)
    try:
        return np.array(value, dtype=np.float64)
    except (ValueError, OverflowError, TypeError) as exc:
        reason = "nested lists of unequal lengths" if "inhomogeneous" in str(exc) else str(exc)
        raise ParamsFileError(path, key, f"is not an array ({reason})", expected) from None


def _validate(path: str, raw: Mapping[str, Any], source: str) -> dict[str, np.ndarray]:
    """Check keys, dtypes and shapes; return float64 arrays in the notebook's shapes."""
    unknown = sorted(name for name in raw if not _is_key(name))
    if unknown:
        raise _unknown_key(path, unknown[0], source)
    out: dict[str, np.ndarray] = {}
    for key, shapes in _PARAM_SHAPES.items():
        if key not in raw:
            raise ParamsFileError(path, key, "is missing", f"{_expected_for(key)} in {source}")
        arr = _to_float64(path, key, raw[key])
        if arr.shape not in shapes:
            raise ParamsFileError(path, key, f"has shape {arr.shape}", _expected_for(key))
        out[key] = arr.reshape(shapes[0])

    X = _to_float64(path, "X", raw["X"]) if "X" in raw else _XOR_X.copy()
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] < 1:
        raise ParamsFileError(path, "X", f"has shape {X.shape}", _expected_for("X"))
    m = X.shape[1]
    if "Y" in raw:
        Y = _to_float64(path, "Y", raw["Y"], m)
    elif m == _XOR_Y.shape[0]:
        Y = _XOR_Y.copy()
    else:
        raise ParamsFileError(path, "Y", f"is missing while X has {m} samples", _expected_for("Y", m))
    if Y.shape not in ((m,), (1, m)):
        raise ParamsFileError(path, "Y", f"has shape {Y.shape}", f"{_expected_for('Y', m)} to match X")
    out["X"], out["Y"] = X, Y
    return out


# --- one reader per format: bytes -> {key: decoded value} ---------------------------------

# Arrays, objects and strings cost Python 50 to 60 bytes each for 2 or 3 bytes of JSON; a
# parameter file needs about twenty, so counting them first keeps parsing's memory to what
# numbers take (~12 times their text).
_MAX_JSON_CONTAINERS = 1000


def _read_json(path: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    expected = f"a JSON object with {_EXPECTED_KEYS}"
    containers = data.count(b"[") + data.count(b"{") + data.count(b'"') // 2
    if containers > _MAX_JSON_CONTAINERS:
        problem = f"holds more than {_MAX_JSON_CONTAINERS} JSON arrays, objects and strings"
        raise ParamsFileError(path, None, problem, expected)
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=unique_keys("in one JSON object"))
    except UnicodeDecodeError:
        raise ParamsFileError(path, None, "is not UTF-8 text", expected) from None
    except json.JSONDecodeError as exc:
        raise ParamsFileError(path, None, f"is not valid JSON ({exc})", expected) from None
    except RecursionError:
        raise ParamsFileError(path, None, "is not valid JSON (nested too deeply)", expected) from None
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
        reason = str(exc).partition(":")[0]
        raise ParamsFileError(
            path, None, f"holds a number Python does not read ({reason})", expected
        ) from None
    if not isinstance(doc, dict):
        raise ParamsFileError(path, None, f"holds a JSON {type(doc).__name__}, not an object", expected)
    return doc


def _read_npy(path: str, key: str, member: MemberReader) -> np.ndarray:
    """One ``.npy`` member: its header is read and checked before any of its data."""
    from numpy.lib import format as npy

    not_npy = ParamsFileError(path, key, "is not a .npy array", "a numeric array")
    try:
        version = npy.read_magic(member)
        read_header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if read_header is None:  # version 3.0 is for structured dtypes' non-Latin-1 field names
            raise ValueError(f".npy format version {version}")
        shape, fortran_order, dtype = read_header(member)
    except RefusedError:
        raise
    except Exception:  # NumPy reports a damaged header as ValueError, SyntaxError, TokenError, ...
        raise not_npy from None
    if dtype.hasobject:
        raise ParamsFileError(path, key, "holds a pickled object array, refused", "a numeric array")
    problem = _dtype_problem(dtype)
    if problem is not None:
        raise ParamsFileError(path, key, problem, f"real numbers in {_expected_for(key)}")
    if not all(0 <= n < 2**63 for n in shape):  # as NumPy's sizes; and each prints in a few digits
        raise not_npy
    size = math.prod(shape) * dtype.itemsize
    if size != member.left:
        problem = f"holds {member.left} bytes of data where its header declares {size}"
        raise ParamsFileError(path, key, problem, "a .npy array as np.save writes it")
    return np.frombuffer(member.read(size), dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_npz(path: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    expected = f"a NumPy .npz archive (np.savez) with {_EXPECTED_KEYS}"
    if not data.startswith(b"PK"):
        raise ParamsFileError(path, None, "is not a zip archive", expected)
    out: dict[str, Any] = {}
    unpacked = 0
    for info in zip_members(data, ".npz archive", expected):
        key = info.filename.removesuffix(".npy")
        if key == info.filename:  # np.load would give such a member as bytes
            raise ParamsFileError(path, key, "is not a .npy array", "a numeric array")
        if not _is_key(key):
            raise _unknown_key(path, key, "a .npz parameter file")
        unpacked += info.file_size
        if unpacked > max_bytes:
            raise too_large(key, "brings what the archive unpacks to", unpacked, max_bytes)
        out[key] = _read_npy(path, key, MemberReader(data, info, expected, key))
    return out


def _read_safetensors(path: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    from gradcheck_xor._safetensors_header import check_safetensors_header

    expected = f"a safetensors file with {_EXPECTED_KEYS}"
    check_safetensors_header(data, expected)
    import safetensors.numpy

    try:
        return dict(safetensors.numpy.load(data))
    except Exception as exc:  # the Rust parser's errors are not a stable hierarchy
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = f"is not a readable safetensors file ({reason})"
        raise ParamsFileError(path, None, problem, expected) from None


def _read_torch(path: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    import pickle
    import warnings

    from gradcheck_xor._pt_screen import screen_torch_file

    expected = "a state_dict of tensors saved with torch.save, under W1, b1, W2, b2 or XorNet's names"
    # torch.load builds whatever the pickle describes: the screen admits only a state_dict of
    # dense real tensors of bounded size, before torch is even imported.
    screen_torch_file(data, max_bytes, expected)
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's advice on pickle protocols is not for our user
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            problem = f"holds a pickled object ({found.group(1)}), refused"
        else:
            problem = "is not a PyTorch file that loads with weights_only=True, refused"
        raise ParamsFileError(path, None, problem, expected) from None
    except Exception as exc:  # torch reports a damaged archive as RuntimeError, EOFError, ...
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ParamsFileError(path, None, f"is not a readable PyTorch file ({reason})", expected) from None
    if not isinstance(obj, Mapping):
        raise ParamsFileError(path, None, f"holds a {type(obj).__name__}, not a state_dict", expected)
    out: dict[str, Any] = {}
    torch_layout = any(name in _TORCH_NAMES for name in obj)
    for name, value in obj.items():
        name = str(name)
        key = _TORCH_NAMES.get(name, name) if torch_layout else name
        if torch_layout and name not in (*_TORCH_NAMES, "X", "Y"):
            expected_names = f"only {', '.join(_TORCH_NAMES)} (optional X, Y)"
            raise ParamsFileError(path, name, "is not a key of XorNet's state_dict", expected_names)
        if not isinstance(value, torch.Tensor):
            raise ParamsFileError(path, name, f"holds a {type(value).__name__}", "a tensor")
        out[key] = value.detach().to(torch.float64).numpy()
    return out


_READERS: dict[str, Callable[[str, bytes, int], dict[str, Any]]] = {
    ".json": _read_json,
    ".npz": _read_npz,
    ".safetensors": _read_safetensors,
    ".pt": _read_torch,
    ".pth": _read_torch,
}


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in _READERS:
        raise ParamsFileError(
            name, None, f"has an unknown suffix {suffix!r}", f"one of {', '.join(SUFFIXES)}"
        )
    return suffix


def load_params(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a parameter file: float64 ``W1`` (2, 2), ``b1`` (2, 1), ``W2`` (1, 2), ``b2`` (1, 1),
    ``X`` (2, m) and ``Y`` ((m,) or (1, m) as stored; the notebook's XOR data when absent).

    ``max_bytes`` bounds the file's size and what an archive's arrays unpack to.
    Raises :class:`ParamsFileError` for any file that cannot be used as such.
    """
    name = str(path)
    suffix = _suffix(name)
    try:
        data = read_regular_file(name, max_bytes)
        if not data:
            raise ParamsFileError(name, None, "is empty", f"a {suffix} file with {_EXPECTED_KEYS}")
        raw = _READERS[suffix](name, data, max_bytes)
    except RefusedError as exc:
        raise ParamsFileError(name, exc.key, exc.problem, exc.expected) from None
    return _validate(name, raw, f"a {suffix} parameter file")


def save_params(params: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``W1``, ``b1``, ``W2``, ``b2`` (and ``X``, ``Y`` when present) in the format of the
    suffix, as float64. ``.pt``/``.pth`` files use the notebook's names."""
    name = str(path)
    suffix = _suffix(name)
    given = {k: params[k] for k in _KEYS if k in params}
    arrays = _validate(name, {k: np.asarray(v) for k, v in given.items()}, "the parameters to save")
    # Keep only what was given: data filled in by _validate is not written back.
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items() if k in given}
    if suffix == ".json":
        # repr-precision floats round-trip exactly; NaN and Infinity are written as JSON's extension.
        # One key per line, each array on that line, so a person can read and edit the file.
        lines = [f"  {json.dumps(k)}: {json.dumps(v.tolist())}" for k, v in arrays.items()]
        Path(name).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    elif suffix == ".npz":
        with open(name, "wb") as f:
            np.savez(f, **arrays)
    elif suffix == ".safetensors":
        import safetensors.numpy

        safetensors.numpy.save_file(arrays, name)
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, name)
