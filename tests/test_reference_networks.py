"""Any network: the PyTorch and JAX references agree with :mod:`gradcheck_xor.network`.

Networks come from :mod:`gradcheck_xor.strategies`: one to three layers of widths 1-12,
every hidden activation x output x loss x layout, any bias style, labels of the output's
kind, parameters in every regime. Tests taking ``impl`` run once per framework; the forward
pass, the loss and each gradient have an assertion of their own, so a failure names its stage.

Tolerances: each element is compared to 1e-12 of the magnitude of the terms it is made of,
the same computation on absolute values (:func:`magnitudes`). Rounding in any
implementation is a few eps of that, also where the terms cancel, and any mistake is of the
size of a term.
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

TOL = 1e-12
TINY = float(np.finfo(np.float64).tiny)


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


def comparable(impl: ModuleType, case: Case) -> None:
    """Set aside what no implementation can match.

    XLA on CPU flushes subnormal numbers to zero (see reference_impls.jax_xor), which
    hypothesis likes to draw: for JAX they are made zero in the case itself, and a draw whose
    pre-activations still hold one is left out. So is a draw whose values overflow (regimes
    built against tiny inputs may need weights of 1e232).
    """
    net = case.net
    if impl.__name__.endswith("jax_xor"):
        for key, value in case.params.items():
            case.params[key] = np.where(np.abs(value) < TINY, 0.0, value)
        case.X = np.where(np.abs(case.X) < TINY, 0.0, case.X)
    with np.errstate(over="ignore", invalid="ignore"):
        cache = nw.forward(net, case.params, case.X)
        assume(all(np.all(np.isfinite(value)) for value in cache.values()))
        assume(np.isfinite(nw.loss(net, case.params, case.X, case.Y)))
        assume(all(np.all(np.isfinite(value)) for value in magnitudes(case)[1].values()))
    if impl.__name__.endswith("jax_xor"):
        zs = [cache[f"Z{i}"] for i in range(1, net.depth + 1)]
        assume(not any(np.any((z != 0) & (np.abs(z) < TINY)) for z in zs))


def magnitudes(case: Case) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Bounds on the terms that make each element of the forward pass and of the gradient: the
    network run on |parameters| and |X|, and backpropagated from (1 + |A| + |Y|) / N per
    output with every hidden slope taken as 1, as large as any slope here. That bounds what
    the output's dZ may round to too, where A - Y cancels in a saturated output."""
    net = case.net
    absolute = {key: np.abs(value) for key, value in case.params.items()}
    X = np.abs(case.X)
    _, labels = nw.columns(net, case.X, case.Y)
    m = labels.shape[1]
    N = net.spec.normaliser(net.n_out, m)
    forward = nw.forward(net, absolute, X)
    grads = nw.gradients_with(
        net,
        absolute,
        X,
        case.Y,
        dz=lambda dZ, A: 2.0 * (1.0 + np.abs(A) + np.abs(labels)) / N,
        derivative=lambda dA, Z, A: np.abs(dA),
    )
    return forward, grads


def assert_close(actual: np.ndarray, reference: np.ndarray, terms: np.ndarray, what: str) -> None:
    assert np.shape(actual) == np.shape(reference), f"{what} shape"
    allowed = TOL * (np.abs(reference) + terms) + TINY  # TINY: what XLA flushes to zero
    error = np.abs(np.asarray(actual) - reference)
    worst = np.unravel_index(np.argmax(error - allowed), np.shape(error)) if np.size(error) else ()
    assert np.all(error <= allowed), (
        f"{what}{list(worst)}: {np.asarray(actual)[worst]!r} against {reference[worst]!r}, "
        f"terms of {np.asarray(terms)[worst]:.3g}"
    )


def assert_gradients_agree(grads: dict, reference: dict, bounds: dict, label: str = "") -> None:
    assert set(grads) == set(reference)
    for key, ref in reference.items():
        assert_close(grads[key], ref, bounds[key], f"{key}{label}")


