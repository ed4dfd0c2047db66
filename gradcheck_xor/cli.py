"""The ``gradcheck-xor`` command.

Each subcommand is a pair: ``_add_<name>(subparsers)`` declares its options and
``_run_<name>(args) -> int`` does the work. Exit codes follow one rule everywhere:
0 = nothing wrong found, 1 = findings (a wrong gradient, a warning), 2 = unusable input or
options (one line on stderr, no traceback); an interrupt is 130 (SIGINT) or 143 (SIGTERM),
a closed output pipe 141. Every numeric option is checked against :data:`_CHECKS` before
any work starts. Heavy libraries (torch, jax, matplotlib) are imported inside the commands
that need them, never at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcheck_xor import __version__

if TYPE_CHECKING:
    from gradcheck_xor.network import Network

Params = dict[str, np.ndarray]
OnStep = Callable[[int, float], None]

NOTEBOOK_TARGET = "gradcheck_xor.notebook:backword_propagation"
MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, which the notebook's initialiser uses
MAX_STEPS = 10**8  # hours of training; memory stays bounded (the loss history is decimated)
# compare keeps every step of six trajectories, in three frameworks, one Python call each.
MAX_COMPARE_STEPS = 10**5
MAX_SEEDS = 10**6  # the sweep keeps a few bytes of results per seed; its work arrays are blocks
_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


class UsageError(Exception):
    """Unusable input or options: reported as one line on stderr with exit code 2."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that every cleanup written for Ctrl-C runs."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error of the command."""

    def error(self, message: str) -> Any:
        line = " ".join(message.splitlines())
        self.exit(2, f"{self.prog}: error: {line} (see {self.prog} --help)\n")


# --- the numeric options' bounds: one table, checked before any work ------------------------


def _integer(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        if low <= value <= high:
            return None
        return "a positive integer" if low == 1 and value < 1 else f"an integer in [{low}, {high}]"

    return check


def _finite(value: float) -> str | None:
    return None if math.isfinite(value) else "a finite number"


def _positive(value: float) -> str | None:
    return _finite(value) or (None if value > 0 else "a positive number")


def _non_negative(value: float) -> str | None:
    return None if math.isfinite(value) and value >= 0 else "a finite number >= 0"


def _at_least_one_byte(value: int) -> str | None:
    return None if value >= 1 else "a positive size"


# option -> what its value must be (None when it is); "COMMAND --option" overrides one command.
# --first-seed is checked with --seeds, as the range of seeds they make (see _run_sweep).
_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "--seed": _integer(0, MAX_SEED),
    "--seeds": _integer(1, MAX_SEEDS),
    "--steps": _integer(1, MAX_STEPS),
    "compare --steps": _integer(1, MAX_COMPARE_STEPS),
    "--learning-rate": _positive,
    "--init-scale": _finite,
    "--init-bias": _finite,
    "--max-file-size": _at_least_one_byte,
    "--rtol": _non_negative,
    "--atol": _non_negative,
}


def _validate(args: argparse.Namespace) -> None:
    for dest, value in vars(args).items():
        option = "--" + dest.replace("_", "-")
        check = _CHECKS.get(f"{args.command} {option}", _CHECKS.get(option))
        if check is not None and value is not None and (expected := check(value)):
            raise UsageError(f"{option}: got {value}, expected {expected}.")


def _byte_size(text: str) -> int:
    """``65536``, ``64K``, ``64M``, ``1G`` (powers of 1024) -> bytes."""
    size = re.fullmatch(r"\s*([0-9]{1,18})([KMG]?)\s*", text, re.IGNORECASE)
    if size is None:
        raise argparse.ArgumentTypeError(
            f"got {text!r}, expected a size in bytes such as 65536, 64K, 64M or 1G"
        )
    return int(size[1]) * _SIZE_UNITS[size[2].upper()]


# --- options that several commands share, declared once ------------------------------------


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="write exactly one JSON object to stdout")


def _add_max_file_size(p: argparse.ArgumentParser) -> None:
    from gradcheck_xor.params_io import MAX_BYTES

    p.add_argument(
        "--max-file-size",
        type=_byte_size,
        default=MAX_BYTES,
        metavar="BYTES",
        help=f"refuse parameter files larger than this; K, M, G suffixes (default: {MAX_BYTES // 2**20}M)",
    )


def _add_seed(p: argparse._ActionsContainer, what: str = "seed for the notebook's initialiser") -> None:
    p.add_argument("--seed", type=int, default=0, help=f"{what}, in [0, {MAX_SEED}] (default: 0)")


def _add_example(group: argparse._ActionsContainer) -> None:
    from gradcheck_xor import examples

    group.add_argument(
        "--example",
        choices=examples.names(),
        metavar="NAME",
        help=f"a parameter file that ships with gradcheck-xor: {', '.join(examples.names())}",
    )


def _add_params(p: argparse.ArgumentParser, *, params_help: str, seed_help: str, exclusive: bool) -> None:
    """--params FILE or --example NAME, and --seed N (one of the three, when ``exclusive``), and
    --max-file-size."""
    files = p.add_mutually_exclusive_group()
    files.add_argument("--params", metavar="FILE", help=params_help)
    _add_example(files)
    _add_seed(files if exclusive else p, seed_help)
    _add_max_file_size(p)


def _add_steps(p: argparse.ArgumentParser, default: int, high: int, what: str = "gradient steps") -> None:
    p.add_argument("--steps", type=int, default=default, help=f"{what}, in [1, {high}] (default: {default})")


def _add_learning_rate(p: argparse.ArgumentParser) -> None:
    # --lr, the name most training scripts use, stays as a shorter spelling.
    p.add_argument(
        "--learning-rate",
        "--lr",
        type=float,
        default=0.01,
        metavar="RATE",
        help="learning rate, finite and positive (default: 0.01)",
    )


def _add_rule(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rule",
        choices=("notebook", "bce"),
        default="notebook",
        help="update rule: the notebook's MSE-style backward or the exact BCE gradient (default: notebook)",
    )


FILE_FORMATS = "parameter file: .json, .npz, .safetensors, .pt or .pth"


# --- files: read before the work, written after it ------------------------------------------


@contextlib.contextmanager
def _bundled_example(args: argparse.Namespace) -> Iterator[None]:
    """``--example NAME``: the bundled file stands in for FILE or ``--params`` while the
    command runs; the output names it by :func:`_source`."""
    name = getattr(args, "example", None)
    if name is None:
        yield
        return
    from gradcheck_xor import examples

    with examples.path(name) as path:
        setattr(args, "file" if args.command == "diagnose" else "params", str(path))
        yield


def _source(args: argparse.Namespace) -> str | None:
    """What the command examines, as its output names it (``source`` in every JSON output):
    check's TARGET, a bundled example by its name, or the parameter file."""
    if args.command == "check":
        return args.target
    if getattr(args, "example", None) is not None:
        return f"example {args.example}"
    return getattr(args, "file", None) or getattr(args, "params", None)


