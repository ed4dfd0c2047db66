"""What a check is made of, before any code of the user's runs: the options resolved into the
network, its parameter points, its data and the label layouts (:class:`Setup`), and a forward
pass or loss of the user's as the loss of flat parameter vectors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck_xor import network as nw
from gradcheck_xor._calling import call, raised
from gradcheck_xor._points import default_points, xor_data
from gradcheck_xor._verdicts import loss_label

Params = dict[str, np.ndarray]
ParamsArg = Mapping[str, Any] | Sequence[Mapping[str, Any]] | nw.Network | None


def label_layouts(net: nw.Network, Y: Any) -> dict[str, np.ndarray]:
    """The label layouts a backward of this network is called with, and the labels ``Y`` (as
    given) in each. Labels for one output come as (m,) and in the layout's 2-D form, (1, m) or
    (m, 1): code meets both, and code that reads the layout gets one of them wrong. A
    softmax's labels come in the one form given, integer classes (m,) or one-hot (or a
    distribution per sample) in 2-D, since code written for the one cannot take the other;
    other labels in 2-D."""
    n, cols = net.n_out, net.layout == "columns"
    full = f"({n}, m)" if cols else f"(m, {n})"
    given = np.asarray(Y)
    if n == 1:
        flat = given.astype(np.float64).reshape(-1)
        return {"(m,)": flat, full: flat.reshape((1, -1) if cols else (-1, 1))}
    if net.output == "softmax" and given.ndim == 1:
        return {"(m,)": given.astype(np.int64)}
    return {full: given.astype(np.float64)}


class UserCodeError(Exception):
    """A forward or loss of the user's raised: the check's verdict is ``raised``."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record["message"])
        self.record = record


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
    """Everything a check needs before it calls any code of the user's."""

    net: nw.Network
    names: tuple[str, ...]
    points: tuple[Params, ...]  # the caller's keys and layout, float64 copies
    X: np.ndarray  # the network's layout
    Y: np.ndarray  # 2-D, the network's layout
    labels: dict[str, np.ndarray]  # Y as handed to the code, per label layout checked
    step: float
    losses: Callable[[np.ndarray], np.ndarray] | None  # a forward or loss of the user's
    loss: str  # what the check differentiates, in words
    own_loss: bool
    tolerances: tuple[float | None, float | None]  # the caller's (rtol, atol), if given
    given_only: bool  # every point is the caller's

    @property
    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        return nw.columns(self.net, self.X, self.Y)


def _network(params: ParamsArg, X: Any, options: dict[str, Any]) -> nw.Network:
    if isinstance(params, nw.Network):
        given = {k: v for k, v in options.items() if v is not None}
        return dataclasses.replace(params, **given) if given else params
    if params is None:
        loss, output = options["loss"], options["output"]
        if output is None:
            output = nw.LOSS_CATALOGUE[loss].outputs[0] if loss in nw.LOSS_CATALOGUE else "sigmoid"
        layout = options["layout"] or ("rows" if X is not None and np.shape(X)[0] != 2 else "columns")
        return nw.Network.from_widths(
            (2, 2, 1), hidden=options["hidden"] or "relu", output=output, loss=loss, layout=layout
        )
    first = params if isinstance(params, Mapping) else params[0] if _is_list(params) else params
    try:
        return nw.describe(first, X, **options)  # type: ignore[arg-type]
    except nw.NetworkError:
        if X is not None or options["layout"] is not None:
            raise
        try:  # square weights and the default data: the notebook's layout
            return nw.describe(first, X, **{**options, "layout": "columns"})  # type: ignore[arg-type]
        except nw.NetworkError:
            pass
        raise


def _is_list(params: Any) -> bool:
    return isinstance(params, Sequence) and not isinstance(params, str) and len(params) > 0


def _points(
    net: nw.Network, params: ParamsArg, X: np.ndarray, Y: np.ndarray, seed: int, defaults: bool | None
) -> list[tuple[str, Params]]:
    if params is None or isinstance(params, nw.Network):
        if defaults is False:
            raise ValueError("defaults=False leaves no point to check: give params, the points to check.")
        return default_points(seed, X, Y, network=net)
    if isinstance(params, Mapping):
        given = [("given", params, "params")]
    elif _is_list(params):
        given = [(f"given-{i}", p, f"params[{i}]") for i, p in enumerate(params)]
    else:
        raise TypeError(f"params: expected a dict or a non-empty list of dicts, got {type(params).__name__}.")
    points = []
    for name, p, where in given:
        try:
            nw.layers(net, p)
        except nw.NetworkError as exc:
            raise nw.NetworkError(f"{where}: {exc}" if where != "params" else str(exc)) from None
        points.append((name, {key: np.array(p[key], dtype=np.float64) for key in net.keys}))
    return points + (default_points(seed, X, Y, network=net) if defaults else [])


