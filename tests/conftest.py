"""Shared test settings: hypothesis profiles that make the suite deterministic."""

import os

from hypothesis import HealthCheck, settings

# CI (and any run with CI set): no deadline on a noisy shared machine, a fixed example
# budget, and derandomized so every run explores the same examples.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
