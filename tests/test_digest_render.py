"""The HTML digest rendered by headless Chromium to a screenshot under bench/out/.

Look at the result: bench/out/digest.png (the page as a browser shows it, 800 px wide) next to
bench/out/digest.html and its charts. Needs Debian's `chromium` package; skipped without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO
from test_digest import WEEK, home_settings
from test_digest import digest_warehouse as digest_warehouse  # the shared fixture

from flows.digest.flow import write_preview

OUT = REPO / "bench" / "out"


def test_digest_renders_in_headless_chromium(digest_warehouse: Path, crwatch_home: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "headless Chromium not installed: `sudo apt-get install chromium` (Debian) to render"
            " the digest to bench/out/digest.png"
        )
    settings = home_settings(crwatch_home, digest_warehouse)
    preview = write_preview(settings, WEEK)
    OUT.mkdir(parents=True, exist_ok=True)
    for path in preview.parent.glob(f"{preview.stem}*"):
        shutil.copy(path, OUT / path.name.replace(preview.stem, "digest"))
    html = OUT / "digest.html"
    html.write_text(preview.read_text().replace(f"{preview.stem}.", "digest."))
    screenshot = OUT / "digest.png"
    screenshot.unlink(missing_ok=True)
    profile = crwatch_home / "chromium-profile"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--window-size=800,3000",
            f"--screenshot={screenshot}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000, "the screenshot has content"
    print(f"\ndigest screenshot: {screenshot} ({len(data)} bytes)")
