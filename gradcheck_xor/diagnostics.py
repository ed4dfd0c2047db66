"""Diagnostics from the parameters alone: what will go wrong before the first training step.

:func:`diagnose` looks at one parameter set of any fully connected network
(:mod:`gradcheck_xor.network` describes it) and its data, and returns a :class:`Report` of
:class:`Finding` s, each with a stable ``code``, a ``severity`` and the evidence (which layer
and unit, which sample, the numbers). :func:`init_codes` is the same analysis over a batch of
2-2-1 parameter sets, one boolean per code and set, so a sweep can label a million
initialisations at once. Both run the checks of :mod:`gradcheck_xor._checks`, one per code,
so the two always agree.

The codes, and the severity each is reported at (layer l's pre-activation is Z_l, the output
layer is L; for the notebook's 2-2-1 network Z1 is the hidden layer and W2 the output's weights):

========================  ========  ==========================================================
code                      severity  fires when
========================  ========  ==========================================================
``non-finite``            error     NaN or Inf in the parameters or the data
``label-range``           error     a label the output cannot take: outside [0, 1] for a
                                    sigmoid or softmax, not a class for softmax class labels
``dead-relu``             error     a ReLU unit of a hidden layer has Z_l <= 0 on every sample
``symmetric-units``       error     two units of a hidden layer have identical incoming
                                    weights, bias and outgoing weights
``vanishing-w2``          warning   the output's error signal reaching some hidden unit is
                                    below sqrt(eps) = 1.49e-8: |W_L| next to the output, the
                                    product of weights and slopes deeper; an error together
                                    with ``linear-hidden-layer`` everywhere (the notebook's
                                    stuck end state)
``linear-hidden-layer``   warning   every (leaky) ReLU unit of a hidden layer has Z_l > 0 on
                                    every sample; an error together with ``vanishing-w2``
                                    when every hidden layer is linear
``sigmoid-saturation``    warning   a sigmoid or softmax output rounds to its limit (for a
                                    sigmoid, |Z_L| is so large that sigmoid(|Z_L|) is 1.0),
                                    or a sigmoid or tanh hidden unit does
``loss-normalization``    error     labels whose Y.shape[0] is not the number of samples:
                          info      the notebook's compute_loss divides by Y.shape[0], its
                                    backward by the samples; with 1-D labels (or samples in
                                    rows) the two agree only by the labels' layout
``relu-kink``             info      some Z_l of a (leaky) ReLU layer is 0 up to the rounding
                                    of its own computation
========================  ========  ==========================================================

The threshold of ``vanishing-w2``. The backward pass hands hidden layer L-1 the output's
error signal multiplied by W_L (``dZ1 = W2.T @ dZ2 * relu'(Z1)`` in the notebook), so
``|W_L[:, j]|`` is the fraction of the output layer's error that unit j receives, on every
sample and for any loss; a deeper layer receives it through the weights and the activation
slopes of every layer above, whose product (in absolute values, so that no cancellation
hides a large term) bounds that fraction. Below ``sqrt(eps)`` (eps = 2.2e-16, float64's
resolution) it has lost half of float64's significant digits: the layer's gradient is
smaller than the output layer's by more than a central finite difference in float64 can
resolve, and in practice the layer stops moving. A standard-normal draw falls below it with
probability ~1e-8 per weight, so the notebook's ``randn`` initialisation is not flagged;
its printed end state (|W2| ~ 1e-15) is.

The tolerance of ``relu-kink``: ``|Z_l| <= 4 * eps * (|W_l| @ |A_{l-1}| + |b_l|)``, i.e. Z_l
is zero within the rounding error of the sum that produced it.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradcheck_xor import _html, _losses
from gradcheck_xor._checks import CHECKS, Analysis, Check
from gradcheck_xor._checks import VANISHING_W2 as VANISHING_W2
from gradcheck_xor._codes import ANY_NETWORK, CODES
from gradcheck_xor._json import jsonable
from gradcheck_xor.network import XOR, Network, NetworkError, describe, flatten, logit_losses

__all__ = [
    "CODES",
    "DiagnosticWarning",
    "Finding",
    "Report",
    "Severity",
    "diagnose",
    "format_report",
    "init_codes",
    "warn_findings",
]

Severity = Literal["error", "warning", "info"]
_SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


class DiagnosticWarning(UserWarning):
    """Emitted by ``model.train`` for each warning- or error-level finding before it trains."""


@dataclass(frozen=True)
class Finding:
    """One thing the diagnostics found: a stable ``code``, how bad it is, a one-line
    ``message``, the numbers behind it in ``evidence``, and whether it is about the notebook's
    2-2-1 network (``notebook``), whose ``why`` and ``fix`` speak of XOR's two hidden units."""

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    notebook: bool = True

    @property
    def why(self) -> str:
        return self._meaning[0]

    @property
    def fix(self) -> str:
        return self._meaning[1]

    @property
    def _meaning(self) -> tuple[str, str]:
        return CODES[self.code] if self.notebook else ANY_NETWORK.get(self.code, CODES[self.code])

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "why": self.why,
            "fix": self.fix,
            "evidence": jsonable(self.evidence),
        }


