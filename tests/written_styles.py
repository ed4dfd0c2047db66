"""Backward passes and training steps written the way public course and tutorial code writes
them, one idiom per section: its names, argument order, layout, shapes, and how it returns or
applies its gradients. Each idiom has a right version and most have a mistake learners make
in it; a class's mistake is another method of the same class, so that the one call that
builds the object serves both. These are the code under check, written as learners write it
(no type hints, the idiom's own names); tests/test_written_styles.py checks each as it stands.
"""

import itertools

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

    def getParams(self):
        return np.concatenate((self.W1.ravel(), self.W2.ravel()))

    def setParams(self, params):
        W1_end = self.hiddenLayerSize * self.inputLayerSize
        self.W1 = np.reshape(params[:W1_end], (self.inputLayerSize, self.hiddenLayerSize))
        self.W2 = np.reshape(params[W1_end:], (self.hiddenLayerSize, self.outputLayerSize))

    def computeGradients(self, X, y):
        """The gradients unrolled as getParams unrolls the weights, for an optimiser."""
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return np.concatenate((dJdW1.ravel(), dJdW2.ravel()))

    def costFunctionPrimeOfActivation(self, X, y):
        self.yHat = self.forward(X)
        delta3 = -(y - self.yHat) * self.sigmoidPrime(self.z3)
        # sigmoidPrime takes the pre-activation; given the activation a2 it is another number.
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.a2)
        return np.dot(X.T, delta2), np.dot(self.a2.T, delta3)


class trainer:  # noqa: N801 - the series' own name
    def __init__(self, N):
        self.N = N

    def costFunctionWrapper(self, params, X, y):
        """What the series hands scipy.optimize.minimize(..., jac=True): (cost, flat grad)."""
        self.N.setParams(params)
        return self.N.costFunction(X, y), self.N.computeGradients(X, y)


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


# --- the online book's Network: one sample a column, per-layer lists, biases first -----------


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    """``sizes`` such as [784, 30, 10]; weights[k] is (sizes[k + 1], sizes[k]) and biases[k]
    a column; every unit a sigmoid, the cost of one sample half its squared error."""

    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(n, 1) for n in sizes[1:]]
        self.weights = [np.random.randn(n, k) for k, n in itertools.pairwise(sizes)]

    def update_mini_batch(self, mini_batch, eta):
        """A step down the batch's mean cost, ``mini_batch`` a list of (x, y) columns; the
        lists are replaced, not updated in place."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True)]
        rate = eta / len(mini_batch)
        self.weights = [w - rate * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - rate * nb for b, nb in zip(self.biases, nabla_b, strict=True)]

    def update_mini_batch_summed(self, mini_batch, eta):
        # The step taken with eta itself: the batch's summed cost, not its mean.
        nabla_b, nabla_w = [0 * b for b in self.biases], [0 * w for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True)]
        self.weights = [w - eta * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - eta * nb for b, nb in zip(self.biases, nabla_b, strict=True)]

    def backprop(self, x, y):
        """(nabla_b, nabla_w): the cost's gradient for the sample (x, y), layer by layer."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights, strict=True):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        # Layers counted from the end: -2 is the last hidden layer.
        for k in range(2, self.num_layers):
            delta = np.dot(self.weights[-k + 1].transpose(), delta) * sigmoid_prime(zs[-k])
            nabla_b[-k] = delta
            nabla_w[-k] = np.dot(delta, activations[-k - 1].transpose())
        return (nabla_b, nabla_w)

    def backprop_prime_of_activation(self, x, y):
        nabla_b, nabla_w = self.backprop(x, y)
        activations = [x]
        for b, w in zip(self.biases, self.weights, strict=True):
            activations.append(sigmoid(np.dot(w, activations[-1]) + b))
        # sigmoid_prime takes z; handed the activation it is another number.
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(activations[-1])
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].transpose())
        for k in range(2, self.num_layers):
            delta = np.dot(self.weights[-k + 1].transpose(), delta) * sigmoid_prime(activations[-k])
            nabla_b[-k], nabla_w[-k] = delta, np.dot(delta, activations[-k - 1].transpose())
        return (nabla_b, nabla_w)

    def cost_derivative(self, output_activations, y):
        return output_activations - y


# --- the course's ex4 in Python: every Theta unrolled into one vector, the bias a column -----


