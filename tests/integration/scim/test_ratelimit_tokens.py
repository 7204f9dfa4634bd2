"""Per-token rate limits and concurrency caps on /scim/v2 (issue 14).

The clock is injected: every request of a test happens at the same instant unless the test
moves the clock, so a budget is spent and refilled exactly, never by waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from scim_client import ScimClient
from sqlalchemy import func, select

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import User
from scim_bridge.directory.rate_limits import (
    LeasingRateLimiter,
    Limits,
    LocalRateLimiter,
    SharedRateLimiter,
    set_token_limits,
)
from scim_bridge.directory.tokens import create_token
from scim_bridge.scim.schema import ERROR
from scim_bridge.settings import Settings

START = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_token(database: Database, name: str, **limits: Any) -> str:
    with database.write() as session:
        _row, plaintext = create_token(session, name, profile="okta", now=START)
        if limits:
            set_token_limits(
                session,
                name,
                rate_per_second=limits.get("rate"),
                burst=limits.get("burst"),
                max_concurrent=limits.get("concurrent"),
            )
    return plaintext


def limited_app(database: Database, clock: Clock, **settings: Any) -> Any:
    return create_app(Settings(database_url=database.url, **settings), db=database, clock=clock)


def user(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": name, "familyName": "Test"},
    }


def users_stored(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def assert_throttled(response: Any, *, retry_after: str, naming: str) -> None:
    assert response.status_code == 429, response.get_json()
    assert response.headers["Retry-After"] == retry_after
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "429"  # a string: RFC 7644 §3.12
    assert naming in body["detail"]


def test_a_token_over_its_rate_gets_429_with_retry_after_and_nothing_is_stored(
    database: Database,
) -> None:
    clock = Clock()
    app = limited_app(database, clock, scim_rate_per_second=0.5, scim_rate_burst=2)
    client = ScimClient(app.test_client(), new_token(database, "okta"))
    assert client.post("/Users", user("ada")).status_code == 201
    assert client.post("/Users", user("bob")).status_code == 201
    # The burst is spent; one request every 2 s refills: the next is due in 2 s.
    refused = client.post("/Users", user("cyd"))
    assert_throttled(refused, retry_after="2", naming="0.5 requests per second (burst 2)")
    assert users_stored(database) == 2
    clock.advance(1.5)
    assert_throttled(client.get("/Users"), retry_after="1", naming="rate limit")
    clock.advance(0.5)
    assert client.post("/Users", user("cyd")).status_code == 201
    assert users_stored(database) == 3


def test_a_tokens_own_limits_override_the_default(database: Database) -> None:
    clock = Clock()
    app = limited_app(database, clock, scim_rate_per_second=1, scim_rate_burst=1)
    default = ScimClient(app.test_client(), new_token(database, "default"))
    unlimited = ScimClient(app.test_client(), new_token(database, "bulk-load", rate=0))
    wider = ScimClient(app.test_client(), new_token(database, "wider", burst=3))
    assert default.get("/Users").status_code == 200
    assert_throttled(default.get("/Users"), retry_after="1", naming="1 requests per second")
    for _ in range(20):
        assert unlimited.get("/Users").status_code == 200
    for _ in range(3):
        assert wider.get("/Users").status_code == 200
    assert_throttled(wider.get("/Users"), retry_after="1", naming="(burst 3)")


def test_a_bulk_request_costs_its_operations(database: Database) -> None:
    clock = Clock()
    app = limited_app(database, clock, scim_rate_per_second=1, scim_rate_burst=3)
    client = ScimClient(app.test_client(), new_token(database, "okta"))
    ops = [
        {"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user(f"u{i}")}
        for i in range(2)
    ]
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}
    assert client.post("/Bulk", bulk).status_code == 200
    assert users_stored(database) == 2
    # Two of three spent: a second Bulk of two is over the limit, and nothing of it is stored.
    ops2 = [{**op, "bulkId": f"v{i}", "data": user(f"v{i}")} for i, op in enumerate(ops)]
    assert_throttled(
        client.post("/Bulk", {**bulk, "Operations": ops2}), retry_after="1", naming="rate"
    )
    assert users_stored(database) == 2


def test_two_api_processes_share_one_budget_on_postgresql_and_not_on_sqlite(
    db_url: str,
) -> None:
    first, second = Database(db_url), Database(db_url)
    try:
        clock = Clock()
        token = new_token(first, "okta")
        apps = [
            limited_app(db, clock, scim_rate_per_second=1, scim_rate_burst=3)
            for db in (first, second)
        ]
        a, b = (ScimClient(app.test_client(), token) for app in apps)
        assert [a.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
        if first.dialect == "postgresql":
            # The budget lives in the database: the other process finds it spent.
            assert_throttled(b.get("/Users"), retry_after="1", naming="rate limit")
            clock.advance(1)
            assert b.get("/Users").status_code == 200
            assert_throttled(a.get("/Users"), retry_after="1", naming="rate limit")
        else:
            # SQLite (one host): each API process keeps its own budget (docs/security.md).
            assert [b.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
            assert_throttled(b.get("/Users"), retry_after="1", naming="rate limit")
    finally:
        first.dispose()
        second.dispose()


def test_the_shared_limiter_gives_two_engines_one_budget(db_url: str) -> None:
    """The database-kept GCRA itself, on both backends (SQLite deployments use the local one,
    which must answer the same)."""
    first, second = Database(db_url), Database(db_url)
    try:
        with first.write() as session:
            row, _ = create_token(session, "okta", now=START)
            token_id = row.id
        limits = Limits(rate_per_second=2, burst=3, max_concurrent=0)
        shared = [SharedRateLimiter(first.transaction), SharedRateLimiter(second.transaction)]
        local = LocalRateLimiter()
        now = START.timestamp()
        answers = []
        for i, at in enumerate([0, 0, 0, 0, 0.25, 0.5, 0.5, 2.0]):
            got = shared[i % 2].check(token_id, limits, now=now + at)
            assert got == local.check(token_id, limits, now=now + at)
            answers.append((got.admitted, got.retry_after))
        assert answers == [
            (True, 0), (True, 0), (True, 0),  # the burst
            (False, 1),  # due at +0.5
            (False, 1),
            (True, 0),  # +0.5: one more
            (False, 1),
            (True, 0),  # refilled
        ]  # fmt: skip
    finally:
        first.dispose()
        second.dispose()


def blocking_check(entered: threading.Event, release: threading.Event) -> Callable[..., None]:
    """A user check (the runtime's injection point) that holds its request until released."""

    def check(doc: Any) -> None:
        if doc.get("userName") == "slow":
            entered.set()
            assert release.wait(10), "the test never released the slow request"
        if doc.get("userName") == "boom":
            raise RuntimeError("an unexpected failure inside the request")

    return check


def test_the_concurrency_cap_refuses_the_extra_request_and_frees_slots_on_every_exit(
    database: Database,
) -> None:
    clock = Clock()
    app = limited_app(database, clock, scim_max_concurrent=1)
    entered, release = threading.Event(), threading.Event()
    app.extensions["scim_bridge"].check_user = blocking_check(entered, release)
    token = new_token(database, "okta")
    answers: list[int] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            ScimClient(app.test_client(), token).post("/Users", user("slow")).status_code
        )
    )
    slow.start()
    try:
        assert entered.wait(10)
        client = ScimClient(app.test_client(), token)
        refused = client.post("/Users", user("other"))
        assert_throttled(refused, retry_after="1", naming="1 requests in progress")
    finally:
        release.set()
        slow.join(10)
    assert answers == [201]
    assert users_stored(database) == 1
    # Exits by a SCIM error, by an unexpected exception (500) and by a 429 all free the slot.
    assert client.post("/Users", {"schemas": []}).status_code == 400
    assert client.post("/Users", user("boom")).status_code == 500
    assert client.post("/Users", user("after")).status_code == 201


