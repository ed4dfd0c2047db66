"""How fast is the gradient oracle, against torch.autograd.gradcheck in the same run?

Every figure is measured here, float64, torch on one thread, the two sides interleaved round
by round so that both see the same machine load (the minimum over rounds is reported):

1. the notebook's 2-2-1 network: one full central-difference check of its 9 parameters at
   one point, :func:`gradcheck_xor.check_point`, from the parameter dict to the verdict, at
   least 50x faster than ``torch.autograd.gradcheck`` on the same function at the same point
   (shown beside it without its two caches, the per-data-set constants and how the backward
   is called, to show what they earn);
2. a 100-50-10 tanh network with softmax cross-entropy on 32 samples (5,560 parameters): the
   full per-element check, ``check_backward`` at one point and one label layout, at least 20x
   faster than ``torch.autograd.gradcheck``'s full mode;
3. a 784-64-10 ReLU network, softmax cross-entropy, 32 samples (50,890 parameters): the fast
   (random-direction) check no slower than torch's ``fast_mode``, and the full per-element
   check under 1 s (torch's full mode is timed once: it takes seconds).

Run: ``python benchmarks/bench_gradcheck.py [--rounds N] [--cases 1,2,3]``. Exit code 0 when
every target of the cases run holds, 1 when one does not. torch is a test dependency; the
package itself never imports it.
"""

from __future__ import annotations

import os

# One thread on both sides: NumPy's BLAS reads this when it loads, torch is told below. On a
# shared machine BLAS threads also wait at barriers for milliseconds on products this small.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gradcheck_xor import check_backward, model, quickcheck  # noqa: E402
from gradcheck_xor import network as nw  # noqa: E402
from gradcheck_xor.quickcheck import check_point  # noqa: E402

Params = dict[str, np.ndarray]


def xor_backward(parameters: Params, A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: np.ndarray) -> Params:
    """A correct backward pass written the notebook's way, with np.dot and np.sum (the exact
    gradient of the mean BCE: dZ2 = (A2 - Y) / m)."""
    m = X.shape[1]
    dZ2 = (A2 - Y) / m
    dZ1 = np.dot(parameters["W2"].T, dZ2) * (A1 > 0)
    return {
        "dW1": np.dot(dZ1, X.T),
        "db1": np.sum(dZ1, axis=1, keepdims=True),
        "dW2": np.dot(dZ2, A1.T),
        "db2": np.sum(dZ2, axis=1, keepdims=True),
    }


