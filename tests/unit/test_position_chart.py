"""The audit card's grade-by-position picture (pure SVG markup)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from releval_judge.scale import Scale
from releval_judge.ui.charts import grade_by_position_svg

SVG = "{http://www.w3.org/2000/svg}"


def _widths(markup: str) -> dict[str, float]:
    root = ET.fromstring(markup)
    return {r.attrib["data-position"]: float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")}


def test_bars_run_from_the_lowest_grade_to_the_highest() -> None:
    scale = Scale(min=0, max=3)
    widths = _widths(str(grade_by_position_svg(3.0, 1.5, scale, title="t")))
    assert widths["first"] == 2 * widths["last"] > 0
    assert _widths(str(grade_by_position_svg(0.0, 0.0, scale, title="t"))) == {
        "first": 0.0,
        "last": 0.0,
    }


def test_equal_means_draw_equal_bars_and_the_numbers_are_written() -> None:
    scale = Scale(min=1, max=5)
    markup = str(grade_by_position_svg(3.25, 3.25, scale, title="By <position>", ident="p1"))
    widths = _widths(markup)
    assert widths["first"] == widths["last"]
    root = ET.fromstring(markup)  # the title is escaped: the markup still parses
    assert root.find(f"{SVG}title") is not None
    assert root.find(f"{SVG}title").text == "By <position>"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text == (
        "mean grade when first: 3.25; mean grade when last: 3.25 (scale 1 to 5)"
    )
    assert [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "count"] == [
        "3.25",
        "3.25",
    ]
