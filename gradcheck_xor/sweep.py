"""Seed sweeps: train thousands of initialisations of the XOR network at once and count how
each run ends.

One training run says little: whether XOR gets solved depends mostly on the initial draw.
:func:`run_sweep` draws ``n_seeds`` initialisations, labels each with the diagnostics' codes
(:func:`gradcheck_xor.diagnostics.init_codes`), trains them all under one update rule and
classifies every run:

* ``solved``: every output within 0.4 of its label (``|A2 - y| < 0.4``);
* ``stuck``: the binary cross-entropy within 1e-3 of ln 2, the loss of predicting 0.5;
* ``other``: anything else (still learning, or stuck somewhere else).

:func:`summarize` turns that into rates with 95% Wilson intervals and, for each diagnostic
code, how well it predicts "not solved" (precision, recall, failure rate of flagged against
unflagged initialisations), as a :class:`SweepSummary` (a dict that shows as its report in
Jupyter); :func:`format_report` prints it. :func:`train_one` trains a
single parameter set under the same rules, for a run you watch step by step.

Update rules (``rule``): ``"notebook"`` is the tutorial's backward pass, defects included
(``dZ2 = (A2 - Y) * A2 * (1 - A2)``, relu'(0) = 0), followed by its plain update;
``"bce"`` is the exact gradient of the mean binary cross-entropy (``dZ2 = (A2 - Y) / m``),
as in :mod:`gradcheck_xor.model`. Both run on the notebook's XOR data.

Backends give the same outcomes: ``"numpy"`` (always available; a thread per core, see
:mod:`gradcheck_xor._sweep_numpy`) and ``"jax"`` (the ``jax`` extra, imported only when
asked for; the seeds sharded over a JAX CPU device per core, in this process, see
:mod:`gradcheck_xor._sweep_jax`). A JAX sweep that runs before anything else in the process
has used JAX sets JAX's ``jax_num_cpu_devices`` to the number of cores, for the rest of the
process. Both backends train in chunks, so memory stays bounded however many seeds there
are, and both stop within a fraction of a second on Ctrl-C, leaving nothing running.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gradcheck_xor import _html, _sweep_numpy, model
from gradcheck_xor import _sweep_layout as layout
from gradcheck_xor import network as nw
from gradcheck_xor._losses import HIDDEN_FUNCTIONS
from gradcheck_xor._sweep_layout import BatchParams, Progress

__all__ = [
    "BACKENDS",
    "OUTCOMES",
    "RULES",
    "SweepResult",
    "SweepSummary",
    "classify",
    "format_report",
    "initial_params",
    "jax_available",
    "outcome_of",
    "run_sweep",
    "summarize",
    "train_batch",
    "train_one",
    "wilson_interval",
]

Rule = Literal["notebook", "bce"]
Backend = Literal["numpy", "jax"]
RULES: tuple[str, ...] = ("notebook", "bce")
BACKENDS: tuple[str, ...] = ("numpy", "jax")
OUTCOMES: tuple[str, ...] = ("solved", "stuck", "other")

SOLVED_MARGIN = 0.4  # solved: every |A2 - y| below this
STUCK_TOLERANCE = 1e-3  # stuck: |loss - ln 2| below this
LN2 = math.log(2.0)
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile

# Seeds drawn, diagnosed and classified together in run_sweep: bounds memory, not speed.
BLOCK = 65536


# --- the initialiser -----------------------------------------------------------------------


def initial_params(seeds: range | np.ndarray, *, scale: float = 1.0, bias: float = 0.0) -> BatchParams:
    """The notebook's initialiser for each seed, batched along a leading axis.

    For seed ``s``: ``np.random.seed(s)``, ``W1 = randn(2, 2)``, then ``W2 = randn(1, 2)``,
    biases zero, exactly as :func:`gradcheck_xor.model.init_params` (bit for bit), without
    touching NumPy's global random state. ``scale`` multiplies the weights and ``bias``
    fills both biases, for setups other than the notebook's.
    """
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    draws = np.empty((seeds.size, 6))
    rng = np.random.RandomState()  # re-seeded per seed: far cheaper than a new RandomState
    for i, s in enumerate(seeds.tolist()):
        rng.seed(s)
        draws[i] = rng.standard_normal(6)  # the same stream as randn(2, 2) then randn(1, 2)
    if scale != 1.0:
        draws *= scale
    S = seeds.size
    return {
        "W1": draws[:, :4].reshape(S, 2, 2),
        "b1": np.full((S, 2, 1), float(bias)),
        "W2": draws[:, 4:].reshape(S, 1, 2),
        "b2": np.full((S, 1, 1), float(bias)),
    }


# --- training and classifying a batch ------------------------------------------------------


def _check_options(steps: int, learning_rate: float, rule: str, backend: str) -> None:
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}: expected one of {', '.join(RULES)}.")
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}.")
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: got {steps!r}, expected a non-negative integer.")
    if not math.isfinite(learning_rate):
        raise ValueError(f"learning_rate: got {learning_rate!r}, expected a finite number.")


def jax_available() -> bool:
    """Whether the ``"jax"`` backend can run (JAX is installed), without importing JAX."""
    return importlib.util.find_spec("jax") is not None


def train_batch(
    params: BatchParams,
    *,
    steps: int,
    learning_rate: float = 0.01,
    rule: Rule = "notebook",
    backend: Backend = "numpy",
    chunk: int | None = None,
    devices: int | None = None,
    on_progress: Progress | None = None,
) -> BatchParams:
    """Train S parameter sets on the notebook's XOR data, each independently, full batch.

    ``params`` holds ``W1`` (S, 2, 2), ``b1`` (S, 2, 1), ``W2`` (S, 1, 2), ``b2`` (S, 1, 1);
    the result has the same layout. Under ``rule="notebook"`` set s ends where
    :func:`gradcheck_xor.notebook.train` ends from the same parameters (to rounding: the
    sums run in another order). ``on_progress(n)`` is called, from the calling thread, as
    seed-steps complete.

    ``chunk``: seeds trained together (NumPy: 8,192 per thread; JAX: 1,024 per inner loop);
    the results are the same bits whatever it is. ``devices`` (JAX backend): at most this
    many devices share the seeds (default: every core, as a CPU device each).
    """
    _check_options(steps, learning_rate, rule, backend)
    P = layout.pack(params)
    report = on_progress or (lambda n: None)
    if steps == 0 or P.shape[1] == 0:
        return layout.unpack(P)
    if backend == "jax":
        from gradcheck_xor import _sweep_jax

        P = _sweep_jax.train(P, steps, learning_rate, rule, chunk or _sweep_jax.CHUNK, report, devices)
    else:
        P = _sweep_numpy.train(P, steps, learning_rate, rule, chunk or _sweep_numpy.CHUNK, report)
    return layout.unpack(P)


def classify(params: BatchParams) -> tuple[np.ndarray, np.ndarray]:
    """How each of S runs ended: ``(outcome, loss)``.

    ``outcome`` (S,) holds indices into :data:`OUTCOMES` (0 solved, 1 stuck, 2 other);
    ``loss`` (S,) is the XOR network's loss (the mean binary cross-entropy, from the logit,
    finite for any finite parameters) on the notebook's data.
    """
    S = layout.check_batch(params)
    # One flat parameter vector per seed, in the network's order W1, b1, W2, b2.
    thetas = np.concatenate([np.reshape(params[key], (S, -1)) for key in nw.XOR.keys], axis=1)
    with np.errstate(all="ignore"):  # non-finite parameters classify as "other"
        loss = nw.losses(nw.XOR, thetas, layout.X, layout.Y)
        outcome = _outcomes(nw.outputs(nw.XOR, thetas, layout.X)[:, 0, :], layout.LABELS, loss)
    return outcome, loss


def _outcomes(predictions: np.ndarray, labels: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices into :data:`OUTCOMES` of runs with ``predictions`` (..., m) and ``loss`` (...)."""
    solved = np.all(np.abs(predictions - labels) < SOLVED_MARGIN, axis=-1)
    stuck = np.abs(loss - LN2) < STUCK_TOLERANCE
    return np.where(solved, 0, np.where(stuck, 1, 2)).astype(np.int8)


