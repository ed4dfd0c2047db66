"""Backward passes and training steps written the way public course and tutorial code writes
them, one idiom per section: its names, argument order, layout, shapes, and how it returns or
applies its gradients. Each idiom has a right version and most have a mistake learners make
in it; a class's mistake is another method of the same class, so that the one call that
builds the object serves both. These are the code under check, written as learners write it
(no type hints, the idiom's own names); tests/test_written_styles.py checks each as it stands.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(s):
    # The blog idiom: the derivative written from the sigmoid's *output* s.
    return s * (1.0 - s)


# --- the course's planar classifier: columns, tanh hidden, sigmoid output, a cache dict ------


def backward_propagation(parameters, cache, X, Y):
    """Mean cross-entropy; X is (n_x, m), Y is (1, m); the cache holds Z1, A1, Z2, A2."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    W2 = parameters["W2"]

    # output layer
    dZ2 = A2 - Y
    dW2 = 1 / m * np.dot(dZ2, A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)

    # hidden layer: tanh'(Z1) written from its output, 1 - A1 ** 2
    dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))
    dW1 = 1 / m * np.dot(dZ1, X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)

    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    return grads


def backward_propagation_and_cost(parameters, cache, X, Y):
    """The gradients and the cost, in the order the course's propagate returns them."""
    m = X.shape[1]
    A2 = cache["A2"]
    logprobs = np.multiply(np.log(A2), Y) + np.multiply(np.log(1 - A2), 1 - Y)
    cost = float(np.squeeze(-np.sum(logprobs) / m))
    return backward_propagation(parameters, cache, X, Y), cost


def backward_propagation_without_1_over_m(parameters, cache, X, Y):
    dZ2 = cache["A2"] - Y
    dW2 = np.dot(dZ2, cache["A1"].T)
    db2 = np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (1 - np.power(cache["A1"], 2))
    dW1 = np.dot(dZ1, X.T)
    db1 = np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters, grads, learning_rate=1.2):
    """The course's update: new arrays, put back into the dict it returns."""
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] = parameters[key] - learning_rate * grads["d" + key]
    return parameters


