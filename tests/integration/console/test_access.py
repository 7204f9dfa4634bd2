"""Console access: sign-in, throttling, session expiry, cookies, CSRF, roles (issue 13)."""

from __future__ import annotations

from typing import Any

from console_support import PASSWORD, Clock, csrf_of, sign_in
from sqlalchemy import func, select

from scim_bridge.app import create_app
from scim_bridge.directory import admins
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord, ConsoleAction
from scim_bridge.settings import Settings


def actions(database: Database) -> list[tuple[str, str, str]]:
    with database.read() as session:
        rows = session.scalars(select(ConsoleAction).order_by(ConsoleAction.id))
        return [(r.kind, r.target, r.requested_by) for r in rows]


def console_audit(database: Database) -> list[tuple[str, str, int]]:
    with database.read() as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.idp == "console").order_by(AuditRecord.id)
        )
        return [(r.actor, r.operation, r.status) for r in rows]


def test_root_and_console_send_a_stranger_to_the_sign_in_page(console_app: Any) -> None:
    client = console_app.test_client()
    assert client.get("/").headers["Location"] == "/admin/"
    answer = client.get("/admin/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/admin/login")
    assert client.get("/admin/overview.json").status_code == 302


def test_sign_in_opens_the_overview_and_is_audited(
    console_app: Any, database: Database, clock: Clock
) -> None:
    client = console_app.test_client()
    assert sign_in(client, "ada").headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Overview" in page.get_data(as_text=True)
    assert ("console:ada", "login", 200) in console_audit(database)
    with database.read() as session:
        assert admins.list_admins(session)[0].last_login_at is not None


def test_wrong_password_is_refused_and_counted(console_app: Any, database: Database) -> None:
    client = console_app.test_client()
    answer = sign_in(client, "ada", "not the password")
    assert answer.status_code == 401
    assert "Wrong name or password" in answer.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert ("console:ada", "login", 401) in console_audit(database)


def test_an_account_is_throttled_after_its_failures_even_with_the_right_password(
    console_app: Any, console_settings: Settings, database: Database, clock: Clock
) -> None:
    client = console_app.test_client()
    for _ in range(console_settings.admin_login_failures_per_account):
        assert sign_in(client, "ada", "guess").status_code == 401
    assert sign_in(client, "ada").status_code == 429
    # Another process (another app on the same database) sees the same count.
    other = create_app(console_settings, db=database, clock=clock).test_client()
    assert sign_in(other, "ada").status_code == 429
    # The viewer's account is not blocked by ada's failures.
    assert sign_in(other, "vic").status_code == 302
    clock.advance(minutes=console_settings.admin_login_window_minutes + 1)
    assert sign_in(client, "ada").status_code == 302


