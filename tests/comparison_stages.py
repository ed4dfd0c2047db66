"""The stages compare reports, by name: shared by the tests of crossval.compare and of the
``compare`` command."""

from __future__ import annotations

STEPS = 50  # one length in every test, so JAX compiles each training scan once
RULES = ("BCE rule", "notebook rule")


def sigmoid_bce_stages(depth: int, steps: int = STEPS) -> list[str]:
    """Every stage, in order, of a sigmoid network of ``depth`` layers on the mean binary
    cross-entropy (the notebook's kind, which is also compared under the notebook's rule)."""
    cache = ", ".join(f"{kind}{i}" for i in range(1, depth + 1) for kind in "ZA")
    grads = [f"d{kind}{i}" for i in range(1, depth + 1) for kind in "Wb"]
    return [
        f"forward ({cache})",
        "loss: mean binary cross-entropy",
        "loss: half the mean squared error",
        *(f"{grad} ({rule})" for rule in RULES for grad in grads),
        *(f"{what} ({rule})" for rule in RULES for what in (f"params after {steps:,} steps", "loss history")),
    ]


XOR_STAGES = sigmoid_bce_stages(2)
