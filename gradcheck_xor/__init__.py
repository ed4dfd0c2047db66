"""gradcheck-xor: check hand-written backpropagation and explain why a small network fails."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcheck_xor.model import forward, gradients, init_params, loss, train, xor_data
from gradcheck_xor.network import Network, describe

if TYPE_CHECKING:
    from gradcheck_xor.gradcheck import GradcheckReport, check_backward, check_step
    from gradcheck_xor.quickcheck import PointCheck, check_point

__all__ = [
    "GradcheckReport",
    "Network",
    "PointCheck",
    "check_backward",
    "check_point",
    "check_step",
    "describe",
    "forward",
    "gradients",
    "init_params",
    "loss",
    "train",
    "xor_data",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The oracle is loaded on first use, so `gradcheck-xor diagnose` (which needs only
    # the model and the diagnostics) starts as fast as a bare NumPy import allows.
    if name in ("GradcheckReport", "check_backward", "check_step"):
        from gradcheck_xor import gradcheck

        return getattr(gradcheck, name)
    if name in ("PointCheck", "check_point"):
        from gradcheck_xor import quickcheck

        return getattr(quickcheck, name)
    raise AttributeError(f"module 'gradcheck_xor' has no attribute {name!r}")
