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

The formats themselves are read and written by :mod:`gradcheck_xor._formats`; this module
says what their arrays describe. Nothing is ever unpickled. Every unusable file raises
:class:`ParamsFileError`, whose message names the file, the key and what was expected, on one
line of at most 300 characters.

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

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck_xor._description import is_key
from gradcheck_xor._formats import (
    DATA,
    DATA_KEYS,
    PARAMETERS,
    SUFFIXES,
    Kind,
    decode,
    to_float64,
    unknown_key,
    write,
)
from gradcheck_xor._safe_read import RefusedError, read_regular_file
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

MAX_BYTES = 64 * 2**20
"""The default limit of :func:`load_params` on a file's size, and on what its archive unpacks to."""

Params = dict[str, np.ndarray]


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


@contextlib.contextmanager
def _refusals_of(path: str) -> Iterator[None]:
    """A reader's :class:`RefusedError` as the file's :class:`ParamsFileError`."""
    try:
        yield
    except RefusedError as exc:
        raise ParamsFileError(path, exc.key, exc.problem, exc.expected) from None


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ParamsFileError(
            name, None, f"has an unknown suffix {suffix!r}", f"one of {', '.join(SUFFIXES)}"
        )
    return suffix


def _read(path: str | os.PathLike[str], kind: Kind, max_bytes: int) -> Params:
    """The file's arrays as float64, keyed and shaped as it holds them; only ``kind``'s keys."""
    name = str(path)
    suffix = _suffix(name)
    with _refusals_of(name):
        data = read_regular_file(name, max_bytes)
        if not data:
            raise ParamsFileError(name, None, "is empty", f"a {suffix} file with {kind.keys}")
        return decode(data, suffix, max_bytes, kind)


# --- what the arrays describe ----------------------------------------------------------------


def _split(arrays: Mapping[str, np.ndarray]) -> tuple[Params, np.ndarray | None, np.ndarray | None]:
    params = {key: value for key, value in arrays.items() if key not in DATA_KEYS}
    return params, arrays.get("X"), arrays.get("Y")


def _networks(path: str, arrays: Mapping[str, np.ndarray]) -> list[Network]:
    """The network the arrays describe in each layout where they fit (both when their shapes
    cannot tell); the reason they fit neither as the file's error. Labels are checked for
    their number of samples only: what they may hold depends on the output."""
    params, X, Y = _split(arrays)
    if not params:
        raise ParamsFileError(path, None, "holds no weights", PARAMETERS.keys)
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
    arrays = _read(name, PARAMETERS, max_bytes)
    nets = _networks(name, arrays)
    if "X" not in arrays and len(nets) == 1 and nets[0].widths[0] == 2:
        arrays["X"], arrays["Y"] = _xor_data(nets[0].layout)
    return arrays


def load_data(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Read a data file, in any format of :func:`load_params`: float64 ``X`` and ``Y`` as it
    holds them. Whether they fit a network is for :func:`load_network` to say."""
    name = str(path)
    arrays = _read(name, DATA, max_bytes)
    for key in DATA_KEYS:
        if key not in arrays:
            raise ParamsFileError(name, key, "is missing", f"{DATA.keys} in a {DATA.what}")
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
    arrays = _read(name, PARAMETERS, max_bytes)
    _networks(name, arrays)
    params, X, Y = _split(arrays)
    data_name = name if data is None else str(data)
    if data is not None:
        X, Y = load_data(data, max_bytes=max_bytes)
    try:
        net = describe(params, X, hidden=hidden, output=output, loss=loss, layout=layout)
    except NetworkError as exc:
        error = _from_network(name, exc)
        raise (_from_network(data_name, exc) if error.key in DATA_KEYS else error) from None
    if X is None or Y is None:
        if net.widths[0] != 2:
            problem = f"holds no data for the {net.widths[0]}-input network"
            raise ParamsFileError(name, None, problem, "X and Y in it or in a data file (--data)")
        X, Y = _xor_data(net.layout)
        data_name = ""
    # Only the labels' shape is checked here: what they hold (a class the outputs do not have,
    # a NaN) is for diagnose to report as label-range, so a file may hold it.
    labels = np.zeros_like(Y) if net.output == "softmax" and Y.ndim == 1 else Y
    try:
        as_data(net, X, labels)
    except NetworkError as exc:
        if not data_name:
            problem = f"holds no data, and the XOR data's labels (4,) do not fit the {net}"
            raise ParamsFileError(name, None, problem, "X and Y in it or in a data file (--data)") from None
        raise _from_network(data_name, exc) from None
    return net, params, X, Y


# --- writing ---------------------------------------------------------------------------------


def _given(name: str, values: Mapping[str, Any], kind: Kind) -> Params:
    unknown = [str(key) for key in values if not kind.known(key)]
    with _refusals_of(name):
        if unknown:
            raise unknown_key(unknown[0], kind, f"a {kind.what}")
        return {key: to_float64(key, np.asarray(v)) for key, v in values.items()}


def save_params(params: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``W1, b1, ..., WL, bL`` (and ``X``, ``Y`` when present) in the format of the
    suffix, as float64, each under its own key and in its own shape; the network they describe
    is checked first, as :func:`load_params` checks it."""
    name = str(path)
    suffix = _suffix(name)
    arrays = _given(name, params, PARAMETERS)
    _networks(name, arrays)
    write(arrays, name, suffix)


def save_data(X: Any, Y: Any, path: str | os.PathLike[str]) -> None:
    """Write a data file, ``X`` and ``Y`` as float64 in their own shapes, in the suffix's format."""
    name = str(path)
    suffix = _suffix(name)
    write(_given(name, {"X": X, "Y": Y}, DATA), name, suffix)
