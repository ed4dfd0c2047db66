"""The XOR 2-2-1 network in PyTorch, written the way a PyTorch user would write it.

:class:`XorNet` is an ``nn.Module`` with two ``nn.Linear`` layers; it takes samples along
rows (``x`` of shape (m, 2)) and returns logits (m, 1). The functions below give it the
same face as :mod:`gradcheck_xor.model`: NumPy dicts ``{"W1", "b1", "W2", "b2"}`` in the
notebook's layout in, NumPy arrays out, computed in float64 unless ``dtype="float32"``.

Two update rules (``rule``):

* ``"bce"``: the gradient of ``F.binary_cross_entropy_with_logits`` (mean over samples),
  the corrected model's loss;
* ``"notebook"``: the gradient of ``1/2 * mean((sigmoid(Z2) - Y)^2)``, which is exactly what
  the notebook's hand-written backward computes (its ``dZ2 = (A2 - Y) * A2 * (1 - A2)``,
  divided by m), so replaying the notebook's training here follows the same trajectory.

Two ReLUs (``relu``): ``"relu"`` uses ``F.relu``, whose gradient at 0 is 0 like the NumPy
code's ``Z1 > 0`` mask; ``"maximum"`` uses ``torch.maximum(z, 0)``, whose gradient at a tie
is 1/2, so it differs from NumPy exactly when some ``Z1 == 0`` (the notebook's zero ``b1``
puts the (0, 0) sample there).

Importing this module imports torch; a missing torch raises a one-line
:class:`~reference_impls.MissingFrameworkError` naming the extra to install.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradcheck_xor.model import as_inputs
from reference_impls._common import (
    Relu,
    Rule,
    check_dtype,
    check_params,
    check_relu,
    check_rule,
    inputs_and_labels,
    missing_framework,
)

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 (the name every PyTorch user knows)
    from torch import nn
except ImportError as exc:
    raise missing_framework("torch") from exc

__all__ = [
    "XorNet",
    "forward",
    "from_state_dict",
    "gradients",
    "loss",
    "make_net",
    "to_state_dict",
    "train",
]

Params = dict[str, np.ndarray]
FRAMEWORK_VERSION: str = torch.__version__

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class XorNet(nn.Module):
    """2 inputs -> 2 ReLU units -> 1 logit. State dict keys: ``hidden.weight`` (2, 2) = W1,
    ``hidden.bias`` (2,) = b1, ``output.weight`` (1, 2) = W2, ``output.bias`` (1,) = b2."""

    def __init__(
        self, relu: Relu = "relu", device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.relu = check_relu(relu)
        self.hidden = nn.Linear(2, 2, device=device, dtype=dtype)
        self.output = nn.Linear(2, 1, device=device, dtype=dtype)

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        if self.relu == "relu":
            return F.relu(z)
        return torch.maximum(z, torch.zeros_like(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.activation(self.hidden(x)))


def to_state_dict(params: Params, dtype: str = "float64") -> dict[str, torch.Tensor]:
    """The notebook's dict as an :class:`XorNet` state dict (biases become 1-D)."""
    params = check_params(params)
    torch_dtype = _DTYPES[check_dtype(dtype)]
    return {
        "hidden.weight": torch.tensor(params["W1"], dtype=torch_dtype),
        "hidden.bias": torch.tensor(params["b1"].reshape(2), dtype=torch_dtype),
        "output.weight": torch.tensor(params["W2"], dtype=torch_dtype),
        "output.bias": torch.tensor(params["b2"].reshape(1), dtype=torch_dtype),
    }


def from_state_dict(state_dict: dict[str, torch.Tensor]) -> Params:
    """An :class:`XorNet` state dict as the notebook's dict of float64 arrays."""

    def array(key: str, shape: tuple[int, int]) -> np.ndarray:
        return state_dict[key].detach().cpu().to(torch.float64).numpy().reshape(shape)

    return {
        "W1": array("hidden.weight", (2, 2)),
        "b1": array("hidden.bias", (2, 1)),
        "W2": array("output.weight", (1, 2)),
        "b2": array("output.bias", (1, 1)),
    }


