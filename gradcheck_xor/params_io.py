"""Read and write a network's parameters (and optionally its data) as files.

Formats, chosen by the file's suffix:

* ``.json``: one object, ``{"W1": [[..], [..]], "b1": [..], ...}``; ``NaN`` and
  ``Infinity`` are accepted so that a diverged run can still be diagnosed;
* ``.npz``: NumPy's archive (``np.savez``, ``np.savez_compressed``), read member by member
  from each ``.npy`` header, never through pickle;
* ``.safetensors``: the ``safetensors`` package's NumPy API, once the header is checked;
* ``.pt`` / ``.pth``: a PyTorch state_dict, under the keys below or under the names of
  :mod:`reference_impls.torch_xor`'s modules (``layers.0.weight``, ``layers.0.bias``, ...,
  and the older ``XorNet``'s ``hidden.weight``, ``hidden.bias``, ``output.weight``,
  ``output.bias``). torch is imported only for these files and loads with ``weights_only=True``.

Keys: ``W1, b1, ..., WL, bL`` (``w1`` too; any bias may be left out) for any fully connected
network, and optionally its data ``X`` and ``Y``. The widths, the depth and the layout come
from the shapes, through :func:`gradcheck_xor.network.describe`: weights that do not chain, a
bias of the wrong width or a gap in the numbering are refused. A state_dict's weights are
(out, in), so its biases are read as (n, 1) columns and its ``X`` as (n_in, m).

* :func:`load_params`: the arrays as the file holds them (float64), plus the notebook's XOR
  data when the file holds no data and its network takes 2 inputs;
* :func:`load_network`: the :class:`~gradcheck_xor.network.Network` the file describes (with
  the options the shapes cannot say), its parameters and its data, from the file, from a data
  file or the XOR default; every command that reads a parameter file goes through it;
* :func:`load_data`: a data file, which holds ``X`` and ``Y`` only;
* :func:`save_params`, :func:`save_data`: write them, keys and shapes as given.

Nothing is ever unpickled. Every unusable file raises :class:`ParamsFileError`, whose
message names the file, the key and what was expected, on one line of at most 300 characters.

Files come from anywhere, so reading them is bounded: only a regular file is opened (a FIFO,
a device, a socket or a directory is refused from its metadata, without waiting), a file
larger than ``max_bytes`` (:data:`MAX_BYTES` unless raised) is refused before it is read, and
so is an archive whose members would unpack to more. Each format's structure (the ``.npz``
directory and ``.npy`` headers, the safetensors header, the pickle inside a PyTorch file) is
checked before its data is decoded. Memory stays within a small multiple of ``max_bytes`` (the
file, what it unpacks to, the float64 copies), except for JSON, which Python's parser turns
into objects of up to ~16 times the text's size.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck_xor._description import is_key
from gradcheck_xor._safe_read import (
    MemberReader,
    RefusedError,
    read_regular_file,
    too_large,
    unique_keys,
    zip_members,
)
from gradcheck_xor.network import LAYOUTS, Network, NetworkError, as_data, describe

__all__ = [
    "MAX_BYTES",
    "SUFFIXES",
    "ParamsFileError",
    "load_data",
    "load_network",
    "load_params",
    "save_data",
    "save_params",
]

SUFFIXES = (".json", ".npz", ".safetensors", ".pt", ".pth")
MAX_BYTES = 64 * 2**20
"""The default limit of :func:`load_params` on a file's size, and on what its archive unpacks to."""