def outcome_of(predictions: np.ndarray, labels: np.ndarray, loss: float) -> str:
    """The outcome of one run: ``"solved"``, ``"stuck"`` or ``"other"`` (see the module)."""
    return OUTCOMES[int(_outcomes(np.ravel(predictions), np.ravel(labels), np.float64(loss)))]


# --- a sweep over seeds ----------------------------------------------------------------------


@dataclass
class SweepResult:
    """Per-seed results of :func:`run_sweep` and the setup that produced them.

    ``outcome[i]`` indexes :data:`OUTCOMES` for seed ``first_seed + i``; ``codes`` maps each
    diagnostic code to a bool array telling whether it fired on that seed's initialisation.
    """

    first_seed: int
    n_seeds: int
    steps: int
    rule: str
    learning_rate: float
    backend: str
    init_scale: float
    init_bias: float
    outcome: np.ndarray
    final_loss: np.ndarray
    codes: dict[str, np.ndarray]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ns_per_seed_step(self) -> float:
        """Training wall time per seed and step, in nanoseconds."""
        work = self.n_seeds * self.steps
        return 1e9 * self.seconds.get("train", 0.0) / work if work else float("nan")


def run_sweep(
    n_seeds: int,
    *,
    first_seed: int = 0,
    steps: int = 200_000,
    rule: Rule = "notebook",
    learning_rate: float = 0.01,
    backend: Backend = "numpy",
    init_scale: float = 1.0,
    init_bias: float = 0.0,
    block: int = BLOCK,
    chunk: int | None = None,
    devices: int | None = None,
    on_progress: Progress | None = None,
) -> SweepResult:
    """Initialise seeds ``first_seed .. first_seed + n_seeds - 1``, diagnose, train, classify.

    Seeds go through in blocks of ``block`` (drawn, diagnosed, trained and classified
    together), so memory holds one block's work arrays plus a few bytes per seed of results.
    ``on_progress(n)`` is called as seed-steps of training complete; ``chunk`` and
    ``devices`` are passed on to :func:`train_batch`.
    """
    from gradcheck_xor.diagnostics import init_codes

    _check_options(steps, learning_rate, rule, backend)
    if not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds: got {n_seeds!r}, expected a positive integer.")
    if first_seed < 0 or first_seed + n_seeds > 2**32:
        raise ValueError(
            f"seeds {first_seed}..{first_seed + n_seeds - 1}: expected seeds in [0, 2**32) "
            "(NumPy's legacy seeding)."
        )
    outcome = np.empty(n_seeds, dtype=np.int8)
    final_loss = np.empty(n_seeds)
    codes: dict[str, np.ndarray] = {}
    seconds = {"init": 0.0, "diagnose": 0.0, "train": 0.0, "classify": 0.0}
    started = time.perf_counter()
    for part in layout.chunks(n_seeds, block):
        t0 = time.perf_counter()
        params = initial_params(
            range(first_seed + part.start, first_seed + part.stop), scale=init_scale, bias=init_bias
        )
        t1 = time.perf_counter()
        W1, b1, W2, b2 = (params[name] for name in ("W1", "b1", "W2", "b2"))
        fired = init_codes(W1, b1, W2, b2, layout.X, layout.LABELS, notebook_loss=rule == "notebook")
        for code, flags in fired.items():
            codes.setdefault(code, np.zeros(n_seeds, dtype=bool))[part] = flags
        t2 = time.perf_counter()
        trained = train_batch(
            params,
            steps=steps,
            learning_rate=learning_rate,
            rule=rule,
            backend=backend,
            chunk=chunk,
            devices=devices,
            on_progress=on_progress,
        )
        t3 = time.perf_counter()
        outcome[part], final_loss[part] = classify(trained)
        t4 = time.perf_counter()
        for name, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            seconds[name] += dt
    seconds["total"] = time.perf_counter() - started
    return SweepResult(
        first_seed=first_seed,
        n_seeds=n_seeds,
        steps=steps,
        rule=rule,
        learning_rate=learning_rate,
        backend=backend,
        init_scale=init_scale,
        init_bias=init_bias,
        outcome=outcome,
        final_loss=final_loss,
        codes=codes,
        seconds=seconds,
    )