def make_net(params: Params, *, relu: Relu = "relu", dtype: str = "float64") -> XorNet:
    """An :class:`XorNet` holding ``params``.

    ``skip_init`` builds it without running ``nn.Linear``'s random initialisation, so the
    caller's torch random state is left alone.
    """
    state = to_state_dict(params, dtype)
    net = nn.utils.skip_init(XorNet, relu=relu, dtype=_DTYPES[dtype])
    net.load_state_dict(state)
    return net


def _samples(X: np.ndarray, Y: np.ndarray, dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    # The notebook keeps samples along columns; torch's layers want them along rows.
    X, Y = inputs_and_labels(X, Y)
    torch_dtype = _DTYPES[check_dtype(dtype)]
    return torch.tensor(X.T, dtype=torch_dtype), torch.tensor(Y.T, dtype=torch_dtype)


def _inputs(X: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.tensor(as_inputs(X).T, dtype=_DTYPES[check_dtype(dtype)])


def _objective(logits: torch.Tensor, y: torch.Tensor, rule: Rule) -> torch.Tensor:
    if check_rule(rule) == "bce":
        return F.binary_cross_entropy_with_logits(logits, y)
    return 0.5 * F.mse_loss(torch.sigmoid(logits), y)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def forward(params: Params, X: np.ndarray, *, relu: Relu = "relu", dtype: str = "float64") -> Params:
    """``{"Z1", "A1", "Z2", "A2"}`` in the notebook's layout (samples along axis 1)."""
    net = make_net(params, relu=relu, dtype=dtype)
    x = _inputs(X, dtype)
    with torch.no_grad():
        z1 = net.hidden(x)
        a1 = net.activation(z1)
        z2 = net.output(a1)
    return {"Z1": _numpy(z1.T), "A1": _numpy(a1.T), "Z2": _numpy(z2.T), "A2": _numpy(torch.sigmoid(z2).T)}


def loss(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
) -> float:
    """The loss whose gradient ``rule`` takes: mean BCE for ``"bce"``, ``1/2 * mean((A2 - Y)^2)``
    for ``"notebook"``."""
    net = make_net(params, relu=relu, dtype=dtype)
    x, y = _samples(X, Y, dtype)
    with torch.no_grad():
        return float(_objective(net(x), y, rule))


def gradients(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
) -> Params:
    """Autograd's gradient of :func:`loss`, as ``{"dW1", "db1", "dW2", "db2"}``."""
    net = make_net(params, relu=relu, dtype=dtype)
    x, y = _samples(X, Y, dtype)
    _objective(net(x), y, rule).backward()
    return {
        "dW1": _numpy(net.hidden.weight.grad),
        "db1": _numpy(net.hidden.bias.grad).reshape(2, 1),
        "dW2": _numpy(net.output.weight.grad),
        "db2": _numpy(net.output.bias.grad).reshape(1, 1),
    }


def train(
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    steps: int,
    lr: float,
    rule: Rule = "bce",
    relu: Relu = "relu",
    dtype: str = "float64",
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent with ``torch.optim.SGD``; returns ``(params, loss_history)``.

    ``loss_history[i]`` is the mean BCE before step ``i``'s update, whatever the rule: that
    is the loss the notebook prints while it steps along its own gradient.
    """
    check_rule(rule)
    net = make_net(params, relu=relu, dtype=dtype)
    x, y = _samples(X, Y, dtype)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    history = torch.empty(steps, dtype=torch.float64)
    for i in range(steps):
        optimizer.zero_grad()
        logits = net(x)
        bce = F.binary_cross_entropy_with_logits(logits, y)
        objective = bce if rule == "bce" else _objective(logits, y, rule)
        objective.backward()
        optimizer.step()
        history[i] = bce.detach()
        if on_step is not None:
            on_step(i, float(history[i]))
    return from_state_dict(net.state_dict()), history.numpy()