Params = dict[str, np.ndarray]
_DATA_KEYS = ("X", "Y")
# reference_impls.torch_xor's module names: MLP's layers.<i>.weight and .bias are layer i + 1;
# XorNet, the 2-2-1 module of earlier releases, named its two layers.
_TORCH_LAYER = re.compile(r"layers\.(0|[1-9][0-9]{0,5})\.(weight|bias)\Z")
_XORNET_NAMES = {"hidden.weight": "W1", "hidden.bias": "b1", "output.weight": "W2", "output.bias": "b2"}


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What a file is read as: the keys it may hold, and how errors say so."""

    what: str
    keys: str
    known: Callable[[str], bool]


_PARAMETERS = _Kind("parameter file", "keys W1, b1, ..., WL, bL (optional X, Y)", is_key)
_DATA = _Kind("data file", "keys X and Y", lambda key: key in _DATA_KEYS)


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

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str | None,
        problem: str,
        expected: str,
        *,
        subject: str | None = None,
    ) -> None:
        self.path, self.key, self.expected = str(path), key, expected
        # One short line whatever the file holds (a key may be megabytes of control characters):
        # the command prints it as its only words on stderr. ``subject`` replaces "the file" for
        # a problem that names its own subject ("" for none).
        if key is not None:
            subject = "key " + _one_line(repr(key[: 2 * _KEY_CHARS]), _KEY_CHARS)
        elif subject is None:
            subject = "the file"
        head = f"{_one_line(self.path, _PATH_CHARS)}: {subject + ' ' if subject else ''}"
        tail = f"; expected {_one_line(expected, _EXPECTED_CHARS)}."
        super().__init__(head + _one_line(problem, _MESSAGE_CHARS - len(head) - len(tail)) + tail)


def _from_network(path: str, exc: NetworkError) -> ParamsFileError:
    """A :class:`NetworkError` ("W2 has shape (1, 2); expected ...") as the file's error,
    naming the key it starts with."""
    problem, _, expected = str(exc).partition("; expected ")
    head, _, rest = problem.partition(" ")
    if is_key(head) and rest:
        return ParamsFileError(path, head, rest, expected.removesuffix("."))
    return ParamsFileError(path, None, problem, expected.removesuffix("."), subject="")


def _dtype_problem(dtype: np.dtype) -> str | None:
    """What is wrong with an array of ``dtype`` as parameters, or None: only real numbers do."""
    if dtype.kind in "iuf":
        return None
    return "holds Python objects" if dtype.kind == "O" else f"holds dtype {dtype}"


def _unknown_key(path: str, key: str, kind: _Kind, source: str) -> ParamsFileError:
    return ParamsFileError(path, key, f"is not a known key of {source}", f"only {kind.keys}")


# --- from whatever the format decoded to, to float64 arrays ---------------------------------


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


def _to_float64(path: str, key: str, value: Any) -> np.ndarray:
    """Convert one decoded value to a float64 array, refusing anything that is not numbers."""
    problem = _dtype_problem(value.dtype) if isinstance(value, np.ndarray) else _json_leaves_ok(value)
    if problem is not None:
        raise ParamsFileError(path, key, problem, "real numbers")
    try:
        return np.array(value, dtype=np.float64, order="C")
    except (ValueError, OverflowError, TypeError) as exc:
        reason = "nested lists of unequal lengths" if "inhomogeneous" in str(exc) else str(exc)
        raise ParamsFileError(path, key, f"is not an array ({reason})", "real numbers") from None


# --- one reader per format: bytes -> {key: decoded value} ---------------------------------

# Arrays, objects and strings cost Python 50 to 60 bytes each for 2 to 4 bytes of JSON. A
# parameter file needs a few dozen; a data file with a row per sample (rows layout) one per
# sample, some 6 bytes each. Counting them first keeps parsing's memory to ~16 times the text,
# what numbers take too.
_MIN_JSON_CONTAINERS, _JSON_BYTES_PER_CONTAINER = 1000, 4


def _read_json(path: str, data: bytes, max_bytes: int, kind: _Kind) -> dict[str, Any]:
    expected = f"a JSON object with {kind.keys}"
    containers = data.count(b"[") + data.count(b"{") + data.count(b'"') // 2
    limit = max(_MIN_JSON_CONTAINERS, len(data) // _JSON_BYTES_PER_CONTAINER)
    if containers > limit:
        problem = f"holds more than {limit} JSON arrays, objects and strings"
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
        raise ParamsFileError(path, key, problem, "real numbers")
    if not all(0 <= n < 2**63 for n in shape):  # as NumPy's sizes; and each prints in a few digits
        raise not_npy
    size = math.prod(shape) * dtype.itemsize
    if size != member.left:
        problem = f"holds {member.left} bytes of data where its header declares {size}"
        raise ParamsFileError(path, key, problem, "a .npy array as np.save writes it")
    return np.frombuffer(member.read(size), dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_npz(path: str, data: bytes, max_bytes: int, kind: _Kind) -> dict[str, Any]:
    expected = f"a NumPy .npz archive (np.savez) with {kind.keys}"
    if not data.startswith(b"PK"):
        raise ParamsFileError(path, None, "is not a zip archive", expected)
    out: dict[str, Any] = {}
    unpacked = 0
    for info in zip_members(data, ".npz archive", expected):
        key = info.filename.removesuffix(".npy")
        if key == info.filename:  # np.load would give such a member as bytes
            raise ParamsFileError(path, key, "is not a .npy array", "a numeric array")
        if not kind.known(key):
            raise _unknown_key(path, key, kind, f"a .npz {kind.what}")
        unpacked += info.file_size
        if unpacked > max_bytes:
            raise too_large(key, "brings what the archive unpacks to", unpacked, max_bytes)
        out[key] = _read_npy(path, key, MemberReader(data, info, expected, key))
    return out


def _read_safetensors(path: str, data: bytes, max_bytes: int, kind: _Kind) -> dict[str, Any]:
    from gradcheck_xor._safetensors_header import check_safetensors_header

    expected = f"a safetensors file with {kind.keys}"
    check_safetensors_header(data, expected)
    import safetensors.numpy

    try:
        return dict(safetensors.numpy.load(data))
    except Exception as exc:  # the Rust parser's errors are not a stable hierarchy
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = f"is not a readable safetensors file ({reason})"
        raise ParamsFileError(path, None, problem, expected) from None


def _torch_key(name: str) -> str | None:
    """The key of a torch module's state_dict name, or None for any other name."""
    if name in _XORNET_NAMES:
        return _XORNET_NAMES[name]
    layer = _TORCH_LAYER.match(name)
    if layer is None:
        return None
    return f"{'W' if layer[2] == 'weight' else 'b'}{int(layer[1]) + 1}"


