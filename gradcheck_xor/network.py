"""One description of a fully connected network, and everything computed from it.

A :class:`Network` says what a dict of parameters ``{"W1", "b1", ..., "WL", "bL"}`` is: its
widths, hidden activation, output, loss and layout. :func:`describe` reads it off the
parameters; the forward pass, the loss, its exact gradient, flat parameter vectors and
batched losses are written once, here, and take it as given. The notebook's 2-2-1 XOR
network is :data:`XOR`.

=======  =========  ==============  ================================================
layout   X          W_l             b_l (optional per layer)
=======  =========  ==============  ================================================
columns  (n_in, m)  (n_l, n_{l-1})  (n_l, 1), (n_l,) or (1, n_l); also () if n_l = 1
rows     (m, n_in)  (n_{l-1}, n_l)  the same
=======  =========  ==============  ================================================

"columns" is the notebook's and deeplearning.ai's layout, "rows" cs231n's and most code on
GitHub's. Weights are keyed ``W1`` or ``w1``, biases ``b1``. Labels follow the layout,
(n_out, m) or (m, n_out), or (m,) for one output; a softmax also takes integer classes (m,).
Gradients are keyed ``"d" + key`` (``dW1``, ``db1``; ``dw1`` for ``w1``) and shaped as the
parameter. Hidden activations, outputs and losses are those of :data:`HIDDEN`,
:data:`OUTPUTS` and :data:`LOSS_CATALOGUE` (formulas and reductions in
``gradcheck_xor._losses``); relu'(0) = 0 and the leaky relu's slope is :data:`LEAKY_SLOPE`.

Everything is computed in the columns orientation, ``Z_l = W_l @ A_{l-1} + b_l``: a rows
network's arrays come in transposed (C-ordered copies) and go out as transposed views, so
both layouts share every line of arithmetic and agree to the bit; leading batch axes of the
parameters (:func:`losses`) are carried along.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck_xor import _losses
from gradcheck_xor._description import (
    LAYOUTS,
    XOR,
    Network,
    NetworkError,
    as_data,
    as_inputs,
    checked_layers,
    describe,
    element_names,
    flat_layers,
    flatten,
    numbers,
    turned,
    unflatten,
)
from gradcheck_xor._losses import (
    DEFAULT_LOSS,
    HIDDEN,
    LEAKY_SLOPE,
    LOSS_CATALOGUE,
    LOSSES,
    OUTPUTS,
    Loss,
    sigmoid,
)

__all__ = [
    "DEFAULT_LOSS",
    "HIDDEN",
    "LAYOUTS",
    "LEAKY_SLOPE",
    "LOSSES",
    "LOSS_CATALOGUE",
    "OUTPUTS",
    "XOR",
    "Loss",
    "Network",
    "NetworkError",
    "as_data",
    "as_inputs",
    "backward",
    "backward_pass",
    "columns",
    "describe",
    "element_names",
    "flat_gradient",
    "flatten",
    "formulas",
    "forward",
    "gradients",
    "gradients_with",
    "layers",
    "logit_losses",
    "loss",
    "loss_and_gradients",
    "loss_terms",
    "losses",
    "losses_after",
    "losses_and_gradients",
    "outputs",
    "pre_activations",
    "sigmoid",
    "unflatten",
]

Params = dict[str, np.ndarray]


# --- the computation, in the columns orientation ---------------------------------------------
# Layers are (W, b) pairs: W (..., n_l, n_{l-1}), b (..., n_l, 1) or None; see checked_layers.


def _run(net: Network, layers: list, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations Z_1..Z_L and the activations A_0 = X, A_1, ..., A_{L-1} that feed them."""
    act = _losses.HIDDEN_FUNCTIONS[net.hidden][0]
    Zs, As = [], [X]
    for W, b in layers:
        if Zs:
            As.append(act(Zs[-1]))
        Z = W @ As[-1]
        Zs.append(Z if b is None else Z + b)
    return Zs, As