def test_an_address_is_throttled_across_account_names(
    console_app: Any, console_settings: Settings, clock: Clock
) -> None:
    client = console_app.test_client()
    # Two failures each for two accounts and one for an unknown name: no account reaches its
    # own limit (3), the address reaches its limit (5).
    for name in ("ada", "vic", "ada", "vic", "nobody"):
        assert sign_in(client, name, "guess").status_code == 401
    assert console_settings.admin_login_failures_per_address == 5
    assert sign_in(client, "vic").status_code == 429
    # From another address, the same account signs in.
    other = console_app.test_client()
    token = csrf_of(other.get("/admin/login", environ_base={"REMOTE_ADDR": "10.0.0.9"}))
    answer = other.post(
        "/admin/login",
        data={"csrf_token": token, "name": "vic", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert answer.status_code == 302


def test_an_idle_session_expires_and_activity_keeps_it(
    as_admin: Any, console_settings: Settings, clock: Clock
) -> None:
    idle = console_settings.admin_session_idle_minutes
    clock.advance(minutes=idle - 1)
    assert as_admin.get("/admin/").status_code == 200  # activity: the idle time restarts
    clock.advance(minutes=idle - 1)
    assert as_admin.get("/admin/").status_code == 200
    clock.advance(minutes=idle + 1)
    answer = as_admin.get("/admin/")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
    clock.advance(seconds=1)
    assert as_admin.get("/admin/").status_code == 302  # the session is gone, not just paused


def test_the_overview_poll_does_not_keep_an_abandoned_tab_signed_in(
    as_admin: Any, console_settings: Settings, clock: Clock
) -> None:
    idle = console_settings.admin_session_idle_minutes
    for _ in range(3):  # the script polls on and on; nobody opens a page
        clock.advance(minutes=idle / 2)
        as_admin.get("/admin/overview.json")
    assert as_admin.get("/admin/overview.json").status_code == 302
    assert as_admin.get("/admin/").status_code == 302


def test_a_disabled_account_loses_its_session(as_admin: Any, database: Database) -> None:
    with database.write() as session:
        admins.disable_admin(session, "ada")
    assert as_admin.get("/admin/").status_code == 302
    assert sign_in(as_admin, "ada").status_code == 401


def test_session_cookie_is_httponly_strict_and_secure_over_tls(console_app: Any) -> None:
    client = console_app.test_client()
    plain = client.get("/admin/login").headers["Set-Cookie"]
    assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Path=/admin" in plain
    assert "Secure" not in plain
    tls = console_app.test_client().get("/admin/login", base_url="https://bridge.example")
    assert "Secure" in tls.headers["Set-Cookie"]


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    as_admin: Any, database: Database
) -> None:
    form = {"kind": "retry", "target": "all", "back": "/admin/"}
    answer = as_admin.post("/admin/actions", data=form)
    assert answer.status_code == 403
    assert "security token" in answer.get_data(as_text=True)
    forged = as_admin.post("/admin/actions", data={**form, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert actions(database) == []


def test_the_sign_in_form_needs_its_csrf_token(console_app: Any) -> None:
    client = console_app.test_client()
    answer = client.post("/admin/login", data={"name": "ada", "password": PASSWORD})
    assert answer.status_code == 403
    assert client.get("/admin/").status_code == 302


def test_another_sessions_csrf_token_is_refused(console_app: Any, database: Database) -> None:
    first, second = console_app.test_client(), console_app.test_client()
    sign_in(first, "ada")
    sign_in(second, "ada")
    stolen = csrf_of(first.get("/admin/"))
    answer = second.post(
        "/admin/actions", data={"csrf_token": stolen, "kind": "retry", "target": "all"}
    )
    assert answer.status_code == 403
    assert actions(database) == []


def test_a_viewer_sees_but_cannot_act(as_viewer: Any, database: Database) -> None:
    page = as_viewer.get("/admin/")
    assert page.status_code == 200
    assert 'disabled title="viewers cannot act"' in page.get_data(as_text=True)
    answer = as_viewer.post(
        "/admin/actions",
        data={"csrf_token": csrf_of(page), "kind": "retry", "target": "all"},
    )
    assert answer.status_code == 403
    assert "viewers see, only admins act" in answer.get_data(as_text=True)
    assert actions(database) == []


def test_an_admin_action_becomes_a_row_for_the_worker_and_is_audited(
    as_admin: Any, database: Database
) -> None:
    page = as_admin.get("/admin/")
    answer = as_admin.post(
        "/admin/actions",
        data={"csrf_token": csrf_of(page), "kind": "retry", "target": "all", "back": "/admin/"},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/"
    assert actions(database) == [("retry", "all", "ada")]
    assert ("console:ada", "retry", 200) in console_audit(database)
    assert as_admin.get("/admin/overview.json").get_json()["pending_actions"] == 1


def test_an_unknown_action_is_a_400_page_and_changes_nothing(
    as_admin: Any, database: Database
) -> None:
    page = as_admin.get("/admin/")
    answer = as_admin.post(
        "/admin/actions", data={"csrf_token": csrf_of(page), "kind": "explode", "target": "all"}
    )
    assert answer.status_code == 400
    assert "unknown action" in answer.get_data(as_text=True)
    assert actions(database) == []
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ConsoleAction)) == 0


def test_sign_in_never_redirects_off_site(console_app: Any) -> None:
    client = console_app.test_client()
    token = csrf_of(client.get("/admin/login"))
    answer = client.post(
        "/admin/login?next=//evil.example/x",
        data={"csrf_token": token, "name": "ada", "password": PASSWORD},
    )
    assert answer.headers["Location"] == "/admin/"
