"""Hostile parameter files: each is refused at once with one line of at most 300 characters
naming the file (and the key), in bounded time and memory. Nothing waits on a FIFO or reads a
device, nothing unpacks past the limit, nothing in a PyTorch file is built before its pickle is
screened. Every file is made here, at test time, and small: the limit passed is 1 MiB."""

from __future__ import annotations

import bz2
import contextlib
import io
import json
import lzma
import os
import socket
import struct
import subprocess
import sys
import threading
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hypothesis_numpy
from params_files import examples, fitting_layouts

from gradcheck_xor.params_io import (
    MAX_BYTES,
    SUFFIXES,
    ParamsFileError,
    load_data,
    load_params,
    save_data,
    save_params,
)

LIMIT = 1 << 20  # the max_bytes every test passes unless it says otherwise
HANG = 5.0  # seconds: far more than any refusal takes, only there to turn a hang into a failure
GOOD = {"W1": np.eye(2), "b1": np.zeros((2, 1)), "W2": np.array([[1.0, -2.0]]), "b2": np.zeros((1, 1))}
CLI = Path(sys.executable).with_name("gradcheck-xor")


def _load(path: Path, max_bytes: int = LIMIT) -> dict[str, np.ndarray] | ParamsFileError:
    """What load_params returns or raises, given HANG seconds in a thread of its own."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(load_params(path, max_bytes=max_bytes))
        except BaseException as exc:  # handed to the test's thread below
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    assert outcome, f"load_params({str(path)!r}) did not return within {HANG} s"
    if isinstance(outcome[0], BaseException) and not isinstance(outcome[0], ParamsFileError):
        raise outcome[0]
    return outcome[0]  # type: ignore[return-value]


def _refusal(path: Path, key: str | None = None, max_bytes: int = LIMIT) -> str:
    """The message load_params refuses ``path`` with, checked to be one printable line of at
    most 300 characters naming the file and, when given, the key."""
    got = _load(path, max_bytes)
    assert isinstance(got, ParamsFileError), f"{path} was loaded"
    message = str(got)
    assert message.startswith(f"{path}: ")
    assert message.isprintable() and len(message) <= 300, message
    if key is not None:
        assert got.key == key and f"key {key!r}" in message, message
    return message


def _loads_or_is_refused(path: Path, max_bytes: int = LIMIT) -> None:
    got = _load(path, max_bytes)
    if isinstance(got, ParamsFileError):
        message = str(got)
        assert message.startswith(f"{path}: ") and message.isprintable() and len(message) <= 300, message
    else:  # float64 arrays that describe a network, in one layout at least
        assert all(value.dtype == np.float64 for value in got.values())
        params = {key: value for key, value in got.items() if key not in ("X", "Y")}
        assert fitting_layouts(params, got.get("X"))


# --- what the path is: only regular files are opened ---------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    os.mkfifo(path)
    assert "the file is a FIFO, not a regular file; expected a regular file." in _refusal(path)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_behind_a_symlink_is_refused_unread(tmp_path: Path, device: str) -> None:
    path = tmp_path / "p.npz"
    path.symlink_to(device)
    assert "the file is a character device, not a regular file" in _refusal(path)


def test_a_socket_and_a_directory_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.pt"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert "the file is a socket, not a regular file" in _refusal(path)
    (tmp_path / "d.json").mkdir()
    assert "the file is a directory, not a regular file" in _refusal(tmp_path / "d.json")


def test_a_fifo_swapped_in_after_the_check_is_refused_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os.stat says "a regular file" as it would have just before the swap; the descriptor
    # opened afterwards is a FIFO's and must be refused without reading.
    path, regular = tmp_path / "p.json", tmp_path / "regular.json"
    save_params(GOOD, regular)
    os.mkfifo(path)
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: real_stat(regular if str(p) == str(path) else p, *a, **k)
    )
    assert "the file is a FIFO, not a regular file" in _refusal(path)


def test_a_file_whose_stated_size_is_zero_is_still_read_up_to_the_limit(tmp_path: Path) -> None:
    # Files in /proc state no size but have content: reading goes on past st_size.
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc on this system")
    path = tmp_path / "p.json"
    path.symlink_to(status)
    assert "is not valid JSON" in _refusal(path)
    assert "holds more than the limit of 16 bytes, more than its stated size" in _refusal(path, max_bytes=16)


# --- size: refused before reading ----------------------------------------------------------


def test_a_file_over_the_limit_is_refused_from_its_size_naming_both_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b" " * (LIMIT + 1))
    message = _refusal(path)
    assert f"the file is {LIMIT + 1} bytes, more than the limit of {LIMIT} bytes" in message
    assert "--max-file-size" in message


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    text = json.dumps({k: v.tolist() for k, v in GOOD.items()})
    path.write_text(text + " " * (LIMIT - len(text)))
    got = _load(path)
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["W2"], GOOD["W2"])


def test_a_sparse_file_of_ten_gib_is_refused_by_the_default_limit_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    with open(path, "wb") as f:
        f.truncate(10 * 2**30)  # a hole: nothing is written, so reading it would take seconds
    got = _load(path, MAX_BYTES)
    assert isinstance(got, ParamsFileError)
    assert f"is {10 * 2**30} bytes, more than the limit of {64 * 2**20} bytes" in str(got)


# --- JSON ------------------------------------------------------------------------------------


def _json(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.json"
    path.write_text(text)
    return path


def _good_json(**extra: object) -> str:
    return json.dumps({**{k: v.tolist() for k, v in GOOD.items()}, **extra})


def test_a_key_of_ten_megabytes_is_cut_in_the_message(tmp_path: Path) -> None:
    key = "k" * 10_000_000
    message = _refusal(_json(tmp_path, _good_json(**{key: 1})), max_bytes=16 * LIMIT)
    assert "key 'kkkk" in message and "..." in message and "is not a known key" in message


def test_control_characters_and_newlines_in_a_key_are_escaped(tmp_path: Path) -> None:
    key = "bad\nkey\x1b[31m\r\u2028"
    message = _refusal(_json(tmp_path, _good_json(**{key: 1})), key=key)
    assert r"bad\nkey\x1b[31m\r\u2028" in message


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    text = _good_json()[:-1] + ', "W1": [[0, 0], [0, 0]]}'
    assert "appears twice in one JSON object; expected each key once." in _refusal(
        _json(tmp_path, text), "W1"
    )


def test_an_integer_too_long_for_python_is_refused(tmp_path: Path) -> None:
    _refusal(_json(tmp_path, _good_json()[:-1] + ', "X": [[' + "9" * 100_000 + "]]}"))


def test_nesting_deeper_than_the_parser_goes_is_refused(tmp_path: Path) -> None:
    _refusal(_json(tmp_path, '{"W1": ' + "[" * 990 + "]" * 990 + "}"))
    message = _refusal(_json(tmp_path, '{"W1": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert "holds more than 50002 JSON arrays, objects and strings" in message


def test_a_document_of_many_small_arrays_is_refused_before_parsing(tmp_path: Path) -> None:
    # Each "[]," is 3 bytes of JSON and some 64 bytes of Python list: more than one array per
    # 4 bytes of text (and more than a thousand) is refused before the parser sees it.
    text = '{"W1": [' + "[]," * 300_000 + "[]]}"
    assert "holds more than 225003 JSON arrays, objects and strings" in _refusal(_json(tmp_path, text))
    assert _peak_mib(lambda: load_params(_json(tmp_path, text))) < 2


def test_a_data_file_of_one_row_per_sample_loads_within_sixteen_times_its_size(tmp_path: Path) -> None:
    # The rows layout writes a list per sample: 40,000 of them, far more than a parameter
    # file's few dozen, and each costs Python some 60 bytes for its 8 bytes of text.
    path = tmp_path / "rows.json"
    save_data(np.ones((40_000, 2)), np.zeros(40_000), path)
    size = path.stat().st_size / 2**20
    X, Y = load_data(path, max_bytes=LIMIT)
    assert X.shape == (40_000, 2) and Y.shape == (40_000,)
    assert _peak_mib(lambda: load_data(path, max_bytes=LIMIT)) < 16 * size


# --- .npz: the directory and each .npy header are checked before any data ------------------


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _good_members() -> dict[str, bytes]:
    return {f"{k}.npy": _npy(v) for k, v in GOOD.items()}


def _patched(data: bytes, name: str, **fields: int) -> bytes:
    """``data`` with some of member ``name``'s ``version`` (needed to extract), ``flags``,
    ``method``, ``crc`` and ``size`` (unpacked) changed, in its directory entry and in its
    local header alike."""
    # Offsets of each field in a directory entry and in a local header, and its format.
    where = {
        "version": (6, 4, "<H"),
        "flags": (8, 6, "<H"),
        "method": (10, 8, "<H"),
        "crc": (16, 14, "<L"),
        "size": (24, 22, "<L"),
    }
    (info,) = [i for i in zipfile.ZipFile(io.BytesIO(data)).infolist() if i.filename == name]
    out = bytearray(data)
    # The directory entry: its signature, then at 28 the name's length, at 46 the name.
    entry = out.find(b"PK\x01\x02")
    while struct.unpack_from("<H", out, entry + 28)[0] != len(name) or not out.startswith(
        name.encode(), entry + 46
    ):
        entry = out.find(b"PK\x01\x02", entry + 1)
    for field, value in fields.items():
        central, local, fmt = where[field]
        struct.pack_into(fmt, out, entry + central, value)
        struct.pack_into(fmt, out, info.header_offset + local, value)
    return bytes(out)


def _npz(tmp_path: Path, data: bytes, name: str = "p.npz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_unknown_member_is_refused_before_it_is_read(tmp_path: Path) -> None:
    data = _zip({**_good_members(), "evil.npy": b"\0" * 4096}, zipfile.ZIP_DEFLATED)
    data = _patched(data, "evil.npy", size=2**32 - 1)  # 4 GiB, it says: never looked at
    assert "is not a known key of a .npz parameter file" in _refusal(_npz(tmp_path, data), "evil")


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    data = _patched(_zip(_good_members()), "b1.npy", flags=0x1)
    assert "is encrypted; expected an unencrypted archive." in _refusal(_npz(tmp_path, data), "b1.npy")


def test_an_unknown_compression_method_is_refused(tmp_path: Path) -> None:
    data = _patched(_zip(_good_members()), "W2.npy", method=99)
    assert "uses zip compression method 99" in _refusal(_npz(tmp_path, data), "W2.npy")


def test_a_member_needing_a_later_zip_version_is_refused(tmp_path: Path) -> None:
    data = _patched(_zip(_good_members()), "b2.npy", version=99)
    assert "is not a readable .npz archive (zip file version 9.9)" in _refusal(_npz(tmp_path, data))


def test_an_archive_of_a_hundred_members_is_refused_before_its_directory_is_parsed(tmp_path: Path) -> None:
    members = {**_good_members(), **{f"X{i}.npy": b"" for i in range(100)}}
    assert "holds more than 64 zip members" in _refusal(_npz(tmp_path, _zip(members)))


def test_a_member_given_twice_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        for name, member in [*_good_members().items(), ("W1.npy", _npy(np.zeros((2, 2))))]:
            z.writestr(name, member)
    assert "appears twice in the archive" in _refusal(_npz(tmp_path, buffer.getvalue()), "W1.npy")


def _npy_with_header(header: dict[str, object], data: bytes = bytes(32)) -> bytes:
    text = repr(header).encode() + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


NPY_HEADERS = [
    (
        "10^12 elements",
        {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)},
        "bytes of data where",
    ),
    ("objects", {"descr": "|O", "fortran_order": False, "shape": (2, 2)}, "holds a pickled object array"),
    ("structured", {"descr": [("a", "<f8")], "fortran_order": False, "shape": (2, 2)}, "holds dtype [('a'"),
    ("complex", {"descr": "<c16", "fortran_order": False, "shape": (2, 2)}, "holds dtype complex128"),
    ("negative shape", {"descr": "<f8", "fortran_order": False, "shape": (-2, -2)}, "is not a .npy array"),
    (
        "4000-digit sizes",
        {"descr": "<f8", "fortran_order": False, "shape": (10**4000, 10**4000)},
        "is not a .npy",
    ),
]


@pytest.mark.parametrize(("header", "problem"), [c[1:] for c in NPY_HEADERS], ids=[c[0] for c in NPY_HEADERS])
def test_a_npy_header_is_checked_before_its_data(
    tmp_path: Path, header: dict[str, object], problem: str
) -> None:
    data = _zip({**_good_members(), "W1.npy": _npy_with_header(header)})
    assert problem in _refusal(_npz(tmp_path, data), "W1")


def test_a_npy_header_declared_four_gib_long_is_refused(tmp_path: Path) -> None:
    member = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b"{" * 64
    assert "is not a .npy array" in _refusal(
        _npz(tmp_path, _zip({**_good_members(), "W1.npy": member})), "W1"
    )


# --- .npz bombs: W1.npy holds a (2, 2) array, then zeros compressed to almost nothing -----------

BOMB_SIZES = {"deflate": 256 * 2**20, "bzip2": 40 * 2**20, "lzma": 64 * 2**20}
METHODS = {"deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}
# LZMA1's properties byte for lc=3, lp=0, pb=2, then a 1 MiB dictionary, as zipfile writes them.
LZMA_PROPS = bytes([(2 * 5 + 0) * 9 + 3]) + (2**20).to_bytes(4, "little")


def _compressed(method: str, head: bytes, size: int) -> bytes:
    """``head`` then zeros up to ``size`` bytes, compressed as a zip member with ``method``."""
    mib = bytes(2**20)
    if method == "deflate":
        # After a full flush deflate starts afresh, so each further MiB of zeros compresses to
        # the same bytes: compressing one gives them all, at once.
        deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        first = deflate.compress(head + mib[len(head) :]) + deflate.flush(zlib.Z_FULL_FLUSH)
        again = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
        return first + again * (size // len(mib) - 1) + deflate.flush()
    chunks = [head + mib[len(head) :], *[mib] * (size // len(mib) - 1)]
    if method == "bzip2":
        compressor = bz2.BZ2Compressor()
        return b"".join(map(compressor.compress, chunks)) + compressor.flush()
    lzma1 = {"id": lzma.FILTER_LZMA1, "preset": 0, "lc": 3, "lp": 0, "pb": 2, "dict_size": 2**20}
    compressor = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[lzma1])
    stream = b"".join(map(compressor.compress, chunks)) + compressor.flush()
    # zipfile's lzma members start with LZMA SDK version 9.20 and the properties' length.
    return b"\x09\x14" + struct.pack("<H", len(LZMA_PROPS)) + LZMA_PROPS + stream


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """For each method, an honest bomb, whose directory states the size it unpacks to, and a
    quiet one, whose directory states the size and CRC of the (2, 2) array alone."""
    folder = tmp_path_factory.mktemp("bombs")
    head = _npy(GOOD["W1"])
    out: dict[tuple[str, str], Path] = {}
    for method, size in BOMB_SIZES.items():
        # Stored first, with the compressed stream as its bytes; then marked as compressed.
        stored = _zip({**_good_members(), "W1.npy": _compressed(method, head, size)})
        for kind, declared, crc in (("honest", size, 0), ("quiet", len(head), zlib.crc32(head))):
            data = _patched(stored, "W1.npy", method=METHODS[method], size=declared, crc=crc)
            out[method, kind] = _npz(folder, data, f"{method}-{kind}.npz")
            assert out[method, kind].stat().st_size < LIMIT
    return out


@pytest.mark.parametrize("method", METHODS)
def test_a_bomb_whose_directory_states_its_size_is_refused_unpacked(
    bombs: dict[tuple[str, str], Path], method: str
) -> None:
    message = _refusal(bombs[method, "honest"], "W1")
    size = BOMB_SIZES[method]
    assert f"brings what the archive unpacks to {size} bytes, more than the limit of {LIMIT} bytes" in message


@pytest.mark.parametrize("method", METHODS)
def test_a_quiet_bomb_gives_its_array_and_is_never_unpacked_further(
    bombs: dict[tuple[str, str], Path], method: str
) -> None:
    got = _load(bombs[method, "quiet"])
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["W1"], GOOD["W1"])


def _peak_mib(read: Callable[[], object]) -> float:
    """The most memory (MiB) Python held at once for ``read``, a refusal counting as a result.

    tracemalloc sees every bytes object and NumPy array, which is where unpacked data goes. (A
    child process's ru_maxrss would not do: Linux starts it at the parent's high-water mark.)
    """
    tracemalloc.start()
    try:
        with contextlib.suppress(ParamsFileError):
            read()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", ["bzip2", "lzma"])
def test_zipfiles_own_reader_unpacks_a_quiet_bomb_whole(
    bombs: dict[tuple[str, str], Path], method: str
) -> None:
    # The control for the test below: zipfile (so np.load) hands bzip2 and lzma decompressors
    # 4 KiB chunks with no bound on what they unpack to; 16 bytes asked for cost the bomb.
    with zipfile.ZipFile(bombs[method, "quiet"]) as z:
        assert _peak_mib(lambda: z.open("W1.npy").read(16)) > 20


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["honest", "quiet"])
def test_reading_a_bomb_takes_a_few_mib_of_memory(
    bombs: dict[tuple[str, str], Path], method: str, kind: str
) -> None:
    assert _peak_mib(lambda: load_params(bombs[method, kind], max_bytes=LIMIT)) < 4


# --- PyTorch files: the pickle is screened before torch.load --------------------------------
# A protocol-2 pickle written opcode by opcode, as torch.save writes a dict of tensors.


def _p_str(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text.encode())) + text.encode()


def _p_int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def _p_global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _p_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _p_tensor(
    record: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0
) -> bytes:
    """_rebuild_tensor_v2 of float64 storage ``record`` holding ``numel`` elements."""
    storage = _p_tuple(
        _p_str("storage"), _p_global("torch", "DoubleStorage"), _p_str(record), _p_str("cpu"), _p_int(numel)
    )
    hooks = _p_global("collections", "OrderedDict") + b")R"
    args = _p_tuple(
        storage + b"Q",
        _p_int(offset),
        _p_tuple(*map(_p_int, size)),
        _p_tuple(*map(_p_int, stride)),
        b"\x89",
        hooks,
    )
    return _p_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _p_dict(items: dict[str, bytes]) -> bytes:
    return b"\x80\x02}" + b"".join(_p_str(k) + v + b"s" for k, v in items.items()) + b"."


def _pt_archive(tmp_path: Path, pickle: bytes, records: dict[str, bytes], name: str = "p.pt") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle)
        for record, data in records.items():
            z.writestr(f"archive/data/{record}", data)
        z.writestr("archive/version", b"3\n")
        z.writestr("archive/byteorder", b"little")
    return path


def _good_pt(tmp_path: Path, **change: tuple[int, tuple[int, ...], tuple[int, ...], int]) -> Path:
    """GOOD as a hand-written PyTorch file; ``change`` gives a key another (numel, size,
    stride, offset) over the same storage."""
    tensors, records = {}, {}
    for i, (key, array) in enumerate(GOOD.items()):
        numel, size, stride, offset = change.get(
            key, (array.size, array.shape, tuple(s // 8 for s in array.strides), 0)
        )
        tensors[key] = _p_tensor(str(i), numel, size, stride, offset)
        records[str(i)] = array.tobytes()
    return _pt_archive(tmp_path, _p_dict(tensors), records)


def test_the_hand_written_pytorch_file_loads_through_torch(tmp_path: Path) -> None:
    # The control for the tests below, which change one thing in this file.
    pytest.importorskip("torch")
    got = _load(_good_pt(tmp_path))
    assert isinstance(got, dict)
    for key, array in GOOD.items():
        np.testing.assert_array_equal(got[key], array)


def test_tuple_keys_nested_sixty_deep_are_refused_at_once(tmp_path: Path) -> None:
    # t[i] = (t[i-1], t[i-1]): 1 KB of pickle, and hashing t[60] as a dict key takes 2**60 steps.
    chain = b")q\x00" + b"".join(
        b"h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"\x86q" + bytes([i]) for i in range(1, 61)
    )
    pickle = b"\x80\x02}" + chain + b"K\x00s."
    assert len(pickle) < 1024
    assert "holds containers nested more than 8 deep" in _refusal(_pt_archive(tmp_path, pickle, {}))


def test_a_tuple_key_is_refused(tmp_path: Path) -> None:
    pickle = b"\x80\x02}" + _p_tuple(_p_str("W1")) + _p_int(1) + b"s."
    assert "holds a dict key that is a tuple, not a string" in _refusal(_pt_archive(tmp_path, pickle, {}))


def test_a_zero_stride_view_of_a_terabyte_is_refused_from_the_pickle(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    torch.save({"W1": torch.zeros(1).expand(10**6, 10**6), "b1": torch.zeros(2)}, path)
    message = _refusal(path, "W1")
    assert f"is a (1000000, 1000000) tensor of float32, {4 * 10**12} bytes, more than the limit" in message
    assert _peak_mib(lambda: load_params(path, max_bytes=LIMIT)) < 4


def test_a_view_past_the_end_of_its_storage_is_refused(tmp_path: Path) -> None:
    path = _good_pt(tmp_path, W1=(4, (2, 2), (2, 1), 1))
    assert "views element 4 of a storage of 4 elements" in _refusal(path, "W1")


def test_a_storage_larger_than_its_record_is_refused(tmp_path: Path) -> None:
    path = _good_pt(tmp_path, b1=(10**9, (2, 1), (1, 1), 0))
    assert "holds storage '1' of 8000000000 bytes, but the archive has 16 bytes for it" in _refusal(
        path, "b1"
    )


def test_a_pickle_of_more_than_a_hundred_thousand_operations_is_refused(tmp_path: Path) -> None:
    pickle = b"\x80\x02]" + b"K\x00a" * 100_000 + b"."
    assert "holds a pickle of more than 100000 operations" in _refusal(_pt_archive(tmp_path, pickle, {}))


def test_a_compressed_or_legacy_pytorch_file_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    torch.save({k: torch.from_numpy(v) for k, v in GOOD.items()}, path)
    with zipfile.ZipFile(path) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    deflated = _npz(tmp_path, _zip(members, zipfile.ZIP_DEFLATED), "deflated.pt")
    assert "is compressed; expected stored members, as torch.save writes them" in _refusal(deflated)
    legacy = tmp_path / "legacy.pt"
    torch.save(
        {k: torch.from_numpy(v) for k, v in GOOD.items()}, legacy, _use_new_zipfile_serialization=False
    )
    assert "is not a PyTorch zip archive (torch.save's format), refused" in _refusal(legacy)


# How W1 is made from a float64 tensor (given torch too), and what the refusal says.
UNSUPPORTED_TENSORS = {
    "sparse": (lambda torch, t: t.to_sparse(), "holds a sparse tensor, unsupported"),
    "sparse CSR": (lambda torch, t: t.to_sparse_csr(), "holds a sparse tensor, unsupported"),
    "meta": (lambda torch, t: t.to("meta"), "holds a meta tensor, unsupported"),
    "quantized": (
        lambda torch, t: torch.quantize_per_tensor(t.float(), 0.1, 0, torch.quint8),
        "holds a quantized tensor, unsupported",
    ),
    "nested": (
        lambda torch, t: torch.nested.nested_tensor([t[0], t[1, :1]]),
        "holds a nested tensor, unsupported",
    ),
    "complex": (lambda torch, t: t.to(torch.complex128), "holds dtype torch.complex128"),
    "bool": (lambda torch, t: t.bool(), "holds dtype torch.bool"),
    "bits8": (lambda torch, t: t.to(torch.uint8).view(torch.bits8), "holds dtype torch.bits8"),
    "float8": (lambda torch, t: t.to(torch.float8_e4m3fn), "holds dtype torch.float8_e4m3fn"),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's, on making some of these tensors
@pytest.mark.parametrize(("make", "problem"), UNSUPPORTED_TENSORS.values(), ids=UNSUPPORTED_TENSORS)
def test_a_tensor_numpy_cannot_hold_is_refused_by_kind(
    tmp_path: Path, make: Callable[[Any, Any], Any], problem: str
) -> None:
    torch = pytest.importorskip("torch")
    tensors = {k: torch.from_numpy(v) for k, v in GOOD.items()}
    path = tmp_path / "p.pt"
    torch.save({**tensors, "W1": make(torch, tensors["W1"])}, path)
    assert problem in _refusal(path, "W1")


# How each parameter is made from a float64 tensor (given torch too).
ADMITTED = {
    "tensors": lambda torch, t: t,
    "parameters": lambda torch, t: torch.nn.Parameter(t),
    "uint16": lambda torch, t: t.abs().to(torch.uint16),
    "bfloat16": lambda torch, t: t.to(torch.bfloat16),
    "views": lambda torch, t: torch.cat([t.flatten(), t.flatten()])[t.numel() :].view(t.shape),
}


@pytest.mark.parametrize("form", ADMITTED.values(), ids=ADMITTED)
def test_what_torch_save_writes_for_a_state_dict_is_admitted(
    tmp_path: Path, form: Callable[[Any, Any], Any]
) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    torch.save({k: form(torch, torch.from_numpy(v)) for k, v in GOOD.items()}, path)
    got = _load(path)
    assert isinstance(got, dict), got
    np.testing.assert_array_equal(got["W1"], GOOD["W1"])


def test_pickle_protocol_4_which_torch_load_cannot_read_is_refused_by_name(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    torch.save({k: torch.from_numpy(v) for k, v in GOOD.items()}, path, pickle_protocol=4)
    assert "holds pickle operation FRAME, which torch.save's protocol 2 never writes" in _refusal(path)


# --- safetensors: the header is read and checked before the safetensors parser --------------


def _safetensors(
    tmp_path: Path, header: dict[str, Any] | bytes, buffer: bytes, length: int | None = None
) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "p.safetensors"
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + buffer)
    return path


def _good_safetensors() -> tuple[dict[str, Any], bytes]:
    header, buffer = {}, b""
    for key, array in GOOD.items():
        data = array.tobytes()
        header[key] = {
            "dtype": "F64",
            "shape": list(array.shape),
            "data_offsets": [len(buffer), len(buffer) + len(data)],
        }
        buffer += data
    return header, buffer


def test_the_hand_written_safetensors_file_loads(tmp_path: Path) -> None:
    # The control for the tests below, which change one thing in this file.
    got = _load(_safetensors(tmp_path, *_good_safetensors()))
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["W2"], GOOD["W2"])


def test_a_safetensors_header_length_beyond_the_file_or_a_mib_is_refused(tmp_path: Path) -> None:
    header, buffer = _good_safetensors()
    message = _refusal(_safetensors(tmp_path, header, buffer, length=2**63))
    assert f"declares a header of {2**63} bytes in a file of" in message
    padded = json.dumps(header).encode() + b" " * 2**21
    message = _refusal(_safetensors(tmp_path, padded, buffer), max_bytes=4 * LIMIT)
    assert f"declares a header of {len(padded)} bytes, more than {2**20}" in message


def test_a_key_given_twice_in_a_safetensors_header_is_refused(tmp_path: Path) -> None:
    header, buffer = _good_safetensors()
    text = json.dumps(header)[:-1] + ', "W1": ' + json.dumps(header["W1"]) + "}"
    assert "appears twice in the header" in _refusal(_safetensors(tmp_path, text.encode(), buffer), "W1")


SAFETENSORS_ENTRIES = [
    ("bool", {"dtype": "BOOL"}, "holds dtype BOOL; expected a real dtype (F64, F32"),
    ("bfloat16", {"dtype": "BF16"}, "holds dtype BF16"),
    ("10^12 elements", {"shape": [10**6, 10**6]}, f"declares {8 * 10**12} bytes of data at offsets 0 to 32"),
    ("past the end", {"data_offsets": [0, 2**40]}, "declares 32 bytes of data at offsets 0 to 1099511627776"),
    ("negative size", {"shape": [-2, -2]}, "has shape [-2, -2]"),
    ("4000-digit sizes", {"shape": [10**4000, 10**4000]}, "has shape [1000"),
    ("no offsets", {"data_offsets": None}, "has data offsets None"),
]


@pytest.mark.parametrize(
    ("change", "problem"), [c[1:] for c in SAFETENSORS_ENTRIES], ids=[c[0] for c in SAFETENSORS_ENTRIES]
)
def test_a_safetensors_entry_is_checked_before_the_parser_reads_it(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    header, buffer = _good_safetensors()
    header["W1"] = {**header["W1"], **change}
    assert problem in _refusal(_safetensors(tmp_path, header, buffer), "W1")


# --- arbitrary hostile input: a result or one short line, never anything else ---------------

_printable_or_not = st.characters(blacklist_categories=("Cs",))  # any character a file name may hold
_names = st.sampled_from(["W1", "b1", "W2", "b2", "X", "Y"]) | st.text(_printable_or_not, max_size=400)


@examples(60)
@given(
    extra=st.dictionaries(
        _names,
        st.recursive(
            st.none() | st.floats() | st.integers() | st.text(_printable_or_not),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=8,
        ),
        max_size=4,
    )
)
def test_any_json_keys_and_values_give_parameters_or_one_short_line(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    _loads_or_is_refused(_json(tmp_path, _good_json(**extra)))


# Sizes and offsets: small, large, and of thousands of digits.
_sizes = st.integers(-1, 3) | st.integers(-1, 2**64) | st.sampled_from([10**4000, -(10**4000)])
_npy_members = st.one_of(
    st.builds(
        _npy,
        hypothesis_numpy.arrays(
            st.sampled_from(["<f8", ">f4", "<i2", "|u1", "<c16", "|b1", "<U3"]),
            hypothesis_numpy.array_shapes(min_dims=0, max_dims=3, max_side=3),
        ),
    ),
    st.builds(
        _npy_with_header,
        st.fixed_dictionaries(
            {
                "descr": st.sampled_from(["<f8", "|O", "<c8", "V8", "<f16"]),
                "fortran_order": st.booleans(),
                "shape": st.lists(_sizes, max_size=3).map(tuple),
            }
        ),
        st.binary(max_size=64),
    ),
    st.binary(max_size=64),
)


@examples(60)
@given(
    # zipfile writes no name that is empty up to its first NUL.
    members=st.dictionaries(
        (_names.map(lambda n: n + ".npy") | _names).filter(lambda n: n.partition("\0")[0] != ""),
        _npy_members,
        max_size=7,
    ),
    method=st.sampled_from([zipfile.ZIP_STORED, *METHODS.values()]),
)
def test_any_npz_members_give_parameters_or_one_short_line(
    tmp_path: Path, members: dict[str, bytes], method: int
) -> None:
    _loads_or_is_refused(_npz(tmp_path, _zip({**_good_members(), **members}, method)))


_safetensors_entries = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["F64", "F32", "I8", "U16", "BOOL", "BF16", "C64", 1, None]),
        "shape": st.lists(_sizes, max_size=3) | st.none(),
        "data_offsets": st.lists(_sizes | st.integers(0, 40), max_size=3),
    }
)


@examples(60)
@given(
    entries=st.dictionaries(_names, _safetensors_entries | st.integers() | st.text(max_size=5), max_size=4),
    buffer=st.binary(max_size=64),
)
def test_any_safetensors_header_gives_parameters_or_one_short_line(
    tmp_path: Path, entries: dict[str, Any], buffer: bytes
) -> None:
    header, good_buffer = _good_safetensors()
    _loads_or_is_refused(_safetensors(tmp_path, {**header, **entries}, good_buffer + buffer))


def _saved(suffix: str) -> bytes:
    buffer = io.BytesIO()
    if suffix == ".npz":
        np.savez_compressed(buffer, **GOOD, X=np.ones((2, 64)), Y=np.zeros(64))
    else:
        torch = pytest.importorskip("torch")
        torch.save({k: torch.from_numpy(v) for k, v in GOOD.items()}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
@examples(80)
@given(
    edits=st.lists(
        st.tuples(st.floats(0.5, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4
    )
)
def test_any_damage_to_an_archives_directory_gives_parameters_or_one_short_line(
    tmp_path: Path, suffix: str, edits: list[tuple[float, int]]
) -> None:
    # The directory, and for a PyTorch file its pickle, sit in the second half of the file.
    data = bytearray(_saved(suffix))
    for where, value in edits:
        data[int(where * len(data))] = value
    _loads_or_is_refused(_npz(tmp_path, bytes(data), f"p{suffix}"))


# Pieces of protocol-2 pickles: every opcode a state_dict uses, a few it never does, and the
# globals the screen admits, plus one it refuses.
_PICKLE_PIECES = [
    *(bytes([op]) for op in b"()t\x85\x86\x87}]saueRQbN\x88\x89"),
    b"K\x00", b"K\x02", b"J\xff\xff\xff\xff", b"q\x00", b"q\x01", b"h\x00", b"h\x01",
    b"G" + struct.pack(">d", 0.5), b"\x8a\xff" + b"\x7f" * 255,
    _p_str("W1"), _p_str("storage"), _p_str("0"), _p_str("cpu"),
    _p_global("torch._utils", "_rebuild_tensor_v2"), _p_global("torch._utils", "_rebuild_tensor_v3"),
    _p_global("torch._utils", "_rebuild_parameter"), _p_global("collections", "OrderedDict"),
    _p_global("torch", "DoubleStorage"), _p_global("torch.storage", "UntypedStorage"),
    _p_global("torch", "uint16"), _p_global("builtins", "eval"),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's, on whatever it is handed
@examples(80)
@given(
    pieces=st.lists(st.sampled_from(_PICKLE_PIECES), max_size=40),
    at=st.integers(0, 10**6),
)
def test_any_pickle_gives_parameters_or_one_short_line(tmp_path: Path, pieces: list[bytes], at: int) -> None:
    # Pieces spliced into a good state_dict's pickle, or standing alone.
    good = _p_dict({"W1": _p_tensor("0", 4, (2, 2), (2, 1))})
    at = 2 + at % (len(good) - 2)
    for pickle in (good[:at] + b"".join(pieces) + good[at:], b"\x80\x02" + b"".join(pieces) + b"."):
        _loads_or_is_refused(_pt_archive(tmp_path, pickle, {"0": GOOD["W1"].tobytes()}))


# --- through the command: exit 2, one line on stderr, no traceback ----------------------------


def _hostile_for_the_command(tmp_path: Path, bombs: dict[tuple[str, str], Path]) -> dict[str, Path]:
    fifo, device = tmp_path / "fifo.json", tmp_path / "zero.npz"
    os.mkfifo(fifo)
    device.symlink_to("/dev/zero")
    long_key = _json(tmp_path, _good_json(**{"\n" * 10 + "k" * 5_000_000: 1}))
    chain = b")q\x00" + b"".join(
        b"h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"\x86q" + bytes([i]) for i in range(1, 61)
    )
    pt = _pt_archive(tmp_path, b"\x80\x02}" + chain + b"K\x00s.", {})
    return {
        "fifo": fifo,
        "device": device,
        "long key": long_key,
        "tuple chain": pt,
        "bomb": bombs["deflate", "honest"],
    }


def test_the_command_refuses_hostile_files_with_one_line_and_exit_2(
    tmp_path: Path, bombs: dict[tuple[str, str], Path]
) -> None:
    for what, path in _hostile_for_the_command(tmp_path, bombs).items():
        run = subprocess.run([str(CLI), "diagnose", str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, (what, run.stderr)
        assert run.stdout == "" and "Traceback" not in run.stderr, (what, run.stderr)
        (line,) = run.stderr.splitlines()
        assert line.startswith("gradcheck-xor diagnose: error: ") and str(path) in line, (what, line)
        assert len(line) <= 300 + len("gradcheck-xor diagnose: error: "), (what, line)
