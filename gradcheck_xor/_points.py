"""The parameter points a default check visits, for any network.

One point can hide a bug: a missing ReLU mask is invisible while every unit is active, the
gradient of ½·MSE looks like the cross-entropy's until the output saturates. So a default
check visits, by name:

``notebook-init``    the notebook's initial weights, for the notebook's 2-2-1 shapes (its zero
                     ``b1`` puts the sample (0, 0) on the ReLU kink)
``random``           a uniform draw, each weight within 2 sqrt(2 / fan-in), clear of kinks;
                     ``random-2`` a second one where there is no notebook-init
``partly-inactive``  (ReLU and leaky ReLU) in every hidden layer a unit off on some samples
                     and on on others
``dead-unit``        (ReLU and leaky ReLU) in every hidden layer of two units or more a unit
                     off on every sample, while another stays on
``near-saturated``   (sigmoid and softmax outputs) the output layer scaled until its largest
                     logit is 15 and some sample is confidently wrong, where ½·MSE's gradient
                     vanishes and the cross-entropy's does not

Points are drawn in the columns orientation and handed out in the caller's layout and keys,
so both layouts of one network visit the same points. For the notebook's network they are
the points the oracle has always visited.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcheck_xor import model
from gradcheck_xor import network as nw

Params = dict[str, np.ndarray]
Layers = list[tuple[np.ndarray, np.ndarray | None]]  # (W (n, n_prev), b (n,) or None), columns

KINKED = ("relu", "leaky_relu")  # hidden activations with a kink, and a side where units are off


def xor_data(net: nw.Network) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's XOR data in the network's layout (2 inputs and 1 output only)."""
    X, Y = model.xor_data()
    return (X, Y) if net.layout == "columns" else (X.T.copy(), Y.T.copy())


def is_notebooks(net: nw.Network) -> bool:
    """Whether the network has the notebook's shapes: 2-2-1 with both biases."""
    return net.widths == (2, 2, 1) and all(net.biases)


def _caller(net: nw.Network, layers: Layers) -> Params:
    """Columns-orientation layers as the caller's parameter dict."""
    params: Params = {}
    for (w, b), shape, (W, bias) in zip(net.names, net.bias_shapes, layers, strict=True):
        params[w] = W.copy() if net.layout == "columns" else W.T.copy()
        if b is not None and bias is not None and shape is not None:
            params[b] = bias.reshape(shape).copy()
    return params


def _twin(net: nw.Network) -> nw.Network:
    """The network in the columns layout, keys W1, b1, ...: what the points are drawn for."""
    names = tuple((f"W{i}", f"b{i}" if b else None) for i, b in enumerate(net.biases, 1))
    shapes = tuple((n, 1) if b else None for n, b in zip(net.widths[1:], net.biases, strict=True))
    return nw.Network(net.widths, net.hidden, net.output, net.loss, "columns", names, shapes)


def _forward(net: nw.Network, layers: Layers, X: np.ndarray) -> dict[str, np.ndarray]:
    """The forward cache (``Z1``, ``A1``, ...) of columns-orientation layers on X (n_in, m);
    ``net`` is a :func:`_twin`."""
    params = {}
    for i, (W, b) in enumerate(layers, 1):
        params[f"W{i}"] = W
        if b is not None:
            params[f"b{i}"] = b[:, None]
    return nw.forward(net, params, X)


def _pre_activations(net: nw.Network, layers: Layers, X: np.ndarray) -> list[np.ndarray]:
    cache = _forward(net, layers, X)
    return [cache[f"Z{i}"] for i in range(1, net.depth + 1)]


def _draw(rng: np.random.Generator, net: nw.Network) -> Layers:
    """Every parameter uniform within 2 sqrt(2 / fan-in): [-2, 2] for the notebook's layers."""
    sizes = [(n, n_prev) for n_prev, n in zip(net.widths[:-1], net.widths[1:], strict=True)]
    count = sum(n * n_prev + (n if bias else 0) for (n, n_prev), bias in zip(sizes, net.biases, strict=True))
    theta, start, layers = rng.uniform(-2.0, 2.0, count), 0, []
    for (n, n_prev), bias in zip(sizes, net.biases, strict=True):
        scale = math.sqrt(2.0 / n_prev)
        W = theta[start : start + n * n_prev].reshape(n, n_prev) * scale
        start += n * n_prev
        b = None
        if bias:
            b = theta[start : start + n] * scale
            start += n
        layers.append((W, b))
    return layers


def _clear_draw(rng: np.random.Generator, net: nw.Network, X: np.ndarray) -> Layers:
    """A draw with every hidden |Z| above a margin (no kink nearby) and each hidden unit on
    for some sample (so that every gradient element can be wrong). Wide layers on many
    samples rarely clear 0.02 everywhere: after 100 draws the margin drops to 1e-4."""
    for attempt in range(1000):
        layers = _draw(rng, net)
        if net.hidden not in KINKED:
            return layers
        margin = 0.02 if attempt < 100 else 1e-4
        hidden = _pre_activations(net, layers, X)[:-1]
        if all(np.min(np.abs(Z)) > margin and np.all(np.max(Z, axis=1) > margin) for Z in hidden):
            break
    return layers