def _read_torch(path: str, data: bytes, max_bytes: int, kind: _Kind) -> dict[str, Any]:
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
        raise ParamsFileError(path, None, problem, expected) from None
    except Exception as exc:  # torch reports a damaged archive as RuntimeError, EOFError, ...
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ParamsFileError(path, None, f"is not a readable PyTorch file ({reason})", expected) from None
    if not isinstance(obj, Mapping):
        raise ParamsFileError(path, None, f"holds a {type(obj).__name__}, not a state_dict", expected)
    out: dict[str, Any] = {}
    module_names = kind is _PARAMETERS and any(_torch_key(str(name)) for name in obj)
    for name, value in obj.items():
        name = str(name)
        key = name
        if module_names and name not in _DATA_KEYS:
            key = _torch_key(name)  # type: ignore[assignment]
            if key is None:
                problem = "is not a name of a torch_xor module's state_dict"
                names = "only layers.0.weight, layers.0.bias, ... (or XorNet's hidden.*, output.*), X, Y"
                raise ParamsFileError(path, name, problem, names)
        if not isinstance(value, torch.Tensor):
            raise ParamsFileError(path, name, f"holds a {type(value).__name__}", "a tensor")
        array = value.detach().to(torch.float64).numpy()
        # A module's weight is (out, in), the columns layout's W: its 1-D bias is a column.
        out[key] = array.reshape(-1, 1) if module_names and key[0] == "b" and array.ndim == 1 else array
    return out