def forward_propagation(X, parameters):
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = np.tanh(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def nn_model_iteration(parameters, X, Y, learning_rate=1.2):
    """One pass of the course's training loop: forward, backward, update."""
    _, cache = forward_propagation(X, parameters)
    grads = backward_propagation(parameters, cache, X, Y)
    return update_parameters(parameters, grads, learning_rate)


def nn_model_iteration_ascending(parameters, X, Y, learning_rate=1.2):
    _, cache = forward_propagation(X, parameters)
    grads = backward_propagation(parameters, cache, X, Y)
    for key in ("W1", "b1", "W2", "b2"):
        parameters[key] = parameters[key] + learning_rate * grads["d" + key]
    return parameters


# --- cs231n's two-layer net: rows, ReLU, softmax, a class keeping self.params ----------------


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {
            "W1": std * np.random.randn(input_size, hidden_size),
            "b1": np.zeros(hidden_size),
            "W2": std * np.random.randn(hidden_size, output_size),
            "b2": np.zeros(output_size),
        }

    def loss(self, X, y=None, reg=0.0):
        """Scores without y; with y, (loss, grads), grads keyed like self.params."""
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N = X.shape[0]
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
        loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {}
        grads["W2"] = hidden.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        dhidden[hidden <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + 2 * reg * W1
        grads["b1"] = np.sum(dhidden, axis=0)
        return loss, grads

    def loss_without_mean(self, X, y=None, reg=0.0):
        # The division of dscores by N forgotten: the gradient of the summed loss.
        loss, grads = self.loss(X, y, reg)
        return loss, {key: X.shape[0] * value for key, value in grads.items()}


# --- the "from scratch" blog network: rows, no biases, sigmoid, updates self.weights1 += -----


class NeuralNetwork:
    def __init__(self, x, y):
        self.input = x
        self.weights1 = np.random.rand(self.input.shape[1], 4)
        self.weights2 = np.random.rand(4, 1)
        self.y = y
        self.output = np.zeros(self.y.shape)

    def feedforward(self):
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def backprop(self):
        # The chain rule on the sum of squared errors, written as the step *down* the slope.
        error = 2 * (self.y - self.output) * sigmoid_derivative(self.output)
        d_weights2 = np.dot(self.layer1.T, error)
        d_weights1 = np.dot(self.input.T, np.dot(error, self.weights2.T) * sigmoid_derivative(self.layer1))
        self.weights1 += d_weights1
        self.weights2 += d_weights2

    def train(self):
        self.feedforward()
        self.backprop()

    def train_without_hidden_derivative(self):
        self.feedforward()
        error = 2 * (self.y - self.output) * sigmoid_derivative(self.output)
        d_weights2 = np.dot(self.layer1.T, error)
        d_weights1 = np.dot(self.input.T, np.dot(error, self.weights2.T))
        self.weights1 += d_weights1
        self.weights2 += d_weights2


# --- the video-series class: rows, 3 hidden units, no biases, J = 0.5 * sum((y - yHat) ** 2) --


class Neural_Network:  # noqa: N801 - the series' own name
    def __init__(self):
        self.inputLayerSize = 2
        self.outputLayerSize = 1
        self.hiddenLayerSize = 3
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

    def forward(self, X):
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        yHat = self.sigmoid(self.z3)
        return yHat

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoidPrime(self, z):
        # d/dz of 1 / (1 + e^-z), from z itself
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return 0.5 * np.sum((y - self.yHat) ** 2)

    def costFunctionPrime(self, X, y):
        """dJ/dW1 and dJ/dW2 of J = 0.5 * sum((y - yHat) ** 2), y of shape (m, 1)."""
        self.yHat = self.forward(X)
        delta3 = -(y - self.yHat) * self.sigmoidPrime(self.z3)
        dJdW2 = np.dot(self.a2.T, delta3)
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2

    def backprop(self, X, y):
        """The same gradients, in the order a variant of the series returns them."""
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return dJdW2, dJdW1

    def costFunctionPrimeOfActivation(self, X, y):
        self.yHat = self.forward(X)
        delta3 = -(y - self.yHat) * self.sigmoidPrime(self.z3)
        # sigmoidPrime takes the pre-activation; given the activation a2 it is another number.
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.a2)
        return np.dot(X.T, delta2), np.dot(self.a2.T, delta3)


# --- a script's regression loop made a function: rows, no biases, linear output, ½·SSE ------


def train_step(x, y, w1, w2, learning_rate):
    """One step of ``h = sigmoid(x.dot(w1)); y_pred = h.dot(w2)`` on 0.5 * sum((y_pred - y)**2),
    the weights updated in place."""
    h = sigmoid(x.dot(w1))
    y_pred = h.dot(w2)
    grad_y_pred = y_pred - y
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * grad_w2


def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients without the update; Python's sum gives one loss per output."""
    h = sigmoid(x.dot(w1))
    y_pred = h.dot(w2)
    loss = 0.5 * sum((y_pred - y) ** 2)
    grad_h = (y_pred - y).dot(w2.T)
    return loss, {"dw1": x.T.dot(grad_h * h * (1 - h)), "dw2": h.T.dot(y_pred - y)}


def train_step_prime_of_preactivation(x, y, w1, w2, learning_rate):
    s = x.dot(w1)
    h = sigmoid(s)
    y_pred = h.dot(w2)
    grad_y_pred = y_pred - y
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * s * (1 - s))  # s * (1 - s) is sigmoid' only of the output h
    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * h.T.dot(grad_y_pred)


def train_step_returning_loss(x, y, w1, w2, learning_rate):
    """The same step returning the loss, as training loops print it."""
    h = sigmoid(x.dot(w1))
    loss = 0.5 * np.square(h.dot(w2) - y).sum()
    train_step(x, y, w1, w2, learning_rate)
    return loss


# --- a library-style pair: rows, sigmoid hidden, linear output, in place and returned -------


def forward_pass(X, W1, b1, W2, b2):
    Z1 = np.dot(X, W1) + b1
    A1 = sigmoid(Z1)
    Z2 = np.dot(A1, W2) + b2
    A2 = Z2
    return Z1, A1, Z2, A2


