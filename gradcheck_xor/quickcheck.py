"""A one-point gradient check for inner loops: is this backward right at this point?

:func:`check_point` compares a backward pass with the loss's exact gradient, which central
finite differences confirm, at one parameter point and one label layout, and answers with
the numbers per element. It is what a property test calls for every generated point, or a
training loop every few hundred steps. It does not say *why* a backward is wrong:
:func:`gradcheck_xor.check_backward` does, over several points and label layouts.

Its judgement is the full check's at the same point and layout, the same tolerances, and
for any network but the notebook's it *is* the full check. For the notebook's 2-2-1 network,
called the notebook's way, it takes a quick path of tens of microseconds: the same central
differences of the same loss (to round-off: its forward pass is laid out differently), the
same exact gradient (summed in Python's floats, sample by sample), the same tolerances (the
floors of :func:`gradcheck_xor._exact.exact_gradients`), and where a perturbation reaches a
ReLU kink, the differences do not confirm the exact gradient, or the backward raises, it
hands over to the full check. What it saves is the full check's bookkeeping: it evaluates
only the 19 rows a central difference needs (the point, then each element at +h and -h), in
a dozen NumPy calls, and the floors only when a value is more than 1e-9 of its exact value
off (or when the result's tolerances are first read).
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import _html
from gradcheck_xor import network as nw
from gradcheck_xor._calling import bind
from gradcheck_xor._differences import STEP, first_layer_reach
from gradcheck_xor._exact import RTOL as _SHARP
from gradcheck_xor._exact import exact_gradients
from gradcheck_xor._losses import HIDDEN_FUNCTIONS
from gradcheck_xor._losses import terms as loss_terms
from gradcheck_xor._points import xor_data
from gradcheck_xor._reading import TOLERANCES, Read, read_gradients
from gradcheck_xor._setup import tolerance
from gradcheck_xor.gradcheck import check_backward, label_layouts

__all__ = ["PointCheck", "check_point"]

Backward = Callable[..., Any]


@dataclasses.dataclass(eq=False, slots=True, repr=False)
class PointCheck(_html.Displayed):
    """The result of :func:`check_point`; arrays are flat, in the order of ``elements``.
    In Jupyter it shows as its ``str`` and a table of the worst elements; its ``repr`` is one line."""

    ok: bool
    analytic: np.ndarray  # the backward's values (NaN where it gave none)
    numeric: np.ndarray  # the central difference (on a kink: the subgradient between the
    #                      one-sided differences nearest the analytic)
    passed: np.ndarray  # bool
    problem: dict[str, Any] | None  # the backward raised or returned the wrong shapes: what
    elements: tuple[str, ...]
    # The quick path leaves these for their first reading (:attr:`expected`, :attr:`tolerance`):
    # the exact gradient as a list, and where every value passed within 1e-9 of its exact
    # value, what _tolerances computes the tolerances from.
    _expected: np.ndarray | list[float]
    _tolerance: np.ndarray | tuple[Any, ...]

    def __bool__(self) -> bool:
        return self.ok

    @property
    def expected(self) -> np.ndarray:
        """What each element is judged against: the exact gradient the differences confirm
        (on a kink: the differences)."""
        if type(self._expected) is list:
            self._expected = np.array(self._expected)
        return self._expected

    @property
    def tolerance(self) -> np.ndarray:
        """The largest ``|analytic - expected|`` that passes, per element."""
        if type(self._tolerance) is tuple:
            self._tolerance = np.array(_tolerances(*self._tolerance))
        return self._tolerance

    @property
    def failing(self) -> list[str]:
        """The elements that disagree, e.g. ``["dW1[0, 1]", "db1[0, 0]"]``."""
        return [name for name, ok in zip(self.elements, self.passed.tolist(), strict=True) if not ok]

    def __str__(self) -> str:
        if self.problem is not None:
            return f"not ok: the backward {_describe(self.problem)}"
        if self.ok:
            return f"ok: all {len(self.elements)} elements agree with the exact gradient and its differences"
        rows = [
            f"  {name}: analytic {a:.6e}, expected {e:.6e} (within {t:.1e})"
            for name, a, e, t, ok in zip(
                self.elements, self.analytic, self.expected, self.tolerance, self.passed, strict=True
            )
            if not ok
        ]
        return "\n".join([f"not ok: {len(rows)} of {len(self.elements)} elements disagree", *rows])

    def __repr__(self) -> str:
        if self.problem is not None:
            what = f"raised {self.problem['type']}" if "type" in self.problem else "returned wrong shapes"
            return f"<PointCheck not ok: the backward {what}>"
        state = "ok" if self.ok else "not ok"
        return f"<PointCheck {state}: {len(self.failing)} of {len(self.elements)} elements disagree>"

    def _repr_html_(self) -> str:
        verdict = "ok" if self.ok else "not ok"
        if self.problem is not None:  # no values to show: what went wrong is the whole story
            return _html.report(
                "check_point", verdict, False, [("", f"The backward {_describe(self.problem)}.")]
            )
        cause = (
            f"{len(self.failing)} of {len(self.elements)} elements disagree with the exact gradient "
            "and its differences."
        )
        with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf; a zero tolerance
            error = np.abs(self.analytic - self.expected)
            ratio = np.nan_to_num(error / self.tolerance, nan=np.inf)
        order = np.lexsort((-ratio, self.passed))[:_HTML_ROWS]  # failures first, then by error / tolerance
        rows = [
            (
                self.elements[i],
                f"{self.analytic[i]:.6e}",
                f"{self.expected[i]:.6e}",
                f"{error[i]:.1e}",
                f"{self.tolerance[i]:.1e}",
                "ok" if self.passed[i] else "FAIL",
            )
            for i in order
        ]
        header = ("element", "analytic", "expected", "abs err", "tol", "")
        caption = "Largest errors" if self.ok else "Worst elements"
        table = _html.table(header, rows, f"{caption} (of {len(self.elements)})")
        return _html.report("check_point", verdict, self.ok, [("", cause)], [table])


_HTML_ROWS = 8  # the worst few in a notebook cell; str() lists every failing element


def _describe(problem: dict[str, Any]) -> str:
    if "type" in problem:
        return f"raised {problem['type']}: {problem['message']}"
    return f"returned {problem['key'] or 'its result'}: got {problem['got']}, expected {problem['expected']}"


# --- the quick path: the notebook's network ------------------------------------------------------
# Tiny arrays make NumPy's per-call cost the whole cost (a few thousand instructions, whatever
# the size): the check is laid out to take few calls, with everything that depends only on the
# step and the data computed once per data set, and with Python's own objects where they are
# quicker for nine numbers.

_XOR = nw.XOR
_KEYS = _XOR.keys
_SHAPES = tuple(_XOR.param_shapes.values())
_NAMES = nw.element_names(_XOR)
_PARAMS_OF = operator.itemgetter(*_KEYS)
_GRADS_OF = operator.itemgetter(*_XOR.grad_keys)
_NOTEBOOK = ("params", "A1", "A2", "X", "Y")
_F64 = np.dtype(np.float64)
_ONE = np.ones(1).tobytes()
_P = _XOR.n_params
_ROWS = 2 * _P + 1  # the point, then each element at +h, then each at -h
_RTOL, _ATOL = TOLERANCES[_F64]
_RELU = HIDDEN_FUNCTIONS["relu"][0]
_UNGIVEN = (None, None)  # no rtol, no atol
_PASSED = np.ones(_P, dtype=bool)
_UNITS = np.ones(3)
# |theta|_1 (1 + max|X|) below this bounds every number of the quick path by 1e100, and
# their products by 1e200: nothing overflows.
_LARGE = 1e100
_SAMPLES = 64  # more samples than this: the full check's arrays beat a loop over the samples
_EPS = float(np.finfo(np.float64).eps)
_DEFAULT_X, _DEFAULT_Y = xor_data(_XOR)  # never handed out: the backward gets copies
_DEFAULT_BYTES = (_DEFAULT_X.tobytes(), _DEFAULT_Y.tobytes())


def _flat(arrays: tuple[Any, ...], end: bytes = b"") -> np.ndarray | None:
    """Four float64 ndarrays of the parameters' shapes (the usual case; None for anything
    else), flat, then the float64s ``end`` holds, in a new writable array (their bytes,
    joined: one NumPy call)."""
    a, b, c, d = arrays
    if (
        type(a) is type(b) is type(c) is type(d) is np.ndarray
        and a.dtype is b.dtype is c.dtype is d.dtype is _F64
        and (a.shape, b.shape, c.shape, d.shape) == _SHAPES
    ):
        return np.frombuffer(bytearray(b"".join((a.tobytes(), b.tobytes(), c.tobytes(), d.tobytes(), end))))
    return None


@lru_cache(maxsize=8)
def _constants(step: float, shape: tuple[int, int], x: bytes, y: bytes) -> tuple[Any, ...]:
    """``affine`` (10, 2m + 6·19m), ``differences``, ``reach``, ``scale``, ``weighted`` and
    ``data`` for one data set and step.

    Every number of the 19-row forward pass that comes before an activation is an affine
    function of the parameters, so one product ``(theta, 1) @ affine`` gives them all:

    - the point's Z1 (unit, sample): for the kink test and the backward's A1;
    - each row's Z1 (unit, row, sample), then a unit that is always 1 (the bias's input);
    - each row's output weights [W2, b2] (unit, row, sample).

    The coefficients of Z1 are read off the network's own forward pass at each unit
    parameter vector (Z1 is linear in W1 and b1). A perturbation enters Z1 as h * x rather
    than through theta + h: the same difference, exactly h apart. ``reach`` is how far from
    0 a perturbation can move a Z1, ``scale`` is 1 + max|X|, ``weighted`` what the exact
    gradient reads of each sample, ``data`` the data set itself.

    The loss is its terms summed over the outputs and samples and divided by the loss's
    normaliser, so ``terms @ central`` (19m, 9) gives the nine central differences
    (L(+h) - L(-h)) / 2h in one product. The mean BCE's terms, (1 - y) softplus(z) +
    y softplus(-z) (:func:`gradcheck_xor._losses.terms`), are softplus(z) - y z:
    ``differences`` is ``(central, -labelled)``, where ``labelled`` is ``central`` times each
    row's labels, so that ``(softplus(Z2), Z2) @ differences`` takes one softplus, not two.
    """
    X = np.frombuffer(x).reshape(shape)
    m, P = shape[1], _P
    basis = np.eye(P)
    design = np.stack([nw.forward(_XOR, nw.unflatten(_XOR, e), X)["Z1"] for e in basis])  # (9, 2, m)
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
    affine = np.concatenate([a.reshape(-1, P + 1) for a in (point_z1, rows_z1, rows_out)])
    central = np.repeat(elements[:, None, :] / (2 * step * _XOR.spec.normaliser(1, m)), m, axis=1)
    central = central.reshape(-1, P)
    Yv = np.frombuffer(y)
    differences = np.concatenate([central, -central * np.tile(Yv, _ROWS)[:, None]])
    # (10, k) rather than (k, 10): NumPy's vector-matrix product is quicker this way
    scale = 1.0 + float(np.abs(X).max(initial=0.0))
    # Per sample, what the exact gradient reads: x, y / m and (1 - y) / m.
    points = zip(X[0].tolist(), X[1].tolist(), Yv.tolist(), strict=True)
    weighted = tuple((x0, x1, yv / m, (1.0 - yv) / m) for x0, x1, yv in points)
    data = (X, Yv.reshape(1, m))  # read-only: they stay the data the result was judged on
    return affine.T.copy(), differences, first_layer_reach(X, step), scale, weighted, data


def _exact(
    theta: list[float],
    z1: list[float],
    z2: list[float],
    weighted: tuple[tuple[float, ...], ...],
    reach: float,
) -> tuple[list[float], list[float]] | None:
    """The exact gradient of the mean BCE at the point, and A2, from the point's Z1
    (unit-major) and Z2, in Python's floats: a few numbers a sample, each sum of a gradient
    element one local variable (W2's weight comes out of the sums of the hidden layer's).
    ``weighted`` holds each sample's x_0, x_1, y / m and (1 - y) / m. None where a Z1 lies
    within ``reach`` of the kink, where a perturbation may cross it."""
    m = len(weighted)
    g6 = g7 = g8 = p0 = p1 = p4 = r2 = r3 = r5 = 0.0
    A2 = []
    exp = math.exp
    for (xa, xb, ym, nym), za, zb, z in zip(weighted, z1[:m], z1[m:], z2, strict=True):
        # dZ2 = ((1 - y) A - y (1 - A)) / m, with A = sigmoid(z) and 1 - A as _losses has them
        if z >= 0:
            e = exp(-z)
            d = 1.0 + e
            A = 1.0 / d
            dz = nym * A - ym * (e / d)
        else:
            e = exp(z)
            d = 1.0 + e
            A = e / d
            dz = nym * A - ym / d
        A2.append(A)
        g8 += dz
        if za > reach:
            g6 += dz * za
            p0 += dz * xa
            p1 += dz * xb
            p4 += dz
        elif za >= -reach:
            return None
        if zb > reach:
            g7 += dz * zb
            r2 += dz * xa
            r3 += dz * xb
            r5 += dz
        elif zb >= -reach:
            return None
    v0, v1 = theta[6], theta[7]
    return [v0 * p0, v0 * p1, v1 * r2, v1 * r3, v0 * p4, v1 * r5, g6, g7, g8], A2


def _tolerances(
    point: np.ndarray,
    data: tuple[np.ndarray, np.ndarray],
    exact: list[float],
    given: tuple[float | None, float | None],
) -> list[float]:
    """Each element's tolerance, composed as the full check composes it
    (:func:`gradcheck_xor._judging.judge_point`): the caller's atol or the element's floor
    (:func:`gradcheck_xor._exact.exact_gradients`), plus the caller's rtol or 1e-9 times
    ``|exact|``. ``point`` is (theta, 1)."""
    rtol, atol = given
    if atol is None:
        with np.errstate(all="ignore"):  # as the full check computes them
            trace = diff.Trace.of(_XOR, nw.unflatten(_XOR, point[:_P]), *data)
            floors = exact_gradients([trace])[1][0].tolist()
    else:
        floors = [atol] * _P
    r = _SHARP if rtol is None else rtol
    return [f + r * abs(e) for f, e in zip(floors, exact, strict=True)]


def _quick(
    backward: Backward,
    params: Mapping[str, Any],
    X: np.ndarray,
    Y: np.ndarray,
    labels: str,
    step: float,
    given: tuple[float | None, float | None],
) -> PointCheck | None:
    """The quick path's judgement, or None where it hands over to the full check."""
    try:
        arrays = _PARAMS_OF(params)
    except Exception:  # not a dict of the four arrays: the full check says what is wrong
        return None
    point = _flat(arrays, _ONE)  # (theta, 1)
    if point is None:
        return None
    m = X.shape[1]
    if m > _SAMPLES:
        return None
    n = _ROWS * m
    raw = _DEFAULT_BYTES if X is _DEFAULT_X and Y is _DEFAULT_Y else (X.tobytes(), Y.tobytes())
    affine, differences, reach, scale, weighted, data = _constants(step, X.shape, *raw)
    # The quick path runs outside np.errstate (which slows every NumPy call made under it,
    # the backward's included), so it takes only points whose numbers cannot overflow: a
    # NaN or inf parameter fails this test too.
    theta = point.tolist()
    if not sum(map(abs, theta)) * scale < _LARGE:
        return None
    # The point's Z1 (2m), every row's Z1 and a unit of ones (3n), every row's [W2, b2] (3n)
    forward = np.dot(point, affine)
    hidden = _RELU(forward[: 2 * m + 3 * n])  # relu(Z1): the point's (its A1), then every row's
    # Z2 of every row (19m): the sum over the two units and the bias's input of weight * input,
    # written beside its softplus, so that the nine differences are one product.
    both = np.empty(2 * n)
    Z2 = np.dot(_UNITS, (hidden[2 * m :] * forward[2 * m + 3 * n :]).reshape(3, n), out=both[n:])
    np.logaddexp(0.0, Z2, out=both[:n])
    numeric = np.dot(both, differences)
    # The exact gradient, and A2 = sigmoid(Z2) (1, m) for the backward; None on a kink.
    found = _exact(theta, forward[: 2 * m].tolist(), Z2[:m].tolist(), weighted, reach)
    if found is None:
        return None
    exact, A2 = found
    W1, b1, W2, b2 = arrays  # copies: the backward may change what it is given
    copies = {"W1": W1.copy(), "b1": b1.copy(), "W2": W2.copy(), "b2": b2.copy()}
    labelled = Y.copy() if labels == "(1, m)" else Y[0].copy()
    try:
        result = backward(copies, hidden[: 2 * m].reshape(2, m), np.array([A2]), X.copy(), labelled)
    except KeyboardInterrupt:
        raise
    except BaseException:
        # The full check calls it again, under np.errstate(all="ignore"): a floating-point
        # warning that the caller's filters turn into an error is not the backward's
        # failure. Anything else it raises (sys.exit included) the full check reports.
        return None
    tolerances = (point, data, exact, given)  # what _tolerances needs, when it is needed
    try:
        analytic = _flat(_GRADS_OF(result))
    except Exception:  # not a dict of the four arrays: read_gradients says what is wrong
        analytic = None
    if analytic is None:
        rounding = 2 * _EPS * abs(float(loss_terms(_XOR.spec, "sigmoid", Z2[None, :m], Y).sum()) / m) / step
        return _judge_read(result, exact, numeric, tolerances, rounding)
    # float64 gradients: nine comparisons are quicker in Python. Where the differences do not
    # confirm the exact gradient (they always should), the full check judges.
    values = analytic.tolist()
    close = _close(values, exact, numeric.tolist())
    if close is None:
        return None
    if close and given is _UNGIVEN:
        return PointCheck(True, analytic, numeric, _PASSED.copy(), None, _NAMES, exact, tolerances)
    tolerance = _tolerances(*tolerances)
    ok = [abs(a - e) <= t for a, e, t in zip(values, exact, tolerance, strict=True)]
    return PointCheck(
        False not in ok, analytic, numeric, np.array(ok), None, _NAMES, exact, np.array(tolerance)
    )


