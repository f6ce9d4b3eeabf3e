"""Compact HTML tables for notebooks' rich display (the ``_repr_html_`` of steervec's results).

Every cell and title is escaped with :func:`html.escape`, so a system prompt or a file name
that holds ``<`` or ``&`` shows as written.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

_STYLE = "border-collapse:collapse;font-size:90%"
_CELL = "padding:1px 8px;text-align:left"


def html_cell(value: Any) -> str:
    """One value as escaped cell text: floats to 4 significant digits, ``None`` as an em dash.

    Example:
        >>> html_cell(0.123456), html_cell(None), html_cell("<b>")
        ('0.1235', '—', '&lt;b&gt;')
    """
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut (for captions).

    Example:
        >>> shorten("You adore owls. Owls are on your mind all the time.", 15)
        'You adore owls…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def html_table(title: str, rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None,
               caption: str = "") -> str:
    """A bold title, an optional caption line and a table of ``rows`` (every cell escaped).

    Args:
        title: the type shown, e.g. ``"SteeringVector"``.
        rows: the table's rows; each value is formatted by :func:`html_cell`.
        header: column names (none: a two-column field / value table needs none).
        caption: one line under the title (plain text; escaped).

    Example:
        >>> html_table("FitReport", [("layers", "12"), ("kl_explained_train", 0.5)])  # doctest: +SKIP
    """
    head = f"<b>{html.escape(title)}</b>" + (f" {html.escape(caption)}" if caption else "")
    th = "".join(f'<th style="{_CELL}">{html.escape(h)}</th>' for h in header) if header else ""
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{html_cell(v)}</td>' for v in row) + "</tr>"
                   for row in rows)
    return (f'<div class="steervec-repr">{head}<table style="{_STYLE}">'
            + (f"<thead><tr>{th}</tr></thead>" if th else "") + f"<tbody>{body}</tbody></table></div>")
