"""Dashboard polish in headless Chromium: stale figures marked, clean messages, the example name following
uploads, figures written by the formatting layer, and the phase timeline (Gantt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import EXAMPLES
from .test_browser import browser, server  # noqa: F401  (fixtures: the real server and Chromium)

pytestmark = pytest.mark.browser


def open_dashboard(server: str, browser: object) -> object:  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.select_option("#example", "abilene")
    page.wait_for_function("() => document.querySelector('#accelerators').value === '399744'", timeout=60_000)
    page.wait_for_function("() => document.body.dataset.stale === 'false'", timeout=60_000)
    return page


def test_figures_come_formatted_and_the_timeline_has_every_phase(server: str, browser: object) -> None:  # noqa: F811
    page = open_dashboard(server, browser)
    capex = page.locator(".figure[data-key=capex_usd] .value").inner_text()
    assert capex.startswith("$") and capex.endswith("B")
    first = page.locator(".figure[data-key=first_power_month] .value").inner_text()
    assert first == "2025-06 (month 12)"
    irr = page.locator(".figure[data-key=equity_irr] .value").inner_text()
    assert irr.endswith("%")
    assert page.locator(".figure[data-key=pue]").get_attribute("title").startswith("Power usage")
    assert page.locator("#chart-timeline .main-svg").count() > 0
    assert page.locator("#chart-timeline").get_attribute("data-phases") == "4"  # Abilene's four phases
    assert page.locator("#chart-timeline .bars path").count() >= 4
    page.close()


def test_a_failed_change_marks_the_figures_stale_with_a_clean_message(server: str, browser: object) -> None:  # noqa: F811
    page = open_dashboard(server, browser)
    assert not page.locator("#stale-note").is_visible()
    before = page.locator(".figure[data-key=facility_power_mw] .value").inner_text()
    page.fill("#accelerators", "-5")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    message = page.locator("#error").inner_text()
    assert "accelerators" in message and "greater than or equal to 1" in message
    assert "body" not in message and "inputs." not in message
    assert page.locator("#results.stale").count() == 1 and page.locator("#stale-note").is_visible()
    assert "stale" in page.locator("#status").inner_text()
    assert page.locator(".figure[data-key=facility_power_mw] .value").inner_text() == before  # kept, marked
    page.fill("#accelerators", "200000")
    page.wait_for_function("() => document.body.dataset.stale === 'false'", timeout=30_000)
    assert not page.locator("#stale-note").is_visible()
    page.close()


def test_the_example_name_follows_an_upload(server: str, browser: object, tmp_path: Path) -> None:  # noqa: F811
    page = open_dashboard(server, browser)
    upload = tmp_path / "my-campus.yaml"
    upload.write_text((EXAMPLES / "loughton.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    page.set_input_files("#upload", str(upload))
    page.wait_for_function("() => document.querySelector('#scenario-name').textContent.includes('my-campus.yaml')",
                           timeout=60_000)
    assert page.locator("#scenario-name").inner_text() == "Nscale Loughton (from my-campus.yaml)"
    chosen = page.evaluate("document.querySelector('#example').selectedOptions[0].textContent")
    assert chosen == "uploaded: my-campus.yaml"
    assert page.locator(".figure[data-key=accelerators] .value").inner_text() == "23,040"
    page.close()