@dataclass(frozen=True, repr=False)
class Report(_html.Displayed):
    """All findings for one parameter set, most severe first, a ``summary`` of the network's
    outputs on its data (predictions, loss, whether it solves the task) and the ``network``
    they are about. ``str(report)`` is :func:`format_report`'s text; in Jupyter it shows as
    that text or as HTML with a table of the findings, and its ``repr`` is one line."""

    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)
    network: Network = XOR

    @property
    def ok(self) -> bool:
        """True when nothing at ``warning`` or ``error`` was found."""
        return all(f.severity == "info" for f in self.findings)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in _SEVERITY_ORDER}

    def to_dict(self) -> dict[str, Any]:
        """Plain data that ``json.dumps(..., allow_nan=False)`` accepts, in the encoding of every
        ``--json`` output (non-finite numbers become the strings "nan", "inf", "-inf")."""
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "summary": jsonable(self.summary),
        }

    def __str__(self) -> str:
        return format_report(self)

    def __repr__(self) -> str:
        codes = ", ".join(dict.fromkeys(self.codes)) or "no findings"
        return f"<diagnostics.Report {_tally(self)}: {codes}>"

    def _repr_html_(self) -> str:
        rows = [(f.severity, f.code, f.message, f.why, f.fix) for f in self.findings[:_HTML_ROWS]]
        more = len(self.findings) - _HTML_ROWS
        caption = (
            f"Findings, most severe first{f' (the first {_HTML_ROWS}; {more} more)' if more > 0 else ''}"
        )
        tables = [_html.table(("severity", "code", "found", "why", "fix"), rows, caption)] if rows else []
        lines = [("", line) for line in _overview(self)]
        verdict = "ok" if self.ok else _GOES_WRONG
        return _html.report("gradcheck-xor diagnose", f"{verdict}: {_tally(self)}", self.ok, lines, tables)


# --- running the checks ------------------------------------------------------------------------


def _fired(a: Analysis, check: Check) -> np.ndarray:
    """(S,): whether ``check`` fires anywhere in each set."""
    S = len(a.finite)
    fired = np.zeros(S, dtype=bool)
    for flags in check.flags(a).values():
        fired |= flags.reshape(S, -1).any(axis=1)
    return fired & a.finite if check.needs_finite else fired


