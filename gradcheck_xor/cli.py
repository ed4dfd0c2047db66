"""The ``gradcheck-xor`` command: its parser, and running one subcommand.

Each subcommand is a pair: ``add_<name>(subparsers)`` declares its options and
``run_<name>(args) -> int`` does the work (``gradcheck_xor._cli_training``: notebook, train,
sweep; ``gradcheck_xor._cli_checking``: diagnose, compare, check; what they share is in
``gradcheck_xor._cli_common``). Exit codes follow one rule everywhere:
0 = nothing wrong found, 1 = findings (a wrong gradient, a warning), 2 = unusable input or
options (one line on stderr, no traceback); an interrupt is 130 (SIGINT) or 143 (SIGTERM),
a closed output pipe 141. Every numeric option is checked against one table
(``_cli_common.CHECKS``) before any work starts. Heavy libraries (torch, jax, matplotlib)
are imported inside the commands that need them, never at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gradcheck_xor import __version__
from gradcheck_xor._cli_checking import (
    add_check,
    add_compare,
    add_diagnose,
    run_check,
    run_compare,
    run_diagnose,
)
from gradcheck_xor._cli_common import (
    UsageError,
    bundled_example,
    say,
    source_of,
    validate,
)
from gradcheck_xor._cli_training import add_notebook, add_sweep, add_train, run_notebook, run_sweep, run_train

__all__ = ["build_parser", "main"]


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that every cleanup written for Ctrl-C runs."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error of the command."""

    def error(self, message: str) -> Any:
        line = " ".join(message.splitlines())
        self.exit(2, f"{self.prog}: error: {line} (see {self.prog} --help)\n")


COMMANDS: dict[
    str, tuple[Callable[[argparse._SubParsersAction], None], Callable[[argparse.Namespace], int]]
] = {
    "notebook": (add_notebook, run_notebook),
    "check": (add_check, run_check),
    "compare": (add_compare, run_compare),
    "diagnose": (add_diagnose, run_diagnose),
    "train": (add_train, run_train),
    "sweep": (add_sweep, run_sweep),
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
        source = source_of(args)  # what the error is about, when it is about a file or a target
        context = {"source": source} if source is not None else {}
        try:
            print(json.dumps({**context, "ok": False, "error": line}), flush=True)
        except OSError:
            _silence_stdout()
    say(f"gradcheck-xor {args.command}: error: {line}")


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
            validate(args)
            with bundled_example(args):
                code = COMMANDS[args.command][1](args)
            sys.stdout.flush()  # a full disk or a closed pipe shows here at the latest
            return code
        except UsageError as exc:
            _report_error(args, str(exc))
            return 2
        except KeyboardInterrupt as exc:
            say("interrupted")
            return 143 if isinstance(exc, _Terminated) else 130
        except OSError as exc:
            # The commands turn their own files' errors into UsageErrors: this is stdout.
            if exc.errno not in (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                raise
            _silence_stdout()
            if exc.errno == errno.EPIPE:  # | head stopped reading: quiet, as if killed by SIGPIPE
                return 141
            say(f"{prog}: error: cannot write the output: {exc.strerror}.")
            return 2


if __name__ == "__main__":
    sys.exit(main())
