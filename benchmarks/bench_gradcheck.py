"""How fast is the gradient oracle, against torch.autograd.gradcheck in the same run?

Two targets, both measured here, interleaved round by round so that both sides see the same
machine load (the minimum over rounds is reported for each):

1. one full central-difference check of the 9 parameters at one point (the backward's
   values, the numeric ones from one batched forward, and the comparison) at least 50x
   faster than ``torch.autograd.gradcheck`` on the same float64 function at the same point:
   :func:`gradcheck_xor.quickcheck.check_point`, from the parameter dict to the verdict;
2. the full default ``check_backward`` (every point, both label layouts, the report) no
   slower than one ``torch.autograd.gradcheck`` call.

Run: ``python benchmarks/bench_gradcheck.py [--rounds N]``. Exit code 0 when both targets
hold, 1 when one does not. torch is a test dependency; the package itself never imports it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from gradcheck_xor import check_backward, model
from gradcheck_xor.quickcheck import check_point


def backward(parameters: dict[str, np.ndarray], A1: np.ndarray, A2: np.ndarray, X: np.ndarray, Y: np.ndarray):
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


def torch_loss(X: torch.Tensor, Y: torch.Tensor) -> Callable[..., torch.Tensor]:
    """The same float64 function for torch: mean BCE from the logit of the 2-2-1 ReLU network."""

    def loss(W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
        Z2 = W2 @ torch.relu(W1 @ X + b1) + b2
        return (torch.nn.functional.softplus(Z2) - Y * Z2).mean()

    return loss


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call over ``calls`` calls, after one untimed call to warm the caches."""
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="interleaved rounds (default: 100)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch's intra-op threads (default: 1, its fastest on tensors this small; 0: torch's default)",
    )
    args = parser.parse_args(argv)

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    X, Y = model.xor_data()
    # A point off the ReLU kinks: torch's gradcheck fails on the notebook's own initial point.
    params = model.init_params(0, bias=0.1)
    tensors = tuple(torch.tensor(params[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2"))
    loss = torch_loss(torch.tensor(X), torch.tensor(Y))
    # For scale: many points in one check share the batched forward (the backward is still
    # called once per point).
    many = [model.init_params(seed, bias=0.1) for seed in range(100)]

    assert torch.autograd.gradcheck(loss, tensors), "torch's gradcheck must pass at the benchmark point"
    assert check_point(backward, params).ok
    assert check_backward(backward, many, layouts=("(1, m)",)).ok
    assert check_backward(backward).ok

    timings: dict[str, list[float]] = {
        "torch": [],
        "point": [],
        "report": [],
        "many": [],
        "default": [],
    }
    # Short warmed batches, interleaved: on a shared machine each side gets the same chances
    # of a quiet moment, and the minimum over the rounds is its cost without interference
    # (as timeit advises). Each batch lasts a few milliseconds at least: check_point's runs
    # 100 calls, since the first calls after torch's run refill the processor's caches, which
    # would weigh on a batch of 20 calls (1.5 ms) by several percent.
    for _ in range(args.rounds):
        timings["torch"].append(per_call(lambda: torch.autograd.gradcheck(loss, tensors), 2))
        timings["point"].append(per_call(lambda: check_point(backward, params), 100))
        timings["report"].append(
            per_call(lambda: check_backward(backward, params=params, layouts=("(1, m)",)), 10)
        )
        many_points = per_call(lambda: check_backward(backward, many, layouts=("(1, m)",)), 1)
        timings["many"].append(many_points / len(many))
        timings["default"].append(per_call(lambda: check_backward(backward), 2))
    best = {name: min(values) for name, values in timings.items()}

    point_ratio = best["torch"] / best["point"]
    default_ratio = best["torch"] / best["default"]
    rows = [
        (f"torch.autograd.gradcheck, one point ({torch.get_num_threads()} thread(s))", best["torch"]),
        ("gradcheck-xor, one point: check_point (analytic, numeric, comparison)", best["point"]),
        ("  the same through check_backward, with its report", best["report"]),
        ("  per point, when 100 points are checked at once", best["many"]),
        ("gradcheck-xor, default check_backward (5 points x 2 layouts)", best["default"]),
    ]
    for label, seconds in rows:
        print(f"{label:<72}{seconds * 1e6:10.1f} us")
    print()
    point_ok, default_ok = point_ratio >= 50, default_ratio >= 1
    verdict = {True: "met", False: "NOT met"}
    print(f"one point:     {point_ratio:7.1f}x faster than torch (target >= 50x): {verdict[point_ok]}")
    print(f"default check: {default_ratio:7.2f}x faster than torch (target >= 1x): {verdict[default_ok]}")
    return 0 if point_ok and default_ok else 1


if __name__ == "__main__":
    sys.exit(main())