# --- the report --------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion ``successes / n`` (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 and n
    successes. ``None`` when ``n == 0``: there is no proportion to bound.
    """
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes: got {successes}, expected 0 <= successes <= n = {n}.")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 and n successes the bounds are exactly 0 and 1; the formula gets them to rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _proportion(k: int, n: int) -> dict[str, Any]:
    interval = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "value": k / n if n else None,
        "ci95": list(interval) if interval else None,
    }


class SweepSummary(dict[str, Any], _html.Displayed):
    """What :func:`summarize` returns: a plain ``dict`` (``summary["counts"]["stuck"]``,
    ``json.dumps(summary)``) that shows as its report: ``str(summary)`` is
    :func:`format_report`'s text, Jupyter shows it as HTML tables, and its ``repr`` is one line."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_report(self)

    def __repr__(self) -> str:
        rates = ", ".join(f"{name} {_rate(self['rates'][name])}" for name in OUTCOMES)
        return f"<SweepSummary {self['n_seeds']:,} seeds, rule {self['rule']}: {rates}>"

    def _repr_html_(self) -> str:
        outcomes = _html.table(
            ("outcome", "seeds", "rate [95% Wilson interval]"),
            [(name, f"{self['counts'][name]:,}", _pct(self["rates"][name])) for name in OUTCOMES],
        )
        predictors = _html.table(
            ("code", "flagged", "precision", "recall", "fails if unflagged"),
            [
                (
                    code,
                    f"{p['flagged']:,}",
                    _pct(p["precision"]),
                    _pct(p["recall"]),
                    _pct(p["failure_rate_unflagged"]),
                )
                for code, p in self["predictors"].items()
            ],
            'Diagnostic codes at initialisation as predictors of "not solved" (stuck or other)',
        )
        lines = [("", line.strip()) for line in _setup(self)] + [("", _PREDICTORS)]
        verdict = f"solved {_rate(self['rates']['solved'])} of {self['n_seeds']:,} seeds"
        return _html.report("gradcheck-xor sweep", verdict, None, lines, [outcomes, predictors])


