"""How people test gradients: ``assert check_backward(...)``, ``atol``/``rtol`` everywhere,
a signature the oracle cannot call, and what one point given cannot show (the pytest plugin's
fixture checks the default points beside it)."""

from __future__ import annotations

import re
from typing import Any

import broken_backwards as bb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck_xor import check_backward, check_point, check_step, model, strategies
from gradcheck_xor import network as nw
from gradcheck_xor.gradcheck import UnusableTargetError

pytest_plugins = ["pytester"]

Params = dict[str, np.ndarray]
X, Y = model.xor_data()


def off_by(factor: float) -> Any:
    """The exact gradient of the mean BCE with every element multiplied by ``factor``."""

    def backward(parameters: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: Any) -> Params:
        return {key: value * factor for key, value in model.gradients(parameters, X, Y).items()}

    return backward


# --- the report is falsy when the backward is wrong ------------------------------------------------

ASSERTS = """
from gradcheck_xor import check_backward, check_point, init_params, notebook


def right(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}


def test_right():
    assert check_backward(right)
    assert check_point(right, init_params(1, bias=0.2))


def test_the_notebooks():
    assert check_backward(notebook.backword_propagation)


def test_the_notebooks_at_one_point():
    assert check_point(notebook.backword_propagation, init_params(1, bias=0.2))
"""


def test_assert_check_backward_fails_on_a_wrong_backward_as_torch_users_write_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_asserts=ASSERTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    # The failure shows the report in one line: its verdict and how many elements disagree.
    result.stdout.fnmatch_lines(["*assert <GradcheckReport matches-other-loss: * of 90 elements disagree>*"])
    result.stdout.fnmatch_lines(["*assert <PointCheck not ok: * of 9 elements disagree>*"])


@pytest.mark.parametrize("name", sorted(bb.BROKEN))
def test_a_broken_backwards_report_is_falsy(name: str) -> None:
    report = check_backward(bb.BROKEN[name][0])
    assert not report and not report.ok


@pytest.mark.parametrize("name", sorted(bb.CORRECT))
def test_a_right_backwards_report_and_point_check_are_truthy(name: str) -> None:
    backward = bb.CORRECT[name][0]
    assert check_backward(backward)
    assert check_point(backward, model.init_params(2, bias=0.3))


# --- the fixture with a point given: the default points too -------------------------------------

FIXTURE = """
import numpy as np


def mask_missing(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2  # * (A1 > 0) forgotten
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}


def test_documented_form(gradcheck_oracle, xor_data, xor_params):
    X, Y = xor_data
    gradcheck_oracle(mask_missing, params=xor_params, X=X, Y=Y)


def test_the_given_point_alone(gradcheck_oracle, xor_data, xor_params):
    X, Y = xor_data
    report = gradcheck_oracle(mask_missing, params=xor_params, X=X, Y=Y, defaults=False)
    assert report.points == ("given",)
    assert "missing ReLU mask cannot show" in report.unexercised[0]
"""


def test_the_fixture_with_a_point_given_catches_a_missing_relu_mask(pytester: pytest.Pytester) -> None:
    # The notebook's initial point for seed 0 has every hidden unit on (but on the kink at x =
    # (0, 0)): alone, it cannot tell a missing mask; the default points can.
    pytester.makepyfile(test_fixture=FIXTURE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mask_missing is not the gradient of the mean binary cross-entropy.*",
            "*mismatch: The backward disagrees with the finite-difference gradient*",
        ]
    )
    result.stdout.fnmatch_lines(["*the hidden activation's derivative is missing*"])


TOLERANCES = """
import numpy as np
from gradcheck_xor import model


def float32_step(parameters, A1, A2, X, Y):
    # right to 1e-7 relative, as a float32 intermediate leaves it
    return {k: v * (1 + 1e-7) for k, v in model.gradients(parameters, X, Y).items()}


def test_float64_precision(gradcheck_oracle):
    gradcheck_oracle(float32_step)


def test_rtol(gradcheck_oracle):
    report = gradcheck_oracle(float32_step, rtol=1e-6)
    assert report.details["tolerances"] == {"rtol": 1e-6}


def test_atol(gradcheck_oracle, xor_params):
    gradcheck_oracle(float32_step, params=xor_params, atol=1e-6)
"""


def test_the_fixture_takes_atol_and_rtol(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tolerances=TOLERANCES)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*mismatch: The backward is right to 1e-07 relative, not to float64's precision*"]
    )


# --- atol and rtol --------------------------------------------------------------------------------


@given(st.floats(1e-8, 1e-3), st.floats(1e-3, 1.0))
def test_rtol_decides_what_a_relative_error_may_be(error: float, margin: float) -> None:
    backward = off_by(1 + error)
    params = model.init_params(3, bias=0.2)
    assert check_backward(backward, params, rtol=error * (1 + margin), atol=0.0)
    assert not check_backward(backward, params, rtol=error * (1 - margin) * 0.99, atol=0.0)
    assert check_point(backward, params, rtol=error * (1 + margin), atol=0.0)
    assert not check_point(backward, params, rtol=error * (1 - margin) * 0.99, atol=0.0)


def test_atol_alone_replaces_the_floor_and_keeps_float64s_relative_tolerance() -> None:
    params = model.init_params(3, bias=0.2)
    report = check_backward(off_by(1 + 1e-7), params, atol=1.0)
    assert report and np.all(report.atol == 1.0) and np.all(report.rtol == 1e-9)


