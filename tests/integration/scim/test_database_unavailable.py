"""A database that cannot be reached answers 503 with Retry-After, never 500 (issue 14).

During a PostgreSQL restart or failover an IdP should wait and send the same change again;
a 500 reads as a bug of ours and counts against the app in Entra's provisioning health.
"""

from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy import text

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.http.runtime import utc_now
from scim_bridge.settings import Settings


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/scim/v2/Users"), ("POST", "/scim/v2/Users"), ("GET", "/scim/v2/Groups/x")],
)
def test_an_unreachable_database_answers_503_with_retry_after(
    method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # PostgreSQL restarting (SQLite is a file: it has no such outage). Nothing listens on the
    # port, so every connection is refused, as during a restart.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none?connect_timeout=2"
    database = Database(url)
    try:
        client = create_app(Settings(database_url=url), db=database).test_client()
        response = client.open(
            path,
            method=method,
            headers={"Authorization": "Bearer some-token"},
            json={"userName": "a@example.com"} if method == "POST" else None,
        )
    finally:
        database.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json(force=True)
    assert body["status"] == "503"
    assert body["detail"].startswith("the database is unavailable; retry in a few seconds")
    # The log line names the cause in one line, never a traceback.
    warnings = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert warnings and all(r.exc_info is None for r in warnings)


@pytest.mark.postgres
def test_a_connection_a_restart_broke_costs_one_503_and_the_retry_succeeds(
    postgres_url: str,
) -> None:
    # The API checks out connections without a ping (one round trip less per request): a
    # pooled connection a PostgreSQL restart broke fails one request with 503, SQLAlchemy
    # then drops the pool's older connections, and the IdP's retry is answered.
    tagged = f"{postgres_url}?application_name=scim-bridge-restart-test"
    admin = Database(postgres_url)
    with admin.write() as session:
        _row, token = create_token(session, f"restart-{uuid.uuid4().hex[:6]}", now=utc_now())
    app = create_app(Settings(database_url=tagged))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert client.get("/scim/v2/Users", headers=headers).status_code == 200  # pool warm
        with admin.write() as session:  # what a restart does to every open connection
            ended = session.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'scim-bridge-restart-test'"
                )
            ).scalar_one()
        assert ended >= 1
        first = client.get("/scim/v2/Users", headers=headers)
        retry = client.get("/scim/v2/Users", headers=headers)
    finally:
        app.extensions["scim_bridge"].db.dispose()
        admin.dispose()
    assert (first.status_code, first.headers.get("Retry-After")) == (503, "5")
    assert retry.status_code == 200
