"""The corrected model: the XOR network's exact gradients, a finite loss, one label layout."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor import notebook as nb

X, Y = model.xor_data()
H = 1e-6


def central_differences(params: dict[str, np.ndarray], activation: str = "relu") -> dict[str, np.ndarray]:
    """The loss's central differences, one parameter element at a time, keyed as gradients."""
    net = model.network_for(activation)
    theta = nw.flatten(net, params)
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = H
        plus = model.loss(nw.unflatten(net, theta + step), X, Y, activation)
        minus = model.loss(nw.unflatten(net, theta - step), X, Y, activation)
        numeric[i] = (plus - minus) / (2 * H)
    return nw.unflatten(net, numeric, net.grad_keys)


def off_kink(params: dict[str, np.ndarray]) -> bool:
    # A perturbation of H in any parameter moves Z1 by at most 2H (|x| <= 1, plus the bias).
    return bool(np.min(np.abs(params["W1"] @ X + params["b1"])) > 10 * H)


def assert_gradients_match(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == {"dW1", "db1", "dW2", "db2"}
    # 1e-6 relative to the largest gradient element (norm-wise): finite-difference round-off
    # scales with the loss, not with each element, so a tiny element cannot be held to 1e-6
    # of itself beside a large one; 1e-9 is the round-off of a loss of order 1 over 2H.
    scale = max(float(np.abs(v).max()) for v in expected.values())
    for key, value in expected.items():
        assert got[key].shape == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-6 * scale + 1e-9, err_msg=key)


@pytest.mark.parametrize("regime", ["generic", "near-kink", "saturated"])
@given(data=st.data())
def test_gradients_equal_central_differences_away_from_kinks(regime: str, data: st.DataObject) -> None:
    params = data.draw(strategies.parameters(regime))
    assume(off_kink(params))
    assert_gradients_match(model.gradients(params, X, Y), central_differences(params))


@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid"])
@given(params=strategies.parameters())
def test_gradients_are_exact_for_every_hidden_activation(activation: str, params: dict) -> None:
    assume(off_kink(params) or activation == "sigmoid")
    assert_gradients_match(model.gradients(params, X, Y, activation), central_differences(params, activation))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid"])
@given(params=strategies.parameters(), label_layout=st.sampled_from(["(m,)", "(1, m)"]))
def test_the_model_is_the_xor_network_with_its_hidden_activation(
    activation: str, params: dict, label_layout: str
) -> None:
    net = nw.XOR if activation == "relu" else model.network_for(activation)
    assert (net.widths, net.hidden, net.output, net.loss) == ((2, 2, 1), activation, "sigmoid", "bce")
    labels = Y.reshape(-1) if label_layout == "(m,)" else Y
    value, grads = model.loss_and_gradients(params, X, labels, activation)
    assert value == model.loss(params, X, labels, activation) == nw.loss(net, params, X, labels)
    for key, grad in nw.gradients(net, params, X, labels).items():
        np.testing.assert_array_equal(grads[key], grad, err_msg=key)
        np.testing.assert_array_equal(model.gradients(params, X, labels, activation)[key], grad)
    cache = nw.forward(net, params, X)
    for key, got in model.forward(params, X, activation).items():
        np.testing.assert_array_equal(got, cache[key], err_msg=key)
    np.testing.assert_array_equal(model.predict(params, X, activation), cache["A2"])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid"])
@given(z=st.floats(-20.0, 20.0).filter(lambda z: abs(z) > 1e-3))
def test_each_activations_derivative_is_the_slope_of_the_activation(activation: str, z: float) -> None:
    act, slope = model.ACTIVATIONS[activation]
    h = 1e-6
    numeric = (act(np.array([z + h])) - act(np.array([z - h]))) / (2 * h)
    np.testing.assert_allclose(slope(np.array([z])), numeric, rtol=1e-6, atol=1e-9)


