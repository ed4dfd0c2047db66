"""The exact gradient of a described network, and how far float64 rounding can move each element.

A correct backward pass differs from the exact gradient only by rounding, however it orders
its sums (``@``, einsum, a loop over the samples, pairwise) and whether or not it recomputes
the forward pass. How far is a running error bound: every number of the forward and backward
pass carries, beside its value, a bound on how far a correct computation of it can be off,
in units of eps, carried forward by first-order error analysis:

- a sum of n products (a layer's ``W @ A + b``, the backward's ``W.T @ dZ``, a gradient's sum
  over the samples) adds n roundings of the sum of its terms' magnitudes, in any order, to
  what its factors carry (``|W| @ e(A)``, ``e(dZ) @ |A|.T + |dZ| @ e(A).T``);
- a function adds its slope times its argument's error and a few ulps of its value (a library's
  exp, log, tanh), a sigmoid or softmax also ``|Z|`` ulps (their usual forms,
  ``exp(Z - logsumexp(Z))``, lose that many);
- a difference rounds to a few ulps of *its result*, and carries its operands' errors: the
  output's ``A - Y`` carries A's error and nothing of the labels', so where the output is
  right, the elements keep every digit a correct backward can keep.

The bound is first order and worst case (every rounding the same way), so a correctly computed
element lies within ``_SAFETY`` times it; add the smallest normal number for each operation
that can underflow (PyTorch and JAX flush subnormal numbers to zero): that is its absolute
floor. :data:`RTOL` on top leaves room for everything relative to the element's own value.
"""

from __future__ import annotations

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._losses import HIDDEN_FUNCTIONS, OUTPUT_FUNCTIONS

__all__ = ["RTOL", "exact_gradients"]

RTOL = 1e-9
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_ULPS = 4.0  # what one library function (exp, log, tanh) or one short formula may round
# Twice the bound: the backward's value and the reference, itself computed in float64, may
# each be off by it (the bound's sums take n roundings where n - 1 suffice: its second order).
_SAFETY = 2.0
_OWN_ROUNDING = {"relu": 0.0, "identity": 0.0, "leaky_relu": 1.0, "tanh": _ULPS, "sigmoid": _ULPS}


