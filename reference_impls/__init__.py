"""Any small fully connected network in PyTorch and JAX, for cross-validating the NumPy code.

``reference_impls.torch_xor`` and ``reference_impls.jax_xor`` have the same functional face
as :mod:`gradcheck_xor.network` (``forward``, ``loss``, ``gradients``, ``train`` over NumPy
dicts ``{"W1", "b1", ..., "WL", "bL"}`` in the caller's layout, for the network they
describe or the one passed as ``net=``), each written the way that framework's users write
it. On the notebook's dict they are its 2-2-1 XOR network, as they always were.

Importing this package imports neither torch nor jax: each submodule is loaded on first
use (``reference_impls.torch_xor`` or ``from reference_impls import jax_xor``), and a
missing framework then raises :class:`MissingFrameworkError`, whose one-line message names
the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from reference_impls._common import RELUS, RULES, MissingFrameworkError

__all__ = ["FRAMEWORKS", "RELUS", "RULES", "MissingFrameworkError", "load"]

# framework name -> submodule
FRAMEWORKS: dict[str, str] = {"torch": "torch_xor", "jax": "jax_xor"}


def load(framework: str) -> ModuleType:
    """The reference module of ``framework`` ("torch" or "jax"), imported on demand."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"Unknown framework {framework!r}: expected one of {', '.join(FRAMEWORKS)}.")
    return importlib.import_module(f"{__name__}.{FRAMEWORKS[framework]}")


def __getattr__(name: str) -> ModuleType:
    # Called only for names not yet set: the first access to a submodule imports it.
    if name in FRAMEWORKS.values():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