def summarize(result: SweepResult) -> SweepSummary:
    """The sweep as plain data (``json.dumps`` accepts it): counts, rates with 95% Wilson
    intervals, and for each diagnostic code its figures as a predictor of "not solved".

    For a code: ``precision`` = P(not solved | flagged), ``recall`` = P(flagged | not
    solved), and the failure rates of flagged and unflagged initialisations (the first is
    the precision, under its other name).
    """
    n = result.n_seeds
    counts = {name: int(np.count_nonzero(result.outcome == k)) for k, name in enumerate(OUTCOMES)}
    failed = result.outcome != 0
    n_failed = int(np.count_nonzero(failed))
    predictors: dict[str, Any] = {}
    for code, flagged in result.codes.items():
        n_flagged = int(np.count_nonzero(flagged))
        hits = int(np.count_nonzero(flagged & failed))
        unflagged_failed = n_failed - hits
        predictors[code] = {
            "flagged": n_flagged,
            "precision": _proportion(hits, n_flagged),
            "recall": _proportion(hits, n_failed),
            "failure_rate_flagged": _proportion(hits, n_flagged),
            "failure_rate_unflagged": _proportion(unflagged_failed, n - n_flagged),
        }
    loss = result.final_loss[np.isfinite(result.final_loss)]
    return SweepSummary(
        {
            "first_seed": result.first_seed,
            "n_seeds": n,
            "steps": result.steps,
            "rule": result.rule,
            "learning_rate": result.learning_rate,
            "backend": result.backend,
            "init": {"scale": result.init_scale, "bias": result.init_bias},
            "counts": counts,
            "rates": {name: _proportion(k, n) for name, k in counts.items()},
            "final_loss": {
                "min": float(loss.min()) if loss.size else None,
                "median": float(np.median(loss)) if loss.size else None,
                "max": float(loss.max()) if loss.size else None,
            },
            "predictors": predictors,
            "ns_per_seed_step": result.ns_per_seed_step,
            "seconds": dict(result.seconds),
        }
    )


def _rate(p: dict[str, Any]) -> str:
    return "-" if p["value"] is None else f"{100 * p['value']:.1f}%"


def _pct(p: dict[str, Any]) -> str:
    if p["value"] is None:
        return "       -       "
    lo, hi = p["ci95"]
    return f"{100 * p['value']:5.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}]"


_PREDICTORS = "precision = P(not solved | flagged); recall = P(flagged | not solved)."


