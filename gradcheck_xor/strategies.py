"""Hypothesis strategies for networks, their parameters and their data.

Use them to write your own property tests::

    from hypothesis import given
    from gradcheck_xor import strategies

    @given(strategies.parameters(regime="dead-unit"))
    def test_my_backward(params): ...

Without ``network=`` the parameters and data are the notebook's XOR network's (2-2-1, keys
``W1, b1, W2, b2``, samples in columns); with it, those of any
:class:`gradcheck_xor.network.Network`, which :func:`networks` draws: widths 1-12, one to
three hidden layers, every hidden activation x output x loss x layout, biases absent or
shaped (n, 1), (n,), (1, n) (or a plain number for one unit) and upper- or lower-case keys.

Regimes of :func:`parameters`, each a place where hand-written backward passes go wrong:

* ``generic``: each bias uniform in [-2, 2], each weight in ±2·sqrt(2 / fan-in) (±2 for
  XOR, whose fan-ins are 2), so that deeper and wider layers stay in the same range;
* ``near-kink``: one hidden pre-activation within 1e-3 of 0 on one sample (but never
  exactly 0 and never within 1e-4, so central differences with a small step stay valid);
* ``dead-unit``: one hidden unit with a negative pre-activation on every sample (its ReLU
  mask is all zero);
* ``saturated``: the output layer scaled so that its largest logit magnitude is drawn from
  [25, 35], where the sigmoid is within 1.4e-11 of 0 or 1.

The hidden layer (one with a bias, if any has one) and the unit are drawn. A regime is
built against the data ``X`` the parameters will meet (for XOR, the notebook's inputs by
default), by moving the unit's bias, or without one its weights; where no weights can do
it on that data (a sample whose inputs are all zero, inputs of both signs for a dead unit,
an output layer without a bias that gives 0 everywhere), the draw is rejected and
hypothesis draws again.

This module imports hypothesis, which the ``pytest`` extra installs
(``pip install 'gradcheck-xor[pytest]'``); the core never imports it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:  # only hypothesis itself missing; a broken install says its own
    if exc.name != "hypothesis":
        raise
    raise ImportError(
        "gradcheck_xor.strategies needs hypothesis, which is not installed: "
        "pip install 'gradcheck-xor[pytest]'"
    ) from None

from gradcheck_xor import network as nw
from gradcheck_xor.model import xor_data

__all__ = ["REGIMES", "Regime", "datasets", "networks", "parameters"]

Regime = Literal["generic", "near-kink", "dead-unit", "saturated"]
REGIMES: tuple[Regime, ...] = ("generic", "near-kink", "dead-unit", "saturated")

_X, _ = xor_data()
# A layer's bias as a caller may write it, from the layer's width n.
_BIAS_STYLES = {
    "column": lambda n: (n, 1),
    "flat": lambda n: (n,),
    "row": lambda n: (1, n),
    "scalar": lambda n: () if n == 1 else (n,),
    "none": lambda n: None,
}


# --- networks --------------------------------------------------------------------------------


@st.composite
def _networks(draw: st.DrawFn, hidden_layers: tuple[int, int], max_width: int) -> nw.Network:
    depth = draw(st.integers(*hidden_layers)) + 1
    output = draw(st.sampled_from(nw.OUTPUTS))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    if output == "softmax":
        widths[-1] = draw(st.integers(2, max(2, max_width)))
    loss = draw(st.sampled_from([k for k, v in nw.LOSS_CATALOGUE.items() if output in v.outputs]))
    weight = draw(st.sampled_from("Ww"))
    names, bias_shapes = [], []
    for i, n in enumerate(widths[1:], 1):
        shape = _BIAS_STYLES[draw(st.sampled_from(sorted(_BIAS_STYLES)))](n)
        names.append((f"{weight}{i}", None if shape is None else f"b{i}"))
        bias_shapes.append(shape)
    layout = draw(st.sampled_from(nw.LAYOUTS))
    hidden = draw(st.sampled_from(nw.HIDDEN))
    return nw.Network(tuple(widths), hidden, output, loss, layout, tuple(names), tuple(bias_shapes))


def networks(
    *, min_hidden_layers: int = 1, max_hidden_layers: int = 3, max_width: int = 12
) -> st.SearchStrategy[nw.Network]:
    """Network descriptions: ``min_hidden_layers`` to ``max_hidden_layers`` hidden layers
    (0 allows a single layer), widths 1 to ``max_width`` (a softmax output 2 or more), every
    hidden activation, output, loss that goes with it, layout and bias style."""
    if not 0 <= min_hidden_layers <= max_hidden_layers:
        raise ValueError(
            f"hidden layers {min_hidden_layers} to {max_hidden_layers}: expected 0 <= min <= max."
        )
    if max_width < 1:
        raise ValueError(f"max_width={max_width}: expected 1 or more.")
    return _networks((min_hidden_layers, max_hidden_layers), max_width)


# --- data --------------------------------------------------------------------------------------


@st.composite
def _datasets(
    draw: st.DrawFn, net: nw.Network, min_samples: int, max_samples: int, soft: bool
) -> tuple[np.ndarray, np.ndarray]:
    m = draw(st.integers(min_samples, max_samples))
    n_in, n_out, cols = net.widths[0], net.n_out, net.layout == "columns"
    coords = draw(st.lists(st.floats(-1.0, 2.0, allow_nan=False), min_size=n_in * m, max_size=n_in * m))
    X = np.asarray(coords).reshape((n_in, m) if cols else (m, n_in))
    if net.output == "softmax":
        classes = np.asarray(draw(st.lists(st.integers(0, n_out - 1), min_size=m, max_size=m)), dtype=float)
        if not (soft or draw(st.booleans())):
            return X, classes
        if soft:  # a distribution over the classes per sample
            weights = draw(st.lists(st.floats(0.0, 1.0), min_size=n_out * m, max_size=n_out * m))
            table = np.asarray(weights).reshape(n_out, m) + 1e-3
            labels = table / table.sum(axis=0)
        else:  # one-hot
            labels = (np.arange(n_out)[:, None] == classes).astype(float)
        return X, labels if cols else labels.T
    if net.output == "identity":
        values = st.floats(-2.0, 2.0, allow_nan=False)
    else:
        values = st.floats(0.0, 1.0) if soft else st.sampled_from([0.0, 1.0])
    labels = np.asarray(draw(st.lists(values, min_size=n_out * m, max_size=n_out * m)))
    if n_out == 1:
        return X, labels
    return X, labels.reshape(n_out, m) if cols else labels.reshape(m, n_out)


def datasets(
    min_samples: int = 1,
    max_samples: int = 8,
    *,
    network: nw.Network | None = None,
    soft_labels: bool = False,
) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """``(X, Y)``: inputs in [-1, 2] in the network's layout ((2, m) for XOR), and labels of
    its output's kind: 0/1 for a sigmoid ((m,) for one output), reals in [-2, 2] for an
    identity, classes (m,) or one-hot for a softmax. ``soft_labels``: probabilities for a
    sigmoid, a distribution per sample for a softmax."""
    if not 1 <= min_samples <= max_samples:
        raise ValueError(f"samples {min_samples} to {max_samples}: expected 1 <= min <= max.")
    return _datasets(nw.XOR if network is None else network, min_samples, max_samples, soft_labels)


# --- parameters --------------------------------------------------------------------------------


def _columns(net: nw.Network, a: np.ndarray) -> np.ndarray:
    """A layout's array (weight, input or activation) in the columns orientation, as a view."""
    return a if net.layout == "columns" else a.swapaxes(-1, -2)