def _slope(hidden: str, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """|f'(Z)| of a hidden activation: its backward step from a unit upstream gradient."""
    return np.abs(HIDDEN_FUNCTIONS[hidden][1](np.ones_like(Z), Z, A))


def _hidden_error(hidden: str, Z: np.ndarray, A: np.ndarray, slope: np.ndarray, eZ: np.ndarray) -> np.ndarray:
    """The error of a hidden layer's A = f(Z): Z's error through the slope, and the
    activation's own roundings (a sigmoid's usual forms, exp(Z - logaddexp(0, Z)), lose |Z|
    ulps, as the output's do)."""
    own = _OWN_ROUNDING[hidden] + (np.abs(Z) if hidden == "sigmoid" else 0.0)
    return slope * eZ + own * np.abs(A)


def _slope_error(hidden: str, A: np.ndarray, eA: np.ndarray) -> np.ndarray:
    """The error of f'(Z) as a backward computes it from A (1 - A², A (1 - A)): A's error
    times the slope's own slope, and its roundings (1 - A² rounds A² first: an ulp of 1)."""
    if hidden == "tanh":
        return 2.0 * np.abs(A) * eA + _ULPS
    if hidden == "sigmoid":
        return np.abs(1.0 - 2.0 * A) * eA + _ULPS * A * (1.0 - A)
    if hidden in ("relu", "leaky_relu", "identity"):  # constant slopes, exact
        return np.zeros_like(A)
    raise ValueError(f"no error bound for the hidden activation {hidden!r}")


def _output(net: nw.Network, Z: np.ndarray, eZ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The output A (n_out, m) and its error, from the logits and theirs."""
    A = OUTPUT_FUNCTIONS[net.output](Z)
    if net.output == "identity":
        return A, eZ
    if net.output == "sigmoid":
        return A, A * (1.0 - A) * eZ + A * (_ULPS + np.abs(Z))
    if net.output != "softmax":
        raise ValueError(f"no error bound for the output {net.output!r}")
    # softmax: dA_k = A_k (dZ_k - sum_j A_j dZ_j), and exp(Z - logsumexp(Z)) loses max|Z| ulps
    spread = _ULPS + 2.0 * np.abs(Z).max(axis=0, keepdims=True)
    return A, A * (eZ + (A * eZ).sum(axis=0, keepdims=True) + spread)


def _output_dz_error(net: nw.Network, A: np.ndarray, eA: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The error of the output layer's dZ (n_out, m), from its output A and A's error."""
    spec = net.spec
    N = spec.normaliser(*Y.shape)
    r = np.abs(A - Y)
    if spec.kind == "bce":  # (1 - Y) A - Y (1 - A): each term rounds, A - Y is their difference
        terms = np.abs(1.0 - Y) * A + np.abs(Y) * np.abs(1.0 - A)
        return (eA * (np.abs(1.0 - Y) + np.abs(Y)) + _ULPS * terms) / N
    if spec.kind == "cross-entropy":  # A sum(Y) - Y: A - Y for one-hot labels
        total = np.abs(Y.sum(axis=0, keepdims=True))
        return (eA * total + _ULPS * (np.abs(A * total - Y) + A * np.abs(total - 1.0))) / N
    scale = 2.0 * spec.factor / N  # the squared losses: dA = 2 factor (A - Y) / N
    dA, e_dA = scale * r, scale * (eA + _ULPS * r)
    if net.output == "identity":
        return e_dA
    if net.output == "sigmoid":  # dA A (1 - A)
        s = A * (1.0 - A)
        return s * e_dA + dA * (np.abs(1.0 - 2.0 * A) * eA + 2.0 * _ULPS * s)
    # softmax: A (dA - t) with t = sum_j A_j dA_j, each on magnitudes
    t = (A * dA).sum(axis=0, keepdims=True)
    e_t = (eA * dA + A * e_dA).sum(axis=0, keepdims=True) + A.shape[0] * t
    u = dA + t
    return eA * u + A * (e_dA + e_t + 2.0 * _ULPS * u)


def _gradient_and_bound(trace: diff.Trace) -> tuple[np.ndarray, np.ndarray]:
    """The exact gradient at the point of ``trace`` and each element's error bound, in units
    of eps, flat in parameter order (see the module)."""
    net = trace.net
    m = trace.Y.shape[1]
    # Forward: each layer input's |A| and error (A_0 = X is exact), each Z's error.
    absA, eA, eZ, slopes = [np.abs(trace.As[0])], [np.zeros(trace.As[0].shape)], [], [None]
    for i, (W, b) in enumerate(trace.layers):
        n = W.shape[1] + (b is not None)  # the terms of each sum: |W| @ (e(A) + n |A|) + n |b|
        eZ.append(np.abs(W) @ (n * absA[i] if i == 0 else eA[i] + n * absA[i]))
        if b is not None:
            eZ[i] += n * np.abs(b)
        if i < net.depth - 1:
            Z, A = trace.Zs[i], trace.As[i + 1]
            absA.append(np.abs(A))
            slopes.append(_slope(net.hidden, Z, A))
            eA.append(_hidden_error(net.hidden, Z, A, slopes[-1], eZ[i]))
    A_out, eA_out = _output(net, trace.Zs[-1], eZ[-1])
    # Backward: the values are the network's own backward pass; what they carry, layer by layer.
    values = nw.backward_pass(net, trace.layers, trace.Zs, trace.As, trace.Y)
    e_dZ = _output_dz_error(net, A_out, eA_out, trace.Y)
    errors: list[tuple] = [()] * net.depth
    for i in reversed(range(net.depth)):
        W, b = trace.layers[i]
        abs_dZ = np.abs(values[i][0])
        e_dW = (e_dZ + m * abs_dZ) @ absA[i].T  # X, A_0, is exact: no error of its own to carry
        if i:
            e_dW += abs_dZ @ eA[i].T
        e_db = None if b is None else e_dZ.sum(axis=1, keepdims=True) + m * abs_dZ.sum(axis=1, keepdims=True)
        errors[i] = (e_dZ, e_dW, e_db)
        if i:  # dZ_{i-1} = (W.T @ dZ) f'(Z_{i-1}), the product's magnitude standing for its value
            G = np.abs(W).T @ abs_dZ
            e_G = np.abs(W).T @ e_dZ + W.shape[0] * G
            e_s = _slope_error(net.hidden, trace.As[i], eA[i])
            e_dZ = slopes[i] * e_G + G * e_s + _ULPS * np.abs(values[i - 1][0])
    return nw.flat_gradient(net, values), nw.flat_gradient(net, errors)


def _operations(net: nw.Network, m: int) -> int:
    """How many operations meet a number on its way to a gradient element, each of which may
    flush a subnormal result to zero."""
    forward = sum(n_prev + 6 for n_prev in net.widths[:-1])
    backward = sum(n_next + 4 for n_next in net.widths[2:])
    return forward + 12 + backward + m + net.n_out


def exact_gradients(traces: list[diff.Trace]) -> tuple[np.ndarray, np.ndarray]:
    """(points, n_params) each: the exact gradient at each trace's point, and each element's
    absolute floor (see the module)."""
    underflow = _operations(traces[0].net, traces[0].Y.shape[1]) * _TINY
    grads, errors = zip(*map(_gradient_and_bound, traces), strict=True)
    return np.stack(grads), _SAFETY * _EPS * np.stack(errors) + underflow
