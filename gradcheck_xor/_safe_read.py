"""Reading untrusted files within a byte budget: the file itself, then the members of a zip
archive (``.npz`` and PyTorch files are zip archives).

Nothing here knows about parameters. A problem is raised as :class:`RefusedError`, which
:func:`gradcheck_xor.params_io.load_params` turns into its one-line ``ParamsFileError``.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

RAISE_THE_LIMIT = "a smaller file, or a higher limit with --max-file-size (max_bytes in Python)"
# What os.stat can say a path is when it is not a regular file.
_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# O_NONBLOCK: should a FIFO be swapped in between stat and open, open returns at once instead of
# waiting for a writer (fstat then refuses it). O_NOCTTY: a terminal never becomes ours.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30  # fixed part; the name and extra-field lengths are its last two fields
_COMPRESSIONS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_CHUNK = 1 << 16  # compressed bytes handed to a decompressor at a time


class RefusedError(Exception):
    """A file refused before or while it was read: the ``key`` at fault (None for the whole
    file), what is wrong and what was expected, worded as ``ParamsFileError`` words them."""

    def __init__(self, key: str | None, problem: str, expected: str) -> None:
        super().__init__(problem)
        self.key, self.problem, self.expected = key, problem, expected


def too_large(key: str | None, what: str, size: int, max_bytes: int) -> RefusedError:
    """The refusal of ``what`` (e.g. "is", "unpacks to") ``size`` bytes, over ``max_bytes``."""
    return RefusedError(
        key, f"{what} {size} bytes, more than the limit of {max_bytes} bytes", RAISE_THE_LIMIT
    )


def unique_keys(where: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object_pairs_hook refusing a key given twice ``where`` (e.g. "in the header"):
    parsers disagree on which of the two wins."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) < len(pairs):
            seen: set[str] = set()
            twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise RefusedError(twice, f"appears twice {where}", "each key once")
        return out

    return build


def _check_regular(mode: int, size: int, max_bytes: int) -> None:
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(mode):
            raise RefusedError(None, f"is {kind}, not a regular file", "a regular file")
    if not stat.S_ISREG(mode):
        raise RefusedError(None, "is not a regular file", "a regular file")
    if size > max_bytes:
        raise too_large(None, "is", size, max_bytes)


def read_regular_file(path: str, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes`` bytes.

    What the path is and how large it is are checked from its metadata before it is opened
    (through any symlink: ``/dev/zero`` behind a link is still a device), and again on the
    opened descriptor, so a FIFO, a device, a socket or a directory is never read from and
    nothing waits for a writer or reads without end.
    """
    try:
        info = os.stat(path)
        _check_regular(info.st_mode, info.st_size, max_bytes)
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise RefusedError(None, f"cannot be read ({reason})", "a readable file") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        _check_regular(info.st_mode, info.st_size, max_bytes)
        # One byte past the stated size tells whether the file grew since (or, like files in
        # /proc, states no size); it may then be read up to one byte past the limit.
        data = f.read(info.st_size + 1)
        if len(data) > info.st_size:
            data += f.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        problem = f"holds more than the limit of {max_bytes} bytes, more than its stated size"
        raise RefusedError(None, problem, RAISE_THE_LIMIT)
    return data


def zip_members(data: bytes, what: str, expected: str, max_members: int = 64) -> list[zipfile.ZipInfo]:
    """The members of the zip archive ``data`` (described as ``what`` in errors), each with a
    unique name, unencrypted and compressed in a way :class:`MemberReader` undoes; nothing of
    their contents is read.
    """
    # zipfile parses the whole central directory as it opens an archive, some 400 bytes of
    # memory per 46-byte entry; every entry starts with this signature, so counting it first
    # bounds what opening can cost.
    if data.count(_CENTRAL_DIRECTORY_ENTRY) > max_members:
        raise RefusedError(None, f"holds more than {max_members} zip members", expected)
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise RefusedError(None, f"is not a readable {what} ({exc})", expected) from None
    seen: set[str] = set()
    for info in members:
        name = info.filename
        if name in seen:
            raise RefusedError(name, "appears twice in the archive", expected)
        seen.add(name)
        if info.flag_bits & 0x1:
            raise RefusedError(name, "is encrypted", "an unencrypted archive")
        if info.compress_type not in _COMPRESSIONS:
            method = f"uses zip compression method {info.compress_type}"
            raise RefusedError(name, method, f"one of {', '.join(_COMPRESSIONS.values())}")
    return members


