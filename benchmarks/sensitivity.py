"""How small an error does the oracle catch in float64, and does it ever fail a right backward?

Over randomly drawn fully connected networks (widths 1-12, one to three hidden layers, every
hidden activation, output, loss and layout) at their default points (random, partly
inactive, dead unit, near-saturated), this script

1. counts false alarms: right backward passes that the oracle fails. The right ones are the
   network's own gradient, PyTorch's autograd and JAX's autodiff (through ``call=``) and a
   hand-written backward with its own forward pass, its products and sums taken in five
   orders (``@``, einsum, Python loops, pairwise sums, reversed);
2. prints, per kind of element (each layer's weights and biases), the smallest relative error
   of one element that the oracle catches: its tolerance over its exact value, as quantiles
   over every element of every network and point, beside the same figure for the per-dtype
   tolerance the oracle used before (1e-5 relative, 1e-7 absolute), then the same for the
   notebook's 2-2-1 network at its five default points for 50 seeds;
3. checks that figure: it multiplies one element of the exact gradient by 1 + 1e-8 and
   counts how often the oracle fails it and names that element alone, at one point;
4. does the same at the default points (the oracle's own, as when no parameters are given)
   for four elements of every network: every element resolvable at 1e-8 at one of them at
   least must be caught and named, and it counts those that are at none.

Run: ``python benchmarks/sensitivity.py [--networks N] [--seed S]``. Exit code 0 when there
is no false alarm, every element resolvable at 1e-8 at its point was caught, and every one
tried over the default points was, else 1. torch and JAX are
test dependencies; the package itself never imports them.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_sharp_verdicts import PRODUCTS, one_element_off, written  # noqa: E402

import reference_impls  # noqa: E402
from gradcheck_xor import _differences as diff  # noqa: E402
from gradcheck_xor import _exact, check_backward  # noqa: E402
from gradcheck_xor import network as nw  # noqa: E402
from gradcheck_xor._points import default_points  # noqa: E402
from gradcheck_xor.model import xor_data as _xor_data  # noqa: E402

OLD_RTOL, OLD_ATOL = 1e-5, 1e-7  # the float64 tolerances before the exact gradient


def draw_network(rng: np.random.Generator) -> nw.Network:
    depth = int(rng.integers(2, 5))
    output = str(rng.choice(nw.OUTPUTS))
    widths = [int(w) for w in rng.integers(1, 13, depth + 1)]
    if output == "softmax":
        widths[-1] = max(2, widths[-1])
    losses = [k for k, v in nw.LOSS_CATALOGUE.items() if output in v.outputs]
    return nw.Network.from_widths(
        tuple(widths),
        hidden=str(rng.choice(nw.HIDDEN)),
        output=output,
        loss=str(rng.choice(losses)),
        layout=str(rng.choice(nw.LAYOUTS)),
    )


def draw_data(rng: np.random.Generator, net: nw.Network, m: int) -> tuple[np.ndarray, Any]:
    X = rng.uniform(-1.0, 2.0, (net.widths[0], m))
    if net.output == "softmax":
        Y: Any = rng.integers(0, net.n_out, m).astype(float)
    elif net.output == "sigmoid":
        Y = rng.integers(0, 2, (net.n_out, m)).astype(float)
    else:
        Y = rng.uniform(-2.0, 2.0, (net.n_out, m))
    if net.layout == "rows":
        X, Y = X.T, (Y if Y.ndim == 1 else Y.T)
    return X, Y


def kinds(net: nw.Network) -> list[str]:
    """Each flat element's kind: "hidden layer 1 weights", ..., "output layer biases"."""
    out = []
    for key, shape in net.param_shapes.items():
        number = int(key[1:])
        where = "output layer" if number == net.depth else f"hidden layer {number}"
        out += [f"{where} {'weights' if key[0] in 'Ww' else 'biases'}"] * int(np.prod(shape))
    return out


def right_backwards(net: nw.Network, torch_xor: Any, jax_xor: Any) -> dict[str, tuple[Callable, Any]]:
    """name -> (backward, call or None)."""
    by_reference = lambda backward, p, X, Y: backward(p, X, Y, net=net)  # noqa: E731
    out: dict[str, tuple[Callable, Any]] = {
        "network": (nw.gradients, lambda backward, p, X, Y: backward(net, p, X, Y)),
        "torch": (torch_xor.gradients, by_reference),
        "jax": (jax_xor.gradients, by_reference),
    }
    out.update({f"written, {order}": (written(net, order), None) for order in PRODUCTS})
    return out


def options(net: nw.Network) -> dict[str, str]:
    return {"hidden": net.hidden, "output": net.output, "loss": net.loss, "layout": net.layout}


