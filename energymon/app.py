"""The one application factory: `serve` and every test build the app here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from energymon import demo, keys, realtime
from energymon.api import accounts, alerts, consumption, devices, health, ingest, users
from energymon.api.openapi import build_openapi
from energymon.api.problems import problems_middleware
from energymon.auth.passwords import PasswordHasher
from energymon.auth.throttle import LoginThrottle, TokenBuckets
from energymon.auth.tokens import TokenIssuer
from energymon.broker import live
from energymon.broker.hub import make_hub
from energymon.config import Config
from energymon.ingest import amqp
from energymon.ingest.bus import LocalBus, running
from energymon.lifecycle import CleanupContext, named
from energymon.pages import apidocs, sessions, vendor, views
from energymon.pages.errors import page_errors
from energymon.rpc.fanout import ChatFanout
from energymon.rpc.server import ChatServer, serving
from energymon.services.accounts import AccountService
from energymon.services.alerts import AlertService
from energymon.services.chat import ChatService
from energymon.services.consumption import ConsumptionService
from energymon.services.devices import DeviceService
from energymon.services.ingest import IngestService
from energymon.services.ingest_tokens import IngestTokenService
from energymon.services.users import UserService
from energymon.storage import Database
from energymon.storage.migrate import require_current, upgrade

_LOGGER = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"
API_ROUTERS = (
    health.router,
    accounts.router,
    users.router,
    devices.router,
    ingest.router,
    consumption.router,
    alerts.router,
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
}


def energymon_version() -> str:
    try:
        return version("energymon")
    except PackageNotFoundError:
        return "0+unknown"


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # aiohttp would name itself and Python with their versions: a map for an attacker.
    response.headers["Server"] = "energymon"
    if request.path.startswith("/api/"):
        # Answers carry one account's data: no browser or proxy cache may keep them.
        response.headers["Cache-Control"] = "no-store"


def _database(config: Config) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = Database(
            config.database.url,
            pool_size=config.database.pool_size,
            echo=config.database.echo,
            busy_timeout_ms=config.database.sqlite_busy_timeout_ms,
        )
        try:
            if config.demo:
                await upgrade(db)
            else:
                await require_current(db)
            app[keys.DATABASE] = db
            yield
        finally:
            await db.close()

    return ctx


def _services(config: Config, password_hasher: PasswordHasher | None) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = app[keys.DATABASE]
        hasher = password_hasher or PasswordHasher(config.auth.bcrypt_rounds)
        tokens = TokenIssuer(config.auth.jwt_secret, config.auth.token_ttl_seconds)
        throttle = LoginThrottle(
            account_limit=config.auth.login_max_failures,
            address_limit=config.auth.login_ip_max_failures,
            window_seconds=config.auth.login_window_seconds,
        )
        app[keys.HUB] = hub = make_hub(config.broker)
        registrations = TokenBuckets(
            config.limits.registrations_per_hour / 3600,
            config.limits.registrations_per_hour,
            what="registrations from this address",
        )
        app[keys.ACCOUNTS] = AccountService(
            db, hasher, tokens, throttle, hub=hub, registrations=registrations
        )
        app[keys.USERS] = UserService(db, hasher, hub)
        devices_service = DeviceService(db, hub)
        app[keys.DEVICES] = devices_service
        app[keys.INGEST] = IngestService(db, hub)
        app[keys.INGEST_TOKENS] = IngestTokenService(db)
        app[keys.CONSUMPTION] = ConsumptionService(db, devices_service)
        app[keys.ALERTS] = AlertService(db)
        app[keys.CHAT] = ChatService(
            db,
            hub,
            messages_per_minute=config.limits.chat_messages_per_minute,
            typing_per_minute=config.limits.chat_typing_per_minute,
        )
        yield

    return ctx


async def _hub(app: web.Application) -> AsyncIterator[None]:
    """With a broker, the hub shares events with the other processes while the app runs."""
    hub = app[keys.HUB]
    await hub.start()
    try:
        yield
    finally:
        await hub.close()


def _live(config: Config) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with live.publishing(config.broker, app[keys.HUB], config.live.max_pending):
            yield

    return ctx


def _amqp_ingest(config: Config) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with amqp.consuming(config.broker, app[keys.INGEST]):
            yield

    return ctx


def _local_bus(config: Config) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        bus = LocalBus(
            app[keys.INGEST],
            batch_messages=config.broker.batch_messages,
            batch_wait_ms=config.broker.batch_wait_ms,
            max_message_bytes=config.broker.max_message_bytes,
        )
        async with running(bus):
            app[keys.BUS] = bus
            yield

    return ctx


def _grpc(config: Config) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        server = ChatServer(
            config.grpc,
            app[keys.CHAT],
            app[keys.ACCOUNTS],
            ChatFanout(app[keys.HUB]),
            app[keys.DATABASE],
        )
        async for running_server in serving(server):
            app[keys.GRPC] = running_server
            yield

    return ctx


def create_app(config: Config, *, password_hasher: PasswordHasher | None = None) -> web.Application:
    """Build the whole application: routes, templates, and every resource as a cleanup context.

    `password_hasher` replaces the one built from `auth.bcrypt_rounds`: tests pass a cheap one,
    as the configuration itself never goes below cost 12.
    """
    config.require_secret()
    app = web.Application(
        middlewares=[problems_middleware, page_errors], client_max_size=config.server.max_body_bytes
    )
    app[keys.CONFIG] = config
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    app.on_response_prepare.append(_security_headers)

    operations = [op for router in API_ROUTERS for op in router.operations]
    for router in API_ROUTERS:
        router.mount(app)
    app[keys.OPENAPI] = build_openapi(operations, version=energymon_version())
    apidocs.add_routes(app)
    app.router.add_static("/static", WEB / "static")
    sessions.add_routes(app)
    views.add_routes(app)
    vendor.add_routes(app, WEB / "node_modules")

    realtime.mount(app, config)

    # Every resource, in the order it starts; they close in the reverse order.
    contexts: list[tuple[str, CleanupContext]] = [("database", _database(config))]
    if not config.demo:
        # Before anything else starts: nothing to stop when the database is refused.
        contexts.append(("published-password check", demo.refuse_published_passwords))
    ingest = (
        ("ingest consumer", _amqp_ingest(config))
        if config.broker.url
        else ("ingest bus", _local_bus(config))
    )
    contexts += [
        ("services", _services(config, password_hasher)),
        ("event hub", _hub),
    ]
    if config.live_enabled:
        # Before ingest starts, so that it closes after ingest: the last batch is published.
        contexts.append(("live exchange", _live(config)))
    contexts += [
        ("realtime", realtime.context(config)),
        ingest,
        ("gRPC server", _grpc(config)),
    ]
    if config.demo:
        contexts.append(("demo", demo.context))
    app.cleanup_ctx.extend(named(name, ctx) for name, ctx in contexts)
    return app
