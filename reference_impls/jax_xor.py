"""The XOR 2-2-1 network in JAX, written the way a JAX user would write it.

Pure functions over a pytree of parameters (the notebook's dict ``{"W1", "b1", "W2",
"b2"}``, samples along axis 1 of ``X``), ``jax.value_and_grad`` for the gradient,
``jax.jit`` around it, and training as one ``lax.scan``. The public functions take and
return NumPy arrays, like :mod:`gradcheck_xor.model`.

Float64 without touching the caller's configuration: JAX computes in float32 unless
``jax_enable_x64`` is on, and turning it on globally would change every other JAX
computation in the process. Each public function here runs inside :func:`float64`, a
context manager that switches x64 on for the current thread and restores the previous
setting on exit (``jax.enable_x64(True)`` on recent JAX, ``jax.experimental.enable_x64()``
on older releases). ``jax_enable_x64`` is part of ``jit``'s cache key, so the compiled
float64 functions never leak into float32 code. Arrays from :func:`to_pytree` are float64;
compute on them inside ``with float64():`` too, or JAX truncates them to float32.

Update rules (``rule``) and ReLUs (``relu``) are those of :mod:`reference_impls.torch_xor`:
``"bce"`` / ``"notebook"`` (the gradient of ``1/2 * mean((sigmoid(Z2) - Y)^2)``, which the
notebook's backward computes exactly), and ``"relu"`` (``jax.nn.relu``, gradient 0 at 0) /
``"maximum"`` (``jnp.maximum(z, 0)``, gradient 1/2 at a tie).

One platform difference: XLA on CPU flushes subnormal numbers (0 < |x| < 2.2e-308) to zero
in arithmetic, where NumPy and PyTorch keep them. A parameter or pre-activation that small
is 0 to JAX, which can put a hidden unit on the ReLU kink that NumPy sees as active.

Importing this module imports jax; a missing jax raises a one-line
:class:`~reference_impls.MissingFrameworkError` naming the extra to install.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import numpy as np

from gradcheck_xor.model import as_inputs
from reference_impls._common import (
    Relu,
    Rule,
    check_dtype,
    check_params,
    check_relu,
    check_rule,
    inputs_and_labels,
    missing_framework,
)

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:
    raise missing_framework("jax") from exc

__all__ = ["float64", "forward", "from_pytree", "gradients", "loss", "to_pytree", "train"]

Params = dict[str, np.ndarray]
FRAMEWORK_VERSION: str = jax.__version__
Tree = dict[str, Any]


def float64() -> contextlib.AbstractContextManager:
    """A context in which JAX computes in float64; the previous setting returns on exit."""
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is not None:
        return enable_x64(True)
    from jax.experimental import enable_x64 as experimental_enable_x64  # JAX before 0.8

    return experimental_enable_x64()


def to_pytree(params: Params, dtype: str = "float64") -> Tree:
    """The notebook's dict as a pytree of JAX arrays of ``dtype``."""
    params = check_params(params)
    with float64():
        return {name: jnp.asarray(value, dtype=check_dtype(dtype)) for name, value in params.items()}


def from_pytree(tree: Tree) -> Params:
    """A pytree from :func:`to_pytree` (or :func:`train`) as the notebook's dict of arrays."""
    return {name: np.asarray(tree[name]) for name in ("W1", "b1", "W2", "b2")}


def _activation(relu: Relu) -> Any:
    if check_relu(relu) == "relu":
        return jax.nn.relu
    return lambda z: jnp.maximum(z, 0.0)


def _layers(tree: Tree, X: jax.Array, relu: Relu) -> tuple[jax.Array, jax.Array, jax.Array]:
    Z1 = tree["W1"] @ X + tree["b1"]
    A1 = _activation(relu)(Z1)
    Z2 = tree["W2"] @ A1 + tree["b2"]
    return Z1, A1, Z2


def _bce(Z2: jax.Array, Y: jax.Array) -> jax.Array:
    # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, finite for any finite z.
    return jnp.mean(jax.nn.softplus(Z2) - Y * Z2)