def _row(kind: str, now: np.ndarray, old: np.ndarray) -> tuple[str, ...]:
    """One row of the table: tolerance / |exact| quantiles now, and the old median."""
    quantiles = (f"{np.quantile(now, q):.1e}" for q in (0.5, 0.9, 0.99))
    return (kind, f"{now.size:,}", *quantiles, f"{np.mean(now < 1e-8):.1%}", f"{np.median(old):.1e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=150, help="networks drawn (default: 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    args = parser.parse_args(argv)
    torch_xor, jax_xor = reference_impls.load("torch"), reference_impls.load("jax")
    torch_xor.torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    checks = elements = 0
    alarms: list[str] = []  # right backward passes failed
    missed: list[str] = []  # 1e-8 of an element above float64's resolution, not named
    ratios: dict[str, list[float]] = {}
    before: dict[str, list[float]] = {}
    caught = resolvable = tried = named = 0
    defaults = defaults_named = nowhere = 0
    unseen: list[str] = []  # 1e-8 of an element not caught over the default points
    for _ in range(args.networks):
        net = draw_network(rng)
        X, Y = draw_data(rng, net, int(rng.integers(2, 9)))
        seed = int(rng.integers(0, 2**31))
        # 1. right backward passes at the default points
        for name, (backward, call) in right_backwards(net, torch_xor, jax_xor).items():
            report = check_backward(backward, net, X, Y, call=call, seed=seed)
            checks += 1
            elements += report.passed.size
            if not report.ok:
                alarms.append(f"{name} on the {net}: {report.explain(3)}")
        # 2. the tolerance of every element at every default point, over its exact value
        points = [p for _, p in default_points(seed, X, Y, network=net)]
        traces = [diff.Trace.of(net, p, *nw.columns(net, X, Y)) for p in points]
        exact, floors = _exact.exact_gradients(traces)
        for e, f in zip(exact, floors, strict=True):
            with np.errstate(divide="ignore", invalid="ignore"):
                now = (_exact.RTOL * np.abs(e) + f) / np.abs(e)
                old = (OLD_ATOL + OLD_RTOL * np.abs(e)) / np.abs(e)
            for kind, r, o, value in zip(kinds(net), now, old, e, strict=True):
                if value != 0:
                    ratios.setdefault(kind, []).append(float(r))
                    before.setdefault(kind, []).append(float(o))
        # 4. 1e-8 of one element over the default points
        names = nw.element_names(net)
        for k in rng.choice(net.n_params, min(4, net.n_params), replace=False):
            if not np.any(exact[:, k]):
                continue
            value = np.abs(exact[:, k])
            if not np.any(_exact.RTOL * value + floors[:, k] < 0.5e-8 * value):
                nowhere += 1  # cancels below float64's resolution at every default point
                continue
            factor = 1 + 1e-8 * float(rng.choice([-1.0, 1.0]))
            report = check_backward(one_element_off(net, int(k), factor), net, X, Y, seed=seed)
            defaults += 1
            if not report.ok and report.details.get("elements") == [names[k]]:
                defaults_named += 1
            else:
                unseen.append(f"1e-8 of {names[k]} not named on the {net}: {report.explain(3)}")
        # 3. 1e-8 of one element, at one point
        i = int(rng.integers(0, len(points)))
        k = int(rng.integers(0, net.n_params))
        factor = 1 + 1e-8 * float(rng.choice([-1.0, 1.0]))

        on_kink = net.hidden in ("relu", "leaky_relu") and any(
            np.abs(z).min() <= 1e-6 for z in traces[i].Zs[:-1]
        )
        if on_kink:  # one-sided there, to the differences' tolerance
            continue
        tried += 1
        report = check_backward(one_element_off(net, k, factor), points[i], X, Y, **options(net))
        found = not report.ok and report.details.get("elements") == [nw.element_names(net)[k]]
        caught += not report.ok
        named += found
        if exact[i][k] != 0 and (_exact.RTOL * abs(exact[i][k]) + floors[i][k]) < 0.5e-8 * abs(exact[i][k]):
            resolvable += 1
            if not found:
                missed.append(
                    f"1e-8 of {nw.element_names(net)[k]} not caught on the {net}: {report.explain(3)}"
                )
    seconds = time.perf_counter() - start

    kinds_of_backward = len(right_backwards(net, torch_xor, jax_xor))
    print(
        f"{args.networks} networks, {checks} checks of right backward passes ({kinds_of_backward} kinds), "
        f"{elements:,} element judgements: {len(alarms)} false alarms"
    )
    print()
    print("Smallest relative error of one element caught (its tolerance / |exact value|), over every")
    print("element of every network at every default point; 'before': 1e-5 relative + 1e-7 absolute.")
    header = ("element kind", "elements", "median", "90%", "99%", "caught at 1e-8", "before: median")
    rows = []
    order = sorted(ratios, key=lambda k: (k.startswith("output"), k))
    for kind in order:
        rows.append(_row(kind, np.array(ratios[kind]), np.array(before[kind])))
    # The notebook's network at its five default points, for 50 seeds.
    notebook: dict[str, list[float]] = {}
    for seed in range(50):
        points = [p for _, p in default_points(seed)]
        X, Y = nw.columns(nw.XOR, *_xor_data())
        exact, floors = _exact.exact_gradients([diff.Trace.of(nw.XOR, p, X, Y) for p in points])
        for e, f in zip(exact, floors, strict=True):
            for kind, value, floor in zip(kinds(nw.XOR), e, f, strict=True):
                if value != 0:
                    now = (_exact.RTOL * abs(value) + floor) / abs(value)
                    old = (OLD_ATOL + OLD_RTOL * abs(value)) / abs(value)
                    notebook.setdefault(f"2-2-1: {kind}", []).append((now, old))
    for kind, values in notebook.items():
        rows.append(_row(kind, *np.array(values).T))
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.ljust(w) if c == 0 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells))
    print()
    print(
        f"1e-8 of one element, off the kinks: {tried} tried, {caught} failed ({named} naming that element "
        f"alone); {resolvable} were above float64's resolution at 1e-8 and all of those must be named"
    )
    print(
        f"1e-8 of one element over the default points: {defaults} tried (resolvable at one point at least), "
        f"{defaults_named} failed naming that element alone; {nowhere} more were not 0 but below "
        "float64's resolution at every point"
    )
    print(f"({seconds:.0f} s)")
    for alarm in (alarms + missed + unseen)[:5]:
        print("\n" + alarm)
    return 1 if alarms or missed or unseen else 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a learner's own sigmoid
        sys.exit(main())
