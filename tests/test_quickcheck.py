"""The one-point check: the full check's numbers and judgement at one point, quickly."""

from __future__ import annotations

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import GradcheckReport, check_backward, model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor.quickcheck import PointCheck, check_point

X, Y = model.xor_data()
LAYOUTS = ("(m,)", "(1, m)")
ALL_BACKWARDS = {**{k: v[0] for k, v in bb.BROKEN.items()}, **{k: v[0] for k, v in bb.CORRECT.items()}}


def _logit_scale(params, X) -> float:
    """1 + max |Z2| at the point: the size of the largest loss term."""
    A1 = np.maximum(params["W1"] @ X + params["b1"], 0.0)
    return 1.0 + float(np.abs(params["W2"] @ A1 + params["b2"]).max())


def _full(backward, params, labels="(1, m)", X_=X, Y_=Y, **tolerances) -> GradcheckReport:
    """The full check at this one point and label layout."""
    return check_backward(backward, params, X_, Y_, layouts=(labels,), **tolerances)


@given(
    st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters),
    st.sampled_from(sorted(ALL_BACKWARDS)),
    st.sampled_from(LAYOUTS),
    st.sampled_from([{}, {"rtol": 1e-7}, {"atol": 1e-12}]),
)
def test_it_judges_every_element_as_the_full_check_does(params, name, labels, tolerances):
    backward = ALL_BACKWARDS[name]
    quick = check_point(backward, params, labels=labels, **tolerances)
    full = _full(backward, params, labels, **tolerances)
    assert np.array_equal(quick.passed, full.passed[0, 0])
    # The same differences of a forward pass laid out differently: equal to the round-off of
    # h = 1e-6, which grows with the loss terms (eps |L| / h).
    atol = 1e-9 * _logit_scale(params, X)
    assert np.allclose(quick.numeric, full.numeric[0, 0], rtol=1e-7, atol=atol, equal_nan=True)
    # The backward got the same A1 and A2, but for the last bit of a product summed in another order.
    assert np.allclose(quick.analytic, full.analytic[0, 0], rtol=1e-12, atol=1e-12, equal_nan=True)
    assert quick.ok == (bool(full.passed.all()) and bool(full.computed[0, 0]))
    # The same exact gradient, summed in another order: each within its floor of the true
    # value, where sums that cancel leave far less than float64's 16 digits.
    apart = np.nan_to_num(np.abs(quick.expected - full.expected[0, 0]))  # NaN: not judged by either
    if "atol" not in tolerances:  # then the full check's atol is each element's floor
        floor = full.atol[0, 0]
        assert np.allclose(quick.expected, full.expected[0, 0], rtol=0, atol=2 * floor, equal_nan=True)
    # The same tolerances: the same floors (or atol), plus rtol times that exact gradient.
    full_tolerance = full.atol[0, 0] + full.rtol[0, 0] * np.abs(full.expected[0, 0])
    assert np.allclose(
        quick.tolerance, full_tolerance, rtol=1e-9, atol=full.rtol[0, 0] * apart, equal_nan=True
    )


@given(st.integers(0, 10_000))
def test_off_the_kinks_its_differences_are_the_textbook_loops(seed):
    params = model.init_params(seed, bias=0.5)
    Z1 = params["W1"] @ X + params["b1"]
    assume(np.abs(Z1).min() >= 1e-3)  # off the kinks, where the loop's differences hold
    expected = np.empty(9)
    flat = nw.flatten(nw.XOR, params)
    for i in range(9):
        up, down = flat.copy(), flat.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        L_up, L_down = (
            model.loss(nw.unflatten(nw.XOR, up), X, Y),
            model.loss(nw.unflatten(nw.XOR, down), X, Y),
        )
        expected[i] = (L_up - L_down) / 2e-6
    assert np.allclose(check_point(bb.correct, params).numeric, expected, rtol=1e-7, atol=1e-9)


def test_a_right_backward_passes_at_the_notebooks_kinked_initial_point():
    params = model.init_params(0)  # b1 = 0: sample (0, 0) sits on both kinks
    check = check_point(bb.correct_model_gradients, params)
    assert check.ok and check.passed.all() and check.problem is None
    assert str(check) == "ok: all 9 elements agree with the exact gradient and its differences"


def test_the_notebooks_backward_fails_and_the_failing_elements_are_named():
    params = model.init_params(0, bias=0.1)
    check = check_point(bb.notebook_backward, params)
    assert not check.ok
    assert check.failing and set(check.failing) <= set(nw.element_names(nw.XOR))
    text = str(check)
    assert text.startswith(f"not ok: {len(check.failing)} of 9 elements disagree")
    assert all(name in text for name in check.failing)


