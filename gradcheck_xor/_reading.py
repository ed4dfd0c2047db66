"""Reading what a backward pass returns: its gradients, in whichever form it gives them, with
the tolerances of their dtype, or what is wrong with them.

The forms (:func:`read_gradients`): a dict keyed ``dW1, db1, ...`` or by the parameter keys;
a sequence in parameter order; the gradients grouped by layer (:func:`per_layer`); one flat
vector in parameter order; the dict or the vector beside the loss. A training step's new
parameters come in the same forms (:func:`in_parameter_order`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck_xor import network as nw

# (rtol, atol) by the dtype of a returned gradient: an element passes when
# |analytic - numeric| <= atol + rtol * |numeric|. float64's atol sits well above the
# round-off of the differences (about 1e-9 for losses of order 10 at a step of 1e-6).
TOLERANCES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float64): (1e-5, 1e-7),
    np.dtype(np.float32): (2e-3, 1e-5),
    np.dtype(np.float16): (1e-2, 1e-3),
}
_F64 = np.dtype(np.float64)


@dataclasses.dataclass(frozen=True)
class Read:
    """Gradients read from a result: flat values in parameter order, the tolerances of their
    dtype, which of them are float64 (judged to float64's precision where the exact gradient
    is known), and the rounding they carry by construction (a training step's update)."""

    values: np.ndarray  # (n_params,) float64
    rtol: np.ndarray
    atol: np.ndarray
    sharp: np.ndarray  # bool
    floor: np.ndarray


def _lookup(result: Mapping[Any, Any], keys: Sequence[str]) -> list[Any] | None:
    """The values of ``keys`` (any case) in ``result``, None if it holds none of them."""
    lower = {str(k).lower(): k for k in result}
    found = [key if key in result else lower.get(key.lower(), _MISSING) for key in keys]
    if all(k is _MISSING for k in found):
        return None
    return [_MISSING if k is _MISSING else result[k] for k in found]


_MISSING = object()


def _expected(net: nw.Network) -> str:
    keys = ", ".join(net.grad_keys)
    return (
        f"a dict with keys {keys} (or {', '.join(net.keys)}), a sequence of them in that order, "
        f"or one flat vector of their {net.n_params} numbers"
    )


def _beside_the_loss(result: Sequence[Any], net: nw.Network) -> Any:
    """The gradients of a pair of them and the loss: cs231n's ``return loss, grads``, the
    course's ``return grads, cost``, an optimiser's ``return J, grad`` with ``grad`` flat;
    None for anything else. A sequence in parameter order holds no mapping, so the one
    mapping of a pair is never mistaken for it, whatever the loss beside it is (a float, a
    0-d array, the (n,) array Python's ``sum`` makes); a flat vector beside the loss is
    told from a layer's two arrays by its length, every parameter's."""
    if len(result) != 2:
        return None
    if isinstance(result[0], Mapping) != isinstance(result[1], Mapping):
        return result[0] if isinstance(result[0], Mapping) else result[1]
    flat = [_is_flat(item, net) for item in result]
    if flat[0] != flat[1] and np.ndim(result[1] if flat[0] else result[0]) <= 1:
        return result[0] if flat[0] else result[1]
    return None


def _is_flat(result: Any, net: nw.Network) -> bool:
    """Whether ``result`` is one vector of every parameter's gradient (``network.flatten``'s
    order: W1, b1, W2, ... each in C order), as code written for an optimiser returns it."""
    return isinstance(result, np.ndarray) and result.ndim == 1 and result.size == net.n_params


def _fits(shape: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Whether the update ``b2 -= lr * db2`` would take a gradient of ``shape``: the same
    size, broadcasting into the parameter's shape."""
    if shape == expected:
        return True
    try:
        return math.prod(shape) == math.prod(expected) and np.broadcast_shapes(shape, expected) == expected
    except ValueError:
        return False


def _array_shape(a: Any) -> tuple[int, ...] | None:
    """The shape of an array-like item of the user's, None for anything else (a number, a
    list, an object whose ``shape`` raises)."""
    try:
        return tuple(a.shape) if hasattr(a, "shape") else None
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None


def per_layer(result: Any, net: nw.Network) -> list[Any] | None:
    """The arrays, in parameter order (W1, b1, W2, ...), of gradients grouped by layer: two
    lists of one array per layer, the weights' and the biases' in either order (the online
    book's ``return (nabla_b, nabla_w)``, its ``self.weights``/``self.biases``), or one
    ``(dW, db)`` pair per layer; None for anything else. Which grouping it is is read off
    the shapes: the one in which the most of them fit (the book's order, biases first, on a
    tie), so that a wrong shape is still reported against its parameter; where nothing
    fits, None."""
    if not (isinstance(result, (tuple, list)) and all(net.biases)):
        return None
    if not all(isinstance(group, (tuple, list)) for group in result):
        return None
    found = [[_array_shape(a) for a in group] for group in result]
    if any(shape is None for group in found for shape in group):
        return None
    # Each grouping as the (group, index) of each parameter in parameter order.
    groupings: list[list[tuple[int, int]]] = []
    if len(found) == 2 and all(len(group) == net.depth for group in found):
        for w, b in ((1, 0), (0, 1)):  # (nabla_b, nabla_w) first: the book's order wins a tie
            groupings.append([(g, layer) for layer in range(net.depth) for g in (w, b)])
    if len(found) == net.depth and all(len(group) == 2 for group in found):
        groupings.append([(layer, k) for layer in range(net.depth) for k in (0, 1)])
    shapes = list(net.param_shapes.values())
    fits = [[_fits(found[g][k], e) for (g, k), e in zip(order, shapes, strict=True)] for order in groupings]
    if not groupings:
        return None
    best = max(range(len(groupings)), key=lambda i: (sum(fits[i]), -i))
    return [result[g][k] for g, k in groupings[best]] if any(fits[best]) else None


def in_parameter_order(result: Any, net: nw.Network) -> list[Any] | None:
    """The arrays, in parameter order, of a flat vector of every parameter (each keeps its
    dtype, and with it its tolerances) or of two per-layer lists (:func:`per_layer`); None
    for anything else."""
    if _is_flat(result, net):
        shapes = list(net.param_shapes.values())
        ends = np.cumsum([math.prod(shape) for shape in shapes])[:-1]
        return [part.reshape(shape) for part, shape in zip(np.split(result, ends), shapes, strict=True)]
    return per_layer(result, net)


def read_gradients(result: Any, net: nw.Network) -> Read | dict[str, Any]:
    """The gradients in ``result``, or what is wrong with it (``key``, ``got``, ``expected``).

    A dict keyed ``dW1, db1, ...`` or by the parameter keys, or a sequence in parameter order;
    or two lists of one array per layer, the biases' and the weights' in either order
    (:func:`per_layer`, the online book's ``(nabla_b, nabla_w)``); or one flat vector of
    every gradient in ``network.flatten``'s order (W1, b1, W2, ... each in C order); or the
    dict or flat vector beside the loss, ``(loss, grads)`` or ``(grads, loss)``.
    A shape is accepted when the notebook's in-place update ``b2 -= lr * db2`` would accept
    it (same size, broadcasting into the parameter's shape): a scalar ``db2`` is fine, a
    ``db1`` of shape (2,) is not (it would broadcast ``b1`` to (2, 2)).
    """
    shapes = list(net.param_shapes.values())
    if type(result) is dict:  # the usual case: float64 arrays of the right shapes, quickly
        arrays = [result.get(key) for key in net.grad_keys]
        if all(
            type(a) is np.ndarray and a.dtype is _F64 and a.shape == s
            for a, s in zip(arrays, shapes, strict=True)
        ):
            rtol, atol = TOLERANCES[_F64]
            n = net.n_params
            return Read(
                np.concatenate(arrays, axis=None),
                np.full(n, rtol),
                np.full(n, atol),
                np.ones(n, bool),
                np.zeros(n),
            )
    try:
        if isinstance(result, Mapping):
            arrays = _lookup(result, net.grad_keys) or _lookup(result, net.keys) or [_MISSING] * len(shapes)
        elif _is_flat(result, net):
            arrays = in_parameter_order(result, net)
        elif isinstance(result, (tuple, list)):
            grads = _beside_the_loss(result, net)
            if grads is not None:
                return read_gradients(grads, net)
            layers = per_layer(result, net)
            if layers is not None:
                arrays = layers
            elif len(result) != len(shapes):
                got = f"a {type(result).__name__} of {len(result)} items"
                return {"key": None, "got": got, "expected": _expected(net)}
            else:
                arrays = list(result)
        else:
            return {"key": None, "got": type(result).__name__, "expected": _expected(net)}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's object's own code (keys, __getitem__, __len__)
        return {"key": None, "got": f"unreadable ({type(exc).__name__}: {exc})", "expected": _expected(net)}
    values, rtol, atol, sharp = [], [], [], []
    for key, array, shape in zip(net.grad_keys, arrays, shapes, strict=True):
        if array is _MISSING:
            return {"key": key, "got": "missing", "expected": shape}
        try:
            value = array if type(array) is np.ndarray else np.asarray(array)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the user's object's own code (__array__)
            return {"key": key, "got": f"not an array ({type(exc).__name__}: {exc})", "expected": shape}
        if value.dtype.kind not in "fiub":
            return {"key": key, "got": f"dtype {value.dtype}", "expected": shape}
        if not _fits(value.shape, shape):
            return {"key": key, "got": value.shape, "expected": shape}
        r, a = TOLERANCES.get(value.dtype, TOLERANCES[_F64])
        values.append(value.astype(np.float64, copy=False).reshape(-1))
        rtol.append(np.full(value.size, r))
        atol.append(np.full(value.size, a))
        sharp.append(np.full(value.size, (r, a) == TOLERANCES[_F64]))
    flat = np.concatenate(values)
    return Read(flat, np.concatenate(rtol), np.concatenate(atol), np.concatenate(sharp), np.zeros(flat.size))
