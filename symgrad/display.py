"""HTML for notebooks: what Jupyter shows for a compiled function and a verify report.

Every piece of text that reaches the HTML (names, labels, expressions, source) is escaped
here, so a symbol or function name can never become markup. Imports nothing of symgrad.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

SOURCE_LINES = 80  # lines of generated source shown; the rest is a note (fn.source has all)


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def source_html(title: str, source: str, notes: str) -> str:
    """A compiled function: ``title``, its source (highlighted when pygments is installed; long
    sources cut to ``SOURCE_LINES`` lines) and ``notes`` (its stats) under a fold."""
    lines = source.splitlines()
    shown = "\n".join(lines[:SOURCE_LINES]) + "\n"
    rest = len(lines) - SOURCE_LINES
    cut = f"<p><i>… {rest:,} more lines (<code>.source</code> has them all)</i></p>" if rest > 0 else ""
    return (f"<div><p><code>{escape(title)}</code></p>{_highlighted(shown)}{cut}"
            f"<details><summary>stats</summary><pre>{escape(notes)}</pre></details></div>")


def _highlighted(source: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return f"<pre>{escape(source)}</pre>"
    html: str = highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
    return html


def table_html(caption: str, header: Sequence[str], rows: Sequence[tuple[Sequence[str], bool]], verdict: str) -> str:
    """A table of ``rows`` (cells, and whether the row passed: failures in red) under ``caption``,
    then ``verdict``."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join(
        f"<tr style=\"color: {'inherit' if ok else '#c92a2a'}\">"
        + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>"
        for cells, ok in rows
    )
    return (f"<table><caption style=\"text-align: left\">{escape(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{escape(verdict)}</p>")
