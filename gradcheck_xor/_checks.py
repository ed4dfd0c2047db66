"""The diagnostics' checks: one forward pass of S parameter sets of one network on one data
set (:class:`Analysis`), and a table of checks, one per code (:data:`CHECKS`).

A check is two small functions: ``flags`` says where its code fires for every set at once,
as boolean arrays keyed by layer (0 for what concerns the whole network or the data), and
``report`` says what it found in one set, from one of those arrays, as (severity, message,
evidence). :func:`gradcheck_xor.diagnostics.init_codes` reduces the flags of a batch,
:func:`gradcheck_xor.diagnostics.diagnose` reports them for one set: the two cannot disagree.

Arrays are in the columns orientation with the sets on a leading axis, W_l (S, n_l, n_{l-1})
and Z_l (S, n_l, m); layers are numbered from 1, as the keys (W1, Z1) are. The forward pass
is :mod:`gradcheck_xor.network`'s; nothing here computes a loss or an activation of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from gradcheck_xor import _losses
from gradcheck_xor._description import Network, as_inputs, flat_layers, numbers, turned, unflatten
from gradcheck_xor.network import columns, pre_activations

EPS = float(np.finfo(np.float64).eps)
VANISHING_W2 = float(np.sqrt(EPS))  # 1.49e-8; see the diagnostics module's docstring
KINK_ULPS = 4.0
KINKED = ("relu", "leaky_relu")  # hidden activations with a kink at 0, linear on either side
SATURATING = {"sigmoid": "0 or 1", "tanh": "-1 or 1"}  # hidden activations and their limits

Flags = dict[int, np.ndarray]
Said = tuple[str, str, dict[str, Any]]  # (severity, message, evidence) of one finding


# --- the forward pass and the data, for S parameter sets ---------------------------------------


class Analysis:
    """The forward pass of the flat parameter vectors ``thetas`` (S, n_params) on inputs ``X``
    and labels ``Y`` (in the network's layout), and what several checks share."""

    def __init__(self, net: Network, thetas: np.ndarray, X: Any, Y: Any, *, notebook_loss: bool) -> None:
        self.net = net
        self.notebook_loss = notebook_loss
        self.params = unflatten(net, thetas)  # the caller's layout, (S, *shape)
        self.layers = flat_layers(net, thetas)
        self.given_X = as_inputs(net, X)
        self.X = turned(self.given_X) if net.layout == "rows" else self.given_X
        self.labels, self.Y, self.not_classes = _labels(net, self.given_X, Y)
        self.m = self.X.shape[1]
        self.Zs, self.As = pre_activations(net, self.layers, self.X)
        data_finite = bool(np.isfinite(self.X).all() and np.isfinite(self.labels).all())
        sets = thetas.reshape(thetas.shape[0], -1)
        self.finite = np.isfinite(sets).all(axis=1) & data_finite  # (S,)

    @property
    def hidden(self) -> range:
        return range(1, self.net.depth)

    def Z(self, layer: int) -> np.ndarray:
        return self.Zs[layer - 1]

    def W(self, layer: int) -> np.ndarray:
        return self.layers[layer - 1][0]

    def shown(self, array: np.ndarray) -> np.ndarray:
        """One set's (n, m) array in the caller's layout."""
        return array.T if self.net.layout == "rows" else array

    @cached_property
    def linear(self) -> Flags:
        """Hidden layers with a kink whose every unit is active on every sample: (S,) each."""
        if self.net.hidden not in KINKED:
            return {}
        return {layer: np.all(self.Z(layer) > 0.0, axis=(-2, -1)) for layer in self.hidden}

    @cached_property
    def signal(self) -> dict[int, np.ndarray]:
        """The largest fraction of the output's error signal dZ_L that reaches each unit's
        activation A_l, over samples and outputs, (S, n_l): the product of the weights above
        it and the slopes of the layers between, in absolute values (a bound no cancellation
        can beat). Next to the output it is |W_L| itself."""
        net = self.net
        if net.depth < 2:
            return {}
        top = np.abs(self.W(net.depth)).swapaxes(-1, -2)[:, None]  # (S, 1, n_{L-1}, n_out)
        signal = {net.depth - 1: top.max(axis=(1, 3))}
        # Deeper, the slopes differ from sample to sample: (S, samples, n_l, n_out) per step,
        # in blocks of samples so that memory stays bounded for any data set.
        block = max(1, 2**20 // (len(self.finite) * max(net.widths) * net.n_out))
        for start in range(0, self.m, block):
            gain = top
            for layer in reversed(range(1, net.depth - 1)):
                gain = self._gain_below(layer, gain, slice(start, start + block))
                found = gain.max(axis=(1, 3))
                signal[layer] = np.maximum(signal[layer], found) if layer in signal else found
        return dict(sorted(signal.items()))

    def _gain_below(self, layer: int, gain: np.ndarray, samples: slice) -> np.ndarray:
        """Layer ``layer``'s gain from layer ``layer + 1``'s: through the slopes of layer
        ``layer + 1`` on ``samples`` and the absolute weights of ``W_{layer + 1}``."""
        back = _losses.HIDDEN_FUNCTIONS[self.net.hidden][1]
        Z, A = self.Z(layer + 1)[..., samples], self.As[layer + 1][..., samples]
        slope = back(np.ones_like(Z), Z, A).swapaxes(-1, -2)[..., None]  # (S, samples, n, 1)
        return np.abs(self.W(layer + 1)).swapaxes(-1, -2)[:, None] @ (slope * gain)

    @cached_property
    def vanishing(self) -> Flags:
        return {layer: signal < VANISHING_W2 for layer, signal in self.signal.items()}

    @cached_property
    def stuck(self) -> np.ndarray:
        """(S,) a vanishing error signal with every hidden layer linear on the data: the
        notebook's end state, a stationary point of gradient descent."""
        if not self.linear:
            return np.zeros(len(self.finite), dtype=bool)
        vanishing = np.logical_or.reduce([v.any(axis=-1) for v in self.vanishing.values()])
        return vanishing & np.logical_and.reduce(list(self.linear.values()))

    @cached_property
    def is_xor(self) -> bool:
        """Whether the data is XOR's truth table (in any order, with repeats)."""
        X, Y = self.X, self.Y
        return (
            X.shape[0] == 2
            and Y.shape[0] == 1
            and bool(np.isin(X, (0.0, 1.0)).all())
            and bool(np.array_equal(Y[0], X[0] != X[1]))
        )


def _labels(net: Network, X: np.ndarray, Y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labels as given (float64), in the columns orientation (one-hot for classes), and
    which samples' labels are no class of a softmax network: those are a ``label-range``
    finding, not an unusable file, and their columns are NaN."""
    m = X.shape[0 if net.layout == "rows" else 1]
    given = numbers("Y", Y)
    not_classes = np.zeros(m, dtype=bool)
    if net.output == "softmax" and given.shape == (m,):
        not_classes = ~((given >= 0) & (given < net.n_out) & (np.floor(given) == given))
    if not not_classes.any():
        return given, columns(net, X, given)[1], not_classes
    Y = columns(net, X, np.where(not_classes, 0.0, given))[1].copy()
    Y[:, not_classes] = np.nan
    return given, Y, not_classes


# --- words and numbers for messages ------------------------------------------------------------


def _indices(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def _fmt(values: Any, most: int = 8) -> str:
    """Numbers to three significant digits, at most ``most`` of them."""
    flat = np.ravel(np.asarray(values, dtype=np.float64))
    more = ", ..." if flat.size > most else ""
    return "[" + ", ".join(f"{v:.3g}" for v in flat[:most]) + more + "]"


def _listed(items: list[str], most: int = 6, sep: str = ", ", total: int | None = None) -> str:
    """The first ``most`` items, and how many more of ``total`` (default: all the items)."""
    total = len(items) if total is None else total
    more = f" and {total - most} more" if total > most else ""
    return sep.join(items[:most]) + more


def _sample(a: Analysis, i: int) -> str:
    x = a.X[:, i]
    return f"{i} at ({', '.join(f'{v:g}' for v in x)})" if x.size <= 4 else str(i)


def _units(a: Analysis, layer: int, units: list[int]) -> str:
    """Words for some units of a layer: hidden unit 1, hidden units 0, 1 (of layer 2)."""
    words = f"hidden unit{'s' if len(units) > 1 else ''} {_listed([str(j) for j in units], 12)}"
    return words + (f" of layer {layer}" if a.net.depth > 2 else "")


def _the_layer(a: Analysis, layer: int) -> str:
    return "the hidden layer" if a.net.depth == 2 else f"hidden layer {layer}"


def _stuck(a: Analysis) -> str:
    linear = "the hidden layer" if a.net.depth == 2 else "every hidden layer"
    return f"; with {linear} linear too, training is stuck." if a.stuck[0] else "."


# --- the checks, one per code, in the order of reports -----------------------------------------


def _non_finite_flags(a: Analysis) -> Flags:
    return {0: ~a.finite}


def _non_finite_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    arrays = {**{k: v[0] for k, v in a.params.items()}, "X": a.given_X, "Y": a.labels}
    counts = {k: int(np.size(v) - np.isfinite(v).sum()) for k, v in arrays.items()}
    counts = {k: n for k, n in counts.items() if n}
    where = ", ".join(f"{k} ({n})" for k, n in counts.items())
    return [("error", f"NaN or Inf in {where}.", {"non_finite_counts": counts})]


def _outside(a: Analysis) -> tuple[list[float], str]:
    """Labels the output cannot take, and the range it can."""
    finite = np.isfinite(a.labels)  # NaN and Inf are non-finite's
    if a.not_classes.any():
        return np.unique(a.labels[a.not_classes & finite]).tolist(), f"the classes 0 to {a.net.n_out - 1}"
    if a.net.output == "identity":
        return [], ""
    return np.unique(a.labels[finite & ((a.labels < 0.0) | (a.labels > 1.0))]).tolist(), "[0, 1]"


def _label_range_flags(a: Analysis) -> Flags:
    return {0: np.full(len(a.finite), bool(_outside(a)[0]))}


def _label_range_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    outside, allowed = _outside(a)
    return [("error", f"labels {_fmt(outside, 4)} lie outside {allowed}.", {"labels_outside": outside[:16]})]


def _dead_relu_flags(a: Analysis) -> Flags:
    if a.net.hidden != "relu":
        return {}
    return {layer: np.all(a.Z(layer) <= 0.0, axis=-1) for layer in a.hidden}  # (S, n_l)


def _dead_relu_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    units, Z, z = _indices(mask), a.Z(layer)[0], f"Z{layer}"
    detail = _listed([f"unit {j}: {z} = {_fmt(Z[j])}" for j in units], sep="; ")
    fate = (
        "their gradients are exactly zero, so they never recover."
        if len(units) > 1
        else "its gradient is exactly zero, so it never recovers."
    )
    message = (
        f"{_units(a, layer, units)} {'are' if len(units) > 1 else 'is'} dead: {z} <= 0 on all "
        f"{a.m} samples ({detail}); {fate}"
    )
    return [("error", message, {"units": units, z: {str(j): Z[j] for j in units}})]


def _symmetric_flags(a: Analysis) -> Flags:
    flags = {}
    for layer in a.hidden:
        W, b = a.layers[layer - 1]
        # Each unit's weights in (rows of W), out (columns of the next W) and its bias.
        parts = [W, a.W(layer + 1).swapaxes(-1, -2)] + ([] if b is None else [b])
        n = W.shape[-2]
        same = np.zeros((*W.shape[:-1], n), dtype=bool)  # (S, n_l, n_l): pairs j < k
        for j, k in zip(*np.triu_indices(n, 1), strict=True):
            equal = [np.all(p[..., j, :] == p[..., k, :], axis=-1) for p in parts]
            same[..., j, k] = np.logical_and.reduce(equal)
        flags[layer] = same
    return flags


def _symmetric_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    (w, b), w_next = a.net.names[layer - 1], a.net.names[layer][0]
    cols = a.net.layout == "columns"
    bias = a.layers[layer - 1][1]
    said, seen = [], set()
    for j in sorted({int(j) for j in np.nonzero(mask)[0]}):
        if j in seen:
            continue
        group = [j, *_indices(mask[j])]
        seen.update(group)
        incoming, outgoing = a.W(layer)[0, j], a.W(layer + 1)[0, :, j]
        parts = [f"{w} {'rows' if cols else 'columns'} {_fmt(incoming)}"]
        evidence: dict[str, Any] = {"units": group, f"{w}_{'row' if cols else 'column'}": incoming}
        if b is not None:
            parts.append(f"{b} {bias[0, j, 0]:.3g}")
            evidence[b] = bias[0, j, 0]
        if outgoing.size == 1:
            parts.append(f"{w_next} {outgoing[0]:.3g}")
            evidence[w_next] = outgoing[0]
        else:
            parts.append(f"{w_next} {'columns' if cols else 'rows'} {_fmt(outgoing)}")
            evidence[f"{w_next}_{'column' if cols else 'row'}"] = outgoing
        names = ", ".join(map(str, group[:-1])) + f" and {group[-1]}"
        where = f" of layer {layer}" if a.net.depth > 2 else ""
        message = (
            f"hidden units {names}{where} are identical ({', '.join(parts)}): they get the same "
            "gradient and stay identical forever."
        )
        said.append(("error", message, evidence))
    return said


def _vanishing_flags(a: Analysis) -> Flags:
    return a.vanishing


def _vanishing_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    units, net = _indices(mask), a.net
    severity = "error" if a.stuck[0] else "warning"
    evidence: dict[str, Any] = {"units": units}
    if layer == net.depth - 1:  # the output layer's own weights
        w = net.names[-1][0]
        W = a.params[w][0]
        about = np.max(np.abs(a.W(net.depth)[0][:, units]))
        message = (
            f"|{w}| of {_units(a, layer, units)} below sqrt(eps) = {VANISHING_W2:.3g} ({w} = {_fmt(W)}): "
            f"{_the_layer(a, layer)} receives about {about:.1e} of the output's error"
        )
        evidence[w] = W.ravel() if net.n_out == 1 else W
    else:
        weights = ", ".join(net.names[i - 1][0] for i in range(net.depth, layer, -1))
        between = range(layer + 1, net.depth)
        slopes = f"layer{'s' if len(between) > 1 else ''} {', '.join(map(str, between))}"
        signal = a.signal[layer][0][units]
        message = (
            f"the error signal reaching {_units(a, layer, units)} is below sqrt(eps) = "
            f"{VANISHING_W2:.3g}: through {weights} and the slopes of {slopes} "
            f"{'they receive' if len(units) > 1 else 'it receives'} at most "
            f"{np.max(signal):.1e} of the output's error"
        )
        evidence[f"dA{layer}_bound"] = signal  # of |dA_l| / max |dZ_L|, per unit
    evidence["threshold"] = VANISHING_W2
    return [(severity, message + _stuck(a), evidence)]


def _linear_flags(a: Analysis) -> Flags:
    return a.linear


def _linear_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    Z, z = a.Z(layer)[0], f"Z{layer}"
    units = "hidden unit" if a.net.depth == 2 else f"unit of hidden layer {layer}"
    if np.logical_and.reduce([flags[0] for flags in a.linear.values()]):
        what = "the network is linear in X on this data" + (
            " and cannot represent XOR from here."
            if a.is_xor
            else ": from here it fits the labels no better than a linear model."
        )
    else:
        what = f"layer {layer} is linear on this data and adds no bend of its own to the network."
    message = f"every {units} is active on all {a.m} samples (min {z} = {Z.min():.3g}): {what}"
    severity = "error" if a.stuck[0] else "warning"
    return [(severity, message, {z: a.shown(Z), f"min_{z}": float(Z.min())})]


def _saturated_output(a: Analysis) -> np.ndarray:
    """(S, m): samples where the output rounds to its limit in float64."""
    Z, output = a.Z(a.net.depth), a.net.output
    if output == "sigmoid":  # sigmoid(|z|) == 1.0: the notebook's A2 or 1 - A2 is 0
        return np.any(_losses.sigmoid(np.abs(Z)) == 1.0, axis=-2)
    if output == "softmax":
        return np.any(_losses.OUTPUT_FUNCTIONS["softmax"](Z) == 1.0, axis=-2)
    return np.zeros(Z.shape[:1] + Z.shape[2:], dtype=bool)


def _saturation_flags(a: Analysis) -> Flags:
    flags = {}
    if a.net.hidden in SATURATING:
        act = _losses.HIDDEN_FUNCTIONS[a.net.hidden][0]
        flags = {layer: act(np.abs(a.Z(layer))) == 1.0 for layer in a.hidden}  # (S, n_l, m)
    return {**flags, a.net.depth: _saturated_output(a)}


def _saturation_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    z, Z, m = f"Z{layer}", a.Z(layer)[0], a.m
    if layer < a.net.depth:
        units = _indices(mask.any(axis=-1))
        counts = [int(n) for n in mask.sum(axis=-1)[units]]
        if len(units) == 1:
            where, its, it = f"on {counts[0]} of {m} samples", "its", "it"
        else:
            each = [f"unit {j} on {n} of {m} samples" for j, n in zip(units, counts, strict=True)]
            where, its, it = f"({_listed(each)})", "their", "them"
        message = (
            f"{a.net.hidden}({z}) rounds to {SATURATING[a.net.hidden]} for {_units(a, layer, units)} "
            f"{where}: {its} slope is below eps there, so those samples send {it} no gradient."
        )
        return [("warning", message, {"units": units, f"A{layer}_saturated": counts})]
    samples, Y = _indices(mask), a.Y
    if a.net.output == "softmax":
        wrong = np.isfinite(Y).all(axis=0) & (Z.argmax(axis=0) != Y.argmax(axis=0))
        limit = "one-hot"
    else:
        wrong = np.any((Z > 0) != (Y >= 0.5), axis=0)
        limit = "0 or 1"
    wrong = _indices(wrong & mask)
    values = Z[0, samples] if a.net.n_out == 1 else Z[:, samples].T
    many = "s" if len(samples) > 1 else ""
    message = (
        f"{a.net.output}({z}) rounds to {limit} on sample{many} "
        f"{_listed([_sample(a, i) for i in samples[:6]], total=len(samples))} ({z} = {_fmt(values)})"
        + (f"; {len(wrong)} of them confidently wrong." if wrong else ".")
    )
    return [("warning", message, {"samples": samples, z: values, "confidently_wrong": wrong})]


def _loss_normalization_flags(a: Analysis) -> Flags:
    # A property of the notebook's compute_loss and the label layout, whatever the parameters.
    return {0: np.full(len(a.finite), a.notebook_loss)}


def _loss_normalization_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    shape, m = a.labels.shape, a.m
    sample_axis = "X.shape[1]" if a.net.layout == "columns" else "X.shape[0]"
    evidence = {"labels_shape": list(shape), "loss_divisor": shape[0], "backward_divisor": m}
    if shape[0] != m:
        message = (
            f"labels of shape {shape}: the notebook's compute_loss divides by Y.shape[0] = {shape[0]}, "
            f"the backward by {sample_axis} = {m}, so the reported loss is {m / shape[0]:g}x the loss "
            "whose gradient is applied."
        )
        return [("error", message, evidence)]
    if len(shape) == 1:
        why = "but only because Y is 1-D"
    elif a.net.layout == "rows":
        why = "the samples being the rows of both"
    else:
        why = "but only because Y has as many outputs as samples"
    message = (
        f"labels of shape {shape}: the notebook's compute_loss (Y.shape[0]) and backward "
        f"({sample_axis}) both divide by {m}, {why}."
    )
    return [("info", message, evidence)]


def _kink_flags(a: Analysis) -> Flags:
    if a.net.hidden not in KINKED:
        return {}
    flags = {}
    for layer in a.hidden:
        W, b = a.layers[layer - 1]
        # The size of the terms summed into Z: its rounding error is a few eps times this.
        scale = np.abs(W) @ np.abs(a.As[layer - 1]) + (0.0 if b is None else np.abs(b))
        flags[layer] = np.abs(a.Z(layer)) <= KINK_ULPS * EPS * scale  # (S, n_l, m)
    return flags


def _kink_report(a: Analysis, layer: int, mask: np.ndarray) -> list[Said]:
    units, samples = np.nonzero(mask)
    z = f"Z{layer}"
    pairs = zip(units[:6], samples[:6], strict=True)
    at = _listed([f"unit {j} on sample {_sample(a, i)}" for j, i in pairs], total=len(units))
    relu = "ReLU" if a.net.hidden == "relu" else "leaky ReLU"
    message = f"{z} = 0 (within rounding) for {at}: the {relu} has no derivative there."
    evidence = {"units": units.tolist(), "samples": samples.tolist(), z: a.Z(layer)[0][units, samples]}
    return [("info", message, evidence)]


class Check(NamedTuple):
    code: str
    flags: Callable[[Analysis], Flags]
    report: Callable[[Analysis, int, np.ndarray], list[Said]]
    needs_finite: bool = True  # meaningless on NaN: a non-finite set reports non-finite instead


CHECKS: tuple[Check, ...] = (
    Check("non-finite", _non_finite_flags, _non_finite_report, needs_finite=False),
    Check("label-range", _label_range_flags, _label_range_report, needs_finite=False),
    Check("dead-relu", _dead_relu_flags, _dead_relu_report),
    Check("symmetric-units", _symmetric_flags, _symmetric_report),
    Check("vanishing-w2", _vanishing_flags, _vanishing_report),
    Check("linear-hidden-layer", _linear_flags, _linear_report),
    Check("sigmoid-saturation", _saturation_flags, _saturation_report),
    Check("loss-normalization", _loss_normalization_flags, _loss_normalization_report, needs_finite=False),
    Check("relu-kink", _kink_flags, _kink_report),
)