_READERS: dict[str, Callable[[str, bytes, int, _Kind], dict[str, Any]]] = {
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


def _read(path: str | os.PathLike[str], kind: _Kind, max_bytes: int) -> Params:
    """The file's arrays as float64, keyed and shaped as it holds them; only ``kind``'s keys."""
    name = str(path)
    suffix = _suffix(name)
    try:
        data = read_regular_file(name, max_bytes)
        if not data:
            raise ParamsFileError(name, None, "is empty", f"a {suffix} file with {kind.keys}")
        raw = _READERS[suffix](name, data, max_bytes, kind)
    except RefusedError as exc:
        raise ParamsFileError(name, exc.key, exc.problem, exc.expected) from None
    unknown = sorted(str(key) for key in raw if not kind.known(key))
    if unknown:
        raise _unknown_key(name, unknown[0], kind, f"a {suffix} {kind.what}")
    return {key: _to_float64(name, key, value) for key, value in raw.items()}


# --- what the arrays describe ----------------------------------------------------------------


def _split(arrays: Mapping[str, np.ndarray]) -> tuple[Params, np.ndarray | None, np.ndarray | None]:
    params = {key: value for key, value in arrays.items() if key not in _DATA_KEYS}
    return params, arrays.get("X"), arrays.get("Y")


def _networks(path: str, arrays: Mapping[str, np.ndarray]) -> list[Network]:
    """The network the arrays describe in each layout where they fit (both when their shapes
    cannot tell); the reason they fit neither as the file's error. Labels are checked for
    their number of samples only: what they may hold depends on the output."""
    params, X, Y = _split(arrays)
    if not params:
        raise ParamsFileError(path, None, "holds no weights", _PARAMETERS.keys)
    if (X is None) != (Y is None):
        given, missing = ("X", "Y") if Y is None else ("Y", "X")
        raise ParamsFileError(path, missing, f"is missing while the file holds {given}", "X and Y together")
    nets = []
    for layout in LAYOUTS:
        try:
            nets.append(describe(params, X, layout=layout))
        except NetworkError:
            continue
    if not nets:
        try:
            describe(params, X)  # fails, with the message of the layout that fits further
        except NetworkError as exc:
            raise _from_network(path, exc) from None
    if Y is not None and X is not None:
        shapes = {}
        for net in nets:
            cols, m = net.layout == "columns", X.shape[1 if net.layout == "columns" else 0]
            shapes[(net.n_out, m) if cols else (m, net.n_out)] = None
            shapes[(m,)] = None
        if Y.shape not in shapes:
            want = " or ".join(map(str, shapes))
            raise ParamsFileError(path, "Y", f"has shape {Y.shape}", f"{want} for the samples of X")
    return nets


def _xor_data(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's data in ``layout``: X (2, 4) or (4, 2), labels (4,) as the notebook has them."""
    from gradcheck_xor.model import xor_data

    X, Y = xor_data()
    return (X if layout == "columns" else X.T.copy()), Y.reshape(-1)


def load_params(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Params:
    """Read a parameter file: float64 arrays keyed and shaped as the file holds them (a
    state_dict's module names as ``W1, b1, ...``), its ``X`` and ``Y`` when present.

    When the file holds no data and its network takes 2 inputs (in a layout its shapes tell),
    ``X`` and ``Y`` are the notebook's XOR data: X (2, 4) (or (4, 2) in the rows layout) and
    labels (4,). ``max_bytes`` bounds the file's size and what an archive's arrays unpack to.
    Raises :class:`ParamsFileError` for any file that cannot be used as such.
    """
    name = str(path)
    arrays = _read(name, _PARAMETERS, max_bytes)
    nets = _networks(name, arrays)
    if "X" not in arrays and len(nets) == 1 and nets[0].widths[0] == 2:
        arrays["X"], arrays["Y"] = _xor_data(nets[0].layout)
    return arrays


def load_data(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Read a data file, in any format of :func:`load_params`: float64 ``X`` and ``Y`` as it
    holds them. Whether they fit a network is for :func:`load_network` to say."""
    name = str(path)
    arrays = _read(name, _DATA, max_bytes)
    for key in _DATA_KEYS:
        if key not in arrays:
            raise ParamsFileError(name, key, "is missing", f"{_DATA.keys} in a {_DATA.what}")
    return arrays["X"], arrays["Y"]


def load_network(
    path: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | None = None,
    layout: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> tuple[Network, Params, np.ndarray, np.ndarray]:
    """``(network, params, X, Y)`` from a parameter file: the network its shapes describe with
    the options they cannot say (see :func:`gradcheck_xor.network.describe`), its parameters,
    and its data as stored: from ``data`` (a data file, which wins over the file's own), else
    from the file, else the notebook's XOR data for a 2-input network whose output takes
    labels (4,). Raises :class:`ParamsFileError` naming the file at fault.
    """
    name = str(path)
    arrays = _read(name, _PARAMETERS, max_bytes)
    _networks(name, arrays)
    params, X, Y = _split(arrays)
    data_name = name if data is None else str(data)
    if data is not None:
        X, Y = load_data(data, max_bytes=max_bytes)
    try:
        net = describe(params, X, hidden=hidden, output=output, loss=loss, layout=layout)
    except NetworkError as exc:
        error = _from_network(name, exc)
        raise (_from_network(data_name, exc) if error.key in _DATA_KEYS else error) from None
    if X is None or Y is None:
        if net.widths[0] != 2:
            problem = f"holds no data for the {net.widths[0]}-input network"
            raise ParamsFileError(name, None, problem, "X and Y in it or in a data file (--data)")
        X, Y = _xor_data(net.layout)
        data_name = ""
    try:
        as_data(net, X, Y)
    except NetworkError as exc:
        if not data_name:
            problem = f"holds no data, and the XOR data's labels (4,) do not fit the {net}"
            raise ParamsFileError(name, None, problem, "X and Y in it or in a data file (--data)") from None
        raise _from_network(data_name, exc) from None
    return net, params, X, Y


# --- writing ---------------------------------------------------------------------------------


def _write(arrays: Params, name: str, suffix: str) -> None:
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


def _given(name: str, values: Mapping[str, Any], kind: _Kind) -> Params:
    unknown = [str(key) for key in values if not kind.known(key)]
    if unknown:
        raise _unknown_key(name, unknown[0], kind, f"a {kind.what}")
    return {key: _to_float64(name, key, np.asarray(v)) for key, v in values.items()}


def save_params(params: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``W1, b1, ..., WL, bL`` (and ``X``, ``Y`` when present) in the format of the
    suffix, as float64, each under its own key and in its own shape; the network they describe
    is checked first, as :func:`load_params` checks it."""
    name = str(path)
    suffix = _suffix(name)
    arrays = _given(name, params, _PARAMETERS)
    _networks(name, arrays)
    _write(arrays, name, suffix)


def save_data(X: Any, Y: Any, path: str | os.PathLike[str]) -> None:
    """Write a data file, ``X`` and ``Y`` as float64 in their own shapes, in the suffix's format."""
    name = str(path)
    suffix = _suffix(name)
    _write(_given(name, {"X": X, "Y": Y}, _DATA), name, suffix)
