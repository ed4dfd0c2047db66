"""Any small fully connected network in PyTorch, written the way a PyTorch user would write it.

:class:`MLP` is an ``nn.Module`` holding ``nn.Linear`` layers in ``self.layers``, the hidden
activation between them; it takes samples along rows (``x`` of shape (m, n_in)) and returns
the logits (m, n_out). Its state dict keys are ``layers.0.weight`` (= ``W1`` in the columns
layout, (n_1, n_in)), ``layers.0.bias`` (= ``b1``, 1-D), ``layers.1.weight`` (= ``W2``), ...
:class:`XorNet` is the notebook's 2-2-1 network, ``MLP((2, 2, 1))``.

The functions below give it the face of :mod:`gradcheck_xor.network`: NumPy dicts
``{"W1", "b1", ..., "WL", "bL"}`` in the caller's layout and shapes in, NumPy arrays out,
computed in float64 unless ``dtype="float32"``. ``net`` is the
:class:`~gradcheck_xor.network.Network` they are (widths, hidden activation, output, loss,
layout, biases); by default the one the parameters and ``X`` describe, which for the
notebook's dict is its 2-2-1 ReLU network with a sigmoid output and the mean binary
cross-entropy. The losses are torch's own: ``F.binary_cross_entropy_with_logits``,
``F.cross_entropy`` and ``F.mse_loss``, with the catalogue's reduction and factor.
:func:`graph` keeps one forward pass in autograd's graph, to ask autograd about a single
stage: the output layer's dZ, or the backward pass from a given dZ.

Update rules (``rule``): None follows the gradient of the network's own loss; ``"bce"`` that
of the mean binary cross-entropy and ``"notebook"`` that of ``1/2 * mean((sigmoid(Z) - Y)^2)``,
which is exactly what the notebook's hand-written backward computes (its
``dZ2 = (A2 - Y) * A2 * (1 - A2)``, divided by m), so replaying the notebook's training here
follows the same trajectory.

Two ReLUs (``relu``): ``"relu"`` uses ``F.relu``, whose gradient at 0 is 0 like the NumPy
code's ``Z > 0`` mask; ``"maximum"`` uses ``torch.maximum(z, 0)``, whose gradient at a tie
is 1/2, so it differs from NumPy exactly when some hidden ``Z == 0`` (the notebook's zero
``b1`` puts the (0, 0) sample there).

Importing this module imports torch; a missing torch raises a one-line
:class:`~reference_impls.MissingFrameworkError` naming the extra to install.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradcheck_xor.network import LEAKY_SLOPE, Network, as_data, as_inputs
from reference_impls._common import (
    Relu,
    Rule,
    check_dtype,
    check_relu,
    missing_framework,
    networks,
    parameters,
)

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 (the name every PyTorch user knows)
    from torch import nn
except ImportError as exc:
    raise missing_framework("torch") from exc

__all__ = [
    "MLP",
    "Graph",
    "XorNet",
    "forward",
    "from_state_dict",
    "gradients",
    "graph",
    "loss",
    "make_net",
    "to_state_dict",
    "train",
]

Params = dict[str, np.ndarray]
FRAMEWORK_VERSION: str = torch.__version__

_DTYPES = {"float64": torch.float64, "float32": torch.float32}
_OUTPUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "softmax": lambda z: torch.softmax(z, dim=1),
    "identity": lambda z: z,
}


class MLP(nn.Module):
    """``nn.Linear`` layers of ``widths`` (n_in, n_1, ..., n_L), ``hidden`` between them
    (a name of :data:`gradcheck_xor.network.HIDDEN`); ``biases`` says which layers have one
    (default: all). ``forward`` returns the logits."""

    def __init__(
        self,
        widths: Sequence[int],
        *,
        hidden: str = "relu",
        relu: Relu = "relu",
        biases: Sequence[bool] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.hidden, self.relu = hidden, check_relu(relu)
        biases = [True] * (len(widths) - 1) if biases is None else biases
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=bias, device=device, dtype=dtype)
            for n_in, n_out, bias in zip(widths[:-1], widths[1:], biases, strict=True)
        )

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        if self.hidden == "relu":
            return F.relu(z) if self.relu == "relu" else torch.maximum(z, torch.zeros_like(z))
        if self.hidden == "leaky_relu":
            return F.leaky_relu(z, LEAKY_SLOPE)
        if self.hidden == "tanh":
            return torch.tanh(z)
        return torch.sigmoid(z) if self.hidden == "sigmoid" else z

    def pre_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Z1, ..., ZL, samples along rows."""
        zs = [self.layers[0](x)]
        for layer in self.layers[1:]:
            zs.append(layer(self.activation(zs[-1])))
        return zs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pre_activations(x)[-1]


