"""The `energymon-meter` command: options and environment into settings, then the run."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import os
import secrets
import signal
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from meter_sim import amqp, http
from meter_sim.amqp import AmqpOptions, AmqpSink
from meter_sim.csvsource import CsvSeries, load_csv
from meter_sim.devices import parse_device_ids
from meter_sim.errors import MeterSimError, UsageError
from meter_sim.http import HttpOptions, HttpSink
from meter_sim.meters import MeterKind
from meter_sim.progress import Progress, ProgressLogHandler
from meter_sim.runner import simulate
from meter_sim.scenario import DEFAULT_INTERVAL, Scenario
from meter_sim.schedule import aligned_now, parse_time
from meter_sim.sink import PrintSink, Sink
from meter_sim.stats import Stats
from meter_sim.tokens import load_tokens, parse_tokens

_LOGGER = logging.getLogger(__name__)

PROG = "energymon-meter"
ENV_DEVICES = "ENERGYMON_METER_DEVICES"
ENV_TOKENS = "ENERGYMON_METER_TOKENS"
DEFAULT_HTTP_URL = "http://127.0.0.1:8080"
MAX_BATCH = 10_000

EXAMPLES = f"""\
examples:
  {PROG} --devices 1-100 --amqp                       # real time, a reading every 10 min
  {PROG} --devices 1-100 --amqp --start 2026-11-01 --speed 0   # backfill to now, then stop
  {PROG} --devices 1-5 --http --tokens tokens.txt --speed 600   # 10 min every second
  {PROG} --devices 17 --csv sensor.csv --print --seed 1 --start 2026-11-01T00:00:00Z

