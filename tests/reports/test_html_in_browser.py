"""The HTML report in a real browser: every embedded image decodes (naturalWidth > 0).

Uses headless Chromium when one is installed (CI installs it); skips cleanly otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from tests.reports.reports_testdata import paper_rows, write_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHECK_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const out = document.createElement("div");
  out.id = "image-check";
  out.textContent = `loaded ${loaded} of ${images.length}`;
  document.body.appendChild(out);
});
</script>
"""


def browser() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.mark.skipif(browser() is None, reason="no headless Chromium installed")
def test_every_image_loads_in_chromium(tmp_path):
    run = write_run(tmp_path / "run", paper_rows())
    assert main(["report", str(run), "--format", "html", "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    # Self-contained: the page must work on its own, so check a copy away from the plots.
    probe = tmp_path / "alone" / "probe.html"
    probe.parent.mkdir()
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"))
    dom = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'<div id="image-check">loaded (\d+) of (\d+)</div>', dom)
    assert found, dom[-2000:]
    loaded, total = map(int, found.groups())
    assert total == len(re.findall(r"<img ", page)) > 0
    assert loaded == total
