"""The gradient oracle: check a hand-written backward pass and say *why* it is wrong.

:func:`check_backward` takes a backward pass written the notebook's way,
``backward(parameters, A1, A2, X, Y) -> {"dW1", "db1", "dW2", "db2"}``, and compares it with
central finite differences of the loss in float64, element by element, at several parameter
points and for both label layouts the notebook's code meets (``Y`` of shape (m,) and (1, m)).

How the numbers are made:

* every perturbed loss of one check comes from ONE batched forward pass: the perturbed
  parameter vectors are stacked along a leading axis and pushed through the network with
  broadcasting matmuls, so the cost barely depends on the number of parameters;
* where a perturbation crosses a ReLU kink (some ``Z1`` is 0 or within the step) central
  differences are meaningless, so one-sided second-order differences are used instead; on the
  kink itself the backward's value is placed between the left and right derivatives, which
  both accepts any subgradient and tells which convention (relu'(0) = 0, 0.5 or 1) it follows;
* tolerances follow the dtype the backward returns (a float32 backward gets float32's).

When the values disagree the report classifies the failure (:data:`VERDICTS`): a constant
factor, the exact gradient of another loss, a label-layout dependence, a shape, an exception,
or a plain mismatch localised to the keys and points where it shows.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import textwrap
import traceback
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck_xor import model

__all__ = [
    "LAYOUTS",
    "LOSSES",
    "TOLERANCES",
    "VERDICTS",
    "ElementCheck",
    "GradcheckReport",
    "check_backward",
    "default_points",
    "numeric_gradient",
]

Params = dict[str, np.ndarray]
Backward = Callable[..., Any]

VERDICTS = (
    "ok",
    "matches-other-loss",
    "scaled",
    "shape-mismatch",
    "raised",
    "label-shape-dependent",
    "mismatch",
)
LAYOUTS = ("(m,)", "(1, m)")
KEYS = tuple(model.PARAM_SHAPES)  # W1, b1, W2, b2: the order of the flat parameter vector
GRAD_KEYS = tuple("d" + key for key in KEYS)
SHAPES = {"d" + key: shape for key, shape in model.PARAM_SHAPES.items()}
_SIZES = [math.prod(shape) for shape in model.PARAM_SHAPES.values()]
_STARTS = np.cumsum([0, *_SIZES])[:-1].tolist()
N_PARAMS = sum(_SIZES)
# One entry per element of the flat vector: its gradient key and its index in that array.
ELEMENT_KEYS = tuple(g for g, size in zip(GRAD_KEYS, _SIZES, strict=True) for _ in range(size))
ELEMENT_NAMES = tuple(f"{g}[{', '.join(map(str, idx))}]" for g in GRAD_KEYS for idx in np.ndindex(SHAPES[g]))

# (rtol, atol) by the dtype of the returned gradient: an element passes when
# |analytic - numeric| <= atol + rtol * |numeric|. float64's atol sits well above the
# round-off of the differences (about 1e-9 for losses of order 10 at a step of 1e-6).
TOLERANCES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float64): (1e-5, 1e-7),
    np.dtype(np.float32): (2e-3, 1e-5),
    np.dtype(np.float16): (1e-2, 1e-3),
}
STEP = 1e-6
_FACTOR_TOL = 1e-3  # how close a fitted factor must be to a named one (4 = m, -1, 0.5, ...)

# How each element was judged (the `method` column of the table).
CENTRAL, LEFT, RIGHT, KINK, SMOOTH_KINK, SKIPPED = range(6)
METHODS = (
    "central",
    "one-sided (left)",
    "one-sided (right)",
    "kink",
    "central (kink without effect)",
    "not judged",
)


# --- losses: each a function of the logit Z2 (..., m) and labels Y (m,) -------------------


@dataclasses.dataclass(frozen=True)
class Loss:
    """A loss of the output logit, its formula and its exact ``dZ2`` (as learners write it).

    ``terms(Z2, Y)`` gives the per-sample terms (..., m), which the loss averages over the
    samples (``mean``) or sums; ``grad(Z2, Y)`` is the loss's exact dL/dZ2.
    """

    name: str
    label: str
    formula: str
    dz2: str  # its dZ2, as a learner writes it
    terms: Callable[[np.ndarray, np.ndarray], np.ndarray]
    mean: bool
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def weights(self, m: int) -> np.ndarray:
        """The weight of each sample's term: 1/m for a mean, 1 for a sum."""
        return np.full(m, 1.0 / m if self.mean else 1.0)

    def value(self, Z2: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The loss for each row of logits Z2 (..., m); a product, not a sum, for speed."""
        return self.terms(Z2, Y) @ self.weights(Z2.shape[-1])


def _bce_terms(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    # -[y log s(z) + (1 - y) log(1 - s(z))] = (1 - y) softplus(z) + y softplus(-z), finite for
    # any finite logit. Two non-negative terms: unlike softplus(z) - y z, nothing cancels
    # when the output saturates (a 0/1 label keeps just one of them, exactly).
    return (1.0 - y) * np.logaddexp(0.0, z) + y * np.logaddexp(0.0, -z)


def _sq_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = model.sigmoid(z)
    return (s - y) * s * (1.0 - s)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "bce",
            "the mean binary cross-entropy",
            "-mean(Y * log(A2) + (1 - Y) * log(1 - A2))",
            "(A2 - Y) / m",
            _bce_terms,
            True,
            lambda z, y: (model.sigmoid(z) - y) / z.shape[-1],
        ),
        Loss(
            "bce-sum",
            "the binary cross-entropy summed over the samples",
            "-sum(Y * log(A2) + (1 - Y) * log(1 - A2))",
            "A2 - Y",
            _bce_terms,
            False,
            lambda z, y: model.sigmoid(z) - y,
        ),
        Loss(
            "half-mse",
            "½·MSE through the sigmoid",
            "mean((A2 - Y) ** 2) / 2",
            "(A2 - Y) * A2 * (1 - A2) / m",
            lambda z, y: 0.5 * (model.sigmoid(z) - y) ** 2,
            True,
            lambda z, y: _sq_grad(z, y) / z.shape[-1],
        ),
        Loss(
            "mse",
            "MSE through the sigmoid",
            "mean((A2 - Y) ** 2)",
            "2 * (A2 - Y) * A2 * (1 - A2) / m",
            lambda z, y: (model.sigmoid(z) - y) ** 2,
            True,
            lambda z, y: 2.0 * _sq_grad(z, y) / z.shape[-1],
        ),
        Loss(
            "half-sse",
            "½·squared error summed over the samples, through the sigmoid",
            "sum((A2 - Y) ** 2) / 2",
            "(A2 - Y) * A2 * (1 - A2)",
            lambda z, y: 0.5 * (model.sigmoid(z) - y) ** 2,
            False,
            _sq_grad,
        ),
        Loss(
            "sse",
            "squared error summed over the samples, through the sigmoid",
            "sum((A2 - Y) ** 2)",
            "2 * (A2 - Y) * A2 * (1 - A2)",
            lambda z, y: (model.sigmoid(z) - y) ** 2,
            False,
            lambda z, y: 2.0 * _sq_grad(z, y),
        ),
        Loss(
            "logit-half-mse",
            "½·MSE of the logit Z2 (as if the output had no sigmoid)",
            "mean((Z2 - Y) ** 2) / 2",
            "(Z2 - Y) / m",
            lambda z, y: 0.5 * (z - y) ** 2,
            True,
            lambda z, y: (z - y) / z.shape[-1],
        ),
    )
}

# Slopes of the hidden activation left and right of its kink at 0 (None: no kink).
_KINK_SLOPES: dict[str, tuple[float, float] | None] = {
    "relu": (0.0, 1.0),
    "leaky_relu": (model.LEAKY_SLOPE, 1.0),
    "sigmoid": None,
}


# --- parameter vectors ---------------------------------------------------------------------


def _exactly(arrays: Sequence[Any], shapes: tuple[tuple[int, ...], ...]) -> bool:
    """Whether the four ``arrays`` (a parameter or a gradient dict's values) are float64
    ndarrays of exactly these shapes: the usual case, tested quickly."""
    a, b, c, d = arrays
    return (
        type(a) is type(b) is type(c) is type(d) is np.ndarray
        and a.dtype is b.dtype is c.dtype is d.dtype is _F64
        and (a.shape, b.shape, c.shape, d.shape) == shapes
    )


def _flatten(params: Mapping[str, Any], where: str = "params") -> np.ndarray:
    if type(params) is dict:  # the usual case, quickly (an ABC isinstance check is slow)
        arrays = [params.get(key) for key in KEYS]
        if _exactly(arrays, _PARAM_SHAPES):
            return np.concatenate(arrays, axis=None)
    if not isinstance(params, Mapping):
        raise TypeError(f"{where}: expected a dict with keys W1, b1, W2, b2, got {type(params).__name__}.")
    parts = []
    for key, shape in model.PARAM_SHAPES.items():
        if key not in params:
            raise ValueError(f"{where}: missing key {key!r} (expected W1, b1, W2, b2).")
        value = np.asarray(params[key], dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"Shape mismatch for {where}[{key!r}]: got {value.shape}, expected {shape}.")
        parts.append(value.reshape(-1))
    return np.concatenate(parts)


def _unflatten(theta: np.ndarray) -> Params:
    """Parameter arrays (views) from flat vectors; any leading batch axes are kept."""
    lead = theta.shape[:-1]
    return {
        "W1": theta[..., 0:4].reshape(*lead, 2, 2),
        "b1": theta[..., 4:6].reshape(*lead, 2, 1),
        "W2": theta[..., 6:8].reshape(*lead, 1, 2),
        "b2": theta[..., 8:9].reshape(*lead, 1, 1),
    }


def _network(theta: np.ndarray, X: np.ndarray, act: Callable[[np.ndarray], np.ndarray]) -> tuple:
    """Z1 (..., 2, m), A1 and Z2 (..., m) for a stack of flat parameter vectors (..., 9).

    This runs once per check and is most of its cost, so it works on the flat layout:
    Z1 = W1 @ X + b1 is linear in the parameters, one product with :func:`_design` for
    the whole stack; the output layer is a broadcasting matmul.
    """
    Z1 = (theta @ _design(X)).reshape(*theta.shape[:-1], 2, X.shape[1])
    A1 = act(Z1)
    Z2 = (theta[..., None, 6:8] @ A1)[..., 0, :]
    Z2 += theta[..., 8:9]
    return Z1, A1, Z2


_DESIGN: list[Any] = [None, None]  # the last X's bytes and its design matrix: X rarely changes


def _design(X: np.ndarray) -> np.ndarray:
    """(9, 2m): a flat parameter vector times this is Z1 = W1 @ X + b1, flattened."""
    key = (X.shape, X.tobytes())
    if _DESIGN[0] != key:
        m = X.shape[1]
        D = np.zeros((N_PARAMS, 2, m))
        D[0, 0], D[1, 0], D[2, 1], D[3, 1] = X[0], X[1], X[0], X[1]  # W1[u, j] multiplies X[j]
        D[4, 0] = D[5, 1] = 1.0  # b1[u]
        _DESIGN[:] = [key, D.reshape(N_PARAMS, 2 * m)]
    return _DESIGN[1]


def numeric_gradient(
    params: Mapping[str, Any],
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    *,
    activation: str = "relu",
    loss: str = "bce",
    step: float = STEP,
) -> dict[str, np.ndarray]:
    """Central-difference gradient ``{"dW1", "db1", "dW2", "db2"}`` from one batched forward.

    No kink handling: this is the plain estimate (relu'(0) comes out as 0.5 on a kink).
    """
    theta = _flatten(params)
    X, Y = _data(X, Y)
    act = model.ACTIVATIONS[activation][0]
    shifts = np.concatenate([step * np.eye(N_PARAMS), -step * np.eye(N_PARAMS)])
    _, _, Z2 = _network(theta + shifts, X, act)
    values = LOSSES[loss].value(Z2, Y[0])
    grad = (values[:N_PARAMS] - values[N_PARAMS:]) / (2 * step)
    return {g: grad[s : s + n].reshape(SHAPES[g]) for g, s, n in zip(GRAD_KEYS, _STARTS, _SIZES, strict=True)}


_XOR_X, _XOR_Y = model.xor_data()
_XOR_X.flags.writeable = _XOR_Y.flags.writeable = False


def _data(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (2, m) and ``Y`` (1, m) as float64 arrays of the check's own, XOR by default."""
    if X is None and Y is None:
        return _XOR_X, _XOR_Y
    if X is None or Y is None:
        raise ValueError(f"{'Y' if Y is None else 'X'} is missing: give X and Y together, or neither (XOR).")
    X = model.as_inputs(np.array(X, dtype=np.float64))
    return X, model.as_labels(np.array(Y, dtype=np.float64), X.shape[1])


# --- the points a default check visits -------------------------------------------------------


def _clear_draw(rng: np.random.Generator, X: np.ndarray, margin: float = 0.02) -> Params:
    """Uniform parameters in [-2, 2] with every |Z1| above ``margin`` (no kink nearby) and
    each hidden unit active on some sample (so that every gradient element can be wrong)."""
    for _ in range(1000):
        params = _unflatten(rng.uniform(-2.0, 2.0, N_PARAMS))
        Z1 = params["W1"] @ X + params["b1"]
        if np.min(np.abs(Z1)) > margin and np.all(np.max(Z1, axis=1) > margin):
            break
    return {key: value.copy() for key, value in params.items()}


def default_points(
    seed: int = 0, X: np.ndarray | None = None, Y: np.ndarray | None = None
) -> list[tuple[str, Params]]:
    """The parameter points a default check visits, as ``(name, params)``.

    One point can hide a bug (a ReLU mask that is always 1 is invisible while every unit is
    active), so: the notebook's initial point (its zero ``b1`` puts the sample (0, 0) on the
    ReLU kink), a random point, a point where a hidden unit is inactive on some samples, one
    where a unit is inactive on every sample, and one near saturation (|Z2| up to 15) with
    misclassified samples, where ½·MSE's gradient vanishes and the cross-entropy's does not.

    They are drawn once per (seed, data) and cached.
    """
    X, Y = _data(X, Y)
    key = (seed, X.shape, X.tobytes(), Y.tobytes())
    if key not in _POINTS_CACHE:
        if len(_POINTS_CACHE) > 256:
            _POINTS_CACHE.clear()
        _POINTS_CACHE[key] = _draw_points(seed, X, Y)
    return [(name, {k: v.copy() for k, v in p.items()}) for name, p in _POINTS_CACHE[key]]


_POINTS_CACHE: dict[tuple[Any, ...], list[tuple[str, Params]]] = {}


def _draw_points(seed: int, X: np.ndarray, Y: np.ndarray) -> list[tuple[str, Params]]:
    rng = np.random.default_rng(seed)
    points: list[tuple[str, Params]] = [
        ("notebook-init", model.init_params(seed)),
        ("random", _clear_draw(rng, X)),
    ]

    partly = _clear_draw(rng, X)
    z = np.sort(partly["W1"][0] @ X)
    if z.size > 1 and np.max(np.diff(z)) > 0.04:
        k = int(np.argmax(np.diff(z)))
        # The threshold halfway across the widest gap: unit 0 is off on some samples, on on others.
        partly["b1"][0, 0] = -(z[k] + z[k + 1]) / 2
        points.append(("partly-inactive", partly))

    dead = _clear_draw(rng, X)
    dead["b1"][1, 0] = -0.5 - np.max(dead["W1"][1] @ X)
    if np.max(dead["W1"][0] @ X + dead["b1"][0, 0]) <= 0:
        dead["b1"][0, 0] = 0.5 - np.max(dead["W1"][0] @ X)
    points.append(("dead-unit", dead))

    sat = _clear_draw(rng, X)
    _, _, Z2 = _network(_flatten(sat), X, model.ACTIVATIONS["relu"][0])
    scale = 15.0 / max(float(np.max(np.abs(Z2))), 1e-12)
    if np.all((Z2 > 0) == (Y[0] > 0.5)):
        scale = -scale  # every sample right: flip the output layer so that all are confidently wrong
    sat["W2"] = sat["W2"] * scale
    sat["b2"] = sat["b2"] * scale
    points.append(("near-saturated", sat))
    return points


# --- calling the user's code (nothing it raises escapes but an interrupt) -------------------
#
# Whatever the user's code raises is its failure, reported as the `raised` verdict:
# BaseException included, so that a sys.exit(0) in a backward can never end a check as if it
# had passed. Only KeyboardInterrupt (Ctrl-C, or the command's SIGTERM) goes through.


def _where(exc: BaseException) -> str:
    """The innermost frame of the traceback that is neither NumPy's nor this module's."""
    skip = (os.path.dirname(np.__file__), __file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}" + (f": {f.line.strip()}" if f.line else "")


def _raised(exc: BaseException, function: str) -> dict[str, Any]:
    return {"function": function, "type": type(exc).__name__, "message": str(exc), "where": _where(exc)}


_EXACT_SHAPES = tuple(SHAPES.values())
_PARAM_SHAPES = tuple(model.PARAM_SHAPES.values())
_F64 = np.dtype(np.float64)
_RTOL64 = np.full(N_PARAMS, TOLERANCES[np.dtype(np.float64)][0])
_ATOL64 = np.full(N_PARAMS, TOLERANCES[np.dtype(np.float64)][1])


def _read_gradients(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | dict[str, Any]:
    """``(values (9,), rtol (9,), atol (9,))`` from a backward's result, or what is wrong with it.

    A shape is accepted when the notebook's in-place update ``b2 -= lr * db2`` would accept
    it (same size, broadcasting into the parameter's shape): a scalar ``db2`` is fine, a
    ``db1`` of shape (2,) is not (it would broadcast ``b1`` to (2, 2)).
    """
    if type(result) is dict:  # the usual case, quickly (an ABC isinstance check is slow)
        arrays = [result.get(key) for key in GRAD_KEYS]
        if _exactly(arrays, _EXACT_SHAPES):
            return np.concatenate(arrays, axis=None), _RTOL64, _ATOL64
    if not isinstance(result, (dict, Mapping)):
        return {"key": None, "got": type(result).__name__, "expected": "a dict with keys dW1, db1, dW2, db2"}
    values, rtol, atol = [], [], []
    for key in GRAD_KEYS:
        expected = SHAPES[key]
        if key not in result:
            return {"key": key, "got": "missing", "expected": expected}
        try:
            value = np.asarray(result[key])
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the user's object's own code (__getitem__, __array__)
            return {"key": key, "got": f"not an array ({type(exc).__name__}: {exc})", "expected": expected}
        if value.dtype.kind not in "fiub":
            return {"key": key, "got": f"dtype {value.dtype}", "expected": expected}
        try:
            fits = (
                value.size == math.prod(expected) and np.broadcast_shapes(value.shape, expected) == expected
            )
        except ValueError:
            fits = False
        if not fits:
            return {"key": key, "got": value.shape, "expected": expected}
        r, a = TOLERANCES.get(value.dtype, TOLERANCES[np.dtype(np.float64)])
        values.append(value.astype(np.float64).reshape(-1))
        rtol.append(np.full(value.size, r))
        atol.append(np.full(value.size, a))
    return np.concatenate(values), np.concatenate(rtol), np.concatenate(atol)


def _call(function: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, Any] | None]:
    """Call user code on private copies, so that it cannot corrupt the check.

    Arrays are copied here; parameter dicts must be fresh (see :func:`_fresh`). Callers run
    it under ``np.errstate(all="ignore")``: a warning is not an exception of the user's.
    """
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        return function(*copies), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return None, _raised(exc, getattr(function, "__name__", repr(function)))


def _fresh(theta: np.ndarray) -> Params:
    """A parameter dict of the caller's own, from flat vector(s)."""
    if theta.ndim > 1:
        return _unflatten(theta.copy())
    t = theta.copy()
    return {"W1": t[0:4].reshape(2, 2), "b1": t[4:6, None], "W2": t[None, 6:8], "b2": t[None, 8:9]}


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.log(p) - np.log1p(-p)


# --- kinks -----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Kinks:
    """Where each direction's perturbations meet a ReLU kink, and how it is judged."""

    method: np.ndarray  # (n, k) one of CENTRAL ... SKIPPED
    # The rest is None when no kink is within reach (method all CENTRAL).
    up: np.ndarray | None  # (n, k) the kink's unit turns on when moving right (right side: relu' = 1)
    on: np.ndarray | None  # (n, k, 2, m) Z1[u, s] is 0 (to round-off) and this direction moves it
    near: np.ndarray | None  # (n, k, 2, m) Z1[u, s] reaches 0 within two steps of this direction
    offset: np.ndarray | None  # (n, k, 2, m) how far along the direction Z1[u, s] reaches 0


_LAST_X: list[Any] = [None, 0.0]  # the last X's bytes and its largest |x|: X rarely changes
_ALL_CENTRAL: dict[tuple[int, int], np.ndarray] = {}  # read-only method arrays, by shape


def _no_kinks(n: int, k: int) -> _Kinks:
    """Central differences for all: the method array is shared, read-only."""
    if (n, k) not in _ALL_CENTRAL:
        _ALL_CENTRAL[n, k] = np.zeros((n, k), dtype=int)
        _ALL_CENTRAL[n, k].flags.writeable = False
    return _Kinks(_ALL_CENTRAL[n, k], None, None, None, None)


def _max_abs(X: np.ndarray) -> float:
    key = (X.shape, X.tobytes())
    if _LAST_X[0] != key:
        _LAST_X[:] = [key, float(np.abs(X).max())]
    return _LAST_X[1]


def _kink_reach(step: float, X: np.ndarray) -> float:
    """How far from 0 a Z1 may be and still be crossed by the +-2h perturbations of a check.

    A unit direction moves Z1[u, s] at most |x_s|_1 + 1 <= 2 max|X| + 1 per unit of step.
    """
    return 2 * step * (2 * _max_abs(X) + 1)


def _kinks(
    theta: np.ndarray,
    V: np.ndarray | None,
    X: np.ndarray,
    step: float,
    has_kink: bool,
    Z1: np.ndarray | None = None,
) -> _Kinks:
    """Find the kinks along each direction ``V`` (n, k, 9); None: along each element.

    ``Z1`` (n, 2, m) at the points ``theta`` (n, 9) is computed unless given.
    """
    n, k = theta.shape[0], N_PARAMS if V is None else V.shape[1]
    Z1 = _network(theta, X, np.abs)[0] if Z1 is None else Z1
    # The usual case, no Z1 within reach of the perturbations, needs nothing more.
    if not has_kink or np.abs(Z1).min() > _kink_reach(step, X):
        return _no_kinks(n, k)
    # Round-off of computing Z1: anything this close to 0 sits on the kink.
    p = _unflatten(theta)
    z_tol = 8 * np.finfo(np.float64).eps * (np.abs(p["W1"]) @ np.abs(X) + np.abs(p["b1"]))
    Z1, z_tol = Z1[:, None], z_tol[:, None]
    d = _unflatten(np.broadcast_to(np.eye(N_PARAMS), (n, k, N_PARAMS)) if V is None else V)
    # Z1 is linear in the parameters, so its rate along each direction is exact.
    rate = d["W1"] @ X + d["b1"]
    moves = (rate != 0) & has_kink
    on = moves & (np.abs(Z1) <= z_tol)
    offset = -Z1 / np.where(moves, rate, 1.0)
    near = moves & ~on & (np.abs(offset) <= 2 * step)
    left_bad = (near & (offset < 0)).any(axis=(2, 3))
    right_bad = (near & (offset > 0)).any(axis=(2, 3))
    on_any = on.any(axis=(2, 3))
    up = (on & (rate > 0)).any(axis=(2, 3))
    mixed = up & (on & (rate < 0)).any(axis=(2, 3))
    method = np.zeros((n, k), dtype=int)  # CENTRAL
    method[~on_any & right_bad & ~left_bad] = LEFT
    method[~on_any & left_bad & ~right_bad] = RIGHT
    method[on_any & ~left_bad & ~right_bad & ~mixed] = KINK
    method[(on_any & (left_bad | right_bad | mixed)) | (left_bad & right_bad)] = SKIPPED
    return _Kinks(method, up, on, near, offset)


# --- the report --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ElementCheck:
    """One row of the per-element table."""

    point: str
    labels: str  # the label layout, "(m,)" or "(1, m)"
    element: str  # "dW1[0, 1]", or "random direction" in fast mode
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    ok: bool
    method: str
    note: str


@dataclasses.dataclass(frozen=True, eq=False)
class GradcheckReport:
    """What :func:`check_backward` found: a verdict, its evidence and a table per element.

    ``analytic``, ``numeric``, ``rtol``, ``atol`` and ``passed`` have shape
    (points, layouts, elements); ``method`` (points, elements) says how each element was
    judged (see :data:`METHODS`). ``str(report)`` is the explanation a learner can act on.
    """

    verdict: str
    details: dict[str, Any]
    points: tuple[str, ...]
    layouts: tuple[str, ...]
    elements: tuple[str, ...]
    params: tuple[Params, ...]
    X: np.ndarray  # the data checked: (2, m)
    Y: np.ndarray  # (1, m)
    analytic: np.ndarray
    numeric: np.ndarray
    rtol: np.ndarray
    atol: np.ndarray
    passed: np.ndarray
    method: np.ndarray
    computed: np.ndarray  # (points, layouts): the backward returned values of the right shapes
    kinks: tuple[dict[str, Any], ...]
    convention: str | None
    loss: str
    fast: bool

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @cached_property
    def table(self) -> list[ElementCheck]:
        """Every (point, layout, element) check, in order."""
        notes = {(k["point"], k["element"]): k["note"] for k in self.kinks}
        rows = []
        for (i, point), (j, layout), (e, element) in itertools.product(
            enumerate(self.points), enumerate(self.layouts), enumerate(self.elements)
        ):
            a, n = float(self.analytic[i, j, e]), float(self.numeric[i, j, e])
            err = abs(a - n)
            scale = max(abs(a), abs(n))
            rel = err / scale if scale > 0 else (0.0 if err == 0 else math.nan)
            note = notes.get((point, element), "")
            if not self.computed[i, j]:
                note = "no value: the backward raised or returned a wrong shape"
            elif not math.isfinite(a):
                note = "the backward returned a non-finite value"
            rows.append(
                ElementCheck(
                    point,
                    layout,
                    element,
                    a,
                    n,
                    err,
                    rel,
                    bool(self.passed[i, j, e]),
                    METHODS[self.method[i, e]],
                    note,
                )
            )
        return rows

    def worst(self, count: int | None = None, *, merge_layouts: bool = False) -> list[ElementCheck]:
        """Table rows, failures first and the largest error relative to its tolerance first.

        ``merge_layouts``: a row that is the same for every label layout is shown once, its
        ``labels`` reading "all".
        """

        def badness(row: ElementCheck) -> tuple[bool, bool, float]:
            i, j, e = (
                self.points.index(row.point),
                self.layouts.index(row.labels),
                self.elements.index(row.element),
            )
            bound = self.atol[i, j, e] + self.rtol[i, j, e] * abs(row.numeric)
            ratio = row.abs_error / bound if bound > 0 else math.inf
            # Failures first; among them values the backward did return before those it did not.
            return (row.ok, not self.computed[i, j], -(ratio if not math.isnan(ratio) else math.inf))

        rows = sorted(self.table, key=badness)
        if merge_layouts and len(self.layouts) > 1:
            groups: dict[tuple[Any, ...], list[ElementCheck]] = {}
            for row in rows:
                key = (row.point, row.element, repr(row.analytic), repr(row.numeric), row.ok, row.note)
                groups.setdefault(key, []).append(row)
            rows = [
                dataclasses.replace(group[0], labels="all") if len(group) == len(self.layouts) else row
                for group in groups.values()
                for row in (group[:1] if len(group) == len(self.layouts) else group)
            ]
        return rows if count is None else rows[:count]

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (NaN and infinities become None)."""
        return _jsonable(
            {
                "ok": self.ok,
                "verdict": self.verdict,
                "details": self.details,
                "explanation": str(self),
                "loss": self.loss,
                "convention": self.convention,
                "fast": self.fast,
                "points": [
                    {"name": name, "params": {k: v.tolist() for k, v in p.items()}}
                    for name, p in zip(self.points, self.params, strict=True)
                ],
                "layouts": list(self.layouts),
                "X": self.X,
                "Y": self.Y,
                "kinks": list(self.kinks),
                "elements": [dataclasses.asdict(row) for row in self.table],
            }
        )

    def explain(self, rows: int = 8) -> str:
        """The verdict, why, what to fix, and the ``rows`` worst elements."""
        return _explain(self, rows)

    def format_table(self, count: int | None = None) -> str:
        """The per-element table as aligned text, worst first (``count`` rows, default all);
        rows alike for every label layout are shown once."""
        return format_table(self.worst(count, merge_layouts=True))

    def __str__(self) -> str:
        return _explain(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


# --- the check ---------------------------------------------------------------------------------


def _resolve_forward(forward: Any) -> tuple[str | None, Callable[..., Any] | None]:
    if forward is None:
        return "relu", None
    if isinstance(forward, str):
        if forward not in model.ACTIVATIONS:
            raise ValueError(
                f"Unknown forward {forward!r}: expected an activation ({', '.join(model.ACTIVATIONS)}) "
                "or a callable forward(X, parameters) -> (A1, A2)."
            )
        return forward, None
    if callable(forward):
        return None, forward
    raise TypeError(f"forward: expected an activation name or a callable, got {type(forward).__name__}.")


def _resolve_loss(loss: Any) -> tuple[Loss | None, Callable[..., Any] | None]:
    if loss is None:
        return LOSSES["bce"], None
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(
                f"Unknown loss {loss!r}: expected one of {', '.join(LOSSES)} "
                "or a callable loss(Y, A2) -> float."
            )
        return LOSSES[loss], None
    if callable(loss):
        return None, loss
    raise TypeError(f"loss: expected a loss name or a callable, got {type(loss).__name__}.")


def _given_points(params: Any) -> list[tuple[str, Params]]:
    if isinstance(params, Mapping):
        return [("given", _unflatten(_flatten(params)))]
    if isinstance(params, Sequence) and not isinstance(params, str) and len(params) > 0:
        return [(f"given-{i}", _unflatten(_flatten(p, f"params[{i}]"))) for i, p in enumerate(params)]
    raise TypeError(f"params: expected a dict or a non-empty list of dicts, got {type(params).__name__}.")


def _fast_directions(theta: np.ndarray, kinks: _Kinks, seed: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """One random unit direction per point over the kink-free elements, plus each element a
    kink touches on its own (a random direction through a kink would mix conventions)."""
    n = theta.shape[0]
    touched = (kinks.method != CENTRAL).any(axis=0)
    v = np.random.default_rng(seed).standard_normal((n, N_PARAMS))
    v[:, touched] = 0.0
    eye = np.eye(N_PARAMS)[touched]
    rows = [np.broadcast_to(eye, (n, *eye.shape))]
    labels = [ELEMENT_NAMES[i] for i in np.flatnonzero(touched)]
    if not touched.all():
        rows.insert(0, (v / np.linalg.norm(v, axis=1, keepdims=True))[:, None, :])
        labels.insert(0, "random direction")
    return np.concatenate(rows, axis=1), tuple(labels)


_OFFSETS: dict[float, np.ndarray] = {}
_CENTRAL_WEIGHTS: dict[tuple[float, int, bool], np.ndarray] = {}


def _central_weights(step: float, m: int, mean: bool) -> np.ndarray:
    """(rows * m, 9): per-sample loss terms of the rows of :func:`_offsets`, times this, give
    the central differences ``(L(+h) - L(-h)) / 2h`` of each element, in one product."""
    key = (step, m, mean)
    if key not in _CENTRAL_WEIGHTS:
        rows = np.zeros((1 + 4 * N_PARAMS, N_PARAMS))
        rows[1 + N_PARAMS : 1 + 2 * N_PARAMS] = -np.eye(N_PARAMS) / (2 * step)  # the -h rows
        rows[1 + 2 * N_PARAMS : 1 + 3 * N_PARAMS] = np.eye(N_PARAMS) / (2 * step)  # the +h rows
        _CENTRAL_WEIGHTS[key] = np.kron(rows, np.full((m, 1), 1.0 / m if mean else 1.0))
    return _CENTRAL_WEIGHTS[key]


def _offsets(step: float) -> np.ndarray:
    """Rows to add to a parameter vector: 0, then every element at -2h, -h, +h, +2h."""
    if step not in _OFFSETS:
        shifts = (-2 * step, -step, step, 2 * step)
        _OFFSETS[step] = np.concatenate([np.zeros((1, N_PARAMS)), *(s * np.eye(N_PARAMS) for s in shifts)])
    return _OFFSETS[step]


@dataclasses.dataclass
class _Measured:
    """Analytic and numeric values side by side, judged, before any verdict.

    Arrays are (points, layouts, k) or (points, k) with k the directions checked: the 9
    parameter elements, or in fast mode a random direction plus the elements kinks touch.
    Some come back in a shape that only broadcasts to that; :meth:`full` expands them.
    """

    elements: tuple[str, ...]
    kinks: _Kinks
    central: np.ndarray
    left: np.ndarray | None  # one-sided differences, computed only when a kink is within reach
    right: np.ndarray | None
    analytic: np.ndarray  # per element, (points, layouts, 9)
    directional: np.ndarray  # along each direction, (points, layouts, k)
    rtol: np.ndarray  # may be (9,) or (points, 1, k): anything that broadcasts
    atol: np.ndarray
    status: np.ndarray | None  # (points, layouts): "ok", "raised" or "shape"; None: all "ok"
    problems: dict[tuple[int, int], dict[str, Any]]
    method: np.ndarray
    expected: np.ndarray  # may be (points, 1, k)
    passed: np.ndarray
    relu0: np.ndarray | None
    # The batched forward's values, (points, rows, ...): row 0 is each point's centre.
    # None with a user-supplied forward.
    Z1_rows: np.ndarray | None
    A1_rows: np.ndarray | None
    Z2_rows: np.ndarray | None
    failure: dict[str, Any] | None = None  # the user's forward or loss raised

    def full(self) -> _Measured:
        """The same measurement with every array expanded to its full shape."""
        shape = self.passed.shape
        status = np.full(shape[:2], "ok", dtype=object) if self.status is None else self.status
        return dataclasses.replace(
            self,
            rtol=np.broadcast_to(self.rtol, shape).copy(),
            atol=np.broadcast_to(self.atol, shape).copy(),
            expected=np.broadcast_to(self.expected, shape).copy(),
            status=status,
        )


def _measure(
    backward: Backward,
    theta: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    layouts: tuple[str, ...] = LAYOUTS,
    *,
    activation: str | None = "relu",
    loss: Loss | None = LOSSES["bce"],
    user_forward: Callable[..., Any] | None = None,
    user_loss: Callable[..., Any] | None = None,
    step: float = STEP,
    fast: bool = False,
    seed: int = 0,
) -> _Measured:
    """The core of a check: numeric differences, the backward's values, and the comparison.

    ``theta`` (points, 9) holds flat parameter vectors; ``Y`` is (1, m).
    """
    with np.errstate(all="ignore"):
        n = theta.shape[0]
        has_kink = activation is None or _KINK_SLOPES[activation] is not None
        # Every perturbed parameter vector of the check in one stack: per point its centre,
        # then each direction at -2h, -h, +h, +2h (the outer two serve one-sided differences
        # near a kink); one forward pass evaluates all of them.
        if fast:
            V, elements = _fast_directions(theta, _kinks(theta, None, X, step, has_kink), seed)
            shifts = np.array((-2 * step, -step, step, 2 * step))
            moved = theta[:, None, None, :] + shifts[None, :, None, None] * V[:, None, :, :]
            batch = np.concatenate([theta[:, None, :], moved.reshape(n, -1, N_PARAMS)], axis=1)
        else:
            V, elements = None, ELEMENT_NAMES
            batch = theta[:, None, :] + _offsets(step)
        k = len(elements)

        Z1 = A1 = Z2 = losses = None
        failure = None
        if user_forward is None:
            Z1, A1, Z2 = _network(batch, X, model.ACTIVATIONS[activation or "relu"][0])
            kinks = _kinks(theta, V, X, step, has_kink, Z1[:, 0])
            A1c, A2c = A1[:, 0], 1.0 / (1.0 + np.exp(-Z2[:, 0, None, :]))  # exp overflow gives 0, rightly
            if user_loss is None:
                assert loss is not None
                terms = loss.terms(Z2, Y[0])
                if V is None and kinks.up is None:
                    # The usual case: every central difference in one product with the terms.
                    central = terms.reshape(n, -1) @ _central_weights(step, X.shape[1], loss.mean)
                else:
                    losses = terms @ loss.weights(X.shape[1])
            else:
                losses, failure = _user_losses(user_loss, 1.0 / (1.0 + np.exp(-Z2)), Y)
        else:
            kinks = _kinks(theta, V, X, step, has_kink)
            A1c, A2c, probs, failure = _user_forward(user_forward, batch, X)
            if failure is None:
                if user_loss is None:
                    assert loss is not None
                    losses = loss.value(_logit(probs), Y[0])
                else:
                    losses, failure = _user_losses(user_loss, probs, Y)
        if failure is not None:
            nan = np.full((n, len(layouts), k), np.nan)
            return _Measured(
                elements, kinks, nan[:, 0], None, None, np.full((n, len(layouts), N_PARAMS), np.nan), nan,
                nan, nan, np.full((n, len(layouts)), "raised", dtype=object), {}, kinks.method, nan,
                np.zeros(nan.shape, dtype=bool), None, None, None, None, failure,
            )  # fmt: skip

        half = 0.5 / step
        left = right = None
        if losses is not None:
            # Rows of each point: centre, then k at -2h, k at -h, k at +h, k at +2h.
            central = (losses[:, 1 + 2 * k : 1 + 3 * k] - losses[:, 1 + k : 1 + 2 * k]) * half
        if kinks.up is not None:
            L0 = losses[:, :1]
            Lm2, Lm1, Lp1, Lp2 = (losses[:, 1 + i * k : 1 + (i + 1) * k] for i in range(4))
            left = (3 * L0 - 4 * Lm1 + Lm2) * half  # second order, from the left only
            right = (-3 * L0 + 4 * Lp1 - Lp2) * half

        analytic, rtol, atol = [], [], []
        status = None
        problems: dict[tuple[int, int], dict[str, Any]] = {}
        labels = [Y[0] if layout == "(m,)" else Y for layout in layouts]
        for i in range(n):
            for j, Yj in enumerate(labels):
                result, raised = _call(backward, _fresh(theta[i]), A1c[i], A2c[i], X, Yj)
                read = raised if raised is not None else _read_gradients(result)
                if isinstance(read, dict):
                    if status is None:
                        status = np.full((n, len(layouts)), "ok", dtype=object)
                    status[i, j] = "raised" if raised is not None else "shape"
                    problems[i, j] = read
                    read = (_NAN9, _RTOL64, _ATOL64)
                analytic.append(read[0])
                rtol.append(read[1])
                atol.append(read[2])
        shape = (n, len(layouts), N_PARAMS)
        a = (analytic[0] if len(analytic) == 1 else np.array(analytic)).reshape(shape)
        # float64 results share one tolerance vector, which broadcasts.
        r = _RTOL64 if all(x is _RTOL64 for x in rtol) else np.array(rtol).reshape(shape)
        at = _ATOL64 if all(x is _ATOL64 for x in atol) else np.array(atol).reshape(shape)
        if V is None:
            a_dir, r_dir, at_dir = a, r, at
        else:
            # Judge each direction with the loosest tolerance of the elements it mixes.
            a_dir = np.einsum("plj,pkj->plk", a, V)
            r_dir = np.repeat(np.broadcast_to(r, shape).max(axis=2, keepdims=True), k, axis=2)
            at_dir = np.repeat(np.broadcast_to(at, shape).max(axis=2, keepdims=True), k, axis=2)
        method, expected, passed, relu0 = _compare(a_dir, r_dir, at_dir, central, left, right, kinks)
        if status is not None:
            passed &= (status == "ok")[:, :, None]
    return _Measured(
        elements, kinks, central, left, right, a, a_dir, r_dir, at_dir, status, problems,
        method, expected, passed, relu0, Z1, A1, Z2,
    )  # fmt: skip


_NAN9 = np.full(N_PARAMS, np.nan)
_NAN9.flags.writeable = False


@dataclasses.dataclass(frozen=True)
class _Evidence:
    """Everything the verdict is drawn from (full mode: one column per parameter element)."""

    names: tuple[str, ...]
    layouts: tuple[str, ...]
    X: np.ndarray
    Y: np.ndarray  # (1, m)
    theta: np.ndarray  # (n, 9)
    measured: _Measured
    loss: Loss | None  # None: a user-supplied loss (no candidate explanations)
    act_grad: Callable[[np.ndarray], np.ndarray] | None  # None: a user-supplied forward

    @cached_property
    def judged(self) -> np.ndarray:
        """(n, 9): elements with a single right value (not on a kink, not skipped)."""
        return np.isin(self.measured.method, (CENTRAL, LEFT, RIGHT, SMOOTH_KINK))

    def __getattr__(self, name: str) -> Any:
        # analytic, expected, passed, rtol, atol, method, status, problems
        return getattr(self.measured, name)

    @property
    def Z1(self) -> np.ndarray | None:
        """(n, 2, m) at each point."""
        rows = self.measured.Z1_rows
        return None if rows is None else rows[:, 0]

    @property
    def A1(self) -> np.ndarray | None:
        rows = self.measured.A1_rows
        return None if rows is None else rows[:, 0]

    @property
    def Z2(self) -> np.ndarray | None:
        """(n, m) at each point."""
        rows = self.measured.Z2_rows
        return None if rows is None else rows[:, 0]


def check_backward(
    backward: Backward,
    *,
    forward: str | Callable[..., Any] | None = None,
    loss: str | Callable[..., Any] | None = None,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    seed: int = 0,
    layouts: Sequence[str] = LAYOUTS,
    fast: bool = False,
    step: float = STEP,
) -> GradcheckReport:
    """Check ``backward(parameters, A1, A2, X, Y) -> {"dW1", "db1", "dW2", "db2"}``.

    ``forward``: the hidden activation of the 2-2-1 network (``"relu"``, the default,
    ``"leaky_relu"``, ``"sigmoid"``), or your own ``forward(X, parameters) -> (A1, A2)`` in
    the notebook's signature. ``loss``: the loss the backward should differentiate, a name
    from :data:`LOSSES` (default ``"bce"``, the mean binary cross-entropy the notebook
    reports) or ``loss(Y, A2) -> float`` (called with ``Y`` of shape (m,), as the notebook
    does). ``params``: one parameter dict or a list of them (default: :func:`default_points`
    drawn with ``seed``). ``X`` (2, m) and ``Y`` default to the XOR data. ``layouts``: the
    label layouts to call the backward with. ``fast``: check one random direction per point
    (two losses instead of one per element); if that disagrees, the full check runs and
    explains. Exceptions raised by your functions are reported, never propagated.
    """
    if not callable(backward):
        raise TypeError(f"backward must be callable, got {type(backward).__name__}.")
    X, Y = _data(X, Y)
    activation, user_forward = _resolve_forward(forward)
    loss_obj, user_loss = _resolve_loss(loss)
    layouts = tuple(layouts)
    unknown = [layout for layout in layouts if layout not in LAYOUTS]
    if unknown or not layouts:
        raise ValueError(f"Unknown label layout {unknown[0] if unknown else '(none)'!r}: expected {LAYOUTS}.")
    if not (isinstance(step, (int, float)) and 0 < step < 1e-2):
        raise ValueError(f"step: got {step!r}, expected a number in (0, 0.01).")
    points = default_points(seed, X, Y) if params is None else _given_points(params)
    names = tuple(name for name, _ in points)
    theta = np.stack([_flatten(p) for _, p in points])

    got = _measure(
        backward, theta, X, Y, layouts, activation=activation, loss=loss_obj, user_forward=user_forward,
        user_loss=user_loss, step=step, fast=fast, seed=seed,
    ).full()  # fmt: skip
    if fast and not got.passed.all() and got.failure is None:
        report = check_backward(
            backward,
            forward=forward,
            loss=loss,
            params=params,
            X=X,
            Y=Y,
            seed=seed,
            layouts=layouts,
            step=step,
        )
        report.details["fast_mode"] = "a random-direction check disagreed, so the full check ran"
        return report

    convention = None
    if got.relu0 is not None:
        # Only layouts judged right everywhere say something about the convention.
        sound = got.passed.all(axis=(0, 2))[None, :, None]
        convention = _convention(got.relu0[got.passed & sound & (got.method == KINK)[:, None, :]], activation)
    if got.failure is not None:
        verdict, details = "raised", got.failure
    elif got.passed.all():
        verdict, details = "ok", ({"convention": convention} if convention else {})
    else:
        act_grad = model.ACTIVATIONS[activation][1] if activation and user_forward is None else None
        evidence = _Evidence(
            names, layouts, X, Y, theta, got, loss_obj if user_loss is None else None, act_grad
        )
        verdict, details = _verdict(evidence)
    return GradcheckReport(
        verdict=verdict,
        details=details,
        points=names,
        layouts=layouts,
        elements=got.elements,
        params=tuple(p for _, p in points),
        X=X,
        Y=Y,
        analytic=got.directional,
        numeric=got.expected,
        rtol=got.rtol,
        atol=got.atol,
        passed=got.passed,
        method=got.method,
        computed=got.status == "ok",
        kinks=tuple(_kink_records(got, names, X)) if got.failure is None else (),
        convention=convention,
        loss=loss_obj.label
        if user_loss is None
        else f"your loss {getattr(user_loss, '__name__', '')}".strip(),
        fast=fast,
    )


def _user_forward(
    forward: Callable[..., Any], batch: np.ndarray, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any] | None]:
    """Run a user's ``forward(X, parameters) -> (A1, A2)`` on every parameter vector.

    First as one batched call (works for forwards written with ``@`` and broadcasting); if
    that fails or gives the wrong shape, once per vector.
    """
    n, rows, _ = batch.shape
    m = X.shape[1]
    flat = batch.reshape(n * rows, N_PARAMS)
    out, failure = _call(forward, X, _fresh(flat))
    if failure is None:
        A1, A2 = _activations(out)
        if A1 is not None and A1.shape == (n * rows, 2, m) and A2.shape == (n * rows, 1, m):
            return (
                A1.reshape(n, rows, 2, m)[:, 0],
                A2.reshape(n, rows, 1, m)[:, 0],
                A2.reshape(n, rows, m),
                None,
            )
    A1s, A2s = [], []
    for theta in flat:
        out, failure = _call(forward, X, _fresh(theta))
        if failure is not None:
            return batch, batch, batch, failure
        A1, A2 = _activations(out)
        if A1 is None or A1.shape != (2, m) or A2.shape != (1, m):
            got = None if A1 is None else (A1.shape, A2.shape)
            return (
                batch,
                batch,
                batch,
                {
                    "function": getattr(forward, "__name__", "forward"),
                    "type": "ValueError",
                    "message": f"forward returned {got}, expected (A1, A2) of shapes (2, {m}) and (1, {m})",
                    "where": "",
                },
            )
        A1s.append(A1)
        A2s.append(A2)
    A1 = np.asarray(A1s).reshape(n, rows, 2, m)
    A2 = np.asarray(A2s).reshape(n, rows, 1, m)
    return A1[:, 0], A2[:, 0], A2[:, :, 0, :], None


def _activations(out: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    try:
        A1, A2 = (out["A1"], out["A2"]) if isinstance(out, Mapping) else out
        return np.asarray(A1, dtype=np.float64), np.asarray(A2, dtype=np.float64)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None, None


def _user_losses(
    loss: Callable[..., Any], probs: np.ndarray, Y: np.ndarray
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """A user's ``loss(Y, A2)`` at every parameter vector (one call each, Y of shape (m,))."""
    values = np.empty(probs.shape[:2])
    for idx in np.ndindex(values.shape):
        out, failure = _call(loss, Y[0], probs[idx][None, :])
        if failure is not None:
            return values, failure
        try:
            values[idx] = float(out)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return values, _raised(exc, getattr(loss, "__name__", "loss"))
    return values, None


def _compare(
    a: np.ndarray,
    rtol: np.ndarray,
    atol: np.ndarray,
    central: np.ndarray,
    left: np.ndarray | None,
    right: np.ndarray | None,
    kinks: _Kinks,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Judge each analytic value; returns ``(method, expected, passed, relu0)``.

    ``expected`` may come back as (n, 1, k), to broadcast over the layouts. Run under
    ``np.errstate(all="ignore")``: the analytic values may be NaN or inf.

    On a kink the loss has a left and a right derivative; the backward's value is accepted
    anywhere between them (any subgradient) and ``relu0`` says where: 0 at the side where the
    unit is off (relu'(0) = 0), 1 where it is on, 0.5 halfway (what central differences give).
    """
    if kinks.up is None:  # no kink within reach: central differences everywhere
        expected = central[:, None, :]  # broadcasts over the layouts
        return kinks.method, expected, np.abs(a - expected) <= atol + rtol * np.abs(expected), None
    assert kinks.up is not None and left is not None and right is not None
    method = kinks.method.copy()
    high = np.where(kinks.up, right, left)
    low = np.where(kinks.up, left, right)
    gap = high - low
    r64, a64 = TOLERANCES[np.dtype(np.float64)]
    # A kink the loss does not feel (the unit's outgoing weight is 0, say): an ordinary point.
    method[(method == KINK) & (np.abs(gap) <= a64 + r64 * np.maximum(np.abs(high), np.abs(low)))] = (
        SMOOTH_KINK
    )
    base = np.select(
        [method == LEFT, method == RIGHT, method == SMOOTH_KINK, method == SKIPPED],
        [left, right, (left + right) / 2, np.nan],
        central,
    )
    on_kink = np.broadcast_to((method == KINK)[:, None, :], a.shape)
    relu0 = np.where(on_kink, (a - low[:, None, :]) / np.where(on_kink, gap[:, None, :], 1.0), np.nan)
    projected = low[:, None, :] + np.clip(np.nan_to_num(relu0, nan=0.5), 0.0, 1.0) * gap[:, None, :]
    expected = np.where(on_kink, projected, base[:, None, :])
    passed = np.abs(a - expected) <= atol + rtol * np.abs(expected)
    skipped = np.broadcast_to((method == SKIPPED)[:, None, :], a.shape)
    passed = np.where(skipped, np.isfinite(a), passed)
    return method, expected, passed, relu0


def _convention(relu0: np.ndarray, activation: str | None) -> str | None:
    """Name the subgradient convention the backward follows on the kinks it met."""
    if relu0.size == 0:
        return None
    name = activation or "the activation"
    low, high = _KINK_SLOPES.get(activation or "relu") or (0.0, 1.0)
    known = {
        0.0: "like torch.nn.functional.relu and jax.nn.relu",
        0.5: "like central differences and jnp.maximum(z, 0)",
        1.0: "a mask taken from Z1 >= 0",
    }
    for c, like in known.items():
        if np.all(np.abs(relu0 - c) <= 0.05):
            return f"{name}'(0) = {low + c * (high - low):g} ({like})"
    values = ", ".join(f"{low + c * (high - low):.3g}" for c in np.unique(np.round(relu0, 3)))
    return f"no single {name}'(0): the kinks get {values}"


def _kink_records(got: _Measured, names: tuple[str, ...], X: np.ndarray) -> list[dict[str, Any]]:
    """One record per (point, element) whose perturbations meet a kink: which sample, which unit."""
    records = []
    kinks, method, elements, left, right, relu0 = (
        got.kinks,
        got.method,
        got.elements,
        got.left,
        got.right,
        got.relu0,
    )
    for i, e in zip(*np.nonzero(method != CENTRAL), strict=True):
        assert kinks.on is not None and kinks.near is not None and kinks.offset is not None
        assert left is not None and right is not None and relu0 is not None
        units, samples = np.nonzero(kinks.on[i, e] | kinks.near[i, e])
        where = "; ".join(
            f"sample {s} x=({', '.join(f'{x:g}' for x in X[:, s])}), unit {u}"
            for u, s in zip(units, samples, strict=True)
        )
        offsets = kinks.offset[i, e][kinks.near[i, e]]
        kind = "on" if kinks.on[i, e].any() else "near"
        if method[i, e] == KINK:
            c = [None if np.isnan(v) else round(float(v), 4) for v in relu0[i, :, e]]
            note = f"on the kink ({where}): left {left[i, e]:.6g}, right {right[i, e]:.6g}"
        elif method[i, e] == SMOOTH_KINK:
            c = []
            note = f"on a kink the loss does not feel ({where})"
        elif method[i, e] == SKIPPED:
            c = []
            note = f"kinks on both sides within two steps ({where}): not judged"
        else:
            c = []
            side = "left" if method[i, e] == LEFT else "right"
            note = f"a kink {float(np.min(np.abs(offsets))):.1e} away ({where}): one-sided from the {side}"
        records.append(
            {
                "point": names[i],
                "element": elements[e],
                "kind": kind,
                "samples": samples.tolist(),
                "units": units.tolist(),
                "left": float(left[i, e]),
                "right": float(right[i, e]),
                "relu0": c,
                "note": note,
            }
        )
    return records


# --- the verdict ---------------------------------------------------------------------------------


def _close(a: np.ndarray, ref: np.ndarray, rtol: np.ndarray, atol: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(a - ref) <= atol + rtol * np.abs(ref)))


def _fit(a: np.ndarray, ref: np.ndarray) -> float | None:
    """The least-squares factor k in a ≈ k * ref, or None when ref is (nearly) zero."""
    with np.errstate(all="ignore"):
        denom = float(np.sum(ref * ref))
        return float(np.sum(a * ref)) / denom if denom > 1e-24 else None


def _factor(k: float, m: int) -> tuple[float, str]:
    """A fitted factor, snapped to the value it most likely is, and what that value means."""
    named = [
        (float(m), "= m, the number of samples: the division by m is missing (the summed loss's gradient)"),
        (1.0 / m, "= 1/m: the gradient is divided by m once too often"),
        (-1.0, "a sign flip: A2 - Y written Y - A2, or the gradient of -loss"),
        (-float(m), "= -m: a sign flip and a missing division by m"),
        (2.0, "a factor 2 too many: the derivative of a square without its ½?"),
        (0.5, "half the gradient: a stray ½?"),
        (float(m * m), "= m²: m multiplied in where it should divide"),
    ]
    for value, meaning in named:
        if abs(k - value) <= _FACTOR_TOL * abs(value):
            return value, meaning
    return k, "a constant factor"


def _backprop(ev: _Evidence, dZ2: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Flat gradients (n, 9) for an upstream ``dZ2`` (n, m), through the right network."""
    assert ev.Z1 is not None and ev.A1 is not None and ev.act_grad is not None
    n = ev.theta.shape[0]
    W2 = _unflatten(ev.theta)["W2"]
    d2 = dZ2[:, None, :]
    dZ1 = (W2.swapaxes(1, 2) @ d2) * (ev.act_grad(ev.Z1) if mask is None else mask)
    parts = (dZ1 @ ev.X.T, dZ1.sum(axis=2), d2 @ ev.A1.swapaxes(1, 2), d2.sum(axis=2))
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1)


# Wrong backward passes a learner writes, as (name, what went wrong, how to build its gradient).
_CAUSES: tuple[tuple[str, str, Callable[[_Evidence], np.ndarray]], ...] = (
    (
        "activation-derivative-missing",
        "the hidden activation's derivative is missing (dZ1 = W2.T @ dZ2, as if relu' were 1 "
        "everywhere); it only shows where a hidden unit is inactive",
        lambda ev: _backprop(ev, ev.loss.grad(ev.Z2, ev.Y[0]), np.ones_like(ev.Z1)),  # type: ignore[union-attr]
    ),
    (
        "activation-output-as-derivative",
        "the hidden activation's output A1 is used as its derivative (dZ1 = W2.T @ dZ2 * A1 "
        "instead of * (Z1 > 0))",
        lambda ev: _backprop(ev, ev.loss.grad(ev.Z2, ev.Y[0]), ev.A1),  # type: ignore[union-attr]
    ),
    (
        "sigmoid-derivative-in-hidden-layer",
        "the hidden layer uses the sigmoid's derivative A1 * (1 - A1) instead of the ReLU's (Z1 > 0)",
        lambda ev: _backprop(ev, ev.loss.grad(ev.Z2, ev.Y[0]), ev.A1 * (1 - ev.A1)),  # type: ignore[union-attr]
    ),
    (
        "gradient-wrt-A2",
        "dZ2 is the gradient with respect to A2, not Z2: the sigmoid's derivative A2 * (1 - A2) "
        "is left out of the chain rule",
        lambda ev: _backprop(
            ev,
            ev.loss.grad(ev.Z2, ev.Y[0]) / (model.sigmoid(ev.Z2) * (1 - model.sigmoid(ev.Z2))),  # type: ignore[union-attr]
        ),
    ),
)


def _verdict(ev: _Evidence) -> tuple[str, dict[str, Any]]:
    subs = [_classify_layout(ev, j) for j in range(len(ev.layouts))]
    if len(subs) == 2 and _layouts_differ(ev):
        return "label-shape-dependent", _label_details(ev, subs)
    return next(sub for sub in subs if sub[0] != "ok")


def _classify_layout(ev: _Evidence, j: int) -> tuple[str, dict[str, Any]]:
    """The verdict for one label layout, over every point."""
    at = {"labels": ev.layouts[j]}
    for kind, verdict in (("raised", "raised"), ("shape", "shape-mismatch")):
        for i in np.flatnonzero(ev.status[:, j] == kind):
            return verdict, {**ev.problems[i, j], "point": ev.names[i], **at}
    if ev.passed[:, j].all():
        return "ok", {}
    a, e, J = ev.analytic[:, j], ev.expected[:, j], ev.judged
    rtol, atol = ev.rtol[:, j], ev.atol[:, j]
    if not np.isfinite(a).all():
        because = (
            "the backward returns NaN or inf: look for a 0/0, inf - inf, log(0), or a division by "
            "A2 * (1 - A2), which is 0 where the sigmoid saturates"
        )
        return "mismatch", {**_localise(ev, j), "cause": "not-finite", "because": because}
    k = _fit(a[J], e[J])
    if k is not None and abs(k - 1) > _FACTOR_TOL and _close(a[J], k * e[J], rtol[J], atol[J]):
        if _close(a, np.zeros_like(a), rtol, atol):
            return "mismatch", _localise(ev, j)
        factor, meaning = _factor(k, ev.X.shape[1])
        return "scaled", {"factor": factor, "fitted": k, "meaning": meaning}
    if ev.loss is not None and ev.act_grad is not None:
        for other in LOSSES.values():
            g = _backprop(ev, other.grad(ev.Z2, ev.Y[0]))
            if (
                other is not ev.loss
                and _close(a[J], g[J], rtol[J], atol[J])
                and not _close(e[J], g[J], rtol[J], atol[J])
            ):
                return "matches-other-loss", {
                    "loss": other.name,
                    "label": other.label,
                    "formula": other.formula,
                    "dZ2": other.dz2,
                    "expected_loss": ev.loss.name,
                    "expected_dZ2": ev.loss.dz2,
                }
        for name, text, build in _CAUSES:
            with np.errstate(all="ignore"):
                g = build(ev)
            if _close(a[J], g[J], rtol[J], atol[J]) and not _close(e[J], g[J], rtol[J], atol[J]):
                return "mismatch", {**_localise(ev, j), "cause": name, "because": text}
    return "mismatch", _localise(ev, j)


def _localise(ev: _Evidence, j: int) -> dict[str, Any]:
    """Which keys are wrong and how, and at which points the error shows."""
    a, e, ok, J = ev.analytic[:, j], ev.expected[:, j], ev.passed[:, j], ev.judged
    n = len(ev.names)
    keys: dict[str, str] = {}
    for g in GRAD_KEYS:
        cols = [c for c, key in enumerate(ELEMENT_KEYS) if key == g]
        ag, eg, Jg = a[:, cols], e[:, cols], J[:, cols]
        rt, at = ev.rtol[:, j][:, cols], ev.atol[:, j][:, cols]
        k = _fit(ag[Jg], eg[Jg]) if np.isfinite(ag).all() else None
        if ok[:, cols].all():
            keys[g] = "right"
        elif not np.isfinite(ag).all():
            keys[g] = "not finite (NaN or inf)"
        elif np.all(ag == 0):
            keys[g] = "zero everywhere"
        elif (ok[:, cols] | (ev.method[:, cols] == KINK)).all():
            keys[g] = "wrong only on the ReLU kink: the value lies outside the left and right derivatives"
        elif k is not None and abs(k - 1) > _FACTOR_TOL and _close(ag[Jg], k * eg[Jg], rt[Jg], at[Jg]):
            value, meaning = _factor(k, ev.X.shape[1])
            keys[g] = f"{value:.4g} x the right value ({meaning})"
        elif g == "dW1" and _close(
            ag.reshape(n, 2, 2), eg.reshape(n, 2, 2).swapaxes(1, 2), rt.reshape(n, 2, 2), at.reshape(n, 2, 2)
        ):
            keys[g] = "transposed (X @ dZ1.T instead of dZ1 @ X.T)"
        else:
            keys[g] = "wrong"
    wrong = [g for g in GRAD_KEYS if keys[g] != "right"]
    if set(wrong) == {"dW1", "db1"}:
        hint = (
            "dW2 and db2 are right, so dZ2 is right: the error is in the backward through the hidden "
            "layer (dZ1 = W2.T @ dZ2 * relu'(Z1), dW1 = dZ1 @ X.T, db1 = the sum of dZ1 over the samples)"
        )
    elif len(wrong) == len(GRAD_KEYS):
        hint = "every gradient is wrong: start with dZ2, which all of them depend on"
    elif wrong and all(g.startswith("db") for g in wrong):
        hint = "only bias gradients are wrong: sum dZ over the samples, np.sum(dZ, axis=1, keepdims=True)"
    else:
        right = ", ".join(g for g in GRAD_KEYS if g not in wrong) or "nothing"
        hint = f"{', '.join(wrong)} wrong; {right} right"
        if len(wrong) == 1:
            hint = f"only {wrong[0]} is wrong: check the line that computes it"
    failing = [ev.names[i] for i in range(n) if not ok[i].all()]
    return {"keys": keys, "wrong": wrong, "points": failing, "hint": hint}


def _layouts_differ(ev: _Evidence) -> bool:
    s0, s1 = ev.status[:, 0], ev.status[:, 1]
    if np.any(s0 != s1):
        return True
    ran = s0 == "ok"
    a0, a1 = ev.analytic[ran, 0], ev.analytic[ran, 1]
    if np.any(np.isfinite(a0) != np.isfinite(a1)):
        return True
    tol = np.maximum(ev.atol[ran, 0], ev.atol[ran, 1]) + np.maximum(
        ev.rtol[ran, 0], ev.rtol[ran, 1]
    ) * np.maximum(np.abs(a0), np.abs(a1))
    with np.errstate(all="ignore"):
        return bool(np.any(np.abs(a0 - a1) > tol))


def _label_details(ev: _Evidence, subs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    per_layout = {
        layout: {"verdict": v, "details": d} for layout, (v, d) in zip(ev.layouts, subs, strict=True)
    }
    failing = [layout for layout, (v, _) in zip(ev.layouts, subs, strict=True) if v != "ok"]
    cause = "the backward reads the label layout; normalise the labels first with Y = Y.reshape(1, -1)"
    if len(failing) == 1:
        bad = failing[0]
        verdict, d = per_layout[bad]["verdict"], per_layout[bad]["details"]
        if verdict == "scaled" and d["factor"] == ev.X.shape[1] and bad == "(1, m)":
            cause = (
                "m is taken from Y.shape[0] (or len(Y)), which is 1 for labels of shape (1, m), so the "
                "gradient comes out m times too large: take m from X.shape[1]"
            )
        elif verdict == "scaled":
            cause = f"with Y of shape {bad} the gradient is {d['factor']:.4g}x too large; {cause}"
        elif verdict == "raised":
            cause = f"with Y of shape {bad} the backward raises {d['type']}: {d['message']}; {cause}"
        elif verdict == "shape-mismatch":
            cause = (
                f"with Y of shape {bad}, {d['key']} has shape {d['got']} (expected {d['expected']}): "
                f"A2 (1, m) and Y broadcast into a larger array; {cause}"
            )
    return {"failing": failing, "layouts": per_layout, "likely_cause": cause}


# --- the explanation -------------------------------------------------------------------------------


def _headline(report: GradcheckReport) -> str:
    v, d = report.verdict, report.details
    where = f" (at point {d['point']}, Y of shape {d['labels']})" if "point" in d else ""
    if v == "ok":
        return (
            f"The backward matches the finite-difference gradient of {report.loss} everywhere it was checked."
        )
    if v == "matches-other-loss":
        return (
            f"The backward is the exact gradient of another loss: {d['label']}, {d['formula']}, whose "
            f"dZ2 is {d['dZ2']}. The loss checked is {report.loss}, whose dZ2 is {d['expected_dZ2']}.\n"
            f"Fix: compute dZ2 = {d['expected_dZ2']}"
            + (
                " (the sigmoid's derivative A2 * (1 - A2) cancels against the cross-entropy's; keeping "
                "it makes the gradient vanish wherever the sigmoid saturates)."
                if d["expected_loss"] == "bce"
                else "."
            )
        )
    if v == "scaled":
        return f"Every element is {d['factor']:.4g} x the right gradient ({d['meaning']})."
    if v == "shape-mismatch":
        if d["key"] is None:
            return f"The backward returned {d['got']}, expected {d['expected']}{where}."
        if d["got"] == "missing":
            return f"The result has no key {d['key']!r} (expected dW1, db1, dW2, db2){where}."
        tip = (
            " For a bias, sum over the samples: np.sum(dZ, axis=1, keepdims=True)."
            if d["key"][1] == "b"
            else ""
        )
        return (
            f"{d['key']} has shape {d['got']}, expected {d['expected']} (the shape of {d['key'][1:]}: "
            f"a gradient has its parameter's shape){where}.{tip}"
        )
    if v == "raised":
        at = f"\n  at {d['where']}" if d.get("where") else ""
        return f"{d['function']} raised {d['type']}: {d['message']}{where}{at}"
    if v == "label-shape-dependent":
        states = "; ".join(f"with Y of shape {layout}: {s['verdict']}" for layout, s in d["layouts"].items())
        return f"The result depends on the label layout ({states}).\nLikely cause: {d['likely_cause']}."
    keys = ", ".join(f"{g} {state}" for g, state in d["keys"].items())
    text = f"The backward disagrees with the finite-difference gradient: {keys}.\nWhere: {d['hint']}."
    if "because" in d:
        text += f"\nLikely cause: {d['because']}."
    if d["points"] and len(d["points"]) < len(report.points):
        text += f"\nIt shows only at {', '.join(d['points'])}: one point alone could have hidden it."
    return text


def _format_number(x: float) -> str:
    return f"{x: .6e}" if math.isfinite(x) else f" {x}"


def format_table(rows: Sequence[ElementCheck]) -> str:
    """The per-element table as aligned text."""
    header = ("point", "Y", "element", "analytic", "numeric", "abs err", "rel err", "", "method")
    body = [
        (
            r.point,
            r.labels,
            r.element,
            _format_number(r.analytic),
            _format_number(r.numeric),
            f"{r.abs_error:.1e}",
            f"{r.rel_error:.1e}",
            "ok" if r.ok else "FAIL",
            r.method + (f": {r.note}" if r.note else ""),
        )
        for r in rows
    ]
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in [header, *body]
    ).rstrip()


def _explain(report: GradcheckReport, rows: int = 8) -> str:
    total = report.passed.size
    failed = int((~report.passed).sum())
    lines = [f"{report.verdict}: {_headline(report)}"]
    if "fast_mode" in report.details:
        lines.append(f"(fast mode: {report.details['fast_mode']}.)")
    lines.append(
        f"Checked {len(report.points)} point(s) ({', '.join(report.points)}) x {len(report.layouts)} label "
        f"layout(s) ({', '.join(report.layouts)}) against {report.loss}: {failed} of {total} "
        f"{'directions' if report.fast else 'elements'} disagree."
    )
    for point in dict.fromkeys(k["point"] for k in report.kinks):
        records = [k for k in report.kinks if k["point"] == point]
        where: dict[int, set[int]] = {}
        for k in records:
            for s, u in zip(k["samples"], k["units"], strict=True):
                where.setdefault(s, set()).add(u)
        on = any(k["kind"] == "on" for k in records)
        samples = "; ".join(
            f"sample {s} (x = ({', '.join(f'{x:g}' for x in report.X[:, s])})), "
            f"unit{'s' if len(us) > 1 else ''} {', '.join(map(str, sorted(us)))}"
            for s, us in sorted(where.items())
        )
        lines.append(
            f"ReLU kink at {point}: Z1 {'= 0' if on else 'is within the step of 0'} for {samples}; "
            f"{', '.join(k['element'] for k in records)} judged by one-sided differences."
        )
    if report.convention:
        lines.append(f"On the kink the backward follows {report.convention}.")
    # Prose wrapped for a terminal; the table below keeps its own width.
    text = "\n".join(
        textwrap.fill(line, 100, subsequent_indent="  ") for part in lines for line in part.split("\n")
    )
    if rows > 0 and report.computed.any():
        text += "\n" + ("Worst elements:" if failed else "Largest errors:") + "\n" + report.format_table(rows)
    return text
