"""What the ``gradcheck-xor`` commands share: the usage error, the bounds of the numeric
options (one table, checked before any work), the options several commands declare, the
parameter file or example a command starts from, the files it writes, and its progress bar.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

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
SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


class UsageError(Exception):
    """Unusable input or options: reported as one line on stderr with exit code 2."""


# --- the numeric options' bounds: one table, checked before any work ------------------------


def integer(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        if low <= value <= high:
            return None
        return "a positive integer" if low == 1 and value < 1 else f"an integer in [{low}, {high}]"

    return check


def finite(value: float) -> str | None:
    return None if math.isfinite(value) else "a finite number"


def positive(value: float) -> str | None:
    return finite(value) or (None if value > 0 else "a positive number")


def non_negative(value: float) -> str | None:
    return None if math.isfinite(value) and value >= 0 else "a finite number >= 0"


def at_least_one_byte(value: int) -> str | None:
    return None if value >= 1 else "a positive size"


# option -> what its value must be (None when it is); "COMMAND --option" overrides one command.
# --first-seed is checked with --seeds, as the range of seeds they make (see run_sweep).
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "--seed": integer(0, MAX_SEED),
    "--seeds": integer(1, MAX_SEEDS),
    "--steps": integer(1, MAX_STEPS),
    "compare --steps": integer(1, MAX_COMPARE_STEPS),
    "--learning-rate": positive,
    "--init-scale": finite,
    "--init-bias": finite,
    "--max-file-size": at_least_one_byte,
    "--rtol": non_negative,
    "--atol": non_negative,
}


def validate(args: argparse.Namespace) -> None:
    for dest, value in vars(args).items():
        option = "--" + dest.replace("_", "-")
        check = CHECKS.get(f"{args.command} {option}", CHECKS.get(option))
        if check is not None and value is not None and (expected := check(value)):
            raise UsageError(f"{option}: got {value}, expected {expected}.")


def byte_size(text: str) -> int:
    """``65536``, ``64K``, ``64M``, ``1G`` (powers of 1024) -> bytes."""
    size = re.fullmatch(r"\s*([0-9]{1,18})([KMG]?)\s*", text, re.IGNORECASE)
    if size is None:
        raise argparse.ArgumentTypeError(
            f"got {text!r}, expected a size in bytes such as 65536, 64K, 64M or 1G"
        )
    return int(size[1]) * SIZE_UNITS[size[2].upper()]


# --- options that several commands share, declared once ------------------------------------


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="write exactly one JSON object to stdout")


def add_max_file_size(p: argparse.ArgumentParser) -> None:
    from gradcheck_xor.params_io import MAX_BYTES

    p.add_argument(
        "--max-file-size",
        type=byte_size,
        default=MAX_BYTES,
        metavar="BYTES",
        help=f"refuse parameter files larger than this; K, M, G suffixes (default: {MAX_BYTES // 2**20}M)",
    )


def add_seed(p: argparse._ActionsContainer, what: str = "seed for the notebook's initialiser") -> None:
    p.add_argument("--seed", type=int, default=0, help=f"{what}, in [0, {MAX_SEED}] (default: 0)")


def add_example(group: argparse._ActionsContainer) -> None:
    from gradcheck_xor import examples

    group.add_argument(
        "--example",
        choices=examples.names(),
        metavar="NAME",
        help=f"a parameter file that ships with gradcheck-xor: {', '.join(examples.names())}",
    )


def add_params(p: argparse.ArgumentParser, *, params_help: str, seed_help: str, exclusive: bool) -> None:
    """--params FILE or --example NAME, and --seed N (one of the three, when ``exclusive``), and
    --max-file-size."""
    files = p.add_mutually_exclusive_group()
    files.add_argument("--params", metavar="FILE", help=params_help)
    add_example(files)
    add_seed(files if exclusive else p, seed_help)
    add_max_file_size(p)


def add_steps(p: argparse.ArgumentParser, default: int, high: int, what: str = "gradient steps") -> None:
    p.add_argument("--steps", type=int, default=default, help=f"{what}, in [1, {high}] (default: {default})")


def add_learning_rate(p: argparse.ArgumentParser) -> None:
    # --lr, the name most training scripts use, stays as a shorter spelling.
    p.add_argument(
        "--learning-rate",
        "--lr",
        type=float,
        default=0.01,
        metavar="RATE",
        help="learning rate, finite and positive (default: 0.01)",
    )


def add_rule(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rule",
        choices=("notebook", "bce"),
        default="notebook",
        help="update rule: the notebook's MSE-style backward or the exact BCE gradient (default: notebook)",
    )


FILE_FORMATS = "parameter file: .json, .npz, .safetensors, .pt or .pth"


# --- files: read before the work, written after it ------------------------------------------


@contextlib.contextmanager
def bundled_example(args: argparse.Namespace) -> Iterator[None]:
    """``--example NAME``: the bundled file stands in for FILE or ``--params`` while the
    command runs; the output names it by :func:`source`."""
    name = getattr(args, "example", None)
    if name is None:
        yield
        return
    from gradcheck_xor import examples

    with examples.path(name) as path:
        setattr(args, "file" if args.command == "diagnose" else "params", str(path))
        yield


def source_of(args: argparse.Namespace) -> str | None:
    """What the command examines, as its output names it (``source`` in every JSON output):
    check's TARGET, a bundled example by its name, or the parameter file."""
    if args.command == "check":
        return args.target
    if getattr(args, "example", None) is not None:
        return f"example {args.example}"
    return getattr(args, "file", None) or getattr(args, "params", None)


def check_output_path(option: str, path: str | None, suffixes: tuple[str, ...]) -> None:
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


def check_plot_path(path: str | None) -> None:
    check_output_path("--plot", path, (".png",))
    if path is None:
        return
    from gradcheck_xor.plots import PlotUnavailableError, _pyplot

    try:
        _pyplot()
    except PlotUnavailableError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def writing(option: str, path: str) -> Iterator[None]:
    """A failure to write ``path`` (a full disk, a lost permission) as one line, exit 2."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}.") from None


# --- progress and training ---------------------------------------------------------------


def progress(total: int, desc: str, enabled: bool) -> tuple[OnStep, Callable[[], None]]:
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


def show_progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(args, "json", False)


def train_in_chunks(
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


def add_network_options(p: argparse.ArgumentParser) -> None:
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


def describe_network(
    args: argparse.Namespace, params: Mapping[str, np.ndarray], X: np.ndarray | None
) -> Network:
    """The network the options and the parameters describe; a description that does not fit
    is unusable input."""
    from gradcheck_xor.network import NetworkError, describe

    try:
        return describe(params, X, hidden=args.hidden, output=args.output, loss=args.loss, layout=args.layout)
    except NetworkError as exc:
        raise UsageError(str(exc)) from None


def starting_point(args: argparse.Namespace) -> tuple[Params, np.ndarray, np.ndarray, str]:
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
    return params, X, Y, str(source_of(args))


def say(line: str) -> None:
    """One line on stderr; if stderr is gone too, the exit status is all that is left."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)
