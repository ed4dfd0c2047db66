"""The oracle on any fully connected network: widths 1-12, one to three hidden layers, every
hidden activation x output x loss x layout x bias style. Right backward passes pass, written
by hand in either layout or computed by PyTorch's autograd; each mistake a learner makes gets
its verdict, wherever it changes the gradient."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradcheck_xor import check_backward, strategies
from gradcheck_xor import network as nw
from gradcheck_xor.gradcheck import default_points, label_layouts

Params = dict[str, np.ndarray]
# What a learner writes for each hidden activation's derivative, from Z and A.
DERIVATIVES = {
    "relu": lambda Z, A: (Z > 0).astype(float),
    "leaky_relu": lambda Z, A: np.where(Z > 0, 1.0, nw.LEAKY_SLOPE),
    "tanh": lambda Z, A: 1 - A**2,
    "sigmoid": lambda Z, A: A * (1 - A),
    "identity": lambda Z, A: np.ones_like(Z),
}


@st.composite
def problems(draw: st.DrawFn, regime: str = "generic") -> tuple[nw.Network, Params, np.ndarray, Any]:
    """A network, its parameters in a regime, and data it fits."""
    net = draw(strategies.networks())
    if regime != "generic":
        assume(net.depth >= 2)
    X, Y = draw(strategies.datasets(2, 6, network=net))
    with np.errstate(over="ignore"):  # a near-kink draw may divide by a subnormal input
        params = draw(strategies.parameters(regime, X, network=net))  # type: ignore[arg-type]
    # Weights beyond 1e6 (a near-kink draw dividing by a tiny input) move a logit by 1e80 for
    # a step of 1e-6: no finite difference means anything there.
    assume(all(np.abs(v).max(initial=0.0) < 1e6 for v in params.values()))
    return net, params, X, Y


def options(net: nw.Network) -> dict[str, str]:
    return {"hidden": net.hidden, "output": net.output, "loss": net.loss, "layout": net.layout}


# --- a backward pass written by hand, the way a learner writes one, in either layout ----------


def _labels(net: nw.Network, Y: np.ndarray, m: int) -> np.ndarray:
    """Labels 2-D in the columns orientation: (n_out, m), classes made one-hot."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = (np.arange(net.n_out)[:, None] == Y).astype(float) if net.output == "softmax" else Y[None]
        return Y
    return Y if net.layout == "columns" else Y.T


def _output_dz(net: nw.Network, A: np.ndarray, Y: np.ndarray, loss: str) -> np.ndarray:
    """dLoss/dZ_L of ``loss`` for the network's output A (columns orientation)."""
    spec = nw.LOSS_CATALOGUE[loss]
    N = spec.normaliser(*A.shape)
    if spec.kind in ("bce", "cross-entropy"):
        return (A - Y) / N
    dA = 2 * spec.factor * (A - Y) / N
    if net.output == "sigmoid":
        return dA * A * (1 - A)
    if net.output == "softmax":
        return A * (dA - np.sum(dA * A, axis=0, keepdims=True))
    return dA


