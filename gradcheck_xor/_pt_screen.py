"""Screen a PyTorch file before ``torch.load`` reads it.

``torch.load(weights_only=True)`` runs no code from the file, but it still builds whatever the
file's pickle describes: tuples nested so that hashing one dict key takes 2**60 steps, a
zero-stride view whose copy needs terabytes, sparse, quantized or meta tensors NumPy cannot
hold. :func:`screen_torch_file` reads the archive's directory, then walks the pickle opcode by
opcode (:func:`pickletools.genops`, which executes nothing) on a model of the unpickler's stack
and memo, and admits only what ``torch.save`` writes for a dict of dense real tensors, within a
byte budget. torch itself is not imported here.
"""

from __future__ import annotations

import math
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from gradcheck_xor._safe_read import MemberReader, RefusedError, too_large, zip_members

MAX_OPCODES = 100_000
MAX_PICKLE_BYTES = 1 << 20  # a state_dict's pickle is a few hundred bytes per tensor
# Tuples, lists and dicts inside one another, and open MARKs. A module's state_dict with its
# _metadata is 4 deep; tuple keys nested 60 deep (2**60 steps to hash) are far beyond.
MAX_DEPTH = 8
MAX_DIMS = 32
# torch's sizes, strides and offsets are int64; a pickle's ints are unbounded, and printing one
# of a million digits takes Python minutes.
_INT64 = 2**63

# Element types a NumPy float64 array can be made from, with their sizes in bytes.
_REAL_DTYPES = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1,
    "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1,
}  # fmt: skip
# _rebuild_tensor_v2 names the element type by the class of the storage: (dtype, itemsize).
_STORAGES = {
    "DoubleStorage": ("float64", 8), "FloatStorage": ("float32", 4), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexDoubleStorage": ("complex128", 16),
    "ComplexFloatStorage": ("complex64", 8),
}  # fmt: skip
# _rebuild_tensor_v3 stores bytes (an untyped storage) and names the dtype: torch.uint16, ...
_UNTYPED_STORAGE = "torch.storage.UntypedStorage"
_OTHER_DTYPES = re.compile(r"bool|complex\d+|bits\d+(x\d+)?|q?u?int\d+(x\d+)?|float[48]_e\d+m\d+[a-z0-9_]*")
# What the other rebuild functions of torch._utils make, refused by name.
_UNSUPPORTED = {
    "torch._utils._rebuild_sparse_tensor": "a sparse tensor",
    "torch._utils._rebuild_sparse_csr_tensor": "a sparse tensor",
    "torch._utils._rebuild_meta_tensor_no_storage": "a meta tensor",
    "torch._utils._rebuild_qtensor": "a quantized tensor",
    "torch._utils._rebuild_nested_tensor": "a nested tensor",
    "torch._utils._rebuild_wrapper_subclass": "a tensor subclass",
    "torch._tensor._rebuild_from_type_v2": "a tensor subclass",
    "torch._utils._rebuild_parameter_with_state": "a parameter with extra state",
    "torch._utils._rebuild_device_tensor_from_numpy": "a device tensor",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": "a device tensor",
}
_REAL_TENSOR = "a real floating or integer tensor"
_DENSE_TENSOR = "a dense real floating or integer tensor"
_STRINGS = {"BINUNICODE", "UNICODE"}
_INTS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG"}
_SCALARS = {"NEWTRUE": True, "NEWFALSE": False, "NONE": None}


@dataclass(eq=False)
class _Item:
    """What the unpickler would hold: ``kind`` is "str", "int", "float", "bool", "none",
    "tuple", "list", "dict", "global", "dtype", "storage" or "tensor"."""

    kind: str
    value: Any = None  # a str, int, float or bool's value; a global's dotted name; a dtype's name
    depth: int = 0  # how many containers deep its contents go
    items: list[_Item] = field(default_factory=list)  # a tuple's
    storage: tuple[str, int] = ("", 0)  # a storage's dtype ("" if untyped) and size in bytes