def _lzma_decompressor(raw: memoryview, size: int) -> tuple[lzma.LZMADecompressor, memoryview]:
    """A raw LZMA1 decoder for a zip member (a 4-byte header, 5 bytes of properties, then the
    stream) and the stream it decodes."""
    props_size = int.from_bytes(raw[2:4], "little")
    props = bytes(raw[4 : 4 + props_size])
    if props_size != 5 or len(props) != 5 or props[0] >= 9 * 5 * 5:
        raise lzma.LZMAError("unreadable LZMA properties")
    # A dictionary larger than the member's declared size is never used, only allocated.
    dict_size = min(int.from_bytes(props[1:], "little"), max(size, 1 << 12))
    lc, lp, pb = props[0] % 9, props[0] // 9 % 5, props[0] // 45
    lzma1 = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1]), raw[4 + props_size :]


class MemberReader:
    """One member of a zip archive held in memory, as a file whose ``read`` inflates only what
    it is asked for and never more than the size the archive declares for the member; the
    member's CRC is checked when its last byte is read. Errors name the member ``key`` (its
    file name unless given).

    zipfile's own reader hands bzip2 and lzma decompressors whole 4 KiB chunks with no output
    bound, and 4 KiB of bzip2 can unpack to gigabytes; here every decompressor is given an
    output bound (``max_length``).
    """

    def __init__(self, data: bytes, info: zipfile.ZipInfo, expected: str, key: str | None = None) -> None:
        self.name, self._expected = info.filename if key is None else key, expected
        self._left, self._crc, self._expected_crc = info.file_size, 0, info.CRC
        view = memoryview(data)
        at = info.header_offset
        if at < 0 or at + _LOCAL_HEADER_SIZE > len(view) or bytes(view[at : at + 4]) != _LOCAL_HEADER:
            raise RefusedError(self.name, "has no local header where the directory says", expected)
        name_size, extra_size = struct.unpack_from("<HH", view, at + _LOCAL_HEADER_SIZE - 4)
        start = at + _LOCAL_HEADER_SIZE + name_size + extra_size
        self._raw, self._at = view[start : start + info.compress_size], 0
        self._method = info.compress_type
        self._decompressor: Any  # zlib's, bz2's or lzma's; None for a stored member
        try:
            if self._method == zipfile.ZIP_DEFLATED:
                self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
            elif self._method == zipfile.ZIP_BZIP2:
                self._decompressor = bz2.BZ2Decompressor()
            elif self._method == zipfile.ZIP_LZMA:
                self._decompressor, self._raw = _lzma_decompressor(self._raw, info.file_size)
            else:
                self._decompressor = None
        except lzma.LZMAError as exc:
            raise RefusedError(self.name, f"is damaged ({exc})", expected) from None

    @property
    def left(self) -> int:
        """How many of the member's declared bytes are still to be read."""
        return self._left

    def _next_input(self) -> bytes | memoryview:
        d = self._decompressor
        if self._method == zipfile.ZIP_DEFLATED:
            if d.unconsumed_tail:  # zlib hands back the input it had no room to inflate
                return d.unconsumed_tail
        elif not d.needs_input:
            return b""  # bz2 and lzma keep such input themselves
        chunk = self._raw[self._at : self._at + _CHUNK]
        self._at += len(chunk)
        return chunk

    def _inflate(self, n: int) -> bytes:
        d = self._decompressor
        if d is None:
            out = bytes(self._raw[self._at : self._at + n])
            self._at += len(out)
            return out
        parts, got = [], 0
        while got < n and not d.eof:
            chunk = self._next_input()
            try:
                part = d.decompress(chunk, n - got)
            except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                raise RefusedError(self.name, f"is damaged ({exc})", self._expected) from None
            if not part and not chunk:
                break  # the compressed data ended early
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that remain if ``n`` < 0), fewer only at the declared end."""
        n = self._left if n < 0 else min(n, self._left)
        out = self._inflate(n)
        if len(out) < n:
            raise RefusedError(self.name, "is truncated", self._expected)
        self._left -= n
        self._crc = zlib.crc32(out, self._crc)
        if self._left == 0 and self._crc != self._expected_crc:
            raise RefusedError(self.name, "is damaged (its CRC does not match)", self._expected)
        return out
