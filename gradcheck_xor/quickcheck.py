"""A one-point gradient check for inner loops: is this backward right at this point?

:func:`check_point` compares a backward pass with central finite differences of the mean
binary cross-entropy at one parameter point and one label layout, and answers with the
numbers per element, in tens of microseconds. It is what a property test calls for every
generated point, or a training loop every few hundred steps. It does not say *why* a
backward is wrong: :func:`gradcheck_xor.check_backward` does, over several points and both
label layouts.

Its numbers are those of the full check at the same point and layout: the same batched
forward pass, the same central differences, the same tolerances; where a perturbation
reaches a ReLU kink it hands over to the full check's one-sided differences. What it saves
is the full check's bookkeeping: it evaluates only the 19 rows a central difference needs
(the point, then each element at +h and -h), in a dozen NumPy calls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcheck_xor.gradcheck import (
    _ATOL64,
    _PARAM_SHAPES,
    _RTOL64,
    ELEMENT_NAMES,
    KEYS,
    LAYOUTS,
    N_PARAMS,
    STEP,
    Backward,
    _call,
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


# Tiny arrays make NumPy's per-call cost the whole cost, and broadcasting costs several
# times an operation on equal shapes; so the constants below come ready in the shapes they
# meet, cached per step and per data set (the one in use rarely changes).
_CACHE: dict[str, Any] = {}
_ZERO = np.zeros(1)


def _constants(step: float, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, ...]:
    """``rows`` (19, 10), ``design`` (10, 3m), ``labels`` and ``zeros`` (19, m),
    ``weights`` (19 m, 9) and ``reach`` for this step and data.

    ``rows`` end in a 1, so that one product with ``design`` gives, for the 19 rows
    (theta, 0) + ``rows`` (the point, then each element at +h, then at -h),
    Z1 = W1 @ X + b1 and a constant 1 beside it: [relu(Z1); 1] then gives
    Z2 = [W2, b2] @ [relu(Z1); 1] in one more product. ``weights`` turns the 19 x m
    per-sample loss terms into the 9 central differences (L(+h) - L(-h)) / 2h of their mean.
    """
    c = _CACHE
    # Read-only arrays (the default XOR data) cannot change: they are known by identity.
    # Any others are known by value, since the caller may have changed them in place.
    same = c.get("step") == step and c.get("X") is X and c.get("Y") is Y
    if not (same and not X.flags.writeable and not Y.flags.writeable):
        key = (step, X.shape, X.tobytes(), Y.tobytes())
        if c.get("key") != key:
            m = X.shape[1]
            eye = np.eye(N_PARAMS)
            rows = np.zeros((2 * N_PARAMS + 1, N_PARAMS + 1))
            rows[1 : N_PARAMS + 1, :N_PARAMS] = step * eye
            rows[N_PARAMS + 1 :, :N_PARAMS] = -step * eye
            rows[:, N_PARAMS] = 1.0  # the trailing 1
            design = np.zeros((N_PARAMS + 1, 3, m))
            design[:N_PARAMS, :2] = _design(X).reshape(N_PARAMS, 2, m)
            design[N_PARAMS, 2] = 1.0
            half = np.concatenate([np.zeros((1, N_PARAMS)), eye, -eye]) / (2 * step * m)
            c.update(
                key=key,
                rows=rows,
                design=design.reshape(N_PARAMS + 1, 3 * m),
                labels=np.repeat(Y, 2 * N_PARAMS + 1, axis=0),
                zeros=np.zeros((2 * N_PARAMS + 1, m)),
                weights=np.repeat(half, m, axis=0),
                reach=_kink_reach(step, X),
            )
        c.update(step=step, X=X, Y=Y)
    return c["rows"], c["design"], c["labels"], c["zeros"], c["weights"], c["reach"]


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
    """
    if labels not in LAYOUTS:
        raise ValueError(f"labels: got {labels!r}, expected one of {', '.join(map(repr, LAYOUTS))}.")
    arrays = [params.get(key) for key in KEYS] if type(params) is dict else []
    if arrays and _exactly(arrays, _PARAM_SHAPES):
        point = np.concatenate([*arrays, _ZERO], axis=None)  # (theta, 0), (10,)
    else:
        point = np.concatenate((_flatten(params), _ZERO))  # converted, or a clear error
    theta = point[:N_PARAMS]
    X, Y = _data(X, Y)
    m = X.shape[1]
    rows, design, labels_rows, zeros, weights, reach = _constants(step, X, Y)
    with np.errstate(all="ignore"):
        batch = point + rows  # (19, 10)
        Z1 = batch @ design  # (19, 3m): Z1 of both units, then a constant 1
        # With every Z1 of the point further from 0 than a perturbation reaches, no row
        # crosses a kink and central differences hold.
        if min(map(abs, Z1[0, : 2 * m].tolist())) > reach:
            A1 = np.maximum(Z1, 0.0).reshape(-1, 3, m)  # [relu(Z1); 1]
            Z2 = (batch[:, None, 6:9] @ A1)[:, 0]  # (19, m) = [W2, b2] @ [relu(Z1); 1]
            terms = np.logaddexp(Z2, zeros)  # BCE from the logit: softplus(z) - y z
            terms -= labels_rows * Z2
            numeric = terms.reshape(-1) @ weights
            # The point's output A2 = sigmoid(Z2), (1, m): a handful of numbers, so Python's
            # floats (exp(-z) overflows for z < -709, where the sigmoid is 0).
            A2 = np.array([[1.0 / (1.0 + math.exp(-z)) if z > -709.0 else 0.0 for z in Z2[0].tolist()]])
            # Copies of everything the caller or the next check could see; A1 and A2 are this
            # call's own and unused after it.
            labels_given = Y.copy() if labels == "(1, m)" else Y[0].copy()
            result, raised = _call(backward, _fresh(theta), A1[0, :2], A2, X.copy(), labels_given, copy=False)
            read = raised if raised is not None else _read_gradients(result)
            if isinstance(read, dict):
                nan = np.full(N_PARAMS, np.nan)
                return PointCheck(False, nan, numeric, np.zeros(N_PARAMS, dtype=bool), read)
            analytic, rtol, atol = read
            if rtol is _RTOL64 and atol is _ATOL64:  # float64 values: one tolerance, and 9
                # comparisons are quicker in Python than six array operations
                r, t = _RTOL64[0], _ATOL64[0]
                pairs = zip(analytic.tolist(), numeric.tolist(), strict=True)
                ok = [abs(a - n) <= t + r * abs(n) for a, n in pairs]
                return PointCheck(all(ok), analytic, numeric, np.array(ok), None)
            passed = np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)
            return PointCheck(bool(passed.all()), analytic, numeric, passed, None)
    # A kink within reach: the full check's one-sided differences and subgradient window.
    got = _measure(backward, theta[None], X, Y, (labels,), step=step)
    analytic = got.analytic[0, 0]
    problem = got.problems.get((0, 0))
    passed = np.broadcast_to(got.passed, (1, 1, N_PARAMS))[0, 0].copy()
    numeric = np.broadcast_to(got.expected, (1, 1, N_PARAMS))[0, 0].copy()
    return PointCheck(problem is None and bool(passed.all()), analytic, numeric, passed, problem)
