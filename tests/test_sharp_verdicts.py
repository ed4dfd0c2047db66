"""Float64 verdicts to float64's precision: a right backward passes however it orders its sums
(and whoever computes it: the network, PyTorch, JAX), a relative error of 1e-8 in any one
element fails and is named, a backward right only to 1e-6...1e-9 gets a mismatch that says so,
and a loss of the user's is judged by Richardson's extrapolation to what it resolves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from gradcheck_xor import _differences as diff
from gradcheck_xor import _exact, check_backward, model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor._points import default_points

Params = dict[str, np.ndarray]


# --- right backward passes, their sums taken in other orders -----------------------------------


def _pairwise(a: np.ndarray, axis: int) -> np.ndarray:
    """A sum along ``axis`` taken in pairs, then pairs of pairs."""
    a = np.moveaxis(a, axis, 0)
    while a.shape[0] > 1:
        if a.shape[0] % 2:
            a = np.concatenate([a, np.zeros_like(a[:1])])
        a = a[0::2] + a[1::2]
    return a[0]


def _loops(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A @ B one Python float at a time, each sum from its first term to its last."""
    out = np.zeros((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        for k in range(B.shape[1]):
            total = 0.0
            for j in range(A.shape[1]):
                total += float(A[i, j]) * float(B[j, k])
            out[i, k] = total
    return out


# How a learner's code may form a product and a sum over the samples.
PRODUCTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "matmul": lambda A, B: A @ B,
    "einsum": lambda A, B: np.einsum("ij,jk->ik", A, B),
    "loops": _loops,
    "pairwise": lambda A, B: _pairwise(A[:, :, None] * B[None, :, :], 1),
    "reversed": lambda A, B: A[:, ::-1] @ B[::-1, :],
}
SUMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "matmul": lambda a: a.sum(axis=1),
    "einsum": lambda a: np.einsum("ij->i", a),
    "loops": lambda a: np.array([sum(float(v) for v in row) for row in a]),
    "pairwise": lambda a: _pairwise(a, 1),
    "reversed": lambda a: a[:, ::-1].sum(axis=1),
}
# Each hidden activation and its derivative from (Z, A), as learners write them.
ACTIVATIONS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] = {
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0),
    "leaky_relu": (
        lambda z: np.where(z > 0, z, nw.LEAKY_SLOPE * z),
        lambda z, a: np.where(z > 0, 1.0, nw.LEAKY_SLOPE),
    ),
    "tanh": (np.tanh, lambda z, a: 1 - a**2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "identity": (lambda z: z, lambda z, a: np.ones_like(z)),
}


# The same, in other forms a right backward may take: through logaddexp, sech², exp(Z - lse).
OTHER_FORMS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] = {
    **ACTIVATIONS,
    "tanh": (np.tanh, lambda z, a: 1 / np.cosh(z) ** 2),
    "sigmoid": (
        lambda z: np.exp(z - np.logaddexp(0, z)),
        lambda z, a: np.exp(-np.logaddexp(0, z) - np.logaddexp(0, -z)),
    ),
}


def _output(net: nw.Network, Z: np.ndarray, other: bool = False) -> np.ndarray:
    """The output layer as a learner writes it: 1 / (1 + exp(-z)), exp(z - max) / sum; or in
    ``other`` forms: exp(z - logaddexp(0, z)), exp(z - logsumexp(z))."""
    if net.output == "sigmoid":
        return np.exp(Z - np.logaddexp(0, Z)) if other else 1 / (1 + np.exp(-Z))
    if net.output == "softmax":
        top = Z.max(axis=0, keepdims=True)
        if other:
            return np.exp(Z - top - np.log(np.exp(Z - top).sum(axis=0, keepdims=True)))
        e = np.exp(Z - top)
        return e / e.sum(axis=0, keepdims=True)
    return Z