def _backward(
    net: Network,
    layers: list,
    Zs: list,
    As: list,
    dZ: np.ndarray,
    relu_at_zero: float = 0.0,
    derivative: Callable[..., np.ndarray] | None = None,
) -> list[tuple]:
    """(dZ, dW, db) per layer from the output layer's dZ: the backward pass, written once."""
    back = derivative or _losses.HIDDEN_FUNCTIONS[net.hidden][1]
    if relu_at_zero and net.hidden == "relu":  # another convention at the kink (see gradients)
        back = lambda da, z, a: da * ((z > 0) + relu_at_zero * (z == 0))  # noqa: E731
    grads: list[tuple] = [()] * net.depth
    for i in reversed(range(net.depth)):
        W, b = layers[i]
        dW = dZ @ As[i].swapaxes(-1, -2)
        grads[i] = (dZ, dW, None if b is None else dZ.sum(axis=-1, keepdims=True))
        if i:
            dZ = back(W.swapaxes(-1, -2) @ dZ, Zs[i - 1], As[i])
    return grads


def _present(net: Network, grads: list[tuple], with_dz: bool = False) -> Params:
    """Gradients keyed and shaped as the caller's parameters (and each dZ in the layout)."""
    rows = net.layout == "rows"
    out = {}
    for i, ((w, b), shape, (dZ, dW, db)) in enumerate(zip(net.names, net.bias_shapes, grads, strict=True)):
        if with_dz:
            out[f"dZ{i + 1}"] = dZ.swapaxes(-1, -2) if rows else dZ
        out["d" + w] = dW.swapaxes(-1, -2) if rows else dW
        if b is not None:
            out["d" + b] = db.reshape(dZ.shape[:-2] + shape)
    return out


def _columns(net: Network, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked data in the columns orientation: X (n_in, m), Y (n_out, m)."""
    X, Y = as_data(net, X, Y)
    return (turned(X), turned(Y)) if net.layout == "rows" else (X, Y)


def _prepared(net: Network, params: Mapping[str, Any], X: Any, Y: Any) -> tuple:
    """(layers, Zs, As, Y): everything a loss or a gradient of one parameter dict starts from."""
    X, Y = _columns(net, X, Y)
    layers = checked_layers(net, params)
    return (layers, *_run(net, layers, X), Y)


# --- the public computation ------------------------------------------------------------------


def forward(net: Network, params: Mapping[str, Any], X: Any) -> dict[str, np.ndarray]:
    """``{"Z1", "A1", ..., "ZL", "AL"}`` in the caller's layout (the notebook's cache), float64."""
    X = as_inputs(net, X)
    rows = net.layout == "rows"
    Zs, As = _run(net, checked_layers(net, params), turned(X) if rows else X)
    As = [*As[1:], _losses.OUTPUT_FUNCTIONS[net.output](Zs[-1])]
    cache = {}
    for i, (Z, A) in enumerate(zip(Zs, As, strict=True), 1):
        cache[f"Z{i}"], cache[f"A{i}"] = (Z.T, A.T) if rows else (Z, A)
    return cache


def loss(net: Network, params: Mapping[str, Any], X: Any, Y: Any) -> float:
    """The network's loss on (X, Y)."""
    _, Zs, _, Y = _prepared(net, params, X, Y)
    return float(_losses.value(net.spec, net.output, Zs[-1], Y))


def loss_terms(net: Network, params: Mapping[str, Any], X: Any, Y: Any) -> np.ndarray:
    """Each sample's share of the loss, (m,): the loss is their sum."""
    _, Zs, _, Y = _prepared(net, params, X, Y)
    terms = _losses.terms(net.spec, net.output, Zs[-1], Y)
    return terms.sum(axis=-2) / net.spec.normaliser(*terms.shape[-2:])


def loss_and_gradients(
    net: Network, params: Mapping[str, Any], X: Any, Y: Any, *, relu_at_zero: float = 0.0
) -> tuple[float, Params]:
    """:func:`loss` and :func:`gradients` from one forward pass."""
    layers, Zs, As, Y = _prepared(net, params, X, Y)
    value = float(_losses.value(net.spec, net.output, Zs[-1], Y))
    dZ = _losses.output_dz(net.spec, net.output, Zs[-1], Y)
    return value, _present(net, _backward(net, layers, Zs, As, dZ, relu_at_zero))


