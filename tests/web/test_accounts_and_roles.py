"""Scenarios 1 and 6: register, log in, land on the page of one's role; roles enforced."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import Actor
from tests.web.conftest import PHONE, Screens, log_in

# Chromium and the app live on the session's loop (see conftest.py).
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_register_then_log_in_lands_on_the_user_page(new_page, screens: Screens) -> None:
    page = await new_page()
    await page.goto("/register")
    await screens.shot(page, "register")

    # A problem with a field is shown next to that field.
    await page.get_by_label("Name").fill("Rosa Diaz")
    await page.get_by_label("Email").fill("rosa@example.com")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    password_error = page.locator('.field-error[data-for="password"]')
    await expect(password_error).to_contain_text("at least 8 characters")
    await expect(page.get_by_label("Email")).to_have_value("rosa@example.com")
    await screens.shot(page, "register-field-error")

    await page.get_by_label("Password").fill("a long enough passphrase")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/app(#.*)?$"))
    await expect(page.get_by_role("heading", name="My devices")).to_be_visible()
    await expect(page.locator("#devices-empty")).to_contain_text("No devices yet")
    await expect(page.locator(".who")).to_have_text("rosa@example.com")
    await screens.shot(page, "user-page-empty")

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login"))
    await expect(page.get_by_role("status")).to_have_text("You are logged out.")
    await screens.shot(page, "logged-out")

    # A wrong password is refused on the form; the right one lands on the user page.
    await log_in(page, "rosa@example.com", "not the passphrase")
    await expect(page.locator(".form-error")).to_have_text("Wrong email or password.")
    await screens.shot(page, "login-refused")
    await log_in(page, "rosa@example.com", "a long enough passphrase")
    await expect(page).to_have_url(re.compile(r"/app(#.*)?$"))
    await expect(page.get_by_role("heading", name="My devices")).to_be_visible()


async def test_admin_lands_on_the_dashboard(new_page, screens: Screens, admin: Actor, alice: Actor):
    page = await new_page()
    await page.goto("/login")
    await screens.shot(page, "login")
    await log_in(page, admin)
    await expect(page).to_have_url(re.compile(r"/admin(#.*)?$"))
    await expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    users = page.locator("#users-table tbody")
    await expect(users).to_contain_text(alice.user.email)
    await expect(users).to_contain_text(admin.user.email)
    await screens.shot(page, "admin-users")

    phone = await new_page(PHONE)
    await log_in(phone, admin)
    await expect(phone.locator("#users-table tbody")).to_contain_text(alice.user.email)
    await screens.shot(phone, "admin-users-phone")
    phone_login = await new_page(PHONE)
    await phone_login.goto("/login")
    await screens.shot(phone_login, "login-phone")


async def test_user_gets_403_on_admin_pages(new_page, screens: Screens, alice: Actor) -> None:
    page = await new_page()
    await log_in(page, alice)
    response = await page.goto("/admin")
    assert response is not None and response.status == 403
    heading = page.get_by_role("heading", name="This page is for administrators")
    await expect(heading).to_be_visible()
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    await screens.shot(page, "forbidden")


async def test_logged_out_visitor_is_sent_to_login_and_back(
    new_page, screens: Screens, alice: Actor
) -> None:
    page = await new_page()
    await page.goto("/alerts")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Falerts$|/login\?next=/alerts$"))
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await log_in(page, alice)
    await expect(page).to_have_url(re.compile(r"/alerts$"))
    await expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    await expect(page.locator("#alerts-empty")).to_be_visible()
    await screens.shot(page, "alerts-empty")

    # Another site is never a place to return to.
    other = await new_page()
    await other.goto("/login?next=//evil.example/steal")
    await log_in(other, alice)
    await expect(other).to_have_url(re.compile(r"/app(#.*)?$"))


async def test_a_missing_page_says_so(new_page, screens: Screens, alice: Actor) -> None:
    page = await new_page()
    await log_in(page, alice)
    response = await page.goto("/no-such-page")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="There is no page here")).to_be_visible()
    await expect(page.get_by_role("link", name="My devices")).to_be_visible()
    await screens.shot(page, "not-found")
