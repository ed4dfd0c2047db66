"""Cross-validation: NumPy, PyTorch and JAX run from the same weights, stage by stage.

:func:`compare` evaluates :mod:`gradcheck_xor.network` (the reference) and each framework's
version of the same network (:mod:`reference_impls`) at one set of parameters, for any
network :func:`gradcheck_xor.network.describe` knows, and reports for every stage the largest
disagreement with NumPy:

* the forward pass (``Z1``, ``A1``, ..., ``ZL``, ``AL``);
* the loss and each gradient, under each update rule: the network's own loss, and for a
  sigmoid output trained on the mean binary cross-entropy (the notebook's network) also the
  notebook's rule, the gradient of ``1/2 * mean((AL - Y)^2)`` that its backward computes;
* the trajectory of N full-batch gradient-descent steps under each rule: the parameters
  after the last step and the network's loss along the way.

A disagreement is ``max |framework - numpy| / max(max |numpy|, 1)`` over an array: relative
to the array's scale where that is 1 or more, absolute below (an entry near zero has no
meaningful relative error). Stages evaluated once must agree to 1e-12, trajectories to 1e-9
(float64 throughout).

Two differences are explained rather than failed:

* ``kink``: at a hidden ``Z == 0`` the ReLU has no derivative; NumPy (``Z > 0`` mask),
  ``F.relu`` and ``jax.nn.relu`` take 0, ``torch.maximum(z, 0)`` and ``jnp.maximum(z, 0)``
  take 1/2. The notebook's zero ``b1`` puts the (0, 0) sample on the kink for every draw.
  With ``relu="maximum"`` the gradients then differ; the stage is marked ``kink`` when the
  difference is exactly the relu'(0) = 1/2 term (NumPy's gradient with that convention).
* ``chaotic``: a trajectory that amplifies rounding (a saddle it escapes from, a kink it
  crosses, a run that diverges). NumPy's own run is repeated from the parameters nudged by
  one rounding error (eps times each array's scale, or eps below 1, as the disagreement
  measures it); when a framework's trajectory stays within what that nudge grows to (times
  the rounding errors of every step) and the rule's gradients agree, the frameworks'
  rounding, not their code, is what differs.

This module imports torch and jax only when :func:`compare` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from gradcheck_xor import _html, network
from gradcheck_xor._comparison_report import comparison_html, format_comparison
from gradcheck_xor._json import jsonable
from gradcheck_xor.network import Network

__all__ = ["FRAMEWORKS", "Comparison", "Stage", "compare", "disagreement", "format_comparison"]

FRAMEWORKS: tuple[str, ...] = ("torch", "jax")
EVALUATION_TOLERANCE = 1e-12
TRAJECTORY_TOLERANCE = 1e-9
# How far beyond a one-rounding nudge's growth the frameworks' rounding may carry a trajectory:
# they round differently at every step, a few roundings each, where the nudge is one, once.
CHAOS_FACTOR = 1e4

# (description, on_step callback, close) for one training run; see compare(progress=...).
Progress = Callable[[str], tuple[Callable[[int, float], None], Callable[[], None]]]
Params = dict[str, np.ndarray]


@dataclass
class Stage:
    """One row of the comparison: the largest disagreement of each framework with NumPy."""

    name: str
    tolerance: float
    disagreement: dict[str, float] = field(default_factory=dict)
    # framework -> "agree" | "kink" (relu'(0), explained) | "chaotic" (rounding grown) | "DIFFER"
    verdict: dict[str, str] = field(default_factory=dict)


@dataclass(repr=False)
class Comparison(_html.Displayed):
    """What :func:`compare` found; ``ok`` is false when some difference is unexplained.
    ``str(comparison)`` is :func:`format_comparison`'s table; in Jupyter it shows as that text
    or as HTML, and its ``repr`` is one line."""

    source: str
    network: str
    steps: int
    learning_rate: float
    relu: str
    versions: dict[str, str]
    kinks: list[dict[str, int]]
    stages: list[Stage]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return all(v != "DIFFER" for stage in self.stages for v in stage.verdict.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, in the encoding of every ``--json`` output: a non-finite
        disagreement (a run that diverged) is the string "inf" or "nan"."""
        return jsonable({**asdict(self), "ok": self.ok})

    def __str__(self) -> str:
        return format_comparison(self)

    def __repr__(self) -> str:
        return f"<Comparison {'ok' if self.ok else 'DIFFER'}: {len(self.stages)} stages, {self.network}>"

    def _repr_html_(self) -> str:
        return comparison_html(self)


