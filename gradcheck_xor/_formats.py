"""The four file formats of :mod:`gradcheck_xor.params_io`: a file's bytes to ``{key: float64
array}`` and back, one reader per format.

A reader checks the format's structure (the ``.npz`` directory and ``.npy`` headers, the
safetensors header, the pickle inside a PyTorch file) before it decodes any data, and keeps
only the keys the file may hold. Nothing here knows the file's name: a problem is raised as
:class:`~gradcheck_xor._safe_read.RefusedError`, which ``params_io`` turns into its
one-line ``ParamsFileError``. Whether the arrays describe a network is for ``params_io``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck_xor._description import is_key
from gradcheck_xor._safe_read import MemberReader, RefusedError, too_large, unique_keys, zip_members

Params = dict[str, np.ndarray]
DATA_KEYS = ("X", "Y")
# reference_impls.torch_xor's module names: MLP's layers.<i>.weight and .bias are layer i + 1;
# XorNet, the 2-2-1 module of earlier releases, named its two layers.
_TORCH_LAYER = re.compile(r"layers\.(0|[1-9][0-9]{0,5})\.(weight|bias)\Z")
_XORNET_NAMES = {"hidden.weight": "W1", "hidden.bias": "b1", "output.weight": "W2", "output.bias": "b2"}


@dataclasses.dataclass(frozen=True)
class Kind:
    """What a file is read as: the keys it may hold, and how errors say so."""

    what: str
    keys: str
    known: Callable[[str], bool]


PARAMETERS = Kind("parameter file", "keys W1, b1, ..., WL, bL (optional X, Y)", is_key)
DATA = Kind("data file", "keys X and Y", lambda key: key in DATA_KEYS)


def unknown_key(key: str, kind: Kind, source: str) -> RefusedError:
    return RefusedError(key, f"is not a known key of {source}", f"only {kind.keys}")


# --- from whatever the format decoded to, to float64 arrays ---------------------------------


def _dtype_problem(dtype: np.dtype) -> str | None:
    """What is wrong with an array of ``dtype`` as parameters, or None: only real numbers do."""
    if dtype.kind in "iuf":
        return None
    return "holds Python objects" if dtype.kind == "O" else f"holds dtype {dtype}"


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


def to_float64(key: str, value: Any) -> np.ndarray:
    """Convert one decoded value to a float64 array, refusing anything that is not numbers."""
    problem = _dtype_problem(value.dtype) if isinstance(value, np.ndarray) else _json_leaves_ok(value)
    if problem is not None:
        raise RefusedError(key, problem, "real numbers")
    try:
        return np.array(value, dtype=np.float64, order="C")
    except (ValueError, OverflowError, TypeError) as exc:
        reason = "nested lists of unequal lengths" if "inhomogeneous" in str(exc) else str(exc)
        raise RefusedError(key, f"is not an array ({reason})", "real numbers") from None


# --- one reader per format: bytes -> {key: decoded value} ---------------------------------

# Arrays, objects and strings cost Python 50 to 60 bytes each for 2 to 4 bytes of JSON. A
# parameter file needs a few dozen; a data file with a row per sample (rows layout) one per
# sample, some 6 bytes each. Counting them first keeps parsing's memory to ~16 times the text,
# what numbers take too.
_MIN_JSON_CONTAINERS, _JSON_BYTES_PER_CONTAINER = 1000, 4


def _read_json(data: bytes, max_bytes: int, kind: Kind) -> dict[str, Any]:
    expected = f"a JSON object with {kind.keys}"
    containers = data.count(b"[") + data.count(b"{") + data.count(b'"') // 2
    limit = max(_MIN_JSON_CONTAINERS, len(data) // _JSON_BYTES_PER_CONTAINER)
    if containers > limit:
        raise RefusedError(None, f"holds more than {limit} JSON arrays, objects and strings", expected)
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=unique_keys("in one JSON object"))
    except UnicodeDecodeError:
        raise RefusedError(None, "is not UTF-8 text", expected) from None
    except json.JSONDecodeError as exc:
        raise RefusedError(None, f"is not valid JSON ({exc})", expected) from None
    except RecursionError:
        raise RefusedError(None, "is not valid JSON (nested too deeply)", expected) from None
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
        reason = str(exc).partition(":")[0]
        raise RefusedError(None, f"holds a number Python does not read ({reason})", expected) from None
    if not isinstance(doc, dict):
        raise RefusedError(None, f"holds a JSON {type(doc).__name__}, not an object", expected)
    return doc


def _read_npy(key: str, member: MemberReader) -> np.ndarray:
    """One ``.npy`` member: its header is read and checked before any of its data."""
    from numpy.lib import format as npy

    not_npy = RefusedError(key, "is not a .npy array", "a numeric array")
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
        raise RefusedError(key, "holds a pickled object array, refused", "a numeric array")
    problem = _dtype_problem(dtype)
    if problem is not None:
        raise RefusedError(key, problem, "real numbers")
    if not all(0 <= n < 2**63 for n in shape):  # as NumPy's sizes; and each prints in a few digits
        raise not_npy
    size = math.prod(shape) * dtype.itemsize
    if size != member.left:
        problem = f"holds {member.left} bytes of data where its header declares {size}"
        raise RefusedError(key, problem, "a .npy array as np.save writes it")
    return np.frombuffer(member.read(size), dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_npz(data: bytes, max_bytes: int, kind: Kind) -> dict[str, Any]:
    expected = f"a NumPy .npz archive (np.savez) with {kind.keys}"
    if not data.startswith(b"PK"):
        raise RefusedError(None, "is not a zip archive", expected)
    out: dict[str, Any] = {}
    unpacked = 0
    for info in zip_members(data, ".npz archive", expected):
        key = info.filename.removesuffix(".npy")
        if key == info.filename:  # np.load would give such a member as bytes
            raise RefusedError(key, "is not a .npy array", "a numeric array")
        if not kind.known(key):
            raise unknown_key(key, kind, f"a .npz {kind.what}")
        unpacked += info.file_size
        if unpacked > max_bytes:
            raise too_large(key, "brings what the archive unpacks to", unpacked, max_bytes)
        out[key] = _read_npy(key, MemberReader(data, info, expected, key))
    return out


def _read_safetensors(data: bytes, max_bytes: int, kind: Kind) -> dict[str, Any]:
    from gradcheck_xor._safetensors_header import check_safetensors_header

    expected = f"a safetensors file with {kind.keys}"
    check_safetensors_header(data, expected)
    import safetensors.numpy

    try:
        return dict(safetensors.numpy.load(data))
    except Exception as exc:  # the Rust parser's errors are not a stable hierarchy
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RefusedError(None, f"is not a readable safetensors file ({reason})", expected) from None


def _torch_key(name: str) -> str | None:
    """The key of a torch module's state_dict name, or None for any other name."""
    if name in _XORNET_NAMES:
        return _XORNET_NAMES[name]
    layer = _TORCH_LAYER.match(name)
    if layer is None:
        return None
    return f"{'W' if layer[2] == 'weight' else 'b'}{int(layer[1]) + 1}"


