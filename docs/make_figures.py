"""Make the tutorial's figures, and the sweep reports the pages quote, from the toolkit's runs.

    python docs/make_figures.py            # full-length runs, into docs/figures/ (a few minutes)
    python docs/make_figures.py --quick    # the same files from short runs (what the tests do)

Each figure is drawn from numbers the toolkit computes (the notebook's training, the
corrected model's, the sweep's outcomes), never from numbers typed in here. The sweeps are
``gradcheck-xor sweep`` with its defaults (1,000 seeds, 200,000 steps), once per update
rule; their text reports are written beside the figures and included in the pages as they are.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from gradcheck_xor import model, notebook, plots, sweep

SEED = 0  # the draw the tutorial follows (gradcheck-xor notebook --seed 0)
DEAD_UNIT_SEED = 1  # the first seed whose draw has a dead hidden unit
FULL_STEPS = 200_000  # the notebook's training loop
QUICK_STEPS = 2_000
FULL_SEEDS, QUICK_SEEDS = 1_000, 50  # seeds per sweep: gradcheck-xor sweep's default
QUICK_SWEEP_STEPS = 500
LN2 = float(np.log(2.0))
NOTEBOOK_COLOUR, CORRECTED_COLOUR = "#c0392b", "#2471a3"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        sys.exit("make_figures: matplotlib is not installed: pip install 'gradcheck-xor[plot]'")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> None:
    path = out / name
    # No timestamp or version in the file, so an unchanged figure is an unchanged file.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    print(f"wrote {path}")


def _notebook_run(steps: int) -> tuple[list[int], list[dict[str, np.ndarray]], np.ndarray]:
    """The notebook's training from seed SEED, its parameters kept at log-spaced steps.

    notebook.train copies the dict it is given and runs the notebook's arithmetic, so training
    in pieces is bit-identical to one long run.
    """
    marks = sorted({0, *np.geomspace(1, steps, 60).astype(int).tolist()})
    params = model.init_params(SEED)
    snapshots, losses = [params], []
    for start, stop in itertools.pairwise(marks):
        params, part = notebook.train(params, iterations=stop - start)
        losses.append(part)
        snapshots.append(params)
    return marks, snapshots, np.concatenate(losses)


def loss_curves(out: Path, steps: int, nb_losses: np.ndarray, fixed_losses: np.ndarray) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    x = np.arange(1, steps + 1)
    ax.plot(x, nb_losses, color=NOTEBOOK_COLOUR, label="notebook (MSE-style backward)")
    ax.plot(x, fixed_losses, color=CORRECTED_COLOUR, label="corrected (exact BCE gradient)")
    ax.axhline(LN2, color="0.4", linestyle="--", linewidth=1)
    ax.text(1.2, LN2 * 0.84, "ln 2 = 0.6931: every prediction 0.5", color="0.3", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title(f"Same initial weights (seed {SEED}), same learning rate 0.01")
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, out, "loss_curves.png")
    plt.close(fig)


def _panel(ax, params: dict[str, np.ndarray], title: str) -> None:
    """Output probability over the input plane, the hidden units' kinks and the four samples."""
    X, Y = model.xor_data()
    g = np.linspace(-0.5, 1.5, 161)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()])
    A2 = model.predict(params, grid).reshape(gx.shape)
    image = ax.contourf(gx, gy, A2, levels=np.linspace(0, 1, 11), cmap="RdBu_r", vmin=0, vmax=1)
    ax.contour(gx, gy, A2, levels=[0.5], colors="k", linewidths=1.2)
    for unit, style in ((0, "-"), (1, "--")):
        w, b = params["W1"][unit], params["b1"][unit, 0]
        Z = w[0] * gx + w[1] * gy + b
        if np.ptp(np.sign(Z)) > 0:  # the unit's kink Z1 = 0 crosses the plotted square
            ax.contour(gx, gy, Z, levels=[0.0], colors="#f1c40f", linewidths=1.6, linestyles=style)
    ax.scatter(X[0], X[1], c=Y[0], cmap="RdBu_r", vmin=0, vmax=1, edgecolors="k", s=80, zorder=3)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    return image


