"""Assertions for test suites: the gradient oracle as a pytest (or unittest) check.

::

    from gradcheck_xor.testing import assert_backward_correct

    def test_my_backward():
        assert_backward_correct(my_backward)

On failure the ``AssertionError`` carries the oracle's explanation (the verdict, why, and the
worst elements); this module's own frames are hidden from pytest's traceback, so the
failure points at the test that called it. ``assert check_backward(my_backward)`` works as
well (a report is falsy when the backward is wrong), with less to read on failure.

With ``params`` given, the default points are checked as well: one point rarely shows every
way a backward can be wrong (at a point where every ReLU unit is on, a missing mask changes
nothing). ``defaults=False`` checks the given points alone, and the report then says what
they cannot show.
"""

from __future__ import annotations

from typing import Any

from gradcheck_xor.gradcheck import Backward, GradcheckReport, check_backward

__all__ = ["assert_backward_correct"]


def assert_backward_correct(backward: Backward, **options: Any) -> GradcheckReport:
    """Raise ``AssertionError`` with the explanation unless ``backward`` is right.

    ``options`` are those of :func:`gradcheck_xor.check_backward` (``params``, ``X``, ``Y``,
    ``hidden``, ``output``, ``loss``, ``layout``, ``call``, ``seed``, ``layouts``, ``fast``,
    ``rtol``, ``atol``...); ``defaults`` is True where ``params`` is given (see the module).
    Returns the report when the backward passes, for further assertions.
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this one
    if options.get("params") is not None:
        options.setdefault("defaults", True)
    report = check_backward(backward, **options)
    if not report.ok:
        name = getattr(backward, "__qualname__", None) or repr(backward)
        raise AssertionError(f"{name} is not the gradient of {report.loss}.\n{report}")
    return report
