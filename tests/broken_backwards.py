"""Backward passes in the notebook's signature: deliberately broken ones, and correct ones
written in different ways. The oracle's mutation test (tests/test_mutants.py) runs them all.

Each broken one carries one mistake a learner makes; keep the list growing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gradcheck_xor import model
from gradcheck_xor import notebook as nb

Grads = dict[str, np.ndarray]


def _grads(dZ1: np.ndarray, dZ2: np.ndarray, A1: np.ndarray, X: np.ndarray) -> Grads:
    return {
        "dW1": dZ1 @ X.T,
        "db1": np.sum(dZ1, axis=1, keepdims=True),
        "dW2": dZ2 @ A1.T,
        "db2": np.sum(dZ2, axis=1, keepdims=True),
    }


def correct(
    parameters: dict[str, np.ndarray], A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: np.ndarray
) -> Grads:
    """The exact gradient of the mean BCE, labels normalised first."""
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


# --- correct, written differently -----------------------------------------------------------


def correct_einsum(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - np.reshape(Y, (1, m))) / m
    dZ1 = np.einsum("ij,ik->jk", parameters["W2"], dZ2) * (A1 > 0)
    return {
        "dW1": np.einsum("us,js->uj", dZ1, X),
        "db1": np.einsum("us->u", dZ1)[:, None],
        "dW2": np.einsum("os,us->ou", dZ2, A1),
        "db2": np.einsum("os->o", dZ2)[:, None],
    }


def correct_loops(parameters, A1, A2, X, Y):
    """Sample by sample, element by element, in plain Python floats."""
    m = X.shape[1]
    y = np.ravel(Y)
    grads = {
        "dW1": np.zeros((2, 2)),
        "db1": np.zeros((2, 1)),
        "dW2": np.zeros((1, 2)),
        "db2": np.zeros((1, 1)),
    }
    for s in range(m):
        dz2 = (A2[0, s] - y[s]) / m
        grads["db2"][0, 0] += dz2
        for u in range(2):
            grads["dW2"][0, u] += dz2 * A1[u, s]
            dz1 = parameters["W2"][0, u] * dz2 if A1[u, s] > 0 else 0.0
            grads["db1"][u, 0] += dz1
            for j in range(2):
                grads["dW1"][u, j] += dz1 * X[j, s]
    return grads


def correct_heaviside(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * np.heaviside(A1, 0.0)
    return _grads(dZ1, dZ2, A1, X)


def correct_half_at_the_kink(parameters, A1, A2, X, Y):
    """relu'(0) = 0.5, what central differences and jnp.maximum's gradient give."""
    m = X.shape[1]
    Z1 = parameters["W1"] @ X + parameters["b1"]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * np.heaviside(Z1, 0.5)
    return _grads(dZ1, dZ2, A1, X)


def correct_one_at_the_kink(parameters, A1, A2, X, Y):
    """relu'(0) = 1: the mask taken from Z1 >= 0."""
    m = X.shape[1]
    Z1 = parameters["W1"] @ X + parameters["b1"]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (Z1 >= 0)
    return _grads(dZ1, dZ2, A1, X)


def correct_model_gradients(parameters, A1, A2, X, Y):
    """The corrected model's own gradient, ignoring the cached activations."""
    return model.gradients(parameters, X, Y)


def correct_in_float32(parameters, A1, A2, X, Y):
    """Computed in float32 throughout: judged with float32's tolerances."""
    f = np.float32
    m = X.shape[1]
    dZ2 = (A2.astype(f) - Y.reshape(1, m).astype(f)) / f(m)
    dZ1 = parameters["W2"].astype(f).T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1.astype(f), X.astype(f))


def correct_with_scalar_db2(parameters, A1, A2, X, Y):
    """db2 as a Python float: the notebook's in-place update accepts it."""
    grads = correct(parameters, A1, A2, X, Y)
    grads["db2"] = float(grads["db2"][0, 0])
    return grads


def correct_but_mutates_its_inputs(parameters, A1, A2, X, Y):
    """Scribbles on every argument after using it: the oracle passes private copies."""
    grads = correct(parameters, A1, A2, X, Y)
    for array in (*parameters.values(), A1, A2, X, Y):
        array *= -3.0
    parameters.clear()
    return grads


