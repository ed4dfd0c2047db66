"""The oracle's report: the verdict, its evidence, a table per element, and the explanation.

:class:`GradcheckReport` is what :func:`gradcheck_xor.check_backward` and
:func:`gradcheck_xor.check_step` return; ``str(report)`` is the explanation a learner can
act on, ``report.to_dict()`` the same as plain JSON-ready data.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import textwrap
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import _html
from gradcheck_xor import network as nw
from gradcheck_xor._json import jsonable

__all__ = ["ElementCheck", "GradcheckReport", "format_table"]

Params = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ElementCheck:
    """One row of the per-element table."""

    point: str
    labels: str  # the label layout, "(m,)" or "(1, m)"; "all" where every layout agrees
    element: str  # "dW1[0, 1]", or "random direction" in fast mode
    analytic: float
    exact: float  # the loss's exact gradient (NaN where unknown: a loss or forward of yours)
    numeric: float  # the differences' value
    abs_error: float  # from what the element is judged against: exact, where the method says so
    rel_error: float
    tolerance: float  # the largest abs_error that passes
    ok: bool
    method: str
    note: str


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GradcheckReport(_html.Displayed):
    """What a check found: a verdict, its evidence and a table per element.

    ``analytic``, ``numeric`` (the differences), ``expected`` (what each value is judged
    against: the exact gradient where it is known, else the differences), ``rtol``, ``atol``
    (the tolerance each was judged with) and ``passed`` have shape (points, layouts,
    elements); ``exact`` (points, elements) is the loss's exact gradient, NaN where unknown;
    ``method`` (points, elements) says how the differences were taken
    (:data:`gradcheck_xor.gradcheck.METHODS`). ``unexercised`` lists what the points checked
    cannot show when the caller chose them all. The report is falsy when the verdict is not
    ``ok``. ``X`` and ``Y`` are the data checked,
    in the network's layout (labels 2-D). In Jupyter it shows as its explanation with the
    worst rows (``_repr_html_``, ``_repr_pretty_``); its ``repr`` is one line.
    """

    verdict: str
    details: dict[str, Any]
    points: tuple[str, ...]
    layouts: tuple[str, ...]
    elements: tuple[str, ...]
    params: tuple[Params, ...]
    X: np.ndarray
    Y: np.ndarray
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
    network: nw.Network
    exact: np.ndarray
    expected: np.ndarray
    unexercised: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def __bool__(self) -> bool:
        return self.ok

    @cached_property
    def _notes(self) -> dict[tuple[str, str], str]:
        return {(k["point"], k["element"]): k["note"] for k in self.kinks}

    def _row(self, i: int, j: int, e: int, labels: str | None = None) -> ElementCheck:
        a, want = float(self.analytic[i, j, e]), float(self.expected[i, j, e])
        exact, n = float(self.exact[i, e]), float(self.numeric[i, j, e])
        err = abs(a - want)
        scale = max(abs(a), abs(want))
        rel = err / scale if scale > 0 else (0.0 if err == 0 else math.nan)
        tolerance = float(self.atol[i, j, e] + self.rtol[i, j, e] * abs(want))
        note = self._notes.get((self.points[i], self.elements[e]), "")
        if not self.computed[i, j]:
            note = "no value: the backward raised or returned a wrong shape"
        elif not math.isfinite(a):
            note = "the backward returned a non-finite value"
        method = diff.METHODS[self.method[i, e]]
        if want == exact:
            method = f"exact, {method} agrees"
        elif method == "central" and self.computed[i, j] and np.isnan(self.exact).all():
            method = "Richardson"  # a loss of the user's: extrapolated from steps h and 2h
        return ElementCheck(
            self.points[i],
            labels or self.layouts[j],
            self.elements[e],
            a,
            exact,
            n,
            err,
            rel,
            tolerance,
            bool(self.passed[i, j, e]),
            method,
            note,
        )

    @cached_property
    def table(self) -> list[ElementCheck]:
        """Every (point, layout, element) check, in order."""
        return [self._row(i, j, e) for i, j, e in np.ndindex(self.passed.shape)]

    def _order(self) -> np.ndarray:
        """Flat indices of (point, layout, element), failures first and the largest error
        relative to its tolerance first; among failures, values the backward returned first."""
        with np.errstate(all="ignore"):
            err = np.abs(self.analytic - self.expected)
            bound = self.atol + self.rtol * np.abs(self.expected)
            ratio = np.where(bound > 0, err / bound, np.where(err > 0, np.inf, np.nan))
        ratio = np.where(np.isnan(ratio) & ~self.passed, np.inf, np.nan_to_num(ratio, nan=-np.inf))
        missing = np.broadcast_to(~self.computed[:, :, None], self.passed.shape)
        return np.lexsort((-ratio.ravel(), missing.ravel(), self.passed.ravel()))

    def _same_everywhere(self) -> np.ndarray:
        """(points, elements): the row is the same for every label layout."""
        a, n = self.analytic, self.numeric
        same_a = (a == a[:, :1]) | (np.isnan(a) & np.isnan(a[:, :1]))
        same_n = (n == n[:, :1]) | (np.isnan(n) & np.isnan(n[:, :1]))
        same = (same_a & same_n & (self.passed == self.passed[:, :1])).all(axis=1)
        return same & (self.computed == self.computed[:, :1]).all(axis=1)[:, None]

    def _worst(self, merge_layouts: bool) -> Iterator[ElementCheck]:
        merged = self._same_everywhere() if merge_layouts and len(self.layouts) > 1 else None
        shown: set[tuple[int, int]] = set()
        for flat in self._order():
            i, j, e = np.unravel_index(flat, self.passed.shape)
            if merged is not None and merged[i, e]:
                if (i, e) in shown:
                    continue
                shown.add((i, e))
                yield self._row(i, j, e, "all")
            else:
                yield self._row(i, j, e)

    def worst(self, count: int | None = None, *, merge_layouts: bool = False) -> list[ElementCheck]:
        """Table rows, failures first and the largest error relative to its tolerance first.

        ``merge_layouts``: a row that is the same for every label layout is shown once, its
        ``labels`` reading "all".
        """
        rows = self._worst(merge_layouts)
        return list(rows) if count is None else list(itertools.islice(rows, count))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (non-finite numbers as "nan", "inf", "-inf")."""
        return jsonable(
            {
                "ok": self.ok,
                "verdict": self.verdict,
                "details": self.details,
                "explanation": str(self),
                "network": str(self.network),
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
                "unexercised": list(self.unexercised),
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

    def __repr__(self) -> str:
        failed = int((~self.passed).sum())
        what = "directions" if self.fast else "elements"
        return f"<GradcheckReport {self.verdict}: {failed} of {self.passed.size} {what} disagree>"

    def _repr_html_(self) -> str:
        lines = []
        first, *rest = _prose(self)
        for line in [first.removeprefix(f"{self.verdict}: "), *rest]:  # the title shows the verdict
            label, sep, text = line.partition(": ")
            lines.append((label, text) if sep and label in _LABELS else ("", line))
        failed = not self.passed.all()
        rows = [_cells(r) for r in self.worst(_HTML_ROWS, merge_layouts=True)] if self.computed.any() else []
        caption = ("Worst elements" if failed else "Largest errors") + f" (of {self.passed.size})"
        tables = [_html.table(_HEADER, rows, caption)] if rows else []
        return _html.report("gradcheck-xor check", self.verdict, self.ok, lines, tables)


# --- the explanation -------------------------------------------------------------------------


def _headline(report: GradcheckReport) -> str:
    v, d, net = report.verdict, report.details, report.network
    L = net.depth
    where = (
        f" (at point {d['point']}, Y of shape {d['labels']})"
        if v in ("shape-mismatch", "raised") and "point" in d
        else ""
    )
    if v == "ok":
        given = d.get("tolerances", {})
        within = f", within {' and '.join(f'{k}={t:g}' for k, t in given.items())}" if given else ""
        if np.isnan(report.exact).all():
            what = f"the finite-difference gradient of {report.loss}"
        else:
            what = f"the exact gradient of {report.loss}, which finite differences confirm,"
        return f"The backward matches {what} everywhere it was checked{within}."
    if v == "matches-other-loss":
        what = "another loss" if (d["hidden"], d["output"]) == (net.hidden, net.output) else "another network"
        text = (
            f"The backward is the exact gradient of {what}: {d['label']}, {d['formula']}, whose dZ{L} is "
            f"{d['dZ']}. The loss checked is {report.loss}, whose dZ{L} is {d['expected_dZ']}."
        )
        if d["hidden"] != net.hidden:
            fix = f"use the {net.hidden} hidden layer's derivative, or check with hidden={d['hidden']!r}"
            return f"{text}\nFix: {fix}."
        cancels = net.spec.kind in ("bce", "cross-entropy") and d["output"] == net.output
        derivative = (
            f"sigmoid's derivative A{L} * (1 - A{L})" if net.output == "sigmoid" else "softmax's Jacobian"
        )
        return (
            text
            + f"\nFix: compute dZ{L} = {d['expected_dZ']}"
            + (
                f" (the {derivative} cancels against the cross-entropy's; keeping it makes the "
                f"gradient vanish wherever the {net.output} saturates)."
                if cancels
                else "."
            )
        )
    if v == "scaled":
        losses = d.get("losses") or []
        named = "".join(f"; the gradient of {nw.LOSS_CATALOGUE[name].label} ({name})" for name in losses)
        return f"Every element is {d['factor']:.4g} x the right gradient ({d['meaning']}{named})."
    if v == "shape-mismatch":
        if d["key"] is None:
            return f"The backward returned {d['got']}, expected {d['expected']}{where}."
        if d["got"] == "missing":
            return f"The result has no key {d['key']!r} (expected {', '.join(net.grad_keys)}){where}."
        axis = 1 if net.layout == "columns" else 0
        tip = (
            f" For a bias, sum over the samples: np.sum(dZ, axis={axis}, keepdims=True)."
            if d["key"][1] in "bB"
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
    if d.get("cause") == "imprecise":
        text = (
            f"The backward is right to {d['precision']:.0e} relative, not to float64's precision: "
            f"{_listed(d['elements'])} carry the error.\nLikely cause: {d['because']}.\nFix: {d['fix']}."
        )
        if d["points"] and len(d["points"]) < len(report.points):
            text += f"\nIt shows only at {', '.join(d['points'])}."
        return text
    keys = ", ".join(f"{g} {state}" for g, state in d["keys"].items())
    text = f"The backward disagrees with the finite-difference gradient: {keys}.\nWhere: {d['hint']}."
    if "because" in d:
        text += f"\nLikely cause: {d['because']}."
    if d["points"] and len(d["points"]) < len(report.points):
        text += f"\nIt shows only at {', '.join(d['points'])}: one point alone could have hidden it."
    return text


def _format_number(x: float) -> str:
    return f"{x: .6e}" if math.isfinite(x) else f" {x}"


_HEADER = ("point", "Y", "element", "analytic", "exact", "numeric", "abs err", "rel err", "tol", "", "method")
_HTML_ROWS = 8  # a notebook cell shows the worst few; report.format_table() has them all
_LABELS = ("Fix", "Where", "Likely cause")  # the explanation's lines that begin with a label


def _cells(r: ElementCheck) -> tuple[str, ...]:
    """One row of the per-element table, as the text of its cells."""
    return (
        r.point,
        r.labels,
        r.element,
        _format_number(r.analytic),
        " -" if math.isnan(r.exact) else _format_number(r.exact),
        _format_number(r.numeric),
        f"{r.abs_error:.1e}",
        f"{r.rel_error:.1e}",
        f"{r.tolerance:.1e}",
        "ok" if r.ok else "FAIL",
        r.method + (f": {r.note}" if r.note else ""),
    )


def format_table(rows: Sequence[ElementCheck]) -> str:
    """The per-element table as aligned text."""
    header = _HEADER
    body = [_cells(r) for r in rows]
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in [header, *body]
    ).rstrip()


def _listed(items: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(items[:most])
    return shown if len(items) <= most else f"{shown} and {len(items) - most} more"


def _kink_lines(report: GradcheckReport) -> list[str]:
    net = report.network
    name = "ReLU" if net.hidden == "relu" else "leaky ReLU"
    lines = []
    for point in dict.fromkeys(k["point"] for k in report.kinks):
        records = [k for k in report.kinks if k["point"] == point]
        by_layer: dict[int, dict[int, set[int]]] = {}
        on_layers = set()
        for k in records:
            for layer, s, u in zip(k["layers"], k["samples"], k["units"], strict=True):
                by_layer.setdefault(layer, {}).setdefault(s, set()).add(u)
            if k["kind"] == "on":
                on_layers.update(k["layers"])
        parts = []
        for layer, where in sorted(by_layer.items()):
            samples = "; ".join(
                f"sample {s}{_x(report, s)}, {_units(us)}" for s, us in sorted(where.items())[:6]
            ) + ("; ..." if len(where) > 6 else "")
            state = "= 0" if layer in on_layers else "is within the step of 0"
            parts.append(f"Z{layer} {state} for {samples}")
        elements = _listed([k["element"] for k in records])
        lines.append(
            f"{name} kink at {point}: {'; '.join(parts)}; {elements} judged by one-sided differences."
        )
    return lines


def _units(us: set[int]) -> str:
    return f"unit{'s' if len(us) > 1 else ''} {', '.join(map(str, sorted(us)))}"


def _x(report: GradcheckReport, s: int) -> str:
    x = report.X[:, s] if report.network.layout == "columns" else report.X[s]
    return f" (x = ({', '.join(f'{v:g}' for v in x)}))" if x.size <= 4 else ""


def _prose(report: GradcheckReport) -> list[str]:
    """The explanation's lines, unwrapped: the verdict and why, what was checked, the kinks."""
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
    if report.unexercised:
        which = "The point checked cannot show" if len(report.points) == 1 else "No point checked can show"
        lines.append(
            f"{which} everything: {'; '.join(report.unexercised)}. Leave out params, or pass "
            "defaults=True, to visit the default points as well."
        )
    lines += _kink_lines(report)
    if report.convention:
        lines.append(f"On the kink the backward follows {report.convention}.")
    return [line for part in lines for line in part.split("\n")]


def _explain(report: GradcheckReport, rows: int = 8) -> str:
    failed = not report.passed.all()
    # Prose wrapped for a terminal; the table below keeps its own width.
    text = "\n".join(textwrap.fill(line, 100, subsequent_indent="  ") for line in _prose(report))
    if rows > 0 and report.computed.any():
        text += "\n" + ("Worst elements:" if failed else "Largest errors:") + "\n" + report.format_table(rows)
    return text
