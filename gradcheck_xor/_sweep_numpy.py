"""The sweep's NumPy engine: every seed's training step as ~40 ufunc calls over the seeds.

Seeds train in chunks of :data:`CHUNK`, one thread per core: NumPy's ufuncs release the GIL
while they run, so chunks train in parallel. Each chunk's arithmetic does not depend on the
others, so the results are the same bits whatever the chunking and threading.

The main thread waits for the threads in slices of 0.1 s, reporting their progress after
each, so an interrupt (Ctrl-C, or a SIGTERM raised as ``KeyboardInterrupt``) reaches it at
once; it then asks the threads to stop, and each does at its next report, within about
0.1 s of work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import numpy as np

from gradcheck_xor import _sweep_layout as layout
from gradcheck_xor._sweep_layout import Progress, chunks, cores

# Seeds per chunk: ~40 work arrays of this length stay in the L2/L3 caches, and each ufunc
# call is long enough that its fixed cost (~1 us) is small next to its work.
CHUNK = 8192
# How often the main thread looks up from waiting: reports progress, notices an interrupt.
_POLL_SECONDS = 0.1


def _train_chunk(
    P: np.ndarray, steps: int, learning_rate: float, rule: str, on_steps: Callable[[int], None]
) -> None:
    """Train the seeds of ``P`` (9, C) in place for ``steps`` full-batch steps on XOR.

    One step, for every seed at once, in the notebook's order of operations. The inputs are
    0 or 1, so ``W1 @ x`` is a sum of the W1 columns that x switches on (exactly what
    ``np.dot`` computes, without the multiplications by 0 and 1). Every ufunc writes into a
    preallocated buffer (``out=``): no allocation inside the loop. ``on_steps(k)`` hears of
    ``k`` more steps done, every ~0.1 s of work; it may raise to stop the run.
    """
    C = P.shape[1]
    rows = (layout.W1_COL0, layout.W1_COL1, layout.B1, layout.W2, layout.B2)
    W1_col0, W1_col1, b1, W2, b2 = (P[r] for r in rows)
    Z1 = np.empty((2, 4, C))  # (hidden unit, sample, seed)
    mask = np.empty((2, 4, C))  # relu'(Z1) = (Z1 > 0) as 0.0 / 1.0
    A1 = np.empty((2, 4, C))
    Z2 = np.empty((4, C))
    A2 = np.empty((4, C))
    dZ2 = np.empty((4, C))
    tmp = np.empty((4, C))
    tmp2 = np.empty((2, 4, C))
    grad = np.empty((9, C))  # rows as in P
    dW1_col0, dW1_col1, db1, dW2, db2 = (grad[r] for r in rows)
    labels = layout.LABELS[:, None]
    notebook_rule = rule == "notebook"
    # Both rules divide the gradient by m = 4 (the notebook in the backward, the BCE rule in
    # dZ2); dividing by a power of two is exact, so folding it into the step size is too.
    step_size = learning_rate / 4
    # Reports every ~2**19 seed-steps (~0.1 s), and at least every 128 steps for small chunks,
    # whose steps cost the ufuncs' fixed overhead rather than their length.
    every = max(1, 2**19 // max(C, 2**12))
    done = 0
    # exp(-Z2) overflows to inf for Z2 < -709; 1 / (1 + inf) = 0 is the right sigmoid there.
    with np.errstate(over="ignore"):
        for i in range(steps):
            np.copyto(Z1[:, 0], b1)  # sample (0, 0)
            np.add(W1_col1, b1, out=Z1[:, 1])  # sample (0, 1)
            np.add(W1_col0, b1, out=Z1[:, 2])  # sample (1, 0)
            np.add(W1_col0, W1_col1, out=Z1[:, 3])  # sample (1, 1)
            np.add(Z1[:, 3], b1, out=Z1[:, 3])
            np.greater(Z1, 0.0, out=mask)
            np.multiply(Z1, mask, out=A1)  # the notebook's relu: x * (x > 0)
            np.multiply(A1[0], W2[0], out=Z2)
            np.multiply(A1[1], W2[1], out=tmp)
            np.add(Z2, tmp, out=Z2)
            np.add(Z2, b2, out=Z2)
            np.negative(Z2, out=A2)  # the notebook's sigmoid: 1 / (1 + exp(-z))
            np.exp(A2, out=A2)
            np.add(A2, 1.0, out=A2)
            np.divide(1.0, A2, out=A2)
            np.subtract(A2, labels, out=dZ2)
            if notebook_rule:  # dZ2 = (A2 - Y) * A2 * (1 - A2)
                np.multiply(dZ2, A2, out=dZ2)
                np.subtract(1.0, A2, out=tmp)
                np.multiply(dZ2, tmp, out=dZ2)
            # dW2 = dZ2 @ A1.T and db2 = sum(dZ2), summed sample by sample
            np.multiply(A1, dZ2, out=tmp2)
            np.add(tmp2[:, 0], tmp2[:, 1], out=dW2)
            np.add(dW2, tmp2[:, 2], out=dW2)
            np.add(dW2, tmp2[:, 3], out=dW2)
            np.add(dZ2[0], dZ2[1], out=db2)
            np.add(db2, dZ2[2], out=db2)
            np.add(db2, dZ2[3], out=db2)
            # dZ1 = W2.T @ dZ2 * relu'(Z1); dW1 = dZ1 @ X.T picks the samples where x = 1
            np.multiply(mask, dZ2, out=tmp2)
            np.multiply(tmp2, W2[:, None, :], out=tmp2)
            np.add(tmp2[:, 2], tmp2[:, 3], out=dW1_col0)
            np.add(tmp2[:, 1], tmp2[:, 3], out=dW1_col1)
            np.add(tmp2[:, 0], tmp2[:, 1], out=db1)
            np.add(db1, tmp2[:, 2], out=db1)
            np.add(db1, tmp2[:, 3], out=db1)
            np.multiply(grad, step_size, out=grad)
            np.subtract(P, grad, out=P)
            if (i + 1) % every == 0 or i + 1 == steps:
                on_steps(i + 1 - done)
                done = i + 1


class _StopRequestedError(Exception):
    """Raised inside a training thread when the main thread has asked the run to stop."""


def train(
    P: np.ndarray, steps: int, learning_rate: float, rule: str, chunk: int, on_progress: Progress
) -> np.ndarray:
    """Train the (9, S) parameters ``P`` for ``steps`` steps; return the trained copy.

    ``on_progress(n)`` hears of ``n`` more seed-steps done, always from the calling thread.
    """
    out = np.empty_like(P)
    parts = list(chunks(P.shape[1], chunk))
    sizes = [part.stop - part.start for part in parts]
    if len(parts) == 1 or cores() == 1:
        for part, n in zip(parts, sizes, strict=True):
            block = np.array(P[:, part])  # contiguous, so every row is a contiguous view
            _train_chunk(block, steps, learning_rate, rule, lambda k, n=n: on_progress(k * n))
            out[:, part] = block
        return out

    stop = threading.Event()
    steps_done = [0] * len(parts)  # each written by its part's thread, read by this one

    def train_part(index: int) -> None:
        def note(k: int) -> None:
            steps_done[index] += k
            if stop.is_set():
                raise _StopRequestedError

        block = np.array(P[:, parts[index]])
        _train_chunk(block, steps, learning_rate, rule, note)
        out[:, parts[index]] = block

    reported = 0
    pool = ThreadPoolExecutor(max_workers=min(len(parts), cores()))
    try:
        pending = {pool.submit(train_part, index) for index in range(len(parts))}
        while pending:
            finished, pending = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # re-raises a thread's error
            seed_steps = sum(n * k for n, k in zip(sizes, steps_done, strict=True))
            if seed_steps > reported:
                on_progress(seed_steps - reported)
                reported = seed_steps
    except BaseException:  # an error, Ctrl-C or SIGTERM: each thread stops at its next report
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out
