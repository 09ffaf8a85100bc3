"""The planner's pages in a real browser: headless Chromium against a running `bedcast serve` on the demo model.

Checks what a person sees (numbers, charts, downloads), that nothing on a page fails (console) or leaves the
machine (network log), and writes screenshots at a desktop (1280 px) and a phone (390 px) width to
tests/output/web/. In CI the browser must be there (.ci/run installs it); elsewhere its absence skips these tests.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from tests import browser

pytestmark = pytest.mark.slow

OUTPUT = Path(__file__).parent / "output" / "web"
DESKTOP, PHONE = 1280, 390


def _need_browser() -> None:
    missing = browser.browser_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI: {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="module")
def service(trained_demo, tmp_path_factory):
    _need_browser()
    folder = tmp_path_factory.mktemp("web")  # the service's own episodes and saved scenarios
    shutil.copy(trained_demo / "mlflow.db", folder / "mlflow.db")  # artifacts stay where they were logged
    with browser.serve(folder) as running:
        yield running


@pytest.fixture(scope="module")
def chrome(service):
    driver = browser.chromium(DESKTOP, 900)
    yield driver
    driver.quit()


def open_page(driver, service, path: str, width: int = DESKTOP) -> float:
    """Load a page at a width; its load time by the browser's clock. Clears the logs of earlier pages first."""
    browser.emulate(driver, width, 900, mobile=width < 700)
    browser.console_errors(driver), browser.requested_hosts(driver)
    driver.get(service.base + path)
    return browser.wait_drawn(driver)


def assert_clean(driver, service) -> None:
    """No console errors or warnings, and every request went to the service."""
    assert browser.console_errors(driver) == []
    host = urllib.parse.urlsplit(service.base).netloc
    assert browser.requested_hosts(driver) <= {host}


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def table_rows(driver, table_id: str) -> list[list[str]]:
    """The body rows of a table as the page shows them, cell by cell."""
    return js(
        driver,
        "return [...document.getElementById(arguments[0]).tBodies[0].rows]"
        ".map(r => [...r.cells].map(c => c.textContent.trim()))",
        table_id,
    )


def units_of(service) -> list[str]:
    return [u["unit"] for u in service.json("/v1/units")["units"]]


# --- the hospital overview -----------------------------------------------------------------------------------


def test_overview_shows_the_plans_numbers(service, chrome):
    open_page(chrome, service, "/")
    assert_clean(chrome, service)
    plan = service.json("/v1/plan?quarter=next")
    cells = js(
        chrome,
        "return [...document.querySelectorAll('#plan-table tbody td[data-week]')].map(td => ["
        "td.closest('tr').dataset.unit, td.dataset.week, td.dataset.needed, td.dataset.open,"
        "td.querySelector('.beds').textContent.trim()])",
    )
    shown = {(unit, week): (int(needed), open_beds, text) for unit, week, needed, open_beds, text in cells}
    assert len(shown) == len(plan["weeks"]) > 0
    for row in plan["weeks"]:
        needed, open_beds, text = shown[(row["unit"], row["week"])]
        assert needed == row["beds_at_overflow_risk"]
        assert open_beds == str(row["current_beds"])
        assert text == f"{row['beds_at_overflow_risk']} / {row['current_beds']}"  # what the planner reads
    # The hospital's pooled figure is /v1/plan?level=hospital's.
    pooled = service.json("/v1/plan?quarter=next&level=hospital")["weeks"]
    shown_pooled = js(
        chrome,
        "return [...document.querySelectorAll('tr.pooled td[data-week]')]"
        ".map(td => [td.dataset.week, +td.dataset.needed])",
    )
    assert sorted(map(tuple, shown_pooled)) == sorted((w["week"], w["beds_at_overflow_risk"]) for w in pooled)
    text = chrome.find_element("tag name", "main").text
    assert plan["quarter"] in text and "2024-12-31" in text  # the quarter and the model's "as of" day
    # Units whose measured reliability is poor (planned conservatively, says /v1/plan) are flagged.
    flagged = js(chrome, "return [...document.querySelectorAll('#plan-table tr:has(.flag)')].map(r => r.dataset.unit)")
    assert sorted(flagged) == sorted(u for u, r in plan["reliability"].items() if r["status"] != "kept")


def test_overview_chart_is_drawn_and_readable_as_a_table(service, chrome):
    open_page(chrome, service, "/")
    script = (
        "return [...document.querySelectorAll('svg.chart:not(.drivers) path[data-points]')].map(p => +p.dataset.points)"
    )
    lines = js(chrome, script)
    weeks = {w["week"] for w in service.json("/v1/plan?quarter=next")["weeks"]}
    assert len(lines) == 3 and all(points == len(weeks) + 1 for points in lines)  # needed, pooled, open
    rows = js(chrome, "return document.querySelectorAll('#hospital-table tbody tr').length")
    assert rows == len(weeks)


