"""The commands that examine: ``diagnose`` (what will stop training, read from the
parameters), ``compare`` (NumPy, PyTorch and JAX from the same weights) and ``check`` (the
gradient oracle on a backward pass of yours).

Each is a pair: ``add_<name>(subparsers)`` declares its options, ``run_<name>(args) -> int``
does the work. Heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from gradcheck_xor._cli_common import (
    FILE_FORMATS,
    MAX_COMPARE_STEPS,
    NOTEBOOK_TARGET,
    UsageError,
    add_example,
    add_json,
    add_learning_rate,
    add_max_file_size,
    add_network_options,
    add_params,
    add_steps,
    describe_network,
    progress,
    say,
    show_progress,
    source_of,
    starting_point,
)

# --- diagnose: what will go wrong, read from a parameter file ----------------------------


def add_diagnose(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diagnose",
        help="diagnose a parameter file: dead units, vanishing weights, saturation, ...",
        description=(
            "Read a fully connected network's parameters (and optionally its data X, Y) from FILE "
            "and report what will stop training from them, why it matters and what to do about "
            "it. The widths and depth come from the shapes; the options say what they cannot. "
            "Without data in FILE or --data, the notebook's XOR data is used. "
            "Exit status: 0 nothing at warning or error, 1 findings, 2 unusable file."
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", metavar="FILE", help=FILE_FORMATS)
    add_example(source)
    p.add_argument("--data", metavar="FILE", help="data file holding X and Y, in place of FILE's own")
    add_network_options(p)
    add_json(p)
    p.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when findings are reported (an unusable file still exits 2)",
    )
    add_max_file_size(p)


def run_diagnose(args: argparse.Namespace) -> int:
    from gradcheck_xor.diagnostics import diagnose, format_report
    from gradcheck_xor.params_io import ParamsFileError, load_network

    try:
        net, params, X, Y = load_network(
            args.file,
            data=args.data,
            hidden=args.hidden,
            output=args.output,
            loss=args.loss,
            layout=args.layout,
            max_bytes=args.max_file_size,
        )
    except ParamsFileError as exc:
        raise UsageError(str(exc)) from None
    report = diagnose(params, X, Y, net=net)
    if args.json:
        print(json.dumps({"source": source_of(args), **report.to_dict()}, allow_nan=False))
    else:
        print(format_report(report, source_of(args)))
    return 0 if report.ok or args.exit_zero else 1


# --- compare: NumPy, PyTorch and JAX from the same weights ------------------------------


def add_compare(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="run NumPy, PyTorch and JAX from the same weights and show where they disagree",
        description=(
            "Evaluate the network in NumPy, PyTorch and JAX from the same initial weights and "
            "print the largest disagreement per stage: forward pass, loss, each gradient (under "
            "the network's own loss, and for the notebook's sigmoid and BCE network also the "
            "notebook's rule) and the training trajectory. Any fully connected network: its "
            "widths come from the parameter file, the rest from the options. Exit status: 0 all "
            "agree (or differ only at a ReLU kink or by rounding a chaotic trajectory grows, "
            "explained), 1 unexplained differences, 2 unusable input or a framework not installed."
        ),
    )
    add_params(p, params_help=FILE_FORMATS, seed_help="seed for the notebook's initialiser", exclusive=True)
    p.add_argument(
        "--data",
        metavar="FILE",
        help="the data X, Y from this file (same formats) instead of the parameter file's or XOR's",
    )
    add_network_options(p)
    add_steps(p, 1000, MAX_COMPARE_STEPS, "gradient steps per trajectory")
    add_learning_rate(p)
    p.add_argument(
        "--relu",
        choices=("relu", "maximum"),
        default="relu",
        help="the frameworks' ReLU: F.relu / jax.nn.relu (default) or torch.maximum / jnp.maximum",
    )
    add_json(p)


def run_compare(args: argparse.Namespace) -> int:
    from gradcheck_xor import crossval
    from gradcheck_xor.network import NetworkError, as_data
    from reference_impls import MissingFrameworkError

    params, X, Y, source = starting_point(args)
    net = describe_network(args, params, X)
    try:
        as_data(net, X, Y)  # a file's data is checked as it loads; --data beside --seed is here
    except NetworkError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    show = show_progress(args)
    try:
        comparison = crossval.compare(
            params,
            X,
            Y,
            net=net,
            steps=args.steps,
            learning_rate=args.learning_rate,
            relu=args.relu,
            source=source,
            progress=lambda desc: progress(args.steps, f"{desc:<15}", show),
        )
    except MissingFrameworkError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(comparison.to_dict(), allow_nan=False))
    else:
        print(crossval.format_comparison(comparison))
    return 0 if comparison.ok else 1


# --- check: the gradient oracle on a backward pass of yours ---------------------------------


def add_check(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check",
        help="check a backward pass against finite differences and say why it is wrong",
        description=(
            "Check a backward pass against the loss's exact gradient, which central finite "
            "differences confirm, element by element (float64 to about 1e-9 relative), at several "
            "parameter points and for each layout its labels come in; print "
            "the verdict, why, and the per-element table. TARGET is path/to/file.py:function or "
            "path/to/notebook.ipynb:function. Of the file (a notebook's code cells) only imports, "
            "definitions and constant assignments run, not training loops or prints; --run-file "
            "runs all of it, as Python runs a script. Either way its code runs: check only code you trust. "
            "The function gets its arguments by name (params, X, Y, cache, A1, Z1, W1, m, ...) "
            "or the notebook's way, backward(parameters, A1, A2, X, Y), and returns a dict keyed "
            "dW1, db1, ... (or W1, b1, ...), a sequence in parameter order, the gradients grouped by "
            "layer, or one flat vector, alone or beside the loss. Default: the "
            "notebook's backword_propagation on its 2-2-1 network. Exit status: 0 right, 1 "
            "wrong, 2 unusable target or options."
        ),
    )
    p.add_argument(
        "target",
        nargs="?",
        default=NOTEBOOK_TARGET,
        metavar="TARGET",
        help="path/to/file.py:function or path/to/notebook.ipynb:function",
    )
    p.add_argument(
        "--run-file",
        action="store_true",
        help="run every top-level statement of TARGET's file (all code cells of a notebook), not only "
        "its imports, definitions and constants",
    )
    add_params(
        p,
        params_help="check at these parameters instead, any fully connected network (" + FILE_FORMATS + ")",
        seed_help="seed of the parameter points",
        exclusive=False,
    )
    p.add_argument(
        "--data", metavar="FILE", help="data file holding X and Y, in place of the parameters' own"
    )
    add_network_options(p)
    p.add_argument(
        "--labels",
        metavar="LAYOUT",
        help="check only this label layout, e.g. '(m, 1)' or '(m,)' (default: each layout the labels "
        "can come in)",
    )
    p.add_argument(
        "--fast", action="store_true", help="one random direction per point (the full check if it fails)"
    )
    for name, what in (("rtol", "relative"), ("atol", "absolute")):
        p.add_argument(
            f"--{name}",
            type=float,
            metavar="TOL",
            help=f"{what} tolerance of every element, finite and >= 0, in place of the dtype's and "
            "float64's per-element ones: an element passes when |analytic - expected| <= atol + "
            "rtol |expected|",
        )
    add_json(p)


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """While the user's code runs under --json, everything it writes to stdout goes to stderr:
    ``print``, and at the file-descriptor level C extensions and child processes, so that
    stdout holds only the JSON object."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved: int | None = None
    with contextlib.suppress(OSError):  # no fd 1 or 2 to redirect: print() still is, below
        saved = os.dup(1)
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            # What the user's code left in the real stdout's buffer goes out while fd 1 is stderr.
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


