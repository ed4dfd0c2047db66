"""The sweep's JAX engine: every core a device, the seeds sharded over them, in one process.

JAX is told to present the CPU's cores as that many devices (``jax_num_cpu_devices``, read
when JAX's backend starts; a backend already started keeps the devices it has, and the
engine uses those). The seeds are dealt out to the devices with ``jax.shard_map``; on each
device ``lax.map`` runs chunks of about 1,024 seeds one after another, each through its
whole block of steps, so that a chunk's arrays stay in the core's cache. The same code
shards over GPUs where JAX has them. Why a device per core: on a single device XLA spreads
each of the step's short loops over its thread pool, and the hand-offs cost more than the
second core gives (about 22 ns per seed-step on two cores, against 6.3 ns with two devices).

Each call into XLA trains one block of steps, sized to take about :data:`BLOCK_SECONDS`:
control comes back to Python that often, to report progress and to let Ctrl-C (or a
SIGTERM raised as ``KeyboardInterrupt``) end the run. Nothing runs in the background
between calls, so an interrupted run leaves nothing behind. Only the first call, which
compiles the trainer (about a second), holds an interrupt back until it is done.

The step itself (:func:`train_step`) is written out in scalar form for XLA's fusion, with its
own ``exp`` (:func:`exp`); both are float64, under ``jax.enable_x64``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as Spec

from gradcheck_xor._sweep_layout import LABELS, Progress, cores

try:
    from jax import shard_map
except ImportError:  # JAX before 0.6
    from jax.experimental.shard_map import shard_map

# Seeds per chunk: the step's ~25 arrays of this length fit in a core's L2 cache.
CHUNK = 1024
# Wall time of one call into XLA: how often progress is reported and an interrupt noticed.
BLOCK_SECONDS = 0.15
# The first block is sized from this guess of the time per seed-step on one device; later
# blocks from what the previous block took.
_FIRST_GUESS_SECONDS = 20e-9
# Steps per iteration of the step loop: unrolling saves the loop's own work (its copies of
# the carried arrays, its counter) between steps; past 4 it measured no faster.
_STEPS_PER_ITERATION = 4


# --- the arithmetic of one step ------------------------------------------------------------


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
_LOG2_E = 1.0 / math.log(2.0)
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13))  # exp(r), degree 12
_TWO_52_51 = 2.0**52 + 2.0**51  # added to an integer-valued n < 2**51, puts n in the low bits


def exp(x: Any) -> Any:
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


def train_step(p: tuple[Any, ...], learning_rate: float, rule: str) -> tuple[Any, ...]:
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
    w00, w10, w01, w11, c0, c1, v0, v1, d = p  # W1 by columns, b1, W2, b2
    # Forward, sample by sample: Z1 = W1 @ x + b1, A1 = relu(Z1), A2 = sigmoid(W2 @ A1 + b2).
    fz0 = (c0, c0 + w01, c0 + w00, c0 + (w01 + w00))
    fz1 = (c1, c1 + w11, c1 + w10, c1 + (w11 + w10))
    A2 = [
        1.0 / (1.0 + exp(-((jnp.where(z0 > 0, z0, 0.0) * v0 + jnp.where(z1 > 0, z1, 0.0) * v1) + d)))
        for z0, z1 in zip(fz0, fz1, strict=True)
    ]
    labels = LABELS.tolist()
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


# --- the devices, and training in blocks of steps ------------------------------------------


def available_devices() -> list[Any]:
    """The devices a sweep can shard its seeds over: on a CPU, one per core this process may use.

    ``jax_num_cpu_devices`` takes effect only before JAX's backend starts; once it has (an
    earlier JAX computation in this process), JAX refuses the change and the sweep uses the
    devices there are. A device count chosen by the user (that option, or XLA_FLAGS'
    ``--xla_force_host_platform_device_count``) is left as it is.
    """
    chosen = getattr(jax.config, "jax_num_cpu_devices", -1) != -1
    forced = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    if not (chosen or forced):
        # RuntimeError: the backend has started; AttributeError: JAX predates the option.
        with contextlib.suppress(RuntimeError, AttributeError):
            jax.config.update("jax_num_cpu_devices", cores())
    return jax.devices()


@lru_cache(maxsize=16)
def _trainer(learning_rate: float, rule: str, mesh: Mesh) -> Callable[..., Any]:
    """A jitted ``(P, n4, n1) -> P`` running ``4 * n4 + n1`` steps on P (chunk, 9, seed in
    chunk), the chunks sharded over the devices of ``mesh``. Each device runs its chunks one
    after another (``lax.map``), each through all the steps before the next starts."""

    def four_steps(_: Any, p: tuple[Any, ...]) -> tuple[Any, ...]:
        for _ in range(_STEPS_PER_ITERATION):
            p = train_step(p, learning_rate, rule)
        return p

    def one_step(_: Any, p: tuple[Any, ...]) -> tuple[Any, ...]:
        return train_step(p, learning_rate, rule)

    def train_chunk(P: Any, n4: Any, n1: Any) -> Any:
        p = tuple(P[k] for k in range(9))
        p = lax.fori_loop(0, n4, four_steps, p)
        return jnp.stack(lax.fori_loop(0, n1, one_step, p))

    def train_local(P: Any, n4: Any, n1: Any) -> Any:
        return lax.map(lambda chunk: train_chunk(chunk, n4, n1), P)

    specs = (Spec("seeds"), Spec(), Spec())
    return jax.jit(shard_map(train_local, mesh=mesh, in_specs=specs, out_specs=Spec("seeds")))


def _layout(S: int, chunk: int, n_devices: int) -> tuple[int, int]:
    """``(chunks, size)``: S seeds as equal chunks of ``size`` seeds (a multiple of 8, whole
    vectors), about ``chunk`` each, their number a multiple of ``n_devices``."""
    n_chunks = -(-max(-(-S // chunk), n_devices) // n_devices) * n_devices
    return n_chunks, 8 * -(-S // (8 * n_chunks))


def train(
    P: np.ndarray,
    steps: int,
    learning_rate: float,
    rule: str,
    chunk: int,
    on_progress: Progress,
    devices: int | None = None,
) -> np.ndarray:
    """Train the (9, S) parameters ``P`` for ``steps`` steps; return the trained copy.

    ``devices`` caps how many devices share the seeds (default: all, as long as each has 8
    seeds or more). Padding seeds (zero parameters, whose gradients are finite) fill the
    last chunks. ``on_progress(n)`` hears of ``n`` more seed-steps done after each block.
    """
    S = P.shape[1]
    with jax.enable_x64(True):
        usable = available_devices()[: devices or None]
        mesh = Mesh(np.array(usable[: max(1, min(len(usable), S // 8))]), ("seeds",))
        n_chunks, size = _layout(S, chunk, mesh.size)
        padded = np.zeros((9, n_chunks * size))
        padded[:, :S] = P
        # (9, seeds) -> (chunk, 9, seed in chunk)
        chunked = np.ascontiguousarray(padded.reshape(9, n_chunks, size).transpose(1, 0, 2))
        state = jax.device_put(chunked, NamedSharding(mesh, Spec("seeds")))
        trainer = _trainer(float(learning_rate), rule, mesh)
        seeds_per_device = n_chunks * size // mesh.size
        block = _steps_taking(BLOCK_SECONDS / 3, _FIRST_GUESS_SECONDS * seeds_per_device)
        done = 0
        while done < steps:
            n = min(block, steps - done)
            started = time.perf_counter()
            n4, n1 = divmod(n, _STEPS_PER_ITERATION)  # n1 > 0 only in the last block
            state = jax.block_until_ready(trainer(state, np.int64(n4), np.int64(n1)))
            seconds = time.perf_counter() - started
            if done > 0:  # the first block's time includes compiling the trainer
                block = _steps_taking(BLOCK_SECONDS, seconds / n, grow=block)
            done += n
            on_progress(n * S)
        result = np.asarray(state)
    return np.ascontiguousarray(result.transpose(1, 0, 2).reshape(9, -1)[:, :S])


def _steps_taking(seconds: float, per_step: float, grow: int | None = None) -> int:
    """How many steps (a multiple of 4) take about ``seconds`` at ``per_step`` seconds each;
    at most 8 times ``grow``, so one fast, noisy measurement cannot make a block overlong."""
    steps = int(seconds / max(per_step, 1e-12))
    if grow is not None:
        steps = min(steps, 8 * grow)
    return max(1, steps // _STEPS_PER_ITERATION) * _STEPS_PER_ITERATION