exit codes: 0 all confirmed, 1 some readings failed or the transport is unusable,
2 bad options or input files, 130 aborted.
"""


@dataclasses.dataclass(frozen=True)
class Settings:
    """A validated command line: what to simulate and where to send it."""

    scenario: Scenario
    transport: AmqpOptions | HttpOptions | None  # None: print to stdout
    quiet: bool = False
    verbose: int = 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, raised rather than printed."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    """All options, grouped as in --help."""
    parser = _Parser(
        prog=PROG,
        description="Emulate many smart meters in one process and send their readings "
        "to energymon over AMQP or HTTP.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = parser.add_argument_group("devices and readings")
    src.add_argument(
        "--devices",
        metavar="LIST",
        help=f"device ids such as 1-100,205 (default: ${ENV_DEVICES})",
    )
    src.add_argument(
        "--kind",
        choices=[k.value for k in MeterKind],
        default=MeterKind.INTERVAL.value,
        help="interval: kWh since the previous reading; cumulative: the register total "
        "(default: interval)",
    )
    src.add_argument(
        "--csv",
        metavar="FILE",
        type=Path,
        help="replay a CSV file (one kWh value a line, or ts,value lines) instead of the "
        "built-in household profile",
    )
    src.add_argument("--loop", action="store_true", help="start the CSV file over when it ends")
    src.add_argument(
        "--seed", type=int, help="same seed, same readings (default: random, shown at the end)"
    )

    when = parser.add_argument_group("timing")
    when.add_argument(
        "--interval",
        metavar="SECONDS",
        type=int,
        default=DEFAULT_INTERVAL,
        help=f"seconds between readings of a device (default: {DEFAULT_INTERVAL}; "
        "a ts,value CSV file brings its own times)",
    )
    when.add_argument(
        "--speed",
        metavar="N",
        type=float,
        help="accelerate: N simulated seconds per real second; 0 = as fast as possible "
        "(default: real time)",
    )
    when.add_argument(
        "--start",
        metavar="TIME",
        help="time of the first reading, RFC 3339 (default: now, aligned to the interval); "
        "past readings are sent at once (backfill)",
    )
    when.add_argument("--end", metavar="TIME", help="stop before this time")
    when.add_argument(
        "--future",
        action="store_true",
        help="let --speed run ahead of the wall clock (the server refuses readings more "
        "than 5 minutes ahead; by default an accelerated run goes on in real time once it "
        "reaches the present)",
    )
    when.add_argument("--count", metavar="N", type=int, help="stop after N readings per device")

    out = parser.add_argument_group("transport (choose one)")
    target = out.add_mutually_exclusive_group()
    target.add_argument(
        "--amqp",
        metavar="URL",
        nargs="?",
        const=amqp.DEFAULT_URL,
        help=f"publish to RabbitMQ (URL default: {amqp.DEFAULT_URL})",
    )
    target.add_argument(
        "--http",
        metavar="URL",
        nargs="?",
        const=DEFAULT_HTTP_URL,
        help=f"POST to the server's {http.INGEST_PATH} (URL default: {DEFAULT_HTTP_URL})",
    )
    target.add_argument(
        "--print", action="store_true", help="write each message as a line to stdout"
    )
    out.add_argument("--ca-file", metavar="FILE", type=Path, help="CA bundle for amqps/https")
    out.add_argument(
        "--cert",
        metavar="FILE",
        type=Path,
        help="client certificate (PEM) for amqps/https, for brokers that require one; with --key",
    )
    out.add_argument("--key", metavar="FILE", type=Path, help="private key (PEM) of --cert")
    out.add_argument(
        "--exchange",
        default=amqp.DEFAULT_EXCHANGE,
        help=f"AMQP exchange, durable direct (default: {amqp.DEFAULT_EXCHANGE})",
    )
    out.add_argument(
        "--routing-key",
        default=amqp.DEFAULT_ROUTING_KEY,
        help=f"AMQP routing key (default: {amqp.DEFAULT_ROUTING_KEY})",
    )
    out.add_argument(
        "--tokens",
        metavar="FILE",
        type=Path,
        help=f"HTTP ingest tokens, lines 'device_id token' (default: ${ENV_TOKENS}, "
        "same format, commas allowed)",
    )
    out.add_argument(
        "--batch",
        metavar="N",
        type=int,
        default=1,
        help="readings of one device per message, sent as a JSON array when N > 1 (default: 1)",
    )
    out.add_argument(
        "--window",
        metavar="N",
        type=int,
        help=f"messages in flight: unconfirmed for AMQP (default: {amqp.DEFAULT_WINDOW}), "
        f"concurrent requests for HTTP (default: {http.DEFAULT_WINDOW})",
    )
    out.add_argument(
        "--retries",
        metavar="N",
        type=int,
        default=http.DEFAULT_RETRIES,
        help="HTTP: retries after a connection error or 5xx, with backoff "
        f"(default: {http.DEFAULT_RETRIES}); AMQP always resends until confirmed",
    )

    say = parser.add_argument_group("output")
    say.add_argument("-q", "--quiet", action="store_true", help="no progress line, no summary")
    say.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    return parser


def parse_settings(
    argv: Sequence[str] | None, environ: Mapping[str, str], now: float | None = None
) -> Settings:
    """Validate the command line and environment once; raise UsageError on the first problem."""
    args = build_parser().parse_args(argv)
    now = time.time() if now is None else now

    devices_text = args.devices if args.devices is not None else environ.get(ENV_DEVICES)
    if not devices_text:
        raise UsageError(f"no devices: give --devices LIST or set {ENV_DEVICES}")
    devices = parse_device_ids(devices_text)

    _at_least("--interval", args.interval, 1)
    _at_least("--batch", args.batch, 1)
    if args.batch > MAX_BATCH:
        raise UsageError(f"--batch must be at most {MAX_BATCH:,}")
    if args.count is not None:
        _at_least("--count", args.count, 1)
    if args.window is not None:
        _at_least("--window", args.window, 1)
    _at_least("--retries", args.retries, 0)
    if args.speed is not None and (not math.isfinite(args.speed) or args.speed < 0):
        raise UsageError("--speed must be 0 (as fast as possible) or a positive number")
    if args.loop and args.csv is None:
        raise UsageError("--loop needs --csv FILE")

    series: CsvSeries | None = load_csv(args.csv) if args.csv is not None else None
    start = _time_option("--start", args.start)
    end = _time_option("--end", args.end)
    if start is None:
        if series is not None and series.first_ts is not None:
            start = series.first_ts
        else:
            start = aligned_now(args.interval, now)
    if end is not None and end <= start:
        raise UsageError("--end must be after the first reading (--start)")

    scenario = Scenario(
        devices=devices,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        start=start,
        kind=MeterKind(args.kind),
        interval=args.interval,
        end=end,
        count=args.count,
        batch=args.batch,
        speed=args.speed,
        csv=series,
        loop=args.loop,
        future=args.future,
    )
    if args.speed == 0 and not scenario.finite:
        # As fast as possible without an end: backfill up to now rather than flood forever.
        if start > now:
            raise UsageError("--speed 0 with a --start in the future needs --end or --count")
        scenario = dataclasses.replace(scenario, end=math.floor(now) + 1)
    if args.future and args.speed is None:
        raise UsageError("--future needs --speed")

    return Settings(
        scenario=scenario,
        transport=_transport(args, environ, devices),
        quiet=args.quiet,
        verbose=args.verbose,
    )


def _transport(
    args: argparse.Namespace, environ: Mapping[str, str], devices: Sequence[int]
) -> AmqpOptions | HttpOptions | None:
    if args.amqp is None and args.http is None and not args.print:
        raise UsageError("choose a transport: --amqp [URL], --http [URL] or --print")
    if args.print:
        return None
    if args.amqp is not None:
        url = amqp.check_url(args.amqp)
        ctx = _ssl_context(args, url.startswith("amqps:"))
        return AmqpOptions(
            url=url,
            exchange=args.exchange,
            routing_key=args.routing_key,
            window=args.window or amqp.DEFAULT_WINDOW,
            ssl_context=ctx,
        )
    url = http.check_url(args.http)
    ctx = _ssl_context(args, url.startswith("https:"))
    if args.tokens is not None:
        tokens = load_tokens(args.tokens)
    elif environ.get(ENV_TOKENS):
        tokens = parse_tokens(environ[ENV_TOKENS], origin=f"${ENV_TOKENS}")
    else:
        raise UsageError(f"--http needs device tokens: --tokens FILE or ${ENV_TOKENS}")
    missing = [d for d in devices if d not in tokens]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise UsageError(f"no ingest token for {len(missing)} device(s): {shown}")
    return HttpOptions(
        url=url,
        tokens={d: tokens[d] for d in devices},
        window=args.window or http.DEFAULT_WINDOW,
        retries=args.retries,
        ssl_context=ctx,
    )


def _ssl_context(args: argparse.Namespace, tls: bool) -> ssl.SSLContext | None:
    ca_file: Path | None = args.ca_file
    cert: Path | None = args.cert
    key: Path | None = args.key
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key go together")
    if ca_file is None and cert is None:
        return None
    if not tls:
        raise UsageError("--ca-file, --cert and --key need an amqps:// or https:// URL")
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use CA file {str(ca_file)!r}: {_ssl_reason(exc)}") from None
    if cert is not None and key is not None:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"cannot use client certificate {str(cert)!r} with key {str(key)!r}: "
                f"{_ssl_reason(exc)}"
            ) from None
    return context


def _ssl_reason(exc: OSError | ssl.SSLError) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _time_option(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except (ValueError, OverflowError):
        raise UsageError(
            f"bad {name} time {text!r}: expected RFC 3339 such as 2026-11-01T00:00:00Z"
        ) from None


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise UsageError(f"{name} must be at least {low}")


def make_sink(settings: Settings, stats: Stats) -> Sink:
    """The transport the settings ask for."""
    if isinstance(settings.transport, AmqpOptions):
        return AmqpSink(settings.transport, stats)
    if isinstance(settings.transport, HttpOptions):
        return HttpSink(settings.transport, stats)
    return PrintSink(stats)


async def run_settings(settings: Settings, stats: Stats, progress: Progress) -> int:
    """Connect, simulate, report; the first SIGINT/SIGTERM drains, the second aborts."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None

    def on_signal() -> None:
        if stop.is_set():
            main.cancel()
            return
        stop.set()
        _LOGGER.warning("stopping: sending what is pending (interrupt again to abort)")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    sink = make_sink(settings, stats)
    aborted = False
    try:
        async with sink:
            ticker = asyncio.create_task(progress.run())
            try:
                await simulate(settings.scenario, sink, stats, stop)
            except asyncio.CancelledError:
                if main.uncancel() > 0:
                    raise
                aborted = True
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    progress.finish(sink.destination, settings.scenario.seed)
    if aborted:
        return 130
    return 1 if stats.failed else 0


def configure_logging(verbose: int, progress: Progress | None) -> None:
    """Log to stderr, above the progress line; -v for info, -vv for debug."""
    handler = ProgressLogHandler(progress, sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    # aio-pika and aiormq log every broker outage with tracebacks; our own lines say what
    # happened, so theirs only show with -v.
    quiet_libraries = logging.CRITICAL if verbose == 0 else logging.NOTSET
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(quiet_libraries)


def run(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The whole command; returns the exit code and never shows a traceback for known errors."""
    try:
        settings = parse_settings(argv, os.environ if environ is None else environ)
    except UsageError as exc:
        return _fail(exc)
    stats = Stats()
    live = not (settings.transport is None and sys.stdout.isatty())
    progress = Progress(stats, sys.stderr, enabled=not settings.quiet, live=live)
    configure_logging(settings.verbose, progress)
    try:
        return asyncio.run(run_settings(settings, stats, progress))
    except MeterSimError as exc:
        progress.clear()
        return _fail(exc)
    except KeyboardInterrupt:
        return 130


def _fail(exc: MeterSimError) -> int:
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return exc.exit_code
