"""Calling the code under check: which arguments it takes, and what it raised.

A backward pass is called with its arguments supplied **by name**, from a small vocabulary
computed from the described network's forward pass (values in the caller's own layout and
keys; every array a private copy, so that the code cannot corrupt the check):

=================================  ==========================================================
argument names                     value
=================================  ==========================================================
``params``, ``parameters``,        the parameter dict, keyed as the caller keys it
``weights``
``X``, ``x``, ``inputs``           the inputs
``Y``, ``y``, ``y_true``,          the labels, in the label layout being checked
``labels``, ``targets``
``cache``                          ``{"A0": X, "Z1": ..., "A1": ..., "ZL": ..., "AL": ...}``
``A0`` ... ``AL``, ``Z1`` ...      one array of the forward pass (``a1``, ``z1`` too); ``AL``
``ZL``, ``AL``                     is the output, whatever the depth
``W1``, ``b1``, ... (``w1``)       one parameter
``m``                              the number of samples
``lr``, ``learning_rate``,         the learning rate (training steps only, see ``check_step``)
``alpha``
=================================  ==========================================================

A function whose arguments are not all in the vocabulary is called positionally the
notebook's way, ``(parameters, A1, ..., AL, X, Y)``, when it takes exactly that many and the
names it does share with the vocabulary sit where the notebook puts them (``lambda p, A1,
A2, X, Y: ...``); a function of ``*args`` alone is called that way too. Anything else is an
unusable target: :class:`UnusableTargetError`, whose message lists the names and ``call=``.

Nothing the user's code raises escapes but an interrupt: BaseException included, so that a
``sys.exit(0)`` in a backward can never end a check as if it had passed. What it returns is
read by :mod:`gradcheck_xor._reading`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck_xor import network as nw

Params = dict[str, np.ndarray]

_PARAMS = ("params", "parameters", "weights")
_INPUTS = ("X", "x", "inputs")
_LABELS = ("Y", "y", "y_true", "labels", "targets")
_RATES = ("lr", "learning_rate", "alpha")
_ARRAY = re.compile(r"([AaZz])([0-9]{1,6})\Z")
_PARAM = re.compile(r"([WwBb])([0-9]{1,6})\Z")


class UnusableTargetError(TypeError):
    """The function cannot be called by the oracle: it takes an argument the oracle cannot
    supply. The message names it, lists the names that can be, and shows ``call=``."""


def vocabulary(net: nw.Network, *, step: bool = False) -> str:
    """The argument names a function of this network may take, as an error message lists them."""
    L = net.depth
    names = (
        f"{'/'.join(_PARAMS)}, {'/'.join(_INPUTS)}, {'/'.join(_LABELS)}, cache, A0..A{L} (or AL), "
        f"Z1..Z{L}, W1..W{L}, b1..b{L}, m"
    )
    return names + (f", {'/'.join(_RATES)}" if step else "")


# --- how to call a function ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Binding:
    """Which value goes where: ``positional`` and ``keyword`` hold vocabulary names."""

    positional: tuple[str, ...]
    keyword: tuple[tuple[str, str], ...]  # (argument name, vocabulary name)

    @property
    def needs_forward(self) -> bool:
        names = (*self.positional, *(v for _, v in self.keyword))
        return any(n == "cache" or (_ARRAY.match(n) and n[1:] != "0") or n == "AL" for n in names)


def _meaning(name: str, net: nw.Network, step: bool) -> str | None:
    """The vocabulary entry ``name`` stands for in this network, or None."""
    if name in _PARAMS:
        return "params"
    if name in _INPUTS:
        return "X"
    if name in _LABELS:
        return "Y"
    if name in ("cache", "m") or (step and name in _RATES):
        return "lr" if name in _RATES else name
    if name == "AL":
        return f"A{net.depth}"
    if (a := _ARRAY.match(name)) and int(a[2]) <= net.depth and (a[1] in "Aa" or int(a[2]) >= 1):
        return f"{a[1].upper()}{int(a[2])}"
    if (p := _PARAM.match(name)) and 1 <= int(p[2]) <= net.depth:
        w, b = net.names[int(p[2]) - 1]
        return w if p[1] in "Ww" else b  # None for a layer without a bias: not suppliable
    return None


def _signature(function: Callable[..., Any]) -> list[tuple[str, int, bool]] | None:
    """(name, kind, has a default) per argument; None when Python cannot say. A plain
    function is read off its code object: ``inspect.signature`` costs ~10 us a call."""
    f, skip = function, 0
    if type(f) is types.MethodType:
        f, skip = f.__func__, 1
    if type(f) is types.FunctionType and not hasattr(f, "__wrapped__"):
        code = f.__code__
        n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
        names = code.co_varnames[: n_pos + n_kw]
        n_defaults = len(f.__defaults__ or ())
        kinds = [
            (
                name,
                inspect.Parameter.POSITIONAL_ONLY if i < code.co_posonlyargcount else
                inspect.Parameter.POSITIONAL_OR_KEYWORD if i < n_pos else inspect.Parameter.KEYWORD_ONLY,
                i >= n_pos - n_defaults if i < n_pos else name in (f.__kwdefaults__ or {}),
            )
            for i, name in enumerate(names)
        ]  # fmt: skip
        if code.co_flags & inspect.CO_VARARGS:
            kinds.insert(n_pos, (code.co_varnames[n_pos + n_kw], inspect.Parameter.VAR_POSITIONAL, True))
        return kinds[skip:]
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return [(p.name, int(p.kind), p.default is not p.empty) for p in parameters if p.kind != p.VAR_KEYWORD]


def _notebook_order(net: nw.Network) -> tuple[str, ...]:
    return ("params", *(f"A{i}" for i in range(1, net.depth + 1)), "X", "Y")


def bind(function: Callable[..., Any], net: nw.Network, *, step: bool = False) -> Binding:
    """How to call ``function`` (see the module's docstring); raises :class:`UnusableTargetError`."""
    signature = _signature(function)
    notebook = _notebook_order(net)
    if signature is None:
        return Binding(notebook, ())
    named = [s for s in signature if s[1] != inspect.Parameter.VAR_POSITIONAL]
    if not named and signature:
        return Binding(notebook, ())  # *args only
    positional: list[str] = []
    keyword: list[tuple[str, str]] = []
    unknown: list[str] = []
    skipped = False  # a positional argument left to its default: the rest go by keyword
    for name, kind, has_default in named:
        meaning = _meaning(name, net, step)
        if meaning is None:
            if not has_default:
                unknown.append(name)
            skipped = skipped or kind != inspect.Parameter.KEYWORD_ONLY
        elif kind == inspect.Parameter.KEYWORD_ONLY or (
            skipped and kind != inspect.Parameter.POSITIONAL_ONLY
        ):
            keyword.append((name, meaning))
        else:
            positional.append(meaning)
    if not unknown:
        return _bindable(function, Binding(tuple(positional), tuple(keyword)), net, step)
    required = [s for s in named if not s[2] and s[1] != inspect.Parameter.KEYWORD_ONLY]
    fits = len(required) == len(notebook) and all(
        _meaning(name, net, step) in (None, want)
        for (name, _, _), want in zip(required, notebook, strict=True)
    )
    if fits:
        return _bindable(function, Binding(notebook, ()), net, step)
    raise UnusableTargetError(
        f"{_shown(function)} takes {unknown[0]!r}, which the oracle cannot supply. {_how(net, step)}"
    )


def _shown(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def _how(net: nw.Network, step: bool) -> str:
    which = "call(step, params, X, Y, lr)" if step else "call(backward, params, X, Y)"
    return (
        f"Arguments are passed by name: {vocabulary(net, step=step)}; or positionally as the notebook's "
        f"({', '.join(_notebook_order(net)).replace('params', 'parameters')}). For anything else pass "
        f"call=, a function {which} that calls it."
    )


def _bindable(function: Callable[..., Any], binding: Binding, net: nw.Network, step: bool) -> Binding:
    """``binding``, once Python agrees that the function takes it: an argument list that does
    not bind (a required keyword-only argument beside the notebook's five, say) makes the
    function unusable, where a TypeError raised inside its body is its own failure."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # Python cannot say (some builtins): the call will tell
        return binding
    try:
        signature.bind(*binding.positional, **{arg: name for arg, name in binding.keyword})
    except TypeError as exc:
        given = [*binding.positional, *(f"{arg}={name}" for arg, name in binding.keyword)]
        raise UnusableTargetError(
            f"{_shown(function)}{signature} cannot be called as {_shown(function)}({', '.join(given)}): "
            f"{exc}. {_how(net, step)}"
        ) from None
    return binding


def forward_values(
    binding: Binding, net: nw.Network, params: Mapping[str, np.ndarray], X: np.ndarray
) -> dict[str, np.ndarray]:
    """The forward pass's arrays the binding asks for (``A0`` = X, ``Z1``, ``A1``, ...), once
    per point: :func:`arguments` hands out copies."""
    return {"A0": X, **nw.forward(net, params, X)} if binding.needs_forward else {"A0": X}


def arguments(
    binding: Binding,
    net: nw.Network,
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    cache: Mapping[str, np.ndarray],
    lr: float | None = None,
) -> tuple[list[Any], dict[str, Any], Params]:
    """The positional and keyword arguments of one call, and the parameter dict they hold;
    ``cache`` is :func:`forward_values`.

    Every array is a copy; ``W1``, ``b1``, ... are the very arrays of that dict, so that a
    training step that updates them in place updates the dict too."""
    fresh = {key: np.array(value) for key, value in params.items()}
    m = X.shape[1 if net.layout == "columns" else 0]
    values: dict[str, Any] = {"params": fresh, "X": X.copy(), "Y": Y.copy(), "m": m, "lr": lr}
    values.update(fresh)
    copies = {key: value.copy() for key, value in cache.items()}
    values.update(copies)
    values["cache"] = copies
    positional = [values.get(name) for name in binding.positional]
    keyword = {arg: values.get(name) for arg, name in binding.keyword}
    return positional, keyword, fresh


# --- calling, and what went wrong --------------------------------------------------------------


def _where(exc: BaseException) -> str:
    """The innermost frame of the traceback that is neither NumPy's nor this module's."""
    skip = (os.path.dirname(np.__file__), __file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}" + (f": {f.line.strip()}" if f.line else "")


def raised(exc: BaseException, function: Any) -> dict[str, Any]:
    """The record of an exception the user's code raised: the verdict ``raised`` shows it."""
    name = getattr(function, "__name__", None) or repr(function)
    return {"function": name, "type": type(exc).__name__, "message": str(exc), "where": _where(exc)}


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any] | None]:
    """``(result, None)``, or ``(None, what it raised)``. Callers run it under
    ``np.errstate(all="ignore")`` where a floating-point warning is no failure of the code."""
    try:
        return function(*args, **kwargs), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return None, raised(exc, function)
