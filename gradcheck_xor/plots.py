"""Pictures of a training run and of a seed sweep, written as PNG files.

* :func:`training_figure`: the loss curve beside the decision boundary the trained network
  draws over [-0.5, 1.5]², with the data on top;
* :func:`sweep_figure`: the histogram of the sweep's final losses beside the outcome
  (solved / stuck / other) of the initialisations each diagnostic code flagged.

matplotlib is the ``plot`` extra: it is imported only here, inside the functions, with the
non-interactive Agg backend. Without it the functions raise :class:`PlotUnavailableError`,
whose message says what to install.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcheck_xor import model

if TYPE_CHECKING:
    from gradcheck_xor.sweep import SweepResult

__all__ = [
    "BOUNDARY_RANGE",
    "PlotUnavailableError",
    "decision_grid",
    "outcome_by_code",
    "sweep_figure",
    "training_figure",
]

BOUNDARY_RANGE = (-0.5, 1.5)
_OUTCOME_COLOURS = {"solved": "#2a9d55", "stuck": "#d1495b", "other": "#edae49"}


class PlotUnavailableError(ImportError):
    """matplotlib is not installed; the message names the extra that provides it."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailableError(
            "plotting needs matplotlib, which is not installed: pip install 'gradcheck-xor[plot]'"
        ) from None
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    return plt


