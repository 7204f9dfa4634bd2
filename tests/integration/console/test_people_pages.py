"""The console's person page (issue 13): `explain` made visual from the store alone, and
"Sync now" queued for the worker, its outcome shown when it lands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import test_pages
from console_support import add_account, csrf_of, sign_in
from dingtalk_client_fixtures import emulator_client
from people_support import PATCH, HeldClock, add_mobile, person
from scim_client import ScimClient
from sqlalchemy import delete, select
from test_pages import FakeDingTalk

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, ConsoleAction, GuardRemoval, Link, OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.monitor import guard_state
from scim_bridge.settings import Settings
from scim_bridge.sync.console_actions import carry_out_actions
from scim_bridge.sync.worker import Worker, WorkerConfig

#: The local server standing where DingTalk would be, recording every request (test_pages.py).
fake_dingtalk = test_pages.fake_dingtalk


@pytest.fixture
def clock() -> HeldClock:
    """The app's, the worker's and the pages' clock, held (conftest's console_app uses it)."""
    return HeldClock()


@pytest.fixture
def idp(console_app: Any, token: str) -> ScimClient:
    """The IdP: SCIM requests to the same app (its writes stamped by the held clock)."""
    return ScimClient(console_app.test_client(), token)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def dingtalk(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    made = emulator_client(emulator, sleep=lambda _s: None, throttle_retries=0, transient_retries=0)
    yield made
    made.close()


@pytest.fixture
def worker(
    console_settings: Settings, database: Database, dingtalk: DingTalkClient, clock: HeldClock
) -> Worker:
    return build_worker(
        console_settings, database, client=dingtalk, clock=clock, config=WorkerConfig(threads=1)
    )


@pytest.fixture
def sync(worker: Worker, database: Database, clock: HeldClock) -> Any:
    """What the worker does next, at once: carry out console actions, then drain the outbox."""

    def run() -> None:
        carry_out_actions(database, clock=clock, wake=lambda: None)
        worker.run_until_idle()

    return run


def page(client: Any, scim_id: str) -> str:
    answer = client.get(f"/admin/people/{scim_id}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_data(as_text=True))


def status(client: Any, scim_id: str) -> dict[str, Any]:
    answer = client.get(f"/admin/people/{scim_id}/status.json")
    assert answer.status_code == 200
    return dict(answer.get_json())


def test_a_blocked_person_fixed_in_the_idp_and_synced_now_shows_up_to_date(
    as_admin: Any, idp: ScimClient, sync: Any, database: Database, emulator: RunningEmulator
) -> None:
    scim_id = idp.post("/Users", person("liam", mobile=False)).get_json()["id"]
    sync()
    html = page(as_admin, scim_id)
    assert 'data-kind="blocked"' in html
    assert "blocked: no mobile number — fix it in the IdP" in html
    assert 'id="phones">none<' in html
    assert status(as_admin, scim_id)["verdict"]["kind"] == "blocked"

    assert idp.patch(f"/Users/{scim_id}", add_mobile("+86 13912345678")).status_code == 200
    form = {"csrf_token": csrf_of(as_admin.get(f"/admin/people/{scim_id}"))}
    answer = as_admin.post(f"/admin/people/{scim_id}/sync", data=form)
    assert answer.status_code == 302 and answer.location.endswith(f"/admin/people/{scim_id}")
    with database.read() as session:
        actions = session.scalars(select(ConsoleAction))
        queued = [(a.kind, a.target, a.requested_by) for a in actions]
    assert queued == [("sync_now", scim_id, "ada")]
    before = status(as_admin, scim_id)
    assert before["action"]["state"] == "waiting"
    assert before["verdict"]["kind"] == "waiting"  # the PATCH queued the person already

    sync()  # the worker carries out the action, then the translator projects the person
    after = status(as_admin, scim_id)
    assert after["action"]["state"] == "done"
    assert after["action"]["words"] == "done: queued for DingTalk"
    assert after["verdict"] == {
        "kind": "up_to_date",
        "sentence": "in DingTalk and up to date (as last applied)",
        "settled": True,
    }
    html = page(as_admin, scim_id)
    assert 'data-kind="up_to_date"' in html and "13912345678" in html
    assert "13912345678" in emulator.emulator.users()["liam"]["mobile"]


def replace(**values: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "value": values}]}


def test_the_page_shows_each_verdict_coloured_by_its_kind(
    as_admin: Any,
    idp: ScimClient,
    sync: Any,
    worker: Worker,
    database: Database,
    emulator: RunningEmulator,
    clock: HeldClock,
) -> None:
    ids = {n: idp.post("/Users", person(n, mobile=n != "bo", title="Engineer")).get_json()["id"]
           for n in ("una", "bo", "rex", "dru", "pia")}  # fmt: skip
    sync()
    emulator.emulator.configure(fail_rate=1.0, fault_kinds=("http500",))
    worker.config.max_attempts = 1
    ids["fay"] = idp.post("/Users", person("fay")).get_json()["id"]
    sync()
    emulator.emulator.configure(fail_rate=0.0)
    idp.patch(f"/Users/{ids['rex']}", replace(active=False))
    sync()
    ids["walt"] = idp.post("/Users", person("walt")).get_json()["id"]
    ids["mia"] = idp.post("/Users", person("mia")).get_json()["id"]
    with database.write() as session:
        # The mapping now wants another title than the one last applied: drift.
        link = session.scalar(select(Link).where(Link.kind == "user", Link.key == ids["dru"]))
        assert link is not None and link.snapshot is not None
        link.snapshot = {**link.snapshot, "title": "Intern"}
        # The guard holds back a removal of pia's (as sync/guard.py records it).
        session.add(BridgeState(
            key=guard_state.PAUSED, updated_at=clock(),
            value={"token": "G-7", "reason": "11 removals in 10 minutes", "since": "now"},
        ))  # fmt: skip
        session.add(GuardRemoval(scim_id=ids["pia"], proposed_at=clock()))
        mark_changed(
            session, "User", [ids["pia"]], actor="test", now=clock(), lane=Lane.DEPROVISION
        )
        # mia's change was lost (someone cleared the outbox): nothing brings her to DingTalk.
        session.execute(delete(OutboxEntry).where(OutboxEntry.resource_id == ids["mia"]))
    expected = {
        "una": ("up_to_date", "in DingTalk and up to date (as last applied)"),
        "bo": ("blocked", "blocked: no mobile number — fix it in the IdP"),
        "fay": ("failed", "failed: DingTalk answered with a server error (HTTP 500)"),
        "rex": ("removed", "removed from DingTalk (leaver)"),
        "dru": ("drift", "drift: the mapping now wants a change in title"),
        "pia": ("paused", "paused by the mass-change guard — confirm with `scim-bridge guard "
                          "confirm G-7`"),
        "walt": ("waiting", "waiting: queued, the next free worker sends it"),
        "mia": ("missing", "not in DingTalk and nothing queued"),
    }  # fmt: skip
    for name, (kind, words) in expected.items():
        html = page(as_admin, ids[name])
        assert f'class="verdict verdict-{kind}"' in html, name
        assert words in html, (name, html[html.index('data-field="verdict"') :][:200])
    drift = page(as_admin, ids["dru"])
    row = drift[drift.index('<tr class="differs">') :].split("</tr>")[0]
    assert "title" in row and "Engineer" in row and "Intern" in row
    assert page(as_admin, ids["fay"]).count('class="bad"') >= 1  # the dead letter's reason


def test_a_viewer_sees_the_page_without_the_button_and_cannot_sync(
    as_viewer: Any, as_admin: Any, idp: ScimClient, database: Database
) -> None:
    scim_id = idp.post("/Users", person("nia")).get_json()["id"]
    html = page(as_viewer, scim_id)
    assert 'id="sync-now"' not in html and "only admins can ask for a sync" in html
    assert 'id="sync-now"' in page(as_admin, scim_id)
    answer = as_viewer.post(
        f"/admin/people/{scim_id}/sync", data={"csrf_token": csrf_of(as_viewer.get("/admin/"))}
    )
    assert answer.status_code == 403
    assert "viewers see, only admins act" in answer.get_data(as_text=True)
    forged = as_admin.post(f"/admin/people/{scim_id}/sync", data={})
    assert forged.status_code == 403 and "security token" in forged.get_data(as_text=True)
    with database.read() as session:
        assert session.scalar(select(ConsoleAction.id)) is None


def test_an_unknown_person_is_a_404_page_and_nothing_is_queued(
    as_admin: Any, database: Database
) -> None:
    for path in ("/admin/people/nobody", "/admin/people/nobody/status.json"):
        answer = as_admin.get(path)
        assert answer.status_code == 404
        assert "no user is known as &#39;nobody&#39;" in answer.get_data(as_text=True)
    token = csrf_of(as_admin.get("/admin/"))
    assert as_admin.post("/admin/people/nobody/sync", data={"csrf_token": token}).status_code == 404
    with database.read() as session:
        assert session.scalar(select(ConsoleAction.id)) is None


def test_the_poll_does_not_keep_an_idle_session_alive(
    as_admin: Any, idp: ScimClient, clock: HeldClock, console_settings: Settings
) -> None:
    scim_id = idp.post("/Users", person("ola")).get_json()["id"]
    idle = console_settings.admin_session_idle_minutes
    clock.advance(minutes=idle - 1)
    assert as_admin.get(f"/admin/people/{scim_id}/status.json").status_code == 200
    clock.advance(minutes=2)  # only polls since the last page: the session has gone idle
    answer = as_admin.get(f"/admin/people/{scim_id}/status.json")
    assert answer.status_code == 302 and "/admin/login" in answer.location


def test_no_people_audit_or_report_page_calls_dingtalk(
    console_settings: Settings,
    database: Database,
    clock: HeldClock,
    token: str,
    fake_dingtalk: FakeDingTalk,
) -> None:
    wired = console_settings.replace(
        dingtalk_base_url=fake_dingtalk.url,
        dingtalk_api_url=fake_dingtalk.url,
        dingtalk_app_key="k",
        dingtalk_app_secret="s",
    )
    add_account(database, "ada")
    app = create_app(wired, db=database, clock=clock)
    scim_id = ScimClient(app.test_client(), token).post("/Users", person("zed")).get_json()["id"]
    client = app.test_client()
    assert sign_in(client, "ada").status_code == 302
    for path in (
        "/admin/people?q=zed",
        f"/admin/people/{scim_id}",
        f"/admin/people/{scim_id}/status.json",
        "/admin/audit?person=zed@example.com",
        "/admin/audit.csv",
        "/admin/reports/",
        "/admin/reports/sla?month=2026-11",
        "/admin/static/person.js",
        "/admin/static/poll.js",
        "/admin/static/people.css",
    ):
        with client.get(path) as answer:
            answer.get_data()
            assert answer.status_code == 200, path
    token_form = {"csrf_token": csrf_of(client.get(f"/admin/people/{scim_id}"))}
    assert client.post(f"/admin/people/{scim_id}/sync", data=token_form).status_code == 302
    assert fake_dingtalk.seen == []


def test_a_broken_mapping_file_is_a_page_saying_so_not_a_500(
    console_settings: Settings, database: Database, clock: HeldClock, token: str, tmp_path: Any
) -> None:
    broken = tmp_path / "mapping.yaml"
    broken.write_text("users: [this is not a mapping\n", encoding="utf-8")
    add_account(database, "ada")
    app = create_app(console_settings.replace(mapping_file=str(broken)), db=database, clock=clock)
    scim_id = ScimClient(app.test_client(), token).post("/Users", person("kim")).get_json()["id"]
    client = app.test_client()
    sign_in(client, "ada")
    answer = client.get(f"/admin/people/{scim_id}")
    assert answer.status_code == 400
    assert "the mapping file cannot be read" in answer.get_data(as_text=True)
    assert client.get("/admin/people?q=kim").status_code == 200  # the search needs no mapping


def test_a_person_deleted_in_the_idp_is_still_found_and_explained(
    as_admin: Any, idp: ScimClient, sync: Any
) -> None:
    scim_id = idp.post("/Users", person("gus")).get_json()["id"]
    sync()
    assert idp.delete(f"/Users/{scim_id}").status_code == 204
    sync()
    found = as_admin.get("/admin/people?q=gus").get_data(as_text=True)
    assert f'data-scim-id="{scim_id}"' in found and "(deleted in the IdP)" in found
    html = page(as_admin, scim_id)
    assert 'class="verdict verdict-removed"' in html
    assert "removed from DingTalk (deleted in the IdP)" in html
    assert "Deleted in the IdP; the bridge remembers the person" in html
    assert "DELETE 204" in html  # the IdP's DELETE, on the timeline


def test_sync_now_by_username_queues_the_scim_id(
    as_admin: Any, idp: ScimClient, database: Database
) -> None:
    scim_id = idp.post("/Users", person("ray")).get_json()["id"]
    html = page(as_admin, "ray@example.com")  # the page takes any name `explain` takes
    assert (
        f"/admin/people/{scim_id}/sync" in html and f"/admin/people/{scim_id}/status.json" in html
    )
    token = {"csrf_token": csrf_of(as_admin.get("/admin/"))}
    answer = as_admin.post("/admin/people/ray@example.com/sync", data=token)
    assert answer.location.endswith(f"/admin/people/{scim_id}")
    with database.read() as session:
        assert list(session.scalars(select(ConsoleAction.target))) == [scim_id]