def decision_boundaries(
    out: Path,
    initial: dict[str, np.ndarray],
    nb_final: dict[str, np.ndarray],
    fixed_final: dict[str, np.ndarray],
) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6))
    _panel(axes[0], initial, f"initial weights (seed {SEED})")
    _panel(axes[1], nb_final, "notebook, after training")
    image = _panel(axes[2], fixed_final, "corrected, after training")
    fig.colorbar(image, ax=axes, shrink=0.8, label="output A2")
    _save(fig, out, "decision_boundaries.png")
    plt.close(fig)


def output_weights(out: Path, marks: list[int], snapshots: list[dict[str, np.ndarray]]) -> None:
    """How the output layer's reach shrinks: |W2|, and |W2 @ W1|, the weights of the linear map
    the network becomes while both hidden units are active on every sample."""
    plt = _pyplot()
    steps = np.maximum(np.array(marks), 1)
    w2 = [np.abs(p["W2"]).max() for p in snapshots]
    effective = [np.abs(p["W2"] @ p["W1"]).max() for p in snapshots]
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    ax.plot(steps, w2, marker="o", markersize=3, color="0.3", label="max |W2|")
    ax.plot(
        steps,
        effective,
        marker="o",
        markersize=3,
        color=NOTEBOOK_COLOUR,
        label="max |W2 @ W1| (input to output)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gradient step")
    ax.set_title(f"Notebook's training from seed {SEED}: the input's path to the output vanishes")
    ax.legend(fontsize=8)
    _save(fig, out, "output_weights.png")
    plt.close(fig)


def dead_unit(out: Path, steps: int) -> None:
    """The notebook's training from a draw with a dead unit, drawn by gradcheck-xor train's plot."""
    X, Y = model.xor_data()
    params, losses = sweep.train_one(model.init_params(DEAD_UNIT_SEED), X, Y, rule="notebook", steps=steps)
    title = f"seed {DEAD_UNIT_SEED}: the notebook's training with hidden unit 1 dead from the start"
    plots.training_figure(losses, params, X, Y, out / "dead_unit.png", title=title)
    print(f"wrote {out / 'dead_unit.png'}")


# (file name, update rule, initial biases, the command that prints the same report)
SWEEPS = (
    ("sweep_notebook", "notebook", 0.0, "gradcheck-xor sweep --rule notebook"),
    ("sweep_bce", "bce", 0.0, "gradcheck-xor sweep --rule bce"),
    ("sweep_bce_bias", "bce", 0.1, "gradcheck-xor sweep --rule bce --init-bias 0.1"),
)


def sweeps(out: Path, seeds: int, steps: int) -> None:
    """gradcheck-xor sweep's outcome plot and text report for each of SWEEPS."""
    for name, rule, bias, command in SWEEPS:
        result = sweep.run_sweep(seeds, steps=steps, rule=rule, init_bias=bias)
        plots.sweep_figure(result, out / f"{name}.png")
        report = sweep.format_report(sweep.summarize(result))
        (out / f"{name}.txt").write_text(f"$ {command}\n{report}\n", encoding="utf-8")
        print(f"wrote {out / f'{name}.png'} and {out / f'{name}.txt'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures")
    parser.add_argument(
        "--quick", action="store_true", help=f"runs of {QUICK_STEPS:,} steps instead of {FULL_STEPS:,}"
    )
    parser.add_argument(
        "--only", choices=("runs", "sweeps"), help="make only the single-run figures, or only the sweeps"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    steps = QUICK_STEPS if args.quick else FULL_STEPS

    if args.only != "sweeps":
        X, Y = model.xor_data()
        initial = model.init_params(SEED)
        marks, snapshots, nb_losses = _notebook_run(steps)
        fixed_final, fixed_losses = model.train(initial, X, Y, steps=steps, learning_rate=0.01)
        loss_curves(args.out, steps, nb_losses, fixed_losses)
        decision_boundaries(args.out, initial, snapshots[-1], fixed_final)
        output_weights(args.out, marks, snapshots)
        dead_unit(args.out, steps)
    if args.only != "runs":
        if args.quick:
            sweeps(args.out, QUICK_SEEDS, QUICK_SWEEP_STEPS)
        else:
            sweeps(args.out, FULL_SEEDS, FULL_STEPS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
