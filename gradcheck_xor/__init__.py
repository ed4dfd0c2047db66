"""gradcheck-xor: check hand-written backpropagation and explain why a small network fails."""

from gradcheck_xor.model import forward, gradients, init_params, loss, train, xor_data

__all__ = ["forward", "gradients", "init_params", "loss", "train", "xor_data"]
__version__ = "0.1.0"