# --- a unit --------------------------------------------------------------------------------------------------


def test_unit_page_draws_the_fan_and_shows_the_plan_staffing_and_model(service, chrome):
    unit = "surgery"
    open_page(chrome, service, f"/units/{unit}")
    assert_clean(chrome, service)
    history = service.json(f"/v1/history/{unit}")["days"]
    model = service.json("/v1/model")
    days = (pd.Timestamp(model["forecast_last_day"]) - pd.Timestamp(model["forecast_first_day"])).days + 1
    points = js(
        chrome,
        "const c = document.querySelector('svg.chart'); return Object.fromEntries("
        "[...c.querySelectorAll('path.line[data-points]')].map(p => [p.classList[1], +p.dataset.points]))",
    )
    assert points["history"] == len(history) == 365 and points["expected"] == days
    assert js(chrome, "return document.querySelector('svg.chart').querySelectorAll('path.band').length") == 2
    # The weekly plan is /v1/plan's rows of the unit.
    plan = [w for w in service.json("/v1/plan?quarter=next")["weeks"] if w["unit"] == unit]
    table = table_rows(chrome, "plan-table")
    assert [row[0] for row in table] == [w["week"] for w in plan]
    assert [int(row[4]) for row in table] == [w["beds_at_overflow_risk"] for w in plan]
    # Nurses per shift for four weeks, as /v1/staffing says.
    staffing = service.json(f"/v1/staffing/{unit}?days=28")
    shifts = table_rows(chrome, "shifts-table")
    assert len(shifts) == 28
    night = next(s for s in staffing["shifts"] if s["shift"] == "night")
    assert shifts[0][0] == night["date"]
    assert shifts[0][6:8] == [str(night["registered_nurses"]), str(night["assistant_nurses"])]
    fte = chrome.find_element("id", "fte-table").text
    assert all(w["week"] in fte for w in staffing["weekly_fte"])
    # The chosen model and its backtest scores.
    text = chrome.find_element("id", "model-title").find_element("xpath", "..").text
    assert model["chosen"]["census"][unit] in text
    assert f"{100 * model['backtest']['census']['coverage_80']:.0f} %" in text


def test_unit_page_draws_the_beds_by_driver_at_both_widths(service, chrome):
    unit = "surgery"
    answer = service.json(f"/v1/explain/{unit}")["units"][0]
    for width in (DESKTOP, PHONE):
        open_page(chrome, service, f"/units/{unit}", width)
        assert_clean(chrome, service)
        # The stacked chart: a bar per week and part that has beds, and the plan's beds as a line of every week.
        bars = js(
            chrome,
            "return [...document.querySelectorAll('svg.drivers rect.part')]"
            ".map(r => [r.dataset.week, r.dataset.part, +r.dataset.beds])",
        )
        expected = {(w["week"], p, b) for w in answer["weeks"] for p, b in w["parts"].items() if b}
        assert {tuple(bar) for bar in bars} == expected
        line = js(chrome, "return +document.querySelector('svg.drivers path.planned').dataset.points")
        assert line == len(answer["weeks"])
        # Its table says the same, and every row adds up to the plan's beds.
        rows = js(
            chrome,
            "return [...document.querySelectorAll('#drivers-table tbody tr')].map(r => [r.dataset.week, "
            "+r.dataset.beds, [...r.querySelectorAll('td[data-part]')].map(c => +c.dataset.beds)])",
        )
        assert [(week, beds) for week, beds, _ in rows] == [(w["week"], w["beds"]) for w in answer["weeks"]]
        assert all(sum(parts) == beds for _, beds, parts in rows)
        # The chart fits the screen: its box is no wider than the page.
        box = js(chrome, "return document.querySelector('svg.drivers').getBoundingClientRect().width")
        assert 0 < box <= width
        notes = chrome.find_element("id", "drivers-notes").text
        assert "not separated" in notes  # ETS sees the series alone: it says so rather than invent a split
        browser.screenshot(chrome, OUTPUT / f"drivers-{width}.png", width, mobile=width < 700)


def test_an_unknown_unit_is_a_page_saying_which_units_there_are(service, chrome):
    status, kind, body = service.get("/units/nowhere")
    assert status == 404 and kind.startswith("text/html")
    assert b"surgery" in body and b"unknown unit" in body


# --- every page ----------------------------------------------------------------------------------------------


def pages_of(service) -> list[str]:
    return ["/", *[f"/units/{unit}" for unit in units_of(service)], "/what-if?unit=surgery&admissions=5"]