def backward_pass(X, y_true, Z1, A1, Z2, A2, W1, b1, W2, b2, lr=0.1):
    """Half the mean squared error; updates the arrays in place and returns them."""
    m = len(X)
    y_true = y_true.reshape(-1, 1)
    dZ2 = (A2 - y_true) / m
    dW2 = np.dot(A1.T, dZ2)
    db2 = np.sum(dZ2, axis=0)
    dZ1 = np.dot(dZ2, W2.T) * sigmoid(Z1) * (1 - sigmoid(Z1))
    dW1 = np.dot(X.T, dZ1)
    db1 = np.sum(dZ1, axis=0)
    W2 -= lr * dW2
    b2 -= lr * db2
    W1 -= lr * dW1
    b1 -= lr * db1
    return W1, b1, W2, b2


# --- weights as arguments, gradients as a tuple: rows, tanh hidden, sigmoid output ----------


def backprop(W1, b1, W2, b2, X, y):
    m = X.shape[0]
    y = y.reshape(-1, 1)
    A1 = np.tanh(X @ W1 + b1)
    A2 = sigmoid(A1 @ W2 + b2)
    dZ2 = (A2 - y) / m
    dW2 = A1.T @ dZ2
    db2 = np.sum(dZ2, axis=0, keepdims=True)
    dZ1 = dZ2 @ W2.T * (1 - A1**2)
    dW1 = X.T @ dZ1
    db1 = np.sum(dZ1, axis=0, keepdims=True)
    return dW1, db1, dW2, db2


def backprop_labels_as_given(W1, b1, W2, b2, X, y):
    # No y.reshape(-1, 1): labels of shape (m,) broadcast A2 - y to (m, m).
    m = X.shape[0]
    A1 = np.tanh(X @ W1 + b1)
    A2 = sigmoid(A1 @ W2 + b2)
    dZ2 = (A2 - y) / m
    dZ1 = dZ2 @ W2.T * (1 - A1**2)
    return X.T @ dZ1, dZ1.sum(axis=0, keepdims=True), A1.T @ dZ2, dZ2.sum(axis=0, keepdims=True)


# --- a softmax over classes in columns: one-hot Y, tanh hidden, gradients as a list ---------


def softmax_backward(parameters, cache, X, Y):
    """Y one-hot, (classes, m); returns [dW1, db1, dW2, db2]."""
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = parameters["W2"].T @ dZ2 * (1 - A1**2)
    dW1 = dZ1 @ X.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m
    return [dW1, db1, dW2, db2]


def softmax_backward_one_bias_sum(parameters, cache, X, Y):
    dW1, db1, dW2, _ = softmax_backward(parameters, cache, X, Y)
    db2 = np.sum(cache["A2"] - Y) / X.shape[1]  # no axis: one number for every class
    return [dW1, db1, dW2, db2]


# --- two hidden layers, columns, sigmoid, a cache dict, dW naming ---------------------------


def backward_two_hidden(parameters, cache, X, Y):
    """Mean cross-entropy of a sigmoid network with two hidden layers; X is (n_x, m)."""
    m = X.shape[1]
    A1, A2, A3 = cache["A1"], cache["A2"], cache["A3"]
    dZ3 = A3 - Y.reshape(1, m)
    dW3 = dZ3 @ A2.T / m
    db3 = np.sum(dZ3, axis=1, keepdims=True) / m
    dZ2 = parameters["W3"].T @ dZ3 * A2 * (1 - A2)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = parameters["W2"].T @ dZ2 * A1 * (1 - A1)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}


def backward_two_hidden_transposed(parameters, cache, X, Y):
    grads = backward_two_hidden(parameters, cache, X, Y)
    m = X.shape[1]
    dZ2 = parameters["W3"].T @ (cache["A3"] - Y.reshape(1, m)) * cache["A2"] * (1 - cache["A2"])
    grads["dW2"] = cache["A1"] @ dZ2.T / m  # (n_1, n_2) where (n_2, n_1) is meant: square hides it
    return grads


# --- two hidden layers, a class without biases that trains in place (columns weights) -------


