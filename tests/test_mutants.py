"""The oracle's mutation test: every broken backward gets its verdict, every correct one passes.

The backward passes live in tests/broken_backwards.py, one mistake each; keep the list growing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import check_backward, model, strategies


@pytest.mark.parametrize(("backward", "verdict", "details_hold"), bb.BROKEN.values(), ids=list(bb.BROKEN))
def test_each_broken_backward_fails_with_its_own_verdict(
    backward: Callable[..., Any], verdict: str, details_hold: Callable[[dict[str, Any]], bool]
) -> None:
    report = check_backward(backward)
    assert not report.ok
    assert report.verdict == verdict, report
    assert details_hold(report.details), report.details
    assert str(report).startswith(f"{verdict}: ")


@pytest.mark.parametrize(("backward", "convention"), bb.CORRECT.values(), ids=list(bb.CORRECT))
def test_each_correct_backward_passes_and_its_kink_convention_is_named(
    backward: Callable[..., Any], convention: str
) -> None:
    report = check_backward(backward)
    assert report.ok, report
    assert report.verdict == "ok"
    assert report.passed.all()
    # The notebook's initial point puts sample (0, 0) on the kink of both hidden units.
    assert report.convention is not None and report.convention.startswith(convention + " ")


@given(st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters), st.sampled_from(list(bb.CORRECT)))
def test_correct_backwards_pass_at_any_parameters_in_any_regime(
    params: dict[str, np.ndarray], name: str
) -> None:
    report = check_backward(bb.CORRECT[name][0], params=params)
    assert report.ok, report


@given(strategies.parameters("generic"))
def test_a_missing_division_by_m_is_a_factor_m_wherever_the_gradient_is_not_tiny(
    params: dict[str, np.ndarray],
) -> None:
    report = check_backward(bb.no_division_by_m, params=params)
    # Where the whole gradient is below the tolerance (W2 = 0 and balanced labels, say) no
    # factor can show; everywhere else it is m.
    if np.abs(report.numeric).max() > 1e-4:
        assert not report.ok
        assert report.verdict == "scaled", report
        assert report.details["factor"] == 4.0


@given(strategies.parameters("dead-unit"))
def test_a_missing_relu_mask_is_caught_wherever_it_changes_the_gradient(
    params: dict[str, np.ndarray],
) -> None:
    X, Y = model.xor_data()
    assume(np.abs(params["W1"] @ X + params["b1"]).min() > 1e-4)  # off the kinks
    A = model.forward(params, X)
    # The same arithmetic with the mask and without: they differ only where the mask matters.
    truth = bb.correct(params, A["A1"], A["A2"], X, Y)
    wrong = bb.relu_mask_missing(params, A["A1"], A["A2"], X, Y)
    gap = {k: np.abs(wrong[k] - truth[k]).ravel() for k in truth}
    report = check_backward(bb.relu_mask_missing, params=params)
    tolerance = report.atol[0, 0] + report.rtol[0, 0] * np.abs(report.expected[0, 0])
    beyond = np.concatenate([gap[k] for k in ("dW1", "db1", "dW2", "db2")]) > 2 * tolerance
    # Balanced labels can hide it (the dead unit's terms cancel); where they do not, it shows,
    # however small: the exact gradient of a dead unit is exactly 0.
    if max(g.max() for g in gap.values()) == 0.0:
        assert report.ok, report
    if beyond.any():
        assert report.verdict == "mismatch", report
        assert set(report.details["wrong"]) <= {"dW1", "db1"}
    gap = {k: float(g.max()) for k, g in gap.items()}
    if max(gap.values()) > 1e-5:
        assert report.verdict == "mismatch", report
        assert {k for k, g in gap.items() if g > 1e-5} <= set(report.details["wrong"]) <= {"dW1", "db1"}
