"""Numeric differences of the loss, and where a perturbation meets a kink.

For every parameter element (or, in fast mode, a few directions) the loss is evaluated at
the point moved by -2h, -h, +h, +2h along it. Perturbing one weight ``W_l[i, j]`` changes
one row of one pre-activation, ``Z_l[i] += t A_{l-1}[j]`` (a bias: ``+= t``), so the rest of
the pass starts from a rank-one change (:func:`gradcheck_xor.network.losses_after`): all the
elements of a layer are evaluated together, in chunks that bound the memory, for a fraction
of a forward pass each.

Kinks (ReLU and leaky ReLU hidden layers, any depth): where a perturbation makes some hidden
pre-activation cross 0, a central difference straddles two slopes and means nothing. Such an
element is judged by a one-sided second-order difference from the side the kink is not on;
one whose perturbation starts *on* a kink (a Z that is 0 to round-off) has a left and a
right derivative, and the backward's value is accepted anywhere between them. In the layer
the element belongs to, where its Z moves linearly, the geometry is exact; in later layers
it is read off the perturbed pass itself, and only where a bound on how far a perturbation
can move each Z says a kink is within reach.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np

from gradcheck_xor import _points
from gradcheck_xor import network as nw

STEP = 1e-6
# How each element was judged (the `method` column of the table).
CENTRAL, LEFT, RIGHT, KINK, SMOOTH_KINK, SKIPPED = range(6)
METHODS = (
    "central",
    "one-sided (left)",
    "one-sided (right)",
    "kink",
    "central (kink without effect)",
    "not judged",
)
_EPS = float(np.finfo(np.float64).eps)
_CHUNK = 1 << 17  # floats per perturbed array of a chunk: 8 MB
_FLAT = 1 << 19  # at most this many floats of perturbed vectors: one batched pass for all


# --- one point's forward pass --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Trace:
    """One point's forward pass in the columns orientation, and what the checks read off it."""

    net: nw.Network
    params: dict[str, np.ndarray]  # the caller's keys and layout
    layers: list  # (W (n_l, n_{l-1}), b (n_l, 1) or None)
    Zs: list[np.ndarray]  # Z_1 ... Z_L
    As: list[np.ndarray]  # A_0 = X, ..., A_{L-1}
    Y: np.ndarray  # (n_out, m)

    @classmethod
    def of(cls, net: nw.Network, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> Trace:
        """``X`` and ``Y`` in the columns orientation, as :func:`gradcheck_xor.network.columns` gives them."""
        layers = nw.layers(net, params)
        Zs, As = nw.pre_activations(net, layers, X)
        return cls(net, params, layers, Zs, As, Y)

    @cached_property
    def theta(self) -> np.ndarray:
        return nw.flatten(self.net, self.params)

    @cached_property
    def loss(self) -> float:
        return float(nw.logit_losses(self.net, self.Zs[-1], self.Y))

    def inputs(self, layer: int) -> np.ndarray:
        """What layer ``layer``'s elements multiply: A_{l-1}, then a row of ones for its bias."""
        A = self.As[layer]
        return np.vstack([A, np.ones((1, A.shape[1]))]) if self.layers[layer][1] is not None else A


@dataclasses.dataclass(frozen=True)
class Elements:
    """Each flat element as (layer, unit, input) in the columns orientation, where the input
    n_{l-1} is the bias: ``W_l[i, j]`` moves ``Z_l[i]`` by ``t A_{l-1}[j]``, ``b_l[i]`` by ``t``."""

    layer: np.ndarray
    unit: np.ndarray
    input: np.ndarray

    @classmethod
    def of(cls, net: nw.Network) -> Elements:
        layer, unit, inp = [], [], []
        for index, ((_, b), n_prev, n) in enumerate(
            zip(net.names, net.widths[:-1], net.widths[1:], strict=True)
        ):
            # C order of W: (n, n_prev) runs over the inputs fastest, rows' (n_prev, n) over the units.
            i, j = np.meshgrid(
                np.arange(n), np.arange(n_prev), indexing="ij" if net.layout == "columns" else "xy"
            )
            unit.append(i.ravel())
            inp.append(j.ravel())
            layer.append(np.full(n * n_prev, index))
            if b is not None:
                unit.append(np.arange(n))
                inp.append(np.full(n, n_prev))
                layer.append(np.full(n, index))
        return cls(np.concatenate(layer), np.concatenate(unit), np.concatenate(inp))


def element_name(net: nw.Network, index: int) -> str:
    """The name of one element of the flat vector, as :func:`gradcheck_xor.network.element_names`
    has it (``dW1[0, 1]``), without naming all of them."""
    for key, shape in net.param_shapes.items():
        size = int(np.prod(shape))
        if index < size:
            return f"d{key}[{', '.join(map(str, np.unravel_index(index, shape)))}]"
        index -= size
    raise IndexError(index)


# --- kinks -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kink:
    """Where one direction's perturbations meet kinks (the records of the report)."""

    direction: int
    kind: str  # "on": a Z is 0 and this direction moves it; "near": a Z crosses 0 within 2h
    layers: tuple[int, ...]  # 1-based, per (unit, sample) below
    units: tuple[int, ...]
    samples: tuple[int, ...]
    offset: float  # the nearest crossing's distance along the direction (0 on a kink)


@dataclasses.dataclass(frozen=True)
class Kinks:
    """How each direction is judged (:data:`METHODS`), and which way its kinks turn on."""

    method: np.ndarray  # (k,) CENTRAL ... SKIPPED
    up: np.ndarray  # (k,) a unit on a kink turns on when moving right (its right slope is 1)
    records: tuple[Kink, ...]

    @classmethod
    def none(cls, k: int) -> Kinks:
        return cls(np.zeros(k, dtype=int), np.zeros(k, dtype=bool), ())


@dataclasses.dataclass
class _Crossings:
    """Per direction: on a kink (and in which layers), moving up there, crossings left/right."""

    on_layers: list[set[int]]
    up: np.ndarray
    down: np.ndarray
    left: np.ndarray
    right: np.ndarray
    where: list[list[tuple[int, int, int, float]]]  # (layer, unit, sample, offset)

    @classmethod
    def empty(cls, k: int) -> _Crossings:
        z = np.zeros(k, dtype=bool)
        return cls([set() for _ in range(k)], z, z.copy(), z.copy(), z.copy(), [[] for _ in range(k)])

    def add(
        self,
        rows: np.ndarray,
        layer: int,
        on: np.ndarray,
        up: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        offset: np.ndarray,
        units: np.ndarray | None = None,
    ) -> None:
        """Flags of directions ``rows`` in one layer: (r, m) for each direction's own unit
        ``units[r]``, or (r, n, m) for every unit of a later layer."""
        axes = tuple(range(1, on.ndim))
        self.up[rows] |= (on & up).any(axis=axes)
        self.down[rows] |= (on & ~up).any(axis=axes)
        self.left[rows] |= left.any(axis=axes)
        self.right[rows] |= right.any(axis=axes)
        hit = on | left | right
        for r in np.flatnonzero(hit.any(axis=axes)):
            d = rows[r]
            if on[r].any():
                self.on_layers[d].add(layer)
            for index in zip(*np.nonzero(hit[r]), strict=True):
                where = 0.0 if on[r][index] else float(offset[r][index])
                unit = int(index[0]) if units is None else int(units[r])
                self.where[d].append((layer, unit, int(index[-1]), where))


def first_layer_reach(A: np.ndarray, step: float) -> float:
    """How far a perturbation of at most 2h of one of a layer's elements can move its Z:
    a weight moves it by t times an input, a bias by t."""
    return 2 * step * max(1.0, float(np.abs(A).max(initial=0.0)))


def _reach(trace: Trace, step: float) -> list[float]:
    """Per layer, how far any one element's perturbation of at most 2h can move its Z: its
    own elements as :func:`first_layer_reach` says, earlier ones through ||W_l||_inf (a relu
    or leaky relu is 1-Lipschitz)."""
    reach: list[float] = []
    for (W, _), A in zip(trace.layers, trace.As, strict=True):
        own = first_layer_reach(A, step)
        carried = float(np.abs(W).sum(axis=1).max()) * reach[-1] if reach else 0.0
        reach.append(max(own, carried))
    return reach


def _z_tol(trace: Trace, layer: int) -> np.ndarray:
    """(n_l, m): the round-off of computing Z_l; anything this close to 0 sits on the kink."""
    W, b = trace.layers[layer]
    scale = np.abs(W) @ np.abs(trace.As[layer])
    return 8 * _EPS * (scale if b is None else scale + np.abs(b))


def kinks(trace: Trace, elements: Elements, step: float) -> Kinks:
    """Where each element's perturbations meet a kink, and how each element is judged."""
    net, P = trace.net, len(elements.layer)
    if net.hidden not in _points.KINKED:
        return Kinks.none(P)
    reach = _reach(trace, step)
    close = [float(np.abs(Z).min()) <= r for Z, r in zip(trace.Zs[:-1], reach[:-1], strict=True)]
    if not any(close):  # the usual case: no hidden Z within reach of any perturbation
        return Kinks.none(P)
    found = _Crossings.empty(P)
    for layer in range(net.depth):
        rows = np.flatnonzero(elements.layer == layer)
        units, inputs = elements.unit[rows], elements.input[rows]
        if layer < net.depth - 1 and close[layer]:
            # The element's own layer: Z_l[i] + t rate moves linearly, the geometry is exact.
            Z = trace.Zs[layer][units]
            rate = trace.inputs(layer)[inputs]
            moves = rate != 0
            on = moves & (np.abs(Z) <= _z_tol(trace, layer)[units])
            offset = -Z / np.where(moves, rate, 1.0)
            near = moves & ~on & (np.abs(offset) <= 2 * step)
            found.add(rows, layer, on, rate > 0, near & (offset < 0), near & (offset > 0), offset, units)
        if any(close[layer + 1 : net.depth - 1]):
            _later_crossings(trace, layer, rows, units, inputs, step, close, found)
    return _judge(found, P)


def _later_crossings(
    trace: Trace,
    layer: int,
    rows: np.ndarray,
    units: np.ndarray,
    inputs: np.ndarray,
    step: float,
    close: list[bool],
    found: _Crossings,
) -> None:
    """Crossings in the hidden layers after ``layer``, read off the perturbed pass itself."""
    net, rate = trace.net, trace.inputs(layer)
    ts = (-2 * step, -step, step, 2 * step)
    for chunk in _chunks(len(rows), trace, layer):
        later: list[list[np.ndarray]] = []
        for t in ts:
            hidden: list[np.ndarray] = []
            nw.losses_after(
                net, trace.layers, trace.Zs, trace.Y, layer, units[chunk], t * rate[inputs[chunk]], hidden
            )
            later.append(hidden)
        for depth, values in enumerate(zip(*later, strict=True)):
            l2 = layer + 1 + depth
            if not close[l2]:
                continue
            Z0 = trace.Zs[l2][None]
            Zm2, Zm1, Zp1, Zp2 = values
            moves = (Zp1 != Z0) | (Zm1 != Z0)
            on = moves & (np.abs(Z0) <= _z_tol(trace, l2)[None])
            side = Z0 > 0
            right = ~on & (((Zp1 > 0) != side) | ((Zp2 > 0) != side))
            left = ~on & (((Zm1 > 0) != side) | ((Zm2 > 0) != side))
            slope = (Zp1 - Zm1) / (2 * step)
            offset = -Z0 / np.where(slope != 0, slope, np.inf)  # a linear estimate, for the notes
            found.add(rows[chunk], l2, on, Zp1 > Z0, left, right, offset)


def _judge(found: _Crossings, k: int) -> Kinks:
    on_any = np.array([bool(layers) for layers in found.on_layers])
    several = np.array([len(layers) > 1 for layers in found.on_layers])
    mixed = found.up & found.down
    left_bad, right_bad = found.left, found.right
    method = np.zeros(k, dtype=int)  # CENTRAL
    method[~on_any & right_bad & ~left_bad] = LEFT
    method[~on_any & left_bad & ~right_bad] = RIGHT
    method[on_any & ~left_bad & ~right_bad & ~mixed] = KINK
    # Kinks on both sides, or on kinks in two layers at once (the chain rule's value at a
    # kink of a kink is no longer between the one-sided derivatives): not judged.
    method[(on_any & (left_bad | right_bad | mixed | several)) | (left_bad & right_bad)] = SKIPPED
    records = []
    for d in np.flatnonzero(method != CENTRAL):
        where = found.where[d]
        kind = "on" if on_any[d] else "near"
        offsets = [abs(o) for *_, o in where if o != 0] or [0.0]
        records.append(
            Kink(
                int(d),
                kind,
                tuple(w[0] + 1 for w in where),
                tuple(w[1] for w in where),
                tuple(w[2] for w in where),
                0.0 if kind == "on" else min(offsets),
            )
        )
    return Kinks(method, found.up, tuple(records))


# --- the losses along each element -----------------------------------------------------------


def _chunks(k: int, trace: Trace, layer: int) -> list[slice]:
    """Slices of ``k`` perturbations of ``layer`` whose arrays stay within :data:`_CHUNK`."""
    size = max(1, _CHUNK // (max(trace.net.widths[layer + 1 :]) * trace.As[0].shape[1]))
    return [slice(start, min(start + size, k)) for start in range(0, k, size)]


def element_losses(
    trace: Trace, elements: Elements, ts: tuple[float, ...], which: np.ndarray | None = None
) -> np.ndarray:
    """(len(ts), k): the loss with element ``which[e]`` (default: all) moved by each t."""
    net = trace.net
    which = np.arange(len(elements.layer)) if which is None else which
    out = np.empty((len(ts), len(which)))
    for layer in range(net.depth):
        picked = np.flatnonzero(elements.layer[which] == layer)
        if picked.size == 0:
            continue
        units, inputs = elements.unit[which[picked]], elements.input[which[picked]]
        rate = trace.inputs(layer)
        for chunk in _chunks(len(picked), trace, layer):
            D = rate[inputs[chunk]]
            for r, t in enumerate(ts):
                out[r, picked[chunk]] = nw.losses_after(
                    net, trace.layers, trace.Zs, trace.Y, layer, units[chunk], t * D
                )
    return out


def flat_losses(
    losses: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, V: np.ndarray, ts: tuple[float, ...]
) -> np.ndarray:
    """(len(ts), k): ``losses`` of the flat vectors theta + t V[k], one call."""
    rows = theta + np.asarray(ts)[:, None, None] * V[None]
    return losses(rows.reshape(-1, theta.size)).reshape(len(ts), len(V))


@dataclasses.dataclass(frozen=True)
class Differences:
    """One point's numeric derivatives along each direction checked."""

    central: np.ndarray  # (k,)
    left: np.ndarray  # (k,) second-order one-sided, NaN where no kink is near
    right: np.ndarray
    kinks: Kinks
    roundoff: np.ndarray  # (k,) a bound on the rounding error of the difference each is judged by
    # Where the losses at +-2h of every direction are at hand: Richardson's extrapolation of
    # the central differences at h and 2h, and a bound on its error (what it can resolve).
    richardson: np.ndarray | None = None
    resolution: np.ndarray | None = None


def _assemble(
    L0: float,
    Lh: np.ndarray,
    L2: np.ndarray | None,
    near: np.ndarray,
    kinked: Kinks,
    step: float,
    L2_all: np.ndarray | None = None,
) -> Differences:
    """From the losses at -h, +h (2, k) and, for the directions ``near`` (indices), at -2h,
    +2h; ``L2_all``: those of every direction, for Richardson's extrapolation."""
    half = 0.5 / step
    central = (Lh[1] - Lh[0]) * half
    left = np.full_like(central, np.nan)
    right = np.full_like(central, np.nan)
    if L2 is not None and near.size:
        Lm1, Lp1 = Lh[0, near], Lh[1, near]
        left[near] = (3 * L0 - 4 * Lm1 + L2[0]) * half
        right[near] = (-3 * L0 + 4 * Lp1 - L2[1]) * half
    # Each loss is rounded to about eps |L|: a central difference carries 2 such errors / 2h,
    # a one-sided one 3 + 4 + 1 of them; doubled, for the sums behind each loss. Next to the
    # tolerances this matters only where the loss is large and the gradient element small.
    roundoff = np.where(kinked.method == CENTRAL, 2.0, 8.0) * (_EPS * abs(L0) / step)
    richardson = resolution = None
    if L2_all is not None:
        # D(h) = g + c h^2 + O(h^4), so (4 D(h) - D(2h)) / 3 = g + O(h^4). What is left: the
        # h^2 error the two differences show, |D(h) - D(2h)| = 3 |c| h^2 plus their rounding
        # noise (a loss's own sums and logs round beyond eps |L|: the two steps' differences
        # measure it), four times over; and 64 eps |L| / h, the noise of a loss computed
        # to a few dozen ulps, where the two happen to agree.
        wide = (L2_all[1] - L2_all[0]) * (0.5 * half)
        richardson = central + (central - wide) / 3
        resolution = 4 * np.abs(central - wide) + 64 * _EPS * abs(L0) / step
    return Differences(central, left, right, kinked, roundoff, richardson, resolution)


def _network_losses(trace: Trace) -> Callable[[np.ndarray], np.ndarray]:
    """The network's own loss of flat parameter vectors (..., n_params)."""
    net, X, Y = trace.net, trace.As[0], trace.Y
    if net.layout == "rows":
        X, Y = X.T, Y.T
    return lambda thetas: nw.losses(net, thetas, X, Y)


def per_element(
    traces: list[Trace],
    elements: Elements,
    step: float,
    losses: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Differences]:
    """Every element's central difference at each point, and one-sided ones where a kink is near.

    ``losses``: the loss of flat parameter vectors (r, n_params) by code of the user's (a
    forward or a loss of theirs). By default the network's own: for a small network every
    perturbed vector of every point in one batched pass, else layer by layer from rank-one
    changes (:func:`element_losses`)."""
    kinked = [kinks(t, elements, step) for t in traces]
    n, P = len(traces), len(elements.layer)
    if losses is None and n * (4 * P + 1) * P > _FLAT:
        out = []
        for trace, k in zip(traces, kinked, strict=True):
            near = np.flatnonzero(k.method != CENTRAL)
            Lh = element_losses(trace, elements, (-step, step))
            L2 = element_losses(trace, elements, (-2 * step, 2 * step), near) if near.size else None
            out.append(_assemble(trace.loss, Lh, L2, near, k, step))
        return out
    losses = losses or _network_losses(traces[0])
    eye = np.eye(P)
    offsets = np.concatenate([np.zeros((1, P)), *(t * eye for t in (-2 * step, -step, step, 2 * step))])
    thetas = np.stack([t.theta for t in traces])[:, None, :] + offsets
    L = losses(thetas.reshape(-1, P)).reshape(n, 1 + 4 * P)
    out = []
    for row, k in zip(L, kinked, strict=True):
        Lm2, Lm1, Lp1, Lp2 = row[1:].reshape(4, P)
        near = np.flatnonzero(k.method != CENTRAL)
        L2 = np.stack([Lm2, Lp2])
        out.append(_assemble(float(row[0]), np.stack([Lm1, Lp1]), L2[:, near], near, k, step, L2))
    return out


def along(
    trace: Trace,
    V: np.ndarray,
    kinked: Kinks,
    step: float,
    losses: Callable[[np.ndarray], np.ndarray] | None = None,
    extrapolate: bool = False,
) -> Differences:
    """Differences along directions ``V`` (k, n_params); ``kinked`` says how each is judged;
    ``extrapolate``: Richardson's extrapolation too (the losses at +-2h of every direction)."""
    losses = losses or _network_losses(trace)
    near = np.flatnonzero(kinked.method != CENTRAL)
    wide = near.size > 0 or extrapolate
    ts = (-step, step, -2 * step, 2 * step) if wide else (-step, step)
    L = flat_losses(losses, trace.theta, V, ts)
    L0 = float(losses(trace.theta[None])[0]) if wide else trace.loss
    L2 = L[2:] if extrapolate else None
    return _assemble(L0, L[:2], L[2:, near] if near.size else None, near, kinked, step, L2)


def numeric_gradient(
    params: dict[str, Any],
    X: Any = None,
    Y: Any = None,
    *,
    hidden: str | None = None,
    output: str | None = None,
    loss: str | None = None,
    layout: str | None = None,
    step: float = STEP,
) -> dict[str, np.ndarray]:
    """Central-difference gradient, keyed ``dW1, db1, ...`` and shaped as the parameters.

    No kink handling: this is the plain estimate (relu'(0) comes out as 0.5 on a kink).
    ``X`` and ``Y`` default to the XOR data; the options are those of
    :func:`gradcheck_xor.network.describe`."""
    net = nw.describe(params, X, hidden=hidden, output=output, loss=loss, layout=layout)
    if X is None and Y is None:
        X, Y = _points.xor_data(net)
    trace = Trace.of(net, {k: v for k, v in params.items() if k in net.param_shapes}, *nw.columns(net, X, Y))
    elements = Elements.of(net)
    Lh = element_losses(trace, elements, (-step, step))
    return nw.unflatten(net, (Lh[1] - Lh[0]) / (2 * step), net.grad_keys)
