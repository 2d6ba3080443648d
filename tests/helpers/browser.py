"""Headless Chromium checks of a self-contained HTML report (Debian package `chromium`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
# Appended to a copy of the page: once everything is loaded, write what the page shows into the DOM.
PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    widths: images.map(i => i.naturalWidth),
    heights: images.map(i => i.naturalHeight),
    sources: images.map(i => i.getAttribute("src").slice(0, 30)),
    tables: document.querySelectorAll("table").length,
    table_rows: document.querySelectorAll("table tr").length,
    headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
  });
  document.body.appendChild(probe);
});
</script>
"""


def chromium() -> str:
    """Path of the Chromium binary; raises a clear error when it is not installed."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("headless Chromium is needed for the report check: apt-get install -y chromium")


def probe_html(page: Path) -> dict:
    """Load ``page`` in headless Chromium (network off) and return what it rendered: image natural
    sizes and sources, the number of tables and table rows, the h2 headings."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "page.html"
        copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
        result = subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={tmp}/profile",
                "--virtual-time-budget=10000",
                "--dump-dom",
                copy.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.DOTALL)
    if match is None:
        raise RuntimeError(
            f"Chromium did not render the probe (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    return json.loads(
        match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 6000) -> Path:
    """Render ``page`` to a PNG screenshot (for looking at the report)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return out
