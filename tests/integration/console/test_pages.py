"""Console pages: headers on every one, figures from the store, and no DingTalk call from any
request (issue 13). The sandbox view's own tests are in test_sandbox_pages.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from console_support import T0, Clock, add_account, csrf_of, sign_in

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, OutboxEntry
from scim_bridge.http.admin import SECURITY_HEADERS
from scim_bridge.settings import Settings

PAGES = (
    "/",
    "/admin/login",
    "/admin/",
    "/admin/overview.json",
    "/admin/sandbox",
    "/admin/static/console.css",
    "/admin/static/overview.js",
    "/admin/no-such-page",
)


class Recorder(BaseHTTPRequestHandler):
    """Stands where DingTalk would be: answers 500 and remembers every request."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass
class FakeDingTalk:
    """Where the settings say DingTalk is, and what it was asked."""

    url: str
    seen: list[str]


@pytest.fixture
def fake_dingtalk() -> Iterator[FakeDingTalk]:
    """A local server standing where DingTalk would be, recording every request."""
    seen: list[str] = []
    handler = type("Rec", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeDingTalk(f"http://127.0.0.1:{server.server_address[1]}", seen)
    server.shutdown()
    server.server_close()


def get(client: Any, path: str) -> Any:
    """GET a page and close the response (static files are streamed from disk)."""
    with client.get(path) as answer:
        answer.get_data()
        return answer


def test_every_console_page_carries_the_security_headers(as_admin: Any) -> None:
    for path in PAGES:
        answer = get(as_admin, path)
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (path, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src 'self'" in csp


def test_pages_hold_no_inline_script(as_admin: Any) -> None:
    for path in ("/admin/", "/admin/login"):
        html = as_admin.get(path).get_data(as_text=True)
        for tag in html.split("<script")[1:]:
            assert "src=" in tag.split(">")[0] and tag.split(">", 1)[1].startswith("</script")
        assert "onclick" not in html and "javascript:" not in html


def test_the_overview_shows_the_store_figures(
    as_admin: Any, database: Database, clock: Clock
) -> None:
    with database.write() as session:
        session.add(
            OutboxEntry(
                resource_type="User",
                resource_id="u1",
                changed_at=T0,
                first_changed_at=T0 - timedelta(seconds=90),
                available_at=T0,
            )
        )
        session.add(
            DeadLetter(resource_type="User", resource_id="u2", reason="no mobile", created_at=T0)
        )
    data = as_admin.get("/admin/overview.json").get_json()
    assert data["outbox_depth"] == 1
    assert data["dead_letters"] == 1
    assert data["sync_lag_seconds"] == 90.0
    # Nothing measured yet; no alert is open (test_overview_parts.py shows them filled in).
    texts = [p["text"] for p in data["placeholders"]]
    assert texts == ["not measured yet", "none open", "not measured yet"]
    page = as_admin.get("/admin/").get_data(as_text=True)
    assert 'data-field="dead_letters">1<' in page


def test_the_overview_lists_each_idp_and_when_it_last_called(
    console_app: Any, as_admin: Any, token: str
) -> None:
    assert as_admin.get("/admin/overview.json").get_json()["idps"][0]["last_used_at"] is None
    scim = console_app.test_client()
    assert (
        scim.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    idp = as_admin.get("/admin/overview.json").get_json()["idps"][0]
    assert idp["token"] == "test-idp" and idp["last_used_at"] is not None


def test_no_page_calls_dingtalk(
    settings: Settings, database: Database, clock: Clock, fake_dingtalk: FakeDingTalk
) -> None:
    add_account(database, "ada")
    wired = settings.replace(
        dingtalk_base_url=fake_dingtalk.url,
        dingtalk_api_url=fake_dingtalk.url,
        dingtalk_app_key="k",
        dingtalk_app_secret="s",
    )
    client = create_app(wired, db=database, clock=clock).test_client()
    assert sign_in(client, "ada").status_code == 302
    for path in PAGES:
        assert get(client, path).status_code in (200, 302, 404), path
    page = client.get("/admin/")
    client.post(
        "/admin/actions",
        data={"csrf_token": csrf_of(page), "kind": "sync_now", "target": "someone"},
    )
    assert fake_dingtalk.seen == []
