"""The verdicts: what kind of wrong a backward pass is, drawn from the evidence.

With the precedence of :data:`VERDICTS`, per label layout: an exception (``raised``), a
result of the wrong shape (``shape-mismatch``), every element right (``ok``), every element
right to its dtype's tolerances but not to float64's precision (``mismatch``, with how
precise it is and the usual causes), one constant factor (``scaled``, with the catalogue
losses that factor turns the loss checked into),
the exact gradient of another network of the catalogue, hidden activation x output x loss
(``matches-other-loss``), and otherwise ``mismatch``, with the likely mistake when one of a
learner's usual ones explains it and the keys and points where it shows. A backward right
for one label layout and not another is ``label-shape-dependent``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradcheck_xor import _differences as diff
from gradcheck_xor import network as nw
from gradcheck_xor._losses import HIDDEN_FUNCTIONS

Params = dict[str, np.ndarray]

VERDICTS = (
    "ok",
    "matches-other-loss",
    "scaled",
    "shape-mismatch",
    "raised",
    "label-shape-dependent",
    "mismatch",
)
_FACTOR_TOL = 1e-3  # how close a fitted factor must be to a named one (4 = m, -1, 0.5, ...)
# Right to better than this relative, but not to float64's precision: imprecise, not wrong.
_IMPRECISE = 1e-4
# Each hidden activation's derivative as a learner writes it, from its Z or its A.
DERIVATIVES = {
    "relu": "(Z > 0)",
    "leaky_relu": f"np.where(Z > 0, 1, {nw.LEAKY_SLOPE})",
    "tanh": "1 - A ** 2",
    "sigmoid": "A * (1 - A)",
    "identity": "1",
}
_NAMES = {
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "identity": "identity",
}


@dataclasses.dataclass(eq=False)
class Evidence:
    """Everything a verdict is drawn from; arrays are (points, layouts, elements)."""

    net: nw.Network
    names: tuple[str, ...]
    layouts: tuple[str, ...]
    params: tuple[Params, ...]
    X: np.ndarray  # the caller's layout
    Y: np.ndarray  # 2-D, the caller's layout
    analytic: np.ndarray
    expected: np.ndarray  # what each value is judged against
    rtol: np.ndarray  # the tolerances of each value's dtype: what the verdicts are drawn with
    atol: np.ndarray
    passed: np.ndarray  # judged to float64's precision where that is known
    coarse: np.ndarray  # within the tolerances of its dtype
    method: np.ndarray  # (points, elements)
    status: np.ndarray  # (points, layouts): "ok", "raised" or "shape"
    problems: dict[tuple[int, int], dict[str, Any]]
    own_loss: bool  # the loss checked is the network's own (not a forward or loss of the user's)
    elements: tuple[str, ...]
    _gradients: dict[Any, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def judged(self) -> np.ndarray:
        """(points, elements): elements with a single right value (not on a kink, not skipped)."""
        return np.isin(self.method, (diff.CENTRAL, diff.LEFT, diff.RIGHT, diff.SMOOTH_KINK))

    @property
    def m(self) -> int:
        return self.X.shape[1 if self.net.layout == "columns" else 0]

    def gradients(
        self, key: Any, compute: Callable[[Params], Params], net: nw.Network | None = None
    ) -> np.ndarray:
        """(points, elements): ``compute`` at every point, flat; each computed once per verdict."""
        if key not in self._gradients:
            keys = (net or self.net).grad_keys
            with np.errstate(all="ignore"):
                self._gradients[key] = np.stack([nw.flatten(self.net, compute(p), keys) for p in self.params])
        return self._gradients[key]


def _close(a: np.ndarray, ref: np.ndarray, rtol: np.ndarray, atol: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(a - ref) <= atol + rtol * np.abs(ref)))


def _fit(a: np.ndarray, ref: np.ndarray) -> float | None:
    """The least-squares factor k in a ≈ k * ref, or None when ref is (nearly) zero."""
    with np.errstate(all="ignore"):
        denom = float(np.sum(ref * ref))
        return float(np.sum(a * ref)) / denom if denom > 1e-24 else None


def loss_label(net: nw.Network, checked: nw.Network | None = None) -> str:
    """The loss of ``net`` in words, saying what differs from the network ``checked``:
    "the mean binary cross-entropy", "half the mean squared error through the sigmoid"."""
    spec, text = net.spec, net.spec.label
    text = text if text.startswith("half") else f"the {text}"
    if spec.kind == "squared" and net.output != "identity":
        text += f" through the {net.output}"
    if checked is not None and net.output == "identity" and checked.output != "identity":
        text += f" of the logit Z{net.depth} (as if the output had no {checked.output})"
    if checked is not None and net.hidden != checked.hidden:
        text += f", with {_NAMES[net.hidden]} hidden layers"
    return text


def _factor(k: float, ev: Evidence) -> tuple[float, str, list[str]]:
    """A fitted factor snapped to the value it most likely is, what that value means, and
    the catalogue losses whose gradient is that factor times the loss checked's."""
    m, n, spec = ev.m, ev.net.n_out, ev.net.spec
    named = [
        (float(m), "= m, the number of samples: the division by m is missing"),
        (1.0 / m, "= 1/m: the gradient is divided by m once too often"),
        (-1.0, f"a sign flip: A{ev.net.depth} - Y written Y - A{ev.net.depth}, or the gradient of -loss"),
        (-float(m), "= -m: a sign flip and a missing division by m"),
    ]
    if n > 1 and spec.per == "element":  # the mean over every output element
        named.append((float(n), f"= {n}, the number of outputs: the loss averaged over the samples only"))
    if n > 1 and spec.per == "sample" and spec.kind != "cross-entropy":
        named.append((1.0 / n, f"= 1/{n}: the loss averaged over the outputs too, not the samples only"))
    if spec.kind == "squared":
        named += [
            (2.0, "a factor 2 too many: the derivative of a square without its ½?"),
            (0.5, "half the gradient: a stray ½?"),
        ]
    named.append((float(m * m), "= m²: m multiplied in where it should divide"))
    value, meaning = k, "a constant factor"
    for v, text in named:
        if abs(k - v) <= _FACTOR_TOL * abs(v):
            value, meaning = v, text
            break
    if n == m and meaning.startswith("= m,"):  # as many outputs as samples: either division
        meaning += f", or the loss averaged over the samples only ({n} outputs)"
    losses, named_losses = [], set()
    if ev.own_loss:
        for other in nw.LOSS_CATALOGUE.values():
            family = other.kind == spec.kind
            if other.name == spec.name or not family or ev.net.output not in other.outputs:
                continue
            ratio = (other.factor / other.normaliser(n, m)) / (spec.factor / spec.normaliser(n, m))
            # One name per loss: with one output, the per-sample means are the element means.
            same = (other.factor, other.normaliser(n, 1), other.normaliser(n, 2))
            if abs(ratio - value) <= _FACTOR_TOL * abs(value) and same not in named_losses:
                losses.append(other.name)
                named_losses.add(same)
    return value, meaning, losses