def _read_torch(data: bytes, max_bytes: int, kind: Kind) -> dict[str, Any]:
    import pickle
    import warnings

    from gradcheck_xor._pt_screen import screen_torch_file

    expected = "a state_dict of tensors saved with torch.save (keys W1, b1, ... or layers.<i>.weight, .bias)"
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
        raise RefusedError(None, problem, expected) from None
    except Exception as exc:  # torch reports a damaged archive as RuntimeError, EOFError, ...
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RefusedError(None, f"is not a readable PyTorch file ({reason})", expected) from None
    if not isinstance(obj, Mapping):
        raise RefusedError(None, f"holds a {type(obj).__name__}, not a state_dict", expected)
    out: dict[str, Any] = {}
    module_names = kind is PARAMETERS and any(_torch_key(str(name)) for name in obj)
    for name, value in obj.items():
        name = str(name)
        key = name
        if module_names and name not in DATA_KEYS:
            key = _torch_key(name)  # type: ignore[assignment]
            if key is None:
                problem = "is not a name of a torch_xor module's state_dict"
                names = "only layers.0.weight, layers.0.bias, ... (or XorNet's hidden.*, output.*), X, Y"
                raise RefusedError(name, problem, names)
        if not isinstance(value, torch.Tensor):
            raise RefusedError(name, f"holds a {type(value).__name__}", "a tensor")
        array = value.detach().to(torch.float64).numpy()
        # A module's weight is (out, in), the columns layout's W: its 1-D bias is a column.
        out[key] = array.reshape(-1, 1) if module_names and key[0] == "b" and array.ndim == 1 else array
    return out


_READERS: dict[str, Callable[[bytes, int, Kind], dict[str, Any]]] = {
    ".json": _read_json,
    ".npz": _read_npz,
    ".safetensors": _read_safetensors,
    ".pt": _read_torch,
    ".pth": _read_torch,
}
SUFFIXES = tuple(_READERS)


def decode(data: bytes, suffix: str, max_bytes: int, kind: Kind) -> Params:
    """A file's arrays as float64, keyed and shaped as it holds them; only ``kind``'s keys.
    ``suffix`` is one of :data:`SUFFIXES`, ``data`` the whole file (not empty)."""
    raw = _READERS[suffix](data, max_bytes, kind)
    unknown = sorted(str(key) for key in raw if not kind.known(key))
    if unknown:
        raise unknown_key(unknown[0], kind, f"a {suffix} {kind.what}")
    return {key: to_float64(key, value) for key, value in raw.items()}


def write(arrays: Params, name: str, suffix: str) -> None:
    """Write ``arrays`` to the file ``name`` in the format of ``suffix``, keys and shapes as given."""
    if suffix == ".json":
        # repr-precision floats round-trip exactly; NaN and Infinity are written as JSON's extension.
        # One key per line, each array on that line, so a person can read and edit the file.
        lines = [f"  {json.dumps(k)}: {json.dumps(v.tolist())}" for k, v in arrays.items()]
        Path(name).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    elif suffix == ".npz":
        with open(name, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
    elif suffix == ".safetensors":
        import safetensors.numpy

        safetensors.numpy.save_file(arrays, name)
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, name)
