"""The gradient oracle: check a hand-written backward pass, or a training step, and say *why*
it is wrong.

:func:`check_backward` calls a backward pass at several parameter points and for each label
layout the network's labels come in, and compares what it returns with central finite
differences of the loss, in float64, element by element; :func:`check_step` does the same
with a training step, through its update. The network is any fully connected one
(:mod:`gradcheck_xor.network`), the notebook's 2-2-1 XOR network by default.

The pieces, one module each: the default points (``_points``), calling the code under check
and reading its gradients (``_calling``), the numeric differences and their kinks
(``_differences``), the verdicts (``_verdicts``) and the report (:mod:`gradcheck_xor.report`).
This module joins them: it resolves the options, measures, judges each element, and draws
the verdict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._calling import (
    TOLERANCES,
    Read,
    UnusableTargetError,
    arguments,
    bind,
    call,
    forward_values,
    raised,
    read_gradients,
)
from gradcheck_xor._differences import METHODS, STEP, numeric_gradient
from gradcheck_xor._points import default_points, xor_data
from gradcheck_xor._verdicts import VERDICTS, Evidence, loss_label, verdict
from gradcheck_xor.report import ElementCheck, GradcheckReport

__all__ = [
    "METHODS",
    "STEP",
    "TOLERANCES",
    "VERDICTS",
    "ElementCheck",
    "GradcheckReport",
    "UnusableTargetError",
    "check_backward",
    "check_step",
    "default_points",
    "label_layouts",
    "numeric_gradient",
]

Params = dict[str, np.ndarray]
Backward = Callable[..., Any]
ParamsArg = Mapping[str, Any] | Sequence[Mapping[str, Any]] | nw.Network | None
_F64 = np.dtype(np.float64)


# --- what is checked: the network, its points, its data ----------------------------------------


def label_layouts(net: nw.Network, Y: Any) -> dict[str, np.ndarray]:
    """The label layouts a backward of this network is called with, and the labels ``Y`` (as
    given) in each. Labels for one output come as (m,) and in the layout's 2-D form, (1, m) or
    (m, 1): code meets both, and code that reads the layout gets one of them wrong. A
    softmax's labels come in the one form given, integer classes (m,) or one-hot (or a
    distribution per sample) in 2-D, since code written for the one cannot take the other;
    other labels in 2-D."""
    n, cols = net.n_out, net.layout == "columns"
    full = f"({n}, m)" if cols else f"(m, {n})"
    given = np.asarray(Y)
    if n == 1:
        flat = given.astype(np.float64).reshape(-1)
        return {"(m,)": flat, full: flat.reshape((1, -1) if cols else (-1, 1))}
    if net.output == "softmax" and given.ndim == 1:
        return {"(m,)": given.astype(np.int64)}
    return {full: given.astype(np.float64)}


class _UserCodeError(Exception):
    """A forward or loss of the user's raised: the check's verdict is ``raised``."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record["message"])
        self.record = record


@dataclasses.dataclass(frozen=True, eq=False)
class _Setup:
    """Everything a check needs before it calls any code of the user's."""

    net: nw.Network
    names: tuple[str, ...]
    points: tuple[Params, ...]  # the caller's keys and layout, float64 copies
    X: np.ndarray  # the network's layout
    Y: np.ndarray  # 2-D, the network's layout
    labels: dict[str, np.ndarray]  # Y as handed to the code, per label layout checked
    step: float
    losses: Callable[[np.ndarray], np.ndarray] | None  # a forward or loss of the user's
    loss: str  # what the check differentiates, in words
    own_loss: bool

    @property
    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        return nw.columns(self.net, self.X, self.Y)