def sigmoidGradient(z):
    g = sigmoid(z)
    return g * (1 - g)


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    """(J, grad) of the one-vs-all cross-entropy summed over the labels, averaged over the
    samples; Theta1 is (hidden_layer_size, input_layer_size + 1), its first column the bias;
    X has a sample per row, y labels 0 .. num_labels - 1; grad is unrolled as nn_params is."""
    split = hidden_layer_size * (input_layer_size + 1)
    Theta1 = np.reshape(nn_params[:split], (hidden_layer_size, input_layer_size + 1))
    Theta2 = np.reshape(nn_params[split:], (num_labels, hidden_layer_size + 1))
    m = y.size
    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    z2 = a1.dot(Theta1.T)
    a2 = np.concatenate([np.ones((m, 1)), sigmoid(z2)], axis=1)
    a3 = sigmoid(a2.dot(Theta2.T))
    y_matrix = np.eye(num_labels)[y]
    J = -np.sum(y_matrix * np.log(a3) + (1 - y_matrix) * np.log(1 - a3)) / m
    J += lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    delta_3 = a3 - y_matrix
    delta_2 = delta_3.dot(Theta2)[:, 1:] * sigmoidGradient(z2)  # the bias column takes no error
    Theta1_grad = delta_2.T.dot(a1) / m
    Theta2_grad = delta_3.T.dot(a2) / m
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]
    grad = np.concatenate([Theta1_grad.ravel(), Theta2_grad.ravel()])
    return J, grad


def nnCostFunction_gradient_of_activation(
    nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0
):
    split = hidden_layer_size * (input_layer_size + 1)
    Theta1 = np.reshape(nn_params[:split], (hidden_layer_size, input_layer_size + 1))
    Theta2 = np.reshape(nn_params[split:], (num_labels, hidden_layer_size + 1))
    m = y.size
    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    a2 = np.concatenate([np.ones((m, 1)), sigmoid(a1.dot(Theta1.T))], axis=1)
    a3 = sigmoid(a2.dot(Theta2.T))
    y_matrix = np.eye(num_labels)[y]
    J = -np.sum(y_matrix * np.log(a3) + (1 - y_matrix) * np.log(1 - a3)) / m
    delta_3 = a3 - y_matrix
    # sigmoidGradient of the activation a2 where it takes z2: another slope.
    delta_2 = delta_3.dot(Theta2)[:, 1:] * sigmoidGradient(a2[:, 1:])
    grad = np.concatenate([(delta_2.T.dot(a1) / m).ravel(), (delta_3.T.dot(a2) / m).ravel()])
    return J, grad


# --- the course's L-layer network: caches of ((A_prev, W, b), Z), grads dA/dW/db --------------


def linear_forward(A, W, b):
    Z = W.dot(A) + b
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A = sigmoid(Z) if activation == "sigmoid" else np.maximum(0, Z)
    return A, (linear_cache, Z)


def L_model_forward(X, parameters):
    """[LINEAR -> RELU] * (L - 1) -> LINEAR -> SIGMOID; returns AL and the list of caches."""
    caches = []
    A = X
    L = len(parameters) // 2
    for i in range(1, L):
        A, cache = linear_activation_forward(A, parameters["W" + str(i)], parameters["b" + str(i)], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    s = sigmoid(cache)
    return dA * s * (1 - s)


def linear_backward(dZ, cache):
    A_prev, W, _ = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    backward = sigmoid_backward if activation == "sigmoid" else relu_backward
    return linear_backward(backward(dA, activation_cache), linear_cache)


def L_model_backward(AL, Y, caches):
    """Mean cross-entropy; grads["dA" + str(l)], grads["dW" + str(l)], grads["db" + str(l)]."""
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid"
    )
    for i in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(i + 1)], caches[i], "relu")
        grads["dA" + str(i)] = dA_prev
        grads["dW" + str(i + 1)] = dW
        grads["db" + str(i + 1)] = db
    return grads


def L_model_backward_output_as_dAL(AL, Y, caches):
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    # The output layer's dA_prev stored as dA{L}: the loop then looks up dA{L - 1} in vain.
    grads["dA" + str(L)], grads["dW" + str(L)], grads["db" + str(L)] = linear_activation_backward(
        dAL, caches[L - 1], "sigmoid"
    )
    for i in reversed(range(L - 1)):
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(i + 1)], caches[i], "relu")
        grads["dA" + str(i)], grads["dW" + str(i + 1)], grads["db" + str(i + 1)] = dA_prev, dW, db
    return grads


# --- eleven lines: syn0 and syn1, no biases, nonlin(x, deriv=True) of the activation ---------


