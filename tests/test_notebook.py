"""The notebook reproduced: golden values from its printed output, and its defects pinned."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gradcheck_xor import model
from gradcheck_xor import notebook as nb

# Cell In [28] of the notebook printed these parameters after 200,000 steps.
PRINTED_FINAL = {
    "W1": np.array([[0.08204067, 1.27191402], [0.18302969, 0.29126595]]),
    "b1": np.array([[0.00330639], [0.06475702]]),
    "W2": np.array([[-5.49039980e-16, 2.51708376e-15]]),
    "b2": np.array([[-5.27355937e-16]]),
}
PRINTED_A1 = np.array(
    [[0.00330639, 1.27522041, 0.08534707, 1.35726108], [0.06475702, 0.35602297, 0.24778671, 0.53905266]]
)
PRINTED_Z2 = np.array([[-3.66172432e-16, -3.31363292e-16, 4.94850199e-17, 8.42941592e-17]])
# The header ends with a space, as the notebook prints it.
PRINTED_TABLE = (
    "Input (A, B) | Predicted Y \n"
    + """\
----------------------------
    0, 0 | 0
    0, 1 | 1
    1, 0 | 1
    1, 1 | 1
"""
)

finite = st.floats(-3.0, 3.0, allow_nan=False)


def params_from(values: list[float]) -> dict[str, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    return {
        "W1": v[0:4].reshape(2, 2),
        "b1": v[4:6].reshape(2, 1),
        "W2": v[6:8].reshape(1, 2),
        "b2": v[8:9].reshape(1, 1),
    }


param_vectors = st.lists(finite, min_size=9, max_size=9)


def test_data_has_the_notebooks_shapes() -> None:
    assert nb.inputs.shape == (2, 4)
    assert nb.outputs.shape == (4,)
    assert nb.inputs.T.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert nb.outputs.tolist() == [0, 1, 1, 0]


def test_forward_propagation_reproduces_the_printed_hidden_activations() -> None:
    A1, _ = nb.forward_propagation(nb.inputs, PRINTED_FINAL)
    # The parameters were printed to 8 significant digits, so agreement is to that precision.
    np.testing.assert_allclose(A1, PRINTED_A1, rtol=0, atol=2e-8)


def test_forward_propagation_reproduces_the_printed_output() -> None:
    _, A2 = nb.forward_propagation(nb.inputs, PRINTED_FINAL)
    assert A2.shape == (1, 4)
    np.testing.assert_allclose(A2, 0.5, rtol=0, atol=2e-16)
    W2, b2 = PRINTED_FINAL["W2"], PRINTED_FINAL["b2"]
    Z2 = W2 @ nb.relu(PRINTED_FINAL["W1"] @ nb.inputs + PRINTED_FINAL["b1"]) + b2
    np.testing.assert_allclose(Z2, PRINTED_Z2, rtol=1e-6)


def test_compute_loss_gives_the_printed_loss_ln2() -> None:
    _, A2 = nb.forward_propagation(nb.inputs, PRINTED_FINAL)
    # The notebook printed every digit, but np.log's last bit depends on the processor.
    assert nb.compute_loss(nb.outputs, A2) == pytest.approx(math.log(2), rel=1e-15, abs=0)


def test_display_results_prints_the_notebooks_table(capsys: pytest.CaptureFixture[str]) -> None:
    _, A2 = nb.forward_propagation(nb.inputs, PRINTED_FINAL)
    nb.display_results(nb.inputs, A2)
    # Even the 0 on the first row is reproduced: A2 there is 0.5 - 1.1e-16, below the threshold
    # on any processor, as every exp returns 1 + x correctly rounded for x as small as 3.7e-16.
    assert capsys.readouterr().out == PRINTED_TABLE


def test_forward_propagation_for_debuging_prints_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    _, A2 = nb.forward_propagation_for_debuging(nb.inputs, PRINTED_FINAL)
    out = capsys.readouterr().out
    for name in ("X=", "W1=", "b1=", "W2=", "b2=", "Z1=", "A1=", "Z2=", "A2="):
        assert f"\n{name}" in "\n" + out
    np.testing.assert_array_equal(A2, nb.forward_propagation(nb.inputs, PRINTED_FINAL)[1])


def _run_cells_as_written(seed: int, iterations: int) -> tuple[dict[str, np.ndarray], list[float]]:
    """Cells In [24] and In [26] as the notebook runs them: global RNG, a dict updated in place."""
    np.random.seed(seed)
    parameters = nb.initialize_parameters()
    losses = []
    for _ in range(iterations):
        A1, A2 = nb.forward_propagation(nb.inputs, parameters)
        grads = nb.backword_propagation(parameters, A1, A2, nb.inputs, nb.outputs)
        parameters = nb.update_parameters(parameters, grads)
        losses.append(nb.compute_loss(nb.outputs, A2))
    return parameters, losses


@pytest.mark.parametrize("seed", [0, 7, 42])
def test_train_is_bit_identical_to_the_notebooks_cells(seed: int) -> None:
    expected, expected_losses = _run_cells_as_written(seed, 3000)
    np.random.seed(seed)
    got, got_losses = nb.train(nb.initialize_parameters(), nb.inputs, nb.outputs, iterations=3000)
    for name in ("W1", "b1", "W2", "b2"):
        assert np.array_equal(got[name], expected[name]), name
    assert np.array_equal(got_losses, np.array(expected_losses))


def test_train_does_not_modify_the_callers_parameters() -> None:
    initial = model.init_params(3)
    before = {k: v.copy() for k, v in initial.items()}
    nb.train(initial, iterations=10)
    for name in before:
        assert np.array_equal(initial[name], before[name])


def test_train_prints_the_notebooks_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    nb.train(model.init_params(0), iterations=20_001, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["i=10000", "i=20000"]
    assert lines[0].startswith("i=10000, loss=0.69")


def test_initialize_parameters_puts_sample_00_on_the_relu_kink() -> None:
    np.random.seed(5)
    params = nb.initialize_parameters()
    Z1 = params["W1"] @ nb.inputs + params["b1"]
    assert np.all(Z1[:, 0] == 0.0)


# --- the defects, pinned so they cannot silently change ------------------------------------


@given(param_vectors)
@example([0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 2.90625, 3.0, 1.0])  # Z2 = 27.7: 1 - A2 keeps 4 digits
def test_compute_loss_with_row_labels_is_m_times_the_mean(values: list[float]) -> None:
    params = params_from(values)
    X, Y = model.xor_data()
    Z2 = model.forward(params, X)["Z2"]
    assume(np.abs(Z2).max() < 30)  # from |Z2| ~ 37 the sigmoid rounds to 1 and log(1 - A2) is -inf
    _, A2 = nb.forward_propagation(nb.inputs, params)
    row = nb.compute_loss(nb.outputs.reshape(1, 4), A2)
    flat = nb.compute_loss(nb.outputs, A2)
    assert row == pytest.approx(4 * flat, rel=1e-12)
    # log(1 - A2) loses digits as A2 nears 1: A2 is rounded to eps beside 1 - A2 ~ exp(-|Z2|).
    lost = 4 * np.finfo(np.float64).eps * np.exp(np.abs(Z2).max())
    assert flat == pytest.approx(model.loss(params, X, Y), rel=1e-9, abs=lost)


def _half_mse(params: dict[str, np.ndarray]) -> float:
    _, A2 = nb.forward_propagation(nb.inputs, params)
    return 0.5 * float(np.mean((A2 - nb.outputs) ** 2))


def _central_differences(f, params: dict[str, np.ndarray], h: float = 1e-6) -> dict[str, np.ndarray]:
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            g[idx] = (f(plus) - f(minus)) / (2 * h)
        grads["d" + name] = g
    return grads


def _away_from_kinks(params: dict[str, np.ndarray], margin: float = 1e-3) -> bool:
    Z1 = params["W1"] @ nb.inputs + params["b1"]
    return bool(np.min(np.abs(Z1)) > margin)


@given(param_vectors)
def test_backword_propagation_is_the_gradient_of_half_mse(values: list[float]) -> None:
    params = params_from(values)
    assume(_away_from_kinks(params))
    A1, A2 = nb.forward_propagation(nb.inputs, params)
    got = nb.backword_propagation(params, A1, A2, nb.inputs, nb.outputs)
    expected = _central_differences(_half_mse, params)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-9, err_msg=key)


@given(param_vectors)
def test_backword_propagation_is_not_the_gradient_of_the_bce_it_reports(values: list[float]) -> None:
    params = params_from(values)
    assume(_away_from_kinks(params))
    X, Y = model.xor_data()
    bce = model.gradients(params, X, Y)
    assume(np.abs(bce["db2"]).max() > 1e-3)
    A1, A2 = nb.forward_propagation(nb.inputs, params)
    got = nb.backword_propagation(params, A1, A2, nb.inputs, nb.outputs)
    # dZ2 carries the extra factor A2 (1 - A2) <= 1/4, so db2 is never the BCE one.
    assert not np.allclose(got["db2"], bce["db2"], rtol=1e-3, atol=0)
