"""The gradient oracle on the notebook's network: its numbers, its kinks, its tolerances, its
report, its arguments. Other networks: tests/test_oracle_networks.py."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import GradcheckReport, check_backward, model, strategies
from gradcheck_xor import gradcheck as gc
from gradcheck_xor import network as nw
from gradcheck_xor import notebook as nb

X, Y = model.xor_data()
XOR = nw.XOR


def loop_central_differences(params: dict[str, np.ndarray], h: float = 1e-6) -> np.ndarray:
    """The textbook loop, one perturbed copy and one loss at a time."""
    flat = nw.flatten(XOR, params)
    out = np.empty_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        out[i] = (model.loss(nw.unflatten(XOR, up), X, Y) - model.loss(nw.unflatten(XOR, down), X, Y)) / (
            2 * h
        )
    return out


def methods(report: GradcheckReport, point: int = 0) -> list[str]:
    return [gc.METHODS[m] for m in report.method[point]]


# --- the numbers ---------------------------------------------------------------------------


@given(strategies.parameters("generic"))
def test_the_batched_forward_gives_the_same_differences_as_a_loop_over_perturbations(
    params: dict[str, np.ndarray],
) -> None:
    batched = nw.flatten(XOR, gc.numeric_gradient(params), XOR.grad_keys)
    np.testing.assert_allclose(batched, loop_central_differences(params), rtol=1e-7, atol=1e-9)


@given(st.sampled_from(["generic", "near-kink", "saturated"]).flatmap(strategies.parameters))
def test_numeric_gradient_equals_the_exact_gradient_off_the_kinks(params: dict[str, np.ndarray]) -> None:
    assume(np.abs(params["W1"] @ X + params["b1"]).min() > 1e-4)
    exact = model.gradients(params, X, Y)
    numeric = gc.numeric_gradient(params)
    for key in exact:
        np.testing.assert_allclose(numeric[key], exact[key], rtol=1e-5, atol=1e-7, err_msg=key)


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
    assert report.details["dZ"] == "(A2 - Y) / m * A2 * (1 - A2)"
    text = " ".join(str(report).split())  # the prose is wrapped for a terminal
    assert "half the mean squared error through the sigmoid" in text
    assert "Fix: compute dZ2 = (A2 - Y) / m" in text


def test_the_notebooks_backward_is_right_for_the_loss_it_really_differentiates() -> None:
    assert check_backward(nb.backword_propagation, loss="half-mse").ok


@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid", "tanh"])
def test_other_hidden_activations_are_checked_with_their_own_forward(activation: str) -> None:
    net = dataclasses.replace(XOR, hidden=activation)

    def backward(parameters, A1, A2, X_, Y_):
        return nw.gradients(net, parameters, X_, Y_)

    assert check_backward(backward, hidden=activation).ok
    assert check_backward(backward, forward=activation).ok  # the older name of the option
    report = check_backward(bb.correct, hidden=activation)
    assert report.verdict != "ok"
    assert ("kink" in str(report)) == (activation == "leaky_relu")  # notebook-init: b1 = 0


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
    # The search over the catalogue stays on: the loss of your own is the mean BCE, and the
    # backward is the gradient of half the mean squared error.
    assert report.verdict == "matches-other-loss", report
    assert report.details["loss"] == "half-mse"


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
    assert methods(report) == ["central"] * 4 + ["kink"] * 2 + ["central"] * 3
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
    side = "right" if offset > 0 else "left"  # away from the kink, which db1 - h or + h crosses
    assert methods(report)[report.elements.index("db1[1, 0]")] == f"one-sided ({side})"
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
    ratios = [r.abs_error / r.tolerance for r in worst if not r.ok]
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
    for name, p in points.items():
        cache = nw.forward(XOR, p, X)
        Z1, Z2 = cache["Z1"], cache["Z2"]
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
    "params of no known network": (
        {"params": {"W1": np.zeros((2, 2)), "V2": np.zeros((1, 2))}},
        ValueError,
        "unknown key 'V2'; expected W1, b1, ..., WL, bL (or w1, ...), X or Y.",
    ),
    "params that do not chain": (
        {"params": {**model.init_params(0), "W2": np.zeros((1, 3))}},
        ValueError,
        "W2 has shape (1, 3); expected (1, 2) to follow W1 (2, 2) (columns layout: W_l is (n_l, n_{l-1})).",
    ),
    "params in a list, one bad": (
        {"params": [model.init_params(0), {**model.init_params(0), "b1": np.zeros(3)}]},
        ValueError,
        "params[1]: b1 has shape (3,); expected (2, 1) for the 2-2-1 network (relu hidden, sigmoid output, "
        "bce loss, columns layout).",
    ),
    "params not a dict": (
        {"params": 3},
        ValueError,
        "params is a int; expected a dict of arrays keyed W1, b1, ...",
    ),
    "a network the XOR data does not fit": (
        {"params": {"W1": np.zeros((3, 2)), "W2": np.zeros((2, 3))}},
        ValueError,
        "X and Y are needed for the 2-3-2 network (relu hidden, sigmoid output, bce loss, columns layout): "
        "the XOR data has 2 inputs and 1 output.",
    ),
    "X without Y": ({"X": X}, ValueError, "Y is missing: give X and Y together, or neither (XOR)."),
    "Y too short": (
        {"X": X, "Y": np.zeros(3)},
        ValueError,
        "Y has shape (3,); expected (1, 4) or (4,) for 4 samples and 1 output (columns layout).",
    ),
    "unknown loss": (
        {"loss": "hinge"},
        ValueError,
        "loss='hinge' is not known; expected one of bce, bce-sum, cross-entropy, cross-entropy-sum, mse, "
        "half-mse, sse, half-sse, bce-per-sample, sse-per-sample, half-sse-per-sample.",
    ),
    "unknown activation": (
        {"forward": "swish"},
        ValueError,
        "hidden='swish' is not known; expected one of relu, leaky_relu, tanh, sigmoid, identity.",
    ),
    "two activations": (
        {"forward": "tanh", "hidden": "relu"},
        ValueError,
        "forward='tanh' and hidden='relu': give the hidden activation once.",
    ),
    "unknown layout": (
        {"layouts": ["(m, 1)"]},
        ValueError,
        "Unknown label layout '(m, 1)': expected ('(m,)', '(1, m)').",
    ),
    "step too large": ({"step": 0.1}, ValueError, "step: got 0.1, expected a number in (0, 0.01)."),
    "an argument the oracle cannot supply": (
        {"backward": lambda params, X, Y, hyper: None},
        TypeError,
        "<lambda> takes 'hyper', which the oracle cannot supply. Arguments are passed by name: "
        "params/parameters/weights, X/x/inputs, Y/y/y_true/labels/targets, cache, A0..A2 (or AL), "
        "Z1..Z2, W1..W2, b1..b2, m; or positionally as the notebook's (parameters, A1, A2, X, Y). "
        "For anything else pass call=, a function call(backward, params, X, Y) that calls it.",
    ),
}


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_bad_arguments_are_refused_with_a_message_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = {"backward": good_backward, **kwargs}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        check_backward(kwargs.pop("backward"), **kwargs)
