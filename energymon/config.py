"""Configuration: config.toml plus ENERGYMON_* overrides, validated once into frozen objects."""

from __future__ import annotations

import math
import os
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "ENERGYMON_"
DEMO_SECRET_BYTES = 48
# `serve --demo` keeps its published accounts in a database of its own, unless told otherwise.
DEMO_DATABASE_URL = "sqlite:///var/energymon-demo.db"
# A secret's estimated strength must reach this (32 random hex digits score about 120 bits
# by this estimate; `energymon gen-secret` prints one with more).
MIN_SECRET_BITS = 100


class ConfigError(Exception):
    """A configuration problem, reported as one line naming the key."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(_Section):
    """Where the HTTP server listens and how much it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # Behind a TLS-terminating reverse proxy: trust its X-Forwarded-Proto header, so session
    # cookies are marked Secure. Leave off when clients reach the server directly.
    trust_proxy: bool = False


class DatabaseConfig(_Section):
    """Which database to use: an embedded SQLite file or MySQL/MariaDB."""

    url: str = "sqlite:///var/energymon.db"
    pool_size: int = Field(10, ge=1, le=200)
    echo: bool = False
    # SQLite only: how long a write waits for another writer's lock before giving up.
    sqlite_busy_timeout_ms: int = Field(10_000, ge=0, le=600_000)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme.split("+", 1)[0] not in {"sqlite", "mysql", "mariadb"}:
            raise ValueError("must start with sqlite:/// or mysql://")
        return value


class AuthConfig(_Section):
    """Passwords, tokens and login throttling."""

    jwt_secret: str = ""
    token_ttl_seconds: int = Field(12 * 3600, ge=60, le=30 * 86400)
    bcrypt_rounds: int = Field(12, ge=12, le=16)
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_ip_max_failures: int = Field(50, ge=1, le=100_000)
    login_window_seconds: int = Field(900, ge=1, le=86400)