@given(st.floats(-1e4, 1e4), st.sampled_from([0.0, 1.0]))
def test_loss_is_finite_and_warning_free_for_large_logits(z2: float, label: float) -> None:
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.array([[z2]])}
    # Underflow to 0 is the right answer for exp(-|z|) and NumPy never warns of it.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = model.loss(params, X[:, :1], np.array([label]))
        grads = model.gradients(params, X[:, :1], np.array([label]))
    assert np.isfinite(value)
    # -log sigmoid(-|z|) for the wrong label, -log sigmoid(|z|) = log1p(exp(-|z|)) for the right one.
    wrong = (z2 > 0) != (label == 1.0)
    expected = abs(z2) + math.log1p(math.exp(-abs(z2))) if wrong else math.log1p(math.exp(-abs(z2)))
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize(("z2", "label"), [(40.0, 1.0), (-40.0, 0.0), (700.0, 1.0)])
def test_a_right_and_saturated_output_keeps_its_small_loss_instead_of_cancelling_to_zero(
    z2: float, label: float
) -> None:
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.array([[z2]])}
    value = model.loss(params, X[:, :1], np.array([label]))
    assert value > 0.0
    assert value == pytest.approx(math.log1p(math.exp(-abs(z2))), rel=1e-12)


def test_notebook_loss_is_infinite_where_the_corrected_loss_is_not() -> None:
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.array([[1e4]])}
    with np.errstate(all="ignore"):
        _, A2 = nb.forward_propagation(nb.inputs, params)
        assert not np.isfinite(nb.compute_loss(nb.outputs, A2))  # inf, or nan from 0 * log(0)
    assert model.loss(params, X, Y) == pytest.approx(1e4 / 2, rel=1e-12)


@given(strategies.parameters())
def test_flat_and_row_labels_give_identical_results(params: dict[str, np.ndarray]) -> None:
    flat, row = Y.reshape(4), Y.reshape(1, 4)
    assert model.loss(params, X, flat) == model.loss(params, X, row)
    g_flat, g_row = model.gradients(params, X, flat), model.gradients(params, X, row)
    for key in g_flat:
        assert np.array_equal(g_flat[key], g_row[key])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((4, 1)), "Y has shape (4, 1); expected (1, 4) or (4,) for 4 samples and 1 output"),
        (np.zeros(3), "Y has shape (3,); expected (1, 4) or (4,) for 4 samples and 1 output"),
        (np.zeros((2, 4)), "Y has shape (2, 4); expected (1, 4) or (4,) for 4 samples and 1 output"),
    ],
    ids=["column", "too-short", "two-rows"],
)
def test_bad_label_shapes_are_named(labels: np.ndarray, message: str) -> None:
    for compute in (model.loss, model.gradients):
        with pytest.raises(ValueError) as info:
            compute(model.init_params(0), X, labels)
        assert str(info.value) == message + " (columns layout)."


