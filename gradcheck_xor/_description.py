"""What a network is: :class:`Network`, read off a dict of parameters by :func:`describe`,
and the checks of data and parameters against it (shapes, layout, labels, flat vectors).

The computation lives in :mod:`gradcheck_xor.network`, which re-exports everything public
here; this module never computes a forward pass.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from gradcheck_xor._losses import DEFAULT_LOSS, HIDDEN, LOSS_CATALOGUE, LOSSES, OUTPUTS, Loss

Params = dict[str, np.ndarray]
Shape = tuple[int, ...]

LAYOUTS = ("columns", "rows")
_F64 = np.dtype(np.float64)


class NetworkError(ValueError):
    """Parameters, data or options that describe no network. The message is one line naming
    the key, what it was and what was expected."""


def turned(a: np.ndarray) -> np.ndarray:
    """A rows-layout array in the columns orientation, C-ordered: both layouts then make the
    very same BLAS calls and agree to the last bit."""
    return np.ascontiguousarray(a.swapaxes(-1, -2))


def _bias_shapes(n: int) -> tuple[Shape, ...]:
    return ((1, 1), (1,), ()) if n == 1 else ((n, 1), (n,), (1, n))


def _one_of(option: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise NetworkError(f"{option}={value!r} is not known; expected one of {', '.join(choices)}.")
    return str(value)


# --- the description -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Network:
    """A fully connected network: ``widths`` (n_in, n_1, ..., n_L), the hidden activation,
    the output, the loss, the layout, and each layer's keys and bias shape as the caller
    wrote them: ``names[l]`` is (weight key, bias key or None), ``bias_shapes[l]`` the bias's
    shape or None. Build one with :func:`describe` or :meth:`from_widths`;
    ``dataclasses.replace(net, loss="mse")`` gives a variant, checked like the original.
    """

    widths: tuple[int, ...]
    hidden: str
    output: str
    loss: str
    layout: str
    names: tuple[tuple[str, str | None], ...]
    bias_shapes: tuple[Shape | None, ...]

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(type(n) is not int or n < 1 for n in self.widths):
            raise NetworkError(f"widths={self.widths!r}; expected (n_in, n_1, ..., n_L), each an int >= 1.")
        _one_of("hidden", self.hidden, HIDDEN)
        _one_of("output", self.output, OUTPUTS)
        _one_of("layout", self.layout, LAYOUTS)
        if self.output not in LOSS_CATALOGUE[_one_of("loss", self.loss, LOSSES)].outputs:
            takes = ", ".join(k for k, v in LOSS_CATALOGUE.items() if self.output in v.outputs)
            raise NetworkError(
                f"loss={self.loss!r} does not go with output={self.output!r}; expected {takes}."
            )
        if len(self.names) != self.depth or len(self.bias_shapes) != self.depth:
            raise NetworkError(f"names and bias_shapes; expected one entry per layer ({self.depth}).")
        for (w, b), shape, n in zip(self.names, self.bias_shapes, self.widths[1:], strict=True):
            if (b is None) != (shape is None) or (shape is not None and shape not in _bias_shapes(n)):
                raise NetworkError(f"{b or w} has bias shape {shape}; expected one of {_bias_shapes(n)}.")
        if len(set(self.keys)) != len(self.keys):
            raise NetworkError(f"names={self.names!r}; expected distinct keys.")
        if self.output == "softmax" and self.n_out < 2:
            raise NetworkError(
                f"{self.names[-1][0]} has 1 output; a softmax over 1 output is always 1, expected 2+."
            )

    @classmethod
    def from_widths(
        cls,
        widths: Iterable[int],
        *,
        hidden: str = "relu",
        output: str = "sigmoid",
        loss: str | None = None,
        layout: str = "columns",
        bias: bool = True,
        lower: bool = False,
    ) -> Network:
        """Keys ``W1, b1, ...`` (``w1, b1, ...`` if ``lower``); biases (n, 1) in the columns
        layout and (n,) in the rows layout, or none; the output's own loss by default."""
        widths = tuple(map(operator.index, widths))
        w = "w" if lower else "W"
        return cls(
            widths,
            hidden,
            output,
            DEFAULT_LOSS.get(output, "") if loss is None else loss,
            layout,
            tuple((f"{w}{i}", f"b{i}" if bias else None) for i in range(1, len(widths))),
            tuple(((n, 1) if layout == "columns" else (n,)) if bias else None for n in widths[1:]),
        )

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def n_out(self) -> int:
        return self.widths[-1]

    @property
    def biases(self) -> tuple[bool, ...]:
        return tuple(b is not None for _, b in self.names)

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """The parameter keys in the flat vector's order: W1, b1, W2, b2, ..."""
        return tuple(key for pair in self.names for key in pair if key is not None)

    @cached_property
    def grad_keys(self) -> tuple[str, ...]:
        return tuple("d" + key for key in self.keys)

    @cached_property
    def param_shapes(self) -> Mapping[str, Shape]:
        """Key -> shape in the caller's layout, in the flat vector's order: the shape table."""
        shapes: dict[str, Shape] = {}
        for (w, b), bias, n_prev, n in zip(
            self.names, self.bias_shapes, self.widths[:-1], self.widths[1:], strict=True
        ):
            shapes[w] = (n, n_prev) if self.layout == "columns" else (n_prev, n)
            if b is not None and bias is not None:
                shapes[b] = bias
        return MappingProxyType(shapes)

    @cached_property
    def n_params(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.param_shapes.values())

    @cached_property
    def spec(self) -> Loss:
        """The loss's catalogue entry."""
        return LOSS_CATALOGUE[self.loss]

    @cached_property
    def _plan(self) -> tuple[tuple[str, str | None, Shape, Shape | None, int], ...]:
        # What the hot paths need per layer, looked up once: keys, shapes, width.
        layers = zip(self.names, self.bias_shapes, self.widths[1:], strict=True)
        return tuple((w, b, self.param_shapes[w], shape, n) for (w, b), shape, n in layers)

    def __str__(self) -> str:
        return (
            f"{'-'.join(map(str, self.widths))} network ({self.hidden} hidden, {self.output} output, "
            f"{self.loss} loss, {self.layout} layout)"
        )


