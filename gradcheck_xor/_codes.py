"""What each diagnostic code means: why it matters and what to do about it.

:data:`CODES` speaks of the notebook's 2-2-1 network (Z1, W2, XOR's two hidden units), whose
reports the notebook's readers know. :data:`ANY_NETWORK` says the same for any other network,
in terms of layers, where the notebook's words would not hold (two units, XOR, W2); the
codes it leaves out read the same for every network.
"""

from __future__ import annotations

# code -> (why it matters, what to do about it). The order is the order of reports.
CODES: dict[str, tuple[str, str]] = {
    "non-finite": (
        "NaN or Inf propagates through every forward and backward pass: the loss and every "
        "gradient become NaN, and training cannot recover.",
        "Start from finite parameters and data. If training produced them, lower the learning "
        "rate and compute the loss from the logit (softplus(Z2) - Y*Z2) so it cannot overflow.",
    ),
    "label-range": (
        "Binary cross-entropy is defined for labels in [0, 1]; outside that range the loss is "
        "unbounded below and gradient descent drives the logits to infinity.",
        "Use 0/1 labels (or probabilities in [0, 1]).",
    ),
    "dead-relu": (
        "relu'(Z1) is 0 on every sample, so under full-batch gradient descent the unit's "
        "dZ1, and with it its row of dW1 and its db1, are exactly zero on every step: it never "
        "changes and never comes back. With two hidden units the one left draws a single "
        "straight decision boundary, and XOR needs two: training cannot solve XOR.",
        "Draw another initialisation (another seed), start b1 slightly positive (e.g. 0.1) so "
        "every unit is active somewhere, or use leaky ReLU.",
    ),
    "symmetric-units": (
        "Identical units compute the same value and receive the same gradient, so every step "
        "keeps them identical: the network has one hidden unit in effect, and one unit cannot "
        "represent XOR.",
        "Break the symmetry: initialise W1 and W2 randomly, never with zeros or equal values.",
    ),
    "vanishing-w2": (
        "The hidden layer's error signal is the output's multiplied by W2 "
        "(dZ1 = W2.T @ dZ2 * relu'(Z1)). Below sqrt(eps) = 1.5e-8 that fraction has lost half "
        "of float64's digits: the hidden layer gets (almost) no gradient and the output "
        "ignores it. Together with a linear hidden layer this is a stationary point: XOR's "
        "best linear fit is 0.5 everywhere, so gradient descent keeps W2 at zero.",
        "Re-initialise W2 at scale ~1 (randn). If training drove W2 there, the hidden layer "
        "was linear on the data or the backward pass is not the loss's gradient (the "
        "notebook's MSE-style dZ2): fix that and train again from a fresh draw.",
    ),
    "linear-hidden-layer": (
        "Every ReLU is in its linear regime on every sample, so on this data the network "
        "computes sigmoid(affine(X)): one straight decision boundary, which cannot separate "
        "XOR. Gradient descent then pulls it toward the best linear fit (0.5 everywhere for "
        "XOR), shrinking W2.",
        "Start from a draw where each hidden unit is inactive on some sample, and train with "
        "the exact binary cross-entropy gradient dZ2 = A2 - Y.",
    ),
    "sigmoid-saturation": (
        "sigmoid(Z2) rounds to exactly 1.0 in float64 once |Z2| > 36.7: the notebook's "
        "log(A2) or log(1 - A2) becomes -inf, and its MSE-style backward multiplies by "
        "A2 * (1 - A2), which is 0 (or below 1e-16) there, so a confidently wrong sample gets "
        "no gradient. Finite-difference checks see a flat loss.",
        "Compute the loss from the logit (softplus(Z2) - Y*Z2) with dZ2 = A2 - Y, and scale the "
        "weights down (or lower the learning rate) if training made the logits this large.",
    ),
    "loss-normalization": (
        "The notebook's compute_loss divides by m = Y.shape[0], its backward by X.shape[1]. "
        "With labels of shape (1, m) the reported loss is m times the loss whose gradient is "
        "applied; with 1-D labels the two agree only because of how Y happens to be shaped.",
        "Take the number of samples from one place (m = X.shape[1]) in both the loss and the "
        "backward, and normalise the labels to one layout at the boundary.",
    ),
    "relu-kink": (
        "ReLU has no derivative at 0. The backward uses relu'(0) = 0, a one-sided choice, "
        "while a central finite difference straddles the kink and measures about half the "
        "slope, so a gradient check disagrees there with no bug present. The notebook's "
        "b1 = 0 puts the (0, 0) sample on the kink for every draw.",
        "For gradient checks, evaluate at parameters off the kink (e.g. b1 = 0.01); for "
        "training, a small positive b1 avoids it.",
    ),
}

