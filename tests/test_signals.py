"""Interrupting a sweep: Ctrl-C (SIGINT) or SIGTERM ends `gradcheck-xor sweep` within a couple
of seconds, with a non-zero exit status and no process it started left running.

Each test starts the command as a user would, with its stderr on a terminal (a pseudo-terminal
here) so that it draws its progress bar, waits until the bar shows training under way, then
sends the signal to that process alone.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("reads the process tree from Linux's /proc", allow_module_level=True)

# Long enough that no run ends by itself: the signal must end it.
STEPS = 10**8
# A progress bar that has counted seed-steps shows a rate ("1.2Gseed-step/s", not "?seed-step/s").
TRAINING = re.compile(rb"\d[kMGTPEZY]?seed-step/s")
STARTUP_SECONDS = 60  # import, JAX's compilation, on a busy machine
ENDS_WITHIN_SECONDS = 2.0


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc/<pid>/task/*/children."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = {int(child) for child in f.read().split()}
        except FileNotFoundError:
            continue
        for child in children:
            found |= {child} | _descendants(child)
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _read(master: int, seconds: float) -> bytes:
    """What the child wrote to the terminal within ``seconds`` (b"" at its end)."""
    ready, _, _ = select.select([master], [], [], seconds)
    if not ready:
        return b""
    try:
        return os.read(master, 65536)
    except OSError:  # the child closed the terminal: it has exited
        return b""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("backend", "seeds"),
    [("numpy", 20_000), ("jax", 20_000)],  # numpy: more than one 8,192-seed chunk, so threads
    ids=["numpy", "jax"],
)
def test_a_signal_ends_a_sweep_at_once_leaving_no_process_behind(backend, seeds, sig):
    if backend == "jax":
        pytest.importorskip("jax")
    master, terminal = pty.openpty()
    # A terminal of 0 columns (a new pseudo-terminal's size) gets no progress bar at all.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    argv = ["sweep", "--seeds", str(seeds), "--steps", str(STEPS), "--backend", backend]
    process = subprocess.Popen(
        [sys.executable, "-m", "gradcheck_xor", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    try:
        shown = b""
        deadline = time.monotonic() + STARTUP_SECONDS
        while not TRAINING.search(shown[-4096:]):
            assert process.poll() is None, f"the sweep ended before the signal: {shown[-2000:]!r}"
            assert time.monotonic() < deadline, f"no training seen: {shown[-2000:]!r}"
            shown += _read(master, 0.5)
        children = _descendants(process.pid)

        sent = time.monotonic()
        process.send_signal(sig)
        while process.poll() is None and time.monotonic() - sent < 60:
            shown += _read(master, 0.05)  # keep the terminal drained: a full one would block the child
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(master)

    assert took < ENDS_WITHIN_SECONDS, f"{took:.1f} s after {sig.name}"
    assert process.returncode != 0
    assert not [pid for pid in children if _running(pid)], "processes left running"