_CHECK_ROWS = 200  # the most rows of the per-element table printed; --json has them all


def run_check(args: argparse.Namespace) -> int:
    from gradcheck_xor.gradcheck import UnusableTargetError, check_backward
    from gradcheck_xor.params_io import ParamsFileError, load_data, load_network

    options: dict[str, Any] = {key: getattr(args, key) for key in ("hidden", "output", "loss", "layout")}
    try:
        if args.params is not None:
            net, params, X, Y = load_network(
                args.params, data=args.data, max_bytes=args.max_file_size, **options
            )
            options = {"params": params, "X": X, "Y": Y, **{k: getattr(net, k) for k in options}}
        elif args.data is not None:
            options["X"], options["Y"] = load_data(args.data, max_bytes=args.max_file_size)
    except ParamsFileError as exc:
        raise UsageError(str(exc)) from None
    with _stdout_to_stderr(args.json):
        if args.target == NOTEBOOK_TARGET:
            from gradcheck_xor.notebook import backword_propagation as backward
        else:
            from gradcheck_xor import _targets

            try:
                target = _targets.load(args.target, run_file=args.run_file, max_bytes=args.max_file_size)
            except _targets.TargetError as exc:
                raise UsageError(str(exc)) from None
            for note in target.notes:
                say(f"gradcheck-xor check: note: {note}")
            backward = target.function
        try:
            layouts = None if args.labels is None else (args.labels,)
            report = check_backward(
                backward,
                seed=args.seed,
                fast=args.fast,
                rtol=args.rtol,
                atol=args.atol,
                layouts=layouts,
                **options,
            )
        except (UnusableTargetError, ValueError) as exc:  # the user's own errors are reported, not raised
            raise UsageError(f"{args.target}: {exc}") from None
    if args.json:
        print(json.dumps({"source": args.target, **report.to_dict()}, allow_nan=False))
        return 0 if report.ok else 1
    print(f"gradcheck-xor check: {args.target}")
    print(report.explain(rows=0))
    print()
    print("Per-element table, worst first:")
    print(report.format_table(_CHECK_ROWS))
    if len(report.worst(_CHECK_ROWS + 1, merge_layouts=True)) > _CHECK_ROWS:
        print(f"... the first {_CHECK_ROWS} rows of {report.passed.size}; --json holds them all")
    return 0 if report.ok else 1
