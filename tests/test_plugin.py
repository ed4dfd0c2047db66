"""The pytest plugin and the testing helper, run inside pytest itself (pytester)."""

from __future__ import annotations

from importlib.metadata import entry_points

import broken_backwards as bb
import pytest

from gradcheck_xor import model
from gradcheck_xor.testing import assert_backward_correct

pytest_plugins = ["pytester"]

USER_TESTS = """
import numpy as np

from gradcheck_xor import notebook


def backward(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}


def test_right_backward(gradcheck_oracle):
    report = gradcheck_oracle(backward)
    assert report.ok


def test_notebook_backward(gradcheck_oracle):
    gradcheck_oracle(notebook.backword_propagation)


def test_at_one_point(gradcheck_oracle, xor_data, xor_params):
    X, Y = xor_data
    report = gradcheck_oracle(backward, params=xor_params, X=X, Y=Y)
    assert report.points == ("given", "notebook-init", "random", "partly-inactive", "dead-unit",
                             "near-saturated")
    alone = gradcheck_oracle(backward, params=xor_params, X=X, Y=Y, defaults=False)
    assert alone.points == ("given",)
"""


def test_the_plugin_is_registered_under_the_pytest11_entry_point() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("gradcheck_xor") == "gradcheck_xor.pytest_plugin"


def test_the_oracle_fixture_passes_a_right_backward_and_fails_a_wrong_one_with_the_explanation(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*backword_propagation is not the gradient of the mean binary cross-entropy.*",
            "*matches-other-loss: The backward is the exact gradient of another loss: half the mean*",
            "*Worst elements:*",
        ]
    )
    # The traceback ends at the user's test: the plugin's and the helper's frames are hidden.
    result.stdout.fnmatch_lines(["test_user.py:*: AssertionError"])
    result.stdout.no_fnmatch_line("*gradcheck_xor/testing.py*")
    result.stdout.no_fnmatch_line("*gradcheck_xor/pytest_plugin.py*")


def test_the_data_and_parameter_fixtures_are_the_notebooks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixtures="""
        import numpy as np
        from gradcheck_xor import model

        def test_data(xor_data):
            X, Y = xor_data
            assert X.tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]] and Y.tolist() == [[0, 1, 1, 0]]

        def test_params(xor_params, request):
            seed = request.config.getoption("gradcheck_seed")
            for key, value in model.init_params(seed).items():
                np.testing.assert_array_equal(xor_params[key], value)
            assert not xor_params["b1"].any()  # the notebook's zero bias: a kink at (0, 0)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:cacheprovider", "--gradcheck-seed", "5").assert_outcomes(passed=2)


def test_the_seed_option_reaches_the_oracle(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_seed="""
        from gradcheck_xor import notebook

        def test_seed(gradcheck_oracle):
            report = gradcheck_oracle(notebook.backword_propagation, loss="half-mse")
            assert report.ok
            assert report.params[0]["W1"][0, 0] == __import__("gradcheck_xor").init_params(9)["W1"][0, 0]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--gradcheck-seed", "9").assert_outcomes(passed=1)


def test_the_helper_returns_the_report_of_a_right_backward() -> None:
    report = assert_backward_correct(bb.correct, params=model.init_params(0))
    assert report.ok and report.points[0] == "given" and "dead-unit" in report.points
    report = assert_backward_correct(bb.correct, params=model.init_params(0), defaults=False)
    assert report.ok and report.points == ("given",)


@pytest.mark.parametrize("name", ["no division by m", "raises on a typo", "missing key"])
def test_the_helper_raises_assertion_error_with_the_verdict(name: str) -> None:
    backward, verdict, _ = bb.BROKEN[name]
    with pytest.raises(
        AssertionError, match=f"is not the gradient of the mean binary cross-entropy.\n{verdict}: "
    ):
        assert_backward_correct(backward)
