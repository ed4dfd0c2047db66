"""MkDocs hooks.

* The docstrings use Sphinx cross-reference roles (:func:`name`), which Markdown renders as a
  stray ":func:" before the code span: drop the role and keep the name.
* The theme writes the site's one language into every page's ``<html lang>``: the Korean
  pages (``docs/ko/``) say ``ko``, so that browsers, screen readers and search engines read
  them as Korean.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.structure.pages import Page

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):(?=<code>)")
_HTML_LANG = re.compile(r'<html lang="[^"]*"')
# A page's language, from the folder it lives in; the rest of the site is English.
_LANGUAGES = {"ko/": "ko"}


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)


def on_post_page(output: str, page: Page, **kwargs: Any) -> str:
    for folder, lang in _LANGUAGES.items():
        if page.file.src_uri.startswith(folder):
            return _HTML_LANG.sub(f'<html lang="{lang}"', output, count=1)
    return output
