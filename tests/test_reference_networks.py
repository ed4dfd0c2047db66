"""Any network: the PyTorch and JAX references agree with :mod:`gradcheck_xor.network`.

Networks come from :mod:`gradcheck_xor.strategies`: one to three layers of widths 1-12,
every hidden activation x output x loss x layout, any bias style, labels of the output's
kind, parameters in every regime. Tests taking ``impl`` run once per framework; the forward
pass, the loss and each gradient have an assertion of their own, so a failure names its stage.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from gradcheck_xor import crossval
from gradcheck_xor import network as nw
from gradcheck_xor.strategies import REGIMES, datasets, networks, parameters

EPS = float(np.finfo(np.float64).eps)
TOL = 1e-12


@dataclasses.dataclass
class Case:
    net: nw.Network
    params: dict[str, np.ndarray]
    X: np.ndarray
    Y: np.ndarray
    regime: str


@st.composite
def cases(draw: st.DrawFn, max_samples: int = 6, min_hidden_layers: int = 0, sigmoid: bool = False) -> Case:
    """A network, its data and its parameters; ``sigmoid``: its output a sigmoid with the
    mean binary cross-entropy, the notebook's."""
    net = draw(networks(min_hidden_layers=min_hidden_layers, max_hidden_layers=2), label="net")
    if sigmoid:
        net = dataclasses.replace(net, output="sigmoid", loss="bce")
    X, Y = draw(datasets(max_samples=max_samples, network=net, soft_labels=draw(st.booleans())), label="data")
    regime = draw(st.sampled_from(REGIMES if net.depth > 1 else ("generic", "saturated")), label="regime")
    return Case(net, draw(parameters(regime, X, network=net), label="params"), X, Y, regime)


def scale_of(values: np.ndarray) -> float:
    # Floored where JAX flushes a subnormal result to zero: nothing below is compared.
    return max(float(np.max(np.abs(values), initial=0.0)), 1e-290)


def comparable(impl: ModuleType, case: Case) -> float:
    """The relative tolerance gradients are compared with, once the draws no implementation
    can match are set aside.

    XLA on CPU flushes subnormal numbers to zero (see reference_impls.jax_xor), which
    hypothesis likes to draw: for JAX they are made zero in the case itself, and a draw whose
    pre-activations still hold one is left out. A saturated tanh or sigmoid hidden unit's
    slope, 1 - A^2 or A (1 - A), changes by about 2 eps when A changes by an ulp (NumPy's tanh
    and the frameworks' may differ by one): by 2 eps / slope of itself. The tolerance grows
    past 1e-12 where that is larger.
    """
    net, tiny = case.net, np.finfo(np.float64).tiny
    if impl.__name__.endswith("jax_xor"):
        for key, value in case.params.items():
            case.params[key] = np.where(np.abs(value) < tiny, 0.0, value)
        case.X = np.where(np.abs(case.X) < tiny, 0.0, case.X)
    cache = nw.forward(net, case.params, case.X)
    hidden = [cache[f"A{i}"] for i in range(1, net.depth)]
    slope = 1.0
    if net.hidden == "tanh":
        slope = min((float(np.min(1.0 - a * a)) for a in hidden), default=1.0)
    elif net.hidden == "sigmoid":
        slope = min((float(np.min(a * (1.0 - a))) for a in hidden), default=1.0)
    assume(slope > 1e-8)
    if impl.__name__.endswith("jax_xor"):
        zs = [cache[f"Z{i}"] for i in range(1, net.depth + 1)]
        assume(not any(np.any((z != 0) & (np.abs(z) < tiny)) for z in zs))
    return max(TOL, 8 * EPS / slope)


def assert_gradients_agree(grads: dict, reference: dict, case: Case, tol: float, label: str = "") -> None:
    assert set(grads) == set(reference)
    for key, ref in reference.items():
        assert grads[key].shape == ref.shape, f"{key} shape"
        if case.regime == "saturated":
            # There the frameworks' dZ = A - Y keeps digits only to eps of 1 + |Y| (NumPy's, all
            # of them): compared as compare does, relative to the scale or absolutely below 1.
            assert crossval.disagreement(grads[key], ref) <= tol, f"{key}{label}"
        else:
            np.testing.assert_allclose(
                grads[key], ref, rtol=tol, atol=tol * scale_of(ref), err_msg=f"{key}{label}"
            )


