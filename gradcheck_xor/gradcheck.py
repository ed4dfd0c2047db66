"""The gradient oracle: check a hand-written backward pass, or a training step, and say *why*
it is wrong.

:func:`check_backward` calls a backward pass at several parameter points and for each label
layout the network's labels come in, and compares what it returns, element by element, with
the loss's exact gradient, confirmed by central finite differences in float64 (and with the
differences alone where the gradient is unknown or a kink makes it one-sided);
:func:`check_step` does the same with a training step, through its update. The network is
any fully connected one (:mod:`gradcheck_xor.network`), the notebook's 2-2-1 XOR network by
default.

The pieces, one module each: the default points (``_points``), calling the code under check
(``_calling``) and reading its gradients (``_reading``), what a check is made of (``_setup``: the network,
its points, data and label layouts), what the code returns (``_analytic``), the numeric
differences and their kinks (``_differences``), the exact gradient and the rounding each
element allows (``_exact``), judging each element (``_judging``), the verdicts
(``_verdicts``) and the report (:mod:`gradcheck_xor.report`). This module joins them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._analytic import Reader, backward_reader, returned, step_reader
from gradcheck_xor._calling import UnusableTargetError
from gradcheck_xor._differences import METHODS, STEP, numeric_gradient
from gradcheck_xor._exact import exact_gradients
from gradcheck_xor._judging import judge_point, kink_records, named_convention
from gradcheck_xor._points import default_points, unexercised
from gradcheck_xor._reading import TOLERANCES
from gradcheck_xor._setup import ParamsArg, Setup, UserCodeError, label_layouts, resolve
from gradcheck_xor._verdicts import VERDICTS, Evidence, verdict
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

Backward = Callable[..., Any]
_F64 = np.dtype(np.float64)


# --- the check ---------------------------------------------------------------------------------


def _differences(
    setup: Setup, traces: list[diff.Trace], fast: bool, seed: int
) -> tuple[list[diff.Differences], list[np.ndarray | None], tuple[str, ...]]:
    """Each point's differences, its directions (None: every element) and their names."""
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
        out.append(diff.along(t, V, sub, setup.step, setup.losses, extrapolate=setup.losses is not None))
        directions.append(V)
    return out, directions, tuple(labels)


def _check(setup: Setup, read: Reader, fast: bool, seed: int) -> GradcheckReport:
    with np.errstate(all="ignore"):
        traces = [diff.Trace.of(setup.net, p, *setup.columns) for p in setup.points]
        try:
            diffs, directions, elements = _differences(setup, traces, fast, seed)
            failure = None
        except UserCodeError as exc:
            failure = exc.record
        got = returned(setup, read) if failure is None else None
        if failure is not None or got is None:
            return _failed(setup, failure or {}, fast)
        # The loss's exact gradient, where the loss is the network's own.
        exact, floors = exact_gradients(traces) if setup.own_loss else (None, None)
        judged, analytic, coarse_rtol, coarse_atol = [], [], [], []
        for i, (d, V) in enumerate(zip(diffs, directions, strict=True)):
            a, r, at = got.values[i], got.rtol[i], got.atol[i] + got.floor[i]
            sharp, floor = got.sharp[i], got.floor[i]
            known = None if exact is None or floors is None else (exact[i], floors[i])
            if V is not None:  # a direction is judged with the loosest tolerance of what it mixes
                a = a @ V.T
                r = np.repeat(r.max(axis=1, keepdims=True), len(V), axis=1)
                at = np.repeat(at.max(axis=1, keepdims=True), len(V), axis=1)
                sharp = (sharp[:, None, :] | (V == 0)[None]).all(axis=2)
                floor = floor @ np.abs(V).T
                if known is not None:
                    known = (known[0] @ V.T, known[1] @ np.abs(V).T)
            at = at + d.roundoff  # a large loss rounds its differences beyond float64's atol
            judged.append(judge_point(a, r, at, sharp, floor, d, known, setup.tolerances))
            analytic.append(a)
            coarse_rtol.append(r)
            coarse_atol.append(at)
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
            convention = named_convention(np.concatenate(values), setup.net.hidden)
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
                np.stack(coarse_rtol),
                np.stack(coarse_atol),
                passed,
                np.stack([j.coarse for j in judged]) & ok[:, :, None],
                method,
                got.status,
                got.problems,
                setup.own_loss,
                tuple(elements),
            )
            name, details = verdict(evidence)
        given = {k: v for k, v in zip(("rtol", "atol"), setup.tolerances, strict=True) if v is not None}
        if given:
            details["tolerances"] = given
        kinks = [
            record
            for point, d, j in zip(setup.names, diffs, judged, strict=True)
            for record in kink_records(setup, d, j, point, elements)
        ]
        if exact is not None and directions[0] is not None:
            exact = np.stack([e @ V.T for e, V in zip(exact, directions, strict=True)])  # type: ignore[union-attr]
    n = len(setup.points)
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
        numeric=np.stack([np.broadcast_to(j.numeric, passed.shape[1:]) for j in judged]),
        rtol=np.stack([np.broadcast_to(j.rtol, passed.shape[1:]) for j in judged]),
        atol=np.stack([np.broadcast_to(j.atol, passed.shape[1:]) for j in judged]),
        passed=passed,
        method=method,
        computed=ok,
        kinks=tuple(kinks),
        convention=convention,
        loss=setup.loss,
        fast=fast,
        network=setup.net,
        exact=np.full((n, len(elements)), np.nan) if exact is None else exact,
        expected=expected,
        unexercised=unexercised(setup.net, setup.points, setup.X) if setup.given_only else (),
    )


