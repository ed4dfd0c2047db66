"""The corrected model: exact gradients, a finite loss, one label layout decision."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import model
from gradcheck_xor import notebook as nb

X, Y = model.xor_data()
H = 1e-6


@st.composite
def parameters(draw: st.DrawFn, regime: str = "generic") -> dict[str, np.ndarray]:
    """Random parameters; ``near-kink`` puts some Z1 within 1e-3 (but not within the step)
    of 0, ``saturated`` scales the output layer so |Z2| reaches the tens."""
    v = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=9, max_size=9)))
    p = {
        "W1": v[0:4].reshape(2, 2),
        "b1": v[4:6].reshape(2, 1),
        "W2": v[6:8].reshape(1, 2),
        "b2": v[8:9].reshape(1, 1),
    }
    if regime == "near-kink":
        unit = draw(st.integers(0, 1))
        sample = draw(st.integers(0, 3))
        offset = draw(st.floats(1e-4, 1e-3)) * draw(st.sampled_from([-1.0, 1.0]))
        z_without_bias = float(p["W1"][unit] @ X[:, sample])
        p["b1"][unit, 0] = offset - z_without_bias
    if regime == "saturated":
        p["W2"] = p["W2"] * draw(st.floats(10.0, 40.0))
        p["b2"] = p["b2"] * 10.0
    return p


def central_differences(
    params: dict[str, np.ndarray], labels: np.ndarray, activation: str = "relu"
) -> dict[str, np.ndarray]:
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += H
            minus[name][idx] -= H
            g[idx] = (model.loss(plus, X, labels, activation) - model.loss(minus, X, labels, activation)) / (
                2 * H
            )
        grads["d" + name] = g
    return grads


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
    params = data.draw(parameters(regime))
    assume(off_kink(params))
    assert_gradients_match(model.gradients(params, X, Y), central_differences(params, Y))


@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid"])
@given(data=st.data())
def test_gradients_are_exact_for_every_hidden_activation(activation: str, data: st.DataObject) -> None:
    params = data.draw(parameters())
    assume(off_kink(params) or activation == "sigmoid")
    assert_gradients_match(
        model.gradients(params, X, Y, activation), central_differences(params, Y, activation)
    )


@given(st.floats(-1e4, 1e4), st.sampled_from([0.0, 1.0]))
def test_loss_is_finite_and_warning_free_for_large_logits(z2: float, label: float) -> None:
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.array([[z2]])}
    # Underflow to 0 is the right answer for exp(-|z|) and NumPy never warns of it.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = model.loss(params, X[:, :1], np.array([label]))
        grads = model.gradients(params, X[:, :1], np.array([label]))
    assert np.isfinite(value)
    # softplus(z) - y z is exact in these limits: |z| for the wrong label, ~0 for the right one.
    wrong = (z2 > 0) != (label == 1.0)
    assert value == pytest.approx(abs(z2), rel=1e-12) if wrong and abs(z2) > 40 else value >= 0
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_notebook_loss_is_infinite_where_the_corrected_loss_is_not() -> None:
    params = {"W1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "W2": np.zeros((1, 2)), "b2": np.array([[1e4]])}
    with np.errstate(all="ignore"):
        _, A2 = nb.forward_propagation(nb.inputs, params)
        assert not np.isfinite(nb.compute_loss(nb.outputs, A2))  # inf, or nan from 0 * log(0)
    assert model.loss(params, X, Y) == pytest.approx(1e4 / 2, rel=1e-12)


@given(parameters())
def test_flat_and_row_labels_give_identical_results(params: dict[str, np.ndarray]) -> None:
    flat, row = Y.reshape(4), Y.reshape(1, 4)
    assert model.loss(params, X, flat) == model.loss(params, X, row)
    g_flat, g_row = model.gradients(params, X, flat), model.gradients(params, X, row)
    for key in g_flat:
        assert np.array_equal(g_flat[key], g_row[key])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((4, 1)), r"Shape mismatch for Y: got \(4, 1\), expected \(4,\) or \(1, 4\)\."),
        (np.zeros(3), r"Shape mismatch for Y: got \(3,\), expected \(4,\) or \(1, 4\)\."),
        (np.zeros((2, 4)), r"Shape mismatch for Y: got \(2, 4\)"),
    ],
    ids=["column", "too-short", "two-rows"],
)
def test_bad_label_shapes_are_named(labels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.loss(model.init_params(0), X, labels)


def test_bad_input_shape_and_activation_are_named() -> None:
    with pytest.raises(ValueError, match=r"Shape mismatch for X: got \(4, 2\), expected \(2, m\)"):
        model.forward(model.init_params(0), X.T)
    with pytest.raises(
        ValueError, match="Unknown activation 'tanh': expected one of relu, leaky_relu, sigmoid"
    ):
        model.forward(model.init_params(0), X, "tanh")  # type: ignore[arg-type]


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


def test_train_solves_xor_from_a_healthy_draw_and_records_the_loss_before_each_step() -> None:
    initial = model.init_params(0)
    final, losses = model.train(initial, X, Y, steps=60_000, learning_rate=0.1)
    assert losses.shape == (60_000,)
    assert losses[0] == model.loss(initial, X, Y)
    assert np.all(np.abs(model.predict(final, X) - Y) < 0.4)
    assert losses[-1] < 0.05 < losses[0]
    assert np.array_equal(initial["W2"], model.init_params(0)["W2"]), "caller's dict must not change"


def test_core_imports_neither_torch_nor_jax() -> None:
    code = (
        "import sys, gradcheck_xor, gradcheck_xor.model, gradcheck_xor.notebook\n"
        "print(sorted(m for m in ('torch', 'jax', 'jaxlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
