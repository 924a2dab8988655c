"""The study report as a person sees it: report.html opened in headless Chromium.

Regenerates the report from a study.json into a temporary folder, opens report.html in Debian's
headless Chromium and writes a screenshot of the top of the page (the README shows it):

    .venv/bin/python benchmarks/report_screenshot.py [--study docs/study/study.json] [--out docs/study/report.png]

The browser is driven with Chromium's own command line, no extra dependency: `--dump-dom` on a copy
of the page with a small script that, after window.onload, writes what the browser rendered (images
loaded and their size, tables and their cells, headings, page size) into a data attribute of <body>;
`--screenshot` for the picture. tests/test_report_browser.py uses the same functions.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium` (apt-get install chromium)
ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1280

# Runs after every image has loaded or failed (window load), so naturalWidth is final.
PROBE = """<script>
window.addEventListener("load", () => {
  const rect = (e) => { const r = e.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height]; };
  const cells = (row) => [...row.cells].map((c) => c.textContent);
  document.body.dataset.browserChecks = JSON.stringify({
    images: [...document.images].map((i) => ({alt: i.alt, complete: i.complete,
      naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, rect: rect(i)})),
    tables: [...document.querySelectorAll("table")].map((t) => ({
      header: [...t.tHead.rows].map(cells), rows: [...t.tBodies[0].rows].map(cells), rect: rect(t)})),
    headings: [...document.querySelectorAll("h1, h2")].map((h) => [h.tagName, h.textContent]),
    innerWidth: innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
  });
});
</script>"""


def _chromium(args: list[str], profile: Path, width: int, height: int, timeout: float) -> str:
    """Run headless Chromium once; its own profile folder, so runs never share state or a lock."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # CI and this VM run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def browser_checks(page: Path, width: int = WIDTH, height: int = 900, timeout: float = 180) -> dict:
    """What Chromium rendered for `page`: the probe runs on a copy next to it (same relative paths)."""
    page = Path(page).resolve()
    text = page.read_text()
    if "</body>" not in text:
        raise ValueError(f"{page} has no </body> to put the probe before")
    probed = page.with_name(page.stem + ".browser-probe.html")
    probed.write_text(text.replace("</body>", PROBE + "</body>", 1))
    try:
        with tempfile.TemporaryDirectory(prefix="pcclip-chromium-") as profile:
            dom = _chromium(["--dump-dom", probed.as_uri()], Path(profile), width, height, timeout)
    finally:
        probed.unlink()
    found = re.search(r'<body[^>]*\sdata-browser-checks="([^"]*)"', dom)
    if found is None:
        raise RuntimeError("the probe's result is not in the DOM Chromium dumped (did window.onload run?)")
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, png: Path, width: int = WIDTH, height: int = 900, timeout: float = 180) -> Path:
    """A `width` x `height` PNG of the top of `page` (the whole page if `height` >= its scrollHeight)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pcclip-chromium-") as profile:
        _chromium([f"--screenshot={png}", Path(page).resolve().as_uri()], Path(profile), width, height, timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png}")
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "docs/study/study.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/study/report.png")
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--height", type=int, default=900, help="of the screenshot: the top of the page")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install chromium")

    from pcclip.report import write_report

    with tempfile.TemporaryDirectory(prefix="pcclip-report-") as tmp:
        _, page = write_report(json.loads(args.study.read_text()), Path(tmp))
        screenshot(page, args.out, args.width, args.height)
    print(f"wrote {args.out} ({args.width}x{args.height}, the top of report.html regenerated from {args.study})")


if __name__ == "__main__":
    main()