def screen_torch_file(data: bytes, max_bytes: int, expected: str) -> None:
    """Raise :class:`RefusedError` unless ``data`` is a zip archive as ``torch.save`` writes it
    for a dict of dense real tensors, each at most ``max_bytes`` bytes once materialised."""
    # torch.load takes anything not starting like a zip archive for its legacy format, one
    # bare pickle, which would bypass this screen.
    if not data.startswith(b"PK\x03\x04"):
        raise RefusedError(None, "is not a PyTorch zip archive (torch.save's format), refused", expected)
    members = {info.filename: info for info in zip_members(data, "PyTorch file", expected)}
    for name, info in members.items():
        if info.compress_type != zipfile.ZIP_STORED:
            raise RefusedError(name, "is compressed", "stored members, as torch.save writes them")
    # torch takes the archive's folder from its first member's name.
    prefix = next(iter(members), "").partition("/")[0] + "/"
    pickle_info = members.get(prefix + "data.pkl")
    if pickle_info is None:
        raise RefusedError(None, f"has no {prefix}data.pkl", expected)
    if pickle_info.file_size > MAX_PICKLE_BYTES:
        raise too_large(pickle_info.filename, "is", pickle_info.file_size, MAX_PICKLE_BYTES)
    pickle = MemberReader(data, pickle_info, expected).read()
    _Unpickler(members, prefix, max_bytes, expected).walk(pickle)


