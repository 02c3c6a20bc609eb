"""The `energymon` command: serve, migrate, create-admin, chat, tail, gen-secret."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from energymon.config import Config, ConfigError, load_config
from energymon.errors import DomainError
from energymon.storage import Database
from energymon.storage.migrate import SchemaOutOfDate, current_revision, head_revision, upgrade

_LOGGER = logging.getLogger("energymon")
DEFAULT_CONFIG = "config.toml"
MIN_PASSWORD = 8


def _config_path(arg: str | None) -> str | None:
    if arg:
        return arg
    env = os.environ.get("ENERGYMON_CONFIG")
    if env:
        return env
    return DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energymon", description=__doc__)
    parser.add_argument("--config", help="config file (default: ./config.toml if present)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--demo", action="store_true", help="demo data and a generated secret")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    sub.add_parser("migrate", help="bring the database schema to the current version")
    sub.add_parser("gen-secret", help="print a new random secret for auth.jwt_secret")

    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Administrator")
    chat = sub.add_parser("chat", help="chat with the operators (or, as an admin, with users)")
    chat.add_argument("--server", required=True, help="the gRPC chat server, HOST:PORT")
    chat.add_argument("--email", required=True)
    chat.add_argument("--api", help="the REST API to log in through (default http://HOST:8080)")
    tail = sub.add_parser(
        "tail", help="print the live exchange (broker.url and namespace from the config)"
    )
    tail.add_argument("--site", type=int, help="only this site's messages")
    tail.add_argument("--device", type=int, help="only this device's messages")
    tail.add_argument("--kind", choices=["reading", "hour", "alert", "status"])
    return parser


def _tail(config: Config, args: argparse.Namespace) -> None:
    from energymon.broker.tail import pattern, tail

    if not config.broker.url:
        raise ConfigError("broker.url: tail needs the broker the live exchange is on")
    asyncio.run(tail(config.broker, pattern(args.site, args.device, args.kind)))


def _chat(args: argparse.Namespace) -> int:
    from energymon.rpc import terminal

    password = os.environ.get("ENERGYMON_CHAT_PASSWORD") or getpass.getpass("Password: ")
    return terminal.main(args, password)


async def _serve(config: Config) -> None:
    from energymon import demo
    from energymon.app import create_app
    from energymon.lifecycle import serve

    host, port = config.server.host, config.server.port

    def announce() -> None:
        print(demo.banner(f"http://{host}:{port}"), flush=True)

    await serve(create_app(config), host, port, on_ready=announce if config.demo else None)


async def _migrate(config: Config) -> None:
    db = Database(config.database.url)
    try:
        before = await current_revision(db)
        await upgrade(db)
        print(f"database {db.display_url()}: schema {before or 'none'} -> {head_revision()}")
    finally:
        await db.close()


async def _create_admin(config: Config, email: str, name: str) -> None:
    from energymon.auth.passwords import PasswordHasher, check_password
    from energymon.models import Principal, Role
    from energymon.services.users import UserService
    from energymon.storage.migrate import require_current

    password = os.environ.get("ENERGYMON_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        check_password(password, email=email)
    except DomainError as exc:
        raise ConfigError(f"the password {exc.detail.rsplit(': ', 1)[-1]}") from None
    db = Database(config.database.url)
    try:
        await require_current(db)
        service = UserService(db, PasswordHasher(config.auth.bcrypt_rounds))
        operator = Principal(user_id=0, email="cli", role=Role.ADMIN)
        user = await service.create(
            operator, email=email, password=password, name=name, role=Role.ADMIN
        )
        print(f"admin {user.email} created (id {user.id})")
    finally:
        await db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "gen-secret":
        from energymon.config import generate_secret

        print(generate_secret())
        return 0
    if args.command == "chat":
        # A client: no server configuration, no log lines between the chat's own.
        logging.basicConfig(level=logging.WARNING)
        try:
            return _chat(args)
        except KeyboardInterrupt:
            return 130
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        overrides: dict[str, dict[str, object]] = {}
        if args.command == "serve":
            server = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
            if server:
                overrides["server"] = server
        config = load_config(
            _config_path(args.config), demo=getattr(args, "demo", False), overrides=overrides
        )
        if args.command == "serve":
            asyncio.run(_serve(config))
        elif args.command == "migrate":
            asyncio.run(_migrate(config))
        elif args.command == "create-admin":
            asyncio.run(_create_admin(config, args.email, args.name))
        elif args.command == "tail":
            _tail(config, args)
    except (ConfigError, SchemaOutOfDate, DomainError) as exc:
        print(f"energymon: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        # Wrong host, password or database name: the driver's reason is what the operator needs.
        reason = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        print(f"energymon: cannot use the database: {reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The port is taken, the SQLite directory cannot be created...
        print(f"energymon: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
