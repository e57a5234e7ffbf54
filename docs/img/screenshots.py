"""Regenerate the README's screenshots from a finished `hyperlaw demo`: the study's dashboard page
(header, runs, loss curves, latest fits) and its HTML report (prediction, the loss law against N,
the LR sweeps), with Playwright driving Debian's chromium (nothing downloads a browser).

    hyperlaw demo --dir /tmp/demo
    python docs/img/screenshots.py /tmp/demo/hyperlaw.db /tmp/demo/demo-full-report.html
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
EAGER = "document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })"
LOADED = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def full_page(page: Page, path: Path, timeout_s: float = 240) -> Image.Image:
    """The whole page once every image has loaded (lazy ones forced), as a PIL image."""
    page.evaluate(EAGER)
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(LOADED):
        if time.monotonic() > deadline:
            raise SystemExit(f"the images of {page.url} did not load")
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), full_page=True)
    return Image.open(path).convert("RGB")


def span(page: Page, first: str, last: str | None = None, pad: int = 10) -> tuple[int, int]:
    """Page rows from the top of `first` to the bottom of `last` (or of `first`)."""
    top = page.locator(first).first.bounding_box()
    bottom = page.locator(last).last.bounding_box() if last else top
    return int(top["y"]) - pad, int(bottom["y"] + bottom["height"]) + pad


def stitch(image: Image.Image, rows: list[tuple[int, int]], path: Path) -> None:
    parts = [image.crop((0, max(0, a), WIDTH, min(image.height, b))) for a, b in rows]
    out = Image.new("RGB", (WIDTH, sum(p.height for p in parts)), "white")
    y = 0
    for part in parts:
        out.paste(part, (0, y))
        y += part.height
    out.save(path, optimize=True)


def main(database: str, report: str, study: int = 1) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--database-url", f"sqlite:///{Path(database).resolve()}"]
        + ["--port", str(port), "--log-level", "warning"]
    )
    try:
        for _ in range(240):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/studies/{study}")
            image = full_page(page, OUT / "_dashboard-full.png")
            header = (0, span(page, "#predict")[0])
            stitch(image, [header, span(page, "section.card:not([id])", "#fits")], OUT / "dashboard.png")

            page.goto(Path(report).resolve().as_uri())
            image = full_page(page, OUT / "_report-full.png")
            rows = [
                (0, span(page, "#prediction")[1]),
                span(page, "section.fit >> figure"),  # the loss law against N
                span(page, "section.fit >> nth=-1 >> figure >> nth=-1"),  # the LR sweeps, the last figure
            ]
            stitch(image, rows, OUT / "report.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(60)
        for scratch in OUT.glob("_*-full.png"):
            scratch.unlink()


if __name__ == "__main__":
    main(*sys.argv[1:3])
