"""Scenarios 3 and 4: a day's chart matches the API; today's chart grows live; alerts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from playwright.async_api import expect

from tests.conftest import Actor
from tests.web.conftest import PHONE, TIMEZONE, Screens, log_in
from tests.web.helpers import (
    hourly,
    ingest_token,
    local_day,
    local_time,
    make_device,
    send_readings,
)

# Chromium and the app live on the session's loop (see conftest.py).
pytestmark = pytest.mark.asyncio(loop_scope="session")

BERLIN = ZoneInfo(TIMEZONE)
CHART_DATA = "() => Chart.getChart(document.getElementById('chart')).data.datasets[0].data"


async def test_past_day_chart_matches_the_api(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    device = await make_device(http, admin, alice, "Main meter", max_hourly_kwh=1.0)
    await make_device(http, admin, alice, "Heat pump", max_hourly_kwh=3.5)
    token = await ingest_token(http, admin, device["id"])
    day = local_day(3)
    readings = []
    for hour in range(24):
        first = round(0.05 + 0.02 * hour, 3)
        second = 0.6 if hour == 18 else round(0.03 * (hour % 5), 3)
        readings.append({"ts": local_time(day, hour, 15), "value": first})
        if second:
            readings.append({"ts": local_time(day, hour, 45), "value": second})
    # And one reading today, for the device list's figures.
    now = int(time.time())
    midnight = int(datetime.combine(local_day(0), datetime.min.time(), BERLIN).timestamp())
    today_ts = max(midnight + 1, now - 30)
    readings.append({"ts": datetime.fromtimestamp(today_ts, UTC).isoformat(), "value": 0.25})
    await send_readings(http, token, readings)
    expected = await hourly(http, alice, device["id"], day)
    over = [h for h in expected["hours"] if h["over_limit"]]
    assert len(over) == 1

    page = await new_page()
    await log_in(page, alice)
    item = page.locator("#device-list li", has_text="Main meter")
    await expect(item).to_contain_text("Today 0.25 kWh")
    at = datetime.fromtimestamp(today_ts, BERLIN)
    await expect(item).to_contain_text(f"Last reading 0.25 kWh at {at:%H:%M}")
    other = page.locator("#device-list li", has_text="Heat pump")
    await expect(other).to_contain_text("No readings today")
    await page.get_by_role("button", name="Main meter").click()
    await expect(page.locator("#d-id")).to_have_text(str(device["id"]))
    await expect(page.locator("#d-description")).to_have_text("Main meter")
    await expect(page.locator("#d-address")).to_have_text("7 Canal Walk")
    await expect(page.locator("#d-limit")).to_have_text("1 kWh")
    await expect(page.locator("#day")).to_have_value(str(local_day(0)))

    await page.locator("#day").fill(str(day))
    await expect(page.locator("#chart")).to_have_attribute("data-date", str(day))
    rows = page.locator("#hours-table tbody tr")
    await expect(rows).to_have_count(len(expected["hours"]))

    # The bars are the API's hourly values, hour by hour, in the browser's time zone.
    bars = await page.evaluate(CHART_DATA)
    assert bars == [h["kwh"] for h in expected["hours"]]
    shown = await rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.start, r.dataset.kwh, r.dataset.over])"
    )
    assert shown == [
        [h["start"], "" if h["kwh"] is None else repr(h["kwh"]), str(h["over_limit"]).lower()]
        for h in expected["hours"]
    ]
    assert expected["hours"][0]["start"].startswith(f"{day}T00:00:00+01:00")
    over_row = page.locator("#hours-table tbody tr.over")
    await expect(over_row).to_have_count(1)
    await expect(over_row).to_contain_text("18:00")
    await expect(page.locator("#s-over")).to_have_text("1")
    total = round(sum(h["kwh"] or 0 for h in expected["hours"]), 6)
    await expect(page.locator("#s-total")).to_have_text(f"{total:g} kWh")

    # Hovering the over-limit bar shows its exact value.
    index = next(i for i, h in enumerate(expected["hours"]) if h["over_limit"])
    point = await page.evaluate(
        """(i) => { const c = Chart.getChart(document.getElementById('chart'));
                    const bar = c.getDatasetMeta(0).data[i];
                    return {x: bar.x, y: (bar.y + bar.base) / 2}; }""",
        index,
    )
    box = await page.locator("#chart").bounding_box()
    await page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    await page.wait_for_function(
        "() => Chart.getChart(document.getElementById('chart')).tooltip.opacity > 0"
    )
    lines = await page.evaluate(
        """() => Chart.getChart(document.getElementById('chart')).tooltip.body
                 .flatMap(b => b.lines)"""
    )
    value = expected["hours"][index]["kwh"]
    assert f" {value:g} kWh \u2014 over the limit" in lines, lines
    await screens.shot(page, "past-day-chart")

    # The CSV link downloads the same day.
    href = await page.get_by_role("link", name="Download CSV").get_attribute("href")
    assert href == (
        f"/api/v1/devices/{device['id']}/consumption/hourly.csv?date={day}&tz=Europe%2FBerlin"
    )
    csv = await (await page.request.get(href)).text()
    assert csv.splitlines()[0] == "hour_start,kwh,readings,over_limit"
    assert len(csv.splitlines()) == len(expected["hours"]) + 1

    await page.locator("#hours-table").evaluate("t => t.closest('details').open = true")
    await screens.shot(page, "past-day-table")

    phone = await new_page(PHONE)
    await log_in(phone, alice)
    await phone.get_by_role("button", name="Main meter").click()
    await phone.locator("#day").fill(str(day))
    await expect(phone.locator("#chart")).to_have_attribute("data-date", str(day))
    await screens.shot(phone, "past-day-phone")


async def _bars(page) -> list[float | None]:
    return await page.evaluate(CHART_DATA)


async def test_today_grows_live_and_alerts_only_the_owner(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor, bob: Actor
) -> None:
    device = await make_device(http, admin, alice, "Kitchen meter", max_hourly_kwh=0.5)
    await make_device(http, admin, bob, "Bob's meter", max_hourly_kwh=0.5)
    token = await ingest_token(http, admin, device["id"])

    alice_page = await new_page()
    await log_in(alice_page, alice)
    await expect(alice_page.locator("#d-description")).to_have_text("Kitchen meter")
    await expect(alice_page.locator("#live-state")).to_be_visible()
    bob_page = await new_page()
    await log_in(bob_page, bob)
    await expect(bob_page.locator("#live-state")).to_be_visible()

    # Readings of the current hour, through the pipeline, grow the current hour's bar.
    now = int(time.time())
    hour_start = now - now % 3600
    first_ts = max(hour_start + 1, now - 120)
    before = await _bars(alice_page)
    await send_readings(
        http, token, [{"ts": datetime.fromtimestamp(first_ts, UTC).isoformat(), "value": 0.2}]
    )
    index = next(
        i
        for i, h in enumerate(
            await alice_page.locator("#hours-table tbody tr").evaluate_all(
                "rows => rows.map(r => Date.parse(r.dataset.start))"
            )
        )
        if h == hour_start * 1000
    )
    await alice_page.wait_for_function(
        "(i) => Chart.getChart(document.getElementById('chart')).data.datasets[0].data[i] === 0.2",
        arg=index,
        timeout=2000,
    )
    assert (await _bars(alice_page))[:index] == before[:index]
    await screens.shot(alice_page, "today-growing")

    # Over the limit: the yellow banner names the device, hour and total within 2 s.
    await send_readings(
        http, token, [{"ts": datetime.fromtimestamp(first_ts + 30, UTC).isoformat(), "value": 0.4}]
    )
    banner = alice_page.locator("#banners .banner-alert")
    await expect(banner).to_be_visible(timeout=2000)
    await expect(banner).to_contain_text("Kitchen meter")
    await expect(banner).to_contain_text("0.6 kWh")
    local_hour = datetime.fromtimestamp(hour_start, BERLIN)
    await expect(banner).to_contain_text(f"{local_hour:%H}:00")
    await expect(alice_page.locator("#hours-table tbody tr.over")).to_have_count(1)
    await screens.shot(alice_page, "over-limit-banner")

    # Bob's browser shows nothing of it.
    await asyncio.sleep(0.5)
    await expect(bob_page.locator("#banners .banner-alert")).to_have_count(0)
    await expect(bob_page.locator("#device-list")).not_to_contain_text("Kitchen meter")

    # The banner stays until dismissed; the alert is listed on the alerts view.
    await banner.get_by_role("button", name="Dismiss").click()
    await expect(banner).to_have_count(0)
    await alice_page.goto("/alerts")
    row = alice_page.locator("#alerts-table tbody tr").first
    await expect(row).to_contain_text("Kitchen meter")
    await row.get_by_role("button", name="Acknowledge").click()
    await expect(row).to_contain_text("Acknowledged")
    await screens.shot(alice_page, "alerts-view")


async def test_alerts_view_lists_and_acknowledges(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor, bob: Actor
) -> None:
    device = await make_device(http, admin, alice, "Dryer", max_hourly_kwh=0.5)
    token = await ingest_token(http, admin, device["id"])
    day = local_day(1)
    await send_readings(
        http,
        token,
        [
            {"ts": local_time(day, 7, 5), "value": 0.3},
            {"ts": local_time(day, 7, 35), "value": 0.45},
        ],
    )
    page = await new_page()
    await log_in(page, alice)
    await page.get_by_role("link", name="Alerts").click()
    row = page.locator("#alerts-table tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Dryer")
    await expect(row).to_contain_text("07:00\u201308:00")
    await expect(row).to_contain_text("0.75 kWh")
    await expect(row).to_contain_text("0.5 kWh")
    await expect(row).to_contain_text("New")
    await screens.shot(page, "alerts-new")
    await row.get_by_role("button", name="Acknowledge").click()
    await expect(row).to_contain_text("Acknowledged")
    await page.get_by_label("Only unacknowledged").check()
    await expect(page.locator("#alerts-empty")).to_be_visible()

    # Bob sees none of Alice's alerts.
    other = await new_page(PHONE)
    await log_in(other, bob)
    await other.goto("/alerts")
    await expect(other.locator("#alerts-empty")).to_be_visible()
    await screens.shot(other, "alerts-other-user-phone")


async def test_alerts_view_pages_older_and_newer(
    new_page, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    device = await make_device(http, admin, alice, "Kiln", max_hourly_kwh=0.5)
    token = await ingest_token(http, admin, device["id"])
    first_hour = int(time.time()) // 3600 * 3600 - 50 * 3600
    stamps = [datetime.fromtimestamp(first_hour + i * 3600 + 600, UTC) for i in range(45)]
    readings = [{"ts": ts.isoformat(), "value": 0.6} for ts in stamps]
    await send_readings(http, token, readings)
    page = await new_page()
    await log_in(page, alice)
    await page.goto("/alerts")
    rows = page.locator("#alerts-table tbody tr")
    older = page.get_by_role("button", name="Older")
    newer = page.get_by_role("button", name="Newer")
    pager = page.locator("#alerts-pager")
    seen: list[list[str | None]] = []
    for number, count in ((1, 20), (2, 20), (3, 5)):
        await expect(pager).to_contain_text(f"Page {number}")
        await expect(rows).to_have_count(count)
        seen.append([await r.get_attribute("data-alert-id") for r in await rows.all()])
        if number < 3:
            await expect(older).to_be_enabled()
            await older.click()
    await expect(older).to_be_disabled()
    ids = [int(i or 0) for page_ids in seen for i in page_ids]
    assert len(set(ids)) == 45
    await newer.click()
    await expect(pager).to_contain_text("Page 2")
    await expect(rows).to_have_count(20)
    assert [await r.get_attribute("data-alert-id") for r in await rows.all()] == seen[1]
    await newer.click()
    await expect(pager).to_contain_text("Page 1")
    await expect(newer).to_be_disabled()
