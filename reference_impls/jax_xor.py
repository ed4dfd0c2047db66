"""Any small fully connected network in JAX, written the way a JAX user would write it.

Pure functions over a pytree of parameters (the caller's dict ``{"W1", "b1", ..., "WL",
"bL"}``, in the caller's layout and shapes), ``jax.value_and_grad`` for the gradient,
``jax.jit`` around it, and training as one ``lax.scan``. The public functions take and
return NumPy arrays, like :mod:`gradcheck_xor.network`; ``net`` is the
:class:`~gradcheck_xor.network.Network` they compute (by default the one the parameters and
``X`` describe), and each jitted function is compiled once per network and shape.

Float64 without touching the caller's configuration: JAX computes in float32 unless
``jax_enable_x64`` is on, and turning it on globally would change every other JAX
computation in the process. Each public function here runs inside :func:`float64`, a
context manager that switches x64 on for the current thread and restores the previous
setting on exit (``jax.enable_x64(True)`` on recent JAX, ``jax.experimental.enable_x64()``
on older releases). ``jax_enable_x64`` is part of ``jit``'s cache key, so the compiled
float64 functions never leak into float32 code. Arrays from :func:`to_pytree` are float64;
compute on them inside ``with float64():`` too, or JAX truncates them to float32.

Update rules (``rule``) and ReLUs (``relu``) are those of :mod:`reference_impls.torch_xor`:
None (the network's own loss), ``"bce"`` / ``"notebook"`` (the gradient of
``1/2 * mean((sigmoid(Z) - Y)^2)``, which the notebook's backward computes exactly), and
``"relu"`` (``jax.nn.relu``, gradient 0 at 0) / ``"maximum"`` (``jnp.maximum(z, 0)``,
gradient 1/2 at a tie). The leaky ReLU is written ``jnp.where(z > 0, z, slope * z)``:
``jax.nn.leaky_relu`` tests ``z >= 0`` and so takes the slope 1 at 0, where NumPy and torch
take the leak.

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

from gradcheck_xor.network import LEAKY_SLOPE, Network, as_data, as_inputs
from reference_impls._common import (
    Relu,
    Rule,
    check_dtype,
    check_relu,
    missing_framework,
    networks,
    parameters,
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


def to_pytree(params: Params, dtype: str = "float64", *, net: Network | None = None) -> Tree:
    """The parameters as a pytree of JAX arrays of ``dtype``, keyed and shaped as given."""
    net = networks(params, None, net)[0]
    with float64():
        return {
            name: jnp.asarray(value, dtype=check_dtype(dtype))
            for name, value in parameters(net, params).items()
        }


def from_pytree(tree: Tree) -> Params:
    """A pytree from :func:`to_pytree` (or :func:`train`) as a dict of NumPy arrays."""
    return {name: np.asarray(value) for name, value in tree.items()}


def _activation(hidden: str, relu: Relu) -> Any:
    if hidden == "relu":
        return jax.nn.relu if relu == "relu" else lambda z: jnp.maximum(z, 0.0)
    return {
        "leaky_relu": lambda z: jnp.where(z > 0, z, LEAKY_SLOPE * z),
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "identity": lambda z: z,
    }[hidden]


def _class_axis(net: Network) -> int:
    return 0 if net.layout == "columns" else 1


def _pre_activations(tree: Tree, X: jax.Array, net: Network, relu: Relu) -> list[jax.Array]:
    """Z1, ..., ZL in the network's layout: W @ A + b in columns, A @ W + b in rows."""
    act, cols = _activation(net.hidden, relu), net.layout == "columns"
    zs: list[jax.Array] = []
    for w, b in net.names:
        a = act(zs[-1]) if zs else X
        z = tree[w] @ a if cols else a @ tree[w]
        zs.append(z if b is None else z + tree[b].reshape((-1, 1) if cols else (1, -1)))
    return zs


def _output(net: Network, z: jax.Array) -> jax.Array:
    if net.output == "sigmoid":
        return jax.nn.sigmoid(z)
    return jax.nn.softmax(z, axis=_class_axis(net)) if net.output == "softmax" else z


def _loss(net: Network, z: jax.Array, y: jax.Array) -> jax.Array:
    """``net``'s loss of the logits ``z`` and labels ``y`` (both in its layout)."""
    spec = net.spec
    if spec.kind == "bce":
        # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, finite for any finite z.
        terms = jax.nn.softplus(z) - y * z
    elif spec.kind == "cross-entropy":
        terms = -y * jax.nn.log_softmax(z, axis=_class_axis(net))
    else:
        terms = spec.factor * (_output(net, z) - y) ** 2
    n_out, m = z.shape if net.layout == "columns" else z.shape[::-1]
    return jnp.sum(terms) / spec.normaliser(n_out, m)