def decision_grid(
    params: dict[str, np.ndarray], activation: model.Activation = "relu", n: int = 201
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's output A2 on an ``n`` x ``n`` grid over [-0.5, 1.5]².

    Returns ``(x1, x2, A2)``: the grid's coordinates along each input (n,) and the outputs
    (n, n), ``A2[i, j]`` at input ``(x1[j], x2[i])`` (rows along x2, as images are drawn).
    """
    x1 = np.linspace(*BOUNDARY_RANGE, n)
    x2 = np.linspace(*BOUNDARY_RANGE, n)
    g1, g2 = np.meshgrid(x1, x2)
    A2 = model.predict(params, np.stack([g1.ravel(), g2.ravel()]), activation)
    return x1, x2, A2.reshape(n, n)


def training_figure(
    losses: np.ndarray,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    path: str | os.PathLike[str],
    *,
    activation: model.Activation = "relu",
    title: str | None = None,
    every: int = 1,
) -> None:
    """Write one PNG: the loss per step (left) and the decision boundary A2 = 0.5 (right).

    ``losses[j]`` is the loss before step ``j * every`` (a long run's history keeps every
    ``every``-th loss, see :func:`gradcheck_xor.model.history_every`); it is drawn at step
    ``j * every + 1`` of the logarithmic axis, which starts at step 1.
    """
    if not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every: got {every!r}, expected a positive integer.")
    plt = _pyplot()
    X = model.as_inputs(X)
    labels = model.as_labels(Y, X.shape[1])[0]
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)

    steps = np.arange(len(losses)) * every + 1
    ax_loss.plot(steps, losses, color="#264653", linewidth=1.2)
    ax_loss.axhline(np.log(2.0), color="#d1495b", linestyle="--", linewidth=1, label="ln 2 (predicting 0.5)")
    ax_loss.set_xscale("log")
    losses = np.asarray(losses)
    if np.all(losses > 0) and losses.max() > 10 * losses.min():  # log scale only when it helps
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("binary cross-entropy")
    ax_loss.set_title("loss")
    ax_loss.legend(loc="best")
    ax_loss.grid(True, which="both", alpha=0.3)

    x1, x2, A2 = decision_grid(params, activation)
    image = ax_map.contourf(x1, x2, A2, levels=np.linspace(0.0, 1.0, 21), cmap="RdBu_r", vmin=0.0, vmax=1.0)
    if A2.min() < 0.5 < A2.max():
        ax_map.contour(x1, x2, A2, levels=[0.5], colors="black", linewidths=1.5)
    fig.colorbar(image, ax=ax_map, label="A2 (output)")
    for label, marker in ((0.0, "o"), (1.0, "s")):
        pick = labels == label
        ax_map.scatter(
            X[0, pick], X[1, pick], marker=marker, s=90, c="white", edgecolors="black", label=f"y = {label:g}"
        )
    other = ~np.isin(labels, (0.0, 1.0))
    if other.any():
        ax_map.scatter(
            X[0, other], X[1, other], marker="^", s=90, c="white", edgecolors="black", label="y other"
        )
    ax_map.set_xlim(*BOUNDARY_RANGE)
    ax_map.set_ylim(*BOUNDARY_RANGE)
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("x1")
    ax_map.set_ylabel("x2")
    ax_map.set_title("decision boundary (A2 = 0.5)")
    ax_map.legend(loc="upper right", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def outcome_by_code(result: SweepResult) -> list[tuple[str, int, dict[str, int]]]:
    """The outcome counts per group of initialisations, for the sweep figure.

    One group per diagnostic code that flagged some seeds but not all (a code that fires on
    every seed tells nothing apart), then the seeds none of those codes flagged, then all
    seeds: ``[(label, seeds in group, {outcome: count}), ...]``.
    """
    from gradcheck_xor.sweep import OUTCOMES

    def counts(pick: np.ndarray) -> dict[str, int]:
        return {name: int(np.count_nonzero(result.outcome[pick] == k)) for k, name in enumerate(OUTCOMES)}

    groups = []
    unflagged = np.ones(result.n_seeds, dtype=bool)
    for code, flagged in result.codes.items():
        n = int(np.count_nonzero(flagged))
        if 0 < n < result.n_seeds:
            groups.append((code, n, counts(flagged)))
            unflagged &= ~flagged
    groups.append(("none of these", int(np.count_nonzero(unflagged)), counts(unflagged)))
    groups.append(("all seeds", result.n_seeds, counts(np.ones(result.n_seeds, dtype=bool))))
    return groups


def sweep_figure(result: SweepResult, path: str | os.PathLike[str]) -> None:
    """Write one PNG: final-loss histogram (left), outcome by initial diagnostic code (right)."""
    from gradcheck_xor.sweep import LN2, OUTCOMES

    plt = _pyplot()
    fig, (ax_hist, ax_bars) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)

    loss = result.final_loss[np.isfinite(result.final_loss)]
    positive = loss[loss > 0]
    if positive.size:
        low, high = max(positive.min(), 1e-12), max(positive.max(), 1.0)
        bins = np.geomspace(low, high * 1.0001, 60)
        keep = np.isfinite(result.final_loss) & (result.final_loss > 0)
        groups = [result.final_loss[keep & (result.outcome == k)] for k in range(len(OUTCOMES))]
        colours = [_OUTCOME_COLOURS[name] for name in OUTCOMES]
        ax_hist.hist(groups, bins=bins, stacked=True, color=colours, label=list(OUTCOMES))
        ax_hist.set_xscale("log")
    ax_hist.axvline(LN2, color="black", linestyle="--", linewidth=1, label="ln 2")
    ax_hist.set_xlabel("final binary cross-entropy")
    ax_hist.set_ylabel("seeds")
    ax_hist.set_title(f"final loss, {result.n_seeds:,} seeds")
    ax_hist.legend(loc="best")

    groups = outcome_by_code(result)
    names = [f"{label} ({n:,})" for label, n, _ in groups]
    y = np.arange(len(groups))[::-1]
    left = np.zeros(len(groups))
    for name in OUTCOMES:
        share = np.array([c[name] / n if n else 0.0 for _, n, c in groups])
        ax_bars.barh(y, share, left=left, color=_OUTCOME_COLOURS[name], label=name)
        left += share
    ax_bars.set_yticks(y, names)
    ax_bars.set_xlim(0, 1)
    ax_bars.set_xlabel("share of the group's seeds")
    ax_bars.set_title("outcome by diagnostic code at initialisation")
    ax_bars.legend(loc="lower right", fontsize="small")

    fig.suptitle(
        f"rule {result.rule}, learning rate {result.learning_rate:g}, {result.steps:,} steps, "
        f"seeds {result.first_seed}..{result.first_seed + result.n_seeds - 1}"
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)