class _Unpickler:
    """Follows a pickle's opcodes on a model of the stack and memo, refusing what a state_dict
    of dense real tensors never holds."""

    def __init__(self, members: dict[str, zipfile.ZipInfo], prefix: str, max_bytes: int, expected: str):
        self.members, self.prefix, self.max_bytes, self.expected = members, prefix, max_bytes, expected
        self.stack: list[_Item] = []
        self.marks: list[int] = []  # the stack's length at each open MARK
        self.memo: dict[int, _Item] = {}

    def refuse(self, problem: str, expected: str | None = None, key: str | None = None) -> RefusedError:
        return RefusedError(key, problem, expected or self.expected)

    def walk(self, pickle: bytes) -> None:
        try:
            for count, (op, arg, _) in enumerate(pickletools.genops(pickle), start=1):
                if count > MAX_OPCODES:
                    raise self.refuse(f"holds a pickle of more than {MAX_OPCODES} operations")
                self.step(op.name, arg)
        except (ValueError, IndexError, KeyError) as exc:  # genops' and our model's "malformed"
            raise self.refuse(f"holds a damaged pickle ({type(exc).__name__}: {exc})") from None
        if len(self.stack) != 1 or self.marks:
            raise self.refuse("holds a damaged pickle (it does not end with one object)")

    def push(self, item: _Item) -> None:
        if item.depth > MAX_DEPTH:
            raise self.refuse(f"holds containers nested more than {MAX_DEPTH} deep")
        self.stack.append(item)

    def pop_mark(self) -> list[_Item]:
        at = self.marks.pop()
        items, self.stack[at:] = self.stack[at:], []
        return items

    def key_being_built(self) -> str | None:
        """The dict key whose value is being built: the string below the open marks and the
        callables on top of the stack, if there is one."""
        for item in reversed(self.stack):
            if item.kind != "global":
                return str(item.value) if item.kind == "str" else None
        return None

    def step(self, name: str, arg: Any) -> None:
        if name in ("PROTO", "STOP"):
            return
        if name == "MARK":
            if len(self.marks) >= MAX_DEPTH:
                raise self.refuse(f"holds containers nested more than {MAX_DEPTH} deep")
            self.marks.append(len(self.stack))
        elif name in _STRINGS:
            self.push(_Item("str", arg))
        elif name in _INTS:
            self.push(_Item("int", arg))
        elif name in _SCALARS:
            self.push(_Item("bool" if name != "NONE" else "none", _SCALARS[name]))
        elif name == "BINFLOAT":
            self.push(_Item("float", arg))
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            self.memo[arg] = self.stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            self.push(self.memo[arg])
        elif name in ("EMPTY_TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "TUPLE"):
            n = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}.get(name)
            items = self.pop_mark() if n is None else self.pop_n(n)
            self.push(_Item("tuple", items=items, depth=1 + max((i.depth for i in items), default=0)))
        elif name in ("EMPTY_DICT", "EMPTY_LIST"):
            self.push(_Item("dict" if name == "EMPTY_DICT" else "list", depth=1))
        elif name == "LIST":
            items = self.pop_mark()
            self.push(_Item("list", depth=1 + max((i.depth for i in items), default=0)))
        elif name in ("SETITEM", "SETITEMS", "APPEND", "APPENDS"):
            self.fill(name)
        elif name == "GLOBAL":
            self.push_global(".".join(str(arg).split(" ", 1)))
        elif name == "BINPERSID":
            self.push(self.storage(*self.pop_n(1)))
        elif name == "REDUCE":
            self.push(self.reduce(*self.pop_n(2)))
        elif name == "BUILD":
            state, target = self.pop_n(1)[0], self.stack[-1]
            if target.kind != "dict" or state.kind != "dict":
                raise self.refuse("holds a pickle that sets the state of something other than a dict")
        else:
            # Protocol 4's FRAME and STACK_GLOBAL among them: torch.load(weights_only=True) reads
            # only what protocol 2, torch.save's, writes.
            raise self.refuse(f"holds pickle operation {name}, which torch.save's protocol 2 never writes")

    def pop_n(self, n: int) -> list[_Item]:
        if n > len(self.stack) - (self.marks[-1] if self.marks else 0):
            raise IndexError("pop from the stack below a mark")
        items, self.stack[len(self.stack) - n :] = self.stack[len(self.stack) - n :], []
        return items

    def fill(self, name: str) -> None:
        items = self.pop_mark() if name.endswith("S") else self.pop_n(2 if name == "SETITEM" else 1)
        target = self.stack[-1]
        if target.kind != ("dict" if name.startswith("SET") else "list") or (
            name.startswith("SET") and len(items) % 2
        ):
            raise self.refuse(f"holds a damaged pickle ({name} on a {target.kind})")
        if name.startswith("SET"):
            for key in items[::2]:
                if key.kind != "str":
                    raise self.refuse(f"holds a dict key that is a {key.kind}, not a string")
        target.depth = max(target.depth, 1 + max((i.depth for i in items), default=0))
        if target.depth > MAX_DEPTH:
            raise self.refuse(f"holds containers nested more than {MAX_DEPTH} deep")

    def push_global(self, dotted: str) -> None:
        if dotted in _UNSUPPORTED:
            key = self.key_being_built()
            raise self.refuse(f"holds {_UNSUPPORTED[dotted]}, unsupported", _DENSE_TENSOR, key)
        module, _, attr = dotted.rpartition(".")
        if module == "torch" and (attr in _REAL_DTYPES or _OTHER_DTYPES.fullmatch(attr)):
            self.push(_Item("dtype", attr))
            return
        known = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", _UNTYPED_STORAGE}
        known |= {"torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter"}
        if dotted not in known and not (module == "torch" and attr in _STORAGES):
            raise self.refuse(f"holds a pickled object ({dotted}), refused")
        self.push(_Item("global", dotted))

    def storage(self, pid: _Item) -> _Item:
        """A storage named by a persistent id: ('storage', class, record, location, size)."""
        parts = pid.items
        if (
            pid.kind != "tuple"
            or len(parts) != 5
            or [p.kind for p in parts] != ["str", "global", "str", "str", "int"]
        ):
            raise self.refuse("holds a damaged pickle (a persistent id that is not a storage)")
        cls, record, size = str(parts[1].value), str(parts[2].value), int(parts[4].value)
        if not 0 <= size < _INT64:
            raise self.refuse("holds a damaged pickle (a storage size beyond int64)")
        if cls == _UNTYPED_STORAGE:
            dtype, itemsize = "", 1
        elif cls.startswith("torch.") and cls[6:] in _STORAGES:
            dtype, itemsize = _STORAGES[cls[6:]]
        else:
            raise self.refuse(f"holds a storage of class {cls}, refused")
        info = self.members.get(f"{self.prefix}data/{record}")
        nbytes = size * itemsize
        if info is None or info.file_size != nbytes:
            held = "no record" if info is None else f"{info.file_size} bytes"
            problem = f"holds storage {record!r} of {nbytes} bytes, but the archive has {held} for it"
            raise self.refuse(problem, key=self.key_being_built())
        return _Item("storage", storage=(dtype, nbytes))

    def reduce(self, func: _Item, args: _Item) -> _Item:
        if func.kind != "global" or args.kind != "tuple":
            raise self.refuse("holds a damaged pickle (REDUCE of something not callable)")
        if func.value == "collections.OrderedDict" and not args.items:
            return _Item("dict", depth=1)
        parameter = func.value == "torch._utils._rebuild_parameter"
        if parameter and len(args.items) == 3 and args.items[0].kind == "tensor":
            return args.items[0]
        if func.value in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3"):
            return self.tensor(args.items, func.value.endswith("v3"))
        raise self.refuse(f"holds a pickle that calls {func.value} in a way torch.save never does")

    def tensor(self, args: list[_Item], v3: bool) -> _Item:
        """Check _rebuild_tensor_v2's (storage, offset, size, stride, requires_grad, hooks[,
        metadata]) or v3's (..., hooks, dtype[, metadata]) against the storage and the limit."""
        key = self.key_being_built()
        kinds = [a.kind for a in args]
        head = ["storage", "int", "tuple", "tuple", "bool", "dict"] + (["dtype"] if v3 else [])
        if kinds[: len(head)] != head or kinds[len(head) :] not in ([], ["dict"]):
            raise self.refuse("holds a tensor whose arguments torch.save never writes", _DENSE_TENSOR, key)
        storage_dtype, storage_bytes = args[0].storage
        dtype = str(args[6].value) if v3 else storage_dtype
        if v3 == bool(storage_dtype):  # v3 goes with untyped storage, v2 with typed
            raise self.refuse("holds a tensor whose storage does not match its dtype", _DENSE_TENSOR, key)
        if dtype not in _REAL_DTYPES:
            raise self.refuse(f"holds dtype torch.{dtype}", _REAL_TENSOR, key)
        offset, size, stride = args[1].value, args[2].items, args[3].items
        numbers = [offset, *(i.value for i in size + stride if i.kind == "int")]
        if len(numbers) != 1 + len(size) + len(stride) or len(size) != len(stride):
            raise self.refuse("holds a tensor with an unreadable size or stride", _DENSE_TENSOR, key)
        if not all(0 <= n < _INT64 for n in numbers):
            raise self.refuse("holds a tensor with an unreadable size or stride", _DENSE_TENSOR, key)
        if len(size) > MAX_DIMS:
            raise self.refuse(f"holds a tensor of {len(size)} dimensions", _DENSE_TENSOR, key)
        itemsize = _REAL_DTYPES[dtype]
        shape = tuple(n.value for n in size)
        numel = math.prod(shape)
        last = offset + sum((n - 1) * s.value for n, s in zip(shape, stride, strict=True))
        if numel and last >= storage_bytes // itemsize:
            problem = f"views element {last} of a storage of {storage_bytes // itemsize} elements"
            raise self.refuse(problem, _DENSE_TENSOR, key)
        if numel * itemsize > self.max_bytes:
            raise too_large(key, f"is a {shape} tensor of {dtype},", numel * itemsize, self.max_bytes)
        return _Item("tensor")