@given(case=cases())
def test_forward_loss_and_each_gradient_agree_with_numpy_for_any_network(
    impl: ModuleType, case: Case
) -> None:
    comparable(impl, case)
    net, params, X, Y = case.net, case.params, case.X, case.Y
    forward_terms, grad_terms = magnitudes(case)
    cache = nw.forward(net, params, X)
    forward = impl.forward(params, X, net=net)
    assert list(forward) == list(cache)
    for key, ref in cache.items():
        # An activation's error is its pre-activation's (slopes are at most 1) and its own.
        terms = forward_terms[f"Z{key[1:]}"] + (np.abs(ref) if key[0] == "A" else 0.0)
        assert_close(forward[key], ref, terms, f"forward {key}")

    # The frameworks' losses round A - Y, or softplus(z) - y z, to eps of 1 + |y| + |z| per
    # term where the output saturates; NumPy's do not: the tolerance is 1e-12 of that scale.
    last = forward_terms[f"Z{net.depth}"]
    m = X.shape[1 if net.layout == "columns" else 0]
    terms = float(np.sum(1.0 + last + np.max(np.abs(Y)))) / net.spec.normaliser(net.n_out, m)
    assert impl.loss(params, X, Y, net=net) == pytest.approx(
        nw.loss(net, params, X, Y), rel=TOL, abs=TOL * terms
    )

    assert_gradients_agree(impl.gradients(params, X, Y, net=net), nw.gradients(net, params, X, Y), grad_terms)


@given(case=cases())
def test_autograds_output_dz_and_its_backward_pass_each_agree_with_numpys(
    torch_xor: ModuleType, case: Case
) -> None:
    # Stage by stage: the output layer's dZ, then the backward pass from that same dZ.
    comparable(torch_xor, case)
    net, params, X, Y = case.net, case.params, case.X, case.Y
    run = torch_xor.graph(params, X, Y, net=net)
    last = f"Z{net.depth}"
    (dz,) = torch_xor.torch.autograd.grad(run.loss, run.cache[last], retain_graph=True)
    ours = nw.backward(net, params, nw.forward(net, params, X), X, Y)
    # The frameworks round A - Y to eps of 1 + |A| + |Y| per element (see magnitudes).
    m = X.shape[1 if net.layout == "columns" else 0]
    bound = 2.0 * (1.0 + float(np.max(np.abs(Y)))) / net.spec.normaliser(net.n_out, m)
    assert_close(dz.numpy(), ours[f"d{last}"], np.full(dz.shape, bound), f"d{last}")
    from_dz = run.gradients(run.cache[last], ours[f"d{last}"])
    grads = {key: ours[key] for key in net.grad_keys}
    assert_gradients_agree(from_dz, grads, magnitudes(case)[1], " (from NumPy's dZ)")


@given(case=cases(sigmoid=True))
@settings(max_examples=20)
def test_the_notebooks_rule_is_half_the_mean_squared_error_for_any_sigmoid_network(
    impl: ModuleType, case: Case
) -> None:
    comparable(impl, case)
    half_mse = dataclasses.replace(case.net, loss="half-mse")
    reference = nw.gradients(half_mse, case.params, case.X, case.Y)
    grads = impl.gradients(case.params, case.X, case.Y, net=case.net, rule="notebook")
    assert_gradients_agree(grads, reference, magnitudes(case)[1])


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
    comparable(impl, kinked)
    params, X = kinked.params, kinked.X
    assert nw.forward(net, params, X)["Z1"].flat[0] == 0.0
    bounds = magnitudes(kinked)[1]
    for relu, slope in (("relu", 0.0), ("maximum", 0.5)):
        reference = nw.gradients(net, params, X, case.Y, relu_at_zero=slope)
        grads = impl.gradients(params, X, case.Y, net=net, relu=relu)
        assert_gradients_agree(grads, reference, bounds, f" ({relu})")


@given(case=cases(max_samples=5))
@settings(max_examples=8)
def test_training_follows_numpys_trajectory_for_any_network(impl: ModuleType, case: Case) -> None:
    framework = "torch" if impl.__name__.endswith("torch_xor") else "jax"
    comparable(impl, case)
    # A summed loss grows with the samples and outputs; so would its steps, to overflow.
    net, m = case.net, case.X.shape[1 if case.net.layout == "columns" else 0]
    rate = 0.05 / (net.n_out * m) if net.spec.per == "sum" else 0.05
    comparison = crossval.compare(
        case.params, case.X, case.Y, net=net, steps=200, learning_rate=rate, frameworks=(framework,)
    )
    note(crossval.format_comparison(comparison))
    for stage in comparison.stages:
        # A trajectory that amplifies rounding is marked so, and its rule's gradients agree.
        assert stage.verdict[framework] in ("agree", "chaotic"), (stage.name, stage.disagreement)
        if stage.verdict[framework] == "chaotic":
            assert any("amplifies rounding" in text or "diverges" in text for text in comparison.notes)
