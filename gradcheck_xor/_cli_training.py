"""The commands that train: ``notebook`` (the notebook's run beside the corrected model's),
``train`` (one run you can watch) and ``sweep`` (how often a setup fails, over many seeds).

Each is a pair: ``add_<name>(subparsers)`` declares its options, ``run_<name>(args) -> int``
does the work. Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from gradcheck_xor._cli_common import (
    FILE_FORMATS,
    MAX_SEED,
    MAX_SEEDS,
    MAX_STEPS,
    Params,
    UsageError,
    add_json,
    add_learning_rate,
    add_params,
    add_rule,
    add_seed,
    add_steps,
    check_output_path,
    check_plot_path,
    progress,
    show_progress,
    starting_point,
    train_in_chunks,
    writing,
)

# --- notebook: replay the notebook's run beside the corrected model's -------------------


def add_notebook(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "notebook",
        help="replay the notebook's training and set the corrected model's run beside it",
        description=(
            "Replay the tutorial notebook's training (MSE-style backward, BCE reported) from "
            "the notebook's initialiser, train the corrected model from the same weights, "
            "and print both side by side."
        ),
    )
    add_seed(p)
    add_steps(p, 200_000, MAX_STEPS)
    add_learning_rate(p)
    add_json(p)


# A diverging learning rate overflows: the output shows the inf and NaN it leads to, and
# NumPy's RuntimeWarnings would only interleave the same news with it.
@np.errstate(all="ignore")
def run_notebook(args: argparse.Namespace) -> int:
    from gradcheck_xor import model, notebook
    from gradcheck_xor.diagnostics import diagnose

    initial = model.init_params(args.seed)
    X, Y = model.xor_data()
    if not args.json:
        rate = args.learning_rate
        print(f"gradcheck-xor notebook: seed {args.seed}, {args.steps:,} steps, learning rate {rate}")
        print()

    on_step, close = progress(args.steps, "notebook  ", show_progress(args))
    nb_params, nb_losses = train_in_chunks(
        lambda p, n, f: notebook.train(p, iterations=n, learning_rate=args.learning_rate, on_step=f),
        initial,
        args.steps,
        on_step,
    )
    close()
    on_step, close = progress(args.steps, "corrected ", show_progress(args))
    # diagnostics=False: the command prints its own diagnosis of the draw below.
    fixed_params, fixed_losses = model.train(
        initial, X, Y, steps=args.steps, learning_rate=args.learning_rate, on_step=on_step, diagnostics=False
    )
    close()

    nb_pred = notebook.forward_propagation(notebook.inputs, nb_params)[1]
    fixed_pred = model.predict(fixed_params, X)
    nb_final = model.loss(nb_params, X, Y)
    if args.json:
        _notebook_json(
            args, initial, {"notebook": (nb_params, nb_losses), "corrected": (fixed_params, fixed_losses)}
        )
        return 0
    rows = [
        ("backward pass", "MSE-style dZ2 (defect)", "dZ2 = A2 - Y (exact BCE)"),
        ("loss at step 0", f"{nb_losses[0]:.10f}", f"{fixed_losses[0]:.10f}"),
        ("final loss (BCE)", f"{nb_final:.10f}", f"{model.loss(fixed_params, X, Y):.10f}"),
        ("final |W2| max", f"{np.abs(nb_params['W2']).max():.3e}", f"{np.abs(fixed_params['W2']).max():.3e}"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'':<{width}}{'notebook':<28}corrected")
    for label, left, right in rows:
        print(f"{label:<{width}}{left:<28}{right}")
    print()
    print("Input (A, B) | target | notebook A2 | corrected A2")
    print("--------------------------------------------------")
    for i in range(X.shape[1]):
        a, b = notebook.inputs[:, i]
        print(f"    {a}, {b}     |   {int(Y[0, i])}    |   {nb_pred[0, i]:.4f}    |   {fixed_pred[0, i]:.4f}")
    solved = bool(np.all(np.abs(fixed_pred - Y) < 0.4))
    stuck = abs(nb_final - np.log(2)) < 1e-3
    print()
    print(f"notebook:  {'stuck at ln 2 = 0.6931' if stuck else 'loss ' + format(nb_final, '.4f')}")
    print(f"corrected: {'solves XOR' if solved else 'does not solve XOR from this draw'}")
    print()
    # The same checks as `gradcheck-xor diagnose`, so the run says why, not only what.
    print("diagnostics (gradcheck-xor diagnose) of the draw and of each end state:")
    states = (("initial draw", initial), ("notebook end", nb_params), ("corrected end", fixed_params))
    for label, params in states:
        findings = diagnose(params).findings
        found = ", ".join(f"{f.code} ({f.severity})" for f in findings) or "nothing found"
        print(f"  {label:<15}{found}")
    return 0


def _notebook_json(
    args: argparse.Namespace, initial: Params, runs: dict[str, tuple[Params, np.ndarray]]
) -> None:
    """The notebook command's one JSON object: each run under the names ``train --json`` uses,
    its end state diagnosed; ``diagnostics`` at the top is the initial draw's."""
    from gradcheck_xor import model, sweep
    from gradcheck_xor._json import jsonable
    from gradcheck_xor.diagnostics import diagnose

    X, Y = model.xor_data()
    result: dict[str, Any] = {
        "seed": args.seed,
        "steps": args.steps,
        "learning_rate": args.learning_rate,
        "targets": Y[0],
        "diagnostics": diagnose(initial).to_dict(),
    }
    for name, (params, losses) in runs.items():
        predictions = model.predict(params, X)[0]
        final_loss = model.loss(params, X, Y)
        outcome = sweep.outcome_of(predictions, Y[0], final_loss)
        result[name] = {
            "initial_loss": losses[0],
            "final_loss": final_loss,
            "outcome": outcome,
            "solved": outcome == "solved",
            "predictions": predictions,
            "params": params,
            "diagnostics": diagnose(params).to_dict(),
        }
    print(json.dumps(jsonable(result), allow_nan=False))