def disagreement(actual: np.ndarray | float, reference: np.ndarray | float) -> float:
    """``max |actual - reference| / max(max |reference|, 1)``: relative to the reference's
    scale where that is 1 or more, absolute below. Equal entries (the same infinity, or NaN
    in both) agree; a NaN in one only never does."""
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        raise ValueError(f"Shape mismatch: got {actual.shape}, expected {reference.shape}.")
    same = (actual == reference) | (np.isnan(actual) & np.isnan(reference))
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(same, 0.0, np.abs(actual - reference))
    if np.isnan(gap).any():
        return float("inf")
    finite = np.abs(reference[np.isfinite(reference)])
    return float(np.max(gap, initial=0.0) / max(float(np.max(finite, initial=0.0)), 1.0))


# --- the rules and the NumPy reference ----------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    key: str | None  # the reference modules' rule= (None: the network's own loss)
    label: str
    net: Network  # the network whose loss's gradient is followed


def _rules(net: Network) -> list[_Rule]:
    own = _Rule(None, "BCE rule" if net.loss == "bce" else f"{net.loss} rule", net)
    if net.output != "sigmoid" or net.loss != "bce":
        return [own]
    return [own, _Rule("notebook", "notebook rule", dataclasses.replace(net, loss="half-mse"))]