def test_every_page_loads_clean_offline_at_both_widths_with_screenshots(service, chrome):
    for path in pages_of(service):
        name = path.split("?")[0].strip("/").replace("/", "-") or "overview"
        for width in (DESKTOP, PHONE):
            open_page(chrome, service, path, width)
            assert_clean(chrome, service)
            assert js(chrome, "return document.querySelectorAll('svg.chart circle.point').length") > 0, path
            # Nothing wider than the screen: wide tables and charts scroll inside their own box.
            assert js(chrome, "return document.documentElement.scrollWidth") <= width, (path, width)
            browser.screenshot(chrome, OUTPUT / f"{name}-{width}.png", width, mobile=width < 700)
            assert (OUTPUT / f"{name}-{width}.png").stat().st_size > 10_000


def test_every_table_downloads_as_csv(service, chrome):
    for path in pages_of(service):
        open_page(chrome, service, path)
        tables = js(chrome, "return document.querySelectorAll('main table').length")
        links = js(chrome, "return [...document.querySelectorAll('a.download')].map(a => a.getAttribute('href'))")
        assert tables > 0 and len(links) >= tables, path
        for href in links:
            if href.startswith("data:text/csv"):
                text = urllib.parse.unquote(href.split(",", 1)[1])
            else:
                status, kind, body = service.get(href)
                assert status == 200 and kind.startswith("text/csv"), href
                text = body.decode()
            assert len(pd.read_csv(io.StringIO(text))) > 0, href


