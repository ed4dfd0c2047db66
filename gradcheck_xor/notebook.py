"""The tutorial notebook's code, reproduced faithfully, defects included.

This module is the specimen the rest of gradcheck-xor studies. Every function keeps the
notebook's name, signature and arithmetic (down to the order of floating-point operations),
so that ``np.random.seed(s)``, :func:`initialize_parameters` and :func:`train` give results
bit-identical to running the notebook's cells as written. Each defect carries a comment
starting with ``DEFECT`` where it lives; none is fixed here. The corrected model is in
:mod:`gradcheck_xor.model`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "backword_propagation",
    "compute_loss",
    "display_results",
    "forward_propagation",
    "forward_propagation_for_debuging",
    "initialize_parameters",
    "inputs",
    "leaky_relu",
    "outputs",
    "post_processing",
    "relu",
    "sigmoid",
    "train",
    "update_parameters",
]


def sigmoid(x: np.ndarray) -> np.ndarray:
    # DEFECT: np.exp(-x) overflows for x < -709 (a RuntimeWarning), and the result rounds to
    # exactly 0 or 1 once |x| > ~37, where compute_loss's log() then returns -inf.
    return 1 / (1 + np.exp(-x))


def relu(x: np.ndarray) -> np.ndarray:
    return x * (x > 0)  # max(x,0)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x > 0, x, x * alpha)


def post_processing(predictions: np.ndarray) -> np.ndarray:
    return np.where(predictions < 0.5, 0, 1)


def display_results(inputs: np.ndarray, predictions: np.ndarray) -> None:
    processed_predictions = post_processing(predictions)
    print("Input (A, B) | Predicted Y ")
    print("----------------------------")
    for i in range(inputs.shape[1]):
        print(f"    {inputs[0, i]}, {inputs[1, i]} | {processed_predictions[0, i]}")


def initialize_parameters() -> dict[str, np.ndarray]:
    parameters = {
        "W1": np.random.randn(2, 2),  # 가중치 input layer 2 -> hidden layer 2
        # DEFECT: a zero hidden bias puts the (0, 0) sample exactly on the ReLU kink
        # (Z1 = 0) for every draw, where the gradient is undefined.
        "b1": np.zeros((2, 1)),  # hidden layer 2
        "W2": np.random.randn(1, 2),  # 가중치 hidden layer 2 -> output layer 1
        "b2": np.zeros((1, 1)),  # output layer 1
    }
    return parameters


def compute_loss(Y: np.ndarray, Y_hat: np.ndarray) -> np.ndarray:
    # BCE (Binary Cross Entropy)
    # DEFECT: m is read from Y.shape[0], while backword_propagation divides by X.shape[1].
    # They agree only because the notebook's labels are 1-D; with labels of shape (1, m),
    # m is 1 and the reported loss is m times the mean.
    m = Y.shape[0]
    # DEFECT: log(Y_hat) is -inf once the sigmoid rounds to 0 or 1 (|Z2| > ~37).
    loss = -np.sum(Y * np.log(Y_hat) + (1 - Y) * np.log(1 - Y_hat)) / m
    return loss


def forward_propagation(
    X: np.ndarray,
    parameters: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    # 가중치와 편향 추출
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]

    # 입력층에서 히든레이어까지 연산
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)

    # 히든레이어에서 출력층까지의 연산
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)

    return A1, A2


def backword_propagation(
    parameters: dict[str, np.ndarray],
    A1: np.ndarray,
    A2: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
) -> dict[str, np.ndarray]:
    m = X.shape[1]
    W2 = parameters["W2"]

    # DEFECT: this is the gradient of 1/2 * mean squared error through the sigmoid, not of
    # the binary cross-entropy that compute_loss reports (whose dZ2 is A2 - Y). The extra
    # factor A2 * (1 - A2) is at most 1/4 and vanishes as the sigmoid saturates.
    dZ2 = (A2 - Y) * A2 * (1 - A2)
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    # The mask is taken from A1 > 0, i.e. relu'(0) = 0: defined, but only a subgradient.
    dZ1 = np.dot(W2.T, dZ2) * (A1 > 0)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m

    gradients = {
        "dW1": dW1,
        "db1": db1,
        "dW2": dW2,
        "db2": db2,
    }
    return gradients


def update_parameters(
    parameters: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    learning_rate: float = 0.01,
) -> dict[str, np.ndarray]:
    parameters["W1"] -= learning_rate * grads["dW1"]
    parameters["b1"] -= learning_rate * grads["db1"]
    parameters["W2"] -= learning_rate * grads["dW2"]
    parameters["b2"] -= learning_rate * grads["db2"]

    return parameters


def forward_propagation_for_debuging(X, parameters) -> tuple[np.ndarray, np.ndarray]:
    # 가중치와 편향 추출
    W1 = parameters["W1"]
    b1 = parameters["b1"]
    W2 = parameters["W2"]
    b2 = parameters["b2"]

    print(f"{X=}")
    print(f"{W1=}")
    print(f"{b1=}")
    print(f"{W2=}")
    print(f"{b2=}")

    # 입력층에서 히든레이어까지의 연산
    Z1 = np.dot(W1, X) + b1
    print(f"{Z1=}")
    A1 = relu(Z1)
    print(f"{A1=}")

    # 히든레이어에서 출력층까지의 연산
    Z2 = np.dot(W2, A1) + b2
    print(f"{Z2=}")
    A2 = sigmoid(Z2)
    print(f"{A2=}")

    return A1, A2


# The notebook's data: samples along axis 1 (shape (2, 4)), labels 1-D (shape (4,)).
inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]).T
outputs = np.array([0, 1, 1, 0])


def train(
    parameters: dict[str, np.ndarray],
    inputs: np.ndarray = inputs,
    outputs: np.ndarray = outputs,
    iterations: int = 200_000,
    learning_rate: float = 0.01,
    *,
    verbose: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run the notebook's training cell and return ``(parameters, loss_history)``.

    The loop body is the notebook's, in its order: the loss recorded at step ``i`` is
    computed from the predictions *before* that step's update, as in the notebook. The
    caller's dict is copied first (the notebook mutates its global ``parameters``); the
    arithmetic is unchanged, so the results are bit-identical. ``verbose`` prints the
    notebook's ``i=..., loss=...`` lines every 10,000 steps; ``on_step(i, loss)`` is
    called after every step (used for progress bars).
    """
    parameters = {name: np.array(value, dtype=np.float64) for name, value in parameters.items()}
    losses = np.empty(iterations, dtype=np.float64)
    for i in range(iterations):
        A1, A2 = forward_propagation(inputs, parameters)
        grads = backword_propagation(parameters, A1, A2, inputs, outputs)
        parameters = update_parameters(parameters, grads, learning_rate)
        loss = compute_loss(outputs, A2)
        losses[i] = loss

        if verbose and i > 0 and i % 10000 == 0:
            loss = float(loss)
            print(f"{i=}, {loss=}")
        if on_step is not None:
            on_step(i, float(loss))
    return parameters, losses
