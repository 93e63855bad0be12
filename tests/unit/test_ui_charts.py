"""The grade distribution picture (pure SVG markup)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from releval_judge.scale import Scale
from releval_judge.ui.charts import grade_colour, grade_distribution_svg

SVG = "{http://www.w3.org/2000/svg}"


def _bars(markup: str) -> dict[int, int]:
    root = ET.fromstring(markup)
    return {
        int(rect.attrib["data-grade"]): int(rect.attrib["data-count"])
        for rect in root.iter(f"{SVG}rect")
    }


def test_every_grade_of_the_scale_has_a_bar_and_heights_follow_counts() -> None:
    scale = Scale(min=0, max=3, labels={0: "irrelevant", 3: "perfect"})
    markup = str(grade_distribution_svg({1: 4, 3: 8}, scale, title="Grades"))
    assert _bars(markup) == {0: 0, 1: 4, 2: 0, 3: 8}
    root = ET.fromstring(markup)
    heights = {
        int(r.attrib["data-grade"]): float(r.attrib["height"]) for r in root.iter(f"{SVG}rect")
    }
    assert heights[3] == 2 * heights[1] > 0 and heights[0] == heights[2] == 0


def test_the_numbers_are_in_the_accessible_description() -> None:
    scale = Scale(min=0, max=2, labels={2: "good"})
    markup = str(grade_distribution_svg({0: 1, 2: 5}, scale, title="By <grade>", ident="x"))
    root = ET.fromstring(markup)
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-labelledby"] == "x-title x-desc"
    assert root.find(f"{SVG}title").text == "By <grade>"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == "6 judgments. grade 0: 1, grade 1: 0, grade 2 (good): 5"


def test_labels_are_escaped() -> None:
    scale = Scale(min=0, max=1, labels={1: '<script>"x"'})
    markup = str(grade_distribution_svg({1: 1}, scale, title="t"))
    assert "<script>" not in markup
    ET.fromstring(markup)  # still well-formed


def test_outside_grades_are_left_out_and_wide_scales_stay_readable() -> None:
    scale = Scale(min=1, max=101)
    markup = str(grade_distribution_svg({0: 3, 50: 2, 500: 1}, scale, title="t"))
    bars = _bars(markup)
    assert len(bars) == 101 and bars[50] == 2 and 0 not in bars and 500 not in bars
    grade_texts = re.findall(r'class="grade">(-?\d+)<', markup)
    assert grade_texts[:3] == ["1", "6", "11"]  # every fifth grade is written


def test_colours_run_from_red_to_green() -> None:
    scale = Scale(min=0, max=4)
    assert grade_colour(0, scale) == "hsl(0 55% 42%)"
    assert grade_colour(4, scale) == "hsl(130 55% 42%)"
