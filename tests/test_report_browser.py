"""The report in a real browser (Debian's chromium driven by Playwright), offline: every
chart draws, nothing outside the file is requested, the console stays clean, and it prints.

Skipped where Playwright or chromium is missing; required (a failure) when CI is true.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from clientela import report
from clientela.engine import connect
from conftest import IN_CI
from test_report import MONTHS, shop_world


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if _chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    return None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Any:
    """Debian's chromium, headless, through Playwright (Playwright downloads nothing)."""
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"the browser test must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Containers run chromium as root, where its sandbox cannot start.
        instance = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        yield instance
        instance.close()


def test_report_renders_offline_with_every_chart_and_no_errors(
    browser: Any, tmp_path: Path
) -> None:
    """Opened from file:// with the network cut off, every chart draws, no request leaves
    the file, the console has no errors; a screenshot and a PDF print are saved."""
    ws = shop_world(tmp_path / "shop")
    engine = connect(ws, reader=True)
    try:
        path = tmp_path / "report.html"
        report.write(engine, ws.settings, path, MONTHS)
    finally:
        engine.close()

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())

    charts = page.locator(".plot").count()
    assert charts >= 14  # KPIs have no chart; every other panel has at least one
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
        arg=charts,
        timeout=30_000,
    )
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('.plot'))"
        ".filter(el => el.querySelector('.main-svg')).length"
    )
    assert drawn == charts
    # A few marks of the charts themselves: the funnel's and the Sankey's shapes, heatmaps.
    assert page.locator(".js-plotly-plot .sankey").count() == 1
    assert page.locator(".js-plotly-plot .funnellayer").count() == 1
    assert page.locator(".js-plotly-plot .hm, .js-plotly-plot image").count() >= 1
    assert page.locator(".kpi").count() == len(report.KPIS)

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    page.emulate_media(media="print")
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    page.close()

    assert outside == [], f"the report asked for {outside}"
    assert errors == [], errors
    assert shot.stat().st_size > 50_000 and pdf.stat().st_size > 50_000
    print(f"screenshot: {shot}")