# --- what the backward could be the gradient of ----------------------------------------------


def _variants(net: nw.Network, own_loss: bool) -> Iterator[nw.Network]:
    """The catalogue, nearest first: other losses, then other outputs, then other hidden
    activations (with the same output and loss, then any)."""
    seen = set()
    outputs = [net.output, *(o for o in nw.OUTPUTS if o != net.output)]
    hiddens = [net.hidden, *(h for h in nw.HIDDEN if h != net.hidden)]
    for hidden, output in itertools.product(hiddens, outputs):
        losses = [net.loss, *(name for name in nw.LOSSES if name != net.loss)]
        for loss in losses:
            key = (hidden, output, loss)
            if key in seen or (key == (net.hidden, net.output, net.loss) and own_loss):
                continue
            seen.add(key)
            try:
                yield dataclasses.replace(net, hidden=hidden, output=output, loss=loss)
            except nw.NetworkError:  # a loss that does not go with the output, a 1-unit softmax
                continue


def _other_network(
    ev: Evidence, j: int, a: np.ndarray, e: np.ndarray, J: np.ndarray
) -> dict[str, Any] | None:
    rtol, atol = ev.rtol[:, j], ev.atol[:, j]
    order = sorted(
        _variants(ev.net, ev.own_loss), key=lambda v: (v.hidden != ev.net.hidden, v.output != ev.net.output)
    )
    for other in order:
        try:
            g = ev.gradients(
                (other.hidden, other.output, other.loss), lambda p, o=other: nw.gradients(o, p, ev.X, ev.Y)
            )
        except nw.NetworkError:  # labels this output cannot take
            continue
        if _close(a[J], g[J], rtol[J], atol[J]) and not _close(e[J], g[J], rtol[J], atol[J]):
            formula, dz = nw.formulas(other)
            expected_formula, expected_dz = nw.formulas(ev.net)
            return {
                "loss": other.loss,
                "hidden": other.hidden,
                "output": other.output,
                "label": loss_label(other, ev.net),
                "formula": formula,
                "dZ": dz,
                "expected_loss": ev.net.loss,
                "expected_dZ": expected_dz,
                "expected_formula": expected_formula,
            }
    return None


