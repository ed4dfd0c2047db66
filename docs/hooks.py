"""MkDocs hook: the docstrings use Sphinx cross-reference roles (:func:`name`), which Markdown
renders as a stray ":func:" before the code span. Drop the role and keep the name."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)