def gradients(
    net: Network, params: Mapping[str, Any], X: Any, Y: Any, *, relu_at_zero: float = 0.0
) -> Params:
    """The exact gradient of :func:`loss`, keyed ``"d" + key`` and shaped as each parameter.
    At a relu kink (some Z = 0) it takes relu'(0) = 0, like ``F.relu`` and ``jax.nn.relu``;
    ``relu_at_zero=0.5`` takes the value ``torch.maximum(z, 0)`` and ``jnp.maximum(z, 0)``
    give a tie, so that their gradients can be told apart from a wrong one."""
    return loss_and_gradients(net, params, X, Y, relu_at_zero=relu_at_zero)[1]


def backward(net: Network, params: Mapping[str, Any], cache: Mapping[str, Any], X: Any, Y: Any) -> Params:
    """Backpropagation from a forward cache (``Z1, A1, ..., ZL`` in the caller's layout):
    ``dZ1 ... dZL`` in the layout and every parameter's gradient, as :func:`gradients`."""
    X, Y = _columns(net, X, Y)
    rows, m = net.layout == "rows", X.shape[1]
    arrays = [X]  # X, Z1, A1, Z2, A2, ..., ZL
    for i, n in enumerate(net.widths[1:], 1):
        for key in (f"Z{i}", f"A{i}") if i < net.depth else (f"Z{i}",):
            if key not in cache:
                raise NetworkError(f"cache[{key!r}] is missing; expected the forward pass's Z1, A1, ..., ZL.")
            value, want = numbers(key, cache[key]), (m, n) if rows else (n, m)
            if value.shape != want:
                raise NetworkError(
                    f"cache[{key!r}] has shape {value.shape}; expected {want} ({net.layout} layout)."
                )
            arrays.append(turned(value) if rows else value)
    Zs, As = arrays[1::2], arrays[0::2]
    dZ = _losses.output_dz(net.spec, net.output, Zs[-1], Y)
    return _present(net, _backward(net, checked_layers(net, params), Zs, As, dZ), with_dz=True)


def losses(net: Network, thetas: Any, X: Any, Y: Any) -> np.ndarray:
    """The loss of each flat parameter vector in ``thetas`` (..., n_params), all at once."""
    X, Y = _columns(net, X, Y)
    Zs, _ = _run(net, flat_layers(net, thetas), X)
    return _losses.value(net.spec, net.output, Zs[-1], Y)


def outputs(net: Network, thetas: Any, X: Any) -> np.ndarray:
    """The output A_L of each flat parameter vector in ``thetas`` (..., n_params), in the
    layout: (..., n_out, m) or (..., m, n_out); :func:`forward`'s last activation, batched."""
    X = as_inputs(net, X)
    rows = net.layout == "rows"
    Zs, _ = _run(net, flat_layers(net, thetas), turned(X) if rows else X)
    A = _losses.OUTPUT_FUNCTIONS[net.output](Zs[-1])
    return A.swapaxes(-1, -2) if rows else A