def _close(values: list[float], exact: list[float], numeric: list[float]) -> bool | None:
    """Whether every value lies within 1e-9 of its exact value, and so passes whatever its
    floor (which is then left for later); None where the differences do not confirm the
    exact gradient."""
    rtol, atol, sharp = _RTOL, _ATOL, _SHARP
    close = True
    for a, e, v in zip(values, exact, numeric, strict=True):
        if not abs(e - v) <= atol + rtol * abs(v):
            return None
        if not abs(a - e) <= sharp * abs(e):
            close = False
    return close


def _judge_read(
    result: Any,
    exact: list[float],
    numeric: np.ndarray,
    tolerances: tuple[Any, ...],
    rounding: float,
) -> PointCheck | None:
    """The judgement of a result that is not four float64 arrays of the parameters' shapes
    (None where the differences do not confirm the exact gradient):
    :func:`gradcheck_xor._reading.read_gradients` reads it, or says what is wrong with it.
    Float64 values are judged within :func:`_tolerances`; others within their dtype's
    tolerances, the differences' ``rounding`` added (unless the caller gave some)."""
    if _close(exact, exact, numeric.tolist()) is None:  # the differences do not confirm it
        return None
    expected = np.array(exact)
    sharp_tolerance = np.array(_tolerances(*tolerances))
    given = tolerances[-1]
    with np.errstate(all="ignore"):  # the values may be NaN or inf
        read = read_gradients(result, _XOR)
        if not isinstance(read, Read):
            nan = np.full(_P, np.nan)
            return PointCheck(
                False, nan, numeric, np.zeros(_P, bool), read, _NAMES, expected, sharp_tolerance
            )
        # Other dtypes keep their own tolerances, where the caller gave none.
        rtol = read.rtol if given[0] is None else given[0]
        atol = read.atol + rounding if given[1] is None else given[1]
        tolerance = np.where(read.sharp, sharp_tolerance, atol + rtol * np.abs(expected))
        passed = np.abs(read.values - expected) <= tolerance
    return PointCheck(bool(passed.all()), read.values, numeric, passed, None, _NAMES, expected, tolerance)