def test_a_backward_that_raises_or_returns_the_wrong_shape_is_a_problem_not_an_exception():
    params = model.init_params(0, bias=0.1)
    raised = check_point(bb.raises_zero_division, params)
    assert not raised.ok and raised.problem["type"] == "ZeroDivisionError"
    assert str(raised).startswith("not ok: the backward raised ZeroDivisionError")
    missing = check_point(bb.missing_key, params)
    assert not missing.ok and missing.problem["got"] == "missing"
    assert np.isnan(missing.analytic).all() and not missing.passed.any()


def test_a_float32_backward_gets_float32_tolerances():
    params = model.init_params(3, bias=0.1)
    assert check_point(bb.correct_in_float32, params).ok
    assert not check_point(bb.float32_far_off, params).ok


def test_the_parameters_and_data_given_stay_unchanged_and_the_result_is_plain_data():
    params = model.init_params(5, bias=0.1)
    before = {k: v.copy() for k, v in params.items()}
    data = (X.copy(), Y.copy())
    check = check_point(bb.correct_but_mutates_its_inputs, params, *data)
    assert check.ok
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert np.array_equal(data[0], X) and np.array_equal(data[1], Y)
    assert check_point(bb.correct_but_mutates_its_inputs, params, *data).ok  # nothing cached went stale
    assert isinstance(check, PointCheck) and check.analytic.shape == check.numeric.shape == (9,)


def test_other_data_and_a_changed_data_set_are_used_as_given():
    rng = np.random.default_rng(0)
    X2 = rng.normal(size=(2, 6))
    Y2 = (rng.random((1, 6)) > 0.5).astype(float)
    params = model.init_params(1, bias=0.1)
    check = check_point(bb.correct, params, X2, Y2)
    full = _full(bb.correct, params, X_=X2, Y_=Y2)
    assert check.ok and np.allclose(check.numeric, full.numeric[0, 0], rtol=1e-9)
    X2[0, 0] += 1.0  # the same arrays, changed: the check must see the new values
    again = _full(bb.correct, params, X_=X2, Y_=Y2)
    assert np.allclose(check_point(bb.correct, params, X2, Y2).numeric, again.numeric[0, 0], rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": "(m, 1)"}, "Unknown label layout '(m, 1)': expected ('(m,)', '(1, m)')."),
        ({"params": {"W1": np.zeros((2, 2)), "B1": np.zeros(2)}}, "unknown key 'B1'"),
        (
            {"params": {**model.init_params(0), "W2": np.zeros((1, 3))}},
            "W2 has shape (1, 3); expected (1, 2)",
        ),
    ],
)
def test_bad_arguments_are_refused_with_a_message_naming_them(kwargs, message):
    call = {"params": model.init_params(0), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_point(bb.correct, call.pop("params"), **call)


def test_a_warning_turned_into_an_error_is_not_the_backwards_failure():
    # The suite turns RuntimeWarning into errors (pyproject's filterwarnings): the backward
    # raises on the quick path, and the full check calls it again with warnings silenced.
    params = model.init_params(2, bias=0.1)
    check = check_point(bb.correct_with_warnings, params)
    assert check.ok and check.problem is None
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # shown, where it is only a warning
        assert check_point(bb.correct_with_warnings, params).ok


@pytest.mark.parametrize("value", [1e120, -1e120, np.inf, np.nan])
def test_parameters_too_large_for_the_quick_path_get_the_full_checks_judgement(value):
    params = model.init_params(4, bias=0.1)
    params["W2"] = np.array([[value, 0.5]])
    for backward in (bb.correct, bb.notebook_backward):
        quick = check_point(backward, params)  # no warning, no exception
        full = _full(backward, params)
        assert np.array_equal(quick.passed, full.passed[0, 0])
        assert np.array_equal(quick.numeric, full.numeric[0, 0], equal_nan=True)


@given(st.integers(0, 10_000), st.sampled_from(LAYOUTS))
def test_labels_other_than_0_and_1_give_the_full_checks_numbers(seed, labels):
    rng = np.random.default_rng(seed)
    soft = rng.uniform(0.0, 1.0, size=(1, 4))
    params = model.init_params(seed, bias=0.3)
    full = _full(bb.correct, params, labels, Y_=soft)
    quick = check_point(bb.correct, params, X, soft, labels=labels)
    assert np.array_equal(quick.passed, full.passed[0, 0])
    assert np.allclose(quick.numeric, full.numeric[0, 0], rtol=1e-7, atol=1e-9 * _logit_scale(params, X))
    assert quick.ok == bool(full.passed.all())
