"""The monthly report's page in a real browser: headless Chromium screenshots at a desktop
and a phone width (Debian's ``chromium``, installed by ``make test`` when missing).

The screenshots are read back with Pillow: the page must fill the viewport with drawn
content (not a blank or an error page), show the breached cases in their colour, and
at phone width keep its text inside the screen (the wide tables scroll on their own).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from test_report import odd_named_report

from bridge.report.render import to_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it as root)"
)

SIZES = {"desktop": (1280, 1000), "phone": (390, 1600)}
BREACHED = (0xC6, 0x28, 0x28)  # the page's colour for a breached outcome


def screenshot(page: Path, out: Path, width: int, height: int, profile: Path) -> Image.Image:
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    return Image.open(out).convert("RGB")


def test_the_report_page_reads_well_at_desktop_and_phone_widths(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(odd_named_report(), site_url="https://acme.atlassian.net"))
    for name, (width, height) in SIZES.items():
        image = screenshot(page, tmp_path / f"{name}.png", width, height, tmp_path / name)
        assert image.size == (width, height)
        grey = image.convert("L")
        histogram = grey.histogram()
        dark = sum(histogram[:128]) / (width * height)
        assert 0.003 < dark < 0.4, f"{name}: {dark:.3f} of the page is dark"
        colours = {c for _, c in image.getcolors(maxcolors=1 << 20) or []}
        assert any(
            all(abs(a - b) <= 8 for a, b in zip(c, BREACHED, strict=True)) for c in colours
        ), f"{name}: no breached colour on the page"
        # nothing drawn in the last 4 px column: no text runs off the right edge
        edge = grey.crop((width - 4, 0, width, height))
        assert edge.getextrema()[0] > 200, f"{name}: content touches the right edge"
