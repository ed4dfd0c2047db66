"""The corrected 2-2-1 model that learners compare the notebook with.

Same shapes and names as the notebook: parameters are the dict ``{"W1", "b1", "W2", "b2"}``
with ``W1`` (2, 2), ``b1`` (2, 1), ``W2`` (1, 2), ``b2`` (1, 1); samples run along axis 1 of
``X`` (2, m). What changes:

* the loss is the mean binary cross-entropy over the m samples, computed from the logit
  ``Z2`` (``softplus(Z2) - Y * Z2``), so it stays finite for any finite logit;
* :func:`gradients` is the exact gradient of that loss (``dZ2 = (A2 - Y) / m``);
* labels may be given as (m,) or (1, m); they are normalised once, at the boundary;
* everything is float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "as_inputs",
    "as_labels",
    "forward",
    "gradients",
    "history_every",
    "init_params",
    "loss",
    "loss_and_gradients",
    "predict",
    "sigmoid",
    "train",
    "xor_data",
]

Params = dict[str, np.ndarray]
Activation = Literal["relu", "leaky_relu", "sigmoid"]

PARAM_SHAPES: dict[str, tuple[int, int]] = {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}
LEAKY_SLOPE = 0.01
# The most losses :func:`train` keeps: the notebook's whole run of 200,000 steps, 1.6 MB.
MAX_HISTORY = 200_000


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function that never overflows: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_grad(z: np.ndarray) -> np.ndarray:
    # relu'(0) = 0, the convention of torch.nn.functional.relu and jax.nn.relu.
    return (z > 0).astype(np.float64)


def _leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _leaky_relu_grad(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, LEAKY_SLOPE)


def _sigmoid_grad(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1.0 - s)


# name -> (activation, its derivative); the derivative takes the pre-activation Z1.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "relu": (_relu, _relu_grad),
    "leaky_relu": (_leaky_relu, _leaky_relu_grad),
    "sigmoid": (sigmoid, _sigmoid_grad),
}


def _activation(name: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}: expected one of {', '.join(ACTIVATIONS)}.") from None


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The notebook's XOR data as float64: ``X`` (2, 4) and labels ``Y`` (1, 4)."""
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    return X, Y


def as_inputs(X: np.ndarray) -> np.ndarray:
    """Return ``X`` as a float64 (2, m) array, or raise ``ValueError`` naming the shape."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] < 1:
        raise ValueError(f"Shape mismatch for X: got {X.shape}, expected (2, m) with m >= 1.")
    return X


def as_labels(Y: np.ndarray, m: int) -> np.ndarray:
    """Return labels given as (m,) or (1, m) as a float64 (1, m) array.

    This is the one place where the label layout is decided, so a (1, m) array can never be
    mistaken for m = 1 further down (the notebook's ``compute_loss`` defect).
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape not in ((m,), (1, m)):
        raise ValueError(f"Shape mismatch for Y: got {Y.shape}, expected ({m},) or (1, {m}).")
    return Y.reshape(1, m)


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
    act, _ = _activation(activation)
    X = as_inputs(X)
    Z1 = params["W1"] @ X + params["b1"]
    A1 = act(Z1)
    Z2 = params["W2"] @ A1 + params["b2"]
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": sigmoid(Z2)}


def predict(params: Params, X: np.ndarray, activation: Activation = "relu") -> np.ndarray:
    """The output probabilities ``A2``, shape (1, m)."""
    return forward(params, X, activation)["A2"]


def _bce_from_logits(Z2: np.ndarray, Y: np.ndarray) -> float:
    # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z; logaddexp never overflows.
    return float(np.mean(np.logaddexp(0.0, Z2) - Y * Z2))


def loss(params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu") -> float:
    """Mean binary cross-entropy over the m samples, computed from the logit ``Z2``."""
    cache = forward(params, X, activation)
    return _bce_from_logits(cache["Z2"], as_labels(Y, cache["Z2"].shape[1]))


def loss_and_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu"
) -> tuple[float, dict[str, np.ndarray]]:
    """:func:`loss` and :func:`gradients` from one forward pass."""
    _, act_grad = _activation(activation)
    X = as_inputs(X)
    cache = forward(params, X, activation)
    m = X.shape[1]
    Y = as_labels(Y, m)
    dZ2 = (cache["A2"] - Y) / m  # d(mean BCE)/dZ2: the sigmoid's derivative cancels
    dZ1 = (params["W2"].T @ dZ2) * act_grad(cache["Z1"])
    grads = {
        "dW1": dZ1 @ X.T,
        "db1": dZ1.sum(axis=1, keepdims=True),
        "dW2": dZ2 @ cache["A1"].T,
        "db2": dZ2.sum(axis=1, keepdims=True),
    }
    return _bce_from_logits(cache["Z2"], Y), grads


def gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, activation: Activation = "relu"
) -> dict[str, np.ndarray]:
    """The exact gradient of :func:`loss`: ``{"dW1", "db1", "dW2", "db2"}``.

    At a ReLU kink (some ``Z1 == 0``) the loss has no derivative; the value returned there
    uses relu'(0) = 0, like ``torch.nn.functional.relu`` and ``jax.nn.relu``.
    """
    return loss_and_gradients(params, X, Y, activation)[1]


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
    X = as_inputs(X)
    Y = as_labels(Y, X.shape[1])
    params = {name: np.array(params[name], dtype=np.float64) for name in PARAM_SHAPES}
    if diagnostics and activation == "relu":
        # Imported here: diagnostics imports this module.
        from gradcheck_xor.diagnostics import diagnose, warn_findings

        warn_findings(diagnose(params, X, Y, notebook_loss=False), stacklevel=2)
    every = history_every(steps)
    losses = np.empty(-(-steps // every), dtype=np.float64)
    for i in range(steps):
        value, grads = loss_and_gradients(params, X, Y, activation)
        if i % every == 0:
            losses[i // every] = value
        for name in PARAM_SHAPES:
            params[name] -= learning_rate * grads["d" + name]
        if on_step is not None:
            on_step(i, value)
    return params, losses