def nonlin(x, deriv=False):
    if deriv:
        return x * (1 - x)  # x is already the sigmoid's output
    return 1 / (1 + np.exp(-x))


def train_iteration(X, y, syn0, syn1):
    """One pass of the loop: l0 = X (m, 3), y (m, 1), syn0 (3, 4) and syn1 (4, 1) updated in
    place, the error y - l2 added back (descent on half the summed squared error)."""
    l0 = X
    l1 = nonlin(np.dot(l0, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_error = y - l2
    l2_delta = l2_error * nonlin(l2, deriv=True)
    l1_error = l2_delta.dot(syn1.T)
    l1_delta = l1_error * nonlin(l1, deriv=True)
    syn1 += l1.T.dot(l2_delta)
    syn0 += l0.T.dot(l1_delta)


def train_iteration_deriv_of_preactivation(X, y, syn0, syn1):
    l0 = X
    l1 = nonlin(np.dot(l0, syn0))
    l2 = nonlin(np.dot(l1, syn1))
    l2_delta = (y - l2) * nonlin(l2, deriv=True)
    # nonlin(..., deriv=True) handed the pre-activation, where it expects l1 itself.
    l1_delta = l2_delta.dot(syn1.T) * nonlin(np.dot(l0, syn0), deriv=True)
    syn1 += l1.T.dot(l2_delta)
    syn0 += l0.T.dot(l1_delta)


# --- the MNIST-from-scratch notebook: forward arrays by name, columns, one_hot(Y) ------------


def ReLU_deriv(Z):
    return Z > 0


def one_hot(Y):
    one_hot_Y = np.zeros((Y.size, Y.max() + 1))
    one_hot_Y[np.arange(Y.size), Y] = 1
    return one_hot_Y.T


def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):
    """ReLU hidden, softmax output over classes in rows, Y the labels (m,)."""
    m = Y.size
    dZ2 = A2 - one_hot(Y)
    dW2 = 1 / m * dZ2.dot(A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    dW1 = 1 / m * dZ1.dot(X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


def backward_prop_as_published(Z1, A1, Z2, A2, W1, W2, X, Y):
    # The biases' sums without an axis, as the notebook has them: one number each.
    m = Y.size
    dZ2 = A2 - one_hot(Y)
    dZ1 = W2.T.dot(dZ2) * ReLU_deriv(Z1)
    return 1 / m * dZ1.dot(X.T), 1 / m * np.sum(dZ1), 1 / m * dZ2.dot(A1.T), 1 / m * np.sum(dZ2)


# --- the textbook's NeuralNetMLP: rows of samples, weights (next, previous), MSE, out first ---


def int_to_onehot(y, num_labels):
    ary = np.zeros((y.shape[0], num_labels))
    ary[np.arange(y.shape[0]), y] = 1
    return ary


class NeuralNetMLP:
    def __init__(self, num_features, num_hidden, num_classes, random_seed=123):
        self.num_classes = num_classes
        rng = np.random.RandomState(random_seed)
        self.weight_h = rng.normal(loc=0.0, scale=0.1, size=(num_hidden, num_features))
        self.bias_h = np.zeros(num_hidden)
        self.weight_out = rng.normal(loc=0.0, scale=0.1, size=(num_classes, num_hidden))
        self.bias_out = np.zeros(num_classes)

    def forward(self, x):
        a_h = sigmoid(np.dot(x, self.weight_h.T) + self.bias_h)
        a_out = sigmoid(np.dot(a_h, self.weight_out.T) + self.bias_out)
        return a_h, a_out

    def backward(self, x, a_h, a_out, y):
        """The output layer's gradients first; the loss it trains on is the MSE of a_out and
        the one-hot labels, averaged over every element, but the slope below divides by the
        samples alone."""
        y_onehot = int_to_onehot(y, self.num_classes)
        d_loss__d_a_out = 2.0 * (a_out - y_onehot) / y.shape[0]
        delta_out = d_loss__d_a_out * a_out * (1.0 - a_out)
        d_loss__dw_out = np.dot(delta_out.T, a_h)
        d_loss__db_out = np.sum(delta_out, axis=0)
        delta_h = np.dot(delta_out, self.weight_out) * a_h * (1.0 - a_h)
        d_loss__d_w_h = np.dot(delta_h.T, x)
        d_loss__d_b_h = np.sum(delta_h, axis=0)
        return (d_loss__dw_out, d_loss__db_out, d_loss__d_w_h, d_loss__d_b_h)
