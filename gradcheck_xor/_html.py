"""How a report looks in Jupyter: one small layout for every report the package returns.

A report's ``_repr_html_`` hands :func:`report` its title, its verdict, the lines that say why
and what to fix, and a table or two of its worst rows (:func:`table`). Every piece of text
goes through :func:`html.escape` here, so a key named ``<script>`` shows as text and no report
has to think about it. The plain-text form IPython shows is the report's ``str``, the same
text as ``print(report)``: :class:`Displayed` gives every report that ``_repr_pretty_``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

__all__ = ["Displayed", "report", "table"]

# A notebook's output carries no style sheet of ours: each fragment brings its own, scoped to
# its class so that it styles nothing else on the page.
_CLASS = "gradcheck-xor"
_STYLE = (
    f"<style>.{_CLASS} table{{border-collapse:collapse}}"
    f".{_CLASS} td,.{_CLASS} th{{padding:0.1em 0.6em;text-align:left;vertical-align:top}}"
    f".{_CLASS} td{{font-family:monospace}}"
    f".{_CLASS} caption{{text-align:left}}</style>"
)
_COLOURS = {True: "#1a7f37", False: "#cf222e", None: "inherit"}


class Displayed:
    """IPython's pretty printer shows a report as ``str(report)`` (a cell's last line, or
    ``IPython.lib.pretty.pretty(report)``), never as a dump of its arrays."""

    __slots__ = ()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(f"<{type(self).__name__} ...>" if cycle else str(self))


def table(header: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    """An HTML table of ``rows`` (each cell shown as ``str(cell)``) under ``header``."""

    def line(cells: Iterable[object], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}>{escape(str(c))}</{tag}>" for c in cells) + "</tr>"

    head = f"<caption>{escape(caption)}</caption>" if caption else ""
    body = "".join(line(row, "td") for row in rows)
    return f"<table>{head}<thead>{line(header, 'th')}</thead><tbody>{body}</tbody></table>"


def report(
    title: str,
    verdict: str,
    ok: bool | None,
    lines: Iterable[tuple[str, str]] = (),
    tables: Iterable[str] = (),
) -> str:
    """A report as an HTML fragment: ``title``, the ``verdict`` (green when ``ok``, red when
    not, plain when neither applies), then ``lines`` as paragraphs, each ``(label, text)`` with
    its label in bold ("Fix", "Why"; "" for none), then ``tables`` (from :func:`table`)."""
    colour = _COLOURS[ok]
    parts = [
        f"<p><b>{escape(title)}</b>: <b style='color:{colour}'>{escape(verdict)}</b></p>",
        *(f"<p>{f'<b>{escape(label)}:</b> ' if label else ''}{escape(text)}</p>" for label, text in lines),
        *tables,
    ]
    return f'<div class="{_CLASS}">{_STYLE}' + "".join(parts) + "</div>"