class neuralNetwork:  # noqa: N801 - the book's own name
    """Weights W (next, previous), as the book's network has them; ``train`` takes samples in
    rows, turns them into columns and follows half the summed squared error."""

    def __init__(self, inputnodes, hiddennodes1, hiddennodes2, outputnodes, learningrate):
        self.w1 = np.random.normal(0.0, inputnodes**-0.5, (hiddennodes1, inputnodes))
        self.w2 = np.random.normal(0.0, hiddennodes1**-0.5, (hiddennodes2, hiddennodes1))
        self.w3 = np.random.normal(0.0, hiddennodes2**-0.5, (outputnodes, hiddennodes2))
        self.lr = learningrate
        self.activation_function = sigmoid

    def train(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden1 = self.activation_function(np.dot(self.w1, inputs))
        hidden2 = self.activation_function(np.dot(self.w2, hidden1))
        outputs = self.activation_function(np.dot(self.w3, hidden2))
        output_errors = targets - outputs
        hidden2_errors = np.dot(self.w3.T, output_errors * outputs * (1 - outputs))
        hidden1_errors = np.dot(self.w2.T, hidden2_errors * hidden2 * (1 - hidden2))
        self.w3 += self.lr * np.dot(output_errors * outputs * (1 - outputs), hidden2.T)
        self.w2 += self.lr * np.dot(hidden2_errors * hidden2 * (1 - hidden2), hidden1.T)
        self.w1 += self.lr * np.dot(hidden1_errors * hidden1 * (1 - hidden1), inputs.T)

    def train_untransposed(self, inputs_list, targets_list):
        inputs = np.array(inputs_list, ndmin=2).T
        targets = np.array(targets_list, ndmin=2).T
        hidden1 = self.activation_function(np.dot(self.w1, inputs))
        hidden2 = self.activation_function(np.dot(self.w2, hidden1))
        outputs = self.activation_function(np.dot(self.w3, hidden2))
        output_errors = targets - outputs
        hidden2_errors = np.dot(self.w3.T, output_errors * outputs * (1 - outputs))
        # The error sent back through w2 instead of w2.T: the square layer takes it silently.
        hidden1_errors = np.dot(self.w2, hidden2_errors * hidden2 * (1 - hidden2))
        self.w3 += self.lr * np.dot(output_errors * outputs * (1 - outputs), hidden2.T)
        self.w2 += self.lr * np.dot(hidden2_errors * hidden2 * (1 - hidden2), hidden1.T)
        self.w1 += self.lr * np.dot(hidden1_errors * hidden1 * (1 - hidden1), inputs.T)


# --- two hidden layers, rows, tanh, a linear output on ½·SSE, grads['W1'] -------------------


def regression_grads(X, y, W1, b1, W2, b2, W3, b3):
    """loss = 0.5 * np.sum((yhat - y) ** 2); y is (m, 1)."""
    Z1 = X @ W1 + b1
    Z2 = np.tanh(Z1) @ W2 + b2
    yhat = np.tanh(Z2) @ W3 + b3
    grads = {}
    dyhat = yhat - y
    grads["W3"] = np.tanh(Z2).T @ dyhat
    grads["b3"] = dyhat.sum(axis=0)
    dZ2 = dyhat @ W3.T * (1 - np.tanh(Z2) ** 2)
    grads["W2"] = np.tanh(Z1).T @ dZ2
    grads["b2"] = dZ2.sum(axis=0)
    dZ1 = dZ2 @ W2.T * (1 - np.tanh(Z1) ** 2)
    grads["W1"] = X.T @ dZ1
    grads["b1"] = dZ1.sum(axis=0)
    return grads


def regression_grads_prime_of_preactivation(X, y, W1, b1, W2, b2, W3, b3):
    grads = regression_grads(X, y, W1, b1, W2, b2, W3, b3)
    Z1 = X @ W1 + b1
    Z2 = np.tanh(Z1) @ W2 + b2
    dZ2 = (np.tanh(Z2) @ W3 + b3 - y) @ W3.T * (1 - Z2**2)  # 1 - Z**2 where 1 - tanh(Z)**2 is meant
    grads["W2"] = np.tanh(Z1).T @ dZ2
    grads["b2"] = dZ2.sum(axis=0)
    dZ1 = dZ2 @ W2.T * (1 - np.tanh(Z1) ** 2)
    grads["W1"] = X.T @ dZ1
    grads["b1"] = dZ1.sum(axis=0)
    return grads
