"""How the sweep engines hold a batch: the parameters of S seeds as one (9, S) array.

Structure-of-arrays: one row per scalar parameter, seeds along the contiguous last axis, so
every operation of a training step is one long loop over the seeds. :func:`pack` and
:func:`unpack` convert from and to the notebook's parameter dict, batched along a leading
axis; both engines (:mod:`gradcheck_xor._sweep_numpy`, :mod:`gradcheck_xor._sweep_jax`)
train this layout and nothing else.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import numpy as np

from gradcheck_xor import model

BatchParams = dict[str, np.ndarray]
Progress = Callable[[int], None]

# The notebook's XOR data, as the engines use it: samples (0,0), (0,1), (1,0), (1,1).
X, Y = model.xor_data()
LABELS = Y[0]

# Rows of the (9, S) layout. W1's columns come first so that the weights each input feeds are
# one contiguous slice: W1[:, 0] is rows 0-1, W1[:, 1] rows 2-3.
W1_COL0, W1_COL1, B1, W2, B2 = slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8), 8


def check_batch(params: BatchParams) -> int:
    """The number of seeds S in ``params``, or ``ValueError`` naming the misshapen array."""
    S = np.shape(params["W1"])[0] if np.ndim(params["W1"]) == 3 else -1
    for name, shape in model.PARAM_SHAPES.items():
        got = np.shape(params[name])
        if got != (S, *shape):
            raise ValueError(f"Shape mismatch for {name}: got {got}, expected (S, {shape[0]}, {shape[1]}).")
    return S


def pack(params: BatchParams) -> np.ndarray:
    """Batched notebook-shaped parameters -> a C-contiguous float64 (9, S) array."""
    S = check_batch(params)
    P = np.empty((9, S))
    W1 = np.asarray(params["W1"], dtype=np.float64)
    P[W1_COL0] = W1[:, :, 0].T
    P[W1_COL1] = W1[:, :, 1].T
    P[B1] = np.asarray(params["b1"], dtype=np.float64)[:, :, 0].T
    P[W2] = np.asarray(params["W2"], dtype=np.float64)[:, 0, :].T
    P[B2] = np.asarray(params["b2"], dtype=np.float64)[:, 0, 0]
    return P


def unpack(P: np.ndarray) -> BatchParams:
    """A (9, S) array -> ``{"W1": (S, 2, 2), "b1": (S, 2, 1), "W2": (S, 1, 2), "b2": (S, 1, 1)}``."""
    W1 = np.stack([P[W1_COL0].T, P[W1_COL1].T], axis=2)
    return {
        "W1": np.ascontiguousarray(W1),
        "b1": np.ascontiguousarray(P[B1].T[:, :, None]),
        "W2": np.ascontiguousarray(P[W2].T[:, None, :]),
        "b2": np.ascontiguousarray(P[B2][:, None, None]),
    }


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of equal length (within one), at most ``size``."""
    pieces = max(1, -(-n // size))
    bounds = [n * k // pieces for k in range(pieces + 1)]
    for start, stop in itertools.pairwise(bounds):
        yield slice(start, stop)


def cores() -> int:
    """How many cores this process may run on (under ``taskset``, fewer than the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
