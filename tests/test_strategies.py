"""The hypothesis strategies: networks, data and parameters are what their docstrings say."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck_xor import model, strategies
from gradcheck_xor import network as nw


@st.composite
def problems(
    draw: st.DrawFn, regime: str
) -> tuple[nw.Network, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    net = draw(strategies.networks())
    X, Y = draw(strategies.datasets(network=net, soft_labels=draw(st.booleans())))
    return net, draw(strategies.parameters(regime, X, network=net)), X, Y


def xor_or_any(regime: str) -> st.SearchStrategy[tuple]:
    """Problems of the XOR default (on its own data) or of any network."""
    xor = strategies.parameters(regime).map(lambda p: (nw.XOR, p, model.xor_data()[0], None))
    return st.one_of(xor, problems(regime))


def pre_activations(net: nw.Network, params: dict[str, np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """Z1 .. ZL in the columns orientation: (units, samples)."""
    cache = nw.forward(net, params, X)
    return [cache[f"Z{i}"] if net.layout == "columns" else cache[f"Z{i}"].T for i in range(1, net.depth + 1)]


# --- networks ----------------------------------------------------------------------------------


@given(strategies.networks())
def test_networks_have_one_to_three_hidden_layers_of_one_to_twelve_units(net: nw.Network) -> None:
    assert 1 <= net.depth - 1 <= 3
    assert all(1 <= n <= 12 for n in net.widths)
    assert net.output != "softmax" or net.n_out >= 2
    assert net.output in nw.LOSS_CATALOGUE[net.loss].outputs
    keys = {w[0] for w, _ in net.names}
    assert len(keys) == 1 and keys <= {"W", "w"}


@given(strategies.networks(min_hidden_layers=0, max_hidden_layers=0, max_width=3))
def test_networks_can_be_a_single_layer_of_few_units(net: nw.Network) -> None:
    assert net.depth == 1
    assert max(net.widths) <= 3


# --- data --------------------------------------------------------------------------------------


@given(strategies.datasets())
def test_xor_datasets_are_two_inputs_per_sample_and_zero_one_labels(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, Y = data
    m = X.shape[1]
    assert X.shape == (2, m) and Y.shape == (m,) and 1 <= m <= 8
    assert np.all((X >= -1.0) & (X <= 2.0))
    assert set(Y.tolist()) <= {0.0, 1.0}


@given(strategies.networks(min_hidden_layers=0), st.booleans(), st.data())
def test_datasets_fit_the_network_and_its_output(net: nw.Network, soft: bool, data: Any) -> None:
    X, Y = data.draw(strategies.datasets(2, 5, network=net, soft_labels=soft))
    _, labels = nw.as_data(net, X, Y)  # refuses data that does not fit
    m = X.shape[1 if net.layout == "columns" else 0]
    assert 2 <= m <= 5
    labels = labels if net.layout == "columns" else labels.T  # (n_out, m)
    if net.output == "softmax":
        np.testing.assert_allclose(labels.sum(axis=0), 1.0, rtol=1e-12)
        assert np.all(labels >= 0.0)
        if not soft:
            assert set(labels.ravel().tolist()) <= {0.0, 1.0}
    elif net.output == "sigmoid":
        assert np.all((labels >= 0.0) & (labels <= 1.0))
        if not soft:
            assert set(labels.ravel().tolist()) <= {0.0, 1.0}
    else:
        assert np.all(np.abs(labels) <= 2.0)


# --- parameters --------------------------------------------------------------------------------


@given(strategies.parameters())
def test_xor_parameters_have_the_notebooks_keys_shapes_and_range(params: dict[str, np.ndarray]) -> None:
    assert {k: v.shape for k, v in params.items()} == dict(model.PARAM_SHAPES)
    for value in params.values():
        assert value.dtype == np.float64
        assert np.all(np.abs(value) <= 2.0)


@given(problems("generic"))
def test_generic_weights_are_scaled_by_their_fan_in(problem: tuple) -> None:
    net, params, _, _ = problem
    assert list(params) == list(net.keys)
    for key, shape in net.param_shapes.items():
        assert params[key].shape == shape and params[key].dtype == np.float64
    for (w, b), fan_in in zip(net.names, net.widths[:-1], strict=True):
        assert np.all(np.abs(params[w]) <= 2.0 * math.sqrt(2.0 / fan_in) * (1 + 1e-15))
        assert b is None or np.all(np.abs(params[b]) <= 2.0)


@given(xor_or_any("near-kink"))
def test_near_kink_puts_one_hidden_pre_activation_just_off_zero(problem: tuple) -> None:
    net, params, X, _ = problem
    hidden = pre_activations(net, params, X)[:-1]
    near = [np.abs(Z)[(np.abs(Z) >= 1e-4 * (1 - 1e-9)) & (np.abs(Z) <= 1e-3 * (1 + 1e-9))] for Z in hidden]
    assert any(n.size for n in near)


@given(xor_or_any("dead-unit"))
def test_dead_unit_has_a_hidden_unit_negative_on_every_sample(problem: tuple) -> None:
    net, params, X, _ = problem
    hidden = pre_activations(net, params, X)[:-1]
    assert any(np.any(np.all(Z < 0.0, axis=1)) for Z in hidden)


@given(xor_or_any("saturated"))
def test_saturated_scales_the_largest_output_logit_to_25_to_35(problem: tuple) -> None:
    net, params, X, _ = problem
    peak = float(np.max(np.abs(pre_activations(net, params, X)[-1])))
    assert 25.0 - 1e-3 <= peak <= 35.0 + 1e-3


# --- arguments ---------------------------------------------------------------------------------

SOFTMAX = nw.Network.from_widths((3, 4, 2), output="softmax", layout="rows")
BAD_ARGUMENTS = [
    pytest.param(
        lambda: strategies.parameters("flat"),  # type: ignore[arg-type]
        "Unknown regime 'flat': expected one of generic, near-kink, dead-unit, saturated.",
        id="unknown-regime",
    ),
    pytest.param(
        lambda: strategies.parameters(network=SOFTMAX),
        "X is missing: the 3-4-2 network (relu hidden, softmax output, cross-entropy loss, rows layout)'s "
        "parameters are drawn against its inputs.",
        id="no-data-for-another-network",
    ),
    pytest.param(
        lambda: strategies.parameters("dead-unit", np.zeros((2, 1)), network=nw.Network.from_widths((2, 1))),
        "regime 'dead-unit' needs a hidden layer; the 2-1 network (relu hidden, sigmoid output, bce loss, "
        "columns layout) has none.",
        id="no-hidden-layer",
    ),
    pytest.param(
        lambda: strategies.parameters("generic", np.zeros((4, 3)), network=nw.XOR),
        "X has shape (4, 3); expected (2, m) with m >= 1 (columns layout).",
        id="data-of-another-layout",
    ),
    pytest.param(
        lambda: strategies.networks(min_hidden_layers=2, max_hidden_layers=1),
        "hidden layers 2 to 1: expected 0 <= min <= max.",
        id="hidden-layers-the-wrong-way-round",
    ),
    pytest.param(lambda: strategies.networks(max_width=0), "max_width=0: expected 1 or more.", id="no-width"),
    pytest.param(
        lambda: strategies.datasets(0, 4), "samples 0 to 4: expected 1 <= min <= max.", id="no-samples"
    ),
]


@pytest.mark.parametrize(("call", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_before_drawing(call: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message
