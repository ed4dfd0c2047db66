"""How fast is ``gradcheck-xor diagnose``? Measured against ``python -c "import numpy"``.

Target: the whole process, from exec to exit, takes at most 1.5x as long as a Python that
only imports NumPy, in the same environment and the same run (the two are interleaved so
machine load hits both alike).

Two settings. "bytecode cached" is how an installed command runs: Python's compiled
modules are kept (here under a temporary ``PYTHONPYCACHEPREFIX``, so the checkout is not
touched) and the first, warm-up run fills that cache; the target applies to it.
"no bytecode" runs with ``PYTHONDONTWRITEBYTECODE=1``, as some CI machines do: the
package's own modules are compiled from source on every run while NumPy's come from the
bytecode written when it was installed. It is printed for information.

Also prints what the command imports (``-X importtime``), how fast
:func:`gradcheck_xor.diagnostics.init_codes` labels a million parameter sets, and how long
:func:`gradcheck_xor.diagnostics.diagnose` takes on deeper networks and larger data sets.

    python benchmarks/bench_diagnose.py [--rounds 21] [--file examples/notebook_final.json]

Exit status 0 when the target holds, 1 when it does not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
HEAVY = ("torch", "jax", "jaxlib", "tqdm", "safetensors", "hypothesis", "matplotlib", "scipy")


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1 = findings, expected for the notebook's parameters
        raise SystemExit(f"{' '.join(cmd)} exited with {done.returncode}")
    return elapsed


def _imports(cmd: list[str]) -> tuple[list[tuple[str, int]], set[str]]:
    """From ``-X importtime``: the top-level imports of ``cmd`` with their cumulative time in
    microseconds, and the root package of every module imported at any depth."""
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    top: list[tuple[str, int]] = []
    roots: set[str] = set()
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw = line.split(":", 1)[1].split("|")
        name = raw.strip()
        roots.add(name.split(".")[0])
        if len(raw) - len(raw.lstrip()) == 1:  # nesting shows as extra indentation
            top.append((name, int(cumulative)))
    return sorted(top, key=lambda item: -item[1]), roots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_diagnose", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved runs of each command")
    parser.add_argument("--file", default=str(ROOT / "examples" / "notebook_final.json"))
    args = parser.parse_args(argv)

    python = sys.executable
    script = Path(python).parent / "gradcheck-xor"
    commands = {
        "python -c 'import numpy'": [python, "-c", "import numpy"],
        "gradcheck-xor diagnose --json": [str(script), "diagnose", args.file, "--json"],
        "python -m gradcheck_xor diagnose": [python, "-m", "gradcheck_xor", "diagnose", args.file],
    }
    if not script.exists():
        del commands["gradcheck-xor diagnose --json"]
    baseline_name = "python -c 'import numpy'"
    print(f"whole-process wall time, {args.rounds} interleaved rounds, file {args.file}")

    worst = 0.0
    with tempfile.TemporaryDirectory() as cache:
        plain = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        }
        settings = {
            "bytecode cached": {**plain, "PYTHONPYCACHEPREFIX": cache},
            "no bytecode": {**plain, "PYTHONDONTWRITEBYTECODE": "1"},
        }
        for setting, env in settings.items():
            for cmd in commands.values():  # warm the file cache (and the bytecode cache)
                _wall(cmd, env)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, cmd in commands.items():
                    times[name].append(_wall(cmd, env))
            baseline = statistics.median(times[baseline_name])
            print()
            print(f"{setting + ':':<36}{'median':>10}{'min':>10}{'ratio':>8}")
            for name, samples in times.items():
                median = statistics.median(samples)
                ratio = median / baseline
                if name != baseline_name and setting == "bytecode cached":
                    worst = max(worst, ratio)
                print(f"  {name:<34}{median * 1e3:>8.1f}ms{min(samples) * 1e3:>8.1f}ms{ratio:>8.2f}")
    verdict = "holds" if worst <= TARGET else "FAILS"
    print(f"target (bytecode cached): diagnose <= {TARGET}x the NumPy import; worst {worst:.2f}: {verdict}")

    imported, roots = _imports([python, "-X", "importtime", "-m", "gradcheck_xor", "diagnose", args.file])
    heavy = sorted(roots & set(HEAVY))
    print()
    print("largest top-level imports of the diagnose command (cumulative, -X importtime):")
    for name, micros in imported[:6]:
        print(f"  {name:<24}{micros / 1e3:>8.1f}ms")
    print(f"heavy packages imported: {', '.join(heavy) if heavy else 'none'}")

    from gradcheck_xor import model
    from gradcheck_xor.diagnostics import init_codes

    S = 1_000_000
    rng = np.random.default_rng(0)
    W1, W2 = rng.standard_normal((S, 2, 2)), rng.standard_normal((S, 1, 2))
    b1, b2 = np.zeros((S, 2, 1)), np.zeros((S, 1, 1))
    X, Y = model.xor_data()
    start = time.perf_counter()
    codes = init_codes(W1, b1, W2, b2, X, Y.ravel())
    elapsed = time.perf_counter() - start
    print()
    print(f"init_codes on {S:,} notebook-style draws: {elapsed:.2f}s ({elapsed / S * 1e6:.2f} us per set)")
    print(f"  dead-relu in {codes['dead-relu'].mean():.2%} of them (1 - (3/4)^2 = {1 - 0.75**2:.2%})")

    seeds = [model.init_params(s) for s in range(1000)]
    stack = {k: np.stack([p[k] for p in seeds]) for k in model.PARAM_SHAPES}
    dead = init_codes(stack["W1"], stack["b1"], stack["W2"], stack["b2"], X, Y.ravel())["dead-relu"]
    print(f"  the notebook's initialiser, seeds 0-999: {int(dead.sum())} dead-unit draws ({dead.mean():.1%})")

    from gradcheck_xor.diagnostics import diagnose
    from gradcheck_xor.network import Network

    print()
    for widths, m in (((2, 2, 1), 4), ((2, 12, 12, 12, 1), 1_000), ((10, 12, 12, 12, 3), 100_000)):
        net = Network.from_widths(widths)
        params = {key: rng.standard_normal(shape) for key, shape in net.param_shapes.items()}
        X, labels = rng.standard_normal((widths[0], m)), rng.integers(0, 2, (widths[-1], m)) * 1.0
        runs = max(1, 200_000 // (m * sum(widths)))
        start = time.perf_counter()
        for _ in range(runs):
            diagnose(params, X, labels, net=net)
        elapsed = (time.perf_counter() - start) / runs
        print(f"diagnose, {net.widths} network on {m:,} samples: {elapsed * 1e3:.2f}ms")
    return 0 if worst <= TARGET and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