def _numpy_train(
    net: Network,
    rule: _Rule,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    steps: int,
    learning_rate: float,
    on_step: Callable[[int, float], None],
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent along ``rule``'s gradient, recording the network's loss
    before every step."""
    params = {key: params[key].copy() for key in net.keys}
    losses = np.empty(steps, dtype=np.float64)
    for i in range(steps):
        if rule.net == net:
            losses[i], grads = network.loss_and_gradients(net, params, X, Y)
        else:
            losses[i], grads = network.loss(net, params, X, Y), network.gradients(rule.net, params, X, Y)
        params = {key: params[key] - learning_rate * grads["d" + key] for key in net.keys}
        on_step(i, float(losses[i]))
    return params, losses


def _nudged(net: Network, params: Params) -> Params:
    """``params`` moved by one rounding error: eps times each array's scale (1 below 1), in
    signs that follow no pattern of the network's (a fixed draw)."""
    signs = np.random.default_rng(0)
    eps = np.finfo(np.float64).eps
    out = {}
    for key in net.keys:
        value = params[key]
        step = eps * max(float(np.max(np.abs(value), initial=0.0)), 1.0)
        out[key] = value + step * signs.choice([-1.0, 1.0], size=np.shape(value))
    return out


# --- the comparison -----------------------------------------------------------------------


def _verdict(value: float, tolerance: float, excuse: str | None = None) -> str:
    if value <= tolerance:
        return "agree"
    return excuse or "DIFFER"


def _hidden_kinks(net: Network, cache: Params) -> list[dict[str, int]]:
    if net.hidden != "relu":
        return []
    kinks = []
    for layer in range(1, net.depth):
        for a, b in np.argwhere(cache[f"Z{layer}"] == 0):
            unit, sample = (a, b) if net.layout == "columns" else (b, a)
            kinks.append({"layer": layer, "unit": int(unit), "sample": int(sample)})
    return kinks


def _sample(net: Network, X: np.ndarray, i: int) -> str:
    inputs = X[:, i] if net.layout == "columns" else X[i]
    if inputs.size > 3:
        return f"sample {i}"
    return f"sample ({', '.join(f'{v:g}' for v in inputs)})"


def _kink_notes(net: Network, kinks: list[dict[str, int]], X: np.ndarray, relu: str) -> list[str]:
    if relu == "maximum" and net.hidden != "relu":
        return [
            f"The hidden layers are {net.hidden}, not relu: the frameworks' ReLU makes no difference here."
        ]
    if not kinks:
        if relu == "maximum":
            return [
                "No hidden Z is exactly 0 at these weights, so the relu'(0) conventions cannot differ here."
            ]
        return []
    where = ", ".join(f"unit {k['unit']} on {_sample(net, X, k['sample'])}" for k in kinks[:6])
    layers = sorted({f"Z{k['layer']}" for k in kinks})
    more = f" and {len(kinks) - 6} more" if len(kinks) > 6 else ""
    note = (
        f"{' and '.join(layers)} = 0 exactly for {where}{more}: the ReLU has no derivative there. "
        "NumPy (Z > 0 mask), F.relu and jax.nn.relu take relu'(0) = 0; torch.maximum and jnp.maximum take 1/2"
    )
    if relu == "relu":
        return [note + ", so they would differ here (the maximum ReLU shows it: --relu maximum)."]
    return [note + ". Stages marked 'kink' differ by exactly that term, not by an error."]


def _subnormal_notes(params: Params, cache: Params, with_jax: bool) -> list[str]:
    # XLA on CPU flushes subnormal floats to zero in arithmetic; NumPy and PyTorch keep them.
    if not with_jax:
        return []
    tiny = np.finfo(np.float64).tiny
    arrays = {**params, **{key: value for key, value in cache.items() if key[0] == "Z"}}
    found = [name for name, value in arrays.items() if np.any((value != 0) & (np.abs(value) < tiny))]
    if not found:
        return []
    return [
        f"{', '.join(found)} hold(s) subnormal numbers (0 < |x| < {tiny:.1e}). JAX on CPU (XLA) "
        "flushes them to zero, so JAX computes with 0 there (a Z of 1e-310 is on the kink to "
        "JAX and positive to NumPy): a difference in the JAX column here is the platform's."
    ]


class _Measurement:
    """Every stage of :func:`compare`, added in order."""

    def __init__(
        self, net: Network, params: Params, X: np.ndarray, Y: np.ndarray, modules: dict[str, ModuleType]
    ) -> None:
        self.net, self.params, self.X, self.Y, self.modules = net, params, X, Y, modules
        self.stages: list[Stage] = []
        self.notes: list[str] = []

    def add(
        self, name: str, tolerance: float, values: dict[str, float], excuses: dict[str, str | None]
    ) -> None:
        verdicts = {fw: _verdict(values[fw], tolerance, excuses.get(fw)) for fw in values}
        self.stages.append(Stage(name, tolerance, values, verdicts))

    def evaluations(
        self, rules: list[_Rule], relu: str, kinked: bool
    ) -> dict[str | None, dict[str, set[str]]]:
        """Forward pass, losses and gradients; returns, per rule, each framework's verdicts on
        its gradients."""
        net, params, X, Y, modules = self.net, self.params, self.X, self.Y, self.modules
        cache = network.forward(net, params, X)
        outputs = {fw: mod.forward(params, X, net=net, relu=relu) for fw, mod in modules.items()}
        values = {fw: max(disagreement(out[k], cache[k]) for k in cache) for fw, out in outputs.items()}
        self.add(f"forward ({', '.join(cache)})", EVALUATION_TOLERANCE, values, {})
        for rule in rules:
            reference = network.loss(rule.net, params, X, Y)
            values = {
                fw: disagreement(mod.loss(params, X, Y, net=net, rule=rule.key, relu=relu), reference)
                for fw, mod in modules.items()
            }
            self.add(f"loss: {rule.net.spec.label}", EVALUATION_TOLERANCE, values, {})
        verdicts: dict[str | None, dict[str, set[str]]] = {}
        for rule in rules:
            reference = network.gradients(rule.net, params, X, Y)
            at_half = None
            if kinked and relu == "maximum":
                at_half = network.gradients(rule.net, params, X, Y, relu_at_zero=0.5)
            grads = {
                fw: mod.gradients(params, X, Y, net=net, rule=rule.key, relu=relu)
                for fw, mod in modules.items()
            }
            verdicts[rule.key] = {fw: set() for fw in modules}
            for name in reference:
                values = {fw: disagreement(g[name], reference[name]) for fw, g in grads.items()}
                excuses: dict[str, str | None] = {}
                for fw, g in grads.items():
                    if at_half is not None and disagreement(g[name], at_half[name]) <= EVALUATION_TOLERANCE:
                        excuses[fw] = "kink"
                self.add(f"{name} ({rule.label})", EVALUATION_TOLERANCE, values, excuses)
                for fw, verdict in self.stages[-1].verdict.items():
                    verdicts[rule.key][fw].add(verdict)
        return verdicts

    def trajectories(
        self,
        rule: _Rule,
        steps: int,
        learning_rate: float,
        relu: str,
        progress: Progress,
        gradients: dict[str, set[str]],
    ) -> None:
        """The parameters and the loss history after ``steps`` steps; ``gradients`` are each
        framework's verdicts on the rule's gradients, which a trajectory's excuse needs."""
        net, params, X, Y = self.net, self.params, self.X, self.Y
        on_step, close = progress(f"numpy {rule.key or net.loss}")
        ref_params, ref_losses = _numpy_train(net, rule, params, X, Y, steps, learning_rate, on_step)
        close()
        trained: dict[str, tuple[Params, np.ndarray]] = {}
        for fw, mod in self.modules.items():
            options: dict[str, Any] = {
                "steps": steps,
                "lr": learning_rate,
                "net": net,
                "rule": rule.key,
                "relu": relu,
            }
            if fw == "torch":
                on_step, close = progress(f"torch {rule.key or net.loss}")
                trained[fw] = mod.train(params, X, Y, on_step=on_step, **options)
                close()
            else:
                trained[fw] = mod.train(params, X, Y, **options)
        moved = {
            fw: max(disagreement(p[k], ref_params[k]) for k in net.keys) for fw, (p, _) in trained.items()
        }
        histories = {fw: disagreement(history, ref_losses) for fw, (_, history) in trained.items()}
        sound = {fw for fw, verdicts in gradients.items() if "DIFFER" not in verdicts}
        # A trajectory that starts from a relu'(0) difference in its first gradient follows it.
        excuses: dict[str, str | None] = {fw: "kink" for fw in sound if "kink" in gradients[fw]}
        if not _finite((ref_params, ref_losses)):
            excuses = self._diverged(rule, ref_losses, sound)
        elif not excuses and max(*moved.values(), *histories.values(), 0.0) > TRAJECTORY_TOLERANCE:
            apart = {fw: max(moved[fw], histories[fw]) for fw in trained}
            excuses = self._rounding_grown(rule, steps, learning_rate, (ref_params, ref_losses), apart, sound)
        self.add(f"params after {steps:,} steps ({rule.label})", TRAJECTORY_TOLERANCE, moved, excuses)
        self.add(f"loss history ({rule.label})", TRAJECTORY_TOLERANCE, histories, excuses)

    def _rounding_grown(
        self,
        rule: _Rule,
        steps: int,
        learning_rate: float,
        reference: tuple[Params, np.ndarray],
        apart: dict[str, float],
        sound: set[str],
    ) -> dict[str, str | None]:
        """``"chaotic"`` for the frameworks (of ``sound`` gradients) whose trajectories are
        ``apart`` from NumPy's by no more than rounding grows to on this one, with a note."""
        net, (ref_params, ref_losses) = self.net, reference
        far = _numpy_train(
            net, rule, _nudged(net, self.params), self.X, self.Y, steps, learning_rate, _no_step
        )
        grown = max(
            disagreement(far[1], ref_losses), *(disagreement(far[0][k], ref_params[k]) for k in net.keys)
        )
        chaotic = {fw for fw in sound if apart[fw] <= CHAOS_FACTOR * grown}
        note = (
            f"Under the {rule.label}, NumPy's own run started one rounding error away "
            f"ends {grown:.1e} away after {steps:,} steps: the trajectory amplifies rounding, so "
            "the frameworks' rounding differences grow past the tolerance. Stages marked "
            "'chaotic' differ by no more than that growth allows (fewer --steps or a smaller "
            "--learning-rate compares further)."
        )
        if chaotic:
            self.notes.append(note)
        return {fw: "chaotic" for fw in chaotic}

    def _diverged(self, rule: _Rule, losses: np.ndarray, sound: set[str]) -> dict[str, str | None]:
        """A run that overflows is compared no further: where and whether it overflows its last
        roundings decide (and how each platform rounds near the largest float)."""
        where = ""
        if not np.all(np.isfinite(losses)):
            where = f" from step {int(np.argmax(~np.isfinite(losses))):,}"
        self.notes.append(
            f"Under the {rule.label}, NumPy's run diverges: its values overflow to inf or NaN{where}. "
            "Where a run overflows, its last roundings decide, so its stages are not compared "
            "(marked 'chaotic' where they differ; a smaller --learning-rate compares the whole run)."
        )
        return {fw: "chaotic" for fw in sound}


def _no_step(i: int, loss: float) -> None:
    pass


def _finite(run: tuple[Params, np.ndarray]) -> bool:
    params, losses = run
    return bool(np.all(np.isfinite(losses))) and all(np.all(np.isfinite(v)) for v in params.values())


@contextlib.contextmanager
def _one_torch_thread(active: bool) -> Iterator[None]:
    """Run torch on one thread, restoring the caller's setting afterwards.

    Tensors of a few samples gain nothing from intra-op threads, and on a busy machine each
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
    net: Network | None = None,
    steps: int = 1000,
    learning_rate: float = 0.01,
    relu: str = "relu",
    frameworks: Sequence[str] = FRAMEWORKS,
    source: str = "parameters",
    progress: Progress | None = None,
) -> Comparison:
    """Run NumPy and each of ``frameworks`` from ``params`` and measure every stage.

    ``net`` is the network (default: the one ``params`` and ``X`` describe); ``X``, ``Y``
    default to the XOR data. ``relu`` picks the frameworks' ReLU ("relu" or "maximum");
    NumPy always uses relu'(0) = 0. ``progress(description)`` may return an
    ``(on_step, close)`` pair for each NumPy and PyTorch training run. Raises ``ValueError``
    for parameters or data that do not fit the network; a framework that is not installed
    raises :class:`reference_impls.MissingFrameworkError`.
    """
    import reference_impls
    from reference_impls._common import check_relu, parameters

    if steps < 1:
        raise ValueError(f"Bad steps: got {steps}, expected a positive integer.")
    check_relu(relu)
    if X is None or Y is None:
        from gradcheck_xor.model import xor_data

        X, Y = xor_data()
        if net is not None and net.layout == "rows":
            X, Y = X.T, Y.T
    if net is None:
        net = network.describe(params, X)
    params = parameters(net, params)
    X, Y = network.as_data(net, X, Y)
    modules = {name: reference_impls.load(name) for name in frameworks}
    if progress is None:
        progress = lambda desc: (_no_step, (lambda: None))  # noqa: E731
    cache = network.forward(net, params, X)
    kinks = _hidden_kinks(net, cache)
    measured = _Measurement(net, params, X, Y, modules)
    rules = _rules(net)
    # A learning rate that makes the runs diverge is not an error: their inf and NaN are compared.
    with _one_torch_thread("torch" in modules), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        verdicts = measured.evaluations(rules, relu, bool(kinks))
        for rule in rules:
            measured.trajectories(rule, steps, learning_rate, relu, progress, verdicts[rule.key])
    versions = {"numpy": np.__version__, **{fw: mod.FRAMEWORK_VERSION for fw, mod in modules.items()}}
    return Comparison(
        source=source,
        network=str(net),
        steps=steps,
        learning_rate=learning_rate,
        relu=relu,
        versions=versions,
        kinks=kinks,
        stages=measured.stages,
        notes=_kink_notes(net, kinks, X, relu)
        + measured.notes
        + _subnormal_notes(params, cache, "jax" in modules),
    )