def _network(params: ParamsArg, X: Any, options: dict[str, Any]) -> nw.Network:
    if isinstance(params, nw.Network):
        given = {k: v for k, v in options.items() if v is not None}
        return dataclasses.replace(params, **given) if given else params
    if params is None:
        loss, output = options["loss"], options["output"]
        if output is None:
            output = nw.LOSS_CATALOGUE[loss].outputs[0] if loss in nw.LOSS_CATALOGUE else "sigmoid"
        layout = options["layout"] or ("rows" if X is not None and np.shape(X)[0] != 2 else "columns")
        return nw.Network.from_widths(
            (2, 2, 1), hidden=options["hidden"] or "relu", output=output, loss=loss, layout=layout
        )
    first = params if isinstance(params, Mapping) else params[0] if _is_list(params) else params
    try:
        return nw.describe(first, X, **options)  # type: ignore[arg-type]
    except nw.NetworkError:
        if X is not None or options["layout"] is not None:
            raise
        try:  # square weights and the default data: the notebook's layout
            return nw.describe(first, X, **{**options, "layout": "columns"})  # type: ignore[arg-type]
        except nw.NetworkError:
            pass
        raise


def _is_list(params: Any) -> bool:
    return isinstance(params, Sequence) and not isinstance(params, str) and len(params) > 0


def _points(
    net: nw.Network, params: ParamsArg, X: np.ndarray, Y: np.ndarray, seed: int
) -> list[tuple[str, Params]]:
    if params is None or isinstance(params, nw.Network):
        return default_points(seed, X, Y, network=net)
    if isinstance(params, Mapping):
        given = [("given", params, "params")]
    elif _is_list(params):
        given = [(f"given-{i}", p, f"params[{i}]") for i, p in enumerate(params)]
    else:
        raise TypeError(f"params: expected a dict or a non-empty list of dicts, got {type(params).__name__}.")
    points = []
    for name, p, where in given:
        try:
            nw.layers(net, p)
        except nw.NetworkError as exc:
            raise nw.NetworkError(f"{where}: {exc}" if where != "params" else str(exc)) from None
        points.append((name, {key: np.array(p[key], dtype=np.float64) for key in net.keys}))
    return points


def _setup(
    params: ParamsArg,
    X: Any,
    Y: Any,
    *,
    hidden: str | None,
    output: str | None,
    loss: str | Callable[..., Any] | None,
    layout: str | None,
    forward: str | Callable[..., Any] | None,
    seed: int,
    layouts: Sequence[str] | None,
    step: float,
) -> _Setup:
    if isinstance(forward, str):
        if hidden is not None and hidden != forward:
            raise ValueError(f"forward={forward!r} and hidden={hidden!r}: give the hidden activation once.")
        hidden, forward = forward, None
    elif forward is not None and not callable(forward):
        raise TypeError(f"forward: expected an activation name or a callable, got {type(forward).__name__}.")
    if loss is not None and not isinstance(loss, str) and not callable(loss):
        raise TypeError(f"loss: expected a loss name or a callable, got {type(loss).__name__}.")
    user_loss = loss if callable(loss) else None
    options = {"hidden": hidden, "output": output, "loss": None if user_loss else loss, "layout": layout}
    net = _network(params, X, options)
    if (X is None) != (Y is None):
        raise ValueError(f"{'Y' if Y is None else 'X'} is missing: give X and Y together, or neither (XOR).")
    if X is None:
        if net.widths[0] != 2 or net.n_out != 1:
            raise ValueError(f"X and Y are needed for the {net}: the XOR data has 2 inputs and 1 output.")
        X, Y = xor_data(net)
    given = Y
    X, Y = (np.array(a, dtype=np.float64) for a in nw.as_data(net, X, Y))
    if not (isinstance(step, (int, float)) and 0 < step < 1e-2):
        raise ValueError(f"step: got {step!r}, expected a number in (0, 0.01).")
    every = label_layouts(net, given)
    chosen = tuple(every) if layouts is None else tuple(layouts)
    unknown = [name for name in chosen if name not in every]
    if unknown or not chosen:
        raise ValueError(
            f"Unknown label layout {unknown[0] if unknown else '(none)'!r}: expected {tuple(every)}."
        )
    points = _points(net, params, X, Y, seed)
    labels = {name: every[name] for name in chosen}
    losses = None
    if forward is not None or user_loss is not None:
        losses = _user_losses(net, X, Y, labels[chosen[0]], forward, user_loss)
    text = loss_label(net) if user_loss is None else f"your loss {getattr(user_loss, '__name__', '')}".strip()
    return _Setup(
        net,
        tuple(name for name, _ in points),
        tuple(p for _, p in points),
        X,
        Y,
        labels,
        float(step),
        losses,
        text,
        forward is None and user_loss is None,
    )