def test_bad_inputs_parameters_and_activation_are_named() -> None:
    with pytest.raises(ValueError) as info:
        model.forward(model.init_params(0), X.T)
    assert str(info.value) == "X has shape (4, 2); expected (2, m) with m >= 1 (columns layout)."
    with pytest.raises(ValueError, match=r"^b1 has shape \(2,\); expected \(2, 1\) for the 2-2-1 network"):
        model.loss({**model.init_params(0), "b1": np.zeros(2)}, X, Y)
    with pytest.raises(ValueError) as info:
        model.forward(model.init_params(0), X, "tanh")  # type: ignore[arg-type]
    assert str(info.value) == "Unknown activation 'tanh': expected one of relu, leaky_relu, sigmoid."


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: model.as_inputs(np.zeros((3, 2))),
            "X has shape (3, 2); expected (2, m) with m >= 1 (columns layout).",
        ),
        (
            lambda: model.as_inputs(np.zeros((2, 0))),
            "X has shape (2, 0); expected (2, m) with m >= 1 (columns layout).",
        ),
        (
            lambda: model.as_labels(np.zeros((1, 3)), 4),
            "Y has shape (1, 3); expected (1, 4) or (4,) for 4 samples and 1 output (columns layout).",
        ),
        (
            lambda: model.as_labels([["0", "1"]], 2),
            "Y is not an array of numbers (a list); expected real numbers.",
        ),
    ],
    ids=["X-in-rows", "no-samples", "short-labels", "labels-not-numbers"],
)
def test_the_boundary_helpers_name_the_shape_they_refuse(call, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_the_boundary_helpers_give_float64_inputs_and_one_row_of_labels() -> None:
    assert model.as_inputs([[0, 1], [1, 0]]).dtype == np.float64
    labels = model.as_labels([0, 1, 1], 3)
    assert labels.shape == (1, 3) and labels.dtype == np.float64


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_init_params_reproduces_the_notebooks_draw(seed: int) -> None:
    np.random.seed(seed)
    expected = nb.initialize_parameters()
    state = np.random.get_state()[1].copy()
    got = model.init_params(seed)
    for name in expected:
        assert np.array_equal(got[name], expected[name])
        assert got[name].dtype == np.float64
    assert np.array_equal(np.random.get_state()[1], state), "init_params must not touch the global RNG"


def test_init_params_scale_and_bias() -> None:
    base, scaled = model.init_params(4), model.init_params(4, scale=0.5, bias=0.1)
    np.testing.assert_array_equal(scaled["W1"], 0.5 * base["W1"])
    np.testing.assert_array_equal(scaled["b1"], np.full((2, 1), 0.1))
    assert {k: v.shape for k, v in scaled.items()} == dict(model.PARAM_SHAPES)


def test_train_solves_xor_from_a_healthy_draw_and_records_the_loss_before_each_step() -> None:
    initial = model.init_params(0)
    final, losses = model.train(initial, X, Y, steps=60_000, learning_rate=0.1)
    assert losses.shape == (60_000,)
    assert losses[0] == model.loss(initial, X, Y)
    assert np.all(np.abs(model.predict(final, X) - Y) < 0.4)
    assert losses[-1] < 0.05 < losses[0]
    assert np.array_equal(initial["W2"], model.init_params(0)["W2"]), "caller's dict must not change"


@given(params=strategies.parameters(), lr=st.sampled_from([0.01, 0.5]))
def test_one_training_step_is_one_step_down_the_exact_gradient(params: dict, lr: float) -> None:
    stepped, losses = model.train(params, X, Y, steps=1, learning_rate=lr, diagnostics=False)
    value, grads = model.loss_and_gradients(params, X, Y)
    assert losses.tolist() == [value]
    for name in model.PARAM_SHAPES:
        np.testing.assert_array_equal(stepped[name], params[name] - lr * grads["d" + name], err_msg=name)


@given(steps=st.integers(1, 60), limit=st.integers(1, 25))
def test_a_long_run_keeps_every_kth_loss_and_trains_exactly_as_a_short_one(steps: int, limit: int) -> None:
    # A small MAX_HISTORY stands in for a run of 10**8 steps.
    X, Y = model.xor_data()
    start = model.init_params(5)
    full_params, full = model.train(start, X, Y, steps=steps, learning_rate=0.5, diagnostics=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "MAX_HISTORY", limit)
        every = model.history_every(steps)
        params, kept = model.train(start, X, Y, steps=steps, learning_rate=0.5, diagnostics=False)
    assert len(kept) <= limit and every == -(-steps // limit)
    assert np.array_equal(kept, full[::every])
    for name in model.PARAM_SHAPES:
        assert np.array_equal(params[name], full_params[name]), name


def test_core_imports_neither_torch_nor_jax() -> None:
    code = (
        "import sys, gradcheck_xor, gradcheck_xor.model, gradcheck_xor.notebook, gradcheck_xor.network\n"
        "print(sorted(m for m in ('torch', 'jax', 'jaxlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
