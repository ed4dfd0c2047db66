"""The gradient oracle: its numbers, its kinks, its tolerances, its report, its arguments."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import GradcheckReport, check_backward, model, strategies
from gradcheck_xor import gradcheck as gc
from gradcheck_xor import notebook as nb

X, Y = model.xor_data()


def loop_central_differences(params: dict[str, np.ndarray], h: float = 1e-6) -> np.ndarray:
    """The textbook loop, one perturbed copy and one loss at a time."""
    flat = gc._flatten(params)
    out = np.empty_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        out[i] = (model.loss(gc._unflatten(up), X, Y) - model.loss(gc._unflatten(down), X, Y)) / (2 * h)
    return out


# --- the numbers ---------------------------------------------------------------------------


@given(strategies.parameters("generic"))
def test_the_batched_forward_gives_the_same_differences_as_a_loop_over_perturbations(
    params: dict[str, np.ndarray],
) -> None:
    batched = gc._flatten({k[1:]: v for k, v in gc.numeric_gradient(params).items()})
    np.testing.assert_allclose(batched, loop_central_differences(params), rtol=1e-7, atol=1e-9)


@given(st.sampled_from(["generic", "near-kink", "saturated"]).flatmap(strategies.parameters))
def test_numeric_gradient_equals_the_exact_gradient_off_the_kinks(params: dict[str, np.ndarray]) -> None:
    assume(np.abs(params["W1"] @ X + params["b1"]).min() > 1e-4)
    exact = model.gradients(params, X, Y)
    numeric = gc.numeric_gradient(params)
    for key in exact:
        np.testing.assert_allclose(numeric[key], exact[key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_every_perturbed_loss_of_a_check_comes_from_one_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = gc._network

    def counting(theta: np.ndarray, *args: Any) -> Any:
        calls.append(theta.shape)
        return real(theta, *args)

    gc.default_points(0)  # drawn once and cached: not part of a check
    monkeypatch.setattr(gc, "_network", counting)
    report = check_backward(bb.correct)
    assert report.ok
    # Five points, each its centre and 9 elements at -2h, -h, +h, +2h: one call, 185 rows.
    assert calls == [(5, 37, 9)]


def test_the_corrected_models_gradient_passes_at_every_default_point_including_the_kinked_one() -> None:
    report = check_backward(bb.correct_model_gradients)
    assert report.ok, report
    assert report.points == ("notebook-init", "random", "partly-inactive", "dead-unit", "near-saturated")
    assert report.layouts == ("(m,)", "(1, m)")
    assert report.passed.shape == (5, 2, 9) and report.passed.all()


@given(st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters))
def test_the_corrected_models_gradient_passes_at_any_point(params: dict[str, np.ndarray]) -> None:
    assert check_backward(bb.correct_model_gradients, params=params).ok


@given(strategies.datasets(), st.integers(0, 10_000))
def test_the_corrected_models_gradient_passes_on_any_data(
    data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    X_, Y_ = data
    report = check_backward(bb.correct_model_gradients, X=X_, Y=Y_, seed=seed)
    assert report.ok, report


def test_the_notebooks_backward_matches_half_mse_and_the_report_says_so() -> None:
    report = check_backward(nb.backword_propagation)
    assert report.verdict == "matches-other-loss"
    assert report.details["loss"] == "half-mse"
    assert report.details["dZ2"] == "(A2 - Y) * A2 * (1 - A2) / m"
    assert "½·MSE through the sigmoid" in str(report)
    assert "Fix: compute dZ2 = (A2 - Y) / m" in str(report)


def test_the_notebooks_backward_is_right_for_the_loss_it_really_differentiates() -> None:
    assert check_backward(nb.backword_propagation, loss="half-mse").ok


@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid"])
def test_other_hidden_activations_are_checked_with_their_own_forward(activation: str) -> None:
    def backward(parameters, A1, A2, X_, Y_):
        return model.gradients(parameters, X_, Y_, activation)  # type: ignore[arg-type]

    assert check_backward(backward, forward=activation).ok
    assert check_backward(bb.correct, forward=activation).verdict != "ok"


def test_a_forward_and_a_loss_of_your_own_are_used_as_given() -> None:
    # The notebook's forward (np.dot cannot batch, so the oracle loops) and its loss, which
    # it calls with labels (m,) as the notebook does: the mean BCE again.
    points = [model.init_params(0), model.init_params(1, bias=-0.2)]
    report = check_backward(bb.correct, forward=nb.forward_propagation, loss=nb.compute_loss, params=points)
    assert report.ok, report
    assert report.loss == "your loss compute_loss"
    report = check_backward(
        nb.backword_propagation, forward=nb.forward_propagation, loss=nb.compute_loss, params=points
    )
    assert report.verdict == "mismatch"  # no candidate losses for a loss of your own


def test_a_forward_written_with_matmul_is_evaluated_in_one_batched_call() -> None:
    calls = []

    def forward(X_, parameters):
        calls.append(parameters["W1"].shape)
        A1 = np.maximum(parameters["W1"] @ X_ + parameters["b1"], 0)
        return A1, model.sigmoid(parameters["W2"] @ A1 + parameters["b2"])

    assert check_backward(bb.correct, forward=forward).ok
    assert calls == [(5 * 37, 2, 2)]


# --- kinks ---------------------------------------------------------------------------------------


def test_central_differences_alone_would_fail_the_right_gradient_at_the_notebooks_initial_point() -> None:
    params = model.init_params(0)
    exact, central = model.gradients(params, X, Y)["db1"], gc.numeric_gradient(params)["db1"]
    assert not np.allclose(exact, central, rtol=1e-3, atol=1e-5)  # torch's gradcheck fails here


def test_the_kink_at_the_notebooks_initial_point_is_named_by_sample_and_unit() -> None:
    report = check_backward(bb.correct, params=model.init_params(0))
    assert report.ok
    assert [(k["element"], k["samples"], k["units"], k["kind"]) for k in report.kinks] == [
        ("db1[0, 0]", [0], [0], "on"),
        ("db1[1, 0]", [0], [1], "on"),
    ]
    assert list(report.method[0]) == [gc.CENTRAL] * 4 + [gc.KINK] * 2 + [gc.CENTRAL] * 3
    assert "ReLU kink at given: Z1 = 0 for sample 0 (x = (0, 0)), units 0, 1" in str(report)
    assert "relu'(0) = 0 (like torch.nn.functional.relu and jax.nn.relu)" in str(report)


@pytest.mark.parametrize(
    ("backward", "value"),
    [(bb.correct, 0.0), (bb.correct_half_at_the_kink, 0.5), (bb.correct_one_at_the_kink, 1.0)],
    ids=["mask A1 > 0", "heaviside 0.5", "mask Z1 >= 0"],
)
def test_the_subgradient_convention_is_read_off_the_one_sided_derivatives(
    backward: Any, value: float
) -> None:
    report = check_backward(backward, params=model.init_params(3))
    assert report.convention is not None and report.convention.startswith(f"relu'(0) = {value:g} ")
    for kink in report.kinks:
        assert kink["relu0"] == [pytest.approx(value, abs=1e-3)] * 2
        low, high = sorted((kink["left"], kink["right"]))
        assert low < high  # the loss feels this kink


def test_a_value_outside_the_left_and_right_derivatives_fails_only_on_the_kink() -> None:
    def overshoot(parameters, A1, A2, X_, Y_):
        Z1 = parameters["W1"] @ X_ + parameters["b1"]
        dZ2 = (A2 - Y_.reshape(1, -1)) / X_.shape[1]
        dZ1 = parameters["W2"].T @ dZ2 * ((Z1 > 0) + 3.0 * (Z1 == 0))  # relu'(0) = 3
        return bb._grads(dZ1, dZ2, A1, X_)

    report = check_backward(overshoot)
    assert report.verdict == "mismatch"
    assert report.details["points"] == ["notebook-init"]
    assert report.details["keys"]["db1"].startswith("wrong only on the ReLU kink")


@pytest.mark.parametrize("offset", [-1.5e-6, -4e-7, 3e-7, 1.9e-6])
def test_a_kink_within_the_step_is_judged_one_sided_from_the_clean_side(offset: float) -> None:
    params = model.init_params(1, bias=0.3)
    params["b1"][1, 0] = offset - params["W1"][1] @ X[:, 2]  # Z1[1, 2] sits `offset` from the kink
    report = check_backward(bb.correct, params=params)
    assert report.ok, report
    near = [k for k in report.kinks if k["element"] == "db1[1, 0]"]
    assert near and near[0]["kind"] == "near" and near[0]["samples"] == [2] and near[0]["units"] == [1]
    side = gc.RIGHT if offset > 0 else gc.LEFT  # away from the kink, which db1 - h or + h crosses
    assert report.method[0, gc.ELEMENT_NAMES.index("db1[1, 0]")] == side
    if abs(offset) < gc.STEP:
        # Plain central differences straddle the kink and are off by far more than the tolerance.
        central = gc.numeric_gradient(params)["db1"][1, 0]
        assert abs(central - model.gradients(params, X, Y)["db1"][1, 0]) > 1e-4


# --- tolerances by dtype ------------------------------------------------------------------------


def test_a_float32_backward_is_judged_with_float32_tolerances() -> None:
    report = check_backward(bb.correct_in_float32)
    assert report.ok
    assert np.all(report.rtol == gc.TOLERANCES[np.dtype(np.float32)][0])

    def off_by_1e4(*args: Any) -> dict[str, np.ndarray]:  # within float32's tolerance, not float64's
        return {k: v * np.float32(1 + 1e-4) for k, v in bb.correct_in_float32(*args).items()}

    def as_float64(*args: Any) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float64) for k, v in off_by_1e4(*args).items()}

    assert check_backward(off_by_1e4).ok
    assert not check_backward(as_float64).ok


def test_a_float64_backward_is_held_to_float64_tolerances() -> None:
    report = check_backward(bb.slightly_off)
    assert report.verdict == "mismatch"
    worst = report.worst(1)[0]
    assert worst.element == "dW2[0, 1]" and 5e-4 < worst.rel_error < 2e-3


# --- fast mode ------------------------------------------------------------------------------------


def test_fast_mode_checks_a_random_direction_plus_the_kinked_elements() -> None:
    report = check_backward(bb.correct, fast=True)
    assert report.ok and report.fast
    assert report.elements == ("random direction", "db1[0, 0]", "db1[1, 0]")
    assert report.passed.shape == (5, 2, 3)


def test_fast_mode_explains_a_failure_with_the_full_check() -> None:
    report = check_backward(nb.backword_propagation, fast=True)
    assert report.verdict == "matches-other-loss"
    assert not report.fast and len(report.elements) == 9
    assert "fast mode" in str(report)


# --- the user's code cannot break the check ---------------------------------------------------


class CustomError(Exception):
    pass


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad"), ZeroDivisionError("0"), KeyError("W3"), CustomError("mine"), RecursionError("deep")],
)
def test_no_exception_of_the_backward_escapes(exc: Exception) -> None:
    def backward(*args):
        raise exc

    report = check_backward(backward)
    assert report.verdict == "raised"
    assert report.details["type"] == type(exc).__name__
    assert report.details["point"] == "notebook-init" and report.details["labels"] == "(m,)"
    assert "test_gradcheck.py" in report.details["where"] and "raise exc" in report.details["where"]
    assert np.isnan(report.analytic).all()


def test_no_exception_of_a_forward_or_loss_of_your_own_escapes() -> None:
    def forward(X_, parameters):
        raise RuntimeError("my forward broke")

    report = check_backward(bb.correct, forward=forward)
    assert report.verdict == "raised" and report.details["message"] == "my forward broke"
    report = check_backward(bb.correct, loss=lambda Y_, A2: 1 / 0)
    assert report.verdict == "raised" and report.details["type"] == "ZeroDivisionError"


def test_the_backward_gets_private_copies_and_the_parameters_it_was_given_stay_unchanged() -> None:
    params = model.init_params(2)
    before = {k: v.copy() for k, v in params.items()}
    report = check_backward(bb.correct_but_mutates_its_inputs, params=params)
    assert report.ok
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])


# --- the report -----------------------------------------------------------------------------------


def test_the_table_has_a_row_per_point_layout_and_element_and_the_worst_come_first() -> None:
    report = check_backward(bb.no_division_by_m)
    assert isinstance(report, GradcheckReport)
    assert len(report.table) == 5 * 2 * 9
    row = report.table[0]
    assert (row.point, row.labels, row.element) == ("notebook-init", "(m,)", "dW1[0, 0]")
    assert row.abs_error == pytest.approx(abs(row.analytic - row.numeric))
    worst = report.worst()
    ratios = [
        r.abs_error / (report.atol.max() + report.rtol.max() * abs(r.numeric)) for r in worst if not r.ok
    ]
    assert ratios == sorted(ratios, reverse=True)
    assert [r.ok for r in worst] == sorted(r.ok for r in worst)
    text = str(report)
    assert text.startswith("scaled: Every element is 4 x the right gradient (= m, the number of samples")
    assert "Worst elements:" in text and text.count("FAIL") == 8


def test_the_report_is_plain_json() -> None:
    for backward in (bb.correct, bb.nan_from_zero_over_zero, bb.raises_on_a_typo, nb.backword_propagation):
        data = json.loads(json.dumps(check_backward(backward).to_dict(), allow_nan=False))
        assert {"ok", "verdict", "details", "explanation", "elements", "points", "kinks", "X", "Y"} <= set(
            data
        )
        assert len(data["elements"]) == 90
        assert data["points"][0]["params"]["b1"] == [[0.0], [0.0]]


def test_default_points_are_what_their_names_say() -> None:
    points = dict(gc.default_points(7))
    for key, value in model.init_params(7).items():
        np.testing.assert_array_equal(points["notebook-init"][key], value)
    relu = model.ACTIVATIONS["relu"][0]
    for name, p in points.items():
        Z1 = p["W1"] @ X + p["b1"]
        Z2 = p["W2"] @ relu(Z1) + p["b2"]
        if name != "notebook-init":
            assert np.abs(Z1).min() > 0.01, name  # no kink anywhere near
        if name == "partly-inactive":
            assert (Z1[0] < 0).any() and (Z1[0] > 0).any()
        if name == "dead-unit":
            assert (Z1[1] < 0).all() and (Z1[0] > 0).any()
        if name == "near-saturated":
            assert np.abs(Z2).max() == pytest.approx(15.0)
            assert ((Z2 > 0) != (Y > 0.5)).any()  # some sample confidently wrong


# --- arguments ----------------------------------------------------------------------------------


def good_backward(*args: Any) -> Any:
    return bb.correct(*args)


BAD_ARGUMENTS = {
    "backward not callable": ({"backward": 3}, TypeError, "backward must be callable, got int."),
    "params missing a key": (
        {"params": {"W1": np.zeros((2, 2))}},
        ValueError,
        "params: missing key 'b1' (expected W1, b1, W2, b2).",
    ),
    "params of the wrong shape": (
        {"params": {**model.init_params(0), "W2": np.zeros((2, 1))}},
        ValueError,
        "Shape mismatch for params['W2']: got (2, 1), expected (1, 2).",
    ),
    "params in a list, one bad": (
        {"params": [model.init_params(0), {**model.init_params(0), "b1": np.zeros(2)}]},
        ValueError,
        "Shape mismatch for params[1]['b1']: got (2,), expected (2, 1).",
    ),
    "params not a dict": (
        {"params": 3},
        TypeError,
        "params: expected a dict or a non-empty list of dicts, got int.",
    ),
    "X without Y": ({"X": X}, ValueError, "Y is missing: give X and Y together, or neither (XOR)."),
    "X transposed": (
        {"X": X.T, "Y": Y},
        ValueError,
        "Shape mismatch for X: got (4, 2), expected (2, m) with m >= 1.",
    ),
    "Y too short": (
        {"X": X, "Y": np.zeros(3)},
        ValueError,
        "Shape mismatch for Y: got (3,), expected (4,) or (1, 4).",
    ),
    "unknown loss": (
        {"loss": "hinge"},
        ValueError,
        "Unknown loss 'hinge': expected one of bce, bce-sum, half-mse, mse, half-sse, sse, logit-half-mse "
        "or a callable loss(Y, A2) -> float.",
    ),
    "unknown activation": (
        {"forward": "tanh"},
        ValueError,
        "Unknown forward 'tanh': expected an activation (relu, leaky_relu, sigmoid) or a callable "
        "forward(X, parameters) -> (A1, A2).",
    ),
    "unknown layout": (
        {"layouts": ["(m, 1)"]},
        ValueError,
        "Unknown label layout '(m, 1)': expected ('(m,)', '(1, m)').",
    ),
    "step too large": ({"step": 0.1}, ValueError, "step: got 0.1, expected a number in (0, 0.01)."),
}


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_bad_arguments_are_refused_with_a_message_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"backward": good_backward, **kwargs}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        check_backward(kwargs.pop("backward"), **kwargs)


@given(st.floats(-700, 700), st.sampled_from([0.0, 1.0]))
def test_the_bce_terms_keep_their_precision_where_the_sigmoid_saturates(z, y):
    # -log(sigmoid(z)) for y = 1 and -log(1 - sigmoid(z)) for y = 0, to a few ulp, even where
    # softplus(z) - y z would cancel to nothing (z = 40, y = 1 gives 4.2e-18, not 0).
    expected = math.log1p(math.exp(-abs(z))) + max(0.0, z if y == 0.0 else -z)
    got = float(gc.LOSSES["bce"].terms(np.array([z]), np.array([y]))[0])
    assert math.isclose(got, expected, rel_tol=1e-14, abs_tol=0.0)