def softmax_backward(hidden: str) -> Callable[..., Params]:
    """A correct backward pass of a one-hidden-layer softmax network, samples in columns, as a
    learner writes it: dZ2 = (A2 - Y) / m, then the hidden layer (tanh or ReLU)."""
    derivative = (lambda A: 1 - A**2) if hidden == "tanh" else (lambda A: A > 0)

    def backward(params: Params, cache: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> Params:
        m = X.shape[1]
        A1, A2 = cache["A1"], cache["A2"]
        dZ2 = (A2 - Y) / m
        dZ1 = params["W2"].T @ dZ2 * derivative(A1)
        return {
            "dW1": dZ1 @ X.T,
            "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T,
            "db2": dZ2.sum(axis=1, keepdims=True),
        }

    return backward


def torch_function(net: nw.Network, X: np.ndarray, Y: np.ndarray) -> Callable[..., torch.Tensor]:
    """The network's loss for torch, on the same data: mean BCE from the logit, or mean
    cross-entropy of a softmax, samples in columns."""
    x, y = torch.tensor(X), torch.tensor(Y)
    act = torch.relu if net.hidden == "relu" else torch.tanh

    def loss(*params: torch.Tensor) -> torch.Tensor:
        A = x
        for i in range(0, len(params), 2):
            Z = params[i] @ A + params[i + 1]
            A = act(Z) if i + 2 < len(params) else Z
        if net.output == "sigmoid":
            return (torch.nn.functional.softplus(A) - y * A).mean()
        return -(y * torch.log_softmax(A, dim=0)).sum() / A.shape[1]

    return loss


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call over ``calls`` calls, after one untimed call to warm the caches."""
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def softmax_problem(widths: tuple[int, int, int], hidden: str, m: int = 32) -> tuple[Any, ...]:
    """A network, parameters (He-scaled), inputs and one-hot labels, and torch's tensors."""
    net = nw.Network.from_widths(widths, hidden=hidden, output="softmax")
    rng = np.random.default_rng(0)
    params = {}
    for i, (n_prev, n) in enumerate(itertools.pairwise(widths), 1):
        params[f"W{i}"] = rng.normal(size=(n, n_prev)) * np.sqrt(2.0 / n_prev)
        params[f"b{i}"] = rng.normal(size=(n, 1)) * 0.1
    X = rng.normal(size=(widths[0], m))
    Y = np.eye(widths[-1])[:, rng.integers(0, widths[-1], m)]
    tensors = tuple(torch.tensor(params[k], requires_grad=True) for k in net.keys)
    return net, params, X, Y, torch_function(net, X, Y), tensors


def cases(text: str) -> set[int]:
    """``--cases``: a comma-separated list of the cases 1, 2 and 3."""
    try:
        chosen = {int(case) for case in text.split(",")}
    except ValueError:
        chosen = set()
    if not chosen or not chosen <= {1, 2, 3}:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected a comma-separated list of 1, 2 and 3")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default: 30)")
    parser.add_argument(
        "--cases",
        type=cases,
        default={1, 2, 3},
        help="the cases to run, e.g. 1 or 1,3 (default: all three); the exit code speaks for them",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    # 1. The notebook's network, at a point off the ReLU kinks (torch's gradcheck fails on the
    # notebook's own initial point).
    X, Y = model.xor_data()
    params = model.init_params(0, bias=0.1)
    xor_loss = torch_function(nw.XOR, X, Y)
    xor_tensors = tuple(torch.tensor(params[k], requires_grad=True) for k in nw.XOR.keys)
    assert torch.autograd.gradcheck(xor_loss, xor_tensors), (
        "torch's gradcheck must pass at the benchmark point"
    )
    assert check_point(xor_backward, params).ok and check_backward(xor_backward).ok

    def point_without_constants() -> object:
        quickcheck._constants.cache_clear()
        quickcheck._notebooks.cache_clear()
        return check_point(xor_backward, params)

    # 2. and 3. Two softmax networks, one point and one label layout each.
    tanh = softmax_problem((100, 50, 10), "tanh")
    relu = softmax_problem((784, 64, 10), "relu")

    def oracle(problem: tuple[Any, ...], fast: bool) -> Any:
        net, p, X_, Y_ = problem[:4]
        backward = softmax_backward(net.hidden)
        return check_backward(backward, p, X_, Y_, hidden=net.hidden, output="softmax", fast=fast)

    for case, problem in ((2, tanh), (3, relu)):
        if case in args.cases:
            assert oracle(problem, False).ok and oracle(problem, True).ok
            assert torch.autograd.gradcheck(problem[4], problem[5], fast_mode=True)

    timings: dict[str, list[float]] = {name: [] for name in ("torch", "point", "bare", "default", "torch A")}
    timings.update({name: [] for name in ("A", "torch fast B", "fast B", "B")})
    torch_full_b = once(lambda: torch.autograd.gradcheck(relu[4], relu[5])) if 3 in args.cases else None
    for r in range(args.rounds):
        if 1 in args.cases:
            timings["torch"].append(per_call(lambda: torch.autograd.gradcheck(xor_loss, xor_tensors), 5))
            timings["point"].append(per_call(lambda: check_point(xor_backward, params), 200))
            timings["bare"].append(per_call(point_without_constants, 50))
            timings["default"].append(per_call(lambda: check_backward(xor_backward), 5))
        if 3 in args.cases:
            timings["torch fast B"].append(
                per_call(lambda: torch.autograd.gradcheck(*relu[4:], fast_mode=True), 3)
            )
            timings["fast B"].append(per_call(lambda: oracle(relu, True), 3))
        if r < max(3, args.rounds // 10):  # the full checks take a good fraction of a second
            if 2 in args.cases:
                timings["torch A"].append(once(lambda: torch.autograd.gradcheck(*tanh[4:])))
                timings["A"].append(once(lambda: oracle(tanh, False)))
            if 3 in args.cases:
                timings["B"].append(once(lambda: oracle(relu, False)))
    best = {name: min(values) for name, values in timings.items() if values}
    if torch_full_b is not None:
        best["torch full B"] = torch_full_b

    rows = [
        ("2-2-1: torch.autograd.gradcheck, one point", "torch"),
        ("2-2-1: check_point (analytic, numeric, comparison)", "point"),
        ("2-2-1: check_point without its two caches (constants, binding)", "bare"),
        ("2-2-1: default check_backward (5 points x 2 label layouts)", "default"),
        ("100-50-10 tanh: torch.autograd.gradcheck, full", "torch A"),
        ("100-50-10 tanh: check_backward, full per element", "A"),
        ("784-64-10 relu: torch.autograd.gradcheck, fast_mode", "torch fast B"),
        ("784-64-10 relu: check_backward, fast", "fast B"),
        ("784-64-10 relu: torch.autograd.gradcheck, full (once)", "torch full B"),
        ("784-64-10 relu: check_backward, full per element", "B"),
    ]
    for label, name in rows:
        if name in best:
            print(f"{label:<64}{best[name] * 1e3:12.3f} ms")
    print()
    targets = [
        (1, "2-2-1 check_point vs torch", "torch", "point", 50.0),
        (2, "100-50-10 full vs torch full", "torch A", "A", 20.0),
        (3, "784-64-10 fast vs torch fast_mode", "torch fast B", "fast B", 1.0),
    ]
    verdict = {True: "met", False: "NOT met"}
    met = []
    for case, label, theirs, ours, goal in targets:
        if case in args.cases:
            ratio = best[theirs] / best[ours]
            met.append(ratio >= goal)
            print(f"{label:<36}{ratio:8.1f}x faster (target >= {goal:g}x): {verdict[met[-1]]}")
    if 3 in args.cases:
        met.append(best["B"] < 1.0)
        print(f"{'784-64-10 full':<36}{best['B']:8.2f} s (target: under 1 s): {verdict[met[-1]]}")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
