"""The elementwise mathematics of :mod:`gradcheck_xor.network`: hidden activations, output
layers and the loss catalogue, each with its derivative.

Arrays here are in the columns orientation with any leading batch axes: logits and labels
are (..., n_out, m), classes run along axis -2 and samples along axis -1.

The catalogue (A and Z are the output layer's activation and logit, Y the labels, one-hot
for a softmax, m the samples, n the outputs; A' the output's derivative):

===================  =======  ==========================================  ====================
loss                 outputs  formula                                     dZ
===================  =======  ==========================================  ====================
bce                  sigmoid  -sum(Y log A + (1 - Y) log(1 - A)) / (n m)  (A - Y) / (n m)
bce-sum              sigmoid  -sum(Y log A + (1 - Y) log(1 - A))          A - Y
cross-entropy        softmax  -sum(Y log A) / m                           (A - Y) / m
cross-entropy-sum    softmax  -sum(Y log A)                               A - Y
mse                  any      sum((A - Y)^2) / (n m)                      2 (A - Y) / (n m) A'
half-mse             any      sum((A - Y)^2) / (2 n m)                    (A - Y) / (n m) A'
sse                  any      sum((A - Y)^2)                              2 (A - Y) A'
half-sse             any      sum((A - Y)^2) / 2                          (A - Y) A'
bce-per-sample       sigmoid  -sum(Y log A + (1 - Y) log(1 - A)) / m      (A - Y) / m
sse-per-sample       any      sum((A - Y)^2) / m                          2 (A - Y) / m A'
half-sse-per-sample  any      sum((A - Y)^2) / (2 m)                      (A - Y) / m A'
===================  =======  ==========================================  ====================

"bce" and "mse" average over every output element, as ``torch.nn.BCELoss`` and ``MSELoss``
do; "cross-entropy" and the "-per-sample" losses average over the samples alone, as
``torch.nn.CrossEntropyLoss`` does. bce and cross-entropy are computed from the logit,
finite for any finite logit and without cancellation where the output saturates (at z = 40,
y = 1 bce is 4.25e-18, not 0). The squared losses and every dZ use 1 - A computed without
cancellation too, so A - Y keeps its digits where A rounds to 1. The squared error of an
identity output overflows only where the true value does (|Z - Y| beyond 1e154).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

import numpy as np

HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
OUTPUTS = ("sigmoid", "softmax", "identity")
LEAKY_SLOPE = 0.01
DEFAULT_LOSS: Mapping[str, str] = MappingProxyType(
    {"sigmoid": "bce", "softmax": "cross-entropy", "identity": "half-mse"}
)


@dataclasses.dataclass(frozen=True)
class Loss:
    """One loss of the output layer. ``formula`` and ``grad`` are templates in a learner's
    words, with ``{A}``, ``{Y}`` and ``{N}`` (the normaliser) to fill in; ``grad`` is dZ for
    bce and cross-entropy (with their own outputs) and dA for the squared losses."""

    name: str
    label: str
    outputs: tuple[str, ...]  # the outputs it goes with; the first is the one it implies
    per: Literal["element", "sample", "sum"]  # what the summed terms are averaged over
    kind: Literal["bce", "cross-entropy", "squared"]
    factor: float  # multiplies each term: 1/2 for the "half" losses
    formula: str
    grad: str

    def normaliser(self, n_out: int, m: int) -> int:
        """The number the summed terms are divided by."""
        return n_out * m if self.per == "element" else m if self.per == "sample" else 1


_ANY = ("sigmoid", "identity", "softmax")
_BCE = "-sum({Y} * log({A}) + (1 - {Y}) * log(1 - {A}))"
_SQ = "sum(({A} - {Y}) ** 2)"
LOSS_CATALOGUE: Mapping[str, Loss] = MappingProxyType(
    {
        loss.name: loss
        for loss in (
            Loss("bce", "mean binary cross-entropy", ("sigmoid",), "element", "bce", 1.0,
                 f"{_BCE} / {{N}}", "({A} - {Y}) / {N}"),
            Loss("bce-sum", "summed binary cross-entropy", ("sigmoid",), "sum", "bce", 1.0,
                 _BCE, "{A} - {Y}"),
            Loss("cross-entropy", "mean cross-entropy", ("softmax",), "sample", "cross-entropy", 1.0,
                 "-sum({Y} * log({A})) / {N}", "({A} - {Y}) / {N}"),
            Loss("cross-entropy-sum", "summed cross-entropy", ("softmax",), "sum", "cross-entropy", 1.0,
                 "-sum({Y} * log({A}))", "{A} - {Y}"),
            Loss("mse", "mean squared error", _ANY, "element", "squared", 1.0,
                 f"{_SQ} / {{N}}", "2 * ({A} - {Y}) / {N}"),
            Loss("half-mse", "half the mean squared error", _ANY, "element", "squared", 0.5,
                 f"{_SQ} / (2 * {{N}})", "({A} - {Y}) / {N}"),
            Loss("sse", "summed squared error", _ANY, "sum", "squared", 1.0,
                 _SQ, "2 * ({A} - {Y})"),
            Loss("half-sse", "half the summed squared error", _ANY, "sum", "squared", 0.5,
                 f"{_SQ} / 2", "{A} - {Y}"),
            # Summed over the outputs, averaged over the samples: the same as the element means
            # for one output, and how many books write a cost over a batch.
            Loss("bce-per-sample", "binary cross-entropy averaged over the samples", ("sigmoid",),
                 "sample", "bce", 1.0, f"{_BCE} / {{N}}", "({A} - {Y}) / {N}"),
            Loss("sse-per-sample", "summed squared error averaged over the samples", _ANY, "sample",
                 "squared", 1.0, f"{_SQ} / {{N}}", "2 * ({A} - {Y}) / {N}"),
            Loss("half-sse-per-sample", "half the summed squared error averaged over the samples", _ANY,
                 "sample", "squared", 0.5, f"{_SQ} / (2 * {{N}})", "({A} - {Y}) / {N}"),
        )
    }
)  # fmt: skip
LOSSES = tuple(LOSS_CATALOGUE)


# --- activations -----------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function that never overflows: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # sigmoid(z) and 1 - sigmoid(z) = sigmoid(-z), each to full relative precision.
    e = np.exp(-np.abs(z))
    pos = z >= 0
    d = 1.0 + e
    return np.where(pos, 1.0, e) / d, np.where(pos, e, 1.0) / d


def _softmax_parts(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over the classes: the largest logit, where it is, exp(Z - largest) and the sum of the
    other classes' exp. The largest terms are exactly 1, so ``rest`` is summed without them:
    log1p(rest) and 1 - A at the top keep their digits when the output saturates."""
    top_z = Z.max(axis=-2, keepdims=True)
    e = np.exp(Z - top_z)
    top = top_z == Z
    rest = np.sum(e, axis=-2, keepdims=True, where=~top) + (top.sum(axis=-2, keepdims=True) - 1)
    return top_z, top, e, rest