# --- train: one run you can watch ---------------------------------------------------------


def add_train(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="diagnose, then train one network with a progress bar, predictions and a plot",
        description=(
            "Diagnose the starting parameters, train them under the notebook's update rule or "
            "the exact binary cross-entropy gradient, and print the final predictions in the "
            "notebook's table. Exit status: 0 the trained network solves its data (every "
            "|A2 - y| < 0.4), 1 it does not, 2 unusable input or options."
        ),
    )
    add_params(p, params_help=FILE_FORMATS, seed_help="seed for the notebook's initialiser", exclusive=True)
    add_rule(p)
    p.add_argument(
        "--activation",
        choices=("relu", "leaky_relu", "sigmoid"),
        default="relu",
        help="hidden-layer activation (default: relu)",
    )
    add_steps(p, 200_000, MAX_STEPS)
    add_learning_rate(p)
    p.add_argument(
        "--save", metavar="FILE", help="write the trained parameters (.json, .npz, .safetensors, .pt)"
    )
    p.add_argument(
        "--plot", metavar="FILE.png", help="write the loss curve and the decision boundary as a PNG"
    )
    add_json(p)


@np.errstate(all="ignore")  # as for notebook
def run_train(args: argparse.Namespace) -> int:
    from gradcheck_xor import model, sweep
    from gradcheck_xor.diagnostics import diagnose, format_report
    from gradcheck_xor.params_io import SUFFIXES, ParamsFileError, save_params

    check_output_path("--save", args.save, SUFFIXES)
    check_plot_path(args.plot)
    params, X, Y, source = starting_point(args)
    if args.params is None:
        Y = Y[0]  # the notebook's 1-D labels, as a parameter file without data gets them
    try:  # train runs the 2-2-1 network: a file that holds another one is refused here
        model.loss(params, X, Y, args.activation)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None
    labels = model.as_labels(Y, model.as_inputs(X).shape[1])

    # The diagnostics model a ReLU hidden layer; for the others they would not apply.
    report = None
    if args.activation == "relu":
        report = diagnose(params, X, Y, notebook_loss=args.rule == "notebook")
    if not args.json:
        print(f"gradcheck-xor train: {source}")
        run = f"rule {args.rule}, activation {args.activation}, {args.steps:,} steps"
        print(f"  {run}, learning rate {args.learning_rate}")
        print()
        if report is not None:
            print(format_report(report, source))
        else:
            print(f"(the diagnostics model a ReLU hidden layer; skipped for {args.activation})")
        print()
        sys.stdout.flush()

    rule = {"rule": args.rule, "activation": args.activation, "learning_rate": args.learning_rate}
    on_step, close = progress(args.steps, "train", show_progress(args))
    try:
        trained, losses = sweep.train_one(params, X, Y, steps=args.steps, on_step=on_step, **rule)
    finally:
        close()
    every = model.history_every(args.steps)
    cache = model.forward(trained, X, args.activation)
    A2 = cache["A2"][0]
    final_loss = model.loss(trained, X, labels, args.activation)
    outcome = sweep.outcome_of(A2, labels[0], final_loss)
    solved = outcome == "solved"

    if args.save is not None:
        to_save = dict(trained)
        if args.params is not None:
            to_save.update(X=X, Y=Y)
        try:
            with writing("--save", args.save):
                save_params(to_save, args.save)
        except ParamsFileError as exc:
            raise UsageError(f"--save: {exc}") from None
    if args.plot is not None:
        from gradcheck_xor.plots import training_figure

        title = (
            f"{source}: rule {args.rule}, {args.activation}, lr {args.learning_rate}, {args.steps:,} steps"
        )
        with writing("--plot", args.plot):
            training_figure(
                losses, trained, X, Y, args.plot, activation=args.activation, title=title, every=every
            )

    if args.json:
        from gradcheck_xor._json import jsonable  # a diverged run's inf, nan as strings

        thin = max(1, len(losses) // 1000)  # about a thousand points of the kept history
        print(
            json.dumps(
                jsonable(
                    {
                        "source": source,
                        "rule": args.rule,
                        "activation": args.activation,
                        "steps": args.steps,
                        "learning_rate": args.learning_rate,
                        "diagnostics": report.to_dict() if report is not None else None,
                        "initial_loss": float(losses[0]),
                        "final_loss": final_loss,
                        "outcome": outcome,
                        "solved": solved,
                        "predictions": A2.tolist(),
                        "targets": labels[0].tolist(),
                        "params": {name: value.tolist() for name, value in trained.items()},
                        "loss_history": {"every": every * thin, "values": losses[::thin].tolist()},
                        "saved": args.save,
                        "plot": args.plot,
                    }
                ),
                allow_nan=False,
            )
        )
        return 0 if solved else 1

    print(f"loss (binary cross-entropy): {losses[0]:.10f} at step 0, {final_loss:.10f} at the end")
    print(np.array2string(cache["A2"]))
    print("Input (A, B) | Predicted Y ")  # the notebook's display_results table
    print("----------------------------")
    X = model.as_inputs(X)
    for i in range(X.shape[1]):
        print(f"    {X[0, i]:g}, {X[1, i]:g} | {int(A2[i] >= 0.5)}")
    print()
    verdict = {
        "solved": "solved: every output within 0.4 of its label",
        "stuck": "stuck: the loss is ln 2 = 0.6931, the loss of predicting 0.5",
        "other": "not solved: some output is 0.4 or more away from its label",
    }
    print(verdict[outcome])
    if args.save is not None:
        print(f"trained parameters written to {args.save}")
    if args.plot is not None:
        print(f"plot written to {args.plot}")
    return 0 if solved else 1


# --- sweep: how often does a setup fail? ----------------------------------------------------


def add_sweep(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="train thousands of seeds at once: solved/stuck rates and what the diagnostics predict",
        description=(
            "Train the notebook's initialiser from many seeds at once (vectorised over seeds), "
            "classify each run as solved (every |A2 - y| < 0.4), stuck (loss within 1e-3 of "
            "ln 2) or other, and report the rates with 95% Wilson intervals and how well each "
            "diagnostic code at initialisation predicts failure. Exit status: 0 the sweep ran, "
            "2 unusable options."
        ),
    )
    p.add_argument(
        "--seeds", type=int, default=1000, help=f"number of seeds, in [1, {MAX_SEEDS}] (default: 1000)"
    )
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help=f"first seed; the last must be at most {MAX_SEED} (default: 0)",
    )
    add_steps(p, 200_000, MAX_STEPS, "gradient steps per seed")
    add_rule(p)
    add_learning_rate(p)
    p.add_argument(
        "--backend", choices=("numpy", "jax"), default="numpy", help="training engine (default: numpy)"
    )
    p.add_argument(
        "--init-scale", type=float, default=1.0, help="multiply the initial weights by this (default: 1)"
    )
    p.add_argument("--init-bias", type=float, default=0.0, help="initial value of both biases (default: 0)")
    p.add_argument("--plot", metavar="FILE.png", help="write the final-loss histogram and outcome by code")
    add_json(p)


