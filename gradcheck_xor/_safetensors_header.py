"""Check a safetensors file's header before the safetensors parser sees the file.

The format is an 8-byte little-endian length, that many bytes of JSON (each tensor's dtype,
shape and ``data_offsets`` into the buffer that follows), then the buffer. The header is read
here with bounds of our own: its length, keys given once (parsers disagree on which of two
wins), real dtypes only, and for each tensor a shape whose size in bytes is what its offsets
span inside the file.
"""

from __future__ import annotations

import json
import math

from gradcheck_xor._safe_read import RefusedError, unique_keys

# safetensors' names of the real element types, with their sizes in bytes.
DTYPES = {
    "F64": 8, "F32": 4, "F16": 2,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1,
}  # fmt: skip
MAX_HEADER_BYTES = 1 << 20  # six tensors' entries take a few hundred
MAX_DIMS = 32


def _is_count(value: object) -> bool:
    """A size or offset: a non-negative int64 (Python's ints are unbounded, and one of 4000
    digits would take more than the line an error message has)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def check_safetensors_header(data: bytes, expected: str) -> None:
    """Raise :class:`RefusedError` unless ``data`` starts with a header describing real tensors
    that lie inside the file."""

    def unreadable(reason: str) -> RefusedError:
        return RefusedError(None, f"is not a readable safetensors file ({reason})", expected)

    if len(data) < 8:
        raise unreadable("shorter than its 8-byte header length")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise unreadable(f"declares a header of {size} bytes in a file of {len(data)}")
    if size > MAX_HEADER_BYTES:
        raise unreadable(f"declares a header of {size} bytes, more than {MAX_HEADER_BYTES}")
    try:
        header = json.loads(
            data[8 : 8 + size].decode("utf-8"), object_pairs_hook=unique_keys("in the header")
        )
    except (ValueError, RecursionError) as exc:
        raise unreadable(f"its header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise unreadable("its header is not a JSON object")
    buffer = len(data) - 8 - size
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise RefusedError(name, "has an unreadable header entry", "dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise RefusedError(name, f"holds dtype {dtype}", f"a real dtype ({', '.join(DTYPES)})")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_is_count(n) for n in shape):
            raise RefusedError(name, f"has shape {shape}", f"a list of at most {MAX_DIMS} sizes")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            raise RefusedError(name, f"has data offsets {offsets}", "two byte offsets")
        begin, end = offsets
        declared = math.prod(shape) * DTYPES[dtype]
        if not begin <= end <= buffer or end - begin != declared:
            problem = (
                f"declares {declared} bytes of data at offsets {begin} to {end} of a {buffer}-byte buffer"
            )
            raise RefusedError(name, problem, "offsets spanning its shape, inside the file")