def handwritten(net: nw.Network, mutation: str = "", **how: Any) -> Any:
    """``backward(params, cache, X, Y)`` for ``net``, with one ``mutation`` (see the tests)."""
    cols = net.layout == "columns"

    def turn(a: np.ndarray) -> np.ndarray:  # the caller's layout <-> columns
        return a if cols else a.T

    def backward(params: Params, cache: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> Params:
        L = net.depth
        m = X.shape[1] if cols else X.shape[0]
        A = {i: turn(cache[f"A{i}"]) for i in range(L + 1)}
        Z = {i: turn(cache[f"Z{i}"]) for i in range(1, L + 1)}
        Yc = _labels(net, Y, m)
        dZ = _output_dz(net, A[L], Yc, how.get("loss", net.loss))
        if mutation == "missing normaliser":
            dZ = dZ * net.spec.normaliser(net.n_out, m)
        if mutation == "sign":
            dZ = -dZ
        grads: Params = {}
        for layer in range(L, 0, -1):
            (w, b), W = net.names[layer - 1], turn(params[net.names[layer - 1][0]])
            dW = dZ @ A[layer - 1].T
            if mutation == "transposed" and layer == how["layer"]:
                dW = dW.T
            grads["d" + w] = turn(dW)
            if b is not None:
                wrong_axis = mutation == "bias axis" and layer == how["layer"]
                db = dZ.sum(axis=0 if wrong_axis else 1)
                grads["d" + b] = db if wrong_axis else db.reshape(np.shape(params[b]))
            if mutation == "dropped" and layer == how["layer"]:
                grads["d" + w] = np.zeros_like(grads["d" + w])
                if b is not None:
                    grads["d" + b] = np.zeros(np.shape(params[b]))
            if layer > 1:
                derivative = DERIVATIVES[how.get("derivative", net.hidden)]
                dZ = (W.T @ dZ) * derivative(Z[layer - 1], A[layer - 1])
        return grads

    return backward


def flat(net: nw.Network, grads: Params) -> np.ndarray:
    return np.concatenate([np.ravel(grads[key]) for key in net.grad_keys])


def visible(net: nw.Network, params: Params, X: Any, Y: Any, backward: Any) -> bool:
    """Whether a wrong backward's gradient differs from the right one beyond the tolerances."""
    cache = {"A0": X, **nw.forward(net, params, X)}
    labels = label_layouts(net, Y)
    truth = flat(net, nw.gradients(net, params, X, Y))
    for Y_ in labels.values():
        try:
            with np.errstate(all="ignore"):
                wrong = flat(net, backward(params, cache, X, Y_))
        except ValueError:  # the shapes of a transposed or mis-summed gradient
            return True
        if wrong.shape != truth.shape or np.any(np.abs(wrong - truth) > 1e-4 + 1e-3 * np.abs(truth)):
            return True
    return False


# --- the numbers: a rank-one change of one layer is a forward pass --------------------------------


@settings(max_examples=40)
@given(st.sampled_from(strategies.REGIMES).flatmap(problems), st.data())
def test_the_loss_after_one_row_of_a_layer_changes_is_the_full_forward_pass(
    problem: tuple, data: Any
) -> None:
    net, params, X, Y = problem
    layer = data.draw(st.integers(0, net.depth - 1))
    t = data.draw(st.sampled_from([-2e-6, 1e-6, 0.25]))
    layers = nw.layers(net, params)
    Xc, Yc = nw.columns(net, X, Y)
    Zs, As = nw.pre_activations(net, layers, Xc)
    (w, b), (W, _) = net.names[layer], layers[layer]
    rows, deltas, expected = [], [], []
    for i, j in np.ndindex(W.shape[0], W.shape[1] + (b is not None)):
        moved = {key: np.array(value, copy=True) for key, value in params.items()}
        if j < W.shape[1]:  # W[i, j] in the columns orientation
            moved[w][(i, j) if net.layout == "columns" else (j, i)] += t
            deltas.append(t * As[layer][j])
        else:
            moved[b].reshape(-1)[i] += t  # type: ignore[index]
            deltas.append(np.full(Xc.shape[1], t))
        rows.append(i)
        expected.append(nw.loss(net, moved, X, Y))
    got = nw.losses_after(net, layers, Zs, Yc, layer, np.array(rows), np.array(deltas))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


# --- right backward passes pass -------------------------------------------------------------


@settings(max_examples=40)
@given(st.sampled_from(strategies.REGIMES).flatmap(problems))
def test_the_networks_own_gradient_passes_through_call(problem: tuple) -> None:
    net, params, X, Y = problem
    call = lambda backward, p, X_, Y_: backward(net, p, X_, Y_)  # noqa: E731
    report = check_backward(nw.gradients, params, X, Y, call=call, **options(net))
    assert report.ok, report
    assert report.network == net


@settings(max_examples=40)
@given(st.sampled_from(strategies.REGIMES).flatmap(problems))
def test_a_handwritten_backward_passes_in_either_layout(problem: tuple) -> None:
    net, params, X, Y = problem
    report = check_backward(handwritten(net), params, X, Y, **options(net))
    assert report.ok, report
    assert report.layouts == tuple(label_layouts(net, Y))


@settings(max_examples=20)
@given(problems())
def test_pytorch_autograd_passes_through_call(torch_xor: Any, problem: tuple) -> None:
    net, params, X, Y = problem
    call = lambda backward, p, X_, Y_: backward(p, X_, Y_, net=net)  # noqa: E731
    report = check_backward(torch_xor.gradients, params, X, Y, call=call, **options(net))
    assert report.ok, report


def _data(net: nw.Network, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in [-1, 2] and labels of every class (or 0 and 1) in turn."""
    X = np.random.default_rng(seed).uniform(-1, 2, (net.widths[0], m))
    if net.output == "softmax":
        Y = np.arange(m) % net.n_out
    else:
        Y = (np.arange(net.n_out * m) % 2).astype(float).reshape(net.n_out, m)
    return (X, Y) if net.layout == "columns" else (X.T, Y.T if Y.ndim == 2 else Y)


@settings(max_examples=20)
@given(strategies.networks(max_width=6), st.integers(0, 2**32 - 1))
def test_a_right_backward_passes_at_the_default_points_of_any_network(net: nw.Network, seed: int) -> None:
    X, Y = _data(net, 5, seed)
    report = check_backward(handwritten(net), net, X, Y, seed=seed)
    assert report.ok, report
    assert report.points[:2] == ("random", "random-2") or report.points[0] == "notebook-init"


# --- the default points ------------------------------------------------------------------------


@settings(max_examples=30)
@given(strategies.networks(max_width=8), st.integers(0, 2**32 - 1))
def test_default_points_exercise_what_their_names_say(net: nw.Network, seed: int) -> None:
    X, Y = _data(net, 6, seed)
    points = dict(default_points(seed, X, Y, network=net))
    kinked = net.hidden in ("relu", "leaky_relu")
    assert ("partly-inactive" in points or "dead-unit" in points) <= kinked
    assert ("near-saturated" in points) == (net.output != "identity")
    for name, params in points.items():
        nw.layers(net, params)  # the caller's keys and shapes
        Z = [nw.forward(net, params, X)[f"Z{i}"] for i in range(1, net.depth + 1)]
        Z = [z if net.layout == "columns" else z.T for z in Z]
        hidden = [(z, b) for z, (_, b) in zip(Z[:-1], net.names, strict=False)]
        if name == "partly-inactive":  # unit 0 of some hidden layer off on some samples, on on others
            assert any(b is not None and (z[0] < 0).any() and (z[0] > 0).any() for z, b in hidden)
        if name == "dead-unit":  # the last unit of some hidden layer off everywhere, unit 0 on somewhere
            assert any(b is not None and (z[-1] < 0).all() and (z[0] > 0).any() for z, b in hidden)
        if name == "near-saturated":
            assert np.abs(Z[-1]).max() == pytest.approx(15.0)


# --- each mistake gets its verdict ---------------------------------------------------------------


def off_the_kinks(net: nw.Network, params: Params, X: Any) -> bool:
    """No hidden pre-activation at a kink, where any value between the one-sided derivatives
    is right (a leaky ReLU's derivative is then a right answer for a ReLU network)."""
    if net.hidden not in ("relu", "leaky_relu"):
        return True
    cache = nw.forward(net, params, X)
    return all(np.abs(cache[f"Z{i}"]).min() > 1e-6 for i in range(1, net.depth))


def check(net: nw.Network, params: Params, X: Any, Y: Any, backward: Any) -> Any:
    assume(off_the_kinks(net, params, X) and visible(net, params, X, Y, backward))
    return check_backward(backward, params, X, Y, **options(net))


def _gradient(net: nw.Network, params: Params, X: Any, Y: Any, backward: Any) -> np.ndarray:
    cache = {"A0": X, **nw.forward(net, params, X)}
    return flat(net, backward(params, cache, X, list(label_layouts(net, Y).values())[-1]))


@settings(max_examples=30)
@given(problems())
def test_a_missing_normaliser_is_the_factor_of_the_summed_loss(problem: tuple) -> None:
    net, params, X, Y = problem
    assume(net.spec.per != "sum")
    report = check(net, params, X, Y, handwritten(net, "missing normaliser"))
    m = X.shape[1 if net.layout == "columns" else 0]
    assert report.verdict == "scaled", report
    assert report.details["fitted"] == pytest.approx(net.spec.normaliser(net.n_out, m), rel=1e-3)
    summed = {
        "bce": "bce-sum",
        "bce-per-sample": "bce-sum",
        "cross-entropy": "cross-entropy-sum",
        "mse": "sse",
        "half-mse": "half-sse",
        "sse-per-sample": "sse",
        "half-sse-per-sample": "half-sse",
    }
    assert summed[net.loss] in report.details["losses"]


@settings(max_examples=30)
@given(problems())
def test_a_sign_flip_is_a_factor_minus_one(problem: tuple) -> None:
    net, params, X, Y = problem
    report = check(net, params, X, Y, handwritten(net, "sign"))
    assert report.verdict == "scaled", report
    assert report.details["factor"] == -1.0 and "sign" in report.details["meaning"]


@settings(max_examples=40)
@given(problems(), st.data())
def test_dz_from_another_loss_names_what_the_backward_is_the_gradient_of(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    other = data.draw(st.sampled_from([k for k, v in nw.LOSS_CATALOGUE.items() if net.output in v.outputs]))
    assume(other != net.loss)
    backward = handwritten(net, "other loss", loss=other)
    report = check(net, params, X, Y, backward)
    wrong = _gradient(net, params, X, Y, backward)
    truth = flat(net, nw.gradients(net, params, X, Y))
    # Whatever the verdict says the backward is, it is.
    if report.verdict == "scaled":
        np.testing.assert_allclose(wrong, report.details["fitted"] * truth, rtol=1e-4, atol=1e-6)
    else:
        assert report.verdict == "matches-other-loss", report
        d = report.details
        named = dataclasses.replace(net, hidden=d["hidden"], output=d["output"], loss=d["loss"])
        np.testing.assert_allclose(wrong, flat(net, nw.gradients(named, params, X, Y)), rtol=1e-4, atol=1e-6)


@settings(max_examples=40)
@given(problems(), st.data())
def test_another_activations_derivative_is_a_mismatch_in_the_hidden_layers(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    assume(net.depth >= 2)
    derivative = data.draw(st.sampled_from([h for h in nw.HIDDEN if h != net.hidden]))
    backward = handwritten(net, "derivative", derivative=derivative)
    report = check(net, params, X, Y, backward)
    if report.verdict == "matches-other-loss":  # another hidden activation whose forward pass is the
        d = report.details  # same here (tanh and relu at Z = 0, say): then the claim must hold
        named = dataclasses.replace(net, hidden=d["hidden"], output=d["output"], loss=d["loss"])
        wrong = _gradient(net, params, X, Y, backward)
        np.testing.assert_allclose(wrong, flat(net, nw.gradients(named, params, X, Y)), rtol=1e-4, atol=1e-6)
        return
    if report.verdict == "scaled":  # where the derivatives differ by one factor (every hidden Z
        wrong = _gradient(net, params, X, Y, backward)  # at 0, say): then the claim must hold
        right = flat(net, nw.gradients(net, params, X, Y))
        np.testing.assert_allclose(wrong, report.details["fitted"] * right, rtol=1e-4, atol=1e-6)
        return
    assert report.verdict == "mismatch", report
    output_keys = ["d" + key for key in net.names[-1] if key is not None]
    assert all(report.details["keys"][g] == "right" for g in output_keys)
    if (
        derivative != "identity"
        and net.hidden != "identity"
        and (derivative, net.hidden) != ("relu", "leaky_relu")
    ):
        assert report.details.get("cause") in (
            f"{derivative}-derivative-in-hidden-layer",
            "activation-derivative-missing",
            "activation-output-as-derivative",
            None,
        )


@settings(max_examples=40)
@given(problems(), st.data())
def test_a_transposed_weight_gradient_is_a_shape_or_named_transposed(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    layer = data.draw(st.integers(1, net.depth))
    report = check(net, params, X, Y, handwritten(net, "transposed", layer=layer))
    key = "d" + net.names[layer - 1][0]
    n_prev, n = net.widths[layer - 1], net.widths[layer]
    if n == n_prev:
        assert report.verdict == "mismatch", report
        assert report.details["keys"][key].startswith("transposed")
    else:
        assert report.verdict == "shape-mismatch", report
        assert report.details["key"] == key


@settings(max_examples=40)
@given(problems(), st.data())
def test_a_bias_summed_over_the_wrong_axis_is_caught(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    layers = [i for i, (_, b) in enumerate(net.names, 1) if b is not None]
    assume(layers)
    layer = data.draw(st.sampled_from(layers))
    report = check(net, params, X, Y, handwritten(net, "bias axis", layer=layer))
    key = "d" + net.names[layer - 1][1]  # type: ignore[operator]
    shape, m = net.bias_shapes[layer - 1], X.shape[1 if net.layout == "columns" else 0]
    fits = m == int(np.prod(shape)) and np.broadcast_shapes((m,), shape) == shape  # type: ignore[arg-type]
    if fits:  # the wrong sum happens to have the bias's shape: its values give it away
        assert report.verdict == "mismatch", report
        assert report.details["keys"][key] != "right"
    else:
        assert report.verdict == "shape-mismatch", report
        assert report.details["key"] == key


@settings(max_examples=40)
@given(problems(), st.data())
def test_a_dropped_layer_is_zero_everywhere(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    layer = data.draw(st.integers(1, net.depth))
    backward = handwritten(net, "dropped", layer=layer)
    report = check(net, params, X, Y, backward)
    if report.verdict == "matches-other-loss":  # another network whose gradient is 0 there (a
        d = report.details  # ReLU's at Z = 0 where tanh's is not, say): then the claim must hold
        named = dataclasses.replace(net, hidden=d["hidden"], output=d["output"], loss=d["loss"])
        wrong = _gradient(net, params, X, Y, backward)
        np.testing.assert_allclose(wrong, flat(net, nw.gradients(named, params, X, Y)), rtol=1e-4, atol=1e-6)
        return
    assert report.verdict == "mismatch", report
    states = [report.details["keys"]["d" + key] for key in net.names[layer - 1] if key is not None]
    assert "zero everywhere" in states and set(states) <= {"zero everywhere", "right"}


@pytest.mark.parametrize("outputs", [2, 3])
def test_a_gradient_averaged_over_the_samples_only_is_named_so(outputs: int) -> None:
    """A per-sample backward checked against the element mean: off by the outputs' count,
    which the explanation names, with one catalogue loss for it."""
    net = nw.Network.from_widths((2, 3, outputs), hidden="tanh", loss="bce")
    per_sample = dataclasses.replace(net, loss="bce-per-sample")
    rng = np.random.default_rng(outputs)
    X, Y = rng.normal(size=(2, 5)), rng.integers(0, 2, (outputs, 5)).astype(float)
    call = lambda backward, p, X_, Y_: backward(per_sample, p, X_, Y_)  # noqa: E731
    params = nw.unflatten(net, rng.normal(size=net.n_params))
    report = check_backward(nw.gradients, params, X, Y, call=call, hidden="tanh", loss=net.loss)
    assert report.verdict == "scaled", report
    meaning = f"= {outputs}, the number of outputs: the loss averaged over the samples only"
    assert report.details["meaning"] == meaning
    assert report.details["losses"] == ["bce-per-sample"]


def test_one_output_names_one_loss_for_a_factor_however_many_names_it_has() -> None:
    """With one output the per-sample means are the element means: one name for them."""
    net = nw.Network.from_widths((2, 3, 1), hidden="tanh", loss="bce-sum")
    mean = dataclasses.replace(net, loss="bce")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 5)), rng.integers(0, 2, (1, 5)).astype(float)
    call = lambda backward, p, X_, Y_: backward(mean, p, X_, Y_)  # noqa: E731
    params = nw.unflatten(net, rng.normal(size=net.n_params))
    report = check_backward(nw.gradients, params, X, Y, call=call, hidden="tanh", loss=net.loss)
    assert report.verdict == "scaled", report
    assert report.details["losses"] == ["bce"]
