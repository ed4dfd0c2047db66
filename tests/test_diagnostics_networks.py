"""Diagnostics of any fully connected network: every code fires on a deeper network built for
it and names the layer, what a finding claims holds for any network (zero gradients,
identical gradients, a bounded error signal), and a healthy network reports nothing."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcheck_xor import network as nw
from gradcheck_xor import strategies
from gradcheck_xor.diagnostics import CODES, VANISHING_W2, Report, diagnose, format_report

Params = dict[str, np.ndarray]
Case = tuple[nw.Network, Params, np.ndarray, Any]
XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])

# A 2-2-2-1 ReLU network that solves XOR with every unit alive, none on its kink and no layer
# linear on the data: layer 1 is relu(x0 - x1 - 0.5) and relu(x1 - x0 - 0.5), layer 2 says
# whether one of them fired (p) or neither did (q), and the output is 8 (p - q).
HEALTHY = {
    "W1": np.array([[1.0, -1.0], [-1.0, 1.0]]),
    "b1": np.array([[-0.5], [-0.5]]),
    "W2": np.array([[1.0, 1.0], [-1.0, -1.0]]),
    "b2": np.array([[-0.25], [0.25]]),
    "W3": np.array([[8.0, -8.0]]),
    "b3": np.array([[0.0]]),
}
DEEP = nw.describe(HEALTHY)


def _with(net: nw.Network = DEEP, Y: Any = XOR_Y, X: np.ndarray = XOR_X, **changes: Any) -> Case:
    params = {**HEALTHY, **{k: np.asarray(v, dtype=np.float64) for k, v in changes.items()}}
    return net, params, X, Y


def _rows(case: Case) -> Case:
    """The same case in the rows layout: every array transposed."""
    net, params, X, Y = case
    flip = {(n, 1): (1, n) for n in net.widths}
    rows = dataclasses.replace(
        net, layout="rows", bias_shapes=tuple(None if s is None else flip[s] for s in net.bias_shapes)
    )
    Y = np.asarray(Y)
    return rows, {k: v.T.copy() for k, v in params.items()}, X.T.copy(), Y.T.copy() if Y.ndim == 2 else Y


def _run(case: Case, **options: Any) -> Report:
    net, params, X, Y = case
    return diagnose(params, X, Y, net=net, **options)


def _found(report: Report, code: str) -> list:
    return [f for f in report.findings if f.code == code]


TANH = dataclasses.replace(DEEP, hidden="tanh")
SOFTMAX = nw.Network.from_widths((2, 2, 2, 2), output="softmax")
SOFTMAX_W3 = np.array([[-8.0, 8.0], [8.0, -8.0]])  # class 1 where XOR is 1
LINEAR_2 = {"W2": [[1.0, 1.0], [1.0, 2.0]], "b2": [[1.0], [1.0]]}

# (id, case, code, severity, words the message must hold)
CASES: list[tuple[str, Callable[[], Case], str, str, str]] = [
    ("NaN in W3", lambda: _with(W3=[[np.nan, -8.0]]), "non-finite", "error", "W3 (1)"),
    (
        "label 2 for a sigmoid",
        lambda: _with(Y=[0.0, 1.0, 2.0, 0.0]),
        "label-range",
        "error",
        "outside [0, 1]",
    ),
    (
        "class 5 of 2",
        lambda: _with(SOFTMAX, [1, 0, 0, 5], W3=SOFTMAX_W3, b3=np.zeros((2, 1))),
        "label-range",
        "error",
        "outside the classes 0 to 1",
    ),
    ("dead unit in layer 2", lambda: _with(b2=[[-0.25], [-1.0]]), "dead-relu", "error", "unit 1 of layer 2"),
    (
        "identical units in layer 1",
        lambda: _with(W1=[[1.0, -1.0], [1.0, -1.0]]),
        "symmetric-units",
        "error",
        "units 0 and 1 of layer 1 are identical (W1 rows [1, -1], b1 -0.5, W2 columns [1, -1])",
    ),
    (
        "tiny W3",
        lambda: _with(W3=[[8e-10, -8e-10]]),
        "vanishing-w2",
        "warning",
        "|W3| of hidden units 0, 1 of layer 2",
    ),
    (
        "tiny W2",
        lambda: _with(W2=[[1e-10, 1e-10], [-1e-10, -1e-10]]),
        "vanishing-w2",
        "warning",
        "reaching hidden units 0, 1 of layer 1",
    ),
    ("layer 2 linear", lambda: _with(**LINEAR_2), "linear-hidden-layer", "warning", "layer 2 is linear"),
    (
        "every layer linear, W3 tiny",
        lambda: _with(W1=np.eye(2), b1=[[1.0], [1.0]], W3=[[1e-12, -1e-12]], **LINEAR_2),
        "linear-hidden-layer",
        "error",
        "the network is linear in X on this data and cannot represent XOR",
    ),
    (
        "huge W3",
        lambda: _with(W3=[[200.0, -200.0]]),
        "sigmoid-saturation",
        "warning",
        "sigmoid(Z3) rounds to 0 or 1",
    ),
    (
        "tanh layer saturated",
        lambda: _with(TANH, W1=[[30.0, -30.0], [-30.0, 30.0]], b1=np.zeros((2, 1))),
        "sigmoid-saturation",
        "warning",
        "tanh(Z1) rounds to -1 or 1 for hidden units 0, 1 of layer 1",
    ),
    ("labels (1, m)", lambda: _with(Y=XOR_Y[None]), "loss-normalization", "error", "4x the loss"),
    (
        "Z2 = 0 on two samples",
        lambda: _with(W2=[[1.0, 1.0], [-1.0, 1.0]], b2=[[-0.25], [0.0]]),
        "relu-kink",
        "info",
        "Z2 = 0 (within rounding) for unit 1 on sample 0 at (0, 0), unit 1 on sample 3 at (1, 1)",
    ),
]


def test_every_code_has_a_deeper_case_in_the_table() -> None:
    assert {c[2] for c in CASES} == set(CODES)


@pytest.mark.parametrize(
    ("build", "code", "severity", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_code_fires_on_a_deeper_network_built_for_it_and_names_the_layer(
    build: Callable[[], Case], code: str, severity: str, words: str
) -> None:
    found = _found(_run(build()), code)
    assert found and {f.severity for f in found} == {severity}
    assert any(words in f.message for f in found), [f.message for f in found]
    assert all(f.message and "\n" not in f.message for f in found)


# Labels (1, m) have no counterpart in the rows layout: their transpose is its own shape.
ROWS = [c for c in CASES if c[0] != "labels (1, m)"]


@pytest.mark.parametrize("build", [c[1] for c in ROWS], ids=[c[0] for c in ROWS])
def test_the_rows_layout_gets_the_same_findings(build: Callable[[], Case]) -> None:
    rows, columns = _run(_rows(build())), _run(build())
    assert [(f.code, f.severity) for f in rows.findings] == [(f.code, f.severity) for f in columns.findings]
    for mine, theirs in zip(rows.findings, columns.findings, strict=True):  # the same units and samples
        assert [mine.evidence.get(k) for k in ("units", "samples")] == [
            theirs.evidence.get(k) for k in ("units", "samples")
        ]


def test_a_deeper_networks_findings_say_why_in_terms_of_layers_not_of_xors_two_units() -> None:
    for _, build, *_ in CASES:
        for f in _run(build()).findings:
            assert "XOR" not in f.why + f.fix and "W2" not in f.why + f.fix, (f.code, f.why, f.fix)
            assert f.to_dict()["why"] == f.why


def test_a_healthy_deeper_network_solves_xor_and_reports_nothing() -> None:
    report = _run(_with(), notebook_loss=False)
    assert report.findings == [] and report.ok
    assert report.summary["solved"] and report.summary["loss"] < 0.2
    assert [f.code for f in _run(_with()).findings] == ["loss-normalization"]


@st.composite
def healthy_variants(draw: st.DrawFn) -> Case:
    """The healthy network with its units permuted and each hidden layer rescaled by a
    positive factor (undone in the next layer's weights): the same function, so the same
    health, in either layout."""
    params = {k: v.copy() for k, v in HEALTHY.items()}
    for layer in (1, 2):
        order = np.asarray(draw(st.permutations([0, 1])))
        scale = draw(st.floats(1e-3, 1e3))
        w, b, w_next = f"W{layer}", f"b{layer}", f"W{layer + 1}"
        params[w], params[b] = params[w][order] * scale, params[b][order] * scale
        params[w_next] = params[w_next][:, order] / scale
    case = (DEEP, params, XOR_X, XOR_Y)
    return _rows(case) if draw(st.booleans()) else case


@given(healthy_variants())
def test_the_same_healthy_function_in_any_units_order_scale_and_layout_reports_nothing(case: Case) -> None:
    assert _run(case, notebook_loss=False).findings == []


# --- what the findings claim holds for any network ------------------------------------------------


@st.composite
def problems(draw: st.DrawFn, regime: str = "generic", hidden: str | None = None) -> Case:
    net = draw(strategies.networks())
    if hidden is not None:
        net = dataclasses.replace(net, hidden=hidden)
    X, Y = draw(strategies.datasets(network=net))
    return net, draw(strategies.parameters(regime, X, network=net)), X, Y


def _unit_gradients(net: nw.Network, grads: Params, layer: int, unit: int) -> dict[str, np.ndarray]:
    """The gradients of one unit's incoming weights, bias (if any) and outgoing weights."""
    (w, b), cols = net.names[layer - 1], net.layout == "columns"
    dW, dW_next = grads["d" + w], grads["d" + net.names[layer][0]]
    found = {"in": dW[unit] if cols else dW[:, unit], "out": dW_next[:, unit] if cols else dW_next[unit]}
    if b is not None:
        found["bias"] = grads["d" + b].reshape(-1)[unit]
    return found


def _layer_of(evidence: dict[str, Any], prefix: str) -> int:
    """The layer a finding is about, from the evidence key that names its array (Z2, dA1_bound)."""
    return next(int(key[len(prefix) :].split("_")[0]) for key in evidence if key.startswith(prefix))


@given(problems("dead-unit", hidden="relu"))
def test_every_unit_reported_dead_gets_exactly_zero_gradient_and_no_other_is_dead(case: Case) -> None:
    net, params, X, Y = case
    report = _run(case)
    assume(not _found(report, "non-finite"))
    grads = nw.gradients(net, params, X, Y)
    cache = nw.forward(net, params, X)
    dead = {(_layer_of(f.evidence, "Z"), j) for f in _found(report, "dead-relu") for j in f.evidence["units"]}
    for layer in range(1, net.depth):
        Z = cache[f"Z{layer}"] if net.layout == "columns" else cache[f"Z{layer}"].T
        for unit in range(Z.shape[0]):
            assert ((layer, unit) in dead) == bool(np.all(Z[unit] <= 0.0))
            if (layer, unit) in dead:
                unit_grads = _unit_gradients(net, grads, layer, unit)
                assert np.all(unit_grads["in"] == 0.0) and np.all(unit_grads.get("bias", 0.0) == 0.0)
    assert dead, "the dead-unit regime kills a unit"


@given(problems(), st.data())
def test_units_reported_identical_get_identical_gradients(case: Case, data: st.DataObject) -> None:
    net, params, X, Y = case
    layers = [layer for layer in range(1, net.depth) if net.widths[layer] >= 2]
    assume(layers)
    layer = data.draw(st.sampled_from(layers))
    j, k = data.draw(st.lists(st.integers(0, net.widths[layer] - 1), min_size=2, max_size=2, unique=True))
    # Make unit k a copy of unit j: incoming weights, bias and outgoing weights.
    cols = net.layout == "columns"
    (w, b), w_next = net.names[layer - 1], net.names[layer][0]
    W, W_next = (params[w], params[w_next]) if cols else (params[w].T, params[w_next].T)
    W[k], W_next[:, k] = W[j], W_next[:, j]
    if b is not None:
        params[b].reshape(-1)[k] = params[b].reshape(-1)[j]
    # The evidence names the weights in (W_l's) and out (W_{l+1}'s): the smaller number is the layer.
    found = [
        f
        for f in _found(_run(case), "symmetric-units")
        if {j, k} <= set(f.evidence["units"])
        and min(int(re.match(r"[Ww](\d+)", key)[1]) for key in f.evidence if key[0] in "Ww") == layer
    ]
    # The layer is named where there are several.
    assert len(found) == 1 and (net.depth == 2 or f"of layer {layer}" in found[0].message)
    grads = nw.gradients(net, params, X, Y)
    mine, copy = _unit_gradients(net, grads, layer, j), _unit_gradients(net, grads, layer, k)
    scale = max(float(np.max(np.abs(g))) for g in grads.values())
    for part in mine:  # equal but for the order in which BLAS sums a row or a column
        np.testing.assert_allclose(mine[part], copy[part], rtol=1e-12, atol=1e-14 * scale)


@given(problems(), st.integers(9, 14), st.data())
def test_a_vanishing_error_signal_bounds_the_gradient_the_layer_receives(
    case: Case, exponent: int, data: st.DataObject
) -> None:
    net, params, X, Y = case
    assume(net.depth >= 2)
    # Shrink the weights of one layer above the first: the output's, or a deeper one's.
    layer = data.draw(st.integers(2, net.depth))
    w = net.names[layer - 1][0]
    params[w] = params[w] * 10.0**-exponent
    report = _run(case)
    found = _found(report, "vanishing-w2")
    if layer == net.depth:  # |W_L| < 2 * sqrt(2) * 1e-9: every unit below it is flagged
        assert any(f"|{w}| of" in f.message for f in found)
    cache = nw.forward(net, params, X)
    back = nw.backward(net, params, cache, X, Y)
    turn = (lambda a: a) if net.layout == "columns" else (lambda a: a.T)
    top = np.max(np.abs(turn(back[f"dZ{net.depth}"])))
    for f in found:
        deeper = any(key.startswith("dA") for key in f.evidence)
        hidden = _layer_of(f.evidence, "dA") if deeper else net.depth - 1
        dZ = turn(back[f"dZ{hidden}"])
        bounds = f.evidence[f"dA{hidden}_bound"] if deeper else [VANISHING_W2] * len(f.evidence["units"])
        for unit, signal in zip(f.evidence["units"], bounds, strict=True):
            # |dZ_l| <= |dA_l| (every slope is at most 1) <= n_out * signal * max |dZ_L|
            assert np.max(np.abs(dZ[unit])) <= net.n_out * signal * top * (1 + 1e-9) + 1e-300


@given(problems("near-kink", hidden="relu"))
def test_only_pre_activations_zero_up_to_rounding_are_reported_on_the_kink(case: Case) -> None:
    net, params, X, _ = case
    cache = nw.forward(net, params, X)
    for f in _found(_run(case), "relu-kink"):
        z = next(key for key in f.evidence if key[0] == "Z")
        Z = cache[z] if net.layout == "columns" else cache[z].T
        np.testing.assert_array_equal(Z[f.evidence["units"], f.evidence["samples"]], f.evidence[z])
        assert np.all(np.abs(f.evidence[z]) < 1e-12 * (1.0 + np.max(np.abs(Z))))


@given(st.sampled_from(strategies.REGIMES).flatmap(problems))
def test_any_network_gets_a_report_of_one_line_messages_in_strict_json(case: Case) -> None:
    report = _run(case)
    assert all(f.code in CODES and f.message and "\n" not in f.message for f in report.findings)
    assert report.ok == all(f.severity == "info" for f in report.findings)
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["counts"] == report.counts()
    text = format_report(report)
    assert text.splitlines()[1] == f"  {case[0]}" or case[0] == nw.XOR


@given(problems(), st.sampled_from(["W", "b", "X"]))
def test_a_non_finite_value_anywhere_is_reported_alone(case: Case, where: str) -> None:
    net, params, X, _ = case
    key = {"W": net.names[0][0], "b": net.names[-1][1], "X": "X"}[where]
    assume(key is not None)
    target = X if key == "X" else params[key]
    target.reshape(-1)[0] = np.inf
    codes = {f.code for f in _run(case).findings}
    assert "non-finite" in codes and codes <= {"non-finite", "label-range", "loss-normalization"}


def test_a_network_without_hidden_layers_has_none_of_the_hidden_layer_codes() -> None:
    logistic = {"W1": np.array([[1.0, -1.0]]), "b1": np.array([[0.0]])}
    assert [f.code for f in diagnose(logistic).findings] == ["loss-normalization"]
    assert diagnose(logistic, notebook_loss=False).findings == []


def test_without_data_a_two_input_network_meets_xor_and_another_is_refused() -> None:
    classes = {**HEALTHY, "W3": SOFTMAX_W3, "b3": np.zeros((2, 1))}
    report = diagnose(classes, net=SOFTMAX)
    assert report.summary["samples"] == 4 and report.summary["solved"]  # XOR's labels as classes
    three = {"W1": np.ones((2, 3)), "W2": np.ones((1, 2))}
    with pytest.raises(nw.NetworkError, match=r"^X is missing; expected inputs for the 3-2-1 network"):
        diagnose(three)


def test_the_vanishing_threshold_is_the_same_for_the_output_and_deeper_layers() -> None:
    at = 0.9 * VANISHING_W2
    assert "vanishing-w2" in [f.code for f in _run(_with(W3=[[at, -at]])).findings]
    assert "vanishing-w2" not in [f.code for f in _run(_with(W3=[[1.2 * VANISHING_W2, -8.0]])).findings]


def test_the_error_signal_over_many_samples_is_the_largest_over_their_parts() -> None:
    # 200,000 samples: the bound is taken over blocks of samples, each its own pass.
    rng = np.random.default_rng(7)
    net = nw.Network.from_widths((2, 12, 12, 1))
    params = {key: rng.standard_normal(shape) for key, shape in net.param_shapes.items()}
    params["W2"] *= 1e-9  # layer 1 hears the output through W2: far below sqrt(eps)
    X, Y = rng.standard_normal((2, 200_000)), rng.integers(0, 2, 200_000).astype(float)

    def bound(part: slice) -> np.ndarray:
        (finding,) = [f for f in _found(diagnose(params, X[:, part], Y[part], net=net), "vanishing-w2")]
        return np.asarray(finding.evidence["dA1_bound"])

    parts = [bound(slice(start, start + 50_000)) for start in range(0, 200_000, 50_000)]
    np.testing.assert_array_equal(bound(slice(None)), np.max(parts, axis=0))
    # However many units and samples a finding is about, its message lists a few.
    assert all(len(f.message) < 1000 for f in diagnose(params, X, Y, net=net).findings)