def written(net: nw.Network, order: str, other_forms: bool = False) -> Callable[..., Params]:
    """A right ``backward(params, X, Y)`` for ``net`` as a learner writes one, its own forward
    pass included, every product and sum over the samples taken in ``order``, its activations
    in :data:`OTHER_FORMS` where ``other_forms``."""
    product, total = PRODUCTS[order], SUMS[order]
    act, slope = (OTHER_FORMS if other_forms else ACTIVATIONS)[net.hidden]
    cols = net.layout == "columns"

    def turn(a: np.ndarray) -> np.ndarray:  # the caller's layout <-> columns
        return a if cols else a.T

    def backward(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
        As, Zs, Ws = [turn(X)], [], []
        for w, b in net.names:
            Ws.append(turn(params[w]))
            Z = product(Ws[-1], As[-1])
            Zs.append(Z if b is None else Z + np.reshape(params[b], (-1, 1)))
            As.append(act(Zs[-1]) if len(Zs) < net.depth else _output(net, Zs[-1], other_forms))
        Yc = np.asarray(Y, dtype=float)
        if Yc.ndim == 1:  # classes (one-hot), or one output's labels
            Yc = (np.arange(net.n_out)[:, None] == Yc) * 1.0 if net.output == "softmax" else Yc[None]
        elif not cols:
            Yc = Yc.T
        spec, A, m = net.spec, As[-1], As[0].shape[1]
        N = spec.normaliser(net.n_out, m)
        if spec.kind == "bce":
            dZ = (A - Yc) / N
        elif spec.kind == "cross-entropy":  # labels of any sum: A sum(Y) - Y
            dZ = (A * Yc.sum(axis=0) - Yc) / N
        else:
            dA = 2 * spec.factor * (A - Yc) / N
            if net.output == "sigmoid":
                dZ = dA * A * (1 - A)
            elif net.output == "softmax":
                dZ = A * (dA - (dA * A).sum(axis=0))
            else:
                dZ = dA
        grads: Params = {}
        for layer in reversed(range(net.depth)):
            w, b = net.names[layer]
            grads["d" + w] = turn(product(dZ, As[layer].T))
            if b is not None:
                grads["d" + b] = total(dZ).reshape(np.shape(params[b]))
            if layer:
                dZ = product(Ws[layer].T, dZ) * slope(Zs[layer - 1], As[layer])
        return grads

    return backward


def options(net: nw.Network) -> dict[str, str]:
    return {"hidden": net.hidden, "output": net.output, "loss": net.loss, "layout": net.layout}


def _off_the_kinks(net: nw.Network, params: Params, X: Any) -> bool:
    """No hidden pre-activation near a ReLU kink (where the judgement is one-sided, by the
    differences), and none so small that flushing subnormal numbers to zero moves it."""
    cache = nw.forward(net, params, X)
    if net.hidden in ("relu", "leaky_relu"):
        return all(np.abs(cache[f"Z{i}"]).min() > 1e-6 for i in range(1, net.depth))
    return True


@st.composite
def problems(draw: st.DrawFn, max_hidden_layers: int = 3) -> tuple[nw.Network, Params, Any, Any]:
    """A network, data it fits (labels hard or soft) and its parameters in a regime, off the kinks."""
    regime = draw(st.sampled_from(strategies.REGIMES))
    net = draw(strategies.networks(max_hidden_layers=max_hidden_layers))
    assume(regime == "generic" or net.depth >= 2)
    X, Y = draw(strategies.datasets(2, 8, network=net, soft_labels=draw(st.booleans())))
    # A near-kink draw without a bias divides by an input, which may be subnormal: the
    # overflow is a rejected draw, not a failure.
    with np.errstate(over="ignore"):
        params = draw(strategies.parameters(regime, X, network=net))  # type: ignore[arg-type]
    # Weights beyond 1e6 (a near-kink draw dividing by a tiny input) move a logit by 1e80 for
    # a step of 1e-6: central differences then mean nothing, and cannot confirm anything.
    assume(all(np.abs(v).max(initial=0.0) < 1e6 for v in params.values()))
    assume(_off_the_kinks(net, params, X))
    return net, params, X, Y


def _judged_by_the_exact_gradient(report: Any) -> bool:
    return all(row.method.startswith("exact") for row in report.table)


@given(problems(), st.sampled_from(sorted(PRODUCTS)))
def test_a_right_backward_passes_whatever_order_it_sums_in(problem: tuple, order: str) -> None:
    net, params, X, Y = problem
    report = check_backward(written(net, order), params, X, Y, **options(net))
    assert report.ok, report
    assert _judged_by_the_exact_gradient(report)
    assert np.all(report.rtol == _exact.RTOL)  # to float64's precision (how tight: the next tests)


@given(problems(), st.sampled_from(sorted(PRODUCTS)))
def test_a_right_backward_passes_with_its_activations_in_other_forms(problem: tuple, order: str) -> None:
    net, params, X, Y = problem
    report = check_backward(written(net, order, other_forms=True), params, X, Y, **options(net))
    assert report.ok, report


@given(problems())
def test_the_networks_own_gradient_passes_through_call(problem: tuple) -> None:
    net, params, X, Y = problem
    call = lambda backward, p, X_, Y_: backward(net, p, X_, Y_)  # noqa: E731
    report = check_backward(nw.gradients, params, X, Y, call=call, **options(net))
    assert report.ok, report
    np.testing.assert_array_equal(report.analytic[:, 0], report.exact)


@settings(max_examples=25)
@given(problems(max_hidden_layers=2))
def test_pytorch_and_jax_autodiff_pass_through_call(torch_xor: Any, jax_xor: Any, problem: tuple) -> None:
    net, params, X, Y = problem
    call = lambda backward, p, X_, Y_: backward(p, X_, Y_, net=net)  # noqa: E731
    for reference in (torch_xor, jax_xor):
        report = check_backward(reference.gradients, params, X, Y, call=call, **options(net))
        assert report.ok, (reference.__name__, report)


# --- a relative error of 1e-8 in one element --------------------------------------------------


def _resolution(net: nw.Network, params: Params, X: Any, Y: Any) -> np.ndarray:
    """Each element's tolerance relative to its exact value at this point."""
    trace = diff.Trace.of(net, params, *nw.columns(net, X, Y))
    exact, floor = _exact.exact_gradients([trace])
    with np.errstate(divide="ignore"):
        return (_exact.RTOL * np.abs(exact[0]) + floor[0]) / np.abs(exact[0])


def one_element_off(net: nw.Network, k: int, factor: float) -> Callable[..., Params]:
    """The exact gradient with element ``k`` multiplied by ``factor``, at every point."""

    def off(params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
        flat = nw.flatten(net, nw.gradients(net, params, X, Y), net.grad_keys)
        flat[k] *= factor
        return nw.unflatten(net, flat, net.grad_keys)

    return off


@given(problems(), st.data())
def test_a_relative_error_of_1e8_in_any_one_element_fails_and_is_named(problem: tuple, data: Any) -> None:
    net, params, X, Y = problem
    names = nw.element_names(net)
    k = data.draw(st.integers(0, net.n_params - 1), label="element")
    sign = data.draw(st.sampled_from([-1.0, 1.0]), label="sign")
    resolution = _resolution(net, params, X, Y)[k]
    # 1e-8 of an element of exactly 0, or one whose terms cancel to below float64's rounding
    # of them, is not an error any check can see.
    if not resolution < 0.5e-8:
        event("element below float64's resolution at 1e-8")
        assume(False)

    report = check_backward(one_element_off(net, k, 1 + sign * 1e-8), params, X, Y, **options(net))
    assert not report.ok
    assert report.verdict == "mismatch", report
    assert report.details["cause"] == "imprecise" and report.details["elements"] == [names[k]]
    failing = {(row.element, row.ok) for row in report.table if not row.ok}
    assert failing == {(names[k], False)}
    assert names[k] in str(report)


@given(problems(), st.data())
def test_over_the_default_points_1e8_of_any_element_fails_and_is_named(problem: tuple, data: Any) -> None:
    """Where the oracle picks its points, one point at which an element keeps its digits is
    enough: an element below float64's resolution at one point is caught at another. Left
    out: an element that is 0 at every point (a relative error of nothing), or cancels below
    resolution at every one (about one element in a few thousand)."""
    net, _, X, Y = problem
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    k = data.draw(st.integers(0, net.n_params - 1), label="element")
    sign = data.draw(st.sampled_from([-1.0, 1.0]), label="sign")
    points = [p for _, p in default_points(seed, X, Y, network=net)]
    exact, floor = _exact.exact_gradients([diff.Trace.of(net, p, *nw.columns(net, X, Y)) for p in points])
    assume(np.any(_exact.RTOL * np.abs(exact[:, k]) + floor[:, k] < 0.5e-8 * np.abs(exact[:, k])))
    report = check_backward(one_element_off(net, k, 1 + sign * 1e-8), net, X, Y, seed=seed)
    assert report.verdict == "mismatch", report
    assert report.details["elements"] == [nw.element_names(net)[k]]


# --- right to 1e-6...1e-9, and no better -------------------------------------------------------

X_XOR, Y_XOR = model.xor_data()


def epsilon_in_the_logs(parameters: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
    """The cross-entropy's gradient taken through log(A2 + 1e-7) and log(1 - A2 + 1e-7)."""
    m, eps = X.shape[1], 1e-7
    Y = np.reshape(Y, (1, m))
    dA2 = -(Y / (A2 + eps) - (1 - Y) / (1 - A2 + eps)) / m
    dZ2 = dA2 * A2 * (1 - A2)
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {
        "dW1": dZ1 @ X.T,
        "db1": dZ1.sum(axis=1, keepdims=True),
        "dW2": dZ2 @ A1.T,
        "db2": dZ2.sum(axis=1, keepdims=True),
    }


def float32_in_dW1(parameters: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
    """Right, but for dW1's product taken in float32."""
    grads = model.gradients(parameters, X, Y)
    m = X.shape[1]
    dZ1 = parameters["W2"].T @ ((A2 - np.reshape(Y, (1, m))) / m) * (A1 > 0)
    grads["dW1"] = (dZ1.astype(np.float32) @ X.T.astype(np.float32)).astype(np.float64)
    return grads


def test_an_epsilon_inside_the_logs_is_a_mismatch_that_says_how_precise_it_is() -> None:
    report = check_backward(epsilon_in_the_logs, params=model.init_params(3, bias=0.2))
    assert report.verdict == "mismatch"
    d = report.details
    assert d["cause"] == "imprecise" and 1e-9 < d["precision"] < 1e-5
    assert d["because"].startswith(f"right to {d['precision']:.0e} relative everywhere, where float64")
    assert "epsilon inside the loss's logs" in d["because"] and "float32" in d["fix"]
    assert set(d["wrong"]) == {"dW1", "db1", "dW2", "db2"}
    text = str(report)
    assert (
        f"mismatch: The backward is right to {d['precision']:.0e} relative, not to float64's precision"
        in text
    )
    assert "\nFix: compute in float64 throughout" in text
    # The same backward passed the tolerances it gets without the exact gradient.
    assert check_backward(epsilon_in_the_logs, params=model.init_params(3, bias=0.2), rtol=1e-5, atol=1e-7)


def test_where_an_epsilon_inside_the_logs_shows_at_a_saturated_output_it_is_named() -> None:
    report = check_backward(epsilon_in_the_logs)  # the default points: one is near-saturated
    assert report.verdict == "mismatch"
    assert report.details["cause"] == "epsilon-inside-log", report
    assert "the loss with log(A2 + 1e-07)" in report.details["because"]
    assert "dZ2 = (A2 - Y) / m needs no epsilon" in " ".join(str(report).split())


def test_a_float32_product_in_one_gradient_names_that_gradient() -> None:
    report = check_backward(float32_in_dW1)
    assert report.verdict == "mismatch", report
    d = report.details
    assert d["cause"] == "imprecise" and d["wrong"] == ["dW1"]
    assert d["keys"]["dW1"].startswith("right to ") and d["keys"]["dW2"] == "right"
    assert all(name.startswith("dW1[") for name in d["elements"])
    assert "in dW1" in d["because"]


def test_float32_gradients_keep_float32_tolerances() -> None:
    def float32(parameters: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
        return {k: (v * (1 + 1e-5)).astype(np.float32) for k, v in model.gradients(parameters, X, Y).items()}

    report = check_backward(float32)
    assert report.ok, report
    assert np.all(report.rtol == 2e-3)


def test_on_a_kink_the_judgement_stays_one_sided_and_names_the_convention() -> None:
    report = check_backward(lambda p, A1, A2, X, Y: model.gradients(p, X, Y))
    assert report.ok and report.convention.startswith("relu'(0) = 0 ")
    kinked = [row for row in report.table if row.method.startswith("kink")]
    assert kinked and all(row.point == "notebook-init" and row.tolerance > 1e-8 for row in kinked)
    assert all(row.method.startswith("exact") for row in report.table if row.point != "notebook-init")


def test_fast_mode_judges_its_directions_to_float64_precision_too() -> None:
    right = check_backward(lambda p, A1, A2, X, Y: model.gradients(p, X, Y), fast=True)
    assert right.ok and right.fast
    off = check_backward(float32_in_dW1, fast=True)
    assert not off.fast and off.details["cause"] == "imprecise"  # the full check ran and explains


# --- a loss of the user's: Richardson's extrapolation --------------------------------------------


def bce(Y: np.ndarray, A: np.ndarray) -> float:
    """The mean BCE as a learner writes it."""
    return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))


@given(st.integers(0, 10_000))
def test_a_loss_of_the_users_is_judged_by_richardson_to_what_it_resolves(seed: int) -> None:
    params = model.init_params(seed, bias=0.3)
    Z1 = params["W1"] @ X_XOR + params["b1"]
    assume(np.abs(Z1).min() > 1e-3)

    def right(p: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
        return model.gradients(p, X, Y)

    report = check_backward(right, params, loss=bce)
    assert report.ok, report
    assert np.isnan(report.exact).all()
    assert {row.method for row in report.table} == {"Richardson"}
    tolerance = np.array([row.tolerance for row in report.table])
    numeric = np.array([row.numeric for row in report.table])
    # The tolerance says what the extrapolation resolves: the exact gradient lies within it.
    exact = np.tile(nw.flatten(nw.XOR, model.gradients(params, X_XOR, Y_XOR), nw.XOR.grad_keys), 2)
    assert np.all(np.abs(numeric - exact) <= tolerance)
    # Where the loss keeps its digits (log(1 - A) of an output short of 0.99), for elements of
    # 0.1 or more that is ten times better than the old 1e-5.
    A2 = model.forward(params, X_XOR)["A2"]
    size = np.abs(numeric)
    if ((A2 > 0.01) & (A2 < 0.99)).all():
        assert np.all(tolerance[size >= 0.1] < 1e-6 * size[size >= 0.1])

    def off(p: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
        grads = right(p, A1, A2, X, Y)
        grads["dW2"] = grads["dW2"] * (1 + 1e-5)
        return grads

    wrong = check_backward(off, params, loss=bce)
    if np.abs(report.expected[..., 6:8]).min() > 1e-3:  # dW2 large enough to show 1e-5 of itself
        assert not wrong.ok and wrong.details["wrong"] == ["dW2"]


@pytest.mark.parametrize("labels", ["(m,)", "(1, m)"])
def test_both_columns_and_each_elements_tolerance_are_in_the_report(labels: str) -> None:
    report = check_backward(
        lambda p, A1, A2, X, Y: model.gradients(p, X, Y), model.init_params(1, bias=0.2), layouts=(labels,)
    )
    row = report.table[0]
    assert row.exact == pytest.approx(row.numeric, rel=1e-6)
    assert row.tolerance == pytest.approx(report.atol[0, 0, 0] + _exact.RTOL * abs(row.exact))
    data = report.to_dict()["elements"][0]
    assert data["exact"] == row.exact and data["tolerance"] == row.tolerance
    assert report.layouts == (labels,)


@given(problems())
def test_each_elements_floor_is_the_same_in_either_layout(problem: tuple) -> None:
    net, params, X, Y = problem
    rows = net.layout == "rows"
    other = dataclasses.replace(net, layout="columns" if rows else "rows")
    turned = {k: (v.T.copy() if k in dict(net.names) else v) for k, v in params.items()}
    Y2 = np.asarray(Y)
    floors = []
    for n, p, x, y in ((net, params, X, Y), (other, turned, np.asarray(X).T, Y2 if Y2.ndim == 1 else Y2.T)):
        trace = diff.Trace.of(n, p, *nw.columns(n, x, y))
        exact, floor = _exact.exact_gradients([trace])
        names = [name.replace("[", "(").replace("]", ")") for name in nw.element_names(n)]
        if n.layout == "rows":  # dW[i, j] in rows is dW[j, i] in columns
            names = [
                f"{name.split('(')[0]}({', '.join(reversed(name.split('(')[1][:-1].split(', ')))})"
                if name.startswith("dW") or name.startswith("dw")
                else name
                for name in names
            ]
        floors.append(dict(zip(names, zip(exact[0], floor[0], strict=True), strict=True)))
    for name, (value, floor) in floors[0].items():
        np.testing.assert_allclose(floors[1][name], (value, floor), rtol=1e-12, atol=1e-300, err_msg=name)