def test_api_docs_work_offline(service, chrome):
    open_page(chrome, service, "/docs")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and js(chrome, "return document.querySelectorAll('.opblock').length") < 10:
        time.sleep(0.1)
    operations = js(chrome, "return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
    assert {"/v1/plan", "/v1/forecast/{unit}", "/v1/history/{unit}"} <= {o.replace("\u200b", "") for o in operations}
    assert_clean(chrome, service)
    browser.screenshot(chrome, OUTPUT / f"docs-{DESKTOP}.png", DESKTOP, mobile=False)
    open_page(chrome, service, "/redoc")  # ReDoc would fetch its logo from the internet: it leads to /docs
    assert chrome.current_url.endswith("/docs")


# --- what if -------------------------------------------------------------------------------------------------


def submit(driver, button_css: str) -> None:
    """Click a button that loads a new page, and wait until the new page has loaded."""

    old = driver.find_element("tag name", "html")
    driver.find_element("css selector", button_css).click()
    browser.wait_replaced(driver, old)
    browser.wait_drawn(driver)


def served_and_what_if(driver, table_id: str) -> dict[str, tuple[int, int]]:
    rows = js(
        driver,
        "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')]"
        ".map(r => [r.dataset.unit || r.dataset.week, +r.dataset.served, +r.dataset.whatIf])",
        table_id,
    )
    return {key: (served, what_if) for key, served, what_if in rows}


def post_scenario(service, body: dict) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(
        service.base + "/v1/scenarios?tables=weeks",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_what_if_moves_the_numbers_the_expected_way(service, chrome):
    from selenium.webdriver.support.ui import Select

    open_page(chrome, service, "/what-if?unit=surgery")
    assert_clean(chrome, service)
    # Nothing changed: the result is the served plan.
    assert all(served == what_if for served, what_if in served_and_what_if(chrome, "summary-table").values())
    # More admissions everywhere: more beds in every unit.
    chrome.find_element("id", "admissions").send_keys("20")
    submit(chrome, "#show")
    assert_clean(chrome, service)
    more = served_and_what_if(chrome, "summary-table")
    assert len(more) == 6 and all(what_if > served for served, what_if in more.values())
    weeks = served_and_what_if(chrome, "difference-table")
    api = post_scenario(service, {"admissions": [{"percent": 20, "admission_type": "all", "units": None}]})
    assert weeks == {
        w["week"]: (w["served_beds_at_overflow_risk"], w["beds_at_overflow_risk"])
        for w in api["weeks"]
        if w["unit"] == "surgery"
    }
    # Shorter stays in surgery only, and fewer beds open in one week: surgery needs fewer beds, the rest as
    # served, and that week is shorter of beds.
    chrome.find_element("id", "admissions").clear()
    Select(chrome.find_element("id", "applies")).select_by_value("surgery")
    chrome.find_element("id", "stay_days").send_keys("-0.5")
    week = sorted(weeks)[4]
    beds = chrome.find_element("name", f"beds_{week}")
    beds.clear()
    beds.send_keys("20")
    submit(chrome, "#show")
    assert_clean(chrome, service)
    fewer = served_and_what_if(chrome, "summary-table")
    assert fewer["surgery"][1] < fewer["surgery"][0]
    assert all(served == what_if for unit, (served, what_if) in fewer.items() if unit != "surgery")
    row = chrome.find_element("css selector", f'#difference-table tr[data-week="{week}"]').text
    assert "30 → 20" in row  # open beds of that week


def test_a_scenario_is_saved_with_the_key_and_reloads(service, chrome):
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(chrome, service, "/what-if?unit=psychiatry&admissions=10")
    chrome.find_element("id", "save-name").send_keys("ten percent more")
    chrome.find_element("id", "save-key").send_keys("not-the-key")
    chrome.find_element("css selector", "#save button").click()
    WebDriverWait(chrome, 20).until(expected_conditions.text_to_be_present_in_element(("id", "save-status"), "Not"))
    assert "key is missing or wrong" in chrome.find_element("id", "save-status").text
    assert chrome.find_element("id", "save-key").get_attribute("value") == ""  # the key is not kept
    assert service.json("/v1/scenarios") == []
    errors = browser.console_errors(chrome)
    assert len(errors) == 1 and "401" in errors[0]  # the refused request, nothing else
    chrome.find_element("id", "save-key").send_keys(browser.KEY)
    old = chrome.find_element("tag name", "html")
    chrome.find_element("css selector", "#save button").click()
    browser.wait_replaced(chrome, old)
    browser.wait_drawn(chrome)
    assert_clean(chrome, service)
    saved = service.json("/v1/scenarios")
    assert [s["name"] for s in saved] == ["ten percent more"]
    assert chrome.current_url.endswith(f"/what-if?saved={saved[0]['id']}&unit=psychiatry")
    assert "ten percent more" in chrome.find_element("id", "saved-list").text
    assert chrome.find_element("id", "admissions").get_attribute("value") == "10"
    assert browser.KEY not in chrome.page_source
    for width in (DESKTOP, PHONE):
        open_page(chrome, service, f"/what-if?saved={saved[0]['id']}", width)
        assert_clean(chrome, service)
        browser.screenshot(chrome, OUTPUT / f"what-if-{width}.png", width, mobile=width < 700)


def test_a_saved_scenario_is_deleted_from_the_page_with_the_key_only(service, chrome):
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    open_page(chrome, service, "/what-if?unit=surgery&admissions=5")
    chrome.find_element("id", "save-name").send_keys("five percent more, to delete")
    chrome.find_element("id", "save-key").send_keys(browser.KEY)
    submit(chrome, "#save button")
    assert_clean(chrome, service)
    before = service.json("/v1/scenarios")
    doomed = next(s for s in before if s["name"] == "five percent more, to delete")
    # Listed on the page, as a link and as a choice of the delete form.
    assert "five percent more, to delete" in chrome.find_element("id", "saved-list").text
    choice = Select(chrome.find_element("id", "delete-id"))
    choice.select_by_value(str(doomed["id"]))
    assert choice.first_selected_option.text == "five percent more, to delete"

    # No key: the form is not sent. A wrong key: refused, said so, the key not kept, nothing deleted.
    chrome.find_element("css selector", "#delete button").click()
    assert chrome.find_element("id", "delete-status").text == ""
    chrome.find_element("id", "delete-key").send_keys("not-the-key")
    chrome.find_element("css selector", "#delete button").click()
    WebDriverWait(chrome, 20).until(expected_conditions.text_to_be_present_in_element(("id", "delete-status"), "Not"))
    assert "key is missing or wrong" in chrome.find_element("id", "delete-status").text
    assert chrome.find_element("id", "delete-key").get_attribute("value") == ""
    errors = browser.console_errors(chrome)
    assert len(errors) == 1 and "401" in errors[0]  # the refused request, nothing else
    assert service.json("/v1/scenarios") == before

    # The page's key: the scenario is gone from the service and from the reloaded page; the others stay.
    chrome.find_element("id", "delete-key").send_keys(browser.KEY)
    submit(chrome, "#delete button")
    assert_clean(chrome, service)
    assert urllib.parse.urlsplit(chrome.current_url).path == "/what-if"
    after = service.json("/v1/scenarios")
    assert after == [s for s in before if s["id"] != doomed["id"]]
    assert service.get(f"/v1/scenarios/{doomed['id']}")[0] == 404
    saved_section = chrome.find_element("css selector", "section[aria-labelledby=saved-title]").text
    assert "five percent more, to delete" not in saved_section
    options = js(chrome, "return [...document.querySelectorAll('#delete-id option')].map(o => o.value)")
    assert options == [str(s["id"]) for s in after]
    assert browser.KEY not in chrome.page_source