class BrokerConfig(_Section):
    """RabbitMQ for readings in and events across processes; empty url = in-process bus."""

    url: str = ""
    # Unacknowledged messages the broker may push ahead of the consumer.
    prefetch: int = Field(1000, ge=1, le=65535)
    # Messages per ingest transaction, and how long to wait to fill one.
    batch_messages: int = Field(500, ge=1, le=10_000)
    batch_wait_ms: int = Field(20, ge=0, le=5000)
    # Ingest transactions in flight at once. More overlap the next batch with a commit, but
    # batches that share device-hours then wait on each other's row locks (slower here).
    transactions: int = Field(1, ge=1, le=16)
    # Deliveries after which the broker dead-letters a message that keeps failing.
    delivery_limit: int = Field(20, ge=1, le=1000)
    # CA bundle for amqps:// URLs (empty: the system's).
    ca_file: str = Field("", max_length=4096)
    # Client certificate and its key (PEM) for brokers that ask for one (mutual TLS);
    # both or neither.
    cert_file: str = Field("", max_length=4096)
    key_file: str = Field("", max_length=4096)
    # How long to wait for RabbitMQ to answer a new connection before giving up.
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    # A reading message larger than this goes to the dead-letter queue whole, unparsed.
    max_message_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # Cap of the dead-letter queue: beyond it RabbitMQ drops the oldest dead letters.
    dlq_max_bytes: int = Field(1_073_741_824, ge=1024, le=2**40)
    # Prefix of every exchange and queue name, so several installations can share a broker.
    namespace: str = Field("energymon", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps:// (or be empty)")
        return value

    @model_validator(mode="after")
    def _client_certificate(self) -> BrokerConfig:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class LiveConfig(_Section):
    """The live exchange `<broker.namespace>.live`: every stored reading, hour total, alert
    and status change, published for other programs (README, Live exchange)."""

    # Off by default: publishing costs the ingest path more than it may yet (README, Live
    # exchange, "Cost"); true needs broker.url.
    enabled: bool = False
    # Events waiting to be published; beyond it readings and hour totals are dropped first.
    max_pending: int = Field(100_000, ge=100, le=10_000_000)


class RealtimeConfig(_Section):
    """The Socket.IO server: which other origins may open a connection."""

    # Pages served from other origins (scheme://host[:port]) allowed to connect; empty means
    # only pages of this server. Never "*": the session cookie would let any site in.
    allowed_origins: tuple[str, ...] = ()
    # At most this many `reading` events a second per device room; the latest one wins.
    readings_per_second: float = Field(4.0, gt=0, le=100)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # From the environment the list comes as one comma-separated string.
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.net:8443")
        return tuple(o.rstrip("/") for o in value)


class GrpcConfig(_Section):
    """The gRPC chat server: its own port, next to the HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535)
    # How often an open update stream re-checks its token and account (expired or disabled
    # ends the stream with UNAUTHENTICATED).
    stream_recheck_seconds: float = Field(60.0, gt=0, le=3600)
    # Update streams one account may hold open at once (a few devices with a tab or two).
    max_streams_per_account: int = Field(16, ge=1, le=10_000)


class LimitsConfig(_Section):
    """Rate limits: token buckets per account (chat, socket events) and per address."""

    # Chat messages one account may post (gRPC and Socket.IO together): a burst of this
    # many, refilled over a minute.
    chat_messages_per_minute: int = Field(30, ge=1, le=100_000)
    # Typing start/stop events per account, the same way.
    chat_typing_per_minute: int = Field(120, ge=1, le=100_000)
    # Socket.IO events (any kind) per account: this many a second, bursts up to the burst.
    socket_events_per_second: float = Field(10.0, gt=0, le=10_000)
    socket_events_burst: int = Field(50, ge=1, le=100_000)
    # Accounts one client address may register: a burst of this many, refilled over an hour.
    registrations_per_hour: int = Field(10, ge=1, le=100_000)


class Config(_Section):
    """The whole validated configuration."""

    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    broker: BrokerConfig = BrokerConfig()
    live: LiveConfig = LiveConfig()
    realtime: RealtimeConfig = RealtimeConfig()
    grpc: GrpcConfig = GrpcConfig()
    limits: LimitsConfig = LimitsConfig()
    demo: bool = False

    @property
    def live_enabled(self) -> bool:
        """Whether this process publishes the live exchange."""
        return self.live.enabled

    def require_secret(self) -> None:
        """Refuse a missing, short or guessable JWT secret outside demo mode."""
        secret = self.auth.jwt_secret
        if len(secret.encode()) < 32:
            problem = "must be at least 32 bytes"
        elif secret_bits(secret) < MIN_SECRET_BITS:
            problem = "is too predictable (repeated or few different characters)"
        else:
            return
        raise ConfigError(
            f"auth.jwt_secret: {problem} (make one with `energymon gen-secret` and set it in "
            "config.toml or ENERGYMON_AUTH_JWT_SECRET; `energymon serve --demo` generates one)"
        )


def secret_bits(secret: str) -> float:
    """An estimate of a secret's strength: its length times the Shannon entropy of its
    characters. 32 repeated characters score 0, a random URL-safe string about 5.5 a character.
    """
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * total


def generate_secret() -> str:
    """A fresh secret for auth.jwt_secret: 48 random bytes, URL-safe."""
    return secrets.token_urlsafe(DEMO_SECRET_BYTES)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Map ENERGYMON_<SECTION>_<KEY> variables onto the known sections and keys."""
    found: dict[str, dict[str, str]] = {}
    for section, info in Config.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, _Section)):
            continue
        for key in model.model_fields:
            name = f"{ENV_PREFIX}{section}_{key}".upper()
            if name in env:
                found.setdefault(section, {})[key] = env[name]
    return found


def _merge(base: dict[str, Any], extra: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        target = merged.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{section}: must be a table")
        target.update(values)
    return merged


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "config"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{key}: {msg}"


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    demo: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the TOML file (if any), apply environment and explicit overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    data = _merge(data, _env_overrides(env))
    if overrides:
        data = _merge(data, overrides)
    if "demo" in data:
        raise ConfigError("demo: not a config key; run `energymon serve --demo`")
    data["demo"] = demo
    if demo and "url" not in data.get("database", {}):
        # Never the production default: the demo's passwords are printed for everyone.
        data = _merge(data, {"database": {"url": DEMO_DATABASE_URL}})
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    if config.live.enabled and not config.broker.url:
        raise ConfigError("live.enabled: needs broker.url (the live exchange is on RabbitMQ)")
    if demo and not config.auth.jwt_secret:
        auth = config.auth.model_copy(update={"jwt_secret": generate_secret()})
        config = config.model_copy(update={"auth": auth})
    return config
