"""Scenario 5: chat between a user's browser and an admin's browser."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import Actor
from tests.web.conftest import PHONE, Screens, log_in

# Chromium and the app live on the session's loop (see conftest.py).
pytestmark = pytest.mark.asyncio(loop_scope="session")

HOSTILE = "Is this safe? <script>window.pwned = true</script><b>bold</b>"


async def test_chat_between_user_and_admin(
    new_page, screens: Screens, admin: Actor, alice: Actor
) -> None:
    user = await new_page()
    await log_in(user, alice)
    admin_page = await new_page()
    await log_in(admin_page, admin)
    # The admin looks at another tab: a new message shows as a badge and a notification.
    await expect(admin_page.locator("#tab-users")).to_be_visible()

    await user.get_by_role("button", name="Support chat").click()
    panel = user.locator("#chat-panel")
    await expect(panel).to_be_visible()
    await panel.get_by_label("Message").fill(HOSTILE)
    await panel.get_by_role("button", name="Send").click()
    mine = panel.locator(".msg.mine .bubble")
    await expect(mine).to_have_text(HOSTILE)
    await screens.shot(user, "user-sent", full_page=False)

    badge = admin_page.locator("#inbox-badge")
    await expect(badge).to_have_text("1", timeout=2000)
    await expect(admin_page.locator("#toasts")).to_contain_text("New message from Alice")
    await screens.shot(admin_page, "admin-badge", full_page=False)

    await admin_page.get_by_role("tab", name="Chat").click()
    conversation = admin_page.locator("#conversations button", has_text="Alice")
    await expect(conversation.locator(".badge")).to_have_text("1")
    await conversation.click()
    theirs = admin_page.locator("#admin-chat .msg.theirs .bubble")
    # Rendered as text: the markup is visible and nothing of it ran or became elements.
    await expect(theirs).to_have_text(HOSTILE)
    markup = admin_page.locator("#admin-chat .bubble script, #admin-chat .bubble b")
    assert await markup.count() == 0
    assert await admin_page.evaluate("() => window.pwned === undefined")
    await expect(badge).to_be_hidden()

    # The user sees that the admin read it.
    await expect(panel.locator(".msg.mine .seen")).to_be_visible(timeout=2000)

    # Typing indicator, then the reply.
    composer = admin_page.locator("#admin-chat").get_by_label("Message")
    await composer.press_sequentially("Hello Ali", delay=20)
    await expect(panel.locator(".typing")).to_contain_text("is typing", timeout=2000)
    await screens.shot(user, "user-sees-typing", full_page=False)
    await composer.press_sequentially("ce, yes it is.")
    await admin_page.locator("#admin-chat").get_by_role("button", name="Send").click()
    await expect(panel.locator(".msg.theirs .bubble")).to_have_text("Hello Alice, yes it is.")
    await expect(panel.locator(".typing")).to_be_hidden()
    await expect(admin_page.locator("#admin-chat .msg.mine .seen")).to_be_visible(timeout=2000)
    await screens.shot(admin_page, "admin-conversation")
    await screens.shot(user, "user-conversation", full_page=False)

    # With the panel closed, the next reply shows as an unread badge on the chat button.
    await panel.get_by_role("button", name="Close chat").click()
    await admin_page.locator("#admin-chat").get_by_label("Message").fill("Anything else?")
    await admin_page.locator("#admin-chat").get_by_role("button", name="Send").click()
    await expect(user.locator("#chat-badge")).to_have_text("1", timeout=2000)
    await expect(user.locator("#toasts")).to_contain_text("New message")
    await screens.shot(user, "user-unread-badge", full_page=False)

    phone = await new_page(PHONE)
    await log_in(phone, alice)
    await phone.get_by_role("button", name="Support chat").click()
    await expect(phone.locator("#chat-panel .msg")).to_have_count(3)
    await screens.shot(phone, "chat-phone", full_page=False)
