"""Cross-validation: NumPy, PyTorch and JAX run from the same weights, stage by stage.

:func:`compare` evaluates the NumPy code (the reference) and each framework's version of
the same network (:mod:`reference_impls`) at one set of parameters and reports, for every
stage, the largest disagreement with NumPy:

* the forward pass (``Z1``, ``A1``, ``Z2``, ``A2``);
* the loss and each gradient, for both update rules: ``bce`` (the corrected model) and
  ``notebook`` (the gradient of ``1/2 * mean((A2 - Y)^2)``, which the notebook's backward
  computes exactly; its NumPy reference is :func:`gradcheck_xor.notebook.backword_propagation`);
* the trajectory of N full-batch gradient-descent steps under each rule: the parameters
  after the last step and the BCE history along the way.

A disagreement is ``max |framework - numpy| / max(|numpy|, 1)`` over the elements: relative
for values of magnitude 1 or more, absolute below. Stages evaluated once must agree to
1e-12, trajectories to 1e-9 (float64 throughout).

The one place the implementations may legitimately differ is the ReLU kink. At ``Z1 == 0``
the ReLU has no derivative; NumPy (``Z1 > 0`` mask), ``F.relu`` and ``jax.nn.relu`` take 0,
``torch.maximum(z, 0)`` and ``jnp.maximum(z, 0)`` take 1/2. The notebook's zero ``b1`` puts
the (0, 0) sample on the kink for every draw. With ``relu="maximum"`` the gradients then
differ; :func:`compare` checks that the difference is exactly the relu'(0) = 1/2 term and
marks the stage ``kink`` (explained) instead of ``DIFFER``.

This module imports torch and jax only when :func:`compare` runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from gradcheck_xor import model, notebook

__all__ = ["FRAMEWORKS", "Comparison", "Stage", "compare", "disagreement", "format_comparison"]

FRAMEWORKS: tuple[str, ...] = ("torch", "jax")
EVALUATION_TOLERANCE = 1e-12
TRAJECTORY_TOLERANCE = 1e-9
PARAM_NAMES = tuple(model.PARAM_SHAPES)
RULE_LABELS = {"bce": "BCE rule", "notebook": "notebook rule"}
RELU_LABELS = {
    "relu": "F.relu / jax.nn.relu (relu'(0) = 0, as NumPy)",
    "maximum": "torch.maximum / jnp.maximum (relu'(0) = 1/2 at a tie)",
}

# (description, on_step callback, close) for one training run; see compare(progress=...).
Progress = Callable[[str], tuple[Callable[[int, float], None], Callable[[], None]]]


@dataclass
class Stage:
    """One row of the comparison: the largest disagreement of each framework with NumPy."""

    name: str
    tolerance: float
    disagreement: dict[str, float] = field(default_factory=dict)
    # framework -> "agree" | "kink" (over tolerance, explained by relu'(0)) | "DIFFER"
    verdict: dict[str, str] = field(default_factory=dict)


@dataclass
class Comparison:
    """What :func:`compare` found; ``ok`` is false when some difference is unexplained."""

    source: str
    steps: int
    lr: float
    relu: str
    versions: dict[str, str]
    kinks: list[dict[str, int]]
    stages: list[Stage]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(v != "DIFFER" for stage in self.stages for v in stage.verdict.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; a non-finite disagreement (a NaN or infinite value) is None."""
        data = asdict(self)
        for stage in data["stages"]:
            stage["disagreement"] = {
                fw: value if np.isfinite(value) else None for fw, value in stage["disagreement"].items()
            }
        return {**data, "ok": self.ok}


def disagreement(actual: np.ndarray | float, reference: np.ndarray | float) -> float:
    """``max |actual - reference| / max(|reference|, 1)``: relative at magnitudes of 1 or
    more, absolute below (a gradient entry near zero has no meaningful relative error)."""
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        raise ValueError(f"Shape mismatch: got {actual.shape}, expected {reference.shape}.")
    with np.errstate(invalid="ignore"):
        scaled = np.abs(actual - reference) / np.maximum(np.abs(reference), 1.0)
    if np.any(np.isnan(scaled)):
        return float("inf")
    return float(np.max(scaled, initial=0.0))


# --- the NumPy reference ------------------------------------------------------------------


