"""The function a ``check`` target names: ``path/to/file.py:function`` or
``path/to/notebook.ipynb:function``.

By default a file is not run as a script. Of its top-level statements only what a function
needs runs: imports, function and class definitions, and assignments of constants (literals,
and arithmetic on them and on names defined before), so that a training loop or a print in
the file does not run. ``run_file=True`` runs every statement, as Python runs a script (but
under a module name of its own, so an ``if __name__ == "__main__":`` block stays out).

A notebook is read as JSON (nbformat 4), without Jupyter: its code cells run in order in
one namespace, each cell compiled on its own so that an error names the cell. IPython's
magics and shell lines (``%...``, ``!...``) are not Python and are left out; a cell that is a
cell magic (``%%...``) is left out whole.
"""

from __future__ import annotations

import ast
import dis
import json
import linecache
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gradcheck_xor._safe_read import RefusedError, read_regular_file

__all__ = ["Target", "TargetError", "load"]

SUFFIXES = (".py", ".ipynb")
_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_OWN_SCOPE = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class TargetError(ValueError):
    """An unusable target, in one line naming the file and what was expected."""


@dataclass(frozen=True)
class Target:
    """The function, and the global names it reads that a statement left out would have set
    (``{name: line}``, where ``line`` says where that statement is)."""

    function: Callable[..., object]
    unset: dict[str, str]

    @property
    def notes(self) -> list[str]:
        """What to tell the user: why the function may find a global name missing."""
        return [
            f"{name} is set by a statement not run by default ({where}); --run-file runs it."
            for name, where in self.unset.items()
        ]


@dataclass(frozen=True)
class _Code:
    """One unit of source compiled on its own: a Python file, or one cell of a notebook."""

    filename: str  # what tracebacks call it
    name: str  # what an error calls it: "it" (the file) or "cell 3"
    text: str | bytes  # bytes for a file, so that its coding declaration holds