def _check_output_path(option: str, path: str | None, suffixes: tuple[str, ...]) -> None:
    """Fail before a long run, not after it: a wrong suffix, a directory, nowhere to write."""
    if path is None:
        return
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option}: got {path!r}, expected a file name ending in {', '.join(suffixes)}.")
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path} is a directory; expected a file name.")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{option}: {path}: no directory {folder}; expected an existing directory.")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"{option}: {path}: permission denied; expected a file this user can write.")


def _check_plot_path(path: str | None) -> None:
    _check_output_path("--plot", path, (".png",))
    if path is None:
        return
    from gradcheck_xor.plots import PlotUnavailableError, _pyplot

    try:
        _pyplot()
    except PlotUnavailableError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def _writing(option: str, path: str) -> Iterator[None]:
    """A failure to write ``path`` (a full disk, a lost permission) as one line, exit 2."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}.") from None


# --- progress and training ---------------------------------------------------------------


def _progress(total: int, desc: str, enabled: bool) -> tuple[OnStep, Callable[[], None]]:
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


def _train_in_chunks(
    train: Callable[[Params, int, OnStep], tuple[Params, np.ndarray]],
    params: Params,
    steps: int,
    on_step: OnStep,
) -> tuple[Params, np.ndarray]:
    """Run ``train(params, n, on_step)`` for ``steps`` steps, keeping the loss history as
    :func:`gradcheck_xor.model.train` does: the loss before every k-th step,
    k = ``model.history_every(steps)``.

    Gradient descent carries no state but the parameters, so chunks that each continue from
    the last one's parameters are the one long run, bit for bit, while memory holds one
    chunk's history (at most ``model.MAX_HISTORY`` losses) at a time.
    """
    from gradcheck_xor import model

    every = model.history_every(steps)
    chunk = every * max(1, model.MAX_HISTORY // every)  # a multiple of k: each chunk starts on a kept step
    kept = []
    for start in range(0, steps, chunk):

        def shifted(i: int, loss: float, start: int = start) -> None:
            on_step(start + i, loss)

        params, losses = train(params, min(chunk, steps - start), shifted)
        kept.append(losses[::every])
    return params, np.concatenate(kept)


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
    _add_seed(p)
    _add_steps(p, 200_000, MAX_STEPS)
    _add_learning_rate(p)
    _add_json(p)


# A diverging learning rate overflows: the output shows the inf and NaN it leads to, and
# NumPy's RuntimeWarnings would only interleave the same news with it.
@np.errstate(all="ignore")
def _run_notebook(args: argparse.Namespace) -> int:
    from gradcheck_xor import model, notebook
    from gradcheck_xor.diagnostics import diagnose

    initial = model.init_params(args.seed)
    X, Y = model.xor_data()
    if not args.json:
        rate = args.learning_rate
        print(f"gradcheck-xor notebook: seed {args.seed}, {args.steps:,} steps, learning rate {rate}")
        print()

    on_step, close = _progress(args.steps, "notebook  ", _show_progress(args))
    nb_params, nb_losses = _train_in_chunks(
        lambda p, n, f: notebook.train(p, iterations=n, learning_rate=args.learning_rate, on_step=f),
        initial,
        args.steps,
        on_step,
    )
    close()
    on_step, close = _progress(args.steps, "corrected ", _show_progress(args))
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


def _add_network_options(p: argparse.ArgumentParser) -> None:
    """The network's description, for what the parameter file's shapes cannot say."""
    from gradcheck_xor._losses import HIDDEN, LOSSES, OUTPUTS

    p.add_argument("--hidden", choices=HIDDEN, help="hidden activation (default: relu)")
    p.add_argument("--output", choices=OUTPUTS, help="output activation (default: sigmoid)")
    p.add_argument(
        "--loss", choices=LOSSES, help="loss (default: the output's own: bce, cross-entropy, half-mse)"
    )
    p.add_argument(
        "--layout", choices=("columns", "rows"), help="samples in columns or rows (default: inferred)"
    )


def _describe(args: argparse.Namespace, params: Mapping[str, np.ndarray], X: np.ndarray | None) -> Network:
    """The network the options and the parameters describe; a description that does not fit
    is unusable input."""
    from gradcheck_xor.network import NetworkError, describe

    try:
        return describe(params, X, hidden=args.hidden, output=args.output, loss=args.loss, layout=args.layout)
    except NetworkError as exc:
        raise UsageError(str(exc)) from None


# --- diagnose: what will go wrong, read from a parameter file ----------------------------


def _add_diagnose(subparsers: argparse._SubParsersAction) -> None:
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
    _add_example(source)
    p.add_argument("--data", metavar="FILE", help="data file holding X and Y, in place of FILE's own")
    _add_network_options(p)
    _add_json(p)
    p.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when findings are reported (an unusable file still exits 2)",
    )
    _add_max_file_size(p)


def _run_diagnose(args: argparse.Namespace) -> int:
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
        print(json.dumps({"source": _source(args), **report.to_dict()}, allow_nan=False))
    else:
        print(format_report(report, _source(args)))
    return 0 if report.ok or args.exit_zero else 1


def _starting_point(args: argparse.Namespace) -> tuple[Params, np.ndarray, np.ndarray, str]:
    """``(params, X, Y, source)`` from ``--params FILE`` through
    :func:`gradcheck_xor.params_io.load_network` (with ``--data FILE`` and the network options
    where the command has them), or else from the notebook's initialiser at ``--seed`` on the
    XOR data (labels (1, m)) or ``--data FILE``'s. In the columns layout biases come as (n, 1)
    columns, the notebook's shape, whatever shape the file keeps them in.

    An unusable file is a :class:`UsageError` naming the file, the key and the expectation.
    """
    from gradcheck_xor import model
    from gradcheck_xor.params_io import ParamsFileError, load_data, load_network

    data = getattr(args, "data", None)
    try:
        if args.params is None:
            X, Y = model.xor_data() if data is None else load_data(data, max_bytes=args.max_file_size)
            return model.init_params(args.seed), X, Y, f"seed {args.seed} (the notebook's initialiser)"
        options = {key: getattr(args, key, None) for key in ("hidden", "output", "loss", "layout")}
        net, params, X, Y = load_network(args.params, data=data, max_bytes=args.max_file_size, **options)
    except ParamsFileError as exc:
        raise UsageError(str(exc)) from None
    if net.layout == "columns":
        params = {key: value.reshape(-1, 1) if key[0] == "b" else value for key, value in params.items()}
    return params, X, Y, str(_source(args))


# --- compare: NumPy, PyTorch and JAX from the same weights ------------------------------


def _add_compare(subparsers: argparse._SubParsersAction) -> None:
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
    _add_params(p, params_help=FILE_FORMATS, seed_help="seed for the notebook's initialiser", exclusive=True)
    p.add_argument(
        "--data",
        metavar="FILE",
        help="the data X, Y from this file (same formats) instead of the parameter file's or XOR's",
    )
    _add_network_options(p)
    _add_steps(p, 1000, MAX_COMPARE_STEPS, "gradient steps per trajectory")
    _add_learning_rate(p)
    p.add_argument(
        "--relu",
        choices=("relu", "maximum"),
        default="relu",
        help="the frameworks' ReLU: F.relu / jax.nn.relu (default) or torch.maximum / jnp.maximum",
    )
    _add_json(p)


def _run_compare(args: argparse.Namespace) -> int:
    from gradcheck_xor import crossval
    from gradcheck_xor.network import NetworkError, as_data
    from reference_impls import MissingFrameworkError

    params, X, Y, source = _starting_point(args)
    net = _describe(args, params, X)
    try:
        as_data(net, X, Y)  # a file's data is checked as it loads; --data beside --seed is here
    except NetworkError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    show = _show_progress(args)
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
            progress=lambda desc: _progress(args.steps, f"{desc:<15}", show),
        )
    except MissingFrameworkError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(comparison.to_dict(), allow_nan=False))
    else:
        print(crossval.format_comparison(comparison))
    return 0 if comparison.ok else 1


# --- train: one run you can watch ---------------------------------------------------------


def _add_train(subparsers: argparse._SubParsersAction) -> None:
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
    _add_params(p, params_help=FILE_FORMATS, seed_help="seed for the notebook's initialiser", exclusive=True)
    _add_rule(p)
    p.add_argument(
        "--activation",
        choices=("relu", "leaky_relu", "sigmoid"),
        default="relu",
        help="hidden-layer activation (default: relu)",
    )
    _add_steps(p, 200_000, MAX_STEPS)
    _add_learning_rate(p)
    p.add_argument(
        "--save", metavar="FILE", help="write the trained parameters (.json, .npz, .safetensors, .pt)"
    )
    p.add_argument(
        "--plot", metavar="FILE.png", help="write the loss curve and the decision boundary as a PNG"
    )
    _add_json(p)


@np.errstate(all="ignore")  # as for notebook
def _run_train(args: argparse.Namespace) -> int:
    from gradcheck_xor import model, sweep
    from gradcheck_xor.diagnostics import diagnose, format_report
    from gradcheck_xor.params_io import SUFFIXES, ParamsFileError, save_params

    _check_output_path("--save", args.save, SUFFIXES)
    _check_plot_path(args.plot)
    params, X, Y, source = _starting_point(args)
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
    on_step, close = _progress(args.steps, "train", _show_progress(args))
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
            with _writing("--save", args.save):
                save_params(to_save, args.save)
        except ParamsFileError as exc:
            raise UsageError(f"--save: {exc}") from None
    if args.plot is not None:
        from gradcheck_xor.plots import training_figure

        title = (
            f"{source}: rule {args.rule}, {args.activation}, lr {args.learning_rate}, {args.steps:,} steps"
        )
        with _writing("--plot", args.plot):
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


def _add_sweep(subparsers: argparse._SubParsersAction) -> None:
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
    _add_steps(p, 200_000, MAX_STEPS, "gradient steps per seed")
    _add_rule(p)
    _add_learning_rate(p)
    p.add_argument(
        "--backend", choices=("numpy", "jax"), default="numpy", help="training engine (default: numpy)"
    )
    p.add_argument(
        "--init-scale", type=float, default=1.0, help="multiply the initial weights by this (default: 1)"
    )
    p.add_argument("--init-bias", type=float, default=0.0, help="initial value of both biases (default: 0)")
    p.add_argument("--plot", metavar="FILE.png", help="write the final-loss histogram and outcome by code")
    _add_json(p)


@np.errstate(all="ignore")  # as for notebook
def _run_sweep(args: argparse.Namespace) -> int:
    from gradcheck_xor import sweep

    if not 0 <= args.first_seed <= args.first_seed + args.seeds - 1 <= MAX_SEED:
        raise UsageError(
            f"--first-seed/--seeds: seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
            f"expected seeds in [0, {MAX_SEED}] (NumPy's legacy seeding)."
        )
    _check_plot_path(args.plot)
    if args.backend == "jax" and not sweep.jax_available():
        raise UsageError(
            "the jax backend needs JAX, which is not installed: pip install 'gradcheck-xor[jax]'"
        )

    total = args.seeds * args.steps
    bar = None
    if _show_progress(args):
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

        with _writing("--plot", args.plot):
            sweep_figure(result, args.plot)
    if args.json:
        print(json.dumps({**summary, "plot": args.plot}, allow_nan=False))
        return 0
    print(sweep.format_report(summary))
    if args.plot is not None:
        print(f"plot written to {args.plot}")
    return 0


# --- check: the gradient oracle on a backward pass of yours ---------------------------------


def _add_check(subparsers: argparse._SubParsersAction) -> None:
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
            "dW1, db1, ... (or W1, b1, ...) or a sequence in parameter order. Default: the "
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
    _add_params(
        p,
        params_help="check at these parameters instead, any fully connected network (" + FILE_FORMATS + ")",
        seed_help="seed of the parameter points",
        exclusive=False,
    )
    p.add_argument(
        "--data", metavar="FILE", help="data file holding X and Y, in place of the parameters' own"
    )
    _add_network_options(p)
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
    _add_json(p)


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


def _run_check(args: argparse.Namespace) -> int:
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
                _say(f"gradcheck-xor check: note: {note}")
            backward = target.function
        try:
            report = check_backward(
                backward, seed=args.seed, fast=args.fast, rtol=args.rtol, atol=args.atol, **options
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


COMMANDS: dict[
    str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]
] = {
    "notebook": (_add_notebook, _run_notebook),
    "check": (_add_check, _run_check),
    "compare": (_add_compare, _run_compare),
    "diagnose": (_add_diagnose, _run_diagnose),
    "train": (_add_train, _run_train),
    "sweep": (_add_sweep, _run_sweep),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


# --- running a command: errors, interrupts, and an output that went away -------------------


def _say(line: str) -> None:
    """One line on stderr; if stderr is gone too, the exit status is all that is left."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a write to stdout failed, point fd 1 at devnull, so that the flush at exit does
    not fail again with a traceback (what CPython's documentation advises for SIGPIPE)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _report_error(args: argparse.Namespace, message: str) -> None:
    """A UsageError: one line on stderr, and under --json one object on stdout as well."""
    line = " ".join(message.splitlines())
    if getattr(args, "json", False):
        source = _source(args)  # what the error is about, when it is about a file or a target
        context = {"source": source} if source is not None else {}
        try:
            print(json.dumps({**context, "ok": False, "error": line}), flush=True)
        except OSError:
            _silence_stdout()
    _say(f"gradcheck-xor {args.command}: error: {line}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread, where Python runs signal handlers: leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``gradcheck-xor``; returns the exit code (testable without a subprocess).

    argparse's own errors (an unknown option, a value that is not a number) exit 2 through
    ``SystemExit``, also one line.
    """
    prog = "gradcheck-xor"
    with _sigterm_as_interrupt():
        try:
            try:
                args = build_parser().parse_args(argv)
            finally:
                sys.stdout.flush()  # --help and --version have printed, then exit: did it reach?
            prog = f"gradcheck-xor {args.command}"
            _validate(args)
            with _bundled_example(args):
                code = COMMANDS[args.command][1](args)
            sys.stdout.flush()  # a full disk or a closed pipe shows here at the latest
            return code
        except UsageError as exc:
            _report_error(args, str(exc))
            return 2
        except KeyboardInterrupt as exc:
            _say("interrupted")
            return 143 if isinstance(exc, _Terminated) else 130
        except OSError as exc:
            # The commands turn their own files' errors into UsageErrors: this is stdout.
            if exc.errno not in (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                raise
            _silence_stdout()
            if exc.errno == errno.EPIPE:  # | head stopped reading: quiet, as if killed by SIGPIPE
                return 141
            _say(f"{prog}: error: cannot write the output: {exc.strerror}.")
            return 2


if __name__ == "__main__":
    sys.exit(main())