def _inputs(net: nw.Network, layers: Layers, X: np.ndarray, layer: int) -> np.ndarray:
    """The activations feeding ``layer`` (0-based): X, then each hidden layer's."""
    return X if layer == 0 else _forward(net, layers, X)[f"A{layer}"]


def _partly_inactive(net: nw.Network, layers: Layers, X: np.ndarray) -> bool:
    """Unit 0 of every hidden layer with a bias: its threshold halfway across the widest gap
    between its samples' values, so that it is off on some and on on others."""
    changed = False
    for layer in range(net.depth - 1):
        W, b = layers[layer]
        z = np.sort(W[0] @ _inputs(net, layers, X, layer))
        if b is not None and z.size > 1 and np.max(np.diff(z)) > 0.04:
            k = int(np.argmax(np.diff(z)))
            b[0] = -(z[k] + z[k + 1]) / 2
            changed = True
    return changed


def _dead_unit(net: nw.Network, layers: Layers, X: np.ndarray) -> bool:
    """The last unit of every hidden layer of 2+ units with a bias off on every sample, and
    unit 0 on for some sample."""
    changed = False
    for layer in range(net.depth - 1):
        W, b = layers[layer]
        if b is None or W.shape[0] < 2:
            continue
        A = _inputs(net, layers, X, layer)
        b[-1] = -0.5 - np.max(W[-1] @ A)
        if np.max(W[0] @ A + b[0]) <= 0:
            b[0] = 0.5 - np.max(W[0] @ A)
        changed = True
    return changed


def _near_saturated(net: nw.Network, layers: Layers, X: np.ndarray, Y: np.ndarray) -> None:
    """Scale the output layer until its largest |logit| is 15, flipped if need be so that
    some sample is confidently wrong."""
    Z = _pre_activations(net, layers, X)[-1]
    scale = 15.0 / max(float(np.max(np.abs(Z))), 1e-12)
    if net.output == "softmax":
        right = np.all(np.argmax(Z, axis=0) == np.argmax(Y, axis=0))
    else:
        right = np.all((Z > 0) == (Y > 0.5))
    if right:
        scale = -scale  # every sample right: flip the output layer so that all are confidently wrong
    W, b = layers[-1]
    layers[-1] = (W * scale, None if b is None else b * scale)


def unexercised(net: nw.Network, points: tuple[Params, ...], X: np.ndarray) -> tuple[str, ...]:
    """What none of ``points`` (the caller's layout and keys, X in the network's layout) can
    show, read off the network's forward pass there: the states the default points are
    chosen to reach."""
    L, missing = net.depth, []
    caches = [nw.forward(net, p, X) for p in points]
    hidden = [cache[f"Z{i}"] for cache in caches for i in range(1, L)]
    if net.hidden in KINKED and hidden:
        if not any((Z < 0).any() for Z in hidden):
            name = "ReLU" if net.hidden == "relu" else "leaky ReLU"
            missing.append(
                f"every hidden unit is on for every sample, where a missing {name} mask cannot show"
            )
        if not any((Z == 0).any() for Z in hidden):
            missing.append(f"no hidden pre-activation is on a kink, so {net.hidden}'(0) is not exercised")
    # sigmoid'(z) < 0.01 beyond |z| = 4.6; a softmax as sure of one class as that
    saturated = any((cache[f"A{L}"] > 0.99).any() or (cache[f"A{L}"] < 0.01).any() for cache in caches)
    if net.output != "identity" and not saturated:
        missing.append(
            f"no output is saturated, where a dZ{L} that keeps the {net.output}'s derivative "
            "(half the squared error's) vanishes and the cross-entropy's does not"
        )
    return tuple(missing)


def default_points(
    seed: int = 0, X: Any = None, Y: Any = None, *, network: nw.Network | None = None
) -> list[tuple[str, Params]]:
    """The parameter points a default check of ``network`` (default: the notebook's) visits,
    as ``(name, params)`` in its layout and keys; ``X`` and ``Y`` default to the XOR data.
    See the module's docstring for what each point exercises."""
    net = nw.XOR if network is None else network
    if X is None and Y is None:
        if net.widths[0] != 2 or net.n_out != 1:
            raise ValueError(f"X and Y are needed for the {net}: the XOR data has 2 inputs and 1 output.")
        X, Y = xor_data(net)
    X, Y = nw.as_data(net, X, Y)
    if net.layout == "rows":
        X, Y = X.T, Y.T
    rng = np.random.default_rng(seed)
    points: list[tuple[str, Layers]] = []
    twin = _twin(net)
    if is_notebooks(net):
        init = model.init_params(seed)
        points.append(("notebook-init", [(init["W1"], init["b1"][:, 0]), (init["W2"], init["b2"][:, 0])]))
    points.append(("random", _clear_draw(rng, twin, X)))
    if not is_notebooks(net):
        points.append(("random-2", _clear_draw(rng, twin, X)))
    if net.hidden in KINKED:
        partly = _clear_draw(rng, twin, X)
        if _partly_inactive(twin, partly, X):
            points.append(("partly-inactive", partly))
        dead = _clear_draw(rng, twin, X)
        if _dead_unit(twin, dead, X):
            points.append(("dead-unit", dead))
    if net.output != "identity":
        saturated = _clear_draw(rng, twin, X)
        _near_saturated(twin, saturated, X, Y)
        points.append(("near-saturated", saturated))
    return [(name, _caller(net, layers)) for name, layers in points]
