"""The command through a real process: one-line errors with exit code 2, --print, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meter_sim.cli import parse_settings
from meter_sim.errors import UsageError
from meter_sim.schedule import parse_time

NOV_1 = "2026-11-01T00:00:00Z"


def meter(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run `python -m meter_sim` with a clean meter environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYMON_METER_")}
    return subprocess.run(
        [sys.executable, "-m", "meter_sim", *args],
        capture_output=True,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def bad_csv(tmp_path: Path) -> str:
    path = tmp_path / "bad.csv"
    path.write_text("0.1\n0.2\nlots\n")
    return str(path)


@pytest.fixture
def bad_tokens(tmp_path: Path) -> str:
    path = tmp_path / "tokens.txt"
    path.write_text("1 good-token\nno-device-here\n")
    return str(path)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--print"], "no devices"),
        (["--devices", "1-x", "--print"], "bad device id '1-x'"),
        (["--devices", "9-3", "--print"], "runs backwards"),
        (["--devices", "1", "--amqp", "localhost:5672"], "bad --amqp URL 'localhost:5672'"),
        (["--devices", "1", "--amqp", "amqp://h:99999/"], "bad --amqp URL"),
        (
            ["--devices", "1", "--http", "ftp://host", "--tokens", "x"],
            "bad --http URL 'ftp://host'",
        ),
        (["--devices", "1", "--csv", "/no/such.csv", "--print"], "cannot read CSV file"),
        (["--devices", "1", "--csv", "{bad_csv}", "--print"], "line 3: 'lots' is not a number"),
        (["--devices", "1", "--print", "--speed", "fast"], "argument --speed: invalid float"),
        (["--devices", "1", "--print", "--speed", "-2"], "--speed must be"),
        (["--devices", "1", "--print", "--interval", "0"], "--interval must be at least 1"),
        (["--devices", "1", "--print", "--start", "yesterday"], "bad --start time"),
        (["--devices", "1", "--print", "--start", NOV_1, "--end", NOV_1], "--end must be after"),
        (["--devices", "1", "--print", "--kind", "gas"], "argument --kind: invalid choice"),
        (["--devices", "1", "--print", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--devices", "1", "--print", "--amqp"], "not allowed with argument"),
        (["--devices", "1"], "choose a transport"),
        (["--devices", "1", "--http"], "needs device tokens"),
        (["--devices", "1-2", "--http", "--tokens", "{bad_tokens}"], "line 2: expected"),
        (["--devices", "1", "--amqp", "--ca-file", "/etc/hostname"], "need an amqps:// or"),
        (["--devices", "1", "--amqp", "amqps://h/", "--cert", "/etc/hostname"], "go together"),
        (
            ["--devices", "1", "--amqp", "amqps://h/", "--cert", "/no/c.pem", "--key", "/no/k"],
            "cannot use client certificate '/no/c.pem'",
        ),
        (["--devices", "1", "--amqp", "amqps://h/", "--ca-file", "/no/ca.pem"], "cannot use CA"),
        (["--devices", "1", "--print", "--speed", "0", "--start", "2099-01-01"], "needs --end"),
        (["--devices", "1", "--print", "--loop"], "--loop needs --csv"),
        (["--devices", "1", "--print", "--future"], "--future needs --speed"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, needle, bad_csv, bad_tokens):
    args = [a.format(bad_csv=bad_csv, bad_tokens=bad_tokens) for a in args]
    result = meter(*args)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("energymon-meter: error: "), stderr
    assert needle in stderr
    assert "Traceback" not in stderr
    assert result.stdout == b""


def test_missing_tokens_name_the_devices():
    result = meter("--devices", "1-3", "--http", env={"ENERGYMON_METER_TOKENS": "2 tok"})
    assert result.returncode == 2
    assert result.stderr.decode() == (
        "energymon-meter: error: no ingest token for 2 device(s): 1, 3\n"
    )


def test_unreachable_broker_is_one_line_and_exit_code_1():
    result = meter("--devices", "1", "--amqp", "amqp://guest:secret@127.0.0.1:1/", "--count", "1")
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("energymon-meter: error: cannot connect to amqp://guest:***@")
    assert "secret" not in stderr


def test_print_is_byte_identical_for_a_seed_and_matches_the_library():
    args = ["--devices", "1-3,10", "--print", "--start", NOV_1, "--count", "50", "--batch", "4"]
    first = meter(*args, "--seed", "99", "--kind", "cumulative")
    second = meter(*args, "--seed", "99", "--kind", "cumulative")
    other = meter(*args, "--seed", "100", "--kind", "cumulative")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout != other.stdout
    scenario = parse_settings([*args, "--seed", "99", "--kind", "cumulative"], {}).scenario
    assert first.stdout == b"".join(m.body + b"\n" for m in scenario.messages())
    lines = first.stdout.splitlines()
    assert len(lines) == 4 * 13  # 50 readings per device in batches of 4
    assert all(isinstance(json.loads(line), list) for line in lines)


def test_summary_on_stderr_and_quiet():
    args = ["--devices", "1-2", "--print", "--start", NOV_1, "--count", "3", "--seed", "1"]
    loud = meter(*args)
    assert loud.returncode == 0
    summary = loud.stderr.decode()
    assert summary.startswith("6 readings in 6 messages to stdout: 6 confirmed, 0 failed")
    assert "seed 1" in summary
    quiet = meter(*args, "--quiet")
    assert quiet.returncode == 0
    assert quiet.stderr == b""
    assert quiet.stdout == loud.stdout


def test_devices_from_the_environment():
    result = meter(
        "--print", "--start", NOV_1, "--count", "1", env={"ENERGYMON_METER_DEVICES": "4,6-7"}
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["device_id"] for line in result.stdout.splitlines()] == [4, 6, 7]
    # the command line wins
    result = meter(
        "--print",
        "--start",
        NOV_1,
        "--count",
        "1",
        "--devices",
        "9",
        env={"ENERGYMON_METER_DEVICES": "4"},
    )
    assert [json.loads(line)["device_id"] for line in result.stdout.splitlines()] == [9]


def test_speed_zero_backfills_up_to_now():
    now = time.time()
    settings = parse_settings(
        ["--devices", "1", "--print", "--speed", "0", "--start", "2026-01-01T00:00:00Z"],
        {},
        now=now,
    )
    readings = [r for t in settings.scenario.ticks() for r in t.readings]
    assert readings[0].ts == parse_time("2026-01-01T00:00:00Z")
    assert now - 600 < readings[-1].ts <= now


def test_default_start_is_now_on_the_interval_grid():
    settings = parse_settings(
        ["--devices", "1", "--print", "--interval", "900"], {}, now=1_800_000_123
    )
    assert settings.scenario.start == 1_800_000_000 - 1_800_000_000 % 900
    with pytest.raises(UsageError, match="no devices"):
        parse_settings(["--print"], {})


def test_sigterm_stops_cleanly_with_everything_sent():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meter_sim",
            "--devices",
            "1-2",
            "--print",
            "--seed",
            "3",
            "--start",
            NOV_1,
            "--speed",
            "600",
            "--batch",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert b"Traceback" not in stderr
    assert b"stopping" in stderr
    readings = [r for line in stdout.splitlines() for r in json.loads(line)]
    assert len(readings) >= 2
    per_device = {d: [r for r in readings if r["device_id"] == d] for d in (1, 2)}
    # the partial batch was flushed too: both devices sent every reading up to the stop
    assert len(per_device[1]) == len(per_device[2])
    summary = stderr.decode().strip().splitlines()[-1]
    assert summary.startswith(f"{len(readings)} readings in ")
