"""The analytic side of a check: what the code under check returns at each point, for each
label layout (a backward's gradients, or a training step's update turned into the gradient
it followed), read into values and tolerances."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck_xor import network as nw
from gradcheck_xor._calling import arguments, bind, call, forward_values
from gradcheck_xor._reading import TOLERANCES, Read, in_parameter_order, read_gradients
from gradcheck_xor._setup import Setup

Params = dict[str, np.ndarray]
Backward = Callable[..., Any]
_F64 = np.dtype(np.float64)


@dataclasses.dataclass(frozen=True)
class Analytic:
    """What the code returned, per (point, layout): values, tolerances, and what went wrong."""

    values: np.ndarray  # (points, layouts, n_params), NaN where it returned nothing usable
    rtol: np.ndarray  # the tolerances of the dtype each value came in
    atol: np.ndarray
    sharp: np.ndarray  # float64 values
    floor: np.ndarray  # the rounding each value carries by construction
    status: np.ndarray  # (points, layouts): "ok", "raised" or "shape"
    problems: dict[tuple[int, int], dict[str, Any]]


# (params, labels per layout) -> per layout, what was read, or what went wrong and its kind
Reader = Callable[[Params, list[np.ndarray]], list[tuple[Read | dict[str, Any], str]]]


def returned(setup: Setup, read: Reader) -> Analytic:
    n, lay, P = len(setup.points), len(setup.labels), setup.net.n_params
    values = np.full((n, lay, P), np.nan)
    rtol = np.full((n, lay, P), TOLERANCES[_F64][0])
    atol = np.full((n, lay, P), TOLERANCES[_F64][1])
    sharp = np.ones((n, lay, P), dtype=bool)  # where nothing came back, what float64 would get
    floor = np.zeros((n, lay, P))
    status = np.full((n, lay), "ok", dtype=object)
    problems: dict[tuple[int, int], dict[str, Any]] = {}
    for i, params in enumerate(setup.points):
        for j, (got, kind) in enumerate(read(params, list(setup.labels.values()))):
            if isinstance(got, Read):
                values[i, j], rtol[i, j], atol[i, j] = got.values, got.rtol, got.atol
                sharp[i, j], floor[i, j] = got.sharp, got.floor
            else:
                status[i, j], problems[i, j] = kind, got
    return Analytic(values, rtol, atol, sharp, floor, status, problems)


def backward_reader(backward: Backward, call_with: Callable[..., Any] | None, setup: Setup) -> Reader:
    net, X = setup.net, setup.X
    binding = None if call_with is not None else bind(backward, net)

    def once(
        params: Params, Y: np.ndarray, cache: dict[str, np.ndarray]
    ) -> tuple[Read | dict[str, Any], str]:
        if binding is None:
            fresh = {k: v.copy() for k, v in params.items()}
            result, failure = call(call_with, backward, fresh, X.copy(), Y.copy())  # type: ignore[arg-type]
            if failure is not None:
                failure["function"] = getattr(backward, "__name__", failure["function"])
        else:
            args, kwargs, _ = arguments(binding, net, params, X, Y, cache)
            result, failure = call(backward, *args, **kwargs)
        if failure is not None:
            return failure, "raised"
        return read_gradients(result, net), "shape"

    def read(params: Params, labels: list[np.ndarray]) -> list[tuple[Read | dict[str, Any], str]]:
        cache = {} if binding is None else forward_values(binding, net, params, X)
        return [once(params, Y, cache) for Y in labels]

    return read


def step_reader(
    step: Callable[..., Any], call_with: Callable[..., Any] | None, setup: Setup, lr: float
) -> Reader:
    net, X = setup.net, setup.X
    binding = None if call_with is not None else bind(step, net, step=True)

    def once(
        params: Params, Y: np.ndarray, cache: dict[str, np.ndarray]
    ) -> tuple[Read | dict[str, Any], str]:
        if binding is None:
            fresh = {k: v.copy() for k, v in params.items()}
            result, failure = call(call_with, step, fresh, X.copy(), Y.copy(), lr)  # type: ignore[arg-type]
            if failure is not None:
                failure["function"] = getattr(step, "__name__", failure["function"])
        else:
            args, kwargs, fresh = arguments(binding, net, params, X, Y, cache, lr)
            result, failure = call(step, *args, **kwargs)
        if failure is not None:
            return failure, "raised"
        new = _updated(result, fresh, net)
        if "got" in new:
            return dict(new), "shape"
        grads = {}
        for key in net.keys:
            try:
                grads[key] = (params[key] - np.asarray(new[key], dtype=np.float64)) / lr
            except (TypeError, ValueError) as exc:
                return {
                    "key": key,
                    "got": f"not an array of numbers ({exc})",
                    "expected": params[key].shape,
                }, "shape"
        got = read_gradients(grads, net)
        if isinstance(got, Read):
            # (old - new) / lr keeps the round-off of old and new, magnified by 1 / lr.
            scale = np.concatenate([np.abs(params[k]).ravel() for k in net.keys])
            got = dataclasses.replace(got, floor=got.floor + 4 * np.finfo(np.float64).eps * scale / lr)
        return got, "shape"

    def read(params: Params, labels: list[np.ndarray]) -> list[tuple[Read | dict[str, Any], str]]:
        cache = {} if binding is None else forward_values(binding, net, params, X)
        return [once(params, Y, cache) for Y in labels]

    return read


def _a_loss(value: Any, net: nw.Network | None = None) -> bool:
    """Whether a step's result is a loss: a number or a 0-d array (``np.squeeze(cost)``);
    given the network, a whole result may also be an array of one number (Python's ``sum``
    of an (n, 1) array), unless the network has a single parameter, whose new value it could
    be. An item of a tuple of size one may be a parameter (a (1, 1) bias) and is not one."""
    if isinstance(value, (float, int, np.generic)):
        return True
    one = net is not None and net.n_params > 1 and getattr(value, "size", 0) == 1
    return isinstance(value, np.ndarray) and (value.ndim == 0 or one)


def _updated(result: Any, fresh: Params, net: nw.Network) -> Mapping[str, Any] | dict[str, Any]:
    """The parameters after a step: the dict it was given (updated in place, returning
    nothing, itself or its loss), a dict it returned alone or beside other values (its loss,
    say), a sequence of arrays in parameter order, or the other forms a backward's gradients
    take (:func:`~gradcheck_xor._reading.in_parameter_order`): two per-layer lists, such as
    a class's ``(self.biases, self.weights)`` after its step, or one flat vector."""
    if result is None or result is fresh or _a_loss(result, net):
        return fresh
    if isinstance(result, (tuple, list)) and result:
        # (params, grads, ...) takes the first dict; (loss, params) the only one, or the
        # parameters in any other form beside the loss
        dicts = [item for item in result if isinstance(item, Mapping)]
        others = [item for item in result if not _a_loss(item)]
        if isinstance(result[0], Mapping) or len(dicts) == 1:
            result = result[0] if isinstance(result[0], Mapping) else dicts[0]
        elif len(result) == 2 and len(others) == 1:
            result = others[0]
    arrays = in_parameter_order(result, net)
    if arrays is not None:
        return dict(zip(net.keys, arrays, strict=True))
    if isinstance(result, Mapping):
        missing = [key for key in net.keys if key not in result]
        if missing:
            return {"key": missing[0], "got": "missing", "expected": net.param_shapes[missing[0]]}
        return result
    if isinstance(result, (tuple, list)) and len(result) == len(net.keys):
        return dict(zip(net.keys, result, strict=True))
    expected = (
        f"None or the loss (an update in place), or the parameters: a dict with keys {', '.join(net.keys)}, "
        "a sequence in that order, per-layer lists or one flat vector, alone or beside the loss"
    )
    return {"key": None, "got": type(result).__name__, "expected": expected}
