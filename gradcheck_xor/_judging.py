"""Judging each element: the analytic value against the exact gradient where it is known and
the differences confirm it, to float64's precision for float64 values (:mod:`gradcheck_xor._exact`);
against Richardson's extrapolation, to what it resolves, for a loss of the user's; and
otherwise against the differences of its point, to the tolerances of its dtype, with the
subgradient window on a kink. Also the convention a backward follows on a kink, and the
record of each kink for the report."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._exact import RTOL
from gradcheck_xor._reading import TOLERANCES
from gradcheck_xor._setup import Setup

_F64 = np.dtype(np.float64)


@dataclasses.dataclass(frozen=True)
class Judged:
    """One point's judgement by its differences: arrays (layouts, k)."""

    method: np.ndarray  # (k,)
    expected: np.ndarray
    passed: np.ndarray
    relu0: np.ndarray | None  # where the value sits between the one-sided derivatives


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """One point's judgement: arrays (layouts, k) but ``method`` (k,)."""

    method: np.ndarray
    expected: np.ndarray  # what each value is judged against
    numeric: np.ndarray  # the differences' value (Richardson's, where extrapolated)
    passed: np.ndarray
    coarse: np.ndarray  # within its dtype's tolerances of ``expected``: right but for precision
    rtol: np.ndarray  # the tolerance each value is judged with
    atol: np.ndarray
    relu0: np.ndarray | None


def judge(a: np.ndarray, rtol: np.ndarray, atol: np.ndarray, d: diff.Differences) -> Judged:
    """Judge each analytic value (layouts, k) against the differences of its point.

    On a kink the loss has a left and a right derivative; the backward's value is accepted
    anywhere between them (any subgradient) and ``relu0`` says where: 0 at the side where the
    unit is off (relu'(0) = 0), 1 where it is on, 0.5 halfway (what central differences give).
    Run under ``np.errstate(all="ignore")``: the analytic values may be NaN or inf."""
    method = d.kinks.method.copy()
    if not method.any():  # no kink within reach: central differences everywhere
        expected = np.broadcast_to(d.central, a.shape)
        return Judged(method, expected, np.abs(a - expected) <= atol + rtol * np.abs(expected), None)
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
    return Judged(method, expected, passed, relu0)


def judge_point(
    a: np.ndarray,
    rtol: np.ndarray,
    atol: np.ndarray,
    sharp: np.ndarray,
    floor: np.ndarray,
    d: diff.Differences,
    exact: tuple[np.ndarray, np.ndarray] | None,
    given: tuple[float | None, float | None] = (None, None),
) -> Verdicts:
    """Judge one point's values ``a`` (layouts, k).

    ``rtol`` and ``atol`` are the tolerances of each value's dtype (the differences' rounding
    and the value's own, ``floor``, included); ``sharp`` marks the float64 values; ``exact``
    is the exact gradient and its floor (:func:`gradcheck_xor._exact.exact_gradients`),
    None where the loss is the user's. ``given``: the caller's (rtol, atol), each replacing
    the tolerance it names wherever it is given."""
    by_differences = judge(a, rtol, atol, d)
    method = by_differences.method
    value = by_differences.expected[0]  # away from kinks the same for every layout
    smooth = np.isin(method, (diff.CENTRAL, diff.LEFT, diff.RIGHT))
    numeric = by_differences.expected
    if exact is not None:
        reference, reach = exact
        r64, a64 = TOLERANCES[_F64]
        # The differences confirm the exact gradient at their own tolerance, grown by the
        # noise they show where both steps are at hand (a loss whose sums cancel rounds
        # beyond eps |L|); where they do not confirm it (they never should), they judge.
        noise = d.roundoff if d.resolution is None else d.roundoff + d.resolution
        known = smooth & (np.abs(reference - value) <= a64 + r64 * np.abs(value) + noise)
    elif d.richardson is not None and d.resolution is not None:
        reference, reach = d.richardson, d.resolution
        known = method == diff.CENTRAL
        numeric = np.where(known, reference, numeric)
    else:
        reference, reach, known = value, np.zeros_like(value), np.zeros_like(smooth)
    expected = np.where(known, reference, by_differences.expected)
    fine = known & sharp
    r = np.where(fine, RTOL, rtol)
    at = np.where(fine, reach + floor, atol)
    if given[0] is not None:
        r = np.full_like(r, given[0])
    if given[1] is not None:
        at = given[1] + floor
    passed = by_differences.passed if given == (None, None) else judge(a, r, at, d).passed
    with np.errstate(invalid="ignore"):
        error = np.abs(a - expected)
        passed = np.where(known, error <= at + r * np.abs(expected), passed)
        coarse = np.where(known, error <= atol + rtol * np.abs(expected), by_differences.passed)
    return Verdicts(method, expected, numeric, passed, coarse, r, at, by_differences.relu0)


def named_convention(relu0: np.ndarray, hidden: str) -> str | None:
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


def kink_records(
    setup: Setup, d: diff.Differences, judged: Judged, point: str, elements: tuple[str, ...]
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
