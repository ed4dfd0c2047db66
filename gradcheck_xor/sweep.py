"""Seed sweeps: train thousands of initialisations of the XOR network at once and count how
each run ends.

One training run says little: whether XOR gets solved depends mostly on the initial draw.
:func:`run_sweep` draws ``n_seeds`` initialisations, labels each with the diagnostics' codes
(:func:`gradcheck_xor.diagnostics.init_codes`), trains them all under one update rule and
classifies every run:

* ``solved``: every output within 0.4 of its label (``|A2 - y| < 0.4``);
* ``stuck``: the binary cross-entropy within 1e-3 of ln 2, the loss of predicting 0.5;
* ``other``: anything else (still learning, or stuck somewhere else).

:func:`summarize` turns that into rates with 95% Wilson intervals and, for each diagnostic
code, how well it predicts "not solved" (precision, recall, failure rate of flagged against
unflagged initialisations); :func:`format_report` prints it.

Update rules (``rule``): ``"notebook"`` is the tutorial's backward pass, defects included
(``dZ2 = (A2 - Y) * A2 * (1 - A2)``, relu'(0) = 0), followed by its plain update;
``"bce"`` is the exact gradient of the mean binary cross-entropy (``dZ2 = (A2 - Y) / m``),
as in :mod:`gradcheck_xor.model`. Both run on the notebook's XOR data.

Backends give the same outcomes: ``"numpy"`` (always available) and ``"jax"`` (the ``jax``
extra, imported only when asked for). Both keep the parameters as structure-of-arrays: a
(9, S) array, one row per scalar parameter, seeds along the contiguous last axis, and
write the training step out per sample. Seeds run in chunks, so memory stays bounded
however many seeds there are. Both use every core: NumPy with a thread per core (its
ufuncs release the GIL), JAX, for large jobs, with a worker process per core.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from gradcheck_xor import model

__all__ = [
    "BACKENDS",
    "OUTCOMES",
    "RULES",
    "SweepResult",
    "classify",
    "format_report",
    "initial_params",
    "jax_workers",
    "outcome_of",
    "run_sweep",
    "shutdown_jax_workers",
    "summarize",
    "train_batch",
    "train_one",
    "wilson_interval",
]

Rule = Literal["notebook", "bce"]
Backend = Literal["numpy", "jax"]
RULES: tuple[str, ...] = ("notebook", "bce")
BACKENDS: tuple[str, ...] = ("numpy", "jax")
OUTCOMES: tuple[str, ...] = ("solved", "stuck", "other")

SOLVED_MARGIN = 0.4  # solved: every |A2 - y| below this
STUCK_TOLERANCE = 1e-3  # stuck: |loss - ln 2| below this
LN2 = math.log(2.0)
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile

# The notebook's XOR data, as the engines use it: samples (0,0), (0,1), (1,0), (1,1).
_X, _Y = model.xor_data()
_LABELS = _Y[0]

# Rows of the (9, S) structure-of-arrays layout. W1's columns come first so that the weights
# each input feeds are one contiguous slice: W1[:, 0] is rows 0-1, W1[:, 1] rows 2-3.
_W1_COL0, _W1_COL1, _B1, _W2, _B2 = slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8), 8

BatchParams = dict[str, np.ndarray]
Progress = Callable[[int], None]

# Seeds per numpy chunk: ~40 work arrays of this length stay in the L2/L3 caches, and each
# ufunc call is long enough that its fixed cost (~1 us) is small next to its work.
NUMPY_CHUNK = 8192
# Seeds per JAX chunk: the step's ~25 arrays of this length fit in a core's L2 cache.
JAX_CHUNK = 1024
# Seeds drawn, diagnosed and classified together in run_sweep: bounds memory, not speed.
BLOCK = 65536


# --- parameters: one dict of batched arrays <-> the (9, S) layout --------------------------


def _check_batch(params: BatchParams) -> int:
    shapes = {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}
    S = np.shape(params["W1"])[0] if np.ndim(params["W1"]) == 3 else -1
    for name, shape in shapes.items():
        got = np.shape(params[name])
        if got != (S, *shape):
            raise ValueError(f"Shape mismatch for {name}: got {got}, expected (S, {shape[0]}, {shape[1]}).")
    return S


def _pack(params: BatchParams) -> np.ndarray:
    """Batched notebook-shaped parameters -> a C-contiguous float64 (9, S) array."""
    S = _check_batch(params)
    P = np.empty((9, S))
    W1 = np.asarray(params["W1"], dtype=np.float64)
    P[_W1_COL0] = W1[:, :, 0].T
    P[_W1_COL1] = W1[:, :, 1].T
    P[_B1] = np.asarray(params["b1"], dtype=np.float64)[:, :, 0].T
    P[_W2] = np.asarray(params["W2"], dtype=np.float64)[:, 0, :].T
    P[_B2] = np.asarray(params["b2"], dtype=np.float64)[:, 0, 0]
    return P


def _unpack(P: np.ndarray) -> BatchParams:
    """A (9, S) array -> ``{"W1": (S, 2, 2), "b1": (S, 2, 1), "W2": (S, 1, 2), "b2": (S, 1, 1)}``."""
    W1 = np.stack([P[_W1_COL0].T, P[_W1_COL1].T], axis=2)
    return {
        "W1": np.ascontiguousarray(W1),
        "b1": np.ascontiguousarray(P[_B1].T[:, :, None]),
        "W2": np.ascontiguousarray(P[_W2].T[:, None, :]),
        "b2": np.ascontiguousarray(P[_B2][:, None, None]),
    }


def initial_params(seeds: range | np.ndarray, *, scale: float = 1.0, bias: float = 0.0) -> BatchParams:
    """The notebook's initialiser for each seed, batched along a leading axis.

    For seed ``s``: ``np.random.seed(s)``, ``W1 = randn(2, 2)``, then ``W2 = randn(1, 2)``,
    biases zero, exactly as :func:`gradcheck_xor.model.init_params` (bit for bit), without
    touching NumPy's global random state. ``scale`` multiplies the weights and ``bias``
    fills both biases, for setups other than the notebook's.
    """
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    draws = np.empty((seeds.size, 6))
    rng = np.random.RandomState()  # re-seeded per seed: far cheaper than a new RandomState
    for i, s in enumerate(seeds.tolist()):
        rng.seed(s)
        draws[i] = rng.standard_normal(6)  # the same stream as randn(2, 2) then randn(1, 2)
    if scale != 1.0:
        draws *= scale
    S = seeds.size
    return {
        "W1": draws[:, :4].reshape(S, 2, 2),
        "b1": np.full((S, 2, 1), float(bias)),
        "W2": draws[:, 4:].reshape(S, 1, 2),
        "b2": np.full((S, 1, 1), float(bias)),
    }


# --- the NumPy engine ----------------------------------------------------------------------


def _train_numpy_chunk(
    P: np.ndarray, steps: int, learning_rate: float, rule: str, on_steps: Callable[[int], None]
) -> None:
    """Train the seeds of ``P`` (9, C) in place for ``steps`` full-batch steps on XOR.

    One step, for every seed at once, in the notebook's order of operations. The inputs are
    0 or 1, so ``W1 @ x`` is a sum of the W1 columns that x switches on (exactly what
    ``np.dot`` computes, without the multiplications by 0 and 1). Every ufunc writes into a
    preallocated buffer (``out=``): no allocation inside the loop.
    """
    C = P.shape[1]
    W1_col0, W1_col1, b1, W2, b2 = P[_W1_COL0], P[_W1_COL1], P[_B1], P[_W2], P[_B2]
    Z1 = np.empty((2, 4, C))  # (hidden unit, sample, seed)
    mask = np.empty((2, 4, C))  # relu'(Z1) = (Z1 > 0) as 0.0 / 1.0
    A1 = np.empty((2, 4, C))
    Z2 = np.empty((4, C))
    A2 = np.empty((4, C))
    dZ2 = np.empty((4, C))
    tmp = np.empty((4, C))
    tmp2 = np.empty((2, 4, C))
    grad = np.empty((9, C))  # rows as in P
    labels = _LABELS[:, None]
    notebook_rule = rule == "notebook"
    # Both rules divide the gradient by m = 4 (the notebook in the backward, the BCE rule in
    # dZ2); dividing by a power of two is exact, so folding it into the step size is too.
    step_size = learning_rate / 4
    every = max(1, min(steps, 1 << 20) // 64)
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
            np.add(tmp2[:, 0], tmp2[:, 1], out=grad[_W2])
            np.add(grad[_W2], tmp2[:, 2], out=grad[_W2])
            np.add(grad[_W2], tmp2[:, 3], out=grad[_W2])
            np.add(dZ2[0], dZ2[1], out=grad[_B2])
            np.add(grad[_B2], dZ2[2], out=grad[_B2])
            np.add(grad[_B2], dZ2[3], out=grad[_B2])
            # dZ1 = W2.T @ dZ2 * relu'(Z1); dW1 = dZ1 @ X.T picks the samples where x = 1
            np.multiply(mask, dZ2, out=tmp2)
            np.multiply(tmp2, W2[:, None, :], out=tmp2)
            np.add(tmp2[:, 2], tmp2[:, 3], out=grad[_W1_COL0])
            np.add(tmp2[:, 1], tmp2[:, 3], out=grad[_W1_COL1])
            np.add(tmp2[:, 0], tmp2[:, 1], out=grad[_B1])
            np.add(grad[_B1], tmp2[:, 2], out=grad[_B1])
            np.add(grad[_B1], tmp2[:, 3], out=grad[_B1])
            np.multiply(grad, step_size, out=grad)
            np.subtract(P, grad, out=P)
            if (i + 1) % every == 0 or i + 1 == steps:
                on_steps(i + 1 - done)
                done = i + 1


def _chunks(n: int, size: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of equal length (within one), at most ``size``."""
    pieces = max(1, -(-n // size))
    bounds = [n * k // pieces for k in range(pieces + 1)]
    for start, stop in itertools.pairwise(bounds):
        yield slice(start, stop)


def _serialised(on_progress: Progress) -> Progress:
    """``on_progress``, called by one thread at a time (the training threads all report)."""
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            on_progress(n)

    return report


def _train_numpy(
    P: np.ndarray, steps: int, learning_rate: float, rule: str, chunk: int, on_progress: Progress
) -> np.ndarray:
    """Train chunk by chunk, one thread per CPU: NumPy's ufuncs release the GIL while they
    run, so chunks train in parallel. Each chunk's arithmetic does not depend on the others,
    so the results are the same bits whatever the chunking and threading."""
    out = np.empty_like(P)
    report = _serialised(on_progress)

    def train(part: slice) -> None:
        block = np.array(P[:, part])  # contiguous, so every row is a contiguous view
        n = part.stop - part.start
        _train_numpy_chunk(block, steps, learning_rate, rule, lambda k: report(k * n))
        out[:, part] = block

    parts = list(_chunks(P.shape[1], chunk))
    workers = min(len(parts), len(_cores()))
    if workers == 1:
        for part in parts:
            train(part)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(train, parts))  # list(): re-raise any error from a worker
    return out


# --- the JAX engine ------------------------------------------------------------------------


def _ln2_split() -> tuple[float, float]:
    """ln 2 as ``hi + lo``: ``hi`` has 32 significant bits, so ``n * hi`` is exact for any
    exponent n of a float64, and ``lo`` carries the next 53 bits (ln 2 from ``decimal``)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 50
        ln2 = Decimal(2).ln()
        hi = math.ldexp(round(math.ldexp(float(ln2), 32)), -32)
        return hi, float(ln2 - Decimal(hi))


_LN2_HI, _LN2_LO = _ln2_split()
_LOG2_E = 1.0 / LN2
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13))  # exp(r), degree 12
_TWO_52_51 = 2.0**52 + 2.0**51  # added to an integer-valued n < 2**51, puts n in the low bits


def _jax_exp(x: Any) -> Any:
    """exp(x) for float64 jax arrays, within a few ulp of ``math.exp`` (at most 3 over 2 million
    random arguments in [-708, 709]; the tests allow 4).

    XLA's own float64 exp on the CPU is a rational approximation (a division per call)
    clamped with NaN-aware min/max that x86 emulates in several instructions; in the
    sweep's step it took half the time. This is the textbook method in operations XLA fuses
    and vectorises: x = n ln 2 + r with n = round(x / ln 2) and |r| <= ln 2 / 2 (ln 2 split
    so that n ln 2 loses nothing), exp(r) from its degree-12 Taylor polynomial (error below
    1e-16 on that interval) in Estrin's scheme (short dependency chains; Horner's is 1 ulp
    closer and 6% slower), and 2**n written straight into the exponent bits. x is clamped
    to [-708, 709], where 2**n stays a normal number: exp(709) = 8e307 where exp would
    overflow, which only moves a sigmoid from 0 to 1e-308.
    """
    import jax.numpy as jnp
    from jax import lax

    x = jnp.where(x < -708.0, -708.0, x)
    x = jnp.where(x > 709.0, 709.0, x)
    n = jnp.round(x * _LOG2_E)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    c = _EXP_TAYLOR
    r2 = r * r
    r4 = r2 * r2
    pairs = [c[i] + c[i + 1] * r for i in range(0, 12, 2)]  # c0 + c1 r, c2 + c3 r, ...
    low = (pairs[0] + pairs[1] * r2) + (pairs[2] + pairs[3] * r2) * r4
    high = (pairs[4] + pairs[5] * r2) + c[12] * r4
    poly = low + high * (r4 * r4)
    # n + 1.5 * 2**52 holds n in its low mantissa bits; adding the exponent bias and
    # shifting those bits into the exponent field gives the float64 2**n (the high bits of
    # the sum shift out of the 64).
    bits = lax.bitcast_convert_type(n + _TWO_52_51, jnp.int64)
    scale = lax.bitcast_convert_type(lax.shift_left(bits + 1023, jnp.int64(52)), jnp.float64)
    return poly * scale


def _jax_step(p: tuple[Any, ...], learning_rate: float, rule: str) -> tuple[Any, ...]:
    """One training step in scalar form, for jax arrays of shape (C,): 9 in, 9 out.

    The same arithmetic as the NumPy engine, laid out for XLA's fusion. XLA turns each of
    the 9 results into one loop over the seeds; what several loops read it either recomputes
    in each (cheap operations) or materialises (expensive ones). Left alone, it recomputes
    the sigmoids' dZ2 in every loop that needs them, or materialises the ReLUs too. So:

    * the forward pass ends at ``optimization_barrier(dZ2)``: four loops, one per sample,
      compute the four dZ2 values and nothing else is materialised;
    * the forward pass writes Z1's sums in another operand order (``c0 + w01``) than the
      backward pass (``w01 + c0``, the notebook's), and its ReLU as ``z > 0`` where the
      backward's is ``z <= 0``: equal values (a + b == b + a exactly), but different
      expressions, so XLA does not merge them into one array to materialise;
    * each of the 9 updates is then one loop reading the parameters and dZ2.
    """
    import jax.numpy as jnp
    from jax import lax

    w00, w10, w01, w11, c0, c1, v0, v1, d = p  # W1 by columns, b1, W2, b2
    # Forward, sample by sample: Z1 = W1 @ x + b1, A1 = relu(Z1), A2 = sigmoid(W2 @ A1 + b2).
    fz0 = (c0, c0 + w01, c0 + w00, c0 + (w01 + w00))
    fz1 = (c1, c1 + w11, c1 + w10, c1 + (w11 + w10))
    A2 = [
        1.0 / (1.0 + _jax_exp(-((jnp.where(z0 > 0, z0, 0.0) * v0 + jnp.where(z1 > 0, z1, 0.0) * v1) + d)))
        for z0, z1 in zip(fz0, fz1, strict=True)
    ]
    labels = _LABELS.tolist()
    if rule == "notebook":
        dz = [((a - y) * a) * (1.0 - a) for a, y in zip(A2, labels, strict=True)]
    else:
        dz = [a - y for a, y in zip(A2, labels, strict=True)]
    dz = lax.optimization_barrier(dz)
    # Backward, recomputing Z1 (cheap) in the notebook's order.
    z0 = (c0, w01 + c0, w00 + c0, (w00 + w01) + c0)
    z1 = (c1, w11 + c1, w10 + c1, (w10 + w11) + c1)
    a0 = [jnp.where(z <= 0, 0.0, z) for z in z0]
    a1 = [jnp.where(z <= 0, 0.0, z) for z in z1]
    g0 = [jnp.where(z <= 0, 0.0, v0 * g) for z, g in zip(z0, dz, strict=True)]  # dZ1, unit 0
    g1 = [jnp.where(z <= 0, 0.0, v1 * g) for z, g in zip(z1, dz, strict=True)]  # dZ1, unit 1
    step = learning_rate / 4
    return (
        w00 - step * (g0[2] + g0[3]),
        w10 - step * (g1[2] + g1[3]),
        w01 - step * (g0[1] + g0[3]),
        w11 - step * (g1[1] + g1[3]),
        c0 - step * (((g0[0] + g0[1]) + g0[2]) + g0[3]),
        c1 - step * (((g1[0] + g1[1]) + g1[2]) + g1[3]),
        v0 - step * (((dz[0] * a0[0] + dz[1] * a0[1]) + dz[2] * a0[2]) + dz[3] * a0[3]),
        v1 - step * (((dz[0] * a1[0] + dz[1] * a1[1]) + dz[2] * a1[2]) + dz[3] * a1[3]),
        d - step * (((dz[0] + dz[1]) + dz[2]) + dz[3]),
    )


# Steps per iteration of the JAX step loop: unrolling saves the loop's own work (its copies
# of the carried arrays, its counter) between steps; past 4 it measured no faster.
_STEPS_PER_ITERATION = 4


@lru_cache(maxsize=16)
def _jax_trainer(learning_rate: float, rule: str) -> Callable[..., Any]:
    """A jitted ``(P (n_chunks, 9, C), n) -> P`` running ``n * _STEPS_PER_ITERATION`` steps.

    ``lax.map`` runs the chunks one after another, each with the whole step loop inside,
    so a chunk's arrays stay in cache for all its steps.
    """
    import jax
    from jax import lax

    def steps(_: Any, p: tuple[Any, ...]) -> tuple[Any, ...]:
        for _ in range(_STEPS_PER_ITERATION):
            p = _jax_step(p, learning_rate, rule)
        return p

    def train_chunk(P: Any, n: Any) -> Any:
        p = tuple(P[k] for k in range(9))
        return jax.numpy.stack(lax.fori_loop(0, n, steps, p))

    @jax.jit
    def train(P: Any, n: Any) -> Any:
        return lax.map(lambda chunk: train_chunk(chunk, n), P)

    return train


@lru_cache(maxsize=16)
def _jax_one_step(learning_rate: float, rule: str) -> Callable[..., Any]:
    """A jitted ``P (n_chunks, 9, C) -> P`` one step on: the steps left over by the loop."""
    import jax

    def one(P: Any) -> Any:
        p = tuple(P[k] for k in range(9))
        return jax.numpy.stack(_jax_step(p, learning_rate, rule))

    return jax.jit(jax.vmap(one))


def _train_jax_here(
    P: np.ndarray, steps: int, learning_rate: float, rule: str, chunk: int, on_progress: Progress
) -> np.ndarray:
    """Train (9, S) on this process's CPU device, about ``chunk`` seeds per inner loop.

    The seeds are dealt into equal chunks (a multiple of 8 seeds, padded with zero
    parameters, whose gradients are finite) that run one after another. The steps run in
    segments so that ``on_progress`` hears from the run about 50 times.
    """
    import jax

    with jax.enable_x64(True):
        S = P.shape[1]
        n_chunks = -(-S // chunk)
        size = 8 * -(-S // (8 * n_chunks))  # as even as whole vectors allow
        padded = np.zeros((9, n_chunks * size))
        padded[:, :S] = P
        # (9, seeds) -> (chunk, 9, seed in chunk)
        state = jax.device_put(np.ascontiguousarray(padded.reshape(9, n_chunks, size).transpose(1, 0, 2)))
        train = _jax_trainer(float(learning_rate), rule)
        iterations, left_over = divmod(steps, _STEPS_PER_ITERATION)
        segment = max(1, -(-iterations // 50))
        done = 0
        while done < iterations:
            n = min(segment, iterations - done)
            state = jax.block_until_ready(train(state, n))
            done += n
            on_progress(n * _STEPS_PER_ITERATION * S)
        for _ in range(left_over):
            state = jax.block_until_ready(_jax_one_step(float(learning_rate), rule)(state))
            on_progress(S)
        result = np.asarray(state)  # (chunk, 9, seed in chunk)
    return np.ascontiguousarray(result.transpose(1, 0, 2).reshape(9, -1)[:, :S])


# Below this many seed-steps a sweep trains in the calling process: starting the worker
# processes (JAX's import and compilation in each, ~3 s) would cost more than it saves.
JAX_WORKERS_FROM = 2**27


@dataclass
class _Worker:
    """A running worker process (:mod:`gradcheck_xor._sweep_worker`) and where its errors go."""

    process: subprocess.Popen[bytes]
    stderr: Any  # a temporary file: read back only to explain a failure


# The JAX backend's worker processes, kept between calls (a sweep trains block by block).
_WORKERS: list[_Worker] = []

# The peak resident memory of each worker process after the last pooled run, in bytes.
WORKER_PEAK_RSS: list[int] = []


def _cores() -> list[int]:
    """The cores this process may run on (where affinity is not known: all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _workers(n: int) -> list[_Worker]:
    """``n`` worker processes, each pinned to a core of its own (started on first use).

    Why processes: XLA sizes its CPU thread pool by the cores a process may use and spreads
    each step's loops over that pool; two such processes, or two devices in one, then
    contend for the same cores, which cost a third of the speed on two cores. A process
    pinned to one core runs its loops one after another on that core, and one per core
    scales. Plain subprocesses rather than ``multiprocessing``, so that the caller's script
    is never imported again in the workers.
    """
    import tempfile

    if len(_WORKERS) != n:
        shutdown_jax_workers()
        cores = _cores()
        for k in range(n):
            stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by shutdown_jax_workers)
            process = subprocess.Popen(
                [sys.executable, "-m", "gradcheck_xor._sweep_worker", str(cores[k % len(cores)])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
            _WORKERS.append(_Worker(process, stderr))
    return _WORKERS


def shutdown_jax_workers(*, kill: bool = False) -> None:
    """Stop the JAX backend's worker processes, if any run (they also stop at exit).

    Each finishes its task first, unless ``kill``: after an error or an interrupt, a task's
    result is not wanted.
    """
    workers, _WORKERS[:] = list(_WORKERS), []
    for worker in workers:
        if kill:
            worker.process.kill()
        elif worker.process.stdin is not None:
            with contextlib.suppress(OSError):
                worker.process.stdin.close()  # end of input: the worker's loop ends
    for worker in workers:
        try:
            worker.process.wait(timeout=None if kill else 60)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.stderr.close()


atexit.register(shutdown_jax_workers)  # nothing to do unless workers run


def _run_on_worker(
    worker: _Worker, P: np.ndarray, steps: int, learning_rate: float, rule: str, chunk: int, report: Progress
) -> tuple[np.ndarray, int]:
    """Send one task to ``worker`` and read its progress and result (see the worker's protocol)."""
    assert worker.process.stdin is not None and worker.process.stdout is not None
    task = {"seeds": P.shape[1], "steps": steps, "learning_rate": learning_rate, "rule": rule, "chunk": chunk}
    try:
        worker.process.stdin.write(json.dumps(task).encode() + b"\n")
        worker.process.stdin.write(np.ascontiguousarray(P, dtype=np.float64).tobytes())
        worker.process.stdin.flush()
        while line := worker.process.stdout.readline():
            word, number = line.split()
            if word == b"progress":
                report(int(number))
                continue
            size = 8 * P.size
            data = worker.process.stdout.read(size)
            if len(data) == size:
                return np.frombuffer(data, dtype=np.float64).reshape(P.shape).copy(), int(number)
            break
    except (OSError, ValueError):
        pass
    try:
        worker.process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # alive, but not speaking the protocol
        worker.process.kill()
        worker.process.wait()
    worker.stderr.seek(0)
    tail = worker.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
    raise RuntimeError(
        f"a JAX sweep worker stopped (exit code {worker.process.returncode})"
        + (f": {tail[0]}" if tail else "")
    )


def _train_jax(
    P: np.ndarray,
    steps: int,
    learning_rate: float,
    rule: str,
    chunk: int,
    on_progress: Progress,
    workers: int | None = None,
) -> np.ndarray:
    """Train on every core: one worker process per core, the seeds dealt out to them in
    chunks, or in this process when the job is small (or ``workers`` is 1)."""
    S = P.shape[1]
    if workers is None:
        workers = len(_cores()) if S * steps >= JAX_WORKERS_FROM else 1
    workers = max(1, min(workers, -(-S // 8)))
    if workers == 1:
        return _train_jax_here(P, steps, learning_rate, rule, chunk, on_progress)
    lock = threading.Lock()
    report = _serialised(on_progress)

    # Tasks of about one chunk each, handed to whichever worker is free: a core that runs
    # slower (another process on it) then takes fewer, and all finish at about the same time.
    parts = list(_chunks(S, min(chunk, -(-S // workers))))
    pending = list(reversed(parts))
    out = np.empty_like(P)
    pool = _workers(min(workers, len(parts)))
    peaks = [0] * len(pool)

    def serve(k: int, worker: _Worker) -> None:
        while True:
            with lock:
                if not pending:
                    return
                part = pending.pop()
            trained, peaks[k] = _run_on_worker(worker, P[:, part], steps, learning_rate, rule, chunk, report)
            out[:, part] = trained

    threads = ThreadPoolExecutor(max_workers=len(pool))
    try:
        for future in [threads.submit(serve, k, worker) for k, worker in enumerate(pool)]:
            future.result()  # re-raises a worker's error
    except BaseException:  # an error, or Ctrl-C: stop now, not after the tasks left
        with lock:
            pending.clear()
        shutdown_jax_workers(kill=True)  # the threads waiting on them see the end at once
        raise
    finally:
        threads.shutdown()
    WORKER_PEAK_RSS[:] = peaks
    return out


def jax_workers() -> int:
    """How many cores a large JAX sweep trains on (a worker process each).

    Raises ImportError when JAX is not installed, so a command can say so before it starts.
    It only looks for JAX: a large sweep runs JAX in its workers, not in this process.
    """
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        raise ImportError("No module named 'jax'")
    return len(_cores())


# --- training and classifying a batch ------------------------------------------------------


def _check_options(steps: int, learning_rate: float, rule: str, backend: str) -> None:
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}: expected one of {', '.join(RULES)}.")
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}.")
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: got {steps!r}, expected a non-negative integer.")
    if not math.isfinite(learning_rate):
        raise ValueError(f"learning_rate: got {learning_rate!r}, expected a finite number.")


def train_batch(
    params: BatchParams,
    *,
    steps: int,
    learning_rate: float = 0.01,
    rule: Rule = "notebook",
    backend: Backend = "numpy",
    chunk: int | None = None,
    workers: int | None = None,
    on_progress: Progress | None = None,
) -> BatchParams:
    """Train S parameter sets on the notebook's XOR data, each independently, full batch.

    ``params`` holds ``W1`` (S, 2, 2), ``b1`` (S, 2, 1), ``W2`` (S, 1, 2), ``b2`` (S, 1, 1);
    the result has the same layout. Under ``rule="notebook"`` set s ends where
    :func:`gradcheck_xor.notebook.train` ends from the same parameters (to rounding: the
    sums run in another order). ``on_progress(n)`` is called as seed-steps complete.

    ``workers`` (JAX backend): how many worker processes, one per core, share the seeds;
    by default every core for a large job (at least :data:`JAX_WORKERS_FROM` seed-steps),
    else 1, which trains in this process.
    """
    _check_options(steps, learning_rate, rule, backend)
    P = _pack(params)
    report = on_progress or (lambda n: None)
    if steps == 0 or P.shape[1] == 0:
        return _unpack(P)
    if backend == "jax":
        P = _train_jax(P, steps, learning_rate, rule, chunk or JAX_CHUNK, report, workers)
    else:
        P = _train_numpy(P, steps, learning_rate, rule, chunk or NUMPY_CHUNK, report)
    return _unpack(P)


def classify(params: BatchParams) -> tuple[np.ndarray, np.ndarray]:
    """How each of S runs ended: ``(outcome, loss)``.

    ``outcome`` (S,) holds indices into :data:`OUTCOMES` (0 solved, 1 stuck, 2 other);
    ``loss`` (S,) is the mean binary cross-entropy on XOR, computed from the logit so it is
    finite for any finite parameters.
    """
    _check_batch(params)
    with np.errstate(all="ignore"):  # non-finite parameters classify as "other"
        Z1 = np.einsum("shi,im->shm", params["W1"], _X) + params["b1"]
        Z2 = np.einsum("sh,shm->sm", params["W2"][:, 0, :], np.maximum(Z1, 0.0)) + params["b2"][:, 0, :]
        loss = np.mean(np.logaddexp(0.0, Z2) - _LABELS * Z2, axis=1)
        solved = np.all(np.abs(model.sigmoid(Z2) - _LABELS) < SOLVED_MARGIN, axis=1)
        stuck = np.abs(loss - LN2) < STUCK_TOLERANCE
    outcome = np.where(solved, 0, np.where(stuck, 1, 2)).astype(np.int8)
    return outcome, loss


def outcome_of(predictions: np.ndarray, labels: np.ndarray, loss: float) -> str:
    """The outcome of one run: ``"solved"``, ``"stuck"`` or ``"other"`` (see the module)."""
    if np.all(np.abs(np.ravel(predictions) - np.ravel(labels)) < SOLVED_MARGIN):
        return "solved"
    return "stuck" if abs(loss - LN2) < STUCK_TOLERANCE else "other"


# --- a sweep over seeds ----------------------------------------------------------------------


@dataclass
class SweepResult:
    """Per-seed results of :func:`run_sweep` and the setup that produced them.

    ``outcome[i]`` indexes :data:`OUTCOMES` for seed ``first_seed + i``; ``codes`` maps each
    diagnostic code to a bool array telling whether it fired on that seed's initialisation.
    """

    first_seed: int
    n_seeds: int
    steps: int
    rule: str
    learning_rate: float
    backend: str
    init_scale: float
    init_bias: float
    outcome: np.ndarray
    final_loss: np.ndarray
    codes: dict[str, np.ndarray]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ns_per_seed_step(self) -> float:
        """Training wall time per seed and step, in nanoseconds."""
        work = self.n_seeds * self.steps
        return 1e9 * self.seconds.get("train", 0.0) / work if work else float("nan")


def run_sweep(
    n_seeds: int,
    *,
    first_seed: int = 0,
    steps: int = 200_000,
    rule: Rule = "notebook",
    learning_rate: float = 0.01,
    backend: Backend = "numpy",
    init_scale: float = 1.0,
    init_bias: float = 0.0,
    block: int = BLOCK,
    chunk: int | None = None,
    workers: int | None = None,
    on_progress: Progress | None = None,
) -> SweepResult:
    """Initialise seeds ``first_seed .. first_seed + n_seeds - 1``, diagnose, train, classify.

    Seeds go through in blocks of ``block`` (drawn, diagnosed, trained and classified
    together), so memory holds one block's work arrays plus a few bytes per seed of results.
    ``on_progress(n)`` is called as seed-steps of training complete.
    """
    from gradcheck_xor.diagnostics import init_codes

    _check_options(steps, learning_rate, rule, backend)
    if not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds: got {n_seeds!r}, expected a positive integer.")
    if first_seed < 0 or first_seed + n_seeds > 2**32:
        raise ValueError(
            f"seeds {first_seed}..{first_seed + n_seeds - 1}: expected seeds in [0, 2**32) "
            "(NumPy's legacy seeding)."
        )
    outcome = np.empty(n_seeds, dtype=np.int8)
    final_loss = np.empty(n_seeds)
    codes: dict[str, np.ndarray] = {}
    seconds = {"init": 0.0, "diagnose": 0.0, "train": 0.0, "classify": 0.0}
    started = time.perf_counter()
    for part in _chunks(n_seeds, block):
        t0 = time.perf_counter()
        params = initial_params(
            range(first_seed + part.start, first_seed + part.stop), scale=init_scale, bias=init_bias
        )
        t1 = time.perf_counter()
        W1, b1, W2, b2 = (params[name] for name in ("W1", "b1", "W2", "b2"))
        fired = init_codes(W1, b1, W2, b2, _X, _LABELS, notebook_loss=rule == "notebook")
        for code, flags in fired.items():
            codes.setdefault(code, np.zeros(n_seeds, dtype=bool))[part] = flags
        t2 = time.perf_counter()
        trained = train_batch(
            params,
            steps=steps,
            learning_rate=learning_rate,
            rule=rule,
            backend=backend,
            chunk=chunk,
            workers=workers,
            on_progress=on_progress,
        )
        t3 = time.perf_counter()
        outcome[part], final_loss[part] = classify(trained)
        t4 = time.perf_counter()
        for name, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            seconds[name] += dt
    seconds["total"] = time.perf_counter() - started
    return SweepResult(
        first_seed=first_seed,
        n_seeds=n_seeds,
        steps=steps,
        rule=rule,
        learning_rate=learning_rate,
        backend=backend,
        init_scale=init_scale,
        init_bias=init_bias,
        outcome=outcome,
        final_loss=final_loss,
        codes=codes,
        seconds=seconds,
    )


# --- the report --------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion ``successes / n`` (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 and n
    successes. ``None`` when ``n == 0``: there is no proportion to bound.
    """
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes: got {successes}, expected 0 <= successes <= n = {n}.")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 and n successes the bounds are exactly 0 and 1; the formula gets them to rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _proportion(k: int, n: int) -> dict[str, Any]:
    interval = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "value": k / n if n else None,
        "ci95": list(interval) if interval else None,
    }


def summarize(result: SweepResult) -> dict[str, Any]:
    """The sweep as plain data (``json.dumps`` accepts it): counts, rates with 95% Wilson
    intervals, and for each diagnostic code its figures as a predictor of "not solved".

    For a code: ``precision`` = P(not solved | flagged), ``recall`` = P(flagged | not
    solved), and the failure rates of flagged and unflagged initialisations (the first is
    the precision, under its other name).
    """
    n = result.n_seeds
    counts = {name: int(np.count_nonzero(result.outcome == k)) for k, name in enumerate(OUTCOMES)}
    failed = result.outcome != 0
    n_failed = int(np.count_nonzero(failed))
    predictors: dict[str, Any] = {}
    for code, flagged in result.codes.items():
        n_flagged = int(np.count_nonzero(flagged))
        hits = int(np.count_nonzero(flagged & failed))
        unflagged_failed = n_failed - hits
        predictors[code] = {
            "flagged": n_flagged,
            "precision": _proportion(hits, n_flagged),
            "recall": _proportion(hits, n_failed),
            "failure_rate_flagged": _proportion(hits, n_flagged),
            "failure_rate_unflagged": _proportion(unflagged_failed, n - n_flagged),
        }
    loss = result.final_loss[np.isfinite(result.final_loss)]
    return {
        "first_seed": result.first_seed,
        "n_seeds": n,
        "steps": result.steps,
        "rule": result.rule,
        "learning_rate": result.learning_rate,
        "backend": result.backend,
        "init": {"scale": result.init_scale, "bias": result.init_bias},
        "counts": counts,
        "rates": {name: _proportion(k, n) for name, k in counts.items()},
        "final_loss": {
            "min": float(loss.min()) if loss.size else None,
            "median": float(np.median(loss)) if loss.size else None,
            "max": float(loss.max()) if loss.size else None,
        },
        "predictors": predictors,
        "ns_per_seed_step": result.ns_per_seed_step,
        "seconds": dict(result.seconds),
    }


def _pct(p: dict[str, Any]) -> str:
    if p["value"] is None:
        return "       -       "
    lo, hi = p["ci95"]
    return f"{100 * p['value']:5.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}]"


def format_report(summary: dict[str, Any]) -> str:
    """The summary as text: outcome rates, then a table of the diagnostic codes as predictors."""
    s = summary
    last = s["first_seed"] + s["n_seeds"] - 1
    init = s["init"]
    init_text = "notebook initialiser" + (
        f" (weights x {init['scale']:g}, biases {init['bias']:g})"
        if (init["scale"], init["bias"]) != (1.0, 0.0)
        else " (randn weights, zero biases)"
    )
    lines = [
        f"gradcheck-xor sweep: seeds {s['first_seed']}..{last} ({s['n_seeds']:,}), {init_text}",
        f"  rule {s['rule']}, learning rate {s['learning_rate']:g}, {s['steps']:,} steps, "
        f"backend {s['backend']}: {s['ns_per_seed_step']:.1f} ns per seed-step",
        "",
        "outcome   seeds    rate [95% Wilson interval]",
    ]
    for name in OUTCOMES:
        lines.append(f"{name:<8}{s['counts'][name]:>8,}   {_pct(s['rates'][name])}")
    fl = s["final_loss"]
    if fl["median"] is not None:
        lines.append(f"final loss: min {fl['min']:.4g}, median {fl['median']:.4g}, max {fl['max']:.4g}")
    lines += [
        "",
        'Diagnostic codes at initialisation as predictors of "not solved" (stuck or other):',
        f"{'code':<21}{'flagged':>8}   {'precision':<21}{'recall':<21}{'fails if unflagged':<21}",
    ]
    for code, p in s["predictors"].items():
        lines.append(
            f"{code:<21}{p['flagged']:>8,}   {_pct(p['precision']):<21}{_pct(p['recall']):<21}"
            f"{_pct(p['failure_rate_unflagged']):<21}"
        )
    lines.append("precision = P(not solved | flagged); recall = P(flagged | not solved).")
    return "\n".join(line.rstrip() for line in lines)


# --- one run you can watch ---------------------------------------------------------------------


def train_one(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "notebook",
    activation: model.Activation = "relu",
    steps: int = 200_000,
    learning_rate: float = 0.01,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Train one parameter set on ``X``, ``Y``; return ``(params, loss_history)``.

    ``rule="bce"`` is :func:`gradcheck_xor.model.train`. ``rule="notebook"`` is the
    notebook's backward pass (``dZ2 = (A2 - Y) * A2 * (1 - A2)``, divided by m) with the
    chosen hidden activation; with ReLU it follows :func:`gradcheck_xor.notebook.train`.
    ``loss_history[i]`` is the binary cross-entropy before step i, computed from the logit.
    """
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}: expected one of {', '.join(RULES)}.")
    if rule == "bce":
        return model.train(
            params,
            X,
            Y,
            steps=steps,
            learning_rate=learning_rate,
            activation=activation,
            on_step=on_step,
            diagnostics=False,
        )
    if activation not in model.ACTIVATIONS:
        expected = ", ".join(model.ACTIVATIONS)
        raise ValueError(f"Unknown activation {activation!r}: expected one of {expected}.")
    act_grad = model.ACTIVATIONS[activation][1]
    X = model.as_inputs(X)
    m = X.shape[1]
    Y = model.as_labels(Y, m)
    params = {name: np.array(params[name], dtype=np.float64) for name in model.PARAM_SHAPES}
    losses = np.empty(steps)
    with np.errstate(over="ignore"):
        for i in range(steps):
            cache = model.forward(params, X, activation)
            A2 = 1 / (1 + np.exp(-cache["Z2"]))  # the notebook's sigmoid, as its backward sees it
            losses[i] = np.mean(np.logaddexp(0.0, cache["Z2"]) - Y * cache["Z2"])
            dZ2 = (A2 - Y) * A2 * (1 - A2)
            dZ1 = (params["W2"].T @ dZ2) * act_grad(cache["Z1"])
            params["W1"] -= learning_rate * (dZ1 @ X.T / m)
            params["b1"] -= learning_rate * (dZ1.sum(axis=1, keepdims=True) / m)
            params["W2"] -= learning_rate * (dZ2 @ cache["A1"].T / m)
            params["b2"] -= learning_rate * (dZ2.sum(axis=1, keepdims=True) / m)
            if on_step is not None:
                on_step(i, float(losses[i]))
    return params, losses
