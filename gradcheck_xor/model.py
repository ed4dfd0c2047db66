"""The corrected 2-2-1 model that learners compare the notebook with.

Same shapes and names as the notebook: parameters are the dict ``{"W1", "b1", "W2", "b2"}``
with ``W1`` (2, 2), ``b1`` (2, 1), ``W2`` (1, 2), ``b2`` (1, 1); samples run along axis 1 of
``X`` (2, m). The model is :data:`gradcheck_xor.network.XOR`, whose forward pass, loss and
gradient are written once in :mod:`gradcheck_xor.network`; this module names them as the
notebook does and adds its initialiser, its data and a training loop. What changes from the
notebook:

* the loss is the mean binary cross-entropy over the m samples, computed from the logit
  ``Z2``, so it stays finite for any finite logit and keeps its digits where the sigmoid
  saturates;
* :func:`gradients` is the exact gradient of that loss (``dZ2 = (A2 - Y) / m``);
* labels may be given as (m,) or (1, m);
* everything is float64.

``activation`` ("relu", "leaky_relu" or "sigmoid") is the hidden layer's activation: the
XOR network with that hidden activation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from gradcheck_xor import network as nw
from gradcheck_xor._losses import HIDDEN_FUNCTIONS
from gradcheck_xor.network import LEAKY_SLOPE, sigmoid

__all__ = [
    "ACTIVATIONS",
    "LEAKY_SLOPE",
    "PARAM_SHAPES",
    "Activation",
    "as_inputs",
    "as_labels",
    "forward",
    "gradients",
    "history_every",
    "init_params",
    "loss",
    "loss_and_gradients",
    "network_for",
    "predict",
    "sigmoid",
    "train",
    "xor_data",
]

Params = dict[str, np.ndarray]
Activation = Literal["relu", "leaky_relu", "sigmoid"]

PARAM_SHAPES: Mapping[str, tuple[int, ...]] = nw.XOR.param_shapes
# The most losses :func:`train` keeps: the notebook's whole run of 200,000 steps, 1.6 MB.
MAX_HISTORY = 200_000

_NETWORKS: Mapping[str, nw.Network] = MappingProxyType(
    {name: dataclasses.replace(nw.XOR, hidden=name) for name in ("relu", "leaky_relu", "sigmoid")}
)


def _slope(name: str) -> Callable[[np.ndarray], np.ndarray]:
    act, back = HIDDEN_FUNCTIONS[name]
    return lambda z: back(np.ones_like(z), z, act(z))


# name -> (activation, its derivative at the pre-activation Z1), the network's own functions.
ACTIVATIONS: Mapping[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = (
    MappingProxyType({name: (HIDDEN_FUNCTIONS[name][0], _slope(name)) for name in _NETWORKS})
)


def network_for(activation: str = "relu") -> nw.Network:
    """The XOR network with ``activation`` in its hidden layer."""
    try:
        return _NETWORKS[activation]
    except KeyError:
        raise ValueError(
            f"Unknown activation {activation!r}: expected one of {', '.join(_NETWORKS)}."
        ) from None


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The notebook's XOR data as float64: ``X`` (2, 4) and labels ``Y`` (1, 4)."""
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    return X, Y


def as_inputs(X: Any) -> np.ndarray:
    """Return ``X`` as a float64 (2, m) array, or raise ``ValueError`` naming the shape."""
    return nw.as_inputs(nw.XOR, X)


def as_labels(Y: Any, m: int) -> np.ndarray:
    """Return labels given as (m,) or (1, m) as a float64 (1, m) array, or raise
    ``ValueError`` naming the shape.

    One decision of the label layout, so a (1, m) array can never be mistaken for m = 1
    further down (the notebook's ``compute_loss`` defect): the network's, for which inputs
    only say how many samples there are.
    """
    return nw.as_data(nw.XOR, np.broadcast_to(0.0, (2, m)), Y)[1]