def tolerance(name: str, value: Any) -> float | None:
    """The caller's ``rtol`` or ``atol``: None, or a finite number >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: got {value!r}, expected a finite number >= 0.")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: got {value!r}, expected a finite number >= 0.")
    return float(value)


def resolve(
    params: ParamsArg,
    X: Any,
    Y: Any,
    *,
    hidden: str | None,
    output: str | None,
    loss: str | Callable[..., Any] | None,
    layout: str | None,
    forward: str | Callable[..., Any] | None,
    seed: int,
    layouts: Sequence[str] | None,
    step: float,
    rtol: float | None = None,
    atol: float | None = None,
    defaults: bool | None = None,
) -> Setup:
    """The check's :class:`Setup`, the options checked: a bad one raises ValueError or
    TypeError naming it before any code of the user's runs. ``defaults``: visit the default
    points beside the caller's (None: only where the caller gives none)."""
    tolerances = (tolerance("rtol", rtol), tolerance("atol", atol))
    if isinstance(forward, str):
        if hidden is not None and hidden != forward:
            raise ValueError(f"forward={forward!r} and hidden={hidden!r}: give the hidden activation once.")
        hidden, forward = forward, None
    elif forward is not None and not callable(forward):
        raise TypeError(f"forward: expected an activation name or a callable, got {type(forward).__name__}.")
    if loss is not None and not isinstance(loss, str) and not callable(loss):
        raise TypeError(f"loss: expected a loss name or a callable, got {type(loss).__name__}.")
    user_loss = loss if callable(loss) else None
    options = {"hidden": hidden, "output": output, "loss": None if user_loss else loss, "layout": layout}
    net = _network(params, X, options)
    if (X is None) != (Y is None):
        raise ValueError(f"{'Y' if Y is None else 'X'} is missing: give X and Y together, or neither (XOR).")
    if X is None:
        if net.widths[0] != 2 or net.n_out != 1:
            raise ValueError(f"X and Y are needed for the {net}: the XOR data has 2 inputs and 1 output.")
        X, Y = xor_data(net)
    given = Y
    X, Y = (np.array(a, dtype=np.float64) for a in nw.as_data(net, X, Y))
    if not (isinstance(step, (int, float)) and 0 < step < 1e-2):
        raise ValueError(f"step: got {step!r}, expected a number in (0, 0.01).")
    every = label_layouts(net, given)
    chosen = tuple(every) if layouts is None else tuple(layouts)
    unknown = [name for name in chosen if name not in every]
    if unknown or not chosen:
        raise ValueError(
            f"Unknown label layout {unknown[0] if unknown else '(none)'!r}: expected {tuple(every)}."
        )
    points = _points(net, params, X, Y, seed, defaults)
    labels = {name: every[name] for name in chosen}
    losses = None
    if forward is not None or user_loss is not None:
        losses = _user_losses(net, X, Y, labels[chosen[0]], forward, user_loss)
    text = loss_label(net) if user_loss is None else f"your loss {getattr(user_loss, '__name__', '')}".strip()
    return Setup(
        net,
        tuple(name for name, _ in points),
        tuple(p for _, p in points),
        X,
        Y,
        labels,
        float(step),
        losses,
        text,
        forward is None and user_loss is None,
        tolerances,
        not (params is None or isinstance(params, nw.Network) or defaults),
    )


# --- a forward or a loss of the user's ------------------------------------------------------


def _output(out: Any, net: nw.Network) -> np.ndarray:
    """The output activation in what a forward returned: ``A{L}`` of a dict, the last item of
    a tuple (``(A1, A2)``), or the array itself."""
    try:
        if isinstance(out, Mapping):
            out = out[f"A{net.depth}"]
        elif isinstance(out, (tuple, list)):
            out = out[-1]
        return np.asarray(out, dtype=np.float64)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return np.full(0, np.nan)


def _logits(net: nw.Network, A: np.ndarray) -> np.ndarray:
    # The output layer's pre-activation, back from its output: the losses are written from it.
    if net.output == "sigmoid":
        return np.log(A) - np.log1p(-A)
    return np.log(A) if net.output == "softmax" else A


def _user_losses(
    net: nw.Network,
    X: np.ndarray,
    Y: np.ndarray,
    Y_given: np.ndarray,
    forward: Callable[..., Any] | None,
    loss: Callable[..., Any] | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The loss of flat parameter vectors (r, n_params) by a forward and/or loss of the user's.

    A forward ``forward(X, parameters)`` is called once with parameters stacked along a
    leading axis (which works for forwards written with ``@`` and broadcasting), else once
    per vector; a loss ``loss(Y, A_L)`` once per vector, with the labels as the first label
    layout has them."""
    cols = net.layout == "columns"
    full = Y.shape

    def outputs(thetas: np.ndarray) -> np.ndarray:
        r = thetas.shape[0]
        if forward is None:  # a loss of the user's on the network's own output
            return np.stack([nw.forward(net, nw.unflatten(net, t), X)[f"A{net.depth}"] for t in thetas])
        out, failure = call(forward, X.copy(), {k: v.copy() for k, v in nw.unflatten(net, thetas).items()})
        if failure is None:
            A = _output(out, net)
            if A.shape == (r, *full):
                return A
        As = []
        for theta in thetas:
            out, failure = call(forward, X.copy(), {k: v.copy() for k, v in nw.unflatten(net, theta).items()})
            if failure is not None:
                raise UserCodeError(failure)
            A = _output(out, net)
            if A.shape != full:
                message = f"forward returned an output of shape {A.shape}, expected {full}"
                name = getattr(forward, "__name__", "forward")
                raise UserCodeError({"function": name, "type": "ValueError", "message": message, "where": ""})
            As.append(A)
        return np.stack(As)

    def losses(thetas: np.ndarray) -> np.ndarray:
        A = outputs(thetas)
        if loss is None:
            Z = _logits(net, A)
            return nw.logit_losses(net, Z if cols else Z.swapaxes(-1, -2), Y if cols else Y.T)
        values = np.empty(len(A))
        for r, a in enumerate(A):
            out, failure = call(loss, Y_given.copy(), a.copy())
            if failure is None:
                try:
                    values[r] = float(out)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    failure = raised(exc, loss)
            if failure is not None:
                raise UserCodeError(failure)
        return values

    return losses
