"""A one-point gradient check for inner loops: is this backward right at this point?

:func:`check_point` compares a backward pass with central finite differences of the mean
binary cross-entropy at one parameter point and one label layout, and answers with the
numbers per element, in tens of microseconds. It is what a property test calls for every
generated point, or a training loop every few hundred steps. It does not say *why* a
backward is wrong: :func:`gradcheck_xor.check_backward` does, over several points and both
label layouts.

Its judgement is the full check's at the same point and layout: the same central
differences of the same loss terms (to round-off: its forward pass is laid out differently),
the same tolerances; where a perturbation reaches a ReLU kink, or the backward raises, it
hands over to the full check. What it saves is the full check's bookkeeping: it evaluates
only the 19 rows a central difference needs (the point, then each element at +h and -h), in
a dozen NumPy calls.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcheck_xor.gradcheck import (
    _EXACT_SHAPES,
    _F64,
    _PARAM_SHAPES,
    _XOR_X,
    _XOR_Y,
    ELEMENT_NAMES,
    GRAD_KEYS,
    KEYS,
    LAYOUTS,
    N_PARAMS,
    STEP,
    TOLERANCES,
    Backward,
    _data,
    _design,
    _exactly,
    _flatten,
    _fresh,
    _kink_reach,
    _measure,
    _read_gradients,
)

__all__ = ["PointCheck", "check_point"]


@dataclasses.dataclass(eq=False, slots=True)
class PointCheck:
    """The result of :func:`check_point`; arrays are flat, in the order of ``elements``."""

    ok: bool
    analytic: np.ndarray  # (9,) the backward's values (NaN where it gave none)
    numeric: np.ndarray  # (9,) what each should be: the central difference (on a kink: the
    #                      subgradient between the one-sided differences nearest the analytic)
    passed: np.ndarray  # (9,) bool
    problem: dict[str, Any] | None  # the backward raised or returned the wrong shapes: what
    elements: tuple[str, ...] = ELEMENT_NAMES

    @property
    def failing(self) -> list[str]:
        """The elements that disagree, e.g. ``["dW1[0, 1]", "db1[0, 0]"]``."""
        return [name for name, ok in zip(self.elements, self.passed.tolist(), strict=True) if not ok]

    def __str__(self) -> str:
        if self.problem is not None:
            return f"not ok: the backward {_describe(self.problem)}"
        if self.ok:
            return f"ok: all {len(self.elements)} elements agree with central differences"
        rows = [
            f"  {name}: analytic {a:.6e}, numeric {n:.6e}"
            for name, a, n, ok in zip(self.elements, self.analytic, self.numeric, self.passed, strict=True)
            if not ok
        ]
        return "\n".join([f"not ok: {len(rows)} of {len(self.elements)} elements disagree", *rows])


def _describe(problem: dict[str, Any]) -> str:
    if "type" in problem:
        return f"raised {problem['type']}: {problem['message']}"
    return f"returned {problem['key'] or 'its result'}: got {problem['got']}, expected {problem['expected']}"


# Tiny arrays make NumPy's per-call cost the whole cost (a few thousand instructions, whatever
# the size): the check is laid out to take few calls, with everything that depends only on the
# step and the data computed once and cached (the data set in use rarely changes), and with
# Python's own objects where they are quicker for nine numbers.
_CACHE: dict[Any, tuple[Any, ...]] = {}
_PARAMS_OF = operator.itemgetter(*KEYS)
_GRADS_OF = operator.itemgetter(*GRAD_KEYS)
_ONE = np.ones(1).tobytes()
_ROWS = 2 * N_PARAMS + 1  # the point, then each element at +h, then each at -h
_RTOL, _ATOL = TOLERANCES[_F64]
# |theta|_1 (1 + max|X|) below this bounds every number of the quick path by 1e100, and
# their products by 1e200: nothing overflows.
_LARGE = 1e100


def _flat(arrays: tuple[np.ndarray, ...], end: bytes = b"") -> np.ndarray:
    """Four float64 arrays, flat, in a new writable array (their bytes, joined: one NumPy call)."""
    a, b, c, d = arrays
    return np.frombuffer(bytearray(b"".join((a.tobytes(), b.tobytes(), c.tobytes(), d.tobytes(), end))))


def _constants(step: float, X: np.ndarray, Y: np.ndarray) -> tuple[Any, ...]:
    """``affine`` (10, 2m + 6·19m), ``sums``, ``zeros``, ``weights``, ``signs``, ``reach``, ``scale``.

    Every number of the 19-row forward pass that comes before an activation is an affine
    function of the parameters, so one product ``(theta, 1) @ affine`` gives them all:

    - the point's Z1 (unit, sample): for the kink test and the backward's A1;
    - each row's Z1 (unit, row, sample), then a unit that is always 1 (the bias's input);
    - each row's output weights [W2, b2] (unit, row, sample), times ``signs``.

    ``reach`` is how far from 0 a perturbation can move a Z1, ``scale`` is 1 + max|X|.
    ``sums`` then adds relu(Z1) * weight over the units, and the loss terms are softplus of
    the result: with 0/1 labels the weights are signed s = 1 - 2y and one row gives
    softplus(s Z2), which is the BCE term exactly; with other labels two rows give
    softplus(Z2) and softplus(-Z2), the terms of (1 - y) softplus(z) + y softplus(-z), the
    BCE as the full check has it. ``weights`` turns the terms into the 9 central differences
    (L(+h) - L(-h)) / 2h of the mean. A perturbation enters Z1 as h * x rather than through
    theta + h: the same difference, exactly h apart.
    """
    # The default XOR data are read-only arrays of this module's: known by identity. Other
    # data are known by value (check_point's are its own copies, made each call).
    key = step if X is _XOR_X and Y is _XOR_Y else (step, X.shape, X.tobytes(), Y.tobytes())
    found = _CACHE.get(key)
    if found is not None:
        return found
    m, P = X.shape[1], N_PARAMS
    y = Y[0]
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    signs = 1.0 - 2.0 * y if binary else np.ones(m)
    design = _design(X).reshape(P, 2, m)  # Z1 = theta @ design, per (unit, sample)
    elements = np.concatenate([np.zeros((1, P)), np.eye(P), -np.eye(P)])  # (19, 9)
    offsets = step * elements
    point_z1 = np.zeros((2, m, P + 1))
    point_z1[..., :P] = design.transpose(1, 2, 0)
    rows_z1 = np.zeros((3, _ROWS, m, P + 1))
    rows_z1[:2, ..., :P] = design.transpose(1, 2, 0)[:, None]
    rows_z1[:2, ..., P] = np.einsum("rp,pus->urs", offsets, design)
    rows_z1[2, ..., P] = 1.0
    rows_out = np.zeros((3, _ROWS, m, P + 1))
    for unit, element in enumerate((6, 7, 8)):  # W2[0, 0], W2[0, 1], b2[0, 0]
        rows_out[unit, ..., element] = 1.0
        rows_out[unit, ..., P] = offsets[:, element, None]
    rows_out *= signs[:, None]
    central = np.repeat(elements[:, None, :] / (2 * step * m), m, axis=1)  # (19, m, 9)
    halves = [central] if binary else [(1 - y[:, None]) * central, y[:, None] * central]
    found = (
        # (10, k) rather than (k, 10): NumPy's vector-matrix product is quicker this way
        np.concatenate([a.reshape(-1, P + 1) for a in (point_z1, rows_z1, rows_out)]).T.copy(),
        np.array([[1.0, 1.0, 1.0]] if binary else [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]),
        np.zeros((len(halves), _ROWS * m)),
        np.concatenate(halves).reshape(-1, P),
        signs.tolist(),
        _kink_reach(step, X),
        1.0 + float(np.abs(X).max(initial=0.0)),
    )
    if len(_CACHE) >= 8:  # a few data sets at a time, not every one ever checked
        _CACHE.clear()
    _CACHE[key] = found
    return found


def check_point(
    backward: Backward,
    params: Mapping[str, Any],
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    *,
    labels: str = "(1, m)",
    step: float = STEP,
) -> PointCheck:
    """Check ``backward(parameters, A1, A2, X, Y)`` at ``params``, against the mean BCE.

    ``X`` (2, m) and ``Y`` default to the notebook's XOR data; ``labels`` is the layout the
    backward receives ``Y`` in, ``"(1, m)"`` or ``"(m,)"``. The network is the notebook's
    (ReLU hidden layer, sigmoid output). Exceptions from ``backward`` are caught and
    reported in ``problem``. Raises ValueError for unusable ``params``, data or ``labels``.

    The backward runs under the caller's NumPy error state (``np.errstate`` slows every
    NumPy call made under it); if it raises, the point goes to the full check, which calls
    it again with floating-point warnings ignored, so a warning that the caller's filters
    turn into an error is not taken for the backward's failure.
    """
    if labels not in LAYOUTS:
        raise ValueError(f"labels: got {labels!r}, expected one of {', '.join(map(repr, LAYOUTS))}.")
    try:
        arrays = _PARAMS_OF(params)
        plain = _exactly(arrays, _PARAM_SHAPES)
    except Exception:  # not a dict of the four arrays: _flatten converts, or says what is wrong
        plain = False
    point = _flat(arrays, _ONE) if plain else np.append(_flatten(params), 1.0)  # (theta, 1)
    X, Y = (_XOR_X, _XOR_Y) if X is None and Y is None else _data(X, Y)
    m = X.shape[1]
    n = _ROWS * m
    affine, sums, zeros, weights, signs, reach, scale = _constants(step, X, Y)
    # The quick path runs outside np.errstate (which slows every NumPy call made under it,
    # the backward's included), so it takes only points whose numbers cannot overflow: a
    # NaN or inf parameter fails this test too.
    if sum(map(abs, point.tolist())) * scale < _LARGE:
        # The point's Z1 (2m), every row's Z1 and a unit of ones (3n), every row's [W2, b2] (3n)
        forward = np.dot(point, affine)
        point_z1 = forward[: 2 * m].tolist()
        # Central differences hold when no perturbation reaches a kink: every Z1 of the
        # point is further from 0 than a perturbation moves it.
        if min(map(abs, point_z1)) > reach:
            hidden = forward[: 2 * m + 3 * n]  # relu(Z1): the point's (its A1), then every row's
            np.maximum(hidden, 0.0, out=hidden)
            Z2 = np.dot(sums, (hidden[2 * m :] * forward[2 * m + 3 * n :]).reshape(3, n))  # s Z2 (, -Z2)
            point_z2 = Z2[0, :m].tolist()
            numeric = np.dot(np.logaddexp(Z2, zeros, out=Z2).reshape(-1), weights)
            # The backward gets the point's A1, and A2 = sigmoid(Z2), (1, m): a handful of
            # numbers, so Python's floats (exp(-z) overflows for z < -709, where it is 0).
            A1 = hidden[: 2 * m].reshape(2, m)
            z2 = [s * z for s, z in zip(signs, point_z2, strict=True)]
            A2 = np.array([[1.0 / (1.0 + math.exp(-z)) if z > -709.0 else 0.0 for z in z2]])
            # Copies: the backward may change what it is given.
            if plain:
                W1, b1, W2, b2 = arrays
                given = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
            else:
                given = _fresh(point[:N_PARAMS])
            labels_given = Y.copy() if labels == "(1, m)" else Y[0].copy()
            try:
                result = backward(given, A1, A2, X.copy(), labels_given)
            except KeyboardInterrupt:
                raise
            except BaseException:
                # The full check calls it again, under np.errstate(all="ignore"): a
                # floating-point warning that the caller's filters turn into an error is not
                # the backward's failure. Anything else it raises (sys.exit included) the full
                # check reports, as the oracle does.
                pass
            else:
                return _judge(result, numeric)
    # A kink within reach, numbers too large, or a backward that raised: the full check
    # (one-sided differences and the subgradient window at a kink).
    got = _measure(backward, point[None, :N_PARAMS], X, Y, (labels,), step=step)
    analytic = got.analytic[0, 0]
    problem = got.problems.get((0, 0))
    passed = np.broadcast_to(got.passed, (1, 1, N_PARAMS))[0, 0].copy()
    numeric = np.broadcast_to(got.expected, (1, 1, N_PARAMS))[0, 0].copy()
    return PointCheck(problem is None and bool(passed.all()), analytic, numeric, passed, problem)


def _judge(result: Any, numeric: np.ndarray) -> PointCheck:
    """Compare what the backward returned with the central differences ``numeric``."""
    try:
        grads = _GRADS_OF(result)
        plain = _exactly(grads, _EXACT_SHAPES)
    except Exception:  # not a dict of the four arrays: _read_gradients says what is wrong
        plain = False
    if plain:
        # float64 gradients: one tolerance, and nine comparisons are quicker in Python
        analytic = _flat(grads)
        ok = [
            abs(a - b) <= _ATOL + _RTOL * abs(b)
            for a, b in zip(analytic.tolist(), numeric.tolist(), strict=True)
        ]
        return PointCheck(
            False not in ok, analytic, numeric, np.frombuffer(bytearray(ok), dtype=np.bool_), None
        )
    with np.errstate(all="ignore"):  # the values may be NaN or inf
        read = _read_gradients(result)
        if isinstance(read, dict):
            nan = np.full(N_PARAMS, np.nan)
            return PointCheck(False, nan, numeric, np.zeros(N_PARAMS, dtype=bool), read)
        analytic, rtol, atol = read
        passed = np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)
    return PointCheck(bool(passed.all()), analytic, numeric, passed, None)