def init_params(seed: int | None = None, *, scale: float = 1.0, bias: float = 0.0) -> Params:
    """Draw parameters in the notebook's order: ``W1 = randn(2, 2)``, then ``W2 = randn(1, 2)``.

    With the defaults, ``init_params(s)`` equals ``np.random.seed(s)`` followed by the
    notebook's ``initialize_parameters()``, bit for bit, without touching NumPy's global
    random state. ``scale`` multiplies the weights; ``bias`` fills both biases (the
    notebook's zero ``b1`` puts the (0, 0) sample on the ReLU kink).
    """
    rng = np.random.RandomState(seed)
    W1 = rng.randn(2, 2)
    W2 = rng.randn(1, 2)
    if scale != 1.0:
        W1, W2 = scale * W1, scale * W2
    return {
        "W1": W1,
        "b1": np.full((2, 1), float(bias)),
        "W2": W2,
        "b2": np.full((1, 1), float(bias)),
    }


def forward(params: Params, X: np.ndarray, activation: Activation = "relu") -> dict[str, np.ndarray]:
    """Run the network on ``X`` (2, m) and return ``{"Z1", "A1", "Z2", "A2"}``."""
    return nw.forward(network_for(activation), params, X)


def predict(params: Params, X: np.ndarray, activation: Activation = "relu") -> np.ndarray:
    """The output probabilities ``A2``, shape (1, m)."""
    return forward(params, X, activation)["A2"]


def loss(params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu") -> float:
    """Mean binary cross-entropy over the m samples, computed from the logit ``Z2``."""
    return nw.loss(network_for(activation), params, X, Y)


def loss_and_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu"
) -> tuple[float, dict[str, np.ndarray]]:
    """:func:`loss` and :func:`gradients` from one forward pass."""
    return nw.loss_and_gradients(network_for(activation), params, X, Y)


def gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu"
) -> dict[str, np.ndarray]:
    """The exact gradient of :func:`loss`: ``{"dW1", "db1", "dW2", "db2"}``.

    At a ReLU kink (some ``Z1 == 0``) the loss has no derivative; the value returned there
    uses relu'(0) = 0, like ``torch.nn.functional.relu`` and ``jax.nn.relu``.
    """
    return nw.gradients(network_for(activation), params, X, Y)


def history_every(steps: int) -> int:
    """k such that :func:`train` keeps the loss before every k-th of ``steps`` steps: 1 up to
    :data:`MAX_HISTORY` steps, then ``ceil(steps / MAX_HISTORY)``, so that a long run keeps
    at most MAX_HISTORY losses."""
    return max(1, -(-steps // MAX_HISTORY))


def train(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    steps: int = 200_000,
    learning_rate: float = 0.01,
    activation: Activation = "relu",
    on_step: Callable[[int, float], None] | None = None,
    diagnostics: bool = True,
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent on :func:`loss`; returns ``(params, loss_history)``.

    ``loss_history[j]`` is the loss before step ``j * k``'s update, as in the notebook, with
    k = :func:`history_every` ``(steps)``: every step's loss up to :data:`MAX_HISTORY` steps,
    every k-th beyond, so memory stays bounded for any ``steps``. The caller's dict is not
    modified. ``on_step(i, loss)`` is called after every step.

    Before the first step (ReLU networks), the starting parameters are diagnosed and each
    warning- or error-level finding (a dead unit, identical units, ...) is emitted as a
    ``gradcheck_xor.diagnostics.DiagnosticWarning``; ``diagnostics=False`` turns that off.
    """
    net = network_for(activation)
    X, Y = nw.as_data(net, X, Y)  # checked once, not at every step
    params = {name: np.array(params[name], dtype=np.float64) for name in PARAM_SHAPES}
    if diagnostics and activation == "relu":
        # Imported here: diagnostics imports this module.
        from gradcheck_xor.diagnostics import diagnose, warn_findings

        warn_findings(diagnose(params, X, Y, notebook_loss=False), stacklevel=2)
    every = history_every(steps)
    losses = np.empty(-(-steps // every), dtype=np.float64)
    for i in range(steps):
        value, grads = nw.loss_and_gradients(net, params, X, Y)
        if i % every == 0:
            losses[i // every] = value
        for name in PARAM_SHAPES:
            params[name] -= learning_rate * grads["d" + name]
        if on_step is not None:
            on_step(i, value)
    return params, losses