def _batched(name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != shape:
        expected = ", ".join("S" if n < 0 else str(n) for n in shape)  # S < 0: W1 had no batch axis
        raise ValueError(f"Shape mismatch for {name}: got {value.shape}, expected ({expected}).")
    return value


def init_codes(
    W1: np.ndarray,
    b1: np.ndarray,
    W2: np.ndarray,
    b2: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    notebook_loss: bool = True,
) -> dict[str, np.ndarray]:
    """Which codes fire for each of S parameter sets of a 2-H-1 network: ``{code: bool array (S,)}``.

    ``W1`` (S, H, 2), ``b1`` (S, H, 1), ``W2`` (S, 1, H), ``b2`` (S, 1, 1); ``X`` (2, m) and
    ``Y`` ((m,) or (1, m)) are shared by all sets. Vectorised: a million sets take a second or
    two. ``notebook_loss=False`` leaves out ``loss-normalization`` (a property of the
    notebook's compute_loss, not of the corrected model's loss).
    """
    W1 = np.asarray(W1, dtype=np.float64)
    S = W1.shape[0] if W1.ndim == 3 else -1
    H = W1.shape[1] if W1.ndim == 3 else 2
    arrays = [
        _batched("W1", W1, (S, H, 2)),
        _batched("b1", b1, (S, H, 1)),
        _batched("W2", W2, (S, 1, H)),
        _batched("b2", b2, (S, 1, 1)),
    ]
    thetas = np.concatenate([value.reshape(S, -1) for value in arrays], axis=1)
    with np.errstate(all="ignore"):  # NaN and Inf are findings here, not warnings
        a = Analysis(Network.from_widths((2, H, 1)), thetas, X, Y, notebook_loss=notebook_loss)
        return {check.code: _fired(a, check) for check in CHECKS}


def _data(net: Network, X: Any, Y: Any) -> tuple[Any, Any]:
    """``X`` and ``Y`` as given, or else the notebook's XOR data in the network's layout."""
    if X is not None and Y is not None:
        return X, Y
    from gradcheck_xor import notebook  # only for its data; not needed when a file holds X and Y

    if X is None:
        if net.widths[0] != 2:
            raise NetworkError(f"X is missing; expected inputs for the {net} (XOR's, the default, have 2).")
        X = notebook.inputs if net.layout == "columns" else notebook.inputs.T
    if Y is None:
        m = np.shape(X)[1 if net.layout == "columns" else 0] if np.ndim(X) == 2 else None
        if m != notebook.outputs.shape[0]:
            raise NetworkError(
                "Y is missing; expected labels for the samples of X (XOR's, the default, are 4)."
            )
        Y = notebook.outputs
    return X, Y


def _notebooks(net: Network) -> bool:
    """Whether ``net`` is the notebook's 2-2-1 network, however its keys and biases are shaped."""
    return str(net) == str(XOR)


def diagnose(
    params: Mapping[str, Any],
    X: Any = None,
    Y: Any = None,
    *,
    net: Network | None = None,
    notebook_loss: bool = True,
) -> Report:
    """Diagnose one parameter set ``{"W1", "b1", ..., "WL", "bL"}`` on its data.

    ``net`` describes the network (:func:`gradcheck_xor.network.describe`); by default it is
    read off the parameters' shapes (ReLU hidden layers, a sigmoid output, binary
    cross-entropy). ``X`` and ``Y`` default to ``params["X"]``/``params["Y"]`` when present
    (as :func:`gradcheck_xor.params_io.load_params` returns them), else to the notebook's XOR
    data (``inputs`` (2, 4), ``outputs`` (4,)). ``notebook_loss=False`` skips
    ``loss-normalization``, which concerns the notebook's compute_loss only. Parameters or
    data that do not fit the network raise :class:`gradcheck_xor.network.NetworkError`.
    """
    X = params.get("X") if X is None else X
    Y = params.get("Y") if Y is None else Y
    net = describe(params, X) if net is None else net
    X, Y = _data(net, X, Y)
    with np.errstate(all="ignore"):  # NaN and Inf are findings here, not warnings
        a = Analysis(net, flatten(net, params)[None], X, Y, notebook_loss=notebook_loss)
        notebook = _notebooks(net)
        findings = [
            Finding(check.code, severity, message, evidence, notebook)  # type: ignore[arg-type]
            for check in CHECKS
            if a.finite[0] or not check.needs_finite
            for layer, flags in check.flags(a).items()
            if flags[0].any()
            for severity, message, evidence in check.report(a, layer, flags[0])
        ]
        summary = _summary(a)
    findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])  # stable: CODES order within a severity
    return Report(findings, summary, net)