def _quick_callable(backward: Backward) -> bool:
    try:
        return _notebooks(backward)
    except TypeError:  # an unhashable callable, or one the full check refuses with its message
        return False


@lru_cache(maxsize=64)
def _notebooks(backward: Backward) -> bool:
    """Whether the oracle calls ``backward`` the notebook's way, ``(parameters, A1, A2, X, Y)``:
    read off its signature once per function (which costs a fifth of the quick path)."""
    binding = bind(backward, _XOR)
    return binding.positional == _NOTEBOOK and not binding.keyword


def check_point(
    backward: Backward,
    params: Mapping[str, Any],
    X: Any = None,
    Y: Any = None,
    *,
    labels: str | None = None,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | None = None,
    layout: str | None = None,
    call: Callable[..., Any] | None = None,
    step: float = STEP,
    rtol: float | None = None,
    atol: float | None = None,
) -> PointCheck:
    """Check ``backward`` at ``params``, for the label layout ``labels`` (default: the
    labels' 2-D form, ``"(1, m)"`` for the notebook's network).

    ``X`` and ``Y`` default to the XOR data; the other options are those of
    :func:`gradcheck_xor.check_backward` (``rtol`` and ``atol`` included). Exceptions from
    ``backward`` are caught and reported in ``problem``. Raises ValueError for unusable
    ``params``, data, ``labels`` or tolerances.

    The quick path calls the backward under the caller's NumPy error state (``np.errstate``
    slows every NumPy call made under it); if it raises, the point goes to the full check,
    which calls it again with floating-point warnings ignored, so a warning that the
    caller's filters turn into an error is not taken for the backward's failure.
    """
    given = _UNGIVEN if rtol is None and atol is None else (tolerance("rtol", rtol), tolerance("atol", atol))
    quick = (
        call is None
        and hidden in (None, "relu")
        and output in (None, "sigmoid")
        and loss in (None, "bce")
        and layout in (None, "columns")
        and labels in (None, "(m,)", "(1, m)")
        and isinstance(step, float)
        and 0 < step < 1e-2
    )
    if quick:
        if X is None and Y is None:
            X_, Y_ = _DEFAULT_X, _DEFAULT_Y
        else:
            try:
                X_, Y_ = nw.as_data(_XOR, X, Y)
            except nw.NetworkError:
                X_ = Y_ = None  # the full check says what is wrong
        if X_ is not None and _quick_callable(backward):
            found = _quick(backward, params, X_, Y_, labels or "(1, m)", step, given)
            if found is not None:
                return found
    options = {"hidden": hidden, "output": output, "loss": loss, "layout": layout, "call": call, "step": step}
    options.update(rtol=rtol, atol=atol)
    if labels is None:
        net = nw.describe(params, X, hidden=hidden, output=output, loss=loss, layout=layout)
        data = xor_data(net) if X is None and Y is None else (X, Y)
        labels = list(label_layouts(net, data[1]))[-1]
    report = check_backward(backward, params, X, Y, layouts=(labels,), **options)  # type: ignore[arg-type]
    computed = bool(report.computed[0, 0])
    problem = None if computed else {k: v for k, v in report.details.items() if k not in ("point", "labels")}
    passed = report.passed[0, 0].copy()
    expected = report.expected[0, 0].copy()
    return PointCheck(
        computed and bool(passed.all()),
        report.analytic[0, 0].copy(),
        report.numeric[0, 0].copy(),
        passed,
        problem,
        report.elements,
        expected,
        report.atol[0, 0] + report.rtol[0, 0] * np.abs(expected),
    )