def test_a_tokens_own_concurrency_cap_overrides_the_default(database: Database) -> None:
    clock = Clock()
    app = limited_app(database, clock, scim_max_concurrent=1)
    entered, release = threading.Event(), threading.Event()
    app.extensions["scim_bridge"].check_user = blocking_check(entered, release)
    token = new_token(database, "okta", concurrent=2)
    slow = threading.Thread(
        target=lambda: ScimClient(app.test_client(), token).post("/Users", user("slow"))
    )
    slow.start()
    try:
        assert entered.wait(10)
        # Its own cap is 2: a second request runs beside the held one.
        assert ScimClient(app.test_client(), token).get("/Users").status_code == 200
    finally:
        release.set()
        slow.join(10)


def test_leased_permits_never_overspend_the_shared_budget(db_url: str) -> None:
    """Two processes leasing a few permits at a time admit exactly the burst, no more."""
    first, second = Database(db_url), Database(db_url)
    try:
        with first.write() as session:
            row, _ = create_token(session, "okta", now=START)
            token_id = row.id
        limits = Limits(rate_per_second=100, burst=22, max_concurrent=0)
        leasing = [
            LeasingRateLimiter(SharedRateLimiter(db.transaction), window=0.05)
            for db in (first, second)
        ]
        assert leasing[0].max_lease(limits) == 5  # 50 ms of 100/s, under burst / 4
        now = START.timestamp()
        answers = [leasing[i % 2].check(token_id, limits, now=now) for i in range(30)]
        assert sum(a.admitted for a in answers) == 22
        assert all(a.retry_after == 1 for a in answers if not a.admitted)
        # 55 ms later the leases have lapsed and 5 permits (not 6) have refilled.
        later = [leasing[i % 2].check(token_id, limits, now=now + 0.055) for i in range(10)]
        assert sum(a.admitted for a in later) == 5
    finally:
        first.dispose()
        second.dispose()


def test_spread_out_requests_lease_one_permit_at_a_time_and_waste_none(db_url: str) -> None:
    """33 requests per second against a rate of 100, alternating between two processes, each
    seeing one request per 60 ms (longer than a lease lives): leases stay at one permit, so
    none is wasted and none of the requests is refused (leases of 5 would charge 166/s)."""
    first, second = Database(db_url), Database(db_url)
    try:
        with first.write() as session:
            row, _ = create_token(session, "okta", now=START)
            token_id = row.id
        limits = Limits(rate_per_second=100, burst=20, max_concurrent=0)
        leasing = [
            LeasingRateLimiter(SharedRateLimiter(db.transaction), window=0.05)
            for db in (first, second)
        ]
        now = START.timestamp()
        answers = [leasing[i % 2].check(token_id, limits, now=now + i * 0.03) for i in range(60)]
        assert all(a.admitted for a in answers)
    finally:
        first.dispose()
        second.dispose()