def _set_unit(net: nw.Network, params: dict[str, np.ndarray], layer: int, unit: int, value: Any) -> bool:
    """Set unit ``unit``'s bias in ``layer`` (0-based); False if the layer has none."""
    key = net.names[layer][1]
    if key is None:
        return False
    params[key].reshape(-1)[unit] = value  # a fresh C-ordered array: reshape is a view
    return True


@st.composite
def _parameters(draw: st.DrawFn, net: nw.Network, regime: str, X: np.ndarray) -> dict[str, np.ndarray]:
    values = np.asarray(
        draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=net.n_params, max_size=net.n_params)),
        dtype=np.float64,
    )
    params = {key: np.array(value) for key, value in nw.unflatten(net, values).items()}
    for (w, _), fan_in in zip(net.names, net.widths[:-1], strict=True):
        params[w] *= math.sqrt(2.0 / fan_in)  # 1.0 for XOR, whose weights keep their drawn bits
    if net.depth < 2:
        return _saturate(draw, net, params, X) if regime == "saturated" else params
    # The hidden layer to shape: one with a bias to move if there is one.
    layers = [i for i in range(net.depth - 1) if net.biases[i]] or list(range(net.depth - 1))
    layer = layers[draw(st.integers(0, len(layers) - 1))] if len(layers) > 1 else layers[0]
    unit = draw(st.integers(0, net.widths[layer + 1] - 1))
    if regime in ("near-kink", "dead-unit"):
        cache = nw.forward(net, params, X)
        A = _columns(net, X if layer == 0 else cache[f"A{layer}"])  # the layer's inputs
        W = _columns(net, params[net.names[layer][0]])  # a view: writes reach the parameter
        if regime == "near-kink":
            sample = draw(st.integers(0, A.shape[1] - 1))
            offset = draw(st.floats(1e-4, 1e-3)) * draw(st.sampled_from([-1.0, 1.0]))
            z = float(W[unit] @ A[:, sample])  # without the bias
            # Choose the bias so that the pre-activation lands exactly on the drawn offset
            # from the kink; without a bias, move the weight of the sample's largest input.
            if not _set_unit(net, params, layer, unit, offset - z):
                k = int(np.argmax(np.abs(A[:, sample])))
                # A tiny input would need a weight beyond any finite difference's reach.
                assume(abs(A[k, sample]) > 1e-3)
                W[unit, k] += (offset - z) / A[k, sample]
        else:
            margin = draw(st.floats(0.05, 1.0))
            if not _set_unit(net, params, layer, unit, -margin - float(np.max(W[unit] @ A))):
                # Without a bias: weights of the sign that makes every sample's sum negative,
                # which exists for inputs that are non-negative and not all zero.
                assume(np.all(A >= 0.0) and np.all(A.max(axis=0) > 0.0))
                W[unit] = -(np.abs(W[unit]) + margin)
    elif regime == "saturated":
        params = _saturate(draw, net, params, X)
    return params


