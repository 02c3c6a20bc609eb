"""Configuration: config.toml, ENERGYMON_* overrides, one-line errors, and the JWT secret rule."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from energymon.app import create_app
from energymon.config import ConfigError, generate_secret, load_config

SECRET = "Zp4Kx9Qm2Vt7Lw5Rn8Ys3Hb6Jc1Fd0GeA"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    """The message of the ConfigError that loading raises; always a single line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    message = str(info.value)
    assert "\n" not in message
    assert message.strip() == message and message
    return message


def test_defaults_without_a_file_or_environment():
    config = load_config(None, env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.server.max_body_bytes == 1_048_576
    assert config.database.url.startswith("sqlite:///")
    assert config.auth.jwt_secret == ""
    assert config.auth.login_max_failures == 5
    assert config.demo is False


def test_values_come_from_the_file(tmp_path):
    path = write(
        tmp_path,
        f"""
[server]
host = "0.0.0.0"
port = 9000
max_body_bytes = 4096

[database]
url = "mysql://energymon:pw@db.example:3306/energymon"
pool_size = 20

[auth]
jwt_secret = "{SECRET}"
token_ttl_seconds = 600
login_max_failures = 7
""",
    )
    config = load_config(path, env={})
    assert (config.server.host, config.server.port, config.server.max_body_bytes) == (
        "0.0.0.0",
        9000,
        4096,
    )
    assert config.database.url == "mysql://energymon:pw@db.example:3306/energymon"
    assert config.database.pool_size == 20
    assert config.auth.jwt_secret == SECRET
    assert (config.auth.token_ttl_seconds, config.auth.login_max_failures) == (600, 7)
    # What the file leaves out keeps its default.
    assert config.auth.login_window_seconds == 900


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, '[server]\nport = 9000\nhost = "10.0.0.1"\n[auth]\njwt_secret = "x"\n')
    env = {
        "ENERGYMON_SERVER_PORT": "9100",
        "ENERGYMON_AUTH_JWT_SECRET": SECRET,
        "ENERGYMON_DATABASE_URL": "sqlite:////tmp/other.db",
        "ENERGYMON_DATABASE_ECHO": "true",
        "ENERGYMON_AUTH_LOGIN_IP_MAX_FAILURES": "12",
        "UNRELATED": "ignored",
    }
    config = load_config(path, env=env)
    assert config.server.port == 9100
    assert config.server.host == "10.0.0.1"
    assert config.auth.jwt_secret == SECRET
    assert config.database.url == "sqlite:////tmp/other.db"
    assert config.database.echo is True
    assert config.auth.login_ip_max_failures == 12


def test_environment_alone_is_enough():
    config = load_config(None, env={"ENERGYMON_SERVER_HOST": "::1", "ENERGYMON_SERVER_PORT": "0"})
    assert (config.server.host, config.server.port) == ("::1", 0)


def test_explicit_overrides_beat_the_environment(tmp_path):
    config = load_config(
        write(tmp_path, "[server]\nport = 9000\n"),
        env={"ENERGYMON_SERVER_PORT": "9100"},
        overrides={"server": {"port": 9200}},
    )
    assert config.server.port == 9200


def test_the_config_is_frozen():
    config = load_config(None, env={})
    with pytest.raises(ValueError, match="frozen"):
        config.server.port = 1  # type: ignore[misc]


def test_an_unknown_key_is_named(tmp_path):
    message = config_error(write(tmp_path, "[server]\nprot = 9000\n"))
    assert message == "server.prot: unknown key"


def test_an_unknown_section_is_named(tmp_path):
    message = config_error(write(tmp_path, "[sever]\nport = 9000\n"))
    assert message == "sever: unknown key"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[server]\nport = "eighty"\n', "server.port"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nmax_body_bytes = 1000\n", "server.max_body_bytes"),
        ('[database]\necho = "maybe"\n', "database.echo"),
        ('[database]\nurl = "postgres://db/energymon"\n', "database.url"),
        ("[auth]\nbcrypt_rounds = 4\n", "auth.bcrypt_rounds"),
        ("[auth]\njwt_secret = 12345\n", "auth.jwt_secret"),
        ('server = "localhost"\n', "server"),
        ('[broker]\ncert_file = "client.pem"\n', "broker"),
    ],
)
def test_a_wrong_type_or_value_is_named(tmp_path, text, key):
    message = config_error(write(tmp_path, text))
    assert message.startswith(f"{key}: "), message


def test_a_bad_environment_value_is_named():
    message = config_error(env={"ENERGYMON_SERVER_PORT": "eighty"})
    assert message.startswith("server.port: "), message
    message = config_error(env={"ENERGYMON_AUTH_TOKEN_TTL_SECONDS": "1"})
    assert message.startswith("auth.token_ttl_seconds: "), message


def test_bad_toml_is_one_line(tmp_path):
    path = write(tmp_path, "[server\nport = 9000\n")
    message = config_error(path)
    assert str(path) in message
    assert "TOML" in message


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'[server]\nhost = "\xff\xfe"\n')
    assert str(path) in config_error(path)


def test_a_missing_file_is_one_line(tmp_path):
    path = tmp_path / "nowhere.toml"
    message = config_error(path)
    assert str(path) in message
    assert "no such config file" in message


# ---- the JWT secret ------------------------------------------------------------------------


def _config(secret: str, *, demo: bool = False, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        env={},
        demo=demo,
        overrides={
            "database": {"url": f"sqlite:///{tmp_path / 'e.db'}"},
            "auth": {"jwt_secret": secret} if secret else {},
        },
    )


@pytest.mark.parametrize(
    "secret", ["", "short", "x" * 31, "é" * 15, "x" * 32, "é" * 16, "ab" * 32, "0123" * 10]
)
def test_create_app_refuses_a_short_or_predictable_secret(tmp_path, secret):
    with pytest.raises(ConfigError) as info:
        create_app(_config(secret, tmp_path=tmp_path))
    message = str(info.value)
    assert message.startswith("auth.jwt_secret: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "secret",
    [secrets.token_hex(16), generate_secret(), SECRET],
    ids=["token_hex", "gen-secret", "fixed"],  # stable ids: the values are new every run
)
def test_create_app_accepts_a_random_secret_of_32_bytes_or_more(tmp_path, secret):
    assert create_app(_config(secret, tmp_path=tmp_path)) is not None


def test_demo_mode_generates_a_secret(tmp_path):
    first = _config("", demo=True, tmp_path=tmp_path)
    second = _config("", demo=True, tmp_path=tmp_path)
    assert first.demo is True
    assert len(first.auth.jwt_secret.encode()) >= 32
    assert first.auth.jwt_secret != second.auth.jwt_secret
    assert create_app(first) is not None


def test_demo_mode_keeps_a_configured_secret(tmp_path):
    config = _config(SECRET, demo=True, tmp_path=tmp_path)
    assert config.auth.jwt_secret == SECRET


def test_demo_mode_is_not_a_config_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("demo = true\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == "demo: not a config key; run `energymon serve --demo`"


def test_the_live_exchange_is_on_only_when_asked_and_needs_a_broker():
    broker = {"broker": {"url": "amqp://guest:guest@127.0.0.1:5672/"}}
    assert not load_config(None, env={}).live_enabled
    assert not load_config(None, env={}, overrides=broker).live_enabled
    on = {"ENERGYMON_LIVE_ENABLED": "true"}
    assert load_config(None, env=on, overrides=broker).live_enabled
    with pytest.raises(ConfigError, match=r"^live.enabled: needs broker.url"):
        load_config(None, env={"ENERGYMON_LIVE_ENABLED": "true"})