def load(target: str, *, run_file: bool = False, max_bytes: int) -> Target:
    """``path:function`` -> the function (a dotted name reaches into a class), having run what
    it needs of the file, or all of it with ``run_file``. Raises :class:`TargetError`."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise TargetError(f"{target}: expected path/to/file.py:function.")
    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file.")
    if not path.endswith(SUFFIXES):
        raise TargetError(f"{path}: expected a Python file (.py) or a notebook (.ipynb).")
    try:
        data = read_regular_file(path, max_bytes)
    except RefusedError as exc:
        raise TargetError(f"{path}: {exc.problem}; expected {exc.expected}.") from None
    codes = list(_cells(path, data)) if path.endswith(".ipynb") else [_Code(path, "it", data)]
    module = types.ModuleType(f"_gradcheck_xor_target_{abs(hash(os.path.abspath(path)))}")
    module.__file__ = path
    skipped: dict[str, str] = {}  # name -> where the statement left out that sets it
    bound: set[str] = set()  # names the statements kept so far set
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # its own imports resolve as when it runs as a script
    sys.modules[module.__name__] = module  # where dataclasses and pickling look a class's module up
    running = "it"
    try:
        for code in codes:
            running = code.name
            tree = ast.parse(code.text, code.filename)
            if not run_file:
                tree.body = _needed(tree.body, code.filename, bound, skipped)
            exec(compile(tree, code.filename, "exec"), module.__dict__)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: the file is unusable, never the command's exit
        raise TargetError(f"{path}: running {running} raised {type(exc).__name__}: {exc}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    function = _lookup(module, path, name, skipped)
    unset = {n: skipped[n] for n in _globals_read(function) if n in skipped and n not in vars(module)}
    return Target(function, unset)


def _cells(path: str, data: bytes) -> Iterator[_Code]:
    """The code cells of a notebook, magics left out, each named ``path (cell N)`` (N counts
    every cell from 1, as they stand in the notebook)."""
    expected = "a Jupyter notebook (nbformat 4 JSON)"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).partition(":")[0] if not isinstance(exc, RecursionError) else "nested too deeply"
        raise TargetError(f"{path}: is not valid JSON ({reason}); expected {expected}.") from None
    cells = doc.get("cells") if isinstance(doc, dict) else None
    if not isinstance(cells, list):
        raise TargetError(f"{path}: key 'cells': missing or not a list; expected {expected}.")
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise TargetError(f"{path}: cells[{number - 1}]: not an object; expected a notebook cell.")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise TargetError(
                f"{path}: cells[{number - 1}].source: not text; expected a string or a list of strings."
            )
        if source.lstrip().startswith("%%"):
            continue
        filename = f"{path} (cell {number})"
        text = "".join(_python_line(line) for line in source.splitlines(keepends=True))
        # Tracebacks through this cell's functions show its lines, as they do for a file's.
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
        yield _Code(filename, f"cell {number}", text)


def _python_line(line: str) -> str:
    """A magic or shell line becomes ``pass`` at its indentation: the block it is in stays one."""
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return line[: len(line) - len(stripped)] + "pass\n"
    return line


def _needed(body: list[ast.stmt], filename: str, bound: set[str], skipped: dict[str, str]) -> list[ast.stmt]:
    """The statements a function may need: imports, definitions, constants (a ``try`` of
    nothing else too). The names the kept ones set go into ``bound``; those that statements
    left out would have set go into ``skipped``, with where those statements are."""
    kept: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.Try):
            inner = [*statement.body, *statement.orelse, *statement.finalbody]
            inner += [s for handler in statement.handlers for s in handler.body]
            keep = all(_keeps(s, bound) for s in inner)
        else:
            keep = _keeps(statement, bound)
        if keep:
            kept.append(statement)
            bound.update(_bound_names(statement))
        else:
            for name in _bound_names(statement):
                skipped.setdefault(name, f"{filename}, line {statement.lineno}")
    return kept


def _keeps(statement: ast.stmt, bound: set[str]) -> bool:
    if isinstance(statement, _KEPT):
        return True
    if isinstance(statement, ast.Assign):
        targets_ok = all(isinstance(t, ast.Name) for t in statement.targets)
        return targets_ok and _constant(statement.value, bound)
    if isinstance(statement, ast.AnnAssign):
        return isinstance(statement.target, ast.Name) and (
            statement.value is None or _constant(statement.value, bound)
        )
    return isinstance(statement, ast.Pass)


def _constant(node: ast.expr, bound: set[str]) -> bool:
    """A literal, a container of them, arithmetic on them, or a name (or its attribute) that a
    kept statement bound before: ``LR = 0.01``, ``SHAPE = (N, 1)``, ``TAU = 2 * np.pi``."""
    match node:
        case ast.Constant():
            return True
        case ast.Tuple(elts=items) | ast.List(elts=items) | ast.Set(elts=items):
            return all(_constant(item, bound) for item in items)
        case ast.Dict(keys=keys, values=values):
            return all(k is not None and _constant(k, bound) for k in keys) and all(
                _constant(v, bound) for v in values
            )
        case ast.UnaryOp(operand=operand):
            return _constant(operand, bound)
        case ast.BinOp(left=left, right=right):
            return _constant(left, bound) and _constant(right, bound)
        case ast.Name(id=name):
            return name in bound
        case ast.Attribute(value=value):
            return _constant(value, bound)
    return False


def _bound_names(node: ast.AST) -> Iterator[str]:
    """The module's names a top-level statement sets (assignment targets, loop variables,
    imports, definitions), not the local names of the functions, lambdas and comprehensions
    in it."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
        return
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield from (alias.asname or alias.name.partition(".")[0] for alias in node.names)
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        yield node.id
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _OWN_SCOPE):
            yield from _bound_names(child)


def _lookup(module: types.ModuleType, path: str, name: str, skipped: dict[str, str]) -> Callable[..., object]:
    function: object = module
    for part in name.split("."):
        if not hasattr(function, part):
            if function is module and part in skipped:
                raise TargetError(
                    f"{path}: {part!r} is set by a statement that is not run by default "
                    f"({skipped[part]}); expected a def, or --run-file to run the whole file."
                )
            defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise TargetError(
                f"{path}: no function {name!r} (it defines: {', '.join(defined) or 'no functions'})."
            )
        function = getattr(function, part)
    if not callable(function):
        raise TargetError(f"{path}: {name!r} is not a function (its type is {type(function).__name__}).")
    return function


def _globals_read(function: object) -> list[str]:
    """The global names the function's code (nested functions included) reads, in order."""
    code = getattr(function, "__code__", None)  # a function or a method; other callables say nothing
    names: dict[str, None] = {}
    stack = [code] if isinstance(code, types.CodeType) else []
    while stack:
        current = stack.pop()
        for instruction in dis.get_instructions(current):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                names[instruction.argval] = None
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return list(names)
