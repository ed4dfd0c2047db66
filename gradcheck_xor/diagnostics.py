"""Diagnostics from the parameters alone: what will go wrong before the first training step.

:func:`diagnose` looks at one parameter set (and its data) and returns a :class:`Report` of
:class:`Finding` s, each with a stable ``code``, a ``severity`` and the evidence (which unit,
which sample, the numbers). :func:`init_codes` is the same analysis over a batch of parameter
sets, one boolean per code and set, so a sweep can label a million initialisations at once;
:func:`diagnose` is built on it, so the two always agree.

The codes, and the severity each is reported at:

========================  ========  ==========================================================
code                      severity  fires when
========================  ========  ==========================================================
``non-finite``            error     NaN or Inf in the parameters or the data
``label-range``           error     a label outside [0, 1], where binary cross-entropy is undefined
``dead-relu``             error     a hidden unit has Z1 <= 0 on every sample
``symmetric-units``       error     two hidden units have identical incoming and outgoing weights
``vanishing-w2``          warning   some |W2_j| < sqrt(eps) = 1.49e-8; an error together with
                                    ``linear-hidden-layer`` (the notebook's stuck end state)
``linear-hidden-layer``   warning   every hidden unit has Z1 > 0 on every sample; an error
                                    together with ``vanishing-w2``
``sigmoid-saturation``    warning   some |Z2| is so large that sigmoid(|Z2|) rounds to 1.0
``loss-normalization``    error     labels of shape (1, m), m > 1: the notebook's compute_loss
                          info      divides by Y.shape[0] = 1; with 1-D labels it agrees with
                                    the backward's X.shape[1] only by accident
``relu-kink``             info      some Z1 is 0 up to the rounding of its own computation
========================  ========  ==========================================================

The threshold of ``vanishing-w2``. The backward pass hands the hidden layer the output's
error signal multiplied by W2 (``dZ1 = W2.T @ dZ2 * relu'(Z1)``), so ``|W2_j|`` is the
fraction of the output layer's error that unit j receives, on every sample and for any loss.
Below ``sqrt(eps)`` (eps = 2.2e-16, float64's resolution) that fraction has lost half of
float64's significant digits: the hidden layer's gradient is smaller than the output
layer's by more than a central finite difference in float64 can resolve, and in practice
W1 stops moving. A standard-normal draw falls below it with probability ~1e-8 per weight, so
the notebook's ``randn`` initialisation is not flagged; its printed end state (|W2| ~ 1e-15) is.

The tolerance of ``relu-kink``: ``|Z1| <= 4 * eps * (|W1| @ |X| + |b1|)``, i.e. Z1 is zero
within the rounding error of the sum that produced it.
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradcheck_xor.model import sigmoid

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

EPS = float(np.finfo(np.float64).eps)
VANISHING_W2 = float(np.sqrt(EPS))  # 1.49e-8; see the module docstring
KINK_ULPS = 4.0

# code -> (why it matters, what to do about it). The order is the order of reports.
CODES: dict[str, tuple[str, str]] = {
    "non-finite": (
        "NaN or Inf propagates through every forward and backward pass: the loss and every "
        "gradient become NaN, and training cannot recover.",
        "Start from finite parameters and data. If training produced them, lower the learning "
        "rate and compute the loss from the logit (softplus(Z2) - Y*Z2) so it cannot overflow.",
    ),
    "label-range": (
        "Binary cross-entropy is defined for labels in [0, 1]; outside that range the loss is "
        "unbounded below and gradient descent drives the logits to infinity.",
        "Use 0/1 labels (or probabilities in [0, 1]).",
    ),
    "dead-relu": (
        "relu'(Z1) is 0 on every sample, so under full-batch gradient descent the unit's "
        "dZ1, and with it its row of dW1 and its db1, are exactly zero on every step: it never "
        "changes and never comes back. With two hidden units the one left draws a single "
        "straight decision boundary, and XOR needs two: training cannot solve XOR.",
        "Draw another initialisation (another seed), start b1 slightly positive (e.g. 0.1) so "
        "every unit is active somewhere, or use leaky ReLU.",
    ),
    "symmetric-units": (
        "Identical units compute the same value and receive the same gradient, so every step "
        "keeps them identical: the network has one hidden unit in effect, and one unit cannot "
        "represent XOR.",
        "Break the symmetry: initialise W1 and W2 randomly, never with zeros or equal values.",
    ),
    "vanishing-w2": (
        "The hidden layer's error signal is the output's multiplied by W2 "
        "(dZ1 = W2.T @ dZ2 * relu'(Z1)). Below sqrt(eps) = 1.5e-8 that fraction has lost half "
        "of float64's digits: the hidden layer gets (almost) no gradient and the output "
        "ignores it. Together with a linear hidden layer this is a stationary point: XOR's "
        "best linear fit is 0.5 everywhere, so gradient descent keeps W2 at zero.",
        "Re-initialise W2 at scale ~1 (randn). If training drove W2 there, the hidden layer "
        "was linear on the data or the backward pass is not the loss's gradient (the "
        "notebook's MSE-style dZ2): fix that and train again from a fresh draw.",
    ),
    "linear-hidden-layer": (
        "Every ReLU is in its linear regime on every sample, so on this data the network "
        "computes sigmoid(affine(X)): one straight decision boundary, which cannot separate "
        "XOR. Gradient descent then pulls it toward the best linear fit (0.5 everywhere for "
        "XOR), shrinking W2.",
        "Start from a draw where each hidden unit is inactive on some sample, and train with "
        "the exact binary cross-entropy gradient dZ2 = A2 - Y.",
    ),
    "sigmoid-saturation": (
        "sigmoid(Z2) rounds to exactly 1.0 in float64 once |Z2| > 36.7: the notebook's "
        "log(A2) or log(1 - A2) becomes -inf, and its MSE-style backward multiplies by "
        "A2 * (1 - A2), which is 0 (or below 1e-16) there, so a confidently wrong sample gets "
        "no gradient. Finite-difference checks see a flat loss.",
        "Compute the loss from the logit (softplus(Z2) - Y*Z2) with dZ2 = A2 - Y, and scale the "
        "weights down (or lower the learning rate) if training made the logits this large.",
    ),
    "loss-normalization": (
        "The notebook's compute_loss divides by m = Y.shape[0], its backward by X.shape[1]. "
        "With labels of shape (1, m) the reported loss is m times the loss whose gradient is "
        "applied; with 1-D labels the two agree only because of how Y happens to be shaped.",
        "Take the number of samples from one place (m = X.shape[1]) in both the loss and the "
        "backward, and normalise the labels to one layout at the boundary.",
    ),
    "relu-kink": (
        "ReLU has no derivative at 0. The backward uses relu'(0) = 0, a one-sided choice, "
        "while a central finite difference straddles the kink and measures about half the "
        "slope, so a gradient check disagrees there with no bug present. The notebook's "
        "b1 = 0 puts the (0, 0) sample on the kink for every draw.",
        "For gradient checks, evaluate at parameters off the kink (e.g. b1 = 0.01); for "
        "training, a small positive b1 avoids it.",
    ),
}


class DiagnosticWarning(UserWarning):
    """Emitted by ``model.train`` for each warning- or error-level finding before it trains."""


@dataclass(frozen=True)
class Finding:
    """One thing the diagnostics found: a stable ``code``, how bad it is, a one-line
    ``message`` and the numbers behind it in ``evidence``."""

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def why(self) -> str:
        return CODES[self.code][0]

    @property
    def fix(self) -> str:
        return CODES[self.code][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "why": self.why,
            "fix": self.fix,
            "evidence": _jsonable(self.evidence),
        }


@dataclass(frozen=True)
class Report:
    """All findings for one parameter set, most severe first, and a ``summary`` of the network's
    outputs on its data (predictions, loss, whether it solves the task)."""

    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)

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
        """Plain data that ``json.dumps(..., allow_nan=False)`` accepts (non-finite numbers
        become the strings "nan", "inf", "-inf")."""
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "summary": _jsonable(self.summary),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else str(v)
    return value


# --- the analysis, over a batch of S parameter sets ---------------------------------------


def _analyse(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> dict[str, np.ndarray]:
    """Forward values and per-unit / per-sample masks for S parameter sets.

    Shapes: W1 (S, H, 2), b1 (S, H, 1), W2 (S, 1, H), b2 (S, 1, 1), X (2, m), Y (m,) or (1, m).
    einsum rather than batched matmul: faster for a million tiny products.
    """
    with np.errstate(all="ignore"):  # NaN and Inf are findings here, not warnings
        Z1 = np.einsum("shi,im->shm", W1, X) + b1  # (S, H, m)
        A1 = np.maximum(Z1, 0.0)
        Z2 = np.einsum("sh,shm->sm", W2[:, 0, :], A1) + b2[:, 0, :]  # (S, m)
        # The size of the terms summed into Z1: its rounding error is a few eps times this.
        scale = np.einsum("shi,im->shm", np.abs(W1), np.abs(X)) + np.abs(b1)
        H = W1.shape[1]
        pairs = [(j, k) for j in range(H) for k in range(j + 1, H)]
        symmetric = np.zeros(W1.shape[0], dtype=bool)
        for j, k in pairs:
            symmetric |= (
                np.all(W1[:, j, :] == W1[:, k, :], axis=1)
                & (b1[:, j, 0] == b1[:, k, 0])
                & (W2[:, 0, j] == W2[:, 0, k])
            )
        finite = (
            np.isfinite(W1).all(axis=(1, 2))
            & np.isfinite(b1).all(axis=(1, 2))
            & np.isfinite(W2).all(axis=(1, 2))
            & np.isfinite(b2).all(axis=(1, 2))
            & bool(np.isfinite(X).all() and np.isfinite(Y).all())
        )
        return {
            "Z1": Z1,
            "Z2": Z2,
            "finite": finite,
            "dead_units": np.all(Z1 <= 0.0, axis=2),  # (S, H)
            "active_everywhere": np.all(Z1 > 0.0, axis=(1, 2)),  # (S,)
            "kink": np.abs(Z1) <= KINK_ULPS * EPS * scale,  # (S, H, m)
            "vanishing_units": np.abs(W2[:, 0, :]) < VANISHING_W2,  # (S, H)
            # The notebook's sigmoid, 1 / (1 + exp(-z)), at |z|: exactly 1.0 means saturated.
            "saturated": 1.0 / (1.0 + np.exp(-np.abs(Z2))) == 1.0,  # (S, m)
            "symmetric": symmetric,
            "labels_out_of_range": bool(np.any((Y < 0.0) | (Y > 1.0))),
        }


def _codes(a: dict[str, np.ndarray], notebook_loss: bool) -> dict[str, np.ndarray]:
    finite = a["finite"]
    S = finite.shape[0]
    codes = {
        "non-finite": ~finite,
        "label-range": np.full(S, a["labels_out_of_range"]),
        "dead-relu": a["dead_units"].any(axis=1),
        "symmetric-units": a["symmetric"],
        "vanishing-w2": a["vanishing_units"].any(axis=1),
        "linear-hidden-layer": a["active_everywhere"],
        "sigmoid-saturation": a["saturated"].any(axis=1),
        # A property of the notebook's loss function and the label layout: it always applies,
        # at error or info severity depending on the layout (see diagnose).
        "loss-normalization": np.full(S, notebook_loss),
        "relu-kink": a["kink"].any(axis=(1, 2)),
    }
    # Other checks mean nothing on NaN; a non-finite set reports that alone (and label-range).
    for code in codes:
        if code not in ("non-finite", "label-range", "loss-normalization"):
            codes[code] = codes[code] & finite
    return codes


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
    """Which codes fire for each of S parameter sets: ``{code: bool array (S,)}``.

    ``W1`` (S, 2, 2), ``b1`` (S, 2, 1), ``W2`` (S, 1, 2), ``b2`` (S, 1, 1); ``X`` (2, m) and
    ``Y`` ((m,) or (1, m)) are shared by all sets. Vectorised: a million sets take a second or
    two. ``notebook_loss=False`` leaves out ``loss-normalization`` (a property of the
    notebook's compute_loss, not of the corrected model's loss).
    """
    W1 = np.asarray(W1, dtype=np.float64)
    S = W1.shape[0] if W1.ndim == 3 else -1
    H = W1.shape[1] if W1.ndim == 3 else 2
    W1 = _batched("W1", W1, (S, H, 2))
    b1 = _batched("b1", b1, (S, H, 1))
    W2 = _batched("W2", W2, (S, 1, H))
    b2 = _batched("b2", b2, (S, 1, 1))
    X, Y = _data(X, Y)
    return _codes(_analyse(W1, b1, W2, b2, X, Y), notebook_loss)


def _data(X: np.ndarray | None, Y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if X is None or Y is None:
        from gradcheck_xor import notebook  # only for its data; not needed when a file holds X and Y

        X = notebook.inputs if X is None else X
        Y = notebook.outputs if Y is None else Y
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != 2 or X.shape[1] < 1:
        raise ValueError(f"Shape mismatch for X: got {X.shape}, expected (2, m) with m >= 1.")
    m = X.shape[1]
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape not in ((m,), (1, m)):
        raise ValueError(f"Shape mismatch for Y: got {Y.shape}, expected ({m},) or (1, {m}).")
    return X, Y


# --- one parameter set: findings with their evidence ---------------------------------------


def _fmt(values: Any) -> str:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    return "[" + ", ".join(f"{v:.3g}" for v in arr.ravel()) + "]"


def _sample(X: np.ndarray, i: int) -> str:
    return f"{i} at ({X[0, i]:g}, {X[1, i]:g})"


def diagnose(
    params: dict[str, np.ndarray],
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    *,
    notebook_loss: bool = True,
) -> Report:
    """Diagnose one parameter set ``{"W1", "b1", "W2", "b2"}`` on its data.

    ``X`` (2, m) and ``Y`` ((m,) or (1, m)) default to ``params["X"]``/``params["Y"]`` when
    present (as :func:`gradcheck_xor.params_io.load_params` returns them), else to the
    notebook's XOR data (``inputs`` (2, 4), ``outputs`` (4,)). ``notebook_loss=False`` skips
    ``loss-normalization``, which concerns the notebook's compute_loss only.
    """
    X, Y = _data(params.get("X") if X is None else X, params.get("Y") if Y is None else Y)
    m = X.shape[1]
    shapes = {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}
    p: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        value = np.asarray(params[name], dtype=np.float64)
        if value.size != shape[0] * shape[1]:
            raise ValueError(f"Shape mismatch for {name}: got {value.shape}, expected {shape}.")
        p[name] = value.reshape(shape)
    a = _analyse(p["W1"][None], p["b1"][None], p["W2"][None], p["b2"][None], X, Y)
    fired = {code: bool(v[0]) for code, v in _codes(a, notebook_loss).items()}
    Z1, Z2 = a["Z1"][0], a["Z2"][0]
    both_stuck = fired["vanishing-w2"] and fired["linear-hidden-layer"]

    findings: list[Finding] = []
    add = findings.append
    if fired["non-finite"]:
        bad = {k: int(np.size(v) - np.isfinite(v).sum()) for k, v in {**p, "X": X, "Y": Y}.items()}
        bad = {k: n for k, n in bad.items() if n}
        where = ", ".join(f"{k} ({n})" for k, n in bad.items())
        add(Finding("non-finite", "error", f"NaN or Inf in {where}.", {"non_finite_counts": bad}))
    if fired["label-range"]:
        outside = sorted({float(v) for v in np.ravel(Y) if not 0.0 <= v <= 1.0})
        add(
            Finding(
                "label-range",
                "error",
                f"labels {_fmt(outside[:4])} lie outside [0, 1].",
                {"labels_outside": outside[:16]},
            )
        )
    if fired["dead-relu"]:
        units = [int(j) for j in np.flatnonzero(a["dead_units"][0])]
        detail = "; ".join(f"unit {j}: Z1 = {_fmt(Z1[j])}" for j in units)
        add(
            Finding(
                "dead-relu",
                "error",
                f"hidden unit{'s' if len(units) > 1 else ''} {', '.join(map(str, units))} "
                f"{'are' if len(units) > 1 else 'is'} dead: Z1 <= 0 on all {m} samples ({detail}); "
                + (
                    "their gradients are exactly zero, so they never recover."
                    if len(units) > 1
                    else "its gradient is exactly zero, so it never recovers."
                ),
                {"units": units, "Z1": {str(j): Z1[j] for j in units}},
            )
        )
    if fired["symmetric-units"]:
        add(
            Finding(
                "symmetric-units",
                "error",
                f"hidden units 0 and 1 are identical (W1 rows {_fmt(p['W1'][0])}, b1 {p['b1'][0, 0]:.3g}, "
                f"W2 {p['W2'][0, 0]:.3g}): they get the same gradient and stay identical forever.",
                {"units": [0, 1], "W1_row": p["W1"][0], "b1": p["b1"][0, 0], "W2": p["W2"][0, 0]},
            )
        )
    if fired["vanishing-w2"]:
        units = [int(j) for j in np.flatnonzero(a["vanishing_units"][0])]
        add(
            Finding(
                "vanishing-w2",
                "error" if both_stuck else "warning",
                f"|W2| of hidden unit{'s' if len(units) > 1 else ''} {', '.join(map(str, units))} "
                f"below sqrt(eps) = {VANISHING_W2:.3g} (W2 = {_fmt(p['W2'])}): the hidden layer "
                f"receives about {np.max(np.abs(p['W2'][0, units])):.1e} of the output's error"
                + ("; with the hidden layer linear too, training is stuck." if both_stuck else "."),
                {"units": units, "W2": p["W2"][0], "threshold": VANISHING_W2},
            )
        )
    if fired["linear-hidden-layer"]:
        add(
            Finding(
                "linear-hidden-layer",
                "error" if both_stuck else "warning",
                f"every hidden unit is active on all {m} samples (min Z1 = {Z1.min():.3g}): the "
                "network is linear in X on this data and cannot represent XOR from here.",
                {"Z1": Z1, "min_Z1": float(Z1.min())},
            )
        )
    if fired["sigmoid-saturation"]:
        samples = [int(i) for i in np.flatnonzero(a["saturated"][0])]
        labels = np.ravel(Y)
        wrong = [i for i in samples if (Z2[i] > 0) != (labels[i] >= 0.5)]
        add(
            Finding(
                "sigmoid-saturation",
                "warning",
                f"sigmoid(Z2) rounds to 0 or 1 on sample{'s' if len(samples) > 1 else ''} "
                f"{', '.join(_sample(X, i) for i in samples)} (Z2 = {_fmt(Z2[samples])})"
                + (f"; {len(wrong)} of them confidently wrong." if wrong else "."),
                {"samples": samples, "Z2": Z2[samples], "confidently_wrong": wrong},
            )
        )
    if fired["loss-normalization"]:
        if Y.ndim == 2 and m > 1:
            add(
                Finding(
                    "loss-normalization",
                    "error",
                    f"labels of shape {Y.shape}: the notebook's compute_loss divides by Y.shape[0] = 1, "
                    f"the backward by X.shape[1] = {m}, so the reported loss is {m}x the loss "
                    "whose gradient is applied.",
                    {"labels_shape": list(Y.shape), "loss_divisor": 1, "backward_divisor": m},
                )
            )
        else:
            add(
                Finding(
                    "loss-normalization",
                    "info",
                    f"labels of shape {Y.shape}: the notebook's compute_loss (Y.shape[0]) and "
                    f"backward (X.shape[1]) both divide by {m}, but only because Y is 1-D.",
                    {"labels_shape": list(Y.shape), "loss_divisor": Y.shape[0], "backward_divisor": m},
                )
            )
    if fired["relu-kink"]:
        units, samples = np.nonzero(a["kink"][0])
        at = ", ".join(f"unit {j} on sample {_sample(X, i)}" for j, i in zip(units, samples, strict=True))
        add(
            Finding(
                "relu-kink",
                "info",
                f"Z1 = 0 (within rounding) for {at}: the ReLU has no derivative there.",
                {"units": units.tolist(), "samples": samples.tolist(), "Z1": Z1[units, samples]},
            )
        )
    findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])  # stable: CODES order within a severity
    return Report(findings, _summary(Z2, X, Y))


def _summary(Z2: np.ndarray, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    labels = np.ravel(Y)
    with np.errstate(all="ignore"):
        A2 = sigmoid(Z2)
        bce = float(np.mean(np.logaddexp(0.0, Z2) - labels * Z2))
        solved = bool(np.all(np.isfinite(Z2)) and np.all((A2 >= 0.5) == (labels >= 0.5)))
    return {
        "samples": X.shape[1],
        "labels_shape": list(Y.shape),
        "targets": labels,
        "predictions": A2,
        "loss": bce,
        "solved": solved,
    }


# --- for people and for training loops -----------------------------------------------------


def format_report(report: Report, source: str | None = None) -> str:
    """The report as text: a summary line, then each finding with why it matters and what to do."""
    s = report.summary
    lines = [f"gradcheck-xor diagnose: {source}" if source else "gradcheck-xor diagnose"]
    if s:
        preds = " ".join(f"{v:.4f}" for v in np.ravel(s["predictions"])[:8])
        targets = " ".join(f"{v:g}" for v in np.ravel(s["targets"])[:8])
        more = " ..." if s["samples"] > 8 else ""
        lines.append(
            f"  {s['samples']} samples, labels of shape {tuple(s['labels_shape'])}; "
            f"outputs {preds}{more} for targets {targets}{more}"
        )
        verdict = "every sample classified correctly" if s["solved"] else "some samples misclassified"
        lines.append(f"  binary cross-entropy {s['loss']:.6f}; {verdict}")
    lines.append("")
    if not report.findings:
        lines.append("No findings: nothing in these parameters stops training.")
    for f in report.findings:
        lines.append(f"{f.severity.upper()} {f.code}: {f.message}")
        for label, text in (("why", f.why), ("fix", f.fix)):
            lines.append(textwrap.fill(text, 96, initial_indent=f"  {label}: ", subsequent_indent="       "))
        lines.append("")
    c = report.counts()
    outcome = "ok" if report.ok else "training from these parameters will go wrong"
    lines.append(f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s): {outcome}.")
    return "\n".join(lines)


def warn_findings(report: Report, *, stacklevel: int = 2) -> None:
    """Emit one :class:`DiagnosticWarning` per finding at ``warning`` or ``error`` severity."""
    for f in report.findings:
        if f.severity != "info":
            message = f"{f.code} ({f.severity}): {f.message}"
            warnings.warn(message, DiagnosticWarning, stacklevel=stacklevel + 1)