def _failed(setup: Setup, failure: dict[str, Any], fast: bool) -> GradcheckReport:
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
        exact=np.full((n, P), np.nan),
        expected=nan.copy(),
        unexercised=(),
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
    rtol: float | None = None,
    atol: float | None = None,
    defaults: bool | None = None,
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
    a sequence in parameter order, the gradients grouped by layer (``(nabla_b, nabla_w)``
    lists, or a ``(dW, db)`` pair per layer) or one flat vector in parameter order; the dict
    or the flat vector may come beside the loss (``return loss, grads``).
    ``layouts``: the label layouts to call it with
    (:func:`label_layouts`). ``fast``: one random direction per point (two losses instead of
    one per element); if that disagrees, the full check runs and explains. Exceptions raised
    by your functions are reported, never propagated; a backward the oracle cannot call (its
    arguments cannot be bound as they would be passed) is an :class:`UnusableTargetError`
    (a TypeError) naming what it takes and how it would be called.

    Each float64 element is judged against the loss's exact gradient
    (:func:`gradcheck_xor.network.gradients`, confirmed element by element by the
    differences) to about 1e-9 relative, above a floor that bounds its float64 rounding; a
    loss or forward of your own is judged by Richardson's extrapolation of the differences,
    to what it resolves; other dtypes get their dtype's tolerances (:data:`TOLERANCES`).
    ``rtol`` and ``atol`` (finite, >= 0) replace those tolerances where given: an element
    passes when ``|analytic - expected| <= atol + rtol * |expected|``. ``defaults``: with
    ``params`` given, visit the default points as well (one point rarely exercises every
    way a backward can be wrong; the report says what the points checked cannot show).
    The report is falsy when the backward is wrong, so ``assert check_backward(...)`` works.
    """
    if not callable(backward):
        raise TypeError(f"backward must be callable, got {type(backward).__name__}.")
    resolved = resolve(
        params, X, Y, hidden=hidden, output=output, loss=loss, layout=layout, forward=forward, seed=seed,
        layouts=layouts, step=step, rtol=rtol, atol=atol, defaults=defaults,
    )  # fmt: skip
    return _check(resolved, backward_reader(backward, call, resolved), fast, seed)


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
    rtol: float | None = None,
    atol: float | None = None,
    defaults: bool | None = None,
) -> GradcheckReport:
    """Check a training step through its update: the gradient it followed is
    ``(old - new) / lr``, compared with the loss's as :func:`check_backward` compares a
    backward's, with the same report and verdicts.

    The step gets its arguments as a backward does, and ``lr`` (``learning_rate``,
    ``alpha``); it may update the parameters in place (returning None, the same dict or its
    loss) or return new ones, in any form a backward's gradients take, alone or beside its
    loss.
    ``call(step, params, X, Y, lr)`` calls it any other way. ``rtol``, ``atol`` and
    ``defaults`` are :func:`check_backward`'s; the rounding of ``(old - new) / lr`` is added
    to every element's ``atol``."""
    if not callable(step_function):
        raise TypeError(f"step must be callable, got {type(step_function).__name__}.")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: got {lr!r}, expected a finite number > 0.")
    resolved = resolve(
        params, X, Y, hidden=hidden, output=output, loss=loss, layout=layout, forward=forward, seed=seed,
        layouts=layouts, step=step, rtol=rtol, atol=atol, defaults=defaults,
    )  # fmt: skip
    return _check(resolved, step_reader(step_function, call, resolved, float(lr)), fast, seed)