def _setup(s: dict[str, Any]) -> list[str]:
    """The seeds, the initialiser, the rule and the speed; the final losses when there are any."""
    last = s["first_seed"] + s["n_seeds"] - 1
    init = s["init"]
    init_text = "notebook initialiser" + (
        f" (weights x {init['scale']:g}, biases {init['bias']:g})"
        if (init["scale"], init["bias"]) != (1.0, 0.0)
        else " (randn weights, zero biases)"
    )
    lines = [
        f"seeds {s['first_seed']}..{last} ({s['n_seeds']:,}), {init_text}",
        f"  rule {s['rule']}, learning rate {s['learning_rate']:g}, {s['steps']:,} steps, "
        f"backend {s['backend']}: {s['ns_per_seed_step']:.1f} ns per seed-step",
    ]
    fl = s["final_loss"]
    if fl["median"] is not None:
        lines.append(f"final loss: min {fl['min']:.4g}, median {fl['median']:.4g}, max {fl['max']:.4g}")
    return lines


def format_report(summary: dict[str, Any]) -> str:
    """The summary as text: outcome rates, then a table of the diagnostic codes as predictors."""
    s = summary
    first, second, *final_loss = _setup(s)
    lines = [f"gradcheck-xor sweep: {first}", second, "", "outcome   seeds    rate [95% Wilson interval]"]
    for name in OUTCOMES:
        lines.append(f"{name:<8}{s['counts'][name]:>8,}   {_pct(s['rates'][name])}")
    lines += [
        *final_loss,
        "",
        'Diagnostic codes at initialisation as predictors of "not solved" (stuck or other):',
        f"{'code':<21}{'flagged':>8}   {'precision':<21}{'recall':<21}{'fails if unflagged':<21}",
    ]
    for code, p in s["predictors"].items():
        lines.append(
            f"{code:<21}{p['flagged']:>8,}   {_pct(p['precision']):<21}{_pct(p['recall']):<21}"
            f"{_pct(p['failure_rate_unflagged']):<21}"
        )
    lines.append(_PREDICTORS)
    return "\n".join(line.rstrip() for line in lines)


# --- one run you can watch ---------------------------------------------------------------------


def train_one(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "notebook",
    activation: model.Activation = "relu",
    steps: int = 200_000,
    learning_rate: float = 0.01,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train one parameter set on ``X``, ``Y``; return ``(params, loss_history)``.

    ``rule="bce"`` is :func:`gradcheck_xor.model.train`. ``rule="notebook"`` is the
    notebook's backward pass (``dZ2 = (A2 - Y) * A2 * (1 - A2)``, divided by m) with the
    chosen hidden activation; with ReLU it follows :func:`gradcheck_xor.notebook.train`.

    Under both rules the history is kept as :func:`gradcheck_xor.model.train` keeps it, so a
    long run does not fill memory: with ``k = model.history_every(steps)`` (1 up to
    ``model.MAX_HISTORY`` steps), ``loss_history[j]`` is the model's loss (the binary
    cross-entropy) before step ``j * k``. ``on_step(i, loss)`` hears of every step.
    """
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}: expected one of {', '.join(RULES)}.")
    if rule == "bce":
        return model.train(
            params,
            X,
            Y,
            steps=steps,
            learning_rate=learning_rate,
            activation=activation,
            on_step=on_step,
            diagnostics=False,
        )
    net = model.network_for(activation)
    hidden_backward = HIDDEN_FUNCTIONS[net.hidden][1]
    X, Y = nw.as_data(net, X, Y)
    m = X.shape[1]
    params = {name: np.array(params[name], dtype=np.float64) for name in model.PARAM_SHAPES}
    every = model.history_every(steps)
    losses = np.empty(-(-steps // every))
    with np.errstate(over="ignore"):
        for i in range(steps):
            cache = nw.forward(net, params, X)
            loss = float(nw.logit_losses(net, cache["Z2"], Y))  # the model's loss, from this pass
            if i % every == 0:
                losses[i // every] = loss
            # The notebook's backward pass, its sigmoid and its dZ2 included; the hidden
            # layer's step is the network's own, which is the notebook's mask for ReLU.
            A2 = 1 / (1 + np.exp(-cache["Z2"]))
            dZ2 = (A2 - Y) * A2 * (1 - A2)
            dZ1 = hidden_backward(params["W2"].T @ dZ2, cache["Z1"], cache["A1"])
            params["W1"] -= learning_rate * (dZ1 @ X.T / m)
            params["b1"] -= learning_rate * (dZ1.sum(axis=1, keepdims=True) / m)
            params["W2"] -= learning_rate * (dZ2 @ cache["A1"].T / m)
            params["b2"] -= learning_rate * (dZ2.sum(axis=1, keepdims=True) / m)
            if on_step is not None:
                on_step(i, loss)
    return params, losses