def _notebook_objective(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    A2 = model.forward(params, X)["A2"]
    return float(0.5 * np.mean((A2 - Y) ** 2))


def _notebook_gradients(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    # The notebook's own functions; its sigmoid overflows (harmlessly) for Z2 < -709.
    with np.errstate(over="ignore"):
        A1, A2 = notebook.forward_propagation(X, params)
        return notebook.backword_propagation(params, A1, A2, X, Y)


def _numpy_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, rule: str
) -> dict[str, np.ndarray]:
    if rule == "bce":
        return model.gradients(params, X, Y)
    return _notebook_gradients(params, X, Y)


def _numpy_train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    rule: str,
    steps: int,
    lr: float,
    on_step: Callable[[int, float], None],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if rule == "bce":
        return model.train(params, X, Y, steps=steps, learning_rate=lr, on_step=on_step, diagnostics=False)
    # notebook.train's loop (same functions, same order, so the same parameters bit for
    # bit), but recording the BCE from the logit: the notebook's log(A2) loses precision,
    # then turns infinite, once the sigmoid saturates.
    params = {name: params[name].copy() for name in PARAM_NAMES}
    losses = np.empty(steps, dtype=np.float64)
    for i in range(steps):
        losses[i] = model.loss(params, X, Y)
        params = notebook.update_parameters(params, _notebook_gradients(params, X, Y), lr)
        on_step(i, float(losses[i]))
    return params, losses


def _gradients_with_kink_slope(
    params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, rule: str, slope: float
) -> dict[str, np.ndarray]:
    """The gradient under ``rule`` with relu'(0) = ``slope`` instead of 0: what a framework
    using ``maximum`` computes when some ``Z1 == 0``."""
    cache = model.forward(params, X)
    m = X.shape[1]
    A2 = cache["A2"]
    dZ2 = (A2 - Y) / m if rule == "bce" else (A2 - Y) * A2 * (1.0 - A2) / m
    mask = (cache["Z1"] > 0) + slope * (cache["Z1"] == 0)
    dZ1 = (params["W2"].T @ dZ2) * mask
    return {
        "dW1": dZ1 @ X.T,
        "db1": dZ1.sum(axis=1, keepdims=True),
        "dW2": dZ2 @ cache["A1"].T,
        "db2": dZ2.sum(axis=1, keepdims=True),
    }


# --- the comparison -----------------------------------------------------------------------


def _verdict(value: float, tolerance: float, explained: bool = False) -> str:
    if value <= tolerance:
        return "agree"
    return "kink" if explained else "DIFFER"


def _subnormal_notes(params: dict[str, np.ndarray], X: np.ndarray, with_jax: bool) -> list[str]:
    # XLA on CPU flushes subnormal floats to zero in arithmetic; NumPy and PyTorch keep them.
    if not with_jax:
        return []
    cache = model.forward(params, X)
    tiny = np.finfo(np.float64).tiny
    found = [
        name
        for name, value in (*params.items(), ("Z1", cache["Z1"]), ("Z2", cache["Z2"]))
        if np.any((value != 0) & (np.abs(value) < tiny))
    ]
    if not found:
        return []
    return [
        f"{', '.join(found)} hold(s) subnormal numbers (0 < |x| < {tiny:.1e}). JAX on CPU (XLA) "
        "flushes them to zero, so JAX computes with 0 there (a Z1 of 1e-310 is on the kink to "
        "JAX and positive to NumPy): a difference in the JAX column here is the platform's."
    ]


def _kink_notes(kinks: list[dict[str, int]], X: np.ndarray, relu: str) -> list[str]:
    if not kinks:
        if relu == "maximum":
            return ["No Z1 is exactly 0 at these weights, so the relu'(0) conventions cannot differ here."]
        return []
    where = ", ".join(
        f"unit {k['unit']} on sample ({X[0, k['sample']]:g}, {X[1, k['sample']]:g})" for k in kinks
    )
    note = (
        f"Z1 = 0 exactly for {where}: the ReLU has no derivative there. NumPy (Z1 > 0 mask), "
        "F.relu and jax.nn.relu take relu'(0) = 0; torch.maximum and jnp.maximum take 1/2"
    )
    if relu == "relu":
        return [note + ", so they would differ here (the maximum ReLU shows it: --relu maximum)."]
    return [note + ". Stages marked 'kink' differ by exactly that term, not by an error."]


def _measure(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    modules: dict[str, ModuleType],
    *,
    steps: int,
    lr: float,
    relu: str,
    progress: Progress,
) -> tuple[list[dict[str, int]], list[Stage]]:
    """Every stage of :func:`compare`: returns the kinks at ``params`` and the stages."""
    cache = model.forward(params, X)
    kinks = [{"unit": int(u), "sample": int(s)} for u, s in np.argwhere(cache["Z1"] == 0)]
    stages: list[Stage] = []

    def add(name: str, tolerance: float, values: dict[str, float], explained: dict[str, bool]) -> None:
        verdicts = {fw: _verdict(values[fw], tolerance, explained.get(fw, False)) for fw in values}
        stages.append(Stage(name, tolerance, values, verdicts))

    # Forward pass: maximum(0, 0) = relu(0) = 0, so the ReLU variant never matters here.
    outputs = {fw: mod.forward(params, X, relu=relu) for fw, mod in modules.items()}
    add(
        "forward (Z1, A1, Z2, A2)",
        EVALUATION_TOLERANCE,
        {fw: max(disagreement(out[k], cache[k]) for k in cache) for fw, out in outputs.items()},
        {},
    )

    reference_losses = {"bce": model.loss(params, X, Y), "notebook": _notebook_objective(params, X, Y)}
    loss_labels = {"bce": "loss: mean BCE", "notebook": "loss: 1/2 mean (A2 - Y)^2"}
    for rule in RULE_LABELS:
        add(
            loss_labels[rule],
            EVALUATION_TOLERANCE,
            {
                fw: disagreement(mod.loss(params, X, Y, rule=rule, relu=relu), reference_losses[rule])
                for fw, mod in modules.items()
            },
            {},
        )

    kink_differences: dict[str, set[str]] = {fw: set() for fw in modules}
    for rule, rule_label in RULE_LABELS.items():
        reference = _numpy_gradients(params, X, Y, rule)
        at_half = _gradients_with_kink_slope(params, X, Y, rule, 0.5) if kinks and relu == "maximum" else None
        grads = {fw: mod.gradients(params, X, Y, rule=rule, relu=relu) for fw, mod in modules.items()}
        for name in reference:
            values = {fw: disagreement(g[name], reference[name]) for fw, g in grads.items()}
            explained = {
                fw: at_half is not None and disagreement(g[name], at_half[name]) <= EVALUATION_TOLERANCE
                for fw, g in grads.items()
            }
            for fw in modules:
                if values[fw] > EVALUATION_TOLERANCE and explained[fw]:
                    kink_differences[fw].add(rule)
            add(f"{name} ({rule_label})", EVALUATION_TOLERANCE, values, explained)

    for rule, rule_label in RULE_LABELS.items():
        on_step, close = progress(f"numpy {rule}")
        ref_params, ref_losses = _numpy_train(params, X, Y, rule, steps, lr, on_step)
        close()
        trained: dict[str, tuple[dict[str, np.ndarray], np.ndarray]] = {}
        for fw, mod in modules.items():
            if fw == "torch":
                on_step, close = progress(f"torch {rule}")
                trained[fw] = mod.train(
                    params, X, Y, steps=steps, lr=lr, rule=rule, relu=relu, on_step=on_step
                )
                close()
            else:
                trained[fw] = mod.train(params, X, Y, steps=steps, lr=lr, rule=rule, relu=relu)
        # A trajectory that starts from a relu'(0) difference in its first gradient follows it.
        explained = {fw: rule in kink_differences[fw] for fw in modules}
        add(
            f"params after {steps:,} steps ({rule_label})",
            TRAJECTORY_TOLERANCE,
            {
                fw: max(disagreement(p[name], ref_params[name]) for name in PARAM_NAMES)
                for fw, (p, _) in trained.items()
            },
            explained,
        )
        add(
            f"loss history ({rule_label})",
            TRAJECTORY_TOLERANCE,
            {fw: disagreement(history, ref_losses) for fw, (_, history) in trained.items()},
            explained,
        )

    return kinks, stages


@contextlib.contextmanager
def _one_torch_thread(active: bool) -> Iterator[None]:
    """Run torch on one thread, restoring the caller's setting afterwards.

    Tensors of four samples gain nothing from intra-op threads, and on a busy machine each
    op can then wait milliseconds at a thread barrier (thousands of steps add up to minutes).
    """
    if not active:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def compare(
    params: dict[str, np.ndarray],
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    *,
    steps: int = 1000,
    lr: float = 0.01,
    relu: str = "relu",
    frameworks: Sequence[str] = FRAMEWORKS,
    source: str = "parameters",
    progress: Progress | None = None,
) -> Comparison:
    """Run NumPy and each of ``frameworks`` from ``params`` and measure every stage.

    ``X``, ``Y`` default to the XOR data. ``relu`` picks the frameworks' ReLU ("relu" or
    "maximum"); NumPy always uses relu'(0) = 0. ``progress(description)`` may return an
    ``(on_step, close)`` pair for each NumPy and PyTorch training run. A framework that is
    not installed raises :class:`reference_impls.MissingFrameworkError`.
    """
    import reference_impls
    from reference_impls._common import check_params, check_relu, inputs_and_labels

    if steps < 1:
        raise ValueError(f"Bad steps: got {steps}, expected a positive integer.")
    params = check_params(params)
    check_relu(relu)
    if X is None or Y is None:
        X, Y = model.xor_data()
    X, Y = inputs_and_labels(X, Y)
    modules = {name: reference_impls.load(name) for name in frameworks}
    if progress is None:
        progress = lambda desc: ((lambda i, loss: None), (lambda: None))  # noqa: E731
    with _one_torch_thread("torch" in modules):
        kinks, stages = _measure(params, X, Y, modules, steps=steps, lr=lr, relu=relu, progress=progress)
    versions = {"numpy": np.__version__, **{fw: mod.FRAMEWORK_VERSION for fw, mod in modules.items()}}
    return Comparison(
        source=source,
        steps=steps,
        lr=lr,
        relu=relu,
        versions=versions,
        kinks=kinks,
        stages=stages,
        notes=_kink_notes(kinks, X, relu) + _subnormal_notes(params, X, "jax" in modules),
    )


def _cell(value: float, verdict: str) -> str:
    shown = "0" if value == 0 else f"{value:.1e}"
    return f"{shown:>8} {verdict if verdict != 'agree' else 'ok'}"


def format_comparison(comparison: Comparison) -> str:
    """The comparison as a readable table, one row per stage, one column per framework."""
    frameworks = [fw for fw in comparison.versions if fw != "numpy"]
    names = {"torch": "PyTorch", "jax": "JAX", "numpy": "NumPy"}
    lines = [
        f"source: {comparison.source}; {comparison.steps:,} steps at learning rate {comparison.lr:g}",
        "reference: " + ", ".join(f"{names[fw]} {v}" for fw, v in comparison.versions.items()) + "; float64",
        f"ReLU in the frameworks: {RELU_LABELS[comparison.relu]}",
        "",
    ]
    title = "largest |x - numpy| / max(|numpy|, 1)"
    width = max(len(title), *(len(stage.name) for stage in comparison.stages)) + 2
    lines.append(f"{title:<{width}}" + "".join(f"{names[fw]:>15}" for fw in frameworks) + "   tolerance")
    for stage in comparison.stages:
        cells = "".join(f"{_cell(stage.disagreement[fw], stage.verdict[fw]):>15}" for fw in frameworks)
        lines.append(f"{stage.name:<{width}}{cells}   {stage.tolerance:.0e}")
    lines.append("")
    lines.extend(comparison.notes)
    together = f"NumPy and {' and '.join(names[fw] for fw in frameworks)}"
    kinked = any("kink" in stage.verdict.values() for stage in comparison.stages)
    if comparison.ok and not kinked:
        lines.append(f"{together} agree at every stage.")
    elif comparison.ok:
        lines.append(f"{together} agree at every stage but those marked 'kink' (relu'(0), explained above).")
    else:
        failed = sorted({stage.name for stage in comparison.stages if "DIFFER" in stage.verdict.values()})
        lines.append(f"Unexplained differences in {len(failed)} stage(s): {'; '.join(failed)}.")
    return "\n".join(lines)