def _softmax_pair(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, top, e, rest = _softmax_parts(Z)
    A = e / (1.0 + rest)
    return A, np.where(top, rest / (1.0 + rest), 1.0 - A)


# name -> (activation, backward (dA, Z, A) -> dZ). relu'(0) = 0, as torch and JAX have it.
HIDDEN_FUNCTIONS: Mapping[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[..., np.ndarray]]] = (
    MappingProxyType(
        {
            "relu": (lambda z: np.maximum(z, 0.0), lambda da, z, a: da * (z > 0)),
            "leaky_relu": (
                lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
                lambda da, z, a: da * np.where(z > 0, 1.0, LEAKY_SLOPE),
            ),
            "tanh": (np.tanh, lambda da, z, a: da * (1.0 - a * a)),
            "sigmoid": (sigmoid, lambda da, z, a: da * (a * (1.0 - a))),
            "identity": (lambda z: z, lambda da, z, a: da),
        }
    )
)
# name -> the output A from the logits, and (A, 1 - A) for the loss and its gradient.
OUTPUT_FUNCTIONS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = MappingProxyType(
    {"sigmoid": sigmoid, "softmax": lambda z: _softmax_pair(z)[0], "identity": lambda z: z}
)
_OUTPUT_PAIRS: Mapping[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = MappingProxyType(
    {"sigmoid": _sigmoid_pair, "softmax": _softmax_pair, "identity": lambda z: (z, 1.0 - z)}
)


# --- the loss and its dZ ---------------------------------------------------------------------


def _residual(output: str, A: np.ndarray, C: np.ndarray, Y: np.ndarray) -> np.ndarray:
    # A - Y, written as (1 - Y) A - Y (1 - A) so that a saturated output keeps its digits.
    return A - Y if output == "identity" else (1.0 - Y) * A - Y * C


def terms(loss: Loss, output: str, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Each output element's term of the loss (..., n_out, m), before the normaliser."""
    if loss.kind == "bce":
        # -[y log s(z) + (1 - y) log(1 - s(z))]: two non-negative terms, nothing cancels.
        return (1.0 - Y) * np.logaddexp(0.0, Z) + Y * np.logaddexp(0.0, -Z)
    if loss.kind == "cross-entropy":
        top_z, _, _, rest = _softmax_parts(Z)
        return Y * ((top_z - Z) + np.log1p(rest))  # -log softmax(Z) = logsumexp(Z) - Z
    A, C = _OUTPUT_PAIRS[output](Z)
    r = _residual(output, A, C, Y)
    return loss.factor * (r * r)


def value(loss: Loss, output: str, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The loss (...,) of logits Z (..., n_out, m)."""
    return terms(loss, output, Z, Y).sum(axis=(-2, -1)) / loss.normaliser(*Z.shape[-2:])


def cross_entropy_after(loss: Loss, Z: np.ndarray, Y: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The cross-entropy (k,) of the logits ``Z + c[k] (x) d[k]`` for every k: Z and Y (n, m),
    c (k, n), d (k, m); the rank-one change of the logits that moving one parameter of the
    last two layers makes.

    The same sum as :func:`value`, ``sum(Y (logsumexp(Z') - Z'))``, taken about Z's column
    maxima: exp(Z - max) once, then one exp per logit and change, where :func:`value` takes a
    softmax of its own for each (a fifth of the work). Written for the small changes of a
    finite difference, which cannot overflow it."""
    top = Z.max(axis=0)
    base = np.sum(Y * (top - Z))  # sum(Y (logsumexp(Z) - Z)) but for the log of the sums below
    change = np.exp(c[:, :, None] * d[:, None, :])
    sums = np.einsum("kom,om->km", change, np.exp(Z - top))  # sum_o exp(Z' - max), per change
    moved = np.einsum("km,km->k", d, c @ Y)  # sum(Y (Z' - Z))
    return (base + np.log(sums) @ Y.sum(axis=0) - moved) / loss.normaliser(*Z.shape)


def output_dz(loss: Loss, output: str, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The exact dLoss/dZ of the output layer (..., n_out, m)."""
    N = loss.normaliser(*Z.shape[-2:])
    A, C = _OUTPUT_PAIRS[output](Z)
    r = _residual(output, A, C, Y)
    if loss.kind == "bce":
        return r / N
    if loss.kind == "cross-entropy":
        # A * sum(Y) - Y: exact for labels that do not sum to 1, r itself for one-hot labels.
        return (r + A * (Y.sum(axis=-2, keepdims=True) - 1.0)) / N
    dA = (2.0 * loss.factor) * r / N
    if output == "sigmoid":
        return dA * (A * C)
    if output == "softmax":
        return A * (dA - np.sum(dA * A, axis=-2, keepdims=True))
    return dA


def formulas(loss: Loss, output: str, A: str, n_out: int, class_axis: int) -> tuple[str, str]:
    """The loss and its dZ as a learner writes them, for an output named ``A`` (``"A2"``)."""
    text = {"A": A, "Y": "Y", "N": "m" if loss.per == "sample" or n_out == 1 else f"({n_out} * m)"}
    grad = loss.grad.format(**text)
    if loss.kind == "squared" and output == "sigmoid":
        bare = loss.grad == "{A} - {Y}"  # half-sse's A - Y needs its parentheses before a product
        grad = f"{'(' + grad + ')' if bare else grad} * {A} * (1 - {A})"
    elif loss.kind == "squared" and output == "softmax":
        grad = f"{A} * (dA - sum(dA * {A}, axis={class_axis}, keepdims=True)) with dA = {grad}"
    return loss.formula.format(**text), grad
