"""The exact gradient of a described network, and how far float64 rounding can move each element.

A correct backward pass differs from the exact gradient only by rounding, however it orders
its sums (``@``, einsum, a loop over the samples, pairwise) and whether or not it recomputes
the forward pass. How much rounding one element can carry follows from its *scale*: the
same computation carried out on the magnitudes of all its terms,

- ``|W| @ M(A) + |b|`` for each pre-activation ``Z = W @ A + b``, and ``|A| + |f'(Z)| M(Z)``
  for what an activation makes of it (a value, and how far its argument's rounding moves it);
- for the output's dZ, the magnitudes of the terms of the formula, ``M(A) + |Y|`` for
  ``A - Y`` (never ``|A - Y|``, which cancels where the output is right), and ``A (1 + |Z|)``
  for a sigmoid or softmax, whose usual forms (``exp(Z - logsumexp(Z))``) lose ``|Z|`` ulps;
- ``|W|.T @ M(dZ)`` times the scale of the activation's derivative for each hidden dZ, and
  ``M(dZ) @ M(A).T`` for ``dW = dZ @ A.T``, the sum of ``M(dZ)`` over the samples for ``db``.

Every rounding moves a number by at most eps times its scale, and on its way to an element a
number passes through at most :func:`roundings` of them, so a correctly computed element lies
within ``roundings * eps * scale`` of the exact value (a first-order bound, well above what
rounding does in practice), plus ``roundings`` times the smallest normal number for what
underflows (PyTorch and JAX flush subnormal numbers to zero): that is its absolute floor.
:data:`RTOL` on top leaves room for library functions (exp, log, tanh) a few units in the
last place off.
"""

from __future__ import annotations

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._losses import LEAKY_SLOPE, OUTPUT_FUNCTIONS

__all__ = ["RTOL", "exact_gradients", "roundings", "scales"]

RTOL = 1e-9
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


def roundings(net: nw.Network, m: int) -> int:
    """The most roundings a number meets on its way to a gradient element: each layer's sum
    over its inputs and its activation going forward, the output's dZ (a dozen operations),
    each hidden layer's sum over the next layer's units and its derivative going back, and
    the sum over the samples (and a softmax's over its classes)."""
    forward = sum(n_prev + 6 for n_prev in net.widths[:-1])
    backward = sum(n_next + 4 for n_next in net.widths[2:])
    return forward + 12 + backward + m + net.n_out


def _slope(hidden: str, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """|f'(Z)| of a hidden activation."""
    if hidden == "relu":
        return (Z > 0).astype(np.float64)
    if hidden == "leaky_relu":
        return np.where(Z > 0, 1.0, LEAKY_SLOPE)
    if hidden == "tanh":
        return 1.0 - A * A
    if hidden == "sigmoid":
        return A * (1.0 - A)
    return np.ones_like(Z)


def _slope_scale(hidden: str, Z: np.ndarray, A: np.ndarray, MZ: np.ndarray) -> np.ndarray:
    """The scale of f'(Z) as a backward computes it: its terms (1 + A² for 1 - A², A (1 + A)
    for A (1 - A)) and how far the rounding of Z moves it (|f''| M(Z))."""
    if hidden == "tanh":
        return 1.0 + A * A + 2.0 * np.abs(A) * (1.0 - A * A) * MZ
    if hidden == "sigmoid":
        return A * (1.0 + A) + A * (1.0 - A) * np.abs(1.0 - 2.0 * A) * MZ
    return _slope(hidden, Z, A)


def _output_scale(net: nw.Network, Z: np.ndarray, MZ: np.ndarray) -> np.ndarray:
    """M(A) of the output layer, from its logits Z and their scale M(Z), (n_out, m)."""
    if net.output == "identity":
        return MZ
    A = OUTPUT_FUNCTIONS[net.output](Z)
    if net.output == "sigmoid":
        return A * (1.0 + np.abs(Z)) + A * (1.0 - A) * MZ
    widest = np.abs(Z).max(axis=0, keepdims=True) + MZ.max(axis=0, keepdims=True)
    return A * (1.0 + 2.0 * widest)


def _output_dz_scale(net: nw.Network, MA: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """M(dZ_L) from the output's scale M(A) and the labels (n_out, m)."""
    spec = net.spec
    N = spec.normaliser(*Y.shape)
    labels = np.abs(Y)
    if spec.kind in ("bce", "cross-entropy"):  # A - Y, or A * sum(Y) - Y for labels of any sum
        return (MA * (1.0 + labels.sum(axis=0, keepdims=True)) + labels) / N
    dA = 2.0 * spec.factor * (MA + labels) / N
    if net.output == "sigmoid":  # dA * A * (1 - A)
        return dA * MA * (1.0 + MA)
    if net.output == "softmax":  # A * (dA - sum(dA * A))
        return MA * (dA + (dA * MA).sum(axis=0, keepdims=True))
    return dA


def scales(trace: diff.Trace) -> np.ndarray:
    """Each gradient element's scale at the point of ``trace``, flat in parameter order."""
    net = trace.net
    # Forward: each layer's M(A) (A_0 = X) and M(Z).
    MA = [np.abs(trace.As[0])]
    MZ = []
    for i, (W, b) in enumerate(trace.layers):
        M = np.abs(W) @ MA[-1]
        MZ.append(M if b is None else M + np.abs(b))
        if i < net.depth - 1:
            Z, A = trace.Zs[i], trace.As[i + 1]
            MA.append(np.abs(A) + _slope(net.hidden, Z, A) * MZ[-1])
    M_dZ = _output_dz_scale(net, _output_scale(net, trace.Zs[-1], MZ[-1]), trace.Y)
    parts: list[np.ndarray] = []
    for i in reversed(range(net.depth)):
        W, b = trace.layers[i]
        M_dW = M_dZ @ MA[i].T
        # The caller's flat order: C order of W (n, n_prev), or of its transpose for rows.
        layer = [M_dW.ravel(order="C" if net.layout == "columns" else "F")]
        if b is not None:
            layer.append(M_dZ.sum(axis=1))
        parts[:0] = layer
        if i:
            Z, A = trace.Zs[i - 1], trace.As[i]
            M_dZ = (np.abs(W).T @ M_dZ) * _slope_scale(net.hidden, Z, A, MZ[i - 1])
    return np.concatenate(parts)


def exact_gradients(traces: list[diff.Trace]) -> tuple[np.ndarray, np.ndarray]:
    """(points, n_params) each: the exact gradient at each trace's point, and each element's
    absolute floor (see the module)."""
    net = traces[0].net
    X, Y = traces[0].As[0], traces[0].Y
    if net.layout == "rows":
        X, Y = X.T, Y.T
    _, grads = nw.losses_and_gradients(net, np.stack([t.theta for t in traces]), X, Y)
    count = roundings(net, X.shape[1 if net.layout == "columns" else 0])
    floors = np.stack([count * (_EPS * scales(t) + _TINY) for t in traces])
    return grads, floors