def correct_as_a_tuple(parameters, A1, A2, X, Y):
    """A tuple in parameter order, as cs231n-style code returns it."""
    grads = correct(parameters, A1, A2, X, Y)
    return grads["dW1"], grads["db1"], grads["dW2"], grads["db2"]


def correct_keyed_by_parameter(parameters, A1, A2, X, Y):
    """Gradients keyed by the parameter they belong to: {"W1": dW1, ...}."""
    return {key[1:]: value for key, value in correct(parameters, A1, A2, X, Y).items()}


def correct_with_warnings(parameters, A1, A2, X, Y):
    """Emits RuntimeWarnings on the way (log of zero): warnings are not failures."""
    np.log(np.zeros(2))
    return correct(parameters, A1, A2, X, Y)


# --- broken ------------------------------------------------------------------------------------


def no_division_by_m(parameters, A1, A2, X, Y):
    dZ2 = A2 - Y.reshape(1, -1)
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def divided_by_m_twice(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def sign_flipped(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (Y.reshape(1, m) - A2) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def stray_half(parameters, A1, A2, X, Y):
    return {key: 0.5 * value for key, value in correct(parameters, A1, A2, X, Y).items()}


def notebook_backward(parameters, A1, A2, X, Y):
    return nb.backword_propagation(parameters, A1, A2, X, Y)


def mse_through_sigmoid(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = 2 * (A2 - Y.reshape(1, m)) * A2 * (1 - A2) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def linear_output_mse(parameters, A1, A2, X, Y):
    """Squared error of the logit: the sigmoid forgotten in the loss."""
    m = X.shape[1]
    Z2 = parameters["W2"] @ A1 + parameters["b2"]
    dZ2 = (Z2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def relu_mask_missing(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2
    return _grads(dZ1, dZ2, A1, X)


def relu_mask_always_true(parameters, A1, A2, X, Y):
    """A1 >= 0 holds everywhere, so this mask masks nothing."""
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 >= 0)
    return _grads(dZ1, dZ2, A1, X)


def relu_mask_always_false(parameters, A1, A2, X, Y):
    """A1 < 0 never holds: the hidden layer never learns."""
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 < 0)
    return _grads(dZ1, dZ2, A1, X)


def relu_output_as_derivative(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * A1
    return _grads(dZ1, dZ2, A1, X)


def sigmoid_derivative_in_hidden_layer(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * A1 * (1 - A1)
    return _grads(dZ1, dZ2, A1, X)


def gradient_wrt_A2(parameters, A1, A2, X, Y):
    """dL/dA2 of the cross-entropy used as if it were dL/dZ2."""
    m = X.shape[1]
    Y = Y.reshape(1, m)
    dA2 = (-(Y / A2) + (1 - Y) / (1 - A2)) / m
    dZ1 = parameters["W2"].T @ dA2 * (A1 > 0)
    return _grads(dZ1, dA2, A1, X)


def dW1_transposed(parameters, A1, A2, X, Y):
    grads = correct(parameters, A1, A2, X, Y)
    grads["dW1"] = grads["dW1"].T
    return grads


def dW2_transposed(parameters, A1, A2, X, Y):
    grads = correct(parameters, A1, A2, X, Y)
    grads["dW2"] = grads["dW2"].T
    return grads


def wrong_weight_units_swapped(parameters, A1, A2, X, Y):
    """dZ1 built from W2 with its two units swapped."""
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"][:, ::-1].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def input_instead_of_activation(parameters, A1, A2, X, Y):
    """dW2 from X instead of A1 (the shapes happen to agree)."""
    grads = correct(parameters, A1, A2, X, Y)
    m = X.shape[1]
    grads["dW2"] = (A2 - Y.reshape(1, m)) / m @ X.T
    return grads


def bias_summed_over_samples_axis_0(parameters, A1, A2, X, Y):
    """db1 summed over the units instead of the samples."""
    grads = correct(parameters, A1, A2, X, Y)
    dZ1 = parameters["W2"].T @ ((A2 - Y.reshape(1, -1)) / X.shape[1]) * (A1 > 0)
    grads["db1"] = np.sum(dZ1, axis=0, keepdims=True)
    return grads


def bias_without_keepdims(parameters, A1, A2, X, Y):
    grads = correct(parameters, A1, A2, X, Y)
    grads["db1"] = np.sum(grads["db1"], axis=1)
    return grads


def bias_summed_over_everything(parameters, A1, A2, X, Y):
    """np.sum without an axis: one number where b1 needs two."""
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    grads = _grads(dZ1, dZ2, A1, X)
    grads["db1"] = np.sum(dZ1)
    return grads


def m_from_labels(parameters, A1, A2, X, Y):
    """m = Y.shape[0], as the notebook's compute_loss does: 1 for labels (1, m)."""
    m = Y.shape[0]
    dZ2 = (A2 - Y) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def labels_transposed(parameters, A1, A2, X, Y):
    """Y.T: a no-op for (m,); for (1, m) a column, A2 - Y broadcasts to (m, m) and the
    product with W2.T fails."""
    m = X.shape[1]
    dZ2 = (A2 - Y.T) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def nan_from_zero_over_zero(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) * 0.0 / (m - X.shape[1])
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return _grads(dZ1, dZ2, A1, X)


def raises_on_a_typo(parameters, A1, A2, X, Y):
    W2 = parameters["w2"]  # the key is "W2"
    return {"dW2": W2}


def raises_zero_division(parameters, A1, A2, X, Y):
    m = len(parameters) - 4
    return {"dW1": 1 / m}


def missing_key(parameters, A1, A2, X, Y):
    grads = correct(parameters, A1, A2, X, Y)
    del grads["db2"]
    return grads


def returns_a_tuple_in_the_wrong_order(parameters, A1, A2, X, Y):
    """The output layer first, as a backward pass computes it."""
    grads = correct(parameters, A1, A2, X, Y)
    return grads["dW2"], grads["db2"], grads["dW1"], grads["db1"]


def returns_nothing(parameters, A1, A2, X, Y):
    """The return statement forgotten."""
    correct(parameters, A1, A2, X, Y)


def slightly_off(parameters, A1, A2, X, Y):
    """1e-3 relative error on one element: too much for float64."""
    grads = correct(parameters, A1, A2, X, Y)
    grads["dW2"] = grads["dW2"] * np.array([[1.0, 1.001]])
    return grads


def float32_far_off(parameters, A1, A2, X, Y):
    """float32 buys a looser tolerance, not a 10% error."""
    grads = correct_in_float32(parameters, A1, A2, X, Y)
    grads["db2"] = grads["db2"] * np.float32(1.1)
    return grads


# (backward, expected verdict, a check of the details that fails loudly)
Check = Callable[[dict[str, Any]], bool]
BROKEN: dict[str, tuple[Callable[..., Any], str, Check]] = {
    "no division by m": (no_division_by_m, "scaled", lambda d: d["factor"] == 4.0 and "= m" in d["meaning"]),
    "divided by m twice": (divided_by_m_twice, "scaled", lambda d: d["factor"] == 0.25),
    "sign flipped": (sign_flipped, "scaled", lambda d: d["factor"] == -1.0 and "sign" in d["meaning"]),
    "stray half": (stray_half, "scaled", lambda d: d["factor"] == 0.5),
    "the notebook's backward": (notebook_backward, "matches-other-loss", lambda d: d["loss"] == "half-mse"),
    "MSE through the sigmoid": (mse_through_sigmoid, "matches-other-loss", lambda d: d["loss"] == "mse"),
    "squared error of the logit": (
        linear_output_mse,
        "matches-other-loss",
        lambda d: (d["loss"], d["output"]) == ("half-mse", "identity"),
    ),
    "ReLU mask missing": (
        relu_mask_missing,
        "mismatch",
        lambda d: d["cause"] == "activation-derivative-missing" and d["wrong"] == ["dW1", "db1"],
    ),
    "ReLU mask A1 >= 0, always true": (
        relu_mask_always_true,
        "mismatch",
        lambda d: d["cause"] == "activation-derivative-missing",
    ),
    "ReLU mask A1 < 0, always false": (
        relu_mask_always_false,
        "mismatch",
        lambda d: d["keys"]["dW1"] == "zero everywhere" and d["keys"]["dW2"] == "right",
    ),
    "ReLU output as its derivative": (
        relu_output_as_derivative,
        "mismatch",
        lambda d: d["cause"] == "activation-output-as-derivative",
    ),
    "sigmoid derivative in the hidden layer": (
        sigmoid_derivative_in_hidden_layer,
        "mismatch",
        lambda d: d["cause"] == "sigmoid-derivative-in-hidden-layer",
    ),
    "gradient taken with respect to A2": (
        gradient_wrt_A2,
        "mismatch",
        lambda d: d["cause"] == "gradient-wrt-A2",
    ),
    "dW1 transposed": (dW1_transposed, "mismatch", lambda d: d["keys"]["dW1"].startswith("transposed")),
    "dW2 transposed": (
        dW2_transposed,
        "shape-mismatch",
        lambda d: d["key"] == "dW2" and d["got"] == (2, 1) and d["expected"] == (1, 2),
    ),
    "wrong weight (units swapped)": (
        wrong_weight_units_swapped,
        "mismatch",
        lambda d: d["wrong"] == ["dW1", "db1"] and "hidden layer" in d["hint"],
    ),
    "X instead of A1 in dW2": (input_instead_of_activation, "mismatch", lambda d: d["wrong"] == ["dW2"]),
    "bias summed over the wrong axis": (
        bias_summed_over_samples_axis_0,
        "shape-mismatch",
        lambda d: d["key"] == "db1" and d["got"] == (1, 4),
    ),
    "bias without keepdims": (bias_without_keepdims, "shape-mismatch", lambda d: d["got"] == (2,)),
    "bias summed over everything": (bias_summed_over_everything, "shape-mismatch", lambda d: d["got"] == ()),
    "m from Y.shape[0]": (
        m_from_labels,
        "label-shape-dependent",
        lambda d: d["failing"] == ["(1, m)"] and "Y.shape[0]" in d["likely_cause"],
    ),
    "labels transposed": (
        labels_transposed,
        "label-shape-dependent",
        lambda d: d["failing"] == ["(1, m)"] and d["layouts"]["(1, m)"]["verdict"] == "raised",
    ),
    "NaN from 0/0": (nan_from_zero_over_zero, "mismatch", lambda d: "not finite" in d["keys"]["dW2"]),
    "raises on a typo": (
        raises_on_a_typo,
        "raised",
        lambda d: d["type"] == "KeyError" and 'parameters["w2"]' in d["where"],
    ),
    "raises ZeroDivisionError": (raises_zero_division, "raised", lambda d: d["type"] == "ZeroDivisionError"),
    "missing key": (missing_key, "shape-mismatch", lambda d: d["key"] == "db2" and d["got"] == "missing"),
    "returns a tuple in the wrong order": (
        returns_a_tuple_in_the_wrong_order,
        "shape-mismatch",
        lambda d: d["key"] == "dW1" and d["got"] == (1, 2),
    ),
    "returns nothing": (
        returns_nothing,
        "shape-mismatch",
        lambda d: d["key"] is None and d["got"] == "NoneType",
    ),
    "slightly off in float64": (slightly_off, "mismatch", lambda d: d["wrong"] == ["dW2"]),
    "float32 and 10% off": (float32_far_off, "mismatch", lambda d: d["wrong"] == ["db2"]),
}

# (backward, the relu'(0) the oracle should report at the notebook's kinked initial point)
CORRECT: dict[str, tuple[Callable[..., Any], str]] = {
    "reference": (correct, "relu'(0) = 0"),
    "einsum": (correct_einsum, "relu'(0) = 0"),
    "loops": (correct_loops, "relu'(0) = 0"),
    "heaviside": (correct_heaviside, "relu'(0) = 0"),
    "heaviside with 0.5": (correct_half_at_the_kink, "relu'(0) = 0.5"),
    "mask Z1 >= 0": (correct_one_at_the_kink, "relu'(0) = 1"),
    "model.gradients": (correct_model_gradients, "relu'(0) = 0"),
    "float32": (correct_in_float32, "relu'(0) = 0"),
    "scalar db2": (correct_with_scalar_db2, "relu'(0) = 0"),
    "a tuple in parameter order": (correct_as_a_tuple, "relu'(0) = 0"),
    "keyed by parameter": (correct_keyed_by_parameter, "relu'(0) = 0"),
    "mutates its inputs": (correct_but_mutates_its_inputs, "relu'(0) = 0"),
    "emits RuntimeWarnings": (correct_with_warnings, "relu'(0) = 0"),
}
