"""Scenario 2: the admin manages devices and users; the user's open page follows live."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aiohttp import ClientSession
from playwright.async_api import expect

from tests.conftest import Actor
from tests.web.conftest import PHONE, Screens, api, log_in
from tests.web.helpers import ingest_token, make_device, send_readings

# Chromium and the app live on the session's loop (see conftest.py).
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def open_admin(new_page, admin: Actor, tab: str = "users", viewport=None):
    page = await new_page(viewport)
    await log_in(page, admin)
    await page.goto(f"/admin#{tab}")
    await page.wait_for_load_state("networkidle")
    return page


async def test_admin_creates_assigns_and_edits(
    new_page, screens: Screens, admin: Actor, alice: Actor, bob: Actor
) -> None:
    page = await open_admin(new_page, admin, "devices")
    await expect(page.get_by_role("heading", name="Devices")).to_be_visible()

    # Create: the API's field errors show next to the fields.
    await page.get_by_role("button", name="New device").click()
    dialog = page.locator("#device-dialog")
    await dialog.get_by_label("Maximum hourly consumption (kWh)").fill("0")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator('.field-error[data-for="description"]')).not_to_be_empty()
    await expect(dialog.locator('.field-error[data-for="max_hourly_kwh"]')).to_contain_text(
        "greater than or equal to 0.001"
    )
    await screens.shot(page, "device-field-errors", full_page=False)
    await dialog.get_by_label("Description").fill("Garden pump")
    await dialog.get_by_label("Address").fill("4 Elm Row")
    await dialog.get_by_label("Maximum hourly consumption (kWh)").fill("2.5")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    row = page.locator("#devices-table tbody tr", has_text="Garden pump")
    await expect(row).to_contain_text("4 Elm Row")
    await expect(row).to_contain_text("2.5")
    await expect(row).to_contain_text("Orphan")

    # Orphans only: the new device is one.
    await page.get_by_label("Orphans only").check()
    await expect(page.locator("#devices-table tbody tr")).to_have_count(1)
    await expect(row).to_be_visible()

    # Assign with the user picker.
    await row.get_by_role("button", name="Assign").click()
    picker = page.locator("#assign-dialog")
    await picker.get_by_label("Find a user").fill("alice")
    await expect(picker.locator("option")).to_have_count(1)
    await picker.locator("select[name=user_id]").select_option(label=f"Alice — {alice.user.email}")
    await screens.shot(page, "assign-picker", full_page=False)
    await picker.get_by_role("button", name="Assign").click()
    await expect(picker).to_be_hidden()
    await expect(page.locator("#devices-table tbody tr")).to_have_count(0)
    await page.get_by_label("Orphans only").uncheck()
    await expect(row).to_contain_text(f"Alice ({alice.user.email})")

    # Edit the device's limit.
    await row.get_by_role("button", name="Edit").click()
    await dialog.get_by_label("Maximum hourly consumption (kWh)").fill("3.25")
    await dialog.get_by_role("button", name="Save").click()
    await expect(row).to_contain_text("3.25")
    await screens.shot(page, "devices")

    # Edit the user's email: a bad one is refused next to the field, a good one saved.
    await page.get_by_role("tab", name="Users").click()
    user_row = page.locator("#users-table tbody tr", has_text=alice.user.email)
    await user_row.get_by_role("button", name="Edit").click()
    user_dialog = page.locator("#user-dialog")
    await user_dialog.get_by_label("Email").fill("not-an-email")
    await user_dialog.get_by_role("button", name="Save").click()
    await expect(user_dialog.locator('.field-error[data-for="email"]')).not_to_be_empty()
    await screens.shot(page, "user-email-error", full_page=False)
    await user_dialog.get_by_label("Email").fill("alice.new@example.com")
    await user_dialog.get_by_label("Name").fill("Alice Liddell")
    await user_dialog.get_by_role("button", name="Save").click()
    await expect(user_dialog).to_be_hidden()
    user_row = page.locator("#users-table tbody tr", has_text="alice.new@example.com")
    await expect(user_row).to_contain_text("Alice Liddell")

    # Her devices.
    await user_row.get_by_role("button", name="Devices").click()
    await expect(page.locator("#user-devices")).to_contain_text("Alice Liddell's devices (1)")
    await expect(page.locator("#user-devices-list")).to_contain_text("Garden pump")
    await screens.shot(page, "users")

    # Search, then delete with confirmation.
    await page.get_by_label("Search users by email").fill("bob")
    await expect(page.locator("#users-table tbody tr")).to_have_count(1)
    bob_row = page.locator("#users-table tbody tr", has_text=bob.user.email)
    await bob_row.get_by_role("button", name="Delete").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_contain_text(f"Delete Bob ({bob.user.email})?")
    await screens.shot(page, "confirm-delete", full_page=False)
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.locator("#users-empty")).to_be_visible()
    await page.get_by_label("Search users by email").fill("")
    await expect(page.locator("#users-table tbody tr")).to_have_count(2)

    # Create a user; a duplicate email is refused.
    await page.get_by_role("button", name="New user").click()
    await user_dialog.get_by_label("Name").fill("Carol")
    await user_dialog.get_by_label("Email").fill("ALICE.NEW@example.com")
    await user_dialog.get_by_label("Password").fill("carol's passphrase")
    await user_dialog.get_by_role("button", name="Save").click()
    await expect(user_dialog.locator(".form-error")).to_contain_text("already exists")
    await user_dialog.get_by_label("Email").fill("carol@example.com")
    await user_dialog.get_by_role("button", name="Save").click()
    await expect(page.locator("#users-table tbody")).to_contain_text("carol@example.com")

    phone = await open_admin(new_page, admin, "devices", PHONE)
    await expect(phone.locator("#devices-table tbody")).to_contain_text("Garden pump")
    await screens.shot(phone, "devices-phone")


async def test_recent_alerts_on_the_dashboard(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    from tests.web.helpers import ingest_token, local_day, local_time, send_readings

    device = await make_device(http, admin, alice, "Sauna heater", max_hourly_kwh=0.5)
    token = await ingest_token(http, admin, device["id"])
    day = local_day(2)
    await send_readings(
        http,
        token,
        [
            {"ts": local_time(day, 19, 10), "value": 0.4},
            {"ts": local_time(day, 19, 40), "value": 0.3},
        ],
    )
    page = await open_admin(new_page, admin, "alerts")
    rows = page.locator("#admin-alerts-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Sauna heater")
    await expect(rows.first).to_contain_text("19:00\u201320:00")
    await expect(rows.first).to_contain_text("0.7 kWh")
    await screens.shot(page, "alerts")


async def test_assigned_device_appears_on_the_open_user_page(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    user_page = await new_page()
    await log_in(user_page, alice)
    await expect(user_page.locator("#devices-empty")).to_be_visible()
    await expect(user_page.locator("#live-state")).to_be_visible()

    device = await make_device(http, admin, None, "Workshop meter")
    await api(http, admin, "PUT", f"/api/v1/devices/{device['id']}/owner", {"user_id": alice.id})
    item = user_page.locator("#device-list li", has_text="Workshop meter")
    await expect(item).to_be_visible(timeout=2000)
    await expect(user_page.locator("#d-description")).to_have_text("Workshop meter")
    await screens.shot(user_page, "device-appeared")

    await api(http, admin, "DELETE", f"/api/v1/devices/{device['id']}/owner")
    await expect(item).to_have_count(0, timeout=2000)
    await expect(user_page).to_have_url(re.compile(r"/app"))


async def test_assign_dialog_includes_the_history_only_when_asked(
    new_page, screens: Screens, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    device = await make_device(http, admin, None, "Rented flat meter")
    before = int(time.time()) - 60
    token = await ingest_token(http, admin, device["id"])
    await send_readings(http, token, [{"ts": before, "value": 0.4}])
    start, end = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before + d)) for d in (-60, 3600))
    readings = f"/api/v1/devices/{device['id']}/readings?from={start}&to={end}"

    page = await open_admin(new_page, admin, "devices")
    row = page.locator("#devices-table tbody tr", has_text="Rented flat meter")
    picker = page.locator("#assign-dialog")
    history = picker.get_by_label("Include history")
    for include in (False, True):
        await row.get_by_role("button", name="Assign").click()
        # The dialog first lists every user (admin and alice); a search typed before that
        # list arrives can be overtaken by it, and the last search's option may still show.
        await expect(picker.locator("option")).to_have_count(2)
        await picker.get_by_label("Find a user").fill("alice")
        await expect(picker.locator("option")).to_have_count(1)
        await expect(history).not_to_be_checked()  # the default: from now on
        if include:
            await history.check()
            await screens.shot(page, "assign-with-history", full_page=False)
        await picker.get_by_role("button", name="Assign").click()
        await expect(picker).to_be_hidden()
        await expect(row).to_contain_text(f"Alice ({alice.user.email})")
        seen = await api(http, alice, "GET", readings)
        assert [r["value_kwh"] for r in seen["items"]] == ([0.4] if include else [])
        if not include:
            await row.get_by_role("button", name="Unassign").click()
            await expect(row).to_contain_text("Orphan")


async def test_a_search_in_the_assign_dialog_is_never_overtaken_by_the_full_list(
    new_page, http: ClientSession, admin: Actor, alice: Actor
) -> None:
    await make_device(http, admin, None, "Garage meter")
    page = await open_admin(new_page, admin, "devices")
    searched = asyncio.Event()
    full_list: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def is_search(url: str) -> bool:
        return "/api/v1/users?" in url and "q=alice" in url

    def is_full_list(url: str) -> bool:
        return "/api/v1/users?" in url and "q=" not in url

    async def hold_the_full_list(route: Any) -> None:
        # The dialog's first list (every user) answers only after the search has.
        if is_full_list(route.request.url):
            await searched.wait()
        await route.continue_()

    def answered(response: Any) -> None:
        if is_search(response.url):
            searched.set()
        elif is_full_list(response.url) and not full_list.done():
            full_list.set_result(response)

    page.on("response", answered)
    await page.route("**/api/v1/users?*", hold_the_full_list)
    row = page.locator("#devices-table tbody tr", has_text="Garage meter")
    await row.get_by_role("button", name="Assign").click()
    picker = page.locator("#assign-dialog")
    await picker.get_by_label("Find a user").fill("alice")
    await (await full_list).finished()
    # Two frames: the page has handled the late answer by then.
    await page.evaluate(
        "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    options = picker.locator("option")
    assert await options.all_inner_texts() == [f"Alice — {alice.user.email}"]