def _mistakes(net: nw.Network) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Wrong backward passes a learner writes: (name, what went wrong, how to build it)."""
    L = net.depth
    if net.depth < 2 or net.hidden == "identity":
        hidden: list[tuple[str, str, dict[str, Any]]] = []
    else:
        z, a = ("Z1", "A1") if L == 2 else ("Z_l", "A_l")
        mine = DERIVATIVES[net.hidden].replace("Z", z).replace("A", a)
        hidden = [
            (
                "activation-derivative-missing",
                f"the hidden activation's derivative is missing (dZ{L - 1} = W{L}.T @ dZ{L}, as if "
                f"{_NAMES[net.hidden]}' were 1 everywhere)"
                + ("; it only shows where a hidden unit is inactive" if net.hidden == "relu" else ""),
                {"derivative": lambda da, z, a: da},
            ),
            (
                "activation-output-as-derivative",
                f"the hidden activation's output {a} is used as its derivative (* {a} instead of * {mine})",
                {"derivative": lambda da, z, a: da * a},
            ),
        ]
        for other in ("sigmoid", "tanh", "relu"):
            if other != net.hidden and not (other == "relu" and net.hidden == "leaky_relu"):
                theirs = DERIVATIVES[other].replace("Z", z).replace("A", a)
                hidden.append(
                    (
                        f"{other}-derivative-in-hidden-layer",
                        f"the hidden layer uses the {_NAMES[other]}'s derivative {theirs} instead of "
                        f"the {_NAMES[net.hidden]}'s {mine}",
                        {"derivative": HIDDEN_FUNCTIONS[other][1]},
                    )
                )
    yield from hidden
    if net.output == "sigmoid":
        yield (
            f"gradient-wrt-A{L}",
            f"dZ{L} is the gradient with respect to A{L}, not Z{L}: the sigmoid's derivative "
            f"A{L} * (1 - A{L}) is left out of the chain rule",
            {"dz": lambda dZ, A: dZ / (A * (1 - A))},
        )
    if net.spec.kind in ("bce", "cross-entropy"):
        for eps in _LOG_EPSILONS:
            yield (
                "epsilon-inside-log",
                f"the gradient is the one of the loss with log(A{L} + {eps:g}): an epsilon inside the "
                f"logs keeps the loss finite where A{L} reaches 0 or 1, and moves the gradient most "
                f"where the output saturates (elsewhere by about {eps:g} relative); dZ{L} = "
                f"{nw.formulas(net)[1]} needs no epsilon",
                {"dz": _with_epsilon(net, eps)},
            )


_LOG_EPSILONS = (1e-7, 1e-8, 1e-10, 1e-12, 1e-15)  # Keras's 1e-7, and the others learners pick


def _with_epsilon(net: nw.Network, eps: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """dZ of the cross-entropy written with log(A + eps), from the exact dZ and the output A
    (columns orientation): the labels are A - N dZ (labels of a softmax summing to 1)."""

    def dz(dZ: np.ndarray, A: np.ndarray) -> np.ndarray:
        N = net.spec.normaliser(*dZ.shape[-2:])
        Y = A - N * dZ
        if net.output == "sigmoid":
            return -(Y / (A + eps) - (1 - Y) / (1 - A + eps)) * A * (1 - A) / N
        dA = -Y / (A + eps) / N
        return A * (dA - np.sum(dA * A, axis=-2, keepdims=True))

    return dz


def _mistake(ev: Evidence, j: int, a: np.ndarray, e: np.ndarray, J: np.ndarray) -> tuple[str, str] | None:
    rtol, atol = ev.rtol[:, j], ev.atol[:, j]
    for name, text, swap in _mistakes(ev.net):
        g = ev.gradients(name, lambda p, s=swap: nw.gradients_with(ev.net, p, ev.X, ev.Y, **s))
        if _close(a[J], g[J], rtol[J], atol[J]) and not _close(e[J], g[J], rtol[J], atol[J]):
            return name, text
    return None


# --- the verdict ---------------------------------------------------------------------------------


def verdict(ev: Evidence) -> tuple[str, dict[str, Any]]:
    """The verdict and its details, for evidence where some element failed."""
    subs = [_classify_layout(ev, j) for j in range(len(ev.layouts))]
    if len(subs) > 1 and _layouts_differ(ev):
        return "label-shape-dependent", _label_details(ev, subs)
    return next(sub for sub in subs if sub[0] != "ok")


def _classify_layout(ev: Evidence, j: int) -> tuple[str, dict[str, Any]]:
    """The verdict for one label layout, over every point."""
    at = {"labels": ev.layouts[j]}
    for kind, name in (("raised", "raised"), ("shape", "shape-mismatch")):
        for i in np.flatnonzero(ev.status[:, j] == kind):
            return name, {**ev.problems[i, j], "point": ev.names[i], **at}
    if ev.passed[:, j].all():
        return "ok", {}
    a, e, J = ev.analytic[:, j], ev.expected[:, j], ev.judged
    rtol, atol = ev.rtol[:, j], ev.atol[:, j]
    if not np.isfinite(a).all():
        because = (
            "the backward returns NaN or inf: look for a 0/0, inf - inf, log(0), or a division by "
            "A * (1 - A), which is 0 where the sigmoid saturates"
        )
        return "mismatch", {**_localise(ev, j), "cause": "not-finite", "because": because}
    if ev.coarse[:, j].all() and np.nanmax(_relative(ev, j)) < _IMPRECISE:
        return "mismatch", {**_localise(ev, j), **_imprecise(ev, j)}
    k = _fit(a[J], e[J])
    if k is not None and abs(k - 1) > _FACTOR_TOL and _close(a[J], k * e[J], rtol[J], atol[J]):
        if _close(a, np.zeros_like(a), rtol, atol):
            return "mismatch", _localise(ev, j)
        factor, meaning, losses = _factor(k, ev)
        return "scaled", {"factor": factor, "fitted": k, "meaning": meaning, "losses": losses}
    other = _other_network(ev, j, a, e, J)
    if other is not None:
        return "matches-other-loss", other
    found = _mistake(ev, j, a, e, J)
    if found is not None:
        return "mismatch", {**_localise(ev, j), "cause": found[0], "because": found[1]}
    return "mismatch", _localise(ev, j)


def _relative(ev: Evidence, j: int) -> np.ndarray:
    """(points, elements): each failing value's error relative to what it is judged against
    (its absolute error where that is 0), NaN where it passed."""
    a, e = ev.analytic[:, j], ev.expected[:, j]
    with np.errstate(all="ignore"):
        error = np.abs(a - e)
        rel = np.where(e != 0, error / np.abs(e), error)
    return np.where(ev.passed[:, j], np.nan, rel)


def _imprecise(ev: Evidence, j: int) -> dict[str, Any]:
    """Details of a backward right to its dtype's tolerances but not to float64's precision:
    how precise it is, which elements carry the error, and the usual causes."""
    net, L = ev.net, ev.net.depth
    rel = _relative(ev, j)
    precision = float(np.nanmax(rel))
    worst = np.nanmax(np.where(np.isnan(rel), -1.0, rel), axis=0)
    order = [int(k) for k in np.argsort(-worst, kind="stable") if worst[k] >= 0]
    names = [ev.elements[k] for k in order]
    keys = [g for g in net.grad_keys if any(name.startswith(f"{g}[") for name in names)]
    output = ["d" + k for k in net.names[-1] if k is not None]
    if len(keys) == len(net.grad_keys):
        where = "everywhere"
        typical = (
            f"an epsilon inside the loss's logs (log(A{L} + 1e-7)), a clipped output "
            f"(np.clip(A{L}, 1e-7, 1 - 1e-7)) or a float32 intermediate, which every gradient "
            f"inherits through dZ{L}"
        )
    else:
        where = f"in {', '.join(keys)}"
        lines = "the backward through the hidden layers" if not set(keys) & set(output) else "them"
        typical = (
            f"a float32 intermediate or an approximation in {lines}: of exp, of a derivative, or a "
            "sigmoid or tanh in a form exact only to eps near 0, such as 0.5 * (1 + tanh(z / 2))"
        )
    _, dz = nw.formulas(net)
    fix = (
        f"compute in float64 throughout (one float32 array, or float32 inputs, make the whole chain "
        f"float32), and take dZ{L} = {dz} as it is: an epsilon or a clip belongs, if anywhere, in "
        "the loss's value, never in its gradient. Or pass rtol= and atol= if this precision is "
        "what you want"
    )
    return {
        "cause": "imprecise",
        "precision": precision,
        "elements": names,
        "because": f"right to {precision:.0e} relative {where}, where float64 allows about 1e-9: "
        f"typical of {typical}",
        "fix": fix,
    }


def _columns_of(net: nw.Network, key: str) -> slice:
    start = 0
    for k, shape in net.param_shapes.items():
        size = int(np.prod(shape))
        if k == key:
            return slice(start, start + size)
        start += size
    raise KeyError(key)


def _localise(ev: Evidence, j: int) -> dict[str, Any]:
    """Which keys are wrong and how, and at which points the error shows."""
    net = ev.net
    a, e, ok, J = ev.analytic[:, j], ev.expected[:, j], ev.passed[:, j], ev.judged
    n = len(ev.names)
    keys: dict[str, str] = {}
    kink = "ReLU" if net.hidden == "relu" else _NAMES[net.hidden]
    for key, g in zip(net.keys, net.grad_keys, strict=True):
        cols = _columns_of(net, key)
        ag, eg, Jg = a[:, cols], e[:, cols], J[:, cols]
        rt, at = ev.rtol[:, j][:, cols], ev.atol[:, j][:, cols]
        k = _fit(ag[Jg], eg[Jg]) if np.isfinite(ag).all() else None
        shape = net.param_shapes[key]
        if ok[:, cols].all():
            keys[g] = "right"
        elif not np.isfinite(ag).all():
            keys[g] = "not finite (NaN or inf)"
        elif np.all(ag == 0):
            keys[g] = "zero everywhere"
        elif ev.coarse[:, j][:, cols].all():
            worst = float(np.nanmax(_relative(ev, j)[:, cols]))
            keys[g] = (
                f"right to {worst:.0e} relative only"
                if worst < _IMPRECISE
                else "wrong where it is smaller than its dtype's tolerance"
            )
        elif (ok[:, cols] | (ev.method[:, cols] == diff.KINK)).all():
            keys[g] = f"wrong only on the {kink} kink: the value lies outside the left and right derivatives"
        elif k is not None and abs(k - 1) > _FACTOR_TOL and _close(ag[Jg], k * eg[Jg], rt[Jg], at[Jg]):
            value, meaning, _ = _factor(k, ev)
            keys[g] = f"{value:.4g} x the right value ({meaning})"
        elif (
            len(shape) == 2
            and shape[0] == shape[1]
            and _close(
                ag.reshape(n, *shape),
                eg.reshape(n, *shape).swapaxes(1, 2),
                rt.reshape(n, *shape),
                at.reshape(n, *shape),
            )
        ):
            keys[g] = f"transposed ({_transposed(net, key)})"
        else:
            keys[g] = "wrong"
    wrong = [g for g in net.grad_keys if keys[g] != "right"]
    failing = [ev.names[i] for i in range(n) if not ok[i].all()]
    return {"keys": keys, "wrong": wrong, "points": failing, "hint": _hint(net, keys, wrong)}


def _transposed(net: nw.Network, key: str) -> str:
    layer = next(i for i, (w, _) in enumerate(net.names, 1) if w == key)
    A = "X" if layer == 1 else f"A{layer - 1}"
    if net.layout == "columns":
        return f"{A} @ dZ{layer}.T instead of dZ{layer} @ {A}.T"
    return f"dZ{layer}.T @ {A} instead of {A}.T @ dZ{layer}"


def _hint(net: nw.Network, keys: dict[str, str], wrong: list[str]) -> str:
    L, cols = net.depth, net.layout == "columns"
    output_keys = ["d" + k for k in net.names[-1] if k is not None]
    if wrong and all(g.startswith("db") for g in wrong) and len(wrong) < len(net.grad_keys):
        axis = 1 if cols else 0
        return (
            f"only bias gradients are wrong: sum dZ over the samples, np.sum(dZ, axis={axis}, keepdims=True)"
        )
    if len(wrong) == 1:
        return f"only {wrong[0]} is wrong: check the line that computes it"
    if len(wrong) == len(net.grad_keys):
        return f"every gradient is wrong: start with dZ{L}, which all of them depend on"
    if wrong and not set(wrong) & set(output_keys):
        h, below = L - 1, "X" if L == 2 else f"A{L - 2}"
        chain = (
            f"dZ{h} = W{L}.T @ dZ{L} * {net.hidden}'(Z{h}), dW{h} = dZ{h} @ {below}.T"
            if cols
            else f"dZ{h} = dZ{L} @ W{L}.T * {net.hidden}'(Z{h}), dW{h} = {below}.T @ dZ{h}"
        )
        right = " and ".join(output_keys)
        return (
            f"{right} {'are' if len(output_keys) > 1 else 'is'} right, so dZ{L} is right: the error is in "
            f"the backward through the hidden layer{'s' if L > 2 else ''} ({chain}, db{h} = the sum of "
            f"dZ{h} over the samples)"
        )
    right = ", ".join(g for g in net.grad_keys if g not in wrong) or "nothing"
    return f"{', '.join(wrong)} wrong; {right} right"


def _layouts_differ(ev: Evidence) -> bool:
    s = ev.status
    if np.any(s != s[:, :1]):
        return True
    ran = s[:, 0] == "ok"
    a = ev.analytic[ran]
    finite = np.isfinite(a)
    if np.any(finite != finite[:, :1]):
        return True
    tol = ev.atol[ran].max(axis=1, keepdims=True) + ev.rtol[ran].max(axis=1, keepdims=True) * np.abs(a).max(
        axis=1, keepdims=True
    )
    with np.errstate(all="ignore"):
        return bool(np.any(np.abs(a - a[:, :1]) > tol))


def _label_details(ev: Evidence, subs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    net = ev.net
    per_layout = {
        layout: {"verdict": v, "details": d} for layout, (v, d) in zip(ev.layouts, subs, strict=True)
    }
    failing = [layout for layout, (v, _) in zip(ev.layouts, subs, strict=True) if v != "ok"]
    two_d = ev.layouts[-1]
    normalise = (
        f"Y = Y.reshape({'1, -1' if net.layout == 'columns' else '-1, 1'})"
        if net.n_out == 1
        else f"Y = np.eye({net.n_out})[Y]{'.T' if net.layout == 'columns' else ''} for class labels"
    )
    cause = f"the backward reads the label layout; normalise the labels first with {normalise}"
    if len(failing) == 1:
        bad = failing[0]
        verdict, d = per_layout[bad]["verdict"], per_layout[bad]["details"]
        rows = net.n_out if net.layout == "columns" else ev.m
        if verdict == "scaled" and bad == two_d and rows != ev.m and d["factor"] == ev.m / rows:
            cause = (
                f"m is taken from Y.shape[0] (or len(Y)), which is {rows} for labels of shape {bad}, so "
                "the gradient comes out m times too large: take m from "
                f"X.shape[{1 if net.layout == 'columns' else 0}]"
            )
        elif verdict == "scaled":
            cause = f"with Y of shape {bad} the gradient is {d['factor']:.4g}x too large; {cause}"
        elif verdict == "raised":
            cause = f"with Y of shape {bad} the backward raises {d['type']}: {d['message']}; {cause}"
        elif verdict == "shape-mismatch":
            cause = (
                f"with Y of shape {bad}, {d['key']} has shape {d['got']} (expected {d['expected']}): "
                f"A{net.depth} and Y broadcast into a larger array; {cause}"
            )
    right = [layout for layout in ev.layouts if layout not in failing]
    loud = all(per_layout[layout]["verdict"] in ("raised", "shape-mismatch") for layout in failing)
    if len(right) == 1 and loud:  # written for one layout, and fails loudly in the others
        cause += (
            f"; or, if your labels always come as {right[0]}, check that layout alone: "
            f"layouts=({right[0]!r},), check --labels {right[0]!r}"
        )
    return {"failing": failing, "layouts": per_layout, "likely_cause": cause}
