"""pytest plugin: fixtures for the XOR data, parameters and the gradient oracle.

Installed with gradcheck-xor and registered under the ``pytest11`` entry point, so every
test session can use::

    def test_my_backward(gradcheck_oracle):
        gradcheck_oracle(my_backward)            # fails with the oracle's explanation

    def test_at_my_point(xor_data, xor_params, gradcheck_oracle):
        X, Y = xor_data
        gradcheck_oracle(my_backward, params=xor_params, X=X, Y=Y, rtol=1e-7)

A point given is checked together with the oracle's default points (``defaults=False``: the
given point alone), so that a bug the given point cannot show still fails the test.

The fixtures import gradcheck-xor lazily: sessions that use none of them pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["gradcheck_oracle", "xor_data", "xor_params"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck-xor")
    group.addoption(
        "--gradcheck-seed",
        type=int,
        default=0,
        help="seed of the oracle's parameter points and of the xor_params fixture (default: 0)",
    )


@pytest.fixture
def xor_data() -> tuple[Any, Any]:
    """The notebook's XOR data as float64: ``X`` (2, 4) and labels ``Y`` (1, 4)."""
    from gradcheck_xor.model import xor_data as data

    return data()


@pytest.fixture
def xor_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The notebook's initial parameters for ``--gradcheck-seed`` (b1 = 0: a ReLU kink at (0, 0))."""
    from gradcheck_xor.model import init_params

    return init_params(request.config.getoption("gradcheck_seed"))


@pytest.fixture
def gradcheck_oracle(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``oracle(backward, **options)``: assert that ``backward`` is right, return the report.

    The options are :func:`gradcheck_xor.check_backward`'s (``rtol`` and ``atol`` included);
    ``seed`` defaults to ``--gradcheck-seed``; with ``params`` given the default points are
    checked too unless ``defaults=False``
    (:func:`gradcheck_xor.testing.assert_backward_correct`).
    """
    from gradcheck_xor.testing import assert_backward_correct

    seed = request.config.getoption("gradcheck_seed")

    def oracle(backward: Callable[..., Any], **options: Any) -> Any:
        __tracebackhide__ = True
        options.setdefault("seed", seed)
        return assert_backward_correct(backward, **options)

    return oracle