def losses_and_gradients(net: Network, thetas: Any, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`losses` and each vector's gradient as a flat vector (..., n_params)."""
    X, Y = _columns(net, X, Y)
    layers = flat_layers(net, thetas)
    Zs, As = _run(net, layers, X)
    values = _losses.value(net.spec, net.output, Zs[-1], Y)
    dZ = _losses.output_dz(net.spec, net.output, Zs[-1], Y)
    grads = _present(net, _backward(net, layers, Zs, As, dZ))
    return values, np.concatenate([g.reshape(*values.shape, -1) for g in grads.values()], axis=-1)


def formulas(net: Network) -> tuple[str, str]:
    """The loss and its dZ for this network as a learner writes them; for :data:`XOR`
    ``-sum(Y * log(A2) + (1 - Y) * log(1 - A2)) / m`` and ``(A2 - Y) / m``."""
    class_axis = 0 if net.layout == "columns" else 1
    return _losses.formulas(net.spec, net.output, f"A{net.depth}", net.n_out, class_axis)


# --- one layer's pre-activation changed, and the backward pass with a piece swapped ----------
# For checks that perturb one parameter at a time (the gradient oracle). Arrays are in the
# columns orientation: X (n_in, m), Y (n_out, m), Z_l (n_l, m).


def layers(net: Network, params: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each layer's (W (n_l, n_{l-1}), b (n_l, 1) or None) in the columns orientation, checked."""
    return checked_layers(net, params)


def columns(net: Network, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n_in, m) and ``Y`` (n_out, m), checked, classes made one-hot."""
    return _columns(net, X, Y)


def pre_activations(net: Network, layers: list, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(Z_1, ..., Z_L)`` and the activations ``(A_0 = X, ..., A_{L-1})`` that feed them."""
    return _run(net, layers, X)


def backward_pass(net: Network, layers: list, Zs: list, As: list, Y: np.ndarray) -> list[tuple]:
    """``(dZ, dW, db)`` of each layer, from :func:`pre_activations`' values and labels Y
    (n_out, m); ``db`` is None for a layer without biases."""
    return _backward(net, layers, Zs, As, _losses.output_dz(net.spec, net.output, Zs[-1], Y))


def flat_gradient(net: Network, layers: list[tuple]) -> np.ndarray:
    """``(dZ, dW, db)`` of each layer in the columns orientation, as :func:`backward_pass`
    gives them (or arrays of their shapes), flat in the caller's parameter order."""
    return flatten(net, _present(net, layers), net.grad_keys)


def logit_losses(net: Network, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The loss (...,) of output-layer pre-activations Z (..., n_out, m) and labels Y."""
    return _losses.value(net.spec, net.output, Z, Y)


def losses_after(
    net: Network,
    layers: list,
    Zs: list[np.ndarray],
    Y: np.ndarray,
    layer: int,
    rows: np.ndarray,
    deltas: np.ndarray,
    hidden: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The loss (k,) with ``deltas[k]`` (k, m) added to row ``rows[k]`` of ``Zs[layer]``
    (0-based), for every k at once: the forward pass from a given layer.

    Only that row changes, so the next layer's pre-activation changes by a rank-one term and
    the pass goes on from there. The later hidden layers' pre-activations (k, n, m) are
    appended to ``hidden`` when it is given. A softmax's cross-entropy is taken from the
    rank-one change of the logits itself where the last two layers move
    (:func:`gradcheck_xor._losses.cross_entropy_after`)."""
    act = _losses.HIDDEN_FUNCTIONS[net.hidden][0]
    if net.spec.kind == "cross-entropy" and layer >= net.depth - 2:
        if layer == net.depth - 1:  # the logits' row itself: c is a unit vector
            c = np.zeros((len(rows), net.n_out))
            c[np.arange(len(rows)), rows] = 1.0
            return _losses.cross_entropy_after(net.spec, Zs[layer], Y, c, deltas)
        row = Zs[layer][rows]
        change = act(row + deltas) - act(row)
        return _losses.cross_entropy_after(net.spec, Zs[layer + 1], Y, layers[layer + 1][0].T[rows], change)
    if layer == net.depth - 1:
        Z = np.repeat(Zs[layer][None], len(rows), axis=0)
        Z[np.arange(len(rows)), rows] += deltas
    else:
        row = Zs[layer][rows]
        change = act(row + deltas) - act(row)  # (k, m): the one row of A_layer that moves
        Z = Zs[layer + 1] + layers[layer + 1][0].T[rows][:, :, None] * change[:, None, :]
        for W, b in layers[layer + 2 :]:
            if hidden is not None:
                hidden.append(Z)
            Z = W @ act(Z) if b is None else W @ act(Z) + b
    return _losses.value(net.spec, net.output, Z, Y)


def gradients_with(
    net: Network,
    params: Mapping[str, Any],
    X: Any,
    Y: Any,
    *,
    dz: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    derivative: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Params:
    """:func:`gradients` with a piece of the backward pass swapped, as a mistaken one has it:
    ``dz(dZ_L, A_L)`` turns the output layer's exact dZ into the one used, ``derivative(dA,
    Z, A)`` a hidden layer's dA into its dZ (arrays in the columns orientation)."""
    layers, Zs, As, Y = _prepared(net, params, X, Y)
    dZ = _losses.output_dz(net.spec, net.output, Zs[-1], Y)
    if dz is not None:
        dZ = dz(dZ, _losses.OUTPUT_FUNCTIONS[net.output](Zs[-1]))
    return _present(net, _backward(net, layers, Zs, As, dZ, derivative=derivative))
