"""The network description: any widths, depth, activation, output, loss, layout and bias
style, with its exact gradient checked against finite differences, against itself in the
other layout, against PyTorch autograd, and, on the XOR default, against the 2-2-1 model."""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor import notebook as nb

EPS = float(np.finfo(np.float64).eps)
H = 1e-6  # the finite-difference step


# --- cases ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    net: nw.Network
    params: dict[str, np.ndarray]
    X: np.ndarray
    Y: np.ndarray  # as the caller gives it: for a softmax classes (m,) or one row per sample


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A network of one to four layers; data with labels of its own kind (0/1 or probabilities
    for a sigmoid, reals for an identity, classes, one-hot rows or distributions for a
    softmax), a single output's labels as (m,) or 2-D in the layout; parameters in any
    regime, saturated outputs included."""
    net = draw(strategies.networks(min_hidden_layers=0))
    X, Y = draw(strategies.datasets(network=net, soft_labels=draw(st.booleans())))
    if net.n_out == 1 and draw(st.booleans()):
        Y = Y.reshape((1, -1) if net.layout == "columns" else (-1, 1))
    regimes = strategies.REGIMES if net.depth > 1 else ("generic", "saturated")
    params = draw(strategies.parameters(draw(st.sampled_from(regimes)), X, network=net))
    return Case(net, params, X, Y)


def hidden_margin(case: Case) -> float:
    """How far the nearest hidden pre-activation is from the relu kink at 0."""
    cache = nw.forward(case.net, case.params, case.X)
    hidden = [np.abs(cache[f"Z{i}"]).min() for i in range(1, case.net.depth)]
    return float(min(hidden, default=np.inf))


def transposed(case: Case) -> Case:
    """The same network in the other layout: every weight, bias, input and label transposed."""
    net = case.net
    flip = {(n, 1): (1, n) for n in net.widths} | {(1, n): (n, 1) for n in net.widths}
    other = dataclasses.replace(
        net,
        layout="rows" if net.layout == "columns" else "columns",
        bias_shapes=tuple(None if s is None else flip.get(s, s) for s in net.bias_shapes),
    )
    params = {key: value.T.copy() for key, value in case.params.items()}
    return Case(other, params, case.X.T.copy(), case.Y.T.copy())


def scale_of(values: np.ndarray) -> float:
    return max(float(np.max(np.abs(values), initial=0.0)), 1e-300)


# --- (a) the exact gradient is the gradient of the loss -----------------------------------------


@given(cases())
def test_gradients_match_central_differences_of_the_loss_for_any_network(case: Case) -> None:
    net = case.net
    if net.hidden in ("relu", "leaky_relu"):
        assume(hidden_margin(case) > 1e-3)  # a step of H crosses no kink
    theta = nw.flatten(net, case.params)
    analytic = nw.flatten(net, nw.gradients(net, case.params, case.X, case.Y), net.grad_keys)
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = H
        plus = nw.loss(net, nw.unflatten(net, theta + step), case.X, case.Y)
        minus = nw.loss(net, nw.unflatten(net, theta - step), case.X, case.Y)
        numeric[i] = (plus - minus) / (2 * H)
    # The differences' error: each loss is rounded to ~64 eps of the sum of its terms'
    # magnitudes, divided by 2H; the truncation error (H^2 f''' / 6) is far below that.
    size = float(np.sum(np.abs(nw.loss_terms(net, case.params, case.X, case.Y)))) + 1.0
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=64 * EPS * size / H)


# --- (b) the two layouts are one computation --------------------------------------------------


@given(cases())
def test_the_other_layout_gives_the_same_loss_and_transposed_gradients(case: Case) -> None:
    other = transposed(case)
    value, grads = nw.loss_and_gradients(case.net, case.params, case.X, case.Y)
    other_value, other_grads = nw.loss_and_gradients(other.net, other.params, other.X, other.Y)
    assert other_value == pytest.approx(value, rel=8 * EPS, abs=8 * EPS)
    for key, grad in grads.items():
        np.testing.assert_allclose(other_grads[key].T, grad, rtol=8 * EPS, atol=8 * EPS * scale_of(grad))
    cache, other_cache = (
        nw.forward(case.net, case.params, case.X),
        nw.forward(other.net, other.params, other.X),
    )
    for key, value in cache.items():
        np.testing.assert_allclose(other_cache[key].T, value, rtol=8 * EPS, atol=8 * EPS * scale_of(value))


# --- (c) NumPy equals PyTorch autograd --------------------------------------------------------


@given(cases())
def test_numpy_and_torch_agree_on_forward_loss_and_each_gradient(torch_xor: ModuleType, case: Case) -> None:
    net, last = case.net, f"Z{case.net.depth}"
    ours = nw.forward(net, case.params, case.X)
    if net.hidden in ("tanh", "sigmoid"):
        # A saturated unit's slope, 1 - A^2 or A (1 - A), changes by eps / slope of itself
        # when A changes by an ulp (torch's tanh and NumPy's differ by one): compared where
        # that stays far below the tolerance.
        slopes = [1.0 - ours[f"A{i}"] ** 2 for i in range(1, net.depth)]
        if net.hidden == "sigmoid":
            slopes = [ours[f"A{i}"] * (1.0 - ours[f"A{i}"]) for i in range(1, net.depth)]
        assume(min((float(np.min(slope)) for slope in slopes), default=1.0) > 1e-3)
    # reference_impls.torch_xor builds the described network as a PyTorch user would.
    run = torch_xor.graph(case.params, case.X, case.Y, net=net)
    for key, tensor in run.cache.items():
        ref = tensor.detach().numpy()
        np.testing.assert_allclose(
            ours[key], ref, rtol=1e-12, atol=1e-12 * scale_of(ref), err_msg=f"forward {key}"
        )
    # torch's losses round A - Y, or softplus(z) - y z, to eps of 1 + |y| + |z| per term where
    # the output saturates, ours do not: the tolerances are 1e-12 of those scales.
    N = net.spec.normaliser(net.n_out, case.X.shape[1 if net.layout == "columns" else 0])
    terms = float(np.sum(1.0 + np.abs(ours[last]))) / N
    value = nw.loss(net, case.params, case.X, case.Y)
    assert value == pytest.approx(run.loss.item(), rel=1e-12, abs=1e-12 * terms), "loss"
    ours_grads = nw.backward(net, case.params, ours, case.X, case.Y)
    dz = ours_grads.pop(f"d{last}")
    labels = 1.0 + float(np.max(np.abs(case.Y)))
    (torch_dz,) = torch_xor.torch.autograd.grad(run.loss, run.cache[last], retain_graph=True)
    np.testing.assert_allclose(dz, torch_dz.numpy(), rtol=1e-12, atol=1e-12 * labels / N, err_msg=f"d{last}")
    # From the same dZL, autograd's backward pass and ours give the same gradients.
    for key, ref in run.gradients(run.cache[last], dz).items():
        assert ours_grads[key].shape == ref.shape, f"shape of {key}"
        np.testing.assert_allclose(ours_grads[key], ref, rtol=1e-12, atol=1e-12 * scale_of(ref), err_msg=key)


def test_numpy_and_torch_agree_on_the_relu_kink(torch_xor: ModuleType) -> None:
    # The notebook's zero b1 puts the (0, 0) sample on the kink: relu'(0) = 0 in both.
    X, Y = model.xor_data()
    params = model.init_params(1)
    assert np.any(nw.forward(nw.XOR, params, X)["Z1"] == 0.0)
    torch_grads = torch_xor.graph(params, X, Y, net=nw.XOR).gradients()
    for key, grad in nw.gradients(nw.XOR, params, X, Y).items():
        np.testing.assert_allclose(grad, torch_grads[key], rtol=1e-12, atol=1e-15, err_msg=key)


# --- (d) finite, non-negative and without cancellation ----------------------------------------


def logit_network(output: str, loss: str, n_out: int) -> nw.Network:
    """One layer whose weight column is the logits: X = [[1]] makes Z1 = W1."""
    return nw.Network((1, n_out), "relu", output, loss, "columns", (("W1", None),), (None,))


@given(
    st.sampled_from([(o, k) for k, v in nw.LOSS_CATALOGUE.items() for o in v.outputs]),
    st.data(),
)
def test_the_loss_is_finite_and_non_negative_for_any_finite_logit(
    pair: tuple[str, str], data: st.DataObject
) -> None:
    output, loss = pair
    n_out = data.draw(st.integers(2, 5)) if output == "softmax" else 1
    # Losses of the logit itself take any float; squared errors of an identity output only
    # as far as their square stays finite.
    bound = 1e6 if output == "identity" else 1e300
    z = np.array(data.draw(st.lists(st.floats(-bound, bound), min_size=n_out, max_size=n_out)))
    net = logit_network(output, loss, n_out)
    if output == "softmax":
        Y = np.array([float(data.draw(st.integers(0, n_out - 1)))])
    elif output == "sigmoid":
        Y = np.array([[data.draw(st.floats(0.0, 1.0))]])
    else:
        Y = np.array([[data.draw(st.floats(-10.0, 10.0))]])
    value, grads = nw.loss_and_gradients(net, {"W1": z.reshape(n_out, 1)}, np.ones((1, 1)), Y)
    assert math.isfinite(value)
    assert value >= 0.0
    assert np.all(np.isfinite(grads["dW1"]))


SATURATED = math.log1p(math.exp(-40.0))  # 4.248e-18: -log sigmoid(40)


@pytest.mark.parametrize(
    ("output", "loss", "logits", "label", "expected"),
    [
        ("sigmoid", "bce", [40.0], [[1.0]], SATURATED),
        ("sigmoid", "bce", [-40.0], [[0.0]], SATURATED),
        ("softmax", "cross-entropy", [40.0, 0.0], [0.0], SATURATED),
        ("softmax", "cross-entropy", [0.0, -40.0, 1e-300], [0.0], math.log1p(1.0 + math.exp(-40.0))),
        ("sigmoid", "half-sse", [40.0], [[1.0]], 0.5 * math.exp(-80.0) / (1.0 + math.exp(-40.0)) ** 2),
        ("softmax", "sse", [40.0, 0.0], [0.0], 2 * (math.exp(-40.0) / (1.0 + math.exp(-40.0))) ** 2),
    ],
    ids=["bce-y1", "bce-y0", "cross-entropy", "cross-entropy-near-tie", "half-sse-sigmoid", "sse-softmax"],
)
def test_saturated_outputs_keep_their_digits(
    output: str, loss: str, logits: list[float], label: list[Any], expected: float
) -> None:
    net = logit_network(output, loss, len(logits))
    params = {"W1": np.array(logits).reshape(-1, 1)}
    assert nw.loss(net, params, np.ones((1, 1)), np.array(label)) == pytest.approx(expected, rel=1e-12)


def test_a_saturated_bce_gradient_is_minus_sigmoid_of_minus_z_not_zero() -> None:
    net = logit_network("sigmoid", "bce-sum", 1)
    grads = nw.gradients(net, {"W1": np.array([[40.0]])}, np.ones((1, 1)), np.array([[1.0]]))
    assert grads["dW1"][0, 0] == pytest.approx(-math.exp(-40.0) / (1.0 + math.exp(-40.0)), rel=1e-12)


# --- (e) describe() reads networks back, and refuses what is not one --------------------------


@given(cases())
def test_describe_reads_any_network_back_from_its_parameters(case: Case) -> None:
    net = case.net
    options = {"hidden": net.hidden, "output": net.output, "loss": net.loss}
    try:
        described = nw.describe(case.params, case.X, **options)
    except nw.NetworkError as exc:  # only when both layouts fit: then it must be named
        assert str(exc).startswith("layout is ambiguous")
        described = nw.describe(case.params, case.X, layout=net.layout, **options)
    assert described == net


def shapes(**arrays: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {key: np.zeros(shape) for key, shape in arrays.items()}


XOR_SHAPES = {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}
REFUSED = [
    pytest.param(
        shapes(W1=(4, 2), b1=(4, 1), W2=(1, 3), b2=(1, 1)),
        {},
        "W2 has shape (1, 3); expected (1, 4) to follow W1 (4, 2) (columns layout: W_l is (n_l, n_{l-1})).",
        id="non-chaining-layers",
    ),
    pytest.param(
        shapes(W1=(4, 2), b1=(3, 1), W2=(1, 4)),
        {},
        "b1 has shape (3, 1); expected (4, 1) or (4,) or (1, 4) for the 4 units of W1.",
        id="wrong-bias-width",
    ),
    pytest.param(
        shapes(W1=(4, 2), W3=(1, 4)),
        {},
        "W2 is missing (got W1, W3); expected layers numbered 1 to L without gaps.",
        id="gap-in-numbering",
    ),
    pytest.param(
        {**shapes(**XOR_SHAPES), "lr": np.zeros(())},
        {},
        "unknown key 'lr'; expected W1, b1, ..., WL, bL (or w1, ...), X or Y.",
        id="unknown-key",
    ),
    pytest.param(
        shapes(W1=(2, 2), b1=(2,), W2=(2, 2), b2=(2,)),
        {"X": np.zeros((2, 2)), "output": "softmax"},
        "layout is ambiguous: W1 (2, 2) and X (2, 2) fit both layouts; expected layout='columns' "
        "(X is (n_in, m)) or 'rows' (X is (m, n_in)); --layout on the command line.",
        id="ambiguous-layout",
    ),
    pytest.param(
        shapes(**XOR_SHAPES, b3=(1, 1)),
        {},
        "b3 has no weight W3; expected biases b1 to b2 only.",
        id="bias-without-weight",
    ),
    pytest.param(
        shapes(W1=(2, 2), w1=(2, 2)),
        {},
        "W1 and w1 are both given; expected one weight per layer.",
        id="two-cases-of-one-weight",
    ),
    pytest.param(
        {"W1": "weights"},
        {},
        "W1 is not an array of numbers (a str); expected real numbers.",
        id="not-numbers",
    ),
    pytest.param(
        shapes(W1=(2,)),
        {},
        "W1 has shape (2,); expected a 2-D array with at least one unit.",
        id="one-dimensional-weight",
    ),
    pytest.param(
        shapes(**XOR_SHAPES),
        {"X": np.zeros((4, 2))},
        "X has shape (4, 2); expected (2, m) for W1 (columns layout: W_l is (n_l, n_{l-1})).",
        id="inputs-in-the-other-layout",
    ),
    pytest.param(
        shapes(**XOR_SHAPES),
        {"hidden": "relu6"},
        "hidden='relu6' is not known; expected one of relu, leaky_relu, tanh, sigmoid, identity.",
        id="unknown-activation",
    ),
    pytest.param(
        shapes(**XOR_SHAPES),
        {"output": "softmax", "loss": "bce"},
        "loss='bce' does not go with output='softmax'; "
        "expected cross-entropy, cross-entropy-sum, mse, half-mse, sse, half-sse, sse-per-sample, "
        "half-sse-per-sample.",
        id="loss-of-another-output",
    ),
    pytest.param(
        shapes(**XOR_SHAPES),
        {"loss": "cross-entropy"},
        "W2 has 1 output; a softmax over 1 output is always 1, expected 2+.",
        id="softmax-of-one-output",
    ),
    pytest.param(
        {**shapes(**XOR_SHAPES), "W1" + "0" * 5000: np.zeros(())},
        {},
        f"unknown key 'W1{'0' * 34}...; expected W1, b1, ..., WL, bL (or w1, ...), X or Y.",
        id="huge-layer-number",
    ),
    pytest.param(
        {"W1": np.zeros((1, 1)), "note\nline two": np.zeros(())},
        {},
        "unknown key 'note\\nline two'; expected W1, b1, ..., WL, bL (or w1, ...), X or Y.",
        id="key-with-a-newline",
    ),
    pytest.param(
        [np.zeros((2, 2))],
        {},
        "params is a list; expected a dict of arrays keyed W1, b1, ...",
        id="not-a-dict",
    ),
]


@pytest.mark.parametrize(("params", "options", "message"), REFUSED)
def test_describe_refuses_what_is_not_a_network_in_one_line(
    params: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(nw.NetworkError) as info:
        nw.describe(params, **options)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_the_layout_is_inferred_from_chaining_alone_when_x_is_absent() -> None:
    assert nw.describe(shapes(**XOR_SHAPES)) == nw.XOR
    rows = nw.describe(shapes(W1=(2, 3), b1=(3,), W2=(3, 1), b2=(1,)))
    assert (rows.layout, rows.widths, rows.param_shapes["W2"]) == ("rows", (2, 3, 1), (3, 1))


SOFTMAX = nw.Network.from_widths((2, 3), output="softmax")
BAD_DATA = [
    pytest.param(
        nw.XOR,
        np.zeros((4, 2)),
        np.zeros(4),
        "X has shape (4, 2); expected (2, m) with m >= 1 (columns layout).",
        id="X-in-rows",
    ),
    pytest.param(
        nw.XOR,
        np.zeros((2, 4)),
        np.zeros((4, 1)),
        "Y has shape (4, 1); expected (1, 4) or (4,) for 4 samples and 1 output (columns layout).",
        id="Y-in-rows",
    ),
    pytest.param(
        dataclasses.replace(SOFTMAX, layout="rows", bias_shapes=((3,),)),
        np.zeros((4, 2)),
        np.array([0, 1, 3, 2]),
        "Y[2] is 3.0; expected a class 0 to 2, or one-hot labels (4, 3).",
        id="class-out-of-range",
    ),
    pytest.param(
        SOFTMAX,
        np.zeros((2, 2)),
        np.array([0.5, 1.0]),
        "Y[0] is 0.5; expected a class 0 to 2, or one-hot labels (3, 2).",
        id="class-not-integer",
    ),
    pytest.param(
        SOFTMAX,
        np.zeros((2, 2)),
        np.zeros((2, 3)),
        "Y has shape (2, 3); expected (3, 2) or (2,) classes for 2 samples and 3 outputs (columns layout).",
        id="one-hot-in-rows",
    ),
]


@pytest.mark.parametrize(("net", "X", "Y", "message"), BAD_DATA)
def test_data_that_does_not_fit_the_network_is_refused_in_one_line(
    net: nw.Network, X: np.ndarray, Y: np.ndarray, message: str
) -> None:
    with pytest.raises(nw.NetworkError) as info:
        nw.loss(
            net, dict(zip(net.keys, nw.unflatten(net, np.zeros(net.n_params)).values(), strict=True)), X, Y
        )
    assert str(info.value) == message


def test_parameters_must_match_their_description() -> None:
    params = model.init_params(0)
    X, Y = model.xor_data()
    with pytest.raises(
        nw.NetworkError, match=r"^b1 has shape \(2,\); expected \(2, 1\) for the 2-2-1 network"
    ):
        nw.loss(nw.XOR, {**params, "b1": params["b1"].reshape(2)}, X, Y)
    with pytest.raises(nw.NetworkError, match=r"^W2 is missing; expected an array of shape \(1, 2\)"):
        nw.loss(nw.XOR, {k: v for k, v in params.items() if k != "W2"}, X, Y)
    with pytest.raises(nw.NetworkError, match=r"^'W3' is not a parameter of the 2-2-1 network"):
        nw.loss(nw.XOR, {**params, "W3": np.zeros((1, 1))}, X, Y)
    assert nw.loss(nw.XOR, {**params, "X": X, "Y": Y}, X, Y) == nw.loss(nw.XOR, params, X, Y)


# --- (f) flat vectors and batches ---------------------------------------------------------------


@given(cases())
def test_flatten_and_unflatten_are_inverse(case: Case) -> None:
    theta = nw.flatten(case.net, case.params)
    assert theta.shape == (case.net.n_params,)
    assert len(nw.element_names(case.net)) == theta.size
    back = nw.unflatten(case.net, theta)
    assert list(back) == list(case.net.keys)
    for key, value in case.params.items():
        np.testing.assert_array_equal(back[key], value)
    np.testing.assert_array_equal(nw.flatten(case.net, back), theta)


@given(cases(), st.integers(1, 5))
def test_batched_losses_and_gradients_equal_the_loop_over_vectors(case: Case, k: int) -> None:
    rng = np.random.default_rng(k)
    net = case.net
    thetas = nw.flatten(net, case.params) + 0.1 * rng.standard_normal((k, net.n_params))
    values, grads = nw.losses_and_gradients(net, thetas, case.X, case.Y)
    np.testing.assert_allclose(nw.losses(net, thetas, case.X, case.Y), values, rtol=0, atol=0)
    for theta, value, grad in zip(thetas, values, grads, strict=True):
        params = nw.unflatten(net, theta)
        one_value, one_grads = nw.loss_and_gradients(net, params, case.X, case.Y)
        assert value == pytest.approx(one_value, rel=8 * EPS, abs=8 * EPS)
        expected = nw.flatten(net, one_grads, net.grad_keys)
        np.testing.assert_allclose(grad, expected, rtol=8 * EPS, atol=8 * EPS * scale_of(expected))


@given(cases(), st.integers(1, 5))
def test_batched_outputs_are_each_vectors_forward_output(case: Case, k: int) -> None:
    rng = np.random.default_rng(k)
    net = case.net
    thetas = nw.flatten(net, case.params) + 0.1 * rng.standard_normal((2, k, net.n_params))
    outputs = nw.outputs(net, thetas, case.X)
    m = case.X.shape[1 if net.layout == "columns" else 0]
    assert outputs.shape == (2, k) + ((net.n_out, m) if net.layout == "columns" else (m, net.n_out))
    for index in np.ndindex(2, k):
        expected = nw.forward(net, nw.unflatten(net, thetas[index]), case.X)[f"A{net.depth}"]
        np.testing.assert_allclose(outputs[index], expected, rtol=8 * EPS, atol=8 * EPS * scale_of(expected))


@given(cases())
def test_backward_from_the_cache_and_the_loss_terms_agree_with_the_rest(case: Case) -> None:
    net = case.net
    value, grads = nw.loss_and_gradients(net, case.params, case.X, case.Y)
    from_cache = nw.backward(net, case.params, nw.forward(net, case.params, case.X), case.X, case.Y)
    assert list(from_cache) == [
        k for i, pair in enumerate(net.names, 1) for k in (f"dZ{i}", *("d" + p for p in pair if p))
    ]
    for key, grad in grads.items():
        np.testing.assert_array_equal(from_cache[key], grad)
    assert float(np.sum(nw.loss_terms(net, case.params, case.X, case.Y))) == pytest.approx(
        value, rel=1e-13, abs=1e-300
    )


# --- (g) the XOR default is the notebook's network ---------------------------------------------


@given(strategies.parameters())
def test_the_xor_network_runs_the_notebooks_forward_pass_and_its_backward_is_half_mse(
    params: dict[str, np.ndarray],
) -> None:
    X, Y = nb.inputs.astype(np.float64), nb.outputs
    A1, A2 = nb.forward_propagation(X, params)
    ours = nw.forward(nw.XOR, params, X)
    np.testing.assert_allclose(ours["A1"], A1, rtol=4 * EPS, atol=4 * EPS)
    np.testing.assert_allclose(ours["A2"], A2, rtol=4 * EPS, atol=4 * EPS)
    # The notebook's dZ2 = (A2 - Y) A2 (1 - A2), divided by m, is the exact gradient of half
    # the mean squared error (its relu'(0) = 0 too). The notebook rounds 1 - A2 where A2 is
    # near 1 (ours does not): an error of a few eps per dZ2 element, through W2 and A1.
    half_mse = dataclasses.replace(nw.XOR, loss="half-mse")
    reach = (1.0 + np.max(np.abs(params["W2"]))) * (1.0 + np.max(np.abs(A1)))
    notebook_grads = nb.backword_propagation(params, A1, A2, X, Y)
    for key, grad in nw.gradients(half_mse, params, X, Y).items():
        np.testing.assert_allclose(grad, notebook_grads[key], rtol=1e-12, atol=16 * EPS * reach, err_msg=key)


def test_the_xor_network_describes_the_notebook() -> None:
    net = nw.XOR
    assert (net.widths, net.hidden, net.output, net.loss, net.layout) == (
        (2, 2, 1),
        "relu",
        "sigmoid",
        "bce",
        "columns",
    )
    assert dict(net.param_shapes) == XOR_SHAPES
    assert net.grad_keys == ("dW1", "db1", "dW2", "db2")
    assert nw.element_names(net)[:2] == ("dW1[0, 0]", "dW1[0, 1]")
    assert nw.formulas(net) == ("-sum(Y * log(A2) + (1 - Y) * log(1 - A2)) / m", "(A2 - Y) / m")
    assert nw.describe(
        {"w1": np.zeros((2, 2)), "b1": np.zeros((2, 1)), "w2": np.zeros((1, 2))}
    ).grad_keys == ("dw1", "db1", "dw2")