@np.errstate(all="ignore")  # as for notebook
def run_sweep(args: argparse.Namespace) -> int:
    from gradcheck_xor import sweep

    if not 0 <= args.first_seed <= args.first_seed + args.seeds - 1 <= MAX_SEED:
        raise UsageError(
            f"--first-seed/--seeds: seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
            f"expected seeds in [0, {MAX_SEED}] (NumPy's legacy seeding)."
        )
    check_plot_path(args.plot)
    if args.backend == "jax" and not sweep.jax_available():
        raise UsageError(
            "the jax backend needs JAX, which is not installed: pip install 'gradcheck-xor[jax]'"
        )

    total = args.seeds * args.steps
    bar = None
    if show_progress(args):
        from tqdm import tqdm

        bar = tqdm(total=total, desc="sweep", unit="seed-step", unit_scale=True, leave=False, file=sys.stderr)
    try:
        result = sweep.run_sweep(
            args.seeds,
            first_seed=args.first_seed,
            steps=args.steps,
            rule=args.rule,
            learning_rate=args.learning_rate,
            backend=args.backend,
            init_scale=args.init_scale,
            init_bias=args.init_bias,
            on_progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    summary = sweep.summarize(result)
    if args.plot is not None:
        from gradcheck_xor.plots import sweep_figure

        with writing("--plot", args.plot):
            sweep_figure(result, args.plot)
    if args.json:
        print(json.dumps({**summary, "plot": args.plot}, allow_nan=False))
        return 0
    print(sweep.format_report(summary))
    if args.plot is not None:
        print(f"plot written to {args.plot}")
    return 0
