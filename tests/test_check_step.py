"""check_step: a training step checked through its update, (old - new) / lr, with the same
report and verdicts as a backward pass; in place or returning, right or wrong."""

from __future__ import annotations

import re
from typing import Any

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_xor import check_step, model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor import notebook as nb

Params = dict[str, np.ndarray]
X, Y = model.xor_data()
NET = nw.Network.from_widths((3, 5, 4, 2), hidden="tanh", output="softmax", layout="rows")


def _grads(parameters: Params, X_: np.ndarray, Y_: np.ndarray) -> dict[str, np.ndarray]:
    cache = nw.forward(nw.XOR, parameters, X_)
    return bb.correct(parameters, cache["A1"], cache["A2"], X_, Y_)


# --- steps a learner writes -------------------------------------------------------------------


def in_place(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """The notebook's loop body: each array updated in place."""
    grads = _grads(parameters, X, Y)
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] -= lr * grads["d" + key]


def rebinding(params: Params, X: np.ndarray, Y: np.ndarray, learning_rate: float) -> Params:
    """New arrays put back in the dict it was given, which it returns."""
    grads = _grads(params, X, Y)
    for key in ("W1", "b1", "W2", "b2"):
        params[key] = params[key] - learning_rate * grads["d" + key]
    return params


def returning_a_new_dict_and_the_loss(params: Params, X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple:
    grads = _grads(params, X, Y)
    return {key: value - alpha * grads["d" + key] for key, value in params.items()}, model.loss(params, X, Y)


def on_the_arrays(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, Y: np.ndarray, lr: float
) -> None:
    """Each parameter an argument of its own, updated in place."""
    grads = _grads({"W1": W1, "b1": b1, "W2": W2, "b2": b2}, X, Y)
    W1 -= lr * grads["dW1"]
    b1 -= lr * grads["db1"]
    W2 -= lr * grads["dW2"]
    b2 -= lr * grads["db2"]


def notebook_step(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """The notebook's own update: its backward pass."""
    cache = nw.forward(nw.XOR, parameters, X)
    grads = nb.backword_propagation(parameters, cache["A1"], cache["A2"], X, Y)
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] -= lr * grads["d" + key]


def gradient_ascent(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    grads = _grads(parameters, X, Y)
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] += lr * grads["d" + key]


def without_division_by_m(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    grads = bb.no_division_by_m(
        parameters, *[nw.forward(nw.XOR, parameters, X)[k] for k in ("A1", "A2")], X, Y
    )
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] -= lr * grads["d" + key]


def forgets_the_hidden_layer(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    grads = _grads(parameters, X, Y)
    for key in ("W2", "b2"):
        parameters[key] -= lr * grads["d" + key]


def bias_without_keepdims(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """db1 of shape (2,): ``b1 = b1 - lr * db1`` broadcasts b1 to (2, 2)."""
    grads = _grads(parameters, X, Y)
    grads["db1"] = grads["db1"][:, 0]
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] = parameters[key] - lr * grads["d" + key]


def returning_new_params_and_the_gradients(params: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Any:
    grads = _grads(params, X, Y)
    return {key: value - lr * grads["d" + key] for key, value in params.items()}, grads


def in_place_returning_the_cost(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> np.ndarray:
    """The course's loop body: the cost comes back as np.squeeze(cost), a 0-d array."""
    in_place(parameters, X, Y, lr)
    return np.squeeze(np.array([[model.loss(parameters, X, Y)]]))


def returning_the_loss_and_a_flat_vector(params: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Any:
    """An optimiser's form: (J, theta) with theta flat, in the parameters' order."""
    grads = _grads(params, X, Y)
    theta = np.concatenate([(params[k] - lr * grads["d" + k]).ravel() for k in ("W1", "b1", "W2", "b2")])
    return model.loss(params, X, Y), theta


def returning_the_loss_and_per_layer_lists(params: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> Any:
    """A class's (self.biases, self.weights) after its step, beside the loss."""
    grads = _grads(params, X, Y)
    new = {k: params[k] - lr * grads["d" + k] for k in ("W1", "b1", "W2", "b2")}
    return model.loss(params, X, Y), ([new["b1"], new["b2"]], [new["W1"], new["W2"]])


def in_place_returning_a_1x1_loss(parameters: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> np.ndarray:
    in_place(parameters, X, Y, lr)
    return np.array([[model.loss(parameters, X, Y)]])


RIGHT = [
    returning_the_loss_and_a_flat_vector,
    returning_the_loss_and_per_layer_lists,
    in_place_returning_a_1x1_loss,
    in_place,
    rebinding,
    returning_a_new_dict_and_the_loss,
    on_the_arrays,
    returning_new_params_and_the_gradients,
    in_place_returning_the_cost,
]


@pytest.mark.parametrize("step", RIGHT, ids=[f.__name__ for f in RIGHT])
def test_a_right_step_passes_in_place_or_returning(step: Any) -> None:
    report = check_step(step, lr=0.1)
    assert report.ok, report
    assert report.points == ("notebook-init", "random", "partly-inactive", "dead-unit", "near-saturated")
    assert report.convention is not None and report.convention.startswith("relu'(0) = 0 ")


@given(st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters), st.sampled_from([1e-3, 0.1, 3.0]))
def test_a_right_step_passes_at_any_point_and_learning_rate(params: Params, lr: float) -> None:
    report = check_step(in_place, params, lr=lr)
    assert report.ok, report


@pytest.mark.parametrize(
    ("step", "verdict", "holds"),
    [
        (notebook_step, "matches-other-loss", lambda d: d["loss"] == "half-mse"),
        (gradient_ascent, "scaled", lambda d: d["factor"] == -1.0),
        (without_division_by_m, "scaled", lambda d: d["factor"] == 4.0 and d["losses"] == ["bce-sum"]),
        (forgets_the_hidden_layer, "mismatch", lambda d: d["keys"]["dW1"] == "zero everywhere"),
        (bias_without_keepdims, "shape-mismatch", lambda d: d["key"] == "db1" and d["got"] == (2, 2)),
        (lambda params, X, Y, lr: "done", "shape-mismatch", lambda d: d["key"] is None and d["got"] == "str"),
        (lambda params, X, Y, lr: 1 / 0, "raised", lambda d: d["type"] == "ZeroDivisionError"),
    ],
    ids=["the notebook's", "ascent", "no 1/m", "one layer", "a bias broadcast", "a string", "raises"],
)
def test_a_wrong_step_gets_its_verdict(step: Any, verdict: str, holds: Any) -> None:
    report = check_step(step, lr=0.05)
    assert report.verdict == verdict, report
    assert holds(report.details), report.details


# --- any network, and code that needs call= -----------------------------------------------------


class TwoLayerNet:
    """A class that keeps its parameters, as tutorials write it; its step takes no parameters."""

    def __init__(self, params: Params) -> None:
        self.params = params

    def train_step(self, X: np.ndarray, y: np.ndarray, lr: float) -> float:
        loss, grads = nw.loss_and_gradients(NET, self.params, X, y)
        for key in self.params:
            self.params[key] -= lr * grads["d" + key]
        return loss


@settings(max_examples=20)
@given(
    strategies.datasets(3, 8, network=NET).flatmap(
        lambda d: st.tuples(st.just(d), strategies.parameters(X=d[0], network=NET))
    )
)
def test_a_class_method_step_is_checked_with_a_one_line_call(drawn: tuple) -> None:
    (X_, Y_), params = drawn
    call = lambda step, p, X, Y, lr: TwoLayerNet(p).train_step(X, Y, lr) and None  # noqa: E731
    report = check_step(
        TwoLayerNet.train_step, params, X_, Y_, lr=0.5, call=call, hidden="tanh", output="softmax"
    )
    assert report.ok, report
    assert report.network == NET


def test_a_step_that_follows_the_gradient_of_another_network_is_named() -> None:
    X_ = np.random.default_rng(0).normal(size=(6, 3))
    Y_ = np.arange(6) % 2
    relu = nw.Network.from_widths((3, 5, 4, 2), hidden="relu", output="softmax", layout="rows")

    def step(params: Params, X: np.ndarray, Y: np.ndarray, lr: float) -> None:
        for key, g in nw.gradients(relu, params, X, Y).items():
            params[key[1:]] -= lr * g

    report = check_step(step, NET, X_, Y_, lr=0.1)
    assert report.verdict == "matches-other-loss", report
    assert report.details["hidden"] == "relu" and "hidden='relu'" in str(report)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_the_learning_rate_must_be_a_finite_positive_number(lr: Any) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'lr: got {lr!r}, expected a finite number > 0.')}$"):
        check_step(in_place, lr=lr)


def test_a_step_the_oracle_cannot_call_names_lr_among_the_arguments() -> None:
    with pytest.raises(
        TypeError, match=r"takes 'epochs'.*m, lr/learning_rate/alpha;.*call\(step, params, X, Y, lr\)"
    ):
        check_step(lambda params, X, Y, lr, epochs: None, lr=0.1)
