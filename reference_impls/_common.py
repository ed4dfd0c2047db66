"""What the PyTorch and JAX references share: how a call's network is settled (its
description, the update rule), the NumPy arrays they accept and return, the names of their
options, and the error raised when a framework is not installed.

This module imports NumPy and :mod:`gradcheck_xor.network` only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from gradcheck_xor import network
from gradcheck_xor.network import Network

__all__ = [
    "DTYPES",
    "RELUS",
    "RULES",
    "MissingFrameworkError",
    "Relu",
    "Rule",
    "check_dtype",
    "check_relu",
    "check_rule",
    "missing_framework",
    "networks",
    "parameters",
]

# The gradient a training step follows, besides the network's own loss (None):
# "bce": the exact gradient of the mean binary cross-entropy (the corrected model);
# "notebook": the gradient of 1/2 * mean((sigmoid(Z) - Y)^2), the "half-mse" loss, which is
# what the notebook's backward pass (dZ2 = (A2 - Y) * A2 * (1 - A2), divided by m) computes.
Rule = Literal["bce", "notebook"]
RULES: tuple[Rule, ...] = ("bce", "notebook")
_RULE_LOSSES = {"bce": "bce", "notebook": "half-mse"}

# "relu": F.relu / jax.nn.relu, whose derivative at 0 is 0 (as in the NumPy code).
# "maximum": torch.maximum(z, 0) / jnp.maximum(z, 0), whose derivative at a tie is 1/2.
# Either applies to a relu hidden layer only.
Relu = Literal["relu", "maximum"]
RELUS: tuple[Relu, ...] = ("relu", "maximum")

DTYPES: tuple[str, ...] = ("float64", "float32")

_EXTRAS = {"torch": ("PyTorch", "torch"), "jax": ("JAX", "jax")}


class MissingFrameworkError(ImportError):
    """A reference implementation was used without its framework installed."""


def missing_framework(framework: str) -> MissingFrameworkError:
    """The one-line error for a missing framework, naming the extra that installs it."""
    label, extra = _EXTRAS[framework]
    return MissingFrameworkError(f"{label} is not installed: pip install 'gradcheck-xor[{extra}]'")


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"Unknown {option} {value!r}: expected one of {', '.join(choices)}.")
    return value


def check_rule(rule: str | None) -> str | None:
    return None if rule is None else _check_choice("rule", rule, RULES)


def check_relu(relu: str) -> str:
    return _check_choice("relu", relu, RELUS)


def check_dtype(dtype: str) -> str:
    return _check_choice("dtype", dtype, DTYPES)


def networks(params: Any, X: Any, net: Network | None, rule: str | None = None) -> tuple[Network, Network]:
    """``(network, followed)``: the network of a call (``net``, else the one ``params`` and
    ``X`` describe, see :func:`gradcheck_xor.network.describe`) and the one whose loss's
    gradient ``rule`` follows (the network itself for None). Raises ``ValueError``."""
    if net is None:
        net = network.describe(params, X)
    if check_rule(rule) is None or net.loss == _RULE_LOSSES[rule]:
        return net, net
    return net, dataclasses.replace(net, loss=_RULE_LOSSES[rule])


def parameters(net: Network, params: Any) -> dict[str, np.ndarray]:
    """``params`` as float64 arrays keyed and shaped as ``net`` describes them (extra keys
    such as X and Y are left out), or a ``ValueError`` naming the key and the shape expected."""
    return network.unflatten(net, network.flatten(net, params))
