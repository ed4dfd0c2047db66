"""The parameter files that ship with gradcheck-xor, found by name from any directory.

``--example NAME`` on every command that reads a parameter file (``gradcheck-xor diagnose
--example notebook_final``) reads them from here, so the commands of the README and the
documentation run wherever the package is installed. ``examples/make_examples.py`` in the
source repository writes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["names", "path"]

_SUFFIX = ".json"


def names() -> list[str]:
    """The bundled parameter files, by name (the file name without ``.json``), sorted."""
    found = (entry.name for entry in files(__name__).iterdir())
    return sorted(name.removesuffix(_SUFFIX) for name in found if name.endswith(_SUFFIX))


@contextlib.contextmanager
def path(name: str) -> Iterator[Path]:
    """The bundled parameter file ``name`` as a file on disk while the context lasts.

    Installed from a wheel, that is the file itself; a temporary copy only when the package
    is imported from a zip archive. An unknown name is a :class:`ValueError` listing the
    names there are.
    """
    known = names()
    if name not in known:
        raise ValueError(f"no example named {name!r}; expected one of: {', '.join(known)}.")
    with as_file(files(__name__).joinpath(name + _SUFFIX)) as file:
        yield file