def _objective(tree: Tree, X: jax.Array, Y: jax.Array, rule: Rule, relu: Relu) -> tuple[jax.Array, jax.Array]:
    """The loss ``rule`` differentiates, with the mean BCE as auxiliary output."""
    _, _, Z2 = _layers(tree, X, relu)
    bce = _bce(Z2, Y)
    if rule == "bce":
        return bce, bce
    return 0.5 * jnp.mean((jax.nn.sigmoid(Z2) - Y) ** 2), bce


_forward = jax.jit(_layers, static_argnames="relu")
_value_and_grad = jax.jit(jax.value_and_grad(_objective, has_aux=True), static_argnames=("rule", "relu"))


@functools.partial(jax.jit, static_argnames=("steps", "rule", "relu"))
def _train(
    tree: Tree, X: jax.Array, Y: jax.Array, lr: jax.Array, *, steps: int, rule: Rule, relu: Relu
) -> tuple[Tree, jax.Array]:
    def step(tree: Tree, _: None) -> tuple[Tree, jax.Array]:
        (_, bce), grads = jax.value_and_grad(_objective, has_aux=True)(tree, X, Y, rule, relu)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, tree, grads), bce

    return jax.lax.scan(step, tree, None, length=steps)


def _data(X: np.ndarray, Y: np.ndarray, dtype: str) -> tuple[jax.Array, jax.Array]:
    X, Y = inputs_and_labels(X, Y)
    return jnp.asarray(X, dtype=dtype), jnp.asarray(Y, dtype=dtype)


def forward(params: Params, X: np.ndarray, *, relu: Relu = "relu", dtype: str = "float64") -> Params:
    """``{"Z1", "A1", "Z2", "A2"}`` in the notebook's layout."""
    tree = to_pytree(params, dtype)
    with float64():
        Z1, A1, Z2 = _forward(tree, jnp.asarray(as_inputs(X), dtype=dtype), relu=check_relu(relu))
        A2 = jax.nn.sigmoid(Z2)
        return {"Z1": np.asarray(Z1), "A1": np.asarray(A1), "Z2": np.asarray(Z2), "A2": np.asarray(A2)}


def loss(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
) -> float:
    """The loss whose gradient ``rule`` takes: mean BCE for ``"bce"``, ``1/2 * mean((A2 - Y)^2)``
    for ``"notebook"``."""
    return _loss_and_gradients(params, X, Y, rule, relu, dtype)[0]


def gradients(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
) -> Params:
    """``jax.grad`` of :func:`loss`, as ``{"dW1", "db1", "dW2", "db2"}``."""
    return _loss_and_gradients(params, X, Y, rule, relu, dtype)[1]


def _loss_and_gradients(
    params: Params, X: np.ndarray, Y: np.ndarray, rule: Rule, relu: Relu, dtype: str
) -> tuple[float, Params]:
    tree = to_pytree(params, dtype)
    with float64():
        x, y = _data(X, Y, dtype)
        (objective, _), grads = _value_and_grad(tree, x, y, rule=check_rule(rule), relu=check_relu(relu))
        return float(objective), {"d" + name: np.asarray(grads[name]) for name in ("W1", "b1", "W2", "b2")}


def train(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    steps: int,
    lr: float,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent, jitted as one ``lax.scan``; returns ``(params, loss_history)``.

    ``loss_history[i]`` is the mean BCE before step ``i``'s update, whatever the rule (the
    loss the notebook prints). Compiled once per ``(steps, rule, relu, dtype)``.
    """
    tree = to_pytree(params, dtype)
    with float64():
        x, y = _data(X, Y, dtype)
        final, history = _train(
            tree,
            x,
            y,
            jnp.asarray(lr, dtype=dtype),
            steps=steps,
            rule=check_rule(rule),
            relu=check_relu(relu),
        )
        return from_pytree(final), np.asarray(history)