# code -> (why, fix) for a network other than the notebook's.
ANY_NETWORK: dict[str, tuple[str, str]] = {
    "label-range": (
        "A sigmoid's outputs lie in (0, 1) and a softmax's sum to 1 over its classes: beyond "
        "that, cross-entropy is unbounded below and drives the logits to infinity, a squared "
        "error can never be reached, and a class the network does not have is no label at all.",
        "Use 0/1 labels or probabilities for a sigmoid, classes 0 to n - 1 or one-hot labels for a softmax.",
    ),
    "dead-relu": (
        "relu'(Z) is 0 on every sample, so under full-batch gradient descent the unit's dZ, and "
        "with it its row of the layer's dW and its bias's gradient, are exactly zero on every "
        "step: it never changes and never comes back. The layer is a unit narrower than it "
        "looks, and a layer whose units are all dead passes nothing on.",
        "Draw another initialisation, start the layer's biases slightly positive (e.g. 0.1) so "
        "every unit is active somewhere, or use leaky ReLU.",
    ),
    "symmetric-units": (
        "Identical units compute the same value and receive the same gradient, so every step "
        "keeps them identical: the layer has one unit where it seems to have several.",
        "Break the symmetry: initialise every weight matrix randomly, never with zeros or equal values.",
    ),
    "vanishing-w2": (
        "A hidden layer's error signal is the output's carried back through the weights above "
        "it and the slopes of the layers between (dA_l = W_{l+1}.T @ dZ_{l+1}). Below "
        "sqrt(eps) = 1.5e-8 of the output's it has lost half of float64's digits: the layer "
        "gets (almost) no gradient and stops moving. With every hidden layer linear on the data "
        "as well, this is a stationary point: the output keeps the best fit of a linear model.",
        "Re-initialise the weights the message names at the scale of their fan-in "
        "(randn * sqrt(2 / n_in)). If training drove them there, the hidden layers were linear "
        "on the data or the backward pass is not the loss's gradient: fix that and train again "
        "from a fresh draw.",
    ),
    "linear-hidden-layer": (
        "Every unit of the layer is in the linear part of its (leaky) ReLU on every sample, so "
        "on this data the layer is an affine map and adds no bend to the network's function. "
        "When every hidden layer is, the network computes output(affine(X)): one straight "
        "decision boundary, and gradient descent pulls it toward the best linear fit.",
        "Start from a draw where each unit is inactive on some sample (weights of both signs, "
        "biases near 0), and train with the loss's exact gradient.",
    ),
    "sigmoid-saturation": (
        "Where an output or a hidden activation rounds to its limit in float64 (sigmoid(|z|) "
        "is 1.0 beyond |z| = 36.7, tanh(|z|) beyond 19.1), its slope is 0 or below 1e-16: a "
        "confidently wrong sample gets no gradient through it, the log of a hand-written loss "
        "becomes -inf, and finite-difference checks see a flat loss.",
        "Compute the loss from the logit (softplus(Z) - Y*Z, or log-sum-exp for a softmax), and "
        "scale the weights down (or lower the learning rate) if training made the "
        "pre-activations this large.",
    ),
}