def test_a_training_step_takes_atol_and_rtol() -> None:
    def step(params: Params, X: np.ndarray, Y: Any, lr: float) -> None:
        for key, value in model.gradients(params, X, Y).items():
            params[key[1:]] -= lr * value * (1 + 1e-6)

    assert not check_step(step, lr=0.5)
    report = check_step(step, lr=0.5, rtol=1e-5)
    assert report, report
    assert np.all(report.rtol == 1e-5)


BAD = {
    "negative": (-1e-3, ValueError, "expected a finite number >= 0"),
    "nan": (float("nan"), ValueError, "expected a finite number >= 0"),
    "inf": (float("inf"), ValueError, "expected a finite number >= 0"),
    "text": ("1e-3", TypeError, "expected a finite number >= 0"),
    "bool": (True, TypeError, "expected a finite number >= 0"),
}


@pytest.mark.parametrize(("value", "error", "message"), BAD.values(), ids=list(BAD))
@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("check", ["check_backward", "check_step", "check_point"])
def test_a_bad_tolerance_is_refused_naming_it(
    check: str, name: str, value: Any, error: type[Exception], message: str
) -> None:
    calls = {
        "check_backward": lambda **kw: check_backward(bb.correct, **kw),
        "check_step": lambda **kw: check_step(lambda params, X, Y, lr: None, lr=0.1, **kw),
        "check_point": lambda **kw: check_point(bb.correct, model.init_params(0), **kw),
    }
    with pytest.raises(error, match=f"{name}: got {value!r}, {message}"):
        calls[check](**{name: value})


# --- a signature the oracle cannot call, and a TypeError raised inside ---------------------------


def keyword_beside_the_notebooks(parameters, A1, A2, X, Y, *, reg):  # type: ignore[no-untyped-def]
    return model.gradients(parameters, X, Y)


def raises_type_error_inside(parameters, A1, A2, X, Y):  # type: ignore[no-untyped-def]
    return {"dW1": len(3)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backward", "message"),
    [
        (
            keyword_beside_the_notebooks,
            "keyword_beside_the_notebooks(parameters, A1, A2, X, Y, *, reg) cannot be called as "
            "keyword_beside_the_notebooks(params, A1, A2, X, Y): missing a required argument: 'reg'.",
        ),
        (lambda p, q, r, s, t, u: None, "<lambda> takes 'p', which the oracle cannot supply."),
    ],
    ids=["required keyword", "six unknown names"],
)
def test_an_argument_list_that_cannot_be_bound_is_a_type_error_naming_the_signature(
    backward: Any, message: str
) -> None:
    with pytest.raises(UnusableTargetError, match=re.escape(message)) as raised:
        check_backward(backward)
    assert isinstance(raised.value, TypeError)
    assert "positionally as the notebook's (parameters, A1, A2, X, Y)" in str(raised.value)
    assert "call=" in str(raised.value)
    with pytest.raises(UnusableTargetError):
        check_point(backward, model.init_params(0))


def test_a_type_error_inside_the_body_is_raised_not_unusable() -> None:
    report = check_backward(raises_type_error_inside)
    assert report.verdict == "raised"
    assert report.details["type"] == "TypeError" and "len()" in report.details["message"]
    assert "raises_type_error_inside" in report.details["where"]


# --- what one point cannot show ----------------------------------------------------------------


@st.composite
def one_point(draw: st.DrawFn) -> tuple[nw.Network, Params, Any, Any]:
    net = draw(strategies.networks(max_hidden_layers=2, max_width=5))
    X, Y = draw(strategies.datasets(2, 6, network=net))
    regime = draw(st.sampled_from(strategies.REGIMES))
    with np.errstate(over="ignore"):  # a near-kink draw may divide by a subnormal input
        params = draw(strategies.parameters(regime if net.depth > 1 else "generic", X, network=net))
    return net, params, X, Y


@given(one_point())
def test_a_point_given_alone_says_what_it_cannot_show_and_says_it_truly(problem: tuple) -> None:
    net, params, X, Y = problem
    options = {"hidden": net.hidden, "output": net.output, "loss": net.loss, "layout": net.layout}
    call = lambda backward, p, X_, Y_: backward(net, p, X_, Y_)  # noqa: E731
    with np.errstate(all="ignore"):
        report = check_backward(nw.gradients, params, X, Y, call=call, **options)
    cache = nw.forward(net, params, X)
    hidden = [cache[f"Z{i}"] for i in range(1, net.depth)]
    output = cache[f"A{net.depth}"]
    said = " ".join(report.unexercised)
    kinked = net.hidden in ("relu", "leaky_relu") and net.depth > 1
    assert ("every hidden unit is on for every sample" in said) == (
        kinked and not any((Z < 0).any() for Z in hidden)
    )
    assert ("no hidden pre-activation is on a kink" in said) == (
        kinked and not any((Z == 0).any() for Z in hidden)
    )
    assert ("no output is saturated" in said) == (
        net.output != "identity" and not ((output > 0.99).any() or (output < 0.01).any())
    )
    assert ("cannot show everything" in str(report)) == bool(report.unexercised)
    assert report.to_dict()["unexercised"] == list(report.unexercised)


def test_with_the_default_points_nothing_goes_unexercised() -> None:
    params = model.init_params(0)
    alone = check_backward(bb.correct, params, defaults=False)
    assert alone.unexercised and alone.points == ("given",)
    both = check_backward(bb.correct, params, defaults=True)
    assert both.unexercised == () and both.points[0] == "given" and len(both.points) == 6
    assert check_backward(bb.correct).unexercised == ()
    with pytest.raises(ValueError, match="defaults=False leaves no point to check"):
        check_backward(bb.correct, defaults=False)