XOR = Network.from_widths((2, 2, 1))
"""The notebook's network: 2-2-1, relu, sigmoid, bce, columns, b1 (2, 1) and b2 (1, 1)."""


# --- reading a description off the parameters ------------------------------------------------

_WEIGHT_KEY = re.compile(r"([Ww])([1-9][0-9]{0,5})\Z")  # a million layers is plenty
_BIAS_KEY = re.compile(r"b([1-9][0-9]{0,5})\Z")
_DATA_KEYS = ("X", "Y")
_KEY_HELP = "expected W1, b1, ..., WL, bL (or w1, ...), X or Y"


def is_key(name: object) -> bool:
    """Whether parameters may hold ``name``: W1, b1, ..., WL, bL (or w1, ...), X or Y. A file
    reader asks before it reads what is stored under the name."""
    return isinstance(name, str) and (
        name in _DATA_KEYS or _WEIGHT_KEY.match(name) is not None or _BIAS_KEY.match(name) is not None
    )


def numbers(key: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array, or a one-line error naming ``key``."""
    if type(value) is np.ndarray and value.dtype is _F64:
        return value
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        array = np.asarray(None)
    if array.dtype.kind not in "biuf":
        raise NetworkError(
            f"{key} is not an array of numbers (a {type(value).__name__}); expected real numbers."
        )
    return array.astype(np.float64, copy=False)


def _shown(key: Any) -> str:
    # A key as an error message shows it: repr keeps it on one line, the cut keeps it short.
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def _layer_keys(params: Mapping[Any, Any]) -> list[tuple[str, str | None]]:
    """Each layer's (weight, bias) keys, from the keys alone: refuses unknown keys, two cases
    of one weight, a bias without its weight and gaps in the numbering."""
    weights: dict[int, str] = {}
    biases: dict[int, str] = {}
    for key in params:
        w = _WEIGHT_KEY.match(key) if isinstance(key, str) else None
        b = _BIAS_KEY.match(key) if isinstance(key, str) else None
        if w:
            if int(w[2]) in weights:
                raise NetworkError(
                    f"{weights[int(w[2])]} and {key} are both given; expected one weight per layer."
                )
            weights[int(w[2])] = key
        elif b:
            biases[int(b[1])] = key
        elif key not in _DATA_KEYS:
            raise NetworkError(f"unknown key {_shown(key)}; {_KEY_HELP}.")
    if not weights:
        raise NetworkError(
            f"no weights among the keys {', '.join(map(_shown, list(params)[:6]))}; {_KEY_HELP}."
        )
    depth = len(weights)
    gap = min(set(range(1, depth + 2)) - set(weights))
    if gap <= depth:
        shown = ", ".join(weights[k] for k in sorted(weights)[:6])
        raise NetworkError(f"W{gap} is missing (got {shown}); expected layers numbered 1 to L without gaps.")
    for layer, key in biases.items():
        if layer > depth:
            raise NetworkError(f"{key} has no weight W{layer}; expected biases b1 to b{depth} only.")
    return [(weights[i], biases.get(i)) for i in range(1, depth + 1)]


def _fit(
    layout: str, keys: list[tuple[str, str | None]], shapes: Mapping[str, Shape], x_shape: Shape | None
) -> tuple[int, Any]:
    """How far the shapes fit ``layout``: (2 L + 1, widths) if all do, else (the position of
    the first misfit in the order W1, b1, W2, ..., bL, X; its one-line message)."""
    cols = layout == "columns"
    where = f"({layout} layout: W_l is {'(n_l, n_{l-1})' if cols else '(n_{l-1}, n_l)'})"
    widths: list[int] = []
    for position, (w, b) in enumerate(keys):
        shape = shapes[w]
        if len(shape) != 2 or 0 in shape:
            raise NetworkError(f"{w} has shape {shape}; expected a 2-D array with at least one unit.")
        n, n_prev = shape if cols else shape[::-1]
        if widths and n_prev != widths[-1]:
            want = (n, widths[-1]) if cols else (widths[-1], n)
            prev = keys[position - 1][0]
            follow = f"to follow {prev} {shapes[prev]} {where}"
            return 2 * position, f"{w} has shape {shape}; expected {want} {follow}."
        widths += [n] if widths else [n_prev, n]
        if b is not None and shapes[b] not in _bias_shapes(n):
            want, units = " or ".join(map(str, _bias_shapes(n))), "1 unit" if n == 1 else f"{n} units"
            return 2 * position + 1, f"{b} has shape {shapes[b]}; expected {want} for the {units} of {w}."
    if x_shape is not None and (len(x_shape) != 2 or x_shape[0 if cols else 1] != widths[0] or 0 in x_shape):
        want = f"({widths[0]}, m)" if cols else f"(m, {widths[0]})"
        return 2 * len(keys), f"X has shape {x_shape}; expected {want} for {keys[0][0]} {where}."
    return 2 * len(keys) + 1, tuple(widths)


def describe(
    params: Mapping[str, Any],
    X: Any = None,
    *,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | None = None,
    layout: str | None = None,
) -> Network:
    """The network that ``params`` (and inputs ``X``, if given) describe.

    Widths, depth, biases and keys come from the keys and shapes (``X`` and ``Y`` keys are
    ignored). The layout is the one in which the weights chain, the bias widths match and X
    fits; where both layouts do (square weights and no X, or X square too), ``layout=`` must
    name one. Defaults: hidden "relu"; output the one ``loss`` implies, else "sigmoid"; loss
    the output's own (bce, cross-entropy, half-mse). Raises :class:`NetworkError`.
    """
    if not isinstance(params, Mapping):
        raise NetworkError(
            f"params is a {type(params).__name__}; expected a dict of arrays keyed W1, b1, ..."
        )
    keys = _layer_keys(params)
    shapes = {key: numbers(key, params[key]).shape for pair in keys for key in pair if key is not None}
    x_shape = None if X is None else numbers("X", X).shape
    layouts = LAYOUTS if layout is None else (_one_of("layout", layout, LAYOUTS),)
    tried = {name: _fit(name, keys, shapes, x_shape) for name in layouts}
    fitting = [name for name, (position, _) in tried.items() if position == 2 * len(keys) + 1]
    if len(fitting) > 1:
        given = f"{keys[0][0]} {shapes[keys[0][0]]}" + ("" if x_shape is None else f" and X {x_shape}")
        raise NetworkError(
            f"layout is ambiguous: {given} fit both layouts; expected layout='columns' (X is (n_in, m)) "
            "or 'rows' (X is (m, n_in)); --layout on the command line."
        )
    if not fitting:  # the message of the layout that fits further; columns on a tie
        raise NetworkError(max(tried.values(), key=lambda fit: fit[0])[1])
    if output is None:
        output = LOSS_CATALOGUE[loss].outputs[0] if loss in LOSS_CATALOGUE else "sigmoid"
    return Network(
        widths=tried[fitting[0]][1],
        hidden="relu" if hidden is None else hidden,
        output=output,
        loss=DEFAULT_LOSS.get(output, "") if loss is None else loss,
        layout=fitting[0],
        names=tuple(keys),
        bias_shapes=tuple(None if b is None else shapes[b] for _, b in keys),
    )


# --- data and parameters ---------------------------------------------------------------------


def as_inputs(net: Network, X: Any) -> np.ndarray:
    """``X`` as float64 in the network's layout, or a :class:`NetworkError` naming its shape."""
    X = numbers("X", X)
    cols = net.layout == "columns"
    if X.ndim != 2 or X.shape[0 if cols else 1] != net.widths[0] or 0 in X.shape:
        want = f"({net.widths[0]}, m)" if cols else f"(m, {net.widths[0]})"
        raise NetworkError(f"X has shape {X.shape}; expected {want} with m >= 1 ({net.layout} layout).")
    return X


def as_data(net: Network, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``Y`` as float64 arrays in the network's layout, the labels always 2-D, (n_out,
    m) or (m, n_out), integer classes made one-hot: the one place that decides label layout."""
    X = as_inputs(net, X)
    Y = numbers("Y", Y)
    cols = net.layout == "columns"
    m, n = X.shape[1 if cols else 0], net.n_out
    full = (n, m) if cols else (m, n)
    if Y.shape == full:
        return X, Y
    if n == 1 and Y.shape == (m,):
        return X, Y.reshape(full)
    if net.output == "softmax" and Y.shape == (m,):
        bad = ~((Y >= 0) & (n > Y) & (np.floor(Y) == Y))
        if bad.any():
            i = int(np.argmax(bad))
            raise NetworkError(f"Y[{i}] is {Y[i]}; expected a class 0 to {n - 1}, or one-hot labels {full}.")
        onehot = (np.arange(n)[:, None] == Y).astype(np.float64)
        return X, onehot if cols else onehot.T
    options = [str(full)] + (
        [f"({m},)"] if n == 1 else [f"({m},) classes"] if net.output == "softmax" else []
    )
    want, outputs = " or ".join(options), "output" if n == 1 else "outputs"
    raise NetworkError(
        f"Y has shape {Y.shape}; expected {want} for {m} samples and {n} {outputs} ({net.layout} layout)."
    )


_MISSING = object()


def _param(net: Network, arrays: Mapping[str, Any], key: str, shape: Shape | None) -> np.ndarray:
    """``arrays[key]`` as float64 in exactly the described ``shape``, or a one-line error."""
    value = arrays.get(key, _MISSING)
    if type(value) is np.ndarray and value.dtype is _F64 and value.shape == shape:
        return value  # the usual case, in a few comparisons
    if value is _MISSING:
        raise NetworkError(f"{key} is missing; expected an array of shape {shape} for the {net}.")
    value = numbers(key, value)
    if value.shape != shape:
        raise NetworkError(f"{key} has shape {value.shape}; expected {shape} for the {net}.")
    return value


def checked_layers(net: Network, params: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each layer's (W, b) in the columns orientation, b (n, 1) or None, checked against the
    description: every key present in its shape, nothing else but X and Y."""
    if type(params) is not dict and not isinstance(params, Mapping):
        raise NetworkError(
            f"params is a {type(params).__name__}; expected a dict keyed {', '.join(net.keys)}."
        )
    rows = net.layout == "rows"
    layers = []
    for w, b, w_shape, b_shape, n in net._plan:
        W = _param(net, params, w, w_shape)
        B = None if b is None else _param(net, params, b, b_shape)
        if B is not None and b_shape != (n, 1):
            B = B.reshape(n, 1)
        layers.append((turned(W) if rows else W, B))
    if len(params) != len(net.keys):
        extra = [key for key in params if key not in net.param_shapes and key not in _DATA_KEYS]
        if extra:
            raise NetworkError(
                f"{_shown(extra[0])} is not a parameter of the {net}; expected {', '.join(net.keys)}."
            )
    return layers


def flatten(net: Network, arrays: Mapping[str, Any], keys: Iterable[str] | None = None) -> np.ndarray:
    """One float64 vector: the arrays of ``keys`` (default the parameters W1, b1, W2, ...;
    ``net.grad_keys`` for a gradient), each in C order of the caller's shape."""
    keys = net.keys if keys is None else tuple(keys)
    shapes = net.param_shapes.values()
    return np.concatenate([_param(net, arrays, k, s) for k, s in zip(keys, shapes, strict=True)], axis=None)


def unflatten(net: Network, theta: Any, keys: Iterable[str] | None = None) -> Params:
    """The arrays (views) of flat vectors ``theta`` (..., n_params); leading axes are kept."""
    theta = numbers("theta", theta)
    if theta.ndim < 1 or theta.shape[-1] != net.n_params:
        raise NetworkError(f"theta has shape {theta.shape}; expected (..., {net.n_params}) for the {net}.")
    keys = net.keys if keys is None else tuple(keys)
    lead, arrays, start = theta.shape[:-1], {}, 0
    for key, shape in zip(keys, net.param_shapes.values(), strict=True):
        size = int(np.prod(shape))
        arrays[key] = theta[..., start : start + size].reshape(lead + shape)
        start += size
    return arrays


def element_names(net: Network, prefix: str = "d") -> tuple[str, ...]:
    """A name per element of the flat vector, ``dW1[0, 1]``; ``prefix=""`` for ``W1[0, 1]``."""
    return tuple(
        f"{prefix}{key}[{', '.join(map(str, index))}]"
        for key, shape in net.param_shapes.items()
        for index in np.ndindex(shape)
    )


def flat_layers(net: Network, thetas: Any) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """:func:`checked_layers` of flat vectors (..., n_params), with their leading axes."""
    arrays = unflatten(net, thetas)
    lead = arrays[net.keys[0]].shape[:-2]
    return [
        (
            arrays[w] if net.layout == "columns" else turned(arrays[w]),
            None if b is None else arrays[b].reshape(*lead, n, 1),
        )
        for w, b, _, _, n in net._plan
    ]
