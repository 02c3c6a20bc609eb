"""Property-based run of the OpenAPI document with schemathesis, against a served app.

The app built by create_app is served on a free localhost port; schemathesis loads
/api/v1/openapi.json from it and, for every operation in it, sends examples, coverage cases
(boundaries, wrong types, missing fields, undeclared methods) and fuzzed requests, valid and
invalid, first with an admin's token and then with a normal user's. Every response must pass
schemathesis's conformance checks: no 5xx, a documented status and media type, a body that
matches its schema, documented headers, invalid input refused and valid input accepted.
A stateful run then chains operations (create a device, read it, delete it, read it again).
The seed is fixed and generation derandomized, so a failure replays the same way in CI.

Cost (the most expensive file of the suite): each role runs on both engines, but MariaDB gets
fewer fuzzed examples per operation (the coverage cases, where boundaries and wrong types
are, stay the same) and the stateful run is on SQLite only: what differs per engine is
storage, which the API tests run twice. The app hashes with the tests' cost-4 bcrypt hasher.
Measured on the same loaded 2-core machine (`pytest tests/api/test_schemathesis.py`):
  before: 8 runs, 458 s (bcrypt cost 12, 20 examples everywhere, stateful on both engines);
          e.g. MariaDB as admin 1,590 requests in 75-90 s, four stateful runs 58-132 s.
  after:  6 runs, 208 s. SQLite as admin 1,665 requests in 27 s, as user 4,251 (2,400 of
          them every documented time zone) in 109 s; MariaDB 1,395 requests a role in
          33 s and 18 s; stateful (SQLite) 301 requests a role in 6.5 s and 5 s.
  then, every zone on the JSON views only, the machine to itself: 6 runs, 84 s. SQLite as
          admin 1,684 requests in 19 s, as user 2,977 in 35 s; MariaDB 1,414 a role in 8 s
          and 11 s; stateful 190 and 244 requests in 3-4 s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import sqlalchemy as sa
from aiohttp import web
from hypothesis.errors import Flaky
from schemathesis.errors import FailureGroup

from energymon.config import Config
from energymon.models import Role
from energymon.storage import Database
from energymon.storage.schema import metadata
from tests.conftest import Actor, build_app, sqlite_only

SEED = 20_240_611
# Each role must send at least this many generated requests on each database engine.
MIN_REQUESTS = 500
# Fuzzed examples per operation and generation mode, on top of the coverage cases; fewer on
# MariaDB, the second engine (see the module docstring).
MAX_EXAMPLES = 20
SECOND_ENGINE_MAX_EXAMPLES = 10
# Logging out ends the caller's session, and every later request of the run would get 401:
# it is left to test_authz_matrix and test_session_revocation.
SESSION_ENDING_OPERATIONS = ["logout"]
# These document rules a JSON Schema cannot state, so schema-valid input may get 422 on its
# meaning: ingest judges each reading (another device's id, a time in the future...) and
# answers 422 when none was stored; daily consumption needs `to` on or after `from` and at
# most 366 days later; a password is refused when it is a common one or the account's email,
# and a password change needs the current password; consumption days lie within
# 1970-01-02..9998-12-31 (a date string's schema cannot bound it). Everywhere else a
# schema-valid request refused with 422 is a bug.
SEMANTIC_422_OPERATIONS = [
    "ingest",
    "daily_consumption",
    "daily_consumption_csv",
    "register",
    "create_user",
    "update_user",
    "change_password",
    "hourly_consumption",
    "hourly_consumption_csv",
]
POSITIVE_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Assigning a device answers 404 for a missing *user* named in the body, and revoking a
# device's ingest token 404 when the device has none, as documented and tested
# (test_devices); ensure_resource_availability reads any 404 after "create device" as the new
# device being lost, so it is off for these operations.
BODY_REFERENCE_404_OPERATIONS = ["assign_device", "revoke_ingest_token"]
# `tz` is documented as an enum of the server's ~600 IANA zones, and the coverage phase sends
# every value of an enum: ~600 requests an operation. One run (SQLite, as the user who owns
# the device with readings) pays for that on the JSON views; the others fuzz `tz` instead.
# The CSV exports take the same query model through the same service, so they are fuzzed
# only (their coverage phase would repeat the JSON views' zones, 1,200 requests, ~30 s).
ZONE_OPERATIONS = [
    "hourly_consumption",
    "hourly_consumption_csv",
    "daily_consumption",
    "daily_consumption_csv",
]
FUZZED_ZONE_OPERATIONS = ["hourly_consumption_csv", "daily_consumption_csv"]
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 12
# The stateful run must get this far before Hypothesis may give up on it (see below).
MIN_WORKFLOW_REQUESTS = 100

schema = schemathesis.pytest.from_fixture("api_schema")


# ---- the served app --------------------------------------------------------------------------


class AppServer(threading.Thread):
    """create_app(config) served by aiohttp on 127.0.0.1:<free port>, in a thread of its own."""

    def __init__(self, config: Config) -> None:
        super().__init__(name="schemathesis-app", daemon=True)
        self.config = config
        self.base_url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(build_app(self.config), access_log=None)
        try:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await runner.cleanup()
            raise
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    def start_serving(self) -> str:
        self.start()
        if not self._ready.wait(60):
            raise TimeoutError("the app did not start within 60 s")
        if self._error is not None:
            raise RuntimeError("the app failed to start") from self._error
        return self.base_url

    def stop_serving(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(30)


@pytest.fixture
def base_url(config: Config, accounts: dict[str, Actor]) -> Iterator[str]:
    """The app over the test database (accounts already in it), served for real."""
    server = AppServer(config)
    url = server.start_serving()
    yield url
    server.stop_serving()


# ---- accounts, devices and tokens ------------------------------------------------------------


@pytest.fixture
async def accounts(make_actor, db: Database) -> AsyncIterator[dict[str, Actor]]:
    """An admin and two users, inserted straight into storage with tokens.

    On MariaDB the emptied tables keep counting ids; start them at 1 again so that, as on
    SQLite, the small ids generated requests favour name real rows.
    """
    if db.kind == "mysql":
        async with db.write() as conn:
            for table in metadata.sorted_tables:
                await conn.execute(sa.text(f"ALTER TABLE {table.name} AUTO_INCREMENT = 1"))
    yield {
        "admin": await make_actor(Role.ADMIN, email="admin@example.com"),
        "alice": await make_actor(Role.USER, email="alice@example.com"),
        "bob": await make_actor(Role.USER, email="bob@example.com"),
    }


@pytest.fixture(params=["admin", "user"])
def role(request: pytest.FixtureRequest) -> str:
    return request.param


def _post(session: requests.Session, url: str, actor: Actor, body: Any = None) -> Any:
    resp = session.post(url, json=body, headers=actor.headers, timeout=30)
    assert resp.status_code in {200, 201}, f"POST {url}: {resp.status_code} {resp.text}"
    return resp.json()


def _seed(base_url: str, accounts: dict[str, Actor]) -> str | None:
    """Devices for alice (the user run's caller) and bob, an orphan, and readings on the
    first device, created through the API; returns that device's ingest token, if any.

    Fresh ids start at 1 and generated ids favour small numbers, so requests for
    /devices/1 and friends reach real rows, owned by the caller or by someone else.
    """
    admin, alice, bob = accounts["admin"], accounts["alice"], accounts["bob"]
    with requests.Session() as session:
        device_ids = [
            _post(
                session,
                f"{base_url}/api/v1/devices",
                admin,
                {"description": f"Meter {n}", "address": f"{n} Test Street", "max_hourly_kwh": 2.5}
                | ({"owner_id": owner.id} if owner else {}),
            )["id"]
            for n, owner in enumerate((alice, alice, bob, None), start=1)
        ]
        paths = session.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()["paths"]
        if "/api/v1/devices/{device_id}/ingest-token" not in paths:
            return None
        token = _post(session, f"{base_url}/api/v1/devices/{device_ids[0]}/ingest-token", admin)[
            "token"
        ]
        now = int(time.time()) // 3600 * 3600
        readings = [{"ts": now - hours * 3600, "value": 0.5 + hours / 10} for hours in range(48)]
        resp = session.post(
            f"{base_url}/api/v1/ingest",
            json=readings,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        return token


# ---- schemathesis ----------------------------------------------------------------------------

# Every built-in check runs (ensure_resource_availability not on the operations above),
# except max_response_time: off by default in schemathesis; bcrypt makes login and user
# writes slow by design (cost 12 in production), and a shared CI machine's timings would make
# it flaky.
# object_level_authorization is listed but inert here: it needs several identities configured
# through `[auth.wfc]`; test_authz_matrix covers who may see whose objects.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
)


def _config(
    bearer: str, ingest_token: str | None, *, every_zone: bool, max_examples: int
) -> schemathesis.Config:
    schemes = {"bearerAuth": {"bearer": bearer}}
    if ingest_token is not None:
        schemes["ingestToken"] = {"bearer": ingest_token}
    zone_operations = [
        {
            "include-operation-id": FUZZED_ZONE_OPERATIONS if every_zone else ZONE_OPERATIONS,
            "phases": {"coverage": {"enabled": False}},
        }
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "deterministic": True,
                # No example database: a run depends on the seed alone, never on earlier runs.
                "database": "none",
            },
            "checks": {name: {"enabled": True} for name in CHECKS},
            "auth": {"openapi": schemes},
            "operations": [
                {
                    "include-operation-id": BODY_REFERENCE_404_OPERATIONS,
                    "checks": {"ensure_resource_availability": {"enabled": False}},
                },
                {
                    "include-operation-id": SEMANTIC_422_OPERATIONS,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*POSITIVE_DATA_STATUSES, "422"]
                        }
                    },
                },
                {"include-operation-id": SESSION_ENDING_OPERATIONS, "enabled": False},
                *zone_operations,
            ],
        }
    )


@dataclass
class Tally:
    """What one run sent and got back."""

    role: str
    engine: str
    session: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def send(self, case: schemathesis.Case) -> None:
        response = case.call(session=self.session)
        self.statuses[(case.operation.label, response.status_code)] += 1
        case.validate_response(response, transport_kwargs={"session": self.session})

    def summary(self) -> str:
        by_class = Counter(f"{status // 100}xx" for (_, status) in self.statuses.elements())
        operations = len({label for label, _ in self.statuses})
        classes = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
        return (
            f"schemathesis [{self.engine}] as {self.role}: {self.requests} requests over "
            f"{operations} operations ({classes}) in {time.monotonic() - self.started:.1f} s"
        )


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print past pytest's capture, so every run shows its counts."""
    with capsys.disabled():
        print(f"\n{line}")


@pytest.fixture
def api_schema(
    base_url: str, accounts: dict[str, Actor], role: str, db_url: str
) -> schemathesis.BaseSchema:
    """The served document, with the caller's token for `role` and a device's ingest token."""
    ingest_token = _seed(base_url, accounts)
    caller = accounts["admin" if role == "admin" else "alice"]
    sqlite = db_url.startswith("sqlite")
    return schemathesis.openapi.from_url(
        f"{base_url}/api/v1/openapi.json",
        config=_config(
            caller.token,
            ingest_token,
            every_zone=role == "user" and sqlite,
            max_examples=MAX_EXAMPLES if sqlite else SECOND_ENGINE_MAX_EXAMPLES,
        ),
    )


@pytest.fixture
def tally(capsys: pytest.CaptureFixture[str], role: str, db_url: str) -> Iterator[Tally]:
    """Counts the generated requests; at the end, prints them and requires enough of them."""
    run = Tally(role, db_url.split(":", 1)[0])
    yield run
    run.session.close()
    _report(capsys, run.summary())
    assert run.requests >= MIN_REQUESTS, run.summary()
    server_errors = {key: n for key, n in run.statuses.items() if key[1] >= 500}
    assert not server_errors, server_errors


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32 relabels the running test through `node._nodeid`, which pytest 9
    no longer has; give it one (pytest ignores it) instead of failing on AttributeError."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


# A few minutes each on a loaded machine: above the suite's per-test limit.
@pytest.mark.timeout(900)
@schema.parametrize()
def test_operations_conform(case: schemathesis.Case, tally: Tally) -> None:
    """One request per generated case; schemathesis's checks judge the response."""
    tally.send(case)


@sqlite_only
@pytest.mark.timeout(900)
def test_workflows_conform(
    api_schema: schemathesis.BaseSchema,
    role: str,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Chains of operations linked through the ids they return, with the same checks."""
    run = Tally(role, db_url.split(":", 1)[0])
    failures: list[str] = []

    class Workflows(api_schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            response = case.call(session=run.session, **kwargs)
            run.statuses[(case.operation.label, response.status_code)] += 1
            return response

        def validate_response(self, *args: Any, **kwargs: Any) -> None:
            # Collected rather than raised: Hypothesis would replay the scenario to shrink it
            # against a server whose state has moved on (see below).
            try:
                super().validate_response(*args, **kwargs)
            except FailureGroup as exc:
                failures.append(str(exc))

    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=STATEFUL_STEPS,
        phases=[hypothesis.Phase.generate],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    try:
        Workflows.run(settings=settings)
    except Flaky:
        # Which rules are enabled depends on what the server returned earlier, so Hypothesis
        # sometimes finds a scenario prefix that no longer generates the same way and stops
        # (schemathesis's own runner ends its stateful phase the same way). Every request
        # made until then has been checked.
        pass
    finally:
        run.session.close()
        _report(capsys, run.summary().replace("schemathesis", "schemathesis workflows"))
    assert not failures, "\n".join(failures)
    assert run.requests >= MIN_WORKFLOW_REQUESTS, run.summary()
    assert not [key for key in run.statuses if key[1] >= 500], run.statuses
