"""The ``gradcheck-xor`` command.

Each subcommand is a pair: ``_add_<name>(subparsers)`` declares its options and
``_run_<name>(args) -> int`` does the work. Exit codes follow one rule everywhere:
0 = nothing wrong found, 1 = findings (a wrong gradient, a warning), 2 = unusable input or
options (one line on stderr, no traceback). Heavy libraries (torch, jax, matplotlib) are
imported inside the commands that need them, never at module level.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import numpy as np

from gradcheck_xor import __version__


class UsageError(Exception):
    """Unusable input or options: reported as one line on stderr with exit code 2."""


def _progress(
    total: int, desc: str, enabled: bool
) -> tuple[Callable[[int, float], None], Callable[[], None]]:
    """A progress bar showing the current loss, or no-ops when ``enabled`` is false.

    Returns ``(on_step, close)``; the bar is refreshed every 1% so it costs nothing per step.
    """
    if not enabled:
        return (lambda i, loss: None), (lambda: None)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", unit_scale=True, leave=False, file=sys.stderr)
    every = max(1, total // 100)

    def on_step(i: int, loss: float) -> None:
        if (i + 1) % every == 0 or i + 1 == total:
            bar.update(i + 1 - bar.n)
            bar.set_postfix(loss=f"{loss:.6f}", refresh=False)

    return on_step, bar.close


def _show_progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(args, "json", False)


# --- notebook: replay the notebook's run beside the corrected model's -------------------


def _add_notebook(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "notebook",
        help="replay the notebook's training and set the corrected model's run beside it",
        description=(
            "Replay the tutorial notebook's training (MSE-style backward, BCE reported) from "
            "the notebook's initialiser, train the corrected model from the same weights, "
            "and print both side by side."
        ),
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the notebook's initialiser (default: 0)")
    p.add_argument("--steps", type=int, default=200_000, help="gradient steps (default: 200000)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default: 0.01)")


def _run_notebook(args: argparse.Namespace) -> int:
    from gradcheck_xor import model, notebook

    if args.steps < 1:
        raise UsageError(f"--steps: got {args.steps}, expected a positive integer.")
    initial = model.init_params(args.seed)
    X, Y = model.xor_data()
    print(f"gradcheck-xor notebook: seed {args.seed}, {args.steps:,} steps, learning rate {args.lr}")
    print()

    on_step, close = _progress(args.steps, "notebook  ", _show_progress(args))
    nb_params, nb_losses = notebook.train(
        initial, iterations=args.steps, learning_rate=args.lr, on_step=on_step
    )
    close()
    on_step, close = _progress(args.steps, "corrected ", _show_progress(args))
    fixed_params, fixed_losses = model.train(
        initial, X, Y, steps=args.steps, learning_rate=args.lr, on_step=on_step
    )
    close()

    nb_pred = notebook.forward_propagation(notebook.inputs, nb_params)[1]
    fixed_pred = model.predict(fixed_params, X)
    rows = [
        ("backward pass", "MSE-style dZ2 (defect)", "dZ2 = A2 - Y (exact BCE)"),
        ("loss at step 0", f"{nb_losses[0]:.10f}", f"{fixed_losses[0]:.10f}"),
        ("final loss (BCE)", f"{model.loss(nb_params, X, Y):.10f}", f"{model.loss(fixed_params, X, Y):.10f}"),
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
    stuck = abs(nb_losses[-1] - np.log(2)) < 1e-3
    print()
    print(f"notebook:  {'stuck at ln 2 = 0.6931' if stuck else 'loss ' + format(nb_losses[-1], '.4f')}")
    print(f"corrected: {'solves XOR' if solved else 'does not solve XOR from this draw'}")
    return 0


# --- diagnose: what will go wrong, read from a parameter file ----------------------------


def _add_diagnose(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="diagnose a parameter file: dead units, vanishing weights, saturation, ...",
        description=(
            "Read the network's parameters (and optionally its data X, Y) from FILE and report "
            "what will stop training from them, why it matters and what to do about it. "
            "Exit status: 0 nothing at warning or error, 1 findings, 2 unusable file."
        ),
    )
    p.add_argument("file", metavar="FILE", help="parameter file: .json, .npz, .safetensors, .pt or .pth")
    p.add_argument("--json", action="store_true", help="write exactly one JSON object to stdout")


def _run_diagnose(args: argparse.Namespace) -> int:
    import json

    from gradcheck_xor.diagnostics import diagnose, format_report
    from gradcheck_xor.params_io import ParamsFileError, load_params

    try:
        params = load_params(args.file)
    except ParamsFileError as exc:
        if args.json:
            print(json.dumps({"file": args.file, "ok": False, "error": str(exc)}))
        raise UsageError(str(exc)) from None
    report = diagnose(params)
    if args.json:
        print(json.dumps({"file": args.file, **report.to_dict()}, allow_nan=False))
    else:
        print(format_report(report, args.file))
    return 0 if report.ok else 1


COMMANDS: dict[
    str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]
] = {
    "notebook": (_add_notebook, _run_notebook),
    "diagnose": (_add_diagnose, _run_diagnose),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradcheck-xor",
        description=(
            "Check hand-written backpropagation with evidence, and explain why a small "
            "network fails to train."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gradcheck-xor``; returns the exit code (testable without a subprocess)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except UsageError as exc:
        print(f"gradcheck-xor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into a command that stopped reading (| head): not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