def _summary(a: Analysis) -> dict[str, Any]:
    """The outputs on the data: predictions, the loss, and whether every sample is classified
    right (the output on its label's side of 0.5; for a softmax, the label's class largest)."""
    net, Z, Y = a.net, a.Z(a.net.depth), a.Y
    A = _losses.OUTPUT_FUNCTIONS[net.output](Z)[0]
    loss = float(logit_losses(net, Z, Y)[0])
    right = A.argmax(axis=0) == Y.argmax(axis=0) if net.output == "softmax" else (A >= 0.5) == (Y >= 0.5)
    one = net.n_out == 1
    return {
        "samples": a.m,
        "labels_shape": list(a.labels.shape),
        "targets": a.labels.ravel() if one else a.labels,
        "predictions": A.ravel() if one else a.shown(A),
        "loss": loss,
        "solved": bool(np.isfinite(Z).all() and np.isfinite(Y).all() and right.all()),
    }


# --- for people and for training loops -----------------------------------------------------


_HTML_ROWS = 8  # findings shown in a notebook cell; str(report) has them all
_GOES_WRONG = "training from these parameters will go wrong"


def _overview(report: Report) -> list[str]:
    """The network (unless it is the notebook's), its outputs on the data and the loss."""
    s, net = report.summary, report.network
    lines = [] if _notebooks(net) else [str(net)]  # the notebook's network goes without saying
    if s:
        shape = tuple(s["labels_shape"])
        lines.append(f"{s['samples']} samples, labels of shape {shape}; {_outputs(net, s)}")
        verdict = "every sample classified correctly" if s["solved"] else "some samples misclassified"
        lines.append(f"{net.spec.label.removeprefix('mean ')} {s['loss']:.6f}; {verdict}")
    return lines


def _tally(report: Report) -> str:
    c = report.counts()
    return f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s)"


def format_report(report: Report, source: str | None = None) -> str:
    """The report as text: a summary line, then each finding with why it matters and what to do."""
    lines = [f"gradcheck-xor diagnose: {source}" if source else "gradcheck-xor diagnose"]
    lines += [f"  {line}" for line in _overview(report)]
    lines.append("")
    if not report.findings:
        lines.append("No findings: nothing in these parameters stops training.")
    for f in report.findings:
        lines.append(f"{f.severity.upper()} {f.code}: {f.message}")
        for label, text in (("why", f.why), ("fix", f.fix)):
            lines.append(textwrap.fill(text, 96, initial_indent=f"  {label}: ", subsequent_indent="       "))
        lines.append("")
    lines.append(f"{_tally(report)}: {'ok' if report.ok else _GOES_WRONG}.")
    return "\n".join(lines)


def _outputs(net: Network, s: dict[str, Any]) -> str:
    """The first few outputs beside their labels (for a softmax, the classes)."""
    more = " ..." if s["samples"] > 8 else ""
    if net.n_out == 1:
        outputs = " ".join(f"{v:.4f}" for v in np.ravel(s["predictions"])[:8])
        targets = " ".join(f"{v:g}" for v in np.ravel(s["targets"])[:8])
        return f"outputs {outputs}{more} for targets {targets}{more}"
    if net.output != "softmax":
        return f"{net.n_out} outputs per sample"
    axis = 0 if net.layout == "columns" else 1
    targets = np.asarray(s["targets"])
    classes = np.argmax(s["predictions"], axis=axis)[:8]
    expected = (targets if targets.ndim == 1 else np.argmax(targets, axis=axis))[:8]
    shown = " ".join(f"{c:g}" for c in expected)
    return f"classes {' '.join(map(str, classes))}{more} for targets {shown}{more}"


def warn_findings(report: Report, *, stacklevel: int = 2) -> None:
    """Emit one :class:`DiagnosticWarning` per finding at ``warning`` or ``error`` severity."""
    for f in report.findings:
        if f.severity != "info":
            message = f"{f.code} ({f.severity}): {f.message}"
            warnings.warn(message, DiagnosticWarning, stacklevel=stacklevel + 1)
