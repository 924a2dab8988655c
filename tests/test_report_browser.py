"""The study's report.html in a real browser: headless Chromium (Debian's package `chromium`).

The report is regenerated from docs/study/study.json; Chromium then says what it rendered: every
figure decoded and laid out, every table with the same header and rows as report.md, the same
headings, nothing wider than the window; and a screenshot of the whole page shows pixels where the
figures and tables are. The browser is driven by benchmarks/report_screenshot.py (Chromium's own
--dump-dom and --screenshot); .ci/run installs chromium, and without it these tests are skipped.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from pcclip.report import write_report

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("report_screenshot", ROOT / "benchmarks" / "report_screenshot.py")
browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not browser.CHROMIUM.exists(), reason=f"{browser.CHROMIUM} not found: apt-get install chromium (.ci/run does)"
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """report.md, report.html and what Chromium rendered of the latter at 1280 px."""
    out = tmp_path_factory.mktemp("report")
    md, page = write_report(json.loads((ROOT / "docs/study/study.json").read_text()), out)
    return md, page, browser.browser_checks(page, width=browser.WIDTH)


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of each table in report.md, cells unescaped as the report escapes them."""

    def cells(line: str) -> list[str]:
        inner = line.removeprefix("| ").removesuffix(" |")
        return [c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", inner)]

    tables = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if lines[0].startswith("| "):
            assert all(line.startswith("| ") for line in lines), block
            assert set(cells(lines[1])) == {"---"}, block
            tables.append((cells(lines[0]), [cells(line) for line in lines[2:]]))
    return tables


def test_every_image_loaded(report):
    md, _, seen = report
    figures = re.findall(r"^!\[([^\]]*)\]\(([^)]+)\)$", md.read_text(), re.M)
    assert figures, "report.md has no figures"
    assert [i["alt"] for i in seen["images"]] == [alt for alt, _ in figures]
    for image, (_, path) in zip(seen["images"], figures):
        assert image["complete"] and image["naturalWidth"] > 0, image
        # decoded at the PNG's own size, and laid out with a visible box
        assert (image["naturalWidth"], image["naturalHeight"]) == Image.open(md.parent / path).size, image
        assert image["rect"][2] > 0 and image["rect"][3] > 0, image


def test_tables_rendered_as_in_markdown(report):
    md, _, seen = report
    expected = markdown_tables(md.read_text())
    assert expected, "report.md has no tables"
    assert len(seen["tables"]) == len(expected)
    for table, (header, rows) in zip(seen["tables"], expected):
        shown = [[c.replace("\n", " ") for c in row] for row in table["header"] + table["rows"]]
        assert len(table["rows"]) == len(rows)
        assert shown == [header, *rows]
        assert table["rect"][2] > 0 and table["rect"][3] > 0, table


def test_headings_and_width(report):
    md, _, seen = report
    headings = re.findall(r"^(#{1,2}) (.*)$", md.read_text(), re.M)
    assert seen["headings"] == [["H1" if h == "#" else "H2", title] for h, title in headings]
    assert seen["scrollWidth"] <= seen["innerWidth"] == browser.WIDTH, "the page scrolls sideways at 1280 px"


def test_screenshot_shows_the_figures_and_tables(report, tmp_path):
    _, page, seen = report
    height = seen["scrollHeight"]
    png = browser.screenshot(page, tmp_path / "report.png", width=browser.WIDTH, height=height)
    shot = Image.open(png).convert("L")
    assert shot.size == (browser.WIDTH, height)
    boxes = [i["rect"] for i in seen["images"]] + [t["rect"] for t in seen["tables"]]
    for left, top, width, box_height in boxes:
        region = shot.crop((round(left), round(top), round(left + width), round(top + box_height)))
        low, high = region.getextrema()
        assert high - low > 100 and ImageStat.Stat(region).stddev[0] > 5, f"blank region at {left, top, width, box_height}"
    top = browser.screenshot(page, tmp_path / "top.png", width=browser.WIDTH, height=900)
    assert Image.open(top).size == (browser.WIDTH, 900)
