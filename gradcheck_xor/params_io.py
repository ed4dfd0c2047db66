"""Read and write the network's parameters (and optionally its data) as files.

Formats, chosen by the file's suffix:

* ``.json``: one object, ``{"W1": [[..], [..]], "b1": [..], ...}``; ``NaN`` and
  ``Infinity`` are accepted so that a diverged run can still be diagnosed;
* ``.npz``: NumPy's archive, read with ``allow_pickle=False``;
* ``.safetensors``: the ``safetensors`` package's NumPy API;
* ``.pt`` / ``.pth``: a PyTorch state_dict, under the notebook's names or under
  ``reference_impls.torch_xor``'s (``hidden.weight``, ``hidden.bias``, ``output.weight``,
  ``output.bias``). torch is imported only for these files and loads with
  ``weights_only=True``.

Keys: ``W1`` (2, 2), ``b1`` (2, 1) or (2,), ``W2`` (1, 2), ``b2`` (1, 1), (1,) or a scalar;
optional ``X`` (2, m) and ``Y`` (m,) or (1, m). :func:`load_params` returns float64 arrays in
the notebook's shapes and fills in the notebook's XOR data when ``X`` and ``Y`` are absent.

Nothing is ever unpickled. Every unusable file raises :class:`ParamsFileError`, whose
message names the file, the key and what was expected.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SUFFIXES", "ParamsFileError", "load_params", "save_params"]

SUFFIXES = (".json", ".npz", ".safetensors", ".pt", ".pth")

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


class ParamsFileError(ValueError):
    """An unusable parameter file. ``str(exc)`` is one line naming the file, the key and what
    was expected; the parts are also kept as ``path``, ``key`` (None for the whole file) and
    ``expected``."""

    def __init__(self, path: str | os.PathLike[str], key: str | None, problem: str, expected: str) -> None:
        self.path, self.key, self.expected = str(path), key, expected
        where = "the file" if key is None else f"key {key!r}"
        # One line, always: the command prints it as its only word on stderr.
        super().__init__(" ".join(f"{self.path}: {where} {problem}; expected {expected}.".splitlines()))


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
        if value.dtype.kind not in "iuf":
            what = "Python objects" if value.dtype.kind == "O" else f"dtype {value.dtype}"
            raise ParamsFileError(path, key, f"holds {what}", expected)
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
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ParamsFileError(path, unknown[0], f"is not a known key of {source}", f"only {_EXPECTED_KEYS}")
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


def _read_json(path: str, data: bytes) -> dict[str, Any]:
    expected = f"a JSON object with {_EXPECTED_KEYS}"
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParamsFileError(path, None, "is not UTF-8 text", expected) from None
    except json.JSONDecodeError as exc:
        raise ParamsFileError(path, None, f"is not valid JSON ({exc})", expected) from None
    except RecursionError:
        raise ParamsFileError(path, None, "is not valid JSON (nested too deeply)", expected) from None
    if not isinstance(doc, dict):
        raise ParamsFileError(path, None, f"holds a JSON {type(doc).__name__}, not an object", expected)
    return doc


def _read_npz(path: str, data: bytes) -> dict[str, Any]:
    import zipfile

    expected = f"a NumPy .npz archive (np.savez) with {_EXPECTED_KEYS}"
    if not data.startswith(b"PK"):
        raise ParamsFileError(path, None, "is not a zip archive", expected)
    out: dict[str, Any] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = list(archive.files)
            for name in names:
                try:
                    value = archive[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "pickled" in str(exc):
                        raise ParamsFileError(
                            path, name, "holds a pickled object array, refused", "a numeric array"
                        ) from None
                    problem = f"is not a readable array ({exc})"
                    raise ParamsFileError(path, name, problem, "a .npy array") from None
                if not isinstance(value, np.ndarray):  # a member that is not .npy comes back as bytes
                    raise ParamsFileError(path, name, "is not a .npy array", "a numeric array")
                out[name] = value
    except ParamsFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, NotImplementedError) as exc:
        raise ParamsFileError(path, None, f"is not a readable .npz archive ({exc})", expected) from None
    return out


def _read_safetensors(path: str, data: bytes) -> dict[str, Any]:
    import safetensors.numpy

    expected = f"a safetensors file with {_EXPECTED_KEYS}"
    try:
        return dict(safetensors.numpy.load(data))
    except Exception as exc:  # the Rust parser's errors are not a stable hierarchy
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = f"is not a readable safetensors file ({reason})"
        raise ParamsFileError(path, None, problem, expected) from None


def _read_torch(path: str, data: bytes) -> dict[str, Any]:
    import pickle
    import warnings

    import torch

    expected = "a state_dict of tensors saved with torch.save, under W1, b1, W2, b2 or XorNet's names"
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
        if value.is_complex() or value.dtype == torch.bool:
            expected_dtype = "a real floating or integer tensor"
            raise ParamsFileError(path, name, f"holds dtype {value.dtype}", expected_dtype)
        out[key] = value.detach().to(torch.float64).numpy()
    return out


_READERS = {
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


def load_params(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a parameter file: float64 ``W1`` (2, 2), ``b1`` (2, 1), ``W2`` (1, 2), ``b2`` (1, 1),
    ``X`` (2, m) and ``Y`` ((m,) or (1, m) as stored; the notebook's XOR data when absent).

    Raises :class:`ParamsFileError` for any file that cannot be used as such.
    """
    name = str(path)
    suffix = _suffix(name)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ParamsFileError(name, None, f"cannot be read ({reason})", "a readable file") from None
    if not data:
        raise ParamsFileError(name, None, "is empty", f"a {suffix} file with {_EXPECTED_KEYS}")
    source = f"a {suffix} parameter file"
    return _validate(name, _READERS[suffix](name, data), source)


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
