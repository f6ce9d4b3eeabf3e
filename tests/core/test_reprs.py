"""The HTML tables of notebooks' rich display escape every cell and format numbers compactly."""

from __future__ import annotations

from _html import html_text

from steervec.core.reprs import html_cell, html_table


def test_cells_are_escaped_and_numbers_short():
    assert html_cell(0.123456) == "0.1235" and html_cell(float("nan")) == "nan"
    assert html_cell(None) == "—" and html_cell(3) == "3"
    assert html_cell("<script>&") == "&lt;script&gt;&amp;"


def test_table_is_well_formed_with_header_and_caption():
    markup = html_table("T<1>", [("a & b", 1.5), ("c", None)], header=["key", "value"], caption="x < y")
    title, rows = html_text(markup)
    assert title == "T<1> x < y"
    assert rows == [["key", "value"], ["a & b", "1.5"], ["c", "—"]]


def test_shorten_marks_the_cut():
    from steervec.core.reprs import shorten

    assert shorten("short") == "short"
    assert shorten("x" * 70) == "x" * 59 + "…" and len(shorten("x" * 70)) == 60
