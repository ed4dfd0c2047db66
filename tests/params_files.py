"""What the tests of parameter files (test_params_io.py, test_hostile_files.py) share."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings

from gradcheck_xor import network as nw


def examples(n: int) -> settings:
    """``n`` examples for a test that also takes ``tmp_path``: the directory is shared by the
    test's examples, and each example overwrites its own files."""
    return settings(max_examples=n, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fitting_layouts(params: dict[str, np.ndarray], X: np.ndarray | None) -> list[str]:
    """The layouts in which ``params`` (and ``X``, if given) describe a network."""
    fitting = []
    for layout in nw.LAYOUTS:
        try:
            nw.describe(params, X, layout=layout)
        except nw.NetworkError:
            continue
        fitting.append(layout)
    return fitting
