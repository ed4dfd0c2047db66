"""What the PyTorch and JAX references share: the NumPy layout they accept and return, the
names of their options, and the error raised when a framework is not installed.

This module imports NumPy only.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gradcheck_xor.model import PARAM_SHAPES, as_inputs, as_labels

__all__ = [
    "DTYPES",
    "RELUS",
    "RULES",
    "MissingFrameworkError",
    "Relu",
    "Rule",
    "check_dtype",
    "check_params",
    "check_relu",
    "check_rule",
    "inputs_and_labels",
    "missing_framework",
]

# "bce": the exact gradient of the mean binary cross-entropy (the corrected model).
# "notebook": the gradient of 1/2 * mean((sigmoid(Z2) - Y)^2), which is what the notebook's
# backward pass (dZ2 = (A2 - Y) * A2 * (1 - A2), divided by m) computes exactly.
Rule = Literal["bce", "notebook"]
RULES: tuple[Rule, ...] = ("bce", "notebook")

# "relu": F.relu / jax.nn.relu, whose derivative at 0 is 0 (as in the NumPy code).
# "maximum": torch.maximum(z, 0) / jnp.maximum(z, 0), whose derivative at a tie is 1/2.
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


def check_rule(rule: str) -> str:
    return _check_choice("rule", rule, RULES)


def check_relu(relu: str) -> str:
    return _check_choice("relu", relu, RELUS)


def check_dtype(dtype: str) -> str:
    return _check_choice("dtype", dtype, DTYPES)


def check_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The four parameters as float64 arrays in the notebook's shapes, or a ``ValueError``
    naming the key and the shape expected."""
    checked = {}
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise ValueError(f"Missing parameter {name!r}: expected an array of shape {shape}.")
        value = np.asarray(params[name], dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"Shape mismatch for {name}: got {value.shape}, expected {shape}.")
        checked[name] = value
    return checked


def inputs_and_labels(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 (2, m) and labels as float64 (1, m), as the NumPy model takes them."""
    X = as_inputs(X)
    return X, as_labels(Y, X.shape[1])