def _objective(
    tree: Tree, X: jax.Array, Y: jax.Array, net: Network, followed: Network, relu: Relu
) -> tuple[jax.Array, jax.Array]:
    """The loss whose gradient is followed, with the network's own loss as auxiliary output."""
    z = _pre_activations(tree, X, net, relu)[-1]
    reported = _loss(net, z, Y)
    return (reported if followed == net else _loss(followed, z, Y)), reported


def _forward(tree: Tree, X: jax.Array, net: Network, relu: Relu) -> Tree:
    zs = _pre_activations(tree, X, net, relu)
    act, cache = _activation(net.hidden, relu), {}
    for i, z in enumerate(zs, 1):
        cache[f"Z{i}"], cache[f"A{i}"] = z, act(z) if i < net.depth else _output(net, z)
    return cache


_jit_forward = jax.jit(_forward, static_argnames=("net", "relu"))
_value_and_grad = jax.jit(
    jax.value_and_grad(_objective, has_aux=True), static_argnames=("net", "followed", "relu")
)


@functools.partial(jax.jit, static_argnames=("steps", "net", "followed", "relu"))
def _train(
    tree: Tree,
    X: jax.Array,
    Y: jax.Array,
    lr: jax.Array,
    *,
    steps: int,
    net: Network,
    followed: Network,
    relu: Relu,
) -> tuple[Tree, jax.Array]:
    def step(tree: Tree, _: None) -> tuple[Tree, jax.Array]:
        (_, reported), grads = jax.value_and_grad(_objective, has_aux=True)(tree, X, Y, net, followed, relu)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, tree, grads), reported

    return jax.lax.scan(step, tree, None, length=steps)


def _prepared(
    params: Params, X: Any, Y: Any, net: Network | None, rule: str | None, dtype: str
) -> tuple[Network, Network, Tree, jax.Array, jax.Array]:
    """Inside :func:`float64`: the networks, the pytree and the data as JAX arrays."""
    net, followed = networks(params, X, net, rule)
    X, Y = as_data(net, X, Y)
    tree = to_pytree(params, dtype, net=net)
    return net, followed, tree, jnp.asarray(X, dtype=dtype), jnp.asarray(Y, dtype=dtype)


def forward(
    params: Params, X: Any, *, net: Network | None = None, relu: Relu = "relu", dtype: str = "float64"
) -> Params:
    """``{"Z1", "A1", ..., "ZL", "AL"}`` in the network's layout."""
    net = networks(params, X, net)[0]
    tree = to_pytree(params, dtype, net=net)
    with float64():
        x = jnp.asarray(as_inputs(net, X), dtype=dtype)
        cache = _jit_forward(tree, x, net=net, relu=check_relu(relu))
        return {key: np.asarray(cache[key]) for i in range(1, net.depth + 1) for key in (f"Z{i}", f"A{i}")}


def loss(
    params: Params,
    X: Any,
    Y: Any,
    *,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> float:
    """The loss whose gradient ``rule`` follows: the network's own for None, the mean BCE for
    ``"bce"``, ``1/2 * mean((AL - Y)^2)`` for ``"notebook"``."""
    return _loss_and_gradients(params, X, Y, net, rule, relu, dtype)[0]


def gradients(
    params: Params,
    X: Any,
    Y: Any,
    *,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> Params:
    """``jax.grad`` of :func:`loss`, keyed ``"d" + key`` and shaped as each parameter."""
    return _loss_and_gradients(params, X, Y, net, rule, relu, dtype)[1]


def _loss_and_gradients(
    params: Params, X: Any, Y: Any, net: Network | None, rule: str | None, relu: Relu, dtype: str
) -> tuple[float, Params]:
    with float64():
        net, followed, tree, x, y = _prepared(params, X, Y, net, rule, dtype)
        (objective, _), grads = _value_and_grad(tree, x, y, net=net, followed=followed, relu=check_relu(relu))
        return float(objective), {"d" + name: np.asarray(grads[name]) for name in net.keys}


def train(
    params: Params,
    X: Any,
    Y: Any,
    *,
    steps: int,
    lr: float,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent, jitted as one ``lax.scan``; returns ``(params, loss_history)``.

    ``loss_history[i]`` is the network's own loss before step ``i``'s update, whatever the
    rule (for the notebook's network, the mean BCE it prints). Compiled once per
    ``(steps, network, rule, relu, dtype)``.
    """
    with float64():
        net, followed, tree, x, y = _prepared(params, X, Y, net, rule, dtype)
        final, history = _train(
            tree,
            x,
            y,
            jnp.asarray(lr, dtype=dtype),
            steps=steps,
            net=net,
            followed=followed,
            relu=check_relu(relu),
        )
        return from_pytree(final), np.asarray(history)
