"""Read the HTML of a ``_repr_html_``: it must be well-formed, and its text is returned."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def html_text(markup: str) -> tuple[str, list[list[str]]]:
    """``(title and caption text, [[cell text, ...] per table row])``; fails on malformed markup."""
    root = ET.fromstring(f"<root>{markup}</root>")  # raises on unbalanced tags or bare "<" / "&"
    title = " ".join("".join(b.itertext()) + (b.tail or "") for b in root.iter("b")).strip()
    rows = [["".join(cell.itertext()) for cell in tr] for tr in root.iter("tr")]
    return title, rows
