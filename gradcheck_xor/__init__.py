"""gradcheck-xor: check hand-written backpropagation and explain why a small network fails."""

from gradcheck_xor.gradcheck import GradcheckReport, check_backward
from gradcheck_xor.model import forward, gradients, init_params, loss, train, xor_data

__all__ = [
    "GradcheckReport",
    "check_backward",
    "forward",
    "gradients",
    "init_params",
    "loss",
    "train",
    "xor_data",
]
__version__ = "0.1.0"