# --- a forward or a loss of the user's ------------------------------------------------------


def _output(out: Any, net: nw.Network) -> np.ndarray:
    """The output activation in what a forward returned: ``A{L}`` of a dict, the last item of
    a tuple (``(A1, A2)``), or the array itself."""
    try:
        if isinstance(out, Mapping):
            out = out[f"A{net.depth}"]
        elif isinstance(out, (tuple, list)):
            out = out[-1]
        return np.asarray(out, dtype=np.float64)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return np.full(0, np.nan)


def _logits(net: nw.Network, A: np.ndarray) -> np.ndarray:
    # The output layer's pre-activation, back from its output: the losses are written from it.
    if net.output == "sigmoid":
        return np.log(A) - np.log1p(-A)
    return np.log(A) if net.output == "softmax" else A


def _user_losses(
    net: nw.Network,
    X: np.ndarray,
    Y: np.ndarray,
    Y_given: np.ndarray,
    forward: Callable[..., Any] | None,
    loss: Callable[..., Any] | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The loss of flat parameter vectors (r, n_params) by a forward and/or loss of the user's.

    A forward ``forward(X, parameters)`` is called once with parameters stacked along a
    leading axis (which works for forwards written with ``@`` and broadcasting), else once
    per vector; a loss ``loss(Y, A_L)`` once per vector, with the labels as the first label
    layout has them."""
    cols = net.layout == "columns"
    full = Y.shape

    def outputs(thetas: np.ndarray) -> np.ndarray:
        r = thetas.shape[0]
        if forward is None:  # a loss of the user's on the network's own output
            return np.stack([nw.forward(net, nw.unflatten(net, t), X)[f"A{net.depth}"] for t in thetas])
        out, failure = call(forward, X.copy(), {k: v.copy() for k, v in nw.unflatten(net, thetas).items()})
        if failure is None:
            A = _output(out, net)
            if A.shape == (r, *full):
                return A
        As = []
        for theta in thetas:
            out, failure = call(forward, X.copy(), {k: v.copy() for k, v in nw.unflatten(net, theta).items()})
            if failure is not None:
                raise _UserCodeError(failure)
            A = _output(out, net)
            if A.shape != full:
                message = f"forward returned an output of shape {A.shape}, expected {full}"
                name = getattr(forward, "__name__", "forward")
                raise _UserCodeError(
                    {"function": name, "type": "ValueError", "message": message, "where": ""}
                )
            As.append(A)
        return np.stack(As)

    def losses(thetas: np.ndarray) -> np.ndarray:
        A = outputs(thetas)
        if loss is None:
            Z = _logits(net, A)
            return nw.logit_losses(net, Z if cols else Z.swapaxes(-1, -2), Y if cols else Y.T)
        values = np.empty(len(A))
        for r, a in enumerate(A):
            out, failure = call(loss, Y_given.copy(), a.copy())
            if failure is None:
                try:
                    values[r] = float(out)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    failure = raised(exc, loss)
            if failure is not None:
                raise _UserCodeError(failure)
        return values

    return losses


# --- the analytic side: what the code under check returns ------------------------------------


@dataclasses.dataclass(frozen=True)
class _Analytic:
    """What the code returned, per (point, layout): values, tolerances, and what went wrong."""

    values: np.ndarray  # (points, layouts, n_params), NaN where it returned nothing usable
    rtol: np.ndarray
    atol: np.ndarray
    status: np.ndarray  # (points, layouts): "ok", "raised" or "shape"
    problems: dict[tuple[int, int], dict[str, Any]]


# (params, labels per layout) -> per layout, what was read, or what went wrong and its kind
Reader = Callable[[Params, list[np.ndarray]], list[tuple[Read | dict[str, Any], str]]]


def _analytic(setup: _Setup, read: Reader) -> _Analytic:
    n, lay, P = len(setup.points), len(setup.labels), setup.net.n_params
    values = np.full((n, lay, P), np.nan)
    rtol = np.full((n, lay, P), TOLERANCES[_F64][0])
    atol = np.full((n, lay, P), TOLERANCES[_F64][1])
    status = np.full((n, lay), "ok", dtype=object)
    problems: dict[tuple[int, int], dict[str, Any]] = {}
    for i, params in enumerate(setup.points):
        for j, (got, kind) in enumerate(read(params, list(setup.labels.values()))):
            if isinstance(got, Read):
                values[i, j], rtol[i, j], atol[i, j] = got.values, got.rtol, got.atol
            else:
                status[i, j], problems[i, j] = kind, got
    return _Analytic(values, rtol, atol, status, problems)


def _backward_reader(backward: Backward, call_with: Callable[..., Any] | None, setup: _Setup) -> Reader:
    net, X = setup.net, setup.X
    binding = None if call_with is not None else bind(backward, net)

    def once(
        params: Params, Y: np.ndarray, cache: dict[str, np.ndarray]
    ) -> tuple[Read | dict[str, Any], str]:
        if binding is None:
            fresh = {k: v.copy() for k, v in params.items()}
            result, failure = call(call_with, backward, fresh, X.copy(), Y.copy())  # type: ignore[arg-type]
            if failure is not None:
                failure["function"] = getattr(backward, "__name__", failure["function"])
        else:
            args, kwargs, _ = arguments(binding, net, params, X, Y, cache)
            result, failure = call(backward, *args, **kwargs)
        if failure is not None:
            return failure, "raised"
        return read_gradients(result, net), "shape"

    def read(params: Params, labels: list[np.ndarray]) -> list[tuple[Read | dict[str, Any], str]]:
        cache = {} if binding is None else forward_values(binding, net, params, X)
        return [once(params, Y, cache) for Y in labels]

    return read


def _step_reader(
    step: Callable[..., Any], call_with: Callable[..., Any] | None, setup: _Setup, lr: float
) -> Reader:
    net, X = setup.net, setup.X
    binding = None if call_with is not None else bind(step, net, step=True)

    def once(
        params: Params, Y: np.ndarray, cache: dict[str, np.ndarray]
    ) -> tuple[Read | dict[str, Any], str]:
        if binding is None:
            fresh = {k: v.copy() for k, v in params.items()}
            result, failure = call(call_with, step, fresh, X.copy(), Y.copy(), lr)  # type: ignore[arg-type]
            if failure is not None:
                failure["function"] = getattr(step, "__name__", failure["function"])
        else:
            args, kwargs, fresh = arguments(binding, net, params, X, Y, cache, lr)
            result, failure = call(step, *args, **kwargs)
        if failure is not None:
            return failure, "raised"
        new = _updated(result, fresh, net)
        if "got" in new:
            return dict(new), "shape"
        grads = {}
        for key in net.keys:
            try:
                grads[key] = (params[key] - np.asarray(new[key], dtype=np.float64)) / lr
            except (TypeError, ValueError) as exc:
                return {
                    "key": key,
                    "got": f"not an array of numbers ({exc})",
                    "expected": params[key].shape,
                }, "shape"
        got = read_gradients(grads, net)
        if isinstance(got, Read):
            # (old - new) / lr keeps the round-off of old and new, magnified by 1 / lr.
            scale = np.concatenate([np.abs(params[k]).ravel() for k in net.keys])
            got = dataclasses.replace(got, atol=got.atol + 4 * np.finfo(np.float64).eps * scale / lr)
        return got, "shape"

    def read(params: Params, labels: list[np.ndarray]) -> list[tuple[Read | dict[str, Any], str]]:
        cache = {} if binding is None else forward_values(binding, net, params, X)
        return [once(params, Y, cache) for Y in labels]

    return read


def _updated(result: Any, fresh: Params, net: nw.Network) -> Mapping[str, Any] | dict[str, Any]:
    """The parameters after a step: the dict it was given (updated in place, returned or not),
    a dict it returned, a ``(params, ...)`` tuple, or a sequence of arrays in parameter order."""
    if result is None or result is fresh:
        return fresh
    if isinstance(result, (tuple, list)) and result and isinstance(result[0], Mapping):
        result = result[0]
    if isinstance(result, Mapping):
        missing = [key for key in net.keys if key not in result]
        if missing:
            return {"key": missing[0], "got": "missing", "expected": net.param_shapes[missing[0]]}
        return result
    if isinstance(result, (tuple, list)) and len(result) == len(net.keys):
        return dict(zip(net.keys, result, strict=True))
    expected = f"None (an update in place), or the parameters: a dict with keys {', '.join(net.keys)}"
    return {"key": None, "got": type(result).__name__, "expected": expected}


# --- judging each element ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Judged:
    """One point's judgement: arrays (layouts, k)."""

    method: np.ndarray  # (k,)
    expected: np.ndarray
    passed: np.ndarray
    relu0: np.ndarray | None  # where the value sits between the one-sided derivatives


def _judge(a: np.ndarray, rtol: np.ndarray, atol: np.ndarray, d: diff.Differences) -> _Judged:
    """Judge each analytic value (layouts, k) against the differences of its point.

    On a kink the loss has a left and a right derivative; the backward's value is accepted
    anywhere between them (any subgradient) and ``relu0`` says where: 0 at the side where the
    unit is off (relu'(0) = 0), 1 where it is on, 0.5 halfway (what central differences give).
    Run under ``np.errstate(all="ignore")``: the analytic values may be NaN or inf."""
    method = d.kinks.method.copy()
    if not method.any():  # no kink within reach: central differences everywhere
        expected = np.broadcast_to(d.central, a.shape)
        return _Judged(method, expected, np.abs(a - expected) <= atol + rtol * np.abs(expected), None)
    up = d.kinks.up
    high, low = np.where(up, d.right, d.left), np.where(up, d.left, d.right)
    gap = high - low
    r64, a64 = TOLERANCES[_F64]
    # A kink the loss does not feel (the unit's outgoing weight is 0, say): an ordinary point.
    unfelt = (method == diff.KINK) & (np.abs(gap) <= a64 + r64 * np.maximum(np.abs(high), np.abs(low)))
    method[unfelt] = diff.SMOOTH_KINK
    base = np.select(
        [method == diff.LEFT, method == diff.RIGHT, method == diff.SMOOTH_KINK, method == diff.SKIPPED],
        [d.left, d.right, (d.left + d.right) / 2, np.full_like(d.central, np.nan)],
        d.central,
    )
    on_kink = np.broadcast_to(method == diff.KINK, a.shape)
    relu0 = np.where(on_kink, (a - low) / np.where(on_kink, gap, 1.0), np.nan)
    projected = low + np.clip(np.nan_to_num(relu0, nan=0.5), 0.0, 1.0) * gap
    expected = np.where(on_kink, projected, base)
    passed = np.abs(a - expected) <= atol + rtol * np.abs(expected)
    passed = np.where(np.broadcast_to(method == diff.SKIPPED, a.shape), np.isfinite(a), passed)
    return _Judged(method, expected, passed, relu0)


def _convention(relu0: np.ndarray, hidden: str) -> str | None:
    """Name the subgradient convention the backward follows on the kinks it met."""
    if relu0.size == 0:
        return None
    low, high = (nw.LEAKY_SLOPE if hidden == "leaky_relu" else 0.0), 1.0
    known = {
        0.0: "like torch.nn.functional.relu and jax.nn.relu",
        0.5: "like central differences and jnp.maximum(z, 0)",
        1.0: "a mask taken from Z >= 0",
    }
    for c, like in known.items():
        if np.all(np.abs(relu0 - c) <= 0.05):
            return f"{hidden}'(0) = {low + c * (high - low):g} ({like})"
    values = ", ".join(f"{low + c * (high - low):.3g}" for c in np.unique(np.round(relu0, 3)))
    return f"no single {hidden}'(0): the kinks get {values}"


def _kink_records(
    setup: _Setup, d: diff.Differences, judged: _Judged, point: str, elements: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One record per direction whose perturbations meet a kink: which layers, units, samples."""
    records = []
    net, X = setup.net, setup.X
    for kink in d.kinks.records:
        e, method = kink.direction, judged.method[kink.direction]
        seen = list(dict.fromkeys(zip(kink.layers, kink.units, kink.samples, strict=True)))
        where = "; ".join(
            f"sample {s}{_x(net, X, s)}, {'' if net.depth == 2 else f'layer {layer} '}unit {u}"
            for layer, u, s in seen[:6]
        ) + ("; ..." if len(seen) > 6 else "")
        relu0: list[float | None] = []
        if method == diff.KINK:
            assert judged.relu0 is not None
            relu0 = [None if np.isnan(v) else round(float(v), 4) for v in judged.relu0[:, e]]
            note = f"on the kink ({where}): left {d.left[e]:.6g}, right {d.right[e]:.6g}"
        elif method == diff.SMOOTH_KINK:
            note = f"on a kink the loss does not feel ({where})"
        elif method == diff.SKIPPED:
            note = f"kinks on both sides within two steps, or in two layers ({where}): not judged"
        else:
            side = "left" if method == diff.LEFT else "right"
            note = f"a kink {kink.offset:.1e} away ({where}): one-sided from the {side}"
        records.append(
            {
                "point": point,
                "element": elements[e],
                "kind": kink.kind,
                "layers": [layer for layer, _, _ in seen],
                "units": [u for _, u, _ in seen],
                "samples": [s for _, _, s in seen],
                "left": float(d.left[e]),
                "right": float(d.right[e]),
                "relu0": relu0,
                "note": note,
            }
        )
    return records


def _x(net: nw.Network, X: np.ndarray, s: int) -> str:
    x = X[:, s] if net.layout == "columns" else X[s]
    return f" x=({', '.join(f'{v:g}' for v in x)})" if x.size <= 4 else ""


# --- the check ---------------------------------------------------------------------------------


def _differences(
    setup: _Setup, fast: bool, seed: int
) -> tuple[list[diff.Differences], list[np.ndarray | None], tuple[str, ...]]:
    """Each point's differences, its directions (None: every element) and their names."""
    Xc, Yc = setup.columns
    traces = [diff.Trace.of(setup.net, p, Xc, Yc) for p in setup.points]
    elements = diff.Elements.of(setup.net)
    if not fast:
        names = nw.element_names(setup.net)
        return diff.per_element(traces, elements, setup.step, setup.losses), [None] * len(traces), names
    # One random unit direction per point over the kink-free elements, plus each element a
    # kink touches on its own (a random direction through a kink would mix conventions).
    kinked = [diff.kinks(t, elements, setup.step) for t in traces]
    touched = np.any([k.method != diff.CENTRAL for k in kinked], axis=0)
    P = setup.net.n_params
    v = np.random.default_rng(seed).standard_normal((len(traces), P))
    v[:, touched] = 0.0
    index = np.flatnonzero(touched)
    eye = np.zeros((index.size, P))
    eye[np.arange(index.size), index] = 1.0
    labels = [diff.element_name(setup.net, i) for i in index]
    random = not touched.all()
    if random:
        labels.insert(0, "random direction")
    out, directions = [], []
    for t, k, vi in zip(traces, kinked, v, strict=True):
        V = np.concatenate([(vi / np.linalg.norm(vi))[None], eye]) if random else eye
        position = {int(e): r + random for r, e in enumerate(index)}
        sub = diff.Kinks(
            np.concatenate([[diff.CENTRAL] * random, k.method[touched]]).astype(int),
            np.concatenate([[False] * random, k.up[touched]]).astype(bool),
            tuple(dataclasses.replace(r, direction=position[r.direction]) for r in k.records),
        )
        out.append(diff.along(t, V, sub, setup.step, setup.losses))
        directions.append(V)
    return out, directions, tuple(labels)


def _check(setup: _Setup, read: Reader, fast: bool, seed: int) -> GradcheckReport:
    with np.errstate(all="ignore"):
        try:
            diffs, directions, elements = _differences(setup, fast, seed)
            failure = None
        except _UserCodeError as exc:
            failure = exc.record
        got = _analytic(setup, read) if failure is None else None
        if failure is not None or got is None:
            return _failed(setup, failure or {}, fast)
        judged, analytic, rtol, atol = [], [], [], []
        for i, (d, V) in enumerate(zip(diffs, directions, strict=True)):
            a, r, at = got.values[i], got.rtol[i], got.atol[i]
            if V is not None:  # a direction is judged with the loosest tolerance of what it mixes
                a = a @ V.T
                r = np.repeat(r.max(axis=1, keepdims=True), len(V), axis=1)
                at = np.repeat(at.max(axis=1, keepdims=True), len(V), axis=1)
            at = at + d.roundoff  # a large loss rounds its differences beyond float64's atol
            judged.append(_judge(a, r, at, d))
            analytic.append(a)
            rtol.append(r)
            atol.append(at)
        ok = got.status == "ok"
        passed = np.stack([j.passed for j in judged]) & ok[:, :, None]
        if fast and not passed.all():
            report = _check(setup, read, False, seed)
            report.details["fast_mode"] = "a random-direction check disagreed, so the full check ran"
            return report
        method = np.stack([j.method for j in judged])
        expected = np.stack([np.broadcast_to(j.expected, passed.shape[1:]) for j in judged])
        convention = None
        relu0 = [j.relu0 for j in judged]
        if any(r is not None for r in relu0):
            # Only layouts judged right everywhere say something about the convention.
            sound = passed.all(axis=(0, 2))
            values = [
                r[np.broadcast_to(sound[:, None], r.shape) & p & (m == diff.KINK)[None]]
                for r, p, m in zip(relu0, passed, method, strict=True)
                if r is not None
            ]
            convention = _convention(np.concatenate(values), setup.net.hidden)
        details: dict[str, Any]
        if passed.all():
            name, details = "ok", ({"convention": convention} if convention else {})
        else:
            evidence = Evidence(
                setup.net,
                setup.names,
                tuple(setup.labels),
                setup.points,
                setup.X,
                setup.Y,
                np.stack(analytic),
                expected,
                np.stack(rtol),
                np.stack(atol),
                passed,
                method,
                got.status,
                got.problems,
                setup.own_loss,
            )
            name, details = verdict(evidence)
        kinks = [
            record
            for point, d, j in zip(setup.names, diffs, judged, strict=True)
            for record in _kink_records(setup, d, j, point, elements)
        ]
    return GradcheckReport(
        verdict=name,
        details=details,
        points=setup.names,
        layouts=tuple(setup.labels),
        elements=elements,
        params=setup.points,
        X=setup.X,
        Y=setup.Y,
        analytic=np.stack(analytic),
        numeric=expected,
        rtol=np.stack(rtol),
        atol=np.stack(atol),
        passed=passed,
        method=method,
        computed=ok,
        kinks=tuple(kinks),
        convention=convention,
        loss=setup.loss,
        fast=fast,
        network=setup.net,
    )


def _failed(setup: _Setup, failure: dict[str, Any], fast: bool) -> GradcheckReport:
    """The report when a forward or loss of the user's raised: nothing could be compared."""
    n, lay, P = len(setup.points), len(setup.labels), setup.net.n_params
    nan = np.full((n, lay, P), np.nan)
    return GradcheckReport(
        verdict="raised",
        details=failure,
        points=setup.names,
        layouts=tuple(setup.labels),
        elements=nw.element_names(setup.net),
        params=setup.points,
        X=setup.X,
        Y=setup.Y,
        analytic=nan,
        numeric=nan.copy(),
        rtol=np.full((n, lay, P), TOLERANCES[_F64][0]),
        atol=np.full((n, lay, P), TOLERANCES[_F64][1]),
        passed=np.zeros((n, lay, P), dtype=bool),
        method=np.zeros((n, P), dtype=int),
        computed=np.zeros((n, lay), dtype=bool),
        kinks=(),
        convention=None,
        loss=setup.loss,
        fast=fast,
        network=setup.net,
    )


def check_backward(
    backward: Backward,
    params: ParamsArg = None,
    X: Any = None,
    Y: Any = None,
    *,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | Callable[..., Any] | None = None,
    layout: str | None = None,
    call: Callable[..., Any] | None = None,
    seed: int = 0,
    layouts: Sequence[str] | None = None,
    fast: bool = False,
    step: float = STEP,
    forward: str | Callable[..., Any] | None = None,
) -> GradcheckReport:
    """Check that ``backward`` returns the gradient of the network's loss.

    ``params``: one parameter dict, a list of them, or a :class:`~gradcheck_xor.network.Network`
    (its default points); by default the notebook's 2-2-1 network at :func:`default_points`
    drawn with ``seed``. ``X`` and ``Y`` default to the XOR data. ``hidden``, ``output``,
    ``loss`` and ``layout`` describe the network where its parameters cannot
    (:func:`gradcheck_xor.network.describe`); ``loss`` may also be your own
    ``loss(Y, A_L) -> float`` and ``forward`` your own ``forward(X, parameters)`` returning
    the output (or ``(A1, ..., A_L)``, or a dict with ``A_L``); a ``forward`` name is the
    hidden activation.

    The backward is called with its arguments supplied by name (see
    :mod:`gradcheck_xor._calling`: ``params``, ``X``, ``Y``, ``cache``, ``A1``...), or the
    notebook's way, ``(parameters, A1, A2, X, Y)``; ``call(backward, params, X, Y)`` calls
    it any other way. It may return a dict keyed ``dW1, db1, ...`` or by the parameter keys,
    or a sequence in parameter order. ``layouts``: the label layouts to call it with
    (:func:`label_layouts`). ``fast``: one random direction per point (two losses instead of
    one per element); if that disagrees, the full check runs and explains. Exceptions raised
    by your functions are reported, never propagated; a backward the oracle cannot call is
    an :class:`UnusableTargetError` (a TypeError).
    """
    if not callable(backward):
        raise TypeError(f"backward must be callable, got {type(backward).__name__}.")
    setup = _setup(
        params, X, Y, hidden=hidden, output=output, loss=loss, layout=layout, forward=forward, seed=seed,
        layouts=layouts, step=step,
    )  # fmt: skip
    return _check(setup, _backward_reader(backward, call, setup), fast, seed)


def check_step(
    step_function: Callable[..., Any],
    /,
    params: ParamsArg = None,
    X: Any = None,
    Y: Any = None,
    *,
    lr: float,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | Callable[..., Any] | None = None,
    layout: str | None = None,
    call: Callable[..., Any] | None = None,
    seed: int = 0,
    layouts: Sequence[str] | None = None,
    fast: bool = False,
    step: float = STEP,
    forward: str | Callable[..., Any] | None = None,
) -> GradcheckReport:
    """Check a training step through its update: the gradient it followed is
    ``(old - new) / lr``, compared with the loss's as :func:`check_backward` compares a
    backward's, with the same report and verdicts.

    The step gets its arguments as a backward does, and ``lr`` (``learning_rate``,
    ``alpha``); it may update the parameters in place (returning None or the same dict) or
    return new ones (a dict, a ``(params, ...)`` tuple, or a sequence in parameter order).
    ``call(step, params, X, Y, lr)`` calls it any other way."""
    if not callable(step_function):
        raise TypeError(f"step must be callable, got {type(step_function).__name__}.")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: got {lr!r}, expected a finite number > 0.")
    setup = _setup(
        params, X, Y, hidden=hidden, output=output, loss=loss, layout=layout, forward=forward, seed=seed,
        layouts=layouts, step=step,
    )  # fmt: skip
    return _check(setup, _step_reader(step_function, call, setup, float(lr)), fast, seed)
