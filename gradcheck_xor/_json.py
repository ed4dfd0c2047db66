"""Plain JSON-ready data: the one encoding every ``--json`` output uses.

``json.dumps(jsonable(value), allow_nan=False)`` always succeeds for the package's results:
NumPy arrays become lists, NumPy scalars Python numbers, dict keys strings, and the numbers
JSON has no word for become the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (a diverged run
or a backward that returned NaN still says which it was, where ``null`` would not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def _number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def jsonable(value: Any) -> Any:
    """``value`` with every container, array and number made plain JSON data (see above)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _number(float(value))
    return value
