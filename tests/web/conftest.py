"""Browser tests: the app served on a free port, driven by Debian's Chromium through Playwright.

They run on SQLite only (a browser test is slow; the storage is covered elsewhere on both
engines). Every page a test visits is saved as a screenshot in artifacts/screenshots/.

One Chromium serves the whole session (launching it costs about a second); each test gets
browser contexts of its own, so no cookie or storage crosses tests. Playwright's objects belong
to the event loop that started them, so these tests and every async fixture they use run on
the session's loop (`pytestmark` in each module, the `loop_scope="session"` fixtures below,
which override the function-loop ones of tests/conftest.py). Tests elsewhere keep a loop each.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from energymon.config import Config
from energymon.models import Role
from energymon.storage import Database
from tests.conftest import IN_CI, PASSWORD, Actor, _wipe, actor_factory, build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEZONE = "Europe/Berlin"


# The session loop: see the module docstring.
session_loop_fixture = pytest_asyncio.fixture(loop_scope="session")


@session_loop_fixture
async def db_url(sqlite_url: str) -> AsyncIterator[str]:
    """Browser tests run on SQLite only, on empty tables."""
    await _wipe(sqlite_url)
    yield sqlite_url


@session_loop_fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.close()


@pytest.fixture
def make_actor(db: Database) -> Callable[..., Awaitable[Actor]]:
    return actor_factory(db)


@session_loop_fixture
async def admin(make_actor: Callable[..., Awaitable[Actor]]) -> Actor:
    return await make_actor(Role.ADMIN, email="admin@example.com")


@session_loop_fixture
async def alice(make_actor: Callable[..., Awaitable[Actor]]) -> Actor:
    return await make_actor(Role.USER, email="alice@example.com")


@session_loop_fixture
async def bob(make_actor: Callable[..., Awaitable[Actor]]) -> Actor:
    return await make_actor(Role.USER, email="bob@example.com")


@session_loop_fixture
async def server(config: Config) -> AsyncIterator[TestServer]:
    srv = TestServer(build_app(config), port=0)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@session_loop_fixture
async def http(base_url: str) -> AsyncIterator[ClientSession]:
    """A plain HTTP client for the API, beside the browser."""
    async with ClientSession(base_url) as session:
        yield session


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the session; tests isolate themselves in contexts (see `new_page`)."""
    if not CHROMIUM.exists():  # noqa: ASYNC240 (once, before the browser starts)
        message = f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


class Screens:
    """Saves screenshots named after the test; fails the test on a page's script errors."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", test_name)
        self.count = 0
        self.errors: list[str] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.prefix}-*.png"):
            old.unlink()

    async def shot(self, page: Any, name: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        return path

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))


@pytest.fixture
def screens(request: pytest.FixtureRequest) -> Screens:
    s = Screens(request.node.name)
    yield s
    assert not s.errors, f"script errors in the page: {s.errors}"


NewPage = Callable[..., Awaitable[Any]]


@session_loop_fixture
async def new_page(browser: Any, base_url: str, screens: Screens) -> AsyncIterator[NewPage]:
    """A page in its own browser context (its own cookies), in the test's time zone.

    The contexts close before the server does, so no live connection holds its shutdown up.
    """
    contexts: list[Any] = []

    async def make(viewport: dict[str, int] | None = None) -> Any:
        context = await browser.new_context(
            base_url=base_url,
            viewport=viewport or DESKTOP,
            timezone_id=TIMEZONE,
            locale="en-GB",
        )
        contexts.append(context)
        context.set_default_timeout(10_000)
        page = await context.new_page()
        screens.watch(page)
        return page

    yield make
    for context in contexts:
        await context.close()


async def log_in(page: Any, actor: Actor | str, password: str = PASSWORD) -> None:
    """Log in through the login form."""
    email = actor if isinstance(actor, str) else actor.user.email
    if "/login" not in page.url:
        await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state("networkidle")


async def api(
    http: ClientSession, actor: Actor, method: str, path: str, body: Any = None, expect: int = 200
) -> Any:
    async with http.request(method, path, json=body, headers=actor.headers) as resp:
        text = await resp.text()
        assert resp.status == expect, f"{method} {path}: {resp.status} {text}"
        return await resp.json() if text and "json" in resp.content_type else text