class XorNet(MLP):
    """The notebook's network: 2 inputs -> 2 hidden units -> 1 logit."""

    def __init__(
        self, relu: Relu = "relu", device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__((2, 2, 1), relu=relu, device=device, dtype=dtype)


def _settled(params: Params, X: Any, net: Network | None) -> Network:
    return networks(params, X, net)[0]


def to_state_dict(
    params: Params, dtype: str = "float64", *, net: Network | None = None
) -> dict[str, torch.Tensor]:
    """The parameters as an :class:`MLP` state dict: weights (out, in), biases 1-D."""
    net = _settled(params, None, net)
    params, torch_dtype = parameters(net, params), _DTYPES[check_dtype(dtype)]
    state = {}
    for i, (w, b) in enumerate(net.names):
        weight = params[w] if net.layout == "columns" else params[w].T
        state[f"layers.{i}.weight"] = torch.tensor(weight, dtype=torch_dtype)
        if b is not None:
            state[f"layers.{i}.bias"] = torch.tensor(params[b].reshape(-1), dtype=torch_dtype)
    return state


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _from_layers(net: Network, tensors: Callable[[int, str], torch.Tensor]) -> Params:
    """The caller's dict from each layer's ``tensors(i, "weight" | "bias")``."""
    params = {}
    for i, ((w, b), shape) in enumerate(zip(net.names, net.bias_shapes, strict=True)):
        weight = _numpy(tensors(i, "weight"))
        params[w] = weight if net.layout == "columns" else weight.T
        if b is not None:
            params[b] = _numpy(tensors(i, "bias")).reshape(shape)
    return params


def from_state_dict(state_dict: dict[str, torch.Tensor], net: Network | None = None) -> Params:
    """An :class:`MLP` state dict as the dict of float64 arrays ``net`` describes; by default
    the notebook's columns layout, keys ``W1, b1, ...`` and biases (n, 1)."""
    if net is None:
        depth = sum(key.endswith(".weight") for key in state_dict)
        widths = [state_dict["layers.0.weight"].shape[1]]
        widths += [state_dict[f"layers.{i}.weight"].shape[0] for i in range(depth)]
        names = tuple(
            (f"W{i + 1}", f"b{i + 1}" if f"layers.{i}.bias" in state_dict else None) for i in range(depth)
        )
        shapes = tuple(None if b is None else (n, 1) for (_, b), n in zip(names, widths[1:], strict=True))
        net = Network(tuple(widths), "relu", "sigmoid", "bce", "columns", names, shapes)
    return _from_layers(net, lambda i, kind: state_dict[f"layers.{i}.{kind}"].to(torch.float64))


def make_net(
    params: Params, *, net: Network | None = None, relu: Relu = "relu", dtype: str = "float64"
) -> MLP:
    """An :class:`MLP` holding ``params``.

    ``skip_init`` builds it without running ``nn.Linear``'s random initialisation, so the
    caller's torch random state is left alone.
    """
    net = _settled(params, None, net)
    state = to_state_dict(params, dtype, net=net)
    module = nn.utils.skip_init(
        MLP, net.widths, hidden=net.hidden, relu=relu, biases=net.biases, dtype=_DTYPES[dtype]
    )
    module.load_state_dict(state)
    return module


def _rows(net: Network, a: np.ndarray, dtype: str) -> torch.Tensor:
    # The columns layout keeps samples along columns; torch's layers want them along rows.
    return torch.tensor(a.T if net.layout == "columns" else a, dtype=_DTYPES[check_dtype(dtype)])


def _objective(net: Network, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of ``net`` in torch's words, logits and labels (m, n_out)."""
    spec = net.spec
    if spec.kind == "bce":
        total = F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
    elif spec.kind == "cross-entropy":
        total = F.cross_entropy(logits, y, reduction="sum")  # y: class probabilities per row
    else:
        total = spec.factor * F.mse_loss(_OUTPUTS[net.output](logits), y, reduction="sum")
    return total / spec.normaliser(logits.shape[1], logits.shape[0])


def _prepared(
    params: Params, X: Any, Y: Any, net: Network | None, rule: str | None, relu: Relu, dtype: str
) -> tuple[Network, Network, MLP, torch.Tensor, torch.Tensor]:
    net, followed = networks(params, X, net, rule)
    X, Y = as_data(net, X, Y)
    return (
        net,
        followed,
        make_net(params, net=net, relu=relu, dtype=dtype),
        _rows(net, X, dtype),
        _rows(net, Y, dtype),
    )


def _cache(net: Network, module: MLP, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"Z1", "A1", ..., "ZL", "AL"}`` of samples ``x`` (rows), in the network's layout."""
    zs = module.pre_activations(x)
    activations = [module.activation(z) for z in zs[:-1]] + [_OUTPUTS[net.output](zs[-1])]
    cache = {}
    for i, (z, a) in enumerate(zip(zs, activations, strict=True), 1):
        cache[f"Z{i}"], cache[f"A{i}"] = (z.T, a.T) if net.layout == "columns" else (z, a)
    return cache


@dataclasses.dataclass
class Graph:
    """One forward pass in autograd's graph, to ask autograd about any stage of it: the
    ``module``, the ``cache`` ``{"Z1", "A1", ..., "ZL", "AL"}`` (tensors in the network's
    layout) and the ``loss`` whose gradient the rule follows."""

    net: Network
    module: MLP
    cache: dict[str, torch.Tensor]
    loss: torch.Tensor

    def gradients(self, outputs: torch.Tensor | None = None, upstream: Any = None) -> Params:
        """Autograd's gradient of ``outputs`` (default: the loss) with respect to every
        parameter, keyed ``"d" + key`` and shaped as the caller's; ``upstream`` is the gradient
        flowing into ``outputs`` (an array of its shape), e.g. a dZL to backpropagate."""
        outputs = self.loss if outputs is None else outputs
        if upstream is not None:
            upstream = torch.as_tensor(np.asarray(upstream), dtype=outputs.dtype)
        layers = [(i, kind) for i, layer in enumerate(self.module.layers) for kind in ("weight", "bias")
                  if getattr(layer, kind) is not None]  # fmt: skip
        tensors = [getattr(self.module.layers[i], kind) for i, kind in layers]
        found = torch.autograd.grad(outputs, tensors, upstream, retain_graph=True, allow_unused=True)
        grads = {
            key: torch.zeros_like(t) if g is None else g
            for key, t, g in zip(layers, tensors, found, strict=True)
        }
        return {
            "d" + key: value for key, value in _from_layers(self.net, lambda i, kind: grads[i, kind]).items()
        }


def graph(
    params: Params,
    X: Any,
    Y: Any,
    *,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> Graph:
    """The :class:`Graph` of one forward pass and the loss whose gradient ``rule`` follows."""
    net, followed, module, x, y = _prepared(params, X, Y, net, rule, relu, dtype)
    cache = _cache(net, module, x)
    logits = cache[f"Z{net.depth}"]
    return Graph(net, module, cache, _objective(followed, logits.T if net.layout == "columns" else logits, y))


def forward(
    params: Params, X: Any, *, net: Network | None = None, relu: Relu = "relu", dtype: str = "float64"
) -> Params:
    """``{"Z1", "A1", ..., "ZL", "AL"}`` in the network's layout."""
    net = _settled(params, X, net)
    module = make_net(params, net=net, relu=relu, dtype=dtype)
    with torch.no_grad():
        return {
            key: _numpy(value)
            for key, value in _cache(net, module, _rows(net, as_inputs(net, X), dtype)).items()
        }


def loss(
    params: Params,
    X: Any,
    Y: Any,
    *,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> float:
    """The loss whose gradient ``rule`` follows: the network's own for None, the mean BCE for
    ``"bce"``, ``1/2 * mean((AL - Y)^2)`` for ``"notebook"``."""
    _, followed, module, x, y = _prepared(params, X, Y, net, rule, relu, dtype)
    with torch.no_grad():
        return float(_objective(followed, module(x), y))


def gradients(
    params: Params,
    X: Any,
    Y: Any,
    *,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
) -> Params:
    """Autograd's gradient of :func:`loss`, keyed ``"d" + key`` and shaped as each parameter."""
    return graph(params, X, Y, net=net, rule=rule, relu=relu, dtype=dtype).gradients()


def train(
    params: Params,
    X: Any,
    Y: Any,
    *,
    steps: int,
    lr: float,
    net: Network | None = None,
    rule: Rule | None = None,
    relu: Relu = "relu",
    dtype: str = "float64",
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Params, np.ndarray]:
    """Full-batch gradient descent with ``torch.optim.SGD``; returns ``(params, loss_history)``.

    ``loss_history[i]`` is the network's own loss before step ``i``'s update, whatever the
    rule: for the notebook's network, the mean BCE it prints while it steps along its own
    gradient.
    """
    net, followed, module, x, y = _prepared(params, X, Y, net, rule, relu, dtype)
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    history = torch.empty(steps, dtype=torch.float64)
    for i in range(steps):
        optimizer.zero_grad()
        logits = module(x)
        reported = _objective(net, logits, y)
        objective = reported if followed == net else _objective(followed, logits, y)
        objective.backward()
        optimizer.step()
        history[i] = reported.detach()
        if on_step is not None:
            on_step(i, float(history[i]))
    return from_state_dict(module.state_dict(), net), history.numpy()
