"""/metrics through the Flask test client: HTTP families, database gauges, the outbox's first
unapplied change time, and the bearer protection (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitor_support import T0, Clock
from sqlalchemy import select

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, DeadLetter, OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed, mark_changed_on
from scim_bridge.directory.prepared import Cursor
from scim_bridge.monitor.metrics import parse, total
from scim_bridge.settings import MASK, Settings

USER_ROUTE = "/scim/v2/Users/<resource_id>"


def user(name: str) -> dict[str, Any]:
    return {"userName": f"{name}@example.com", "name": {"givenName": name, "familyName": "X"}}


@pytest.fixture
def app(settings: Settings, database: Database, clock: Clock) -> Any:
    """The app of conftest, on a clock the test moves."""
    return create_app(settings, db=database, clock=clock)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def scrape(client: Any, **headers: str) -> Any:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.data
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return parse(answer.data)


def test_requests_are_counted_by_route_template_never_by_raw_path(client: Any, scim: Any) -> None:
    ids = [scim.post("/Users", user(name)).json["id"] for name in ("ada", "bob")]
    for uid in ids:
        assert scim.get(f"/Users/{uid}").status_code == 200
    assert scim.get("/Users/no-such-id").status_code == 404
    assert client.get("/no/such/thing/42").status_code == 404

    parsed = scrape(client)
    requests_total = "scim_bridge_http_requests_total"
    assert total(parsed, requests_total, method="GET", endpoint=USER_ROUTE, status="200") == 2
    assert total(parsed, requests_total, method="GET", endpoint=USER_ROUTE, status="404") == 1
    assert total(parsed, requests_total, method="POST", status="201") == 2
    assert total(parsed, requests_total, endpoint="<unmatched>", status="404") == 1
    endpoints = {labels["endpoint"] for name, labels, _ in parsed if name == requests_total}
    assert not any(uid in endpoint for uid in ids for endpoint in endpoints)
    assert "/no/such/thing/42" not in endpoints
    duration = "scim_bridge_http_request_duration_seconds_count"
    assert total(parsed, duration, method="GET", endpoint=USER_ROUTE) == 3
    assert total(parsed, duration) == 6


def test_outbox_gauges_count_waiting_changes_from_their_first_commit(
    client: Any, scim: Any, clock: Clock
) -> None:
    ada = scim.post("/Users", user("ada")).json
    clock.now = T0 + timedelta(seconds=30)
    scim.post("/Users", user("bob"))
    # A second change to ada does not make her change look younger.
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Lead"}],
    }
    assert scim.patch(f"/Users/{ada['id']}", patch).status_code == 200
    clock.now = T0 + timedelta(seconds=100)

    parsed = scrape(client)
    assert total(parsed, "scim_bridge_outbox_depth") == 2
    # Per priority lane (issue 14): ada's edit lifted her pending row into the update lane.
    age = "scim_bridge_outbox_oldest_age_seconds"
    assert total(parsed, age, lane="update") == 100
    assert total(parsed, age, lane="bulk") == 70
    assert total(parsed, age, lane="deprovision") == 0
    assert total(parsed, "scim_bridge_dead_letters") == 0
    assert total(parsed, "scim_bridge_guard_paused") == 0
    assert total(parsed, "scim_bridge_database_up") == 1


def test_dead_letters_and_guard_pause_are_read_from_the_database(
    client: Any, database: Database
) -> None:
    with database.write() as session:
        for rid in ("u1", "u2", "u3"):
            letter = DeadLetter(resource_type="User", resource_id=rid, reason="bad", created_at=T0)
            session.add(letter)
        session.add(BridgeState(key="guard.paused", value={"reason": "burst"}, updated_at=T0))
    parsed = scrape(client)
    assert total(parsed, "scim_bridge_dead_letters") == 3
    assert total(parsed, "scim_bridge_guard_paused") == 1
    assert total(parsed, "scim_bridge_outbox_oldest_age_seconds") == 0  # nothing waits


@pytest.mark.parametrize("path", ["session", "cursor"])
def test_a_bump_keeps_the_first_unapplied_change_time(database: Database, path: str) -> None:
    def change(now: datetime) -> None:
        with database.write() as session:
            if path == "session":
                mark_changed(session, "User", ["u1"], actor="idp", now=now, lane=Lane.UPDATE)
            else:
                mark_changed_on(
                    Cursor.of(session), "User", ["u1"], actor="idp", now=now, lane=Lane.UPDATE
                )

    change(T0)
    change(T0 + timedelta(seconds=5))
    change(T0 + timedelta(seconds=9))
    with database.read() as session:
        row = session.scalars(select(OutboxEntry)).one()
    assert row.seq == 3
    assert row.first_changed_at.replace(tzinfo=UTC) == T0
    assert row.changed_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=9)


def test_metrics_token_is_required_when_set_and_masked_in_config_show(
    db_url: str, database: Database
) -> None:
    settings = Settings(database_url=db_url, metrics_token="scrape-secret-123")
    client = create_app(settings, db=database).test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"scrape-secret-123" not in wrong.data
    parsed = scrape(client, Authorization="Bearer scrape-secret-123")
    assert total(parsed, "scim_bridge_http_requests_total", status="401") == 2
    assert settings.masked()["metrics_token"] == MASK
    assert "scrape-secret-123" not in repr(settings)


def test_metrics_can_be_turned_off(db_url: str, database: Database) -> None:
    client = create_app(Settings(database_url=db_url, metrics_enabled=False), db=database)
    assert client.test_client().get("/metrics").status_code == 404


def test_a_database_that_does_not_answer_gives_database_up_zero_not_a_500(
    tmp_path: Any,
) -> None:
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    url = f"sqlite:///{folder}"
    client = create_app(Settings(database_url=url), db=Database(url)).test_client()
    parsed = scrape(client)
    assert total(parsed, "scim_bridge_database_up") == 0
    assert not [name for name, _, _ in parsed if name == "scim_bridge_outbox_depth"]


def test_a_change_made_while_the_worker_applied_the_row_counts_from_the_claim(
    database: Database,
) -> None:
    from scim_bridge.sync import claims

    with database.write() as session:
        mark_changed(session, "User", ["u1"], actor="idp", now=T0, lane=Lane.UPDATE)
    claimed_at = T0 + timedelta(seconds=10)
    with database.write() as session:
        (claim,) = claims.claim_batch(
            session, owner="w", now=claimed_at, limit=5, lease=timedelta(seconds=60)
        )
    assert claim.first_changed_at is not None
    assert claim.first_changed_at.replace(tzinfo=UTC) == T0
    with database.write() as session:  # the IdP changes u1 again while it is being applied
        mark_changed(
            session, "User", ["u1"], actor="idp", now=T0 + timedelta(seconds=12), lane=Lane.UPDATE
        )
    with database.write() as session:
        assert not claims.complete(session, claim, owner="w")
    with database.read() as session:
        row = session.scalars(select(OutboxEntry)).one()
    # What was applied is applied; what waits is measured from the claim (never later).
    assert row.first_changed_at.replace(tzinfo=UTC) == claimed_at
    assert row.lease_owner is None
