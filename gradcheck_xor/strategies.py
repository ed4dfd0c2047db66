"""Hypothesis strategies for the XOR network's parameters and data.

Use them to write your own property tests::

    from hypothesis import given
    from gradcheck_xor import strategies

    @given(strategies.parameters(regime="dead-unit"))
    def test_my_backward(params): ...

Regimes, each a place where hand-written backward passes go wrong:

* ``generic``: every parameter uniform in [-2, 2];
* ``near-kink``: one hidden pre-activation Z1 within 1e-3 of 0 on one sample (but never
  exactly 0 and never within 1e-4, so central differences with a small step stay valid);
* ``dead-unit``: one hidden unit with Z1 < 0 on every sample (its ReLU mask is all zero);
* ``saturated``: output logits |Z2| around 30, where the sigmoid is within 1e-13 of 0 or 1.

This module imports hypothesis, which is a test dependency; the core never imports it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from hypothesis import strategies as st

from gradcheck_xor.model import xor_data

__all__ = ["REGIMES", "Regime", "datasets", "parameters"]

Regime = Literal["generic", "near-kink", "dead-unit", "saturated"]
REGIMES: tuple[Regime, ...] = ("generic", "near-kink", "dead-unit", "saturated")

_X, _ = xor_data()


def _unpack(values: list[float]) -> dict[str, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    return {
        "W1": v[0:4].reshape(2, 2),
        "b1": v[4:6].reshape(2, 1),
        "W2": v[6:8].reshape(1, 2),
        "b2": v[8:9].reshape(1, 1),
    }


@st.composite
def parameters(
    draw: st.DrawFn, regime: Regime = "generic", X: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Parameter dicts ``{"W1", "b1", "W2", "b2"}`` in the notebook's shapes, float64.

    ``X`` (2, m) is the data the regime is built against (default: the XOR inputs).
    """
    if regime not in REGIMES:
        raise ValueError(f"Unknown regime {regime!r}: expected one of {', '.join(REGIMES)}.")
    X = _X if X is None else np.asarray(X, dtype=np.float64)
    values = draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=9, max_size=9))
    params = _unpack(values)
    unit = draw(st.integers(0, 1))
    if regime == "near-kink":
        sample = draw(st.integers(0, X.shape[1] - 1))
        offset = draw(st.floats(1e-4, 1e-3)) * draw(st.sampled_from([-1.0, 1.0]))
        # Choose b1 so that Z1[unit, sample] lands exactly on the drawn offset from the kink.
        params["b1"][unit, 0] = offset - float(params["W1"][unit] @ X[:, sample])
    elif regime == "dead-unit":
        margin = draw(st.floats(0.05, 1.0))
        params["b1"][unit, 0] = -margin - float(np.max(params["W1"][unit] @ X))
    elif regime == "saturated":
        # Rescale the output layer so the largest |Z2| is the drawn target, keeping signs.
        target = draw(st.floats(25.0, 35.0))
        Z1 = params["W1"] @ X + params["b1"]
        Z2 = params["W2"] @ np.maximum(Z1, 0.0) + params["b2"]
        peak = float(np.max(np.abs(Z2)))
        if peak < 1e-3:
            params["b2"] = np.array([[target * draw(st.sampled_from([-1.0, 1.0]))]])
        else:
            params["W2"] = params["W2"] * (target / peak)
            params["b2"] = params["b2"] * (target / peak)
    return params


@st.composite
def datasets(draw: st.DrawFn, min_samples: int = 1, max_samples: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y)`` with ``X`` (2, m) in [-1, 2] and 0/1 labels ``Y`` of shape (m,)."""
    m = draw(st.integers(min_samples, max_samples))
    coords = draw(st.lists(st.floats(-1.0, 2.0, allow_nan=False), min_size=2 * m, max_size=2 * m))
    labels = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=m, max_size=m))
    return np.asarray(coords).reshape(2, m), np.asarray(labels)