def _saturate(draw: st.DrawFn, net: nw.Network, params: dict[str, np.ndarray], X: np.ndarray) -> dict:
    # Rescale the output layer so the largest |logit| is the drawn target, keeping signs.
    target = draw(st.floats(25.0, 35.0))
    Z = nw.forward(net, params, X)[f"Z{net.depth}"]
    peak = float(np.max(np.abs(Z)))
    w, b = net.names[-1]
    if peak < 1e-3:
        assume(b is not None)
        sign = draw(st.sampled_from([-1.0, 1.0]))
        params[b] = np.zeros_like(params[b])
        params[b].reshape(-1)[0] = target * sign
    else:
        params[w] = params[w] * (target / peak)
        if b is not None:
            params[b] = params[b] * (target / peak)
    return params


def parameters(
    regime: Regime = "generic", X: Any = None, *, network: nw.Network | None = None
) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Parameter dicts of ``network`` (default: XOR, ``{"W1", "b1", "W2", "b2"}`` in the
    notebook's shapes), float64, in the ``regime`` named (see the module).

    ``X`` is the data the regime is built against, in the network's layout (default for
    XOR: its inputs; required for another network).
    """
    if regime not in REGIMES:
        raise ValueError(f"Unknown regime {regime!r}: expected one of {', '.join(REGIMES)}.")
    net = nw.XOR if network is None else network
    if X is None and net != nw.XOR:
        raise ValueError(f"X is missing: the {net}'s parameters are drawn against its inputs.")
    if regime in ("near-kink", "dead-unit") and net.depth < 2:
        raise ValueError(f"regime {regime!r} needs a hidden layer; the {net} has none.")
    return _parameters(net, regime, _X if X is None else nw.as_inputs(net, X))