@given(case=cases())
def test_forward_loss_and_each_gradient_agree_with_numpy_for_any_network(
    impl: ModuleType, case: Case
) -> None:
    tol = comparable(impl, case)
    net, params, X, Y = case.net, case.params, case.X, case.Y
    cache = nw.forward(net, params, X)
    forward = impl.forward(params, X, net=net)
    assert list(forward) == list(cache)
    for key, ref in cache.items():
        assert forward[key].shape == ref.shape, f"forward {key} shape"
        np.testing.assert_allclose(
            forward[key], ref, rtol=TOL, atol=TOL * scale_of(ref), err_msg=f"forward {key}"
        )

    # The frameworks' losses round A - Y, or softplus(z) - y z, to eps of 1 + |y| + |z| per
    # term where the output saturates; NumPy's do not: the tolerance is 1e-12 of that scale.
    last = cache[f"Z{net.depth}"]
    m = X.shape[1 if net.layout == "columns" else 0]
    N = net.spec.normaliser(net.n_out, m)
    terms = float(np.sum(1.0 + np.abs(last))) / N
    assert impl.loss(params, X, Y, net=net) == pytest.approx(
        nw.loss(net, params, X, Y), rel=TOL, abs=TOL * terms
    )

    assert_gradients_agree(impl.gradients(params, X, Y, net=net), nw.gradients(net, params, X, Y), case, tol)


@given(case=cases(sigmoid=True))
@settings(max_examples=20)
def test_the_notebooks_rule_is_half_the_mean_squared_error_for_any_sigmoid_network(
    impl: ModuleType, case: Case
) -> None:
    tol = comparable(impl, case)
    half_mse = dataclasses.replace(case.net, loss="half-mse")
    reference = nw.gradients(half_mse, case.params, case.X, case.Y)
    grads = impl.gradients(case.params, case.X, case.Y, net=case.net, rule="notebook")
    assert_gradients_agree(grads, reference, case, tol)


@given(case=cases(min_hidden_layers=1))
@settings(max_examples=20)
def test_at_a_relu_kink_relu_takes_0_and_maximum_one_half_in_any_network(
    impl: ModuleType, case: Case
) -> None:
    # The notebook's kink, in any network: an input of zeros and a zero bias give Z1 = 0.
    net = dataclasses.replace(case.net, hidden="relu")
    X, params = case.X.copy(), {key: value.copy() for key, value in case.params.items()}
    (X[:, 0] if net.layout == "columns" else X[0])[...] = 0.0
    if net.biases[0]:
        params[net.names[0][1]].reshape(-1)[0] = 0.0
    kinked = Case(net, params, X, case.Y, case.regime)
    tol = comparable(impl, kinked)
    params, X = kinked.params, kinked.X
    assert nw.forward(net, params, X)["Z1"].flat[0] == 0.0
    for relu, slope in (("relu", 0.0), ("maximum", 0.5)):
        reference = nw.gradients(net, params, X, case.Y, relu_at_zero=slope)
        grads = impl.gradients(params, X, case.Y, net=net, relu=relu)
        assert_gradients_agree(grads, reference, kinked, tol, f" ({relu})")


@given(case=cases(max_samples=5))
@settings(max_examples=8)
def test_training_follows_numpys_trajectory_for_any_network(impl: ModuleType, case: Case) -> None:
    framework = "torch" if impl.__name__.endswith("torch_xor") else "jax"
    comparable(impl, case)
    # A summed loss grows with the samples and outputs; so would its steps, to overflow.
    net, m = case.net, case.X.shape[1 if case.net.layout == "columns" else 0]
    lr = 0.05 / (net.n_out * m) if net.spec.per == "sum" else 0.05
    comparison = crossval.compare(
        case.params, case.X, case.Y, net=net, steps=200, lr=lr, frameworks=(framework,)
    )
    note(crossval.format_comparison(comparison))
    for stage in comparison.stages:
        # A trajectory that amplifies rounding is marked so, and its rule's gradients agree.
        assert stage.verdict[framework] in ("agree", "chaotic"), (stage.name, stage.disagreement)
        if stage.verdict[framework] == "chaotic":
            assert any("amplifies rounding" in note for note in comparison.notes)
