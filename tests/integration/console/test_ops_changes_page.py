"""The changes page: the stored plan preview, the last reconcile's drift, the mapping's check."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from console_support import T0, Clock, add_account, csrf_of, sign_in
from ops_support import actions, add_letter, ask, bad_mobile_words, recording_dingtalk
from ops_support import rules as default_rules

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ReconcileRun
from scim_bridge.mapping.project import project_directory
from scim_bridge.monitor.dead_letter_groups import group_key
from scim_bridge.settings import Settings
from scim_bridge.sync.console_actions import ActionTools, carry_out_actions
from scim_bridge.sync.dryrun import current_from_links, load_directory
from scim_bridge.sync.plan import plan
from scim_bridge.sync.plan_render import plan_dict


def a_reconcile(database: Database) -> int:
    with database.write() as session:
        run = ReconcileRun(
            started_at=T0 - timedelta(minutes=30), finished_at=T0 - timedelta(minutes=29),
            lease_expires_at=T0, holder="h", status="done", mode="full", trigger="schedule",
            applied=False, compared=40, accuracy_percent=95.0,
            drift={"field_mismatch": 2, "missing_in_dingtalk": 1},
            calls_estimated=10, calls_made=10,
        )  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


def test_the_changes_page_shows_what_plan_lists(
    as_admin: Any, database: Database, scim: Any
) -> None:
    html = as_admin.get("/admin/changes").get_data(as_text=True)
    assert 'id="no-preview"' in html and 'id="compute-plan"' in html
    assert 'id="mapping-ok"' in html
    for i in range(4):
        body = {"userName": f"p{i}@example.com", "displayName": f"P {i}",
                "title": "Engineer", "phoneNumbers": [{"value": f"1390000000{i}"}]}  # fmt: skip
        assert scim.post("/Users", body).status_code == 201
    token = csrf_of(as_admin.get("/admin/changes"))
    as_admin.post(
        "/admin/actions",
        data={"csrf_token": token, "kind": "plan", "target": "preview", "back": "/admin/changes"},
    )
    assert actions(database) == [("plan", "preview", "ada")]
    waiting = as_admin.get("/admin/changes").get_data(as_text=True)
    assert "waiting for the worker" in waiting and 'id="no-preview"' in waiting
    tools = ActionTools(rules=default_rules)
    carry_out_actions(database, clock=Clock(), wake=lambda: None, tools=tools)
    html = as_admin.get("/admin/changes").get_data(as_text=True)
    users, groups = load_directory(database)
    expected = plan_dict(
        plan(project_directory(users, groups, default_rules()), current_from_links(database))
    )
    total = len(expected["steps"])
    assert f'data-field="plan-total">{total}<' in html
    for step in expected["steps"]:
        assert step["name"] in html
    for target, kinds in expected["totals"].items():
        if target == "calls":
            continue
        for kind, count in kinds.items():
            kind_html = html.split(f'data-kind="{target}.{kind}"')[1]
            assert f'data-field="count">{count}<' in kind_html
    assert "&#34;Engineer&#34;" in html  # a field diff, escaped
    assert "The mapping changed since" not in html


def test_the_last_reconciles_drift_has_apply(as_admin: Any, database: Database) -> None:
    run_id = a_reconcile(database)
    html = as_admin.get("/admin/changes").get_data(as_text=True)
    assert 'data-drift="field_mismatch"' in html and 'data-drift="missing_in_dingtalk"' in html
    assert "finished 29 minutes ago" in html
    assert f'value="reconcile:{run_id}"' in html and 'id="apply-drift"' in html


def test_a_broken_mapping_file_is_shown_with_its_problems(
    console_settings: Settings, database: Database, clock: Clock, tmp_path: Path
) -> None:
    broken = tmp_path / "mapping.yaml"
    broken.write_text("guard:\n  max_removal_percent: lots\n", encoding="utf-8")
    add_account(database, "ada")
    app = create_app(console_settings.replace(mapping_file=str(broken)), db=database, clock=clock)
    client = app.test_client()
    assert sign_in(client, "ada").status_code == 302
    answer = client.get("/admin/changes")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "problem(s)" in html and "max_removal_percent" in html


def test_a_viewer_sees_the_changes_page_without_buttons(as_viewer: Any, database: Database) -> None:
    a_reconcile(database)
    html = as_viewer.get("/admin/changes").get_data(as_text=True)
    assert 'data-drift="field_mismatch"' in html
    assert "<button" not in html.split("</header>")[1]
    token = csrf_of(as_viewer.get("/admin/changes"))
    refused = as_viewer.post(
        "/admin/actions", data={"csrf_token": token, "kind": "apply", "target": "reconcile:1"}
    )
    assert refused.status_code == 403 and actions(database) == []


def test_no_failures_or_changes_page_calls_dingtalk(
    settings: Settings, database: Database, clock: Clock
) -> None:
    add_account(database, "ada")
    add_letter(database, "m1", code="60103", reason=bad_mobile_words())
    a_reconcile(database)
    ask(database, "plan", "preview")
    carry_out_actions(
        database, clock=clock, wake=lambda: None, tools=ActionTools(rules=default_rules)
    )
    key = group_key("60103", bad_mobile_words())
    with recording_dingtalk() as (url, seen):
        wired = settings.replace(
            dingtalk_base_url=url, dingtalk_api_url=url,
            dingtalk_app_key="k", dingtalk_app_secret="s",
        )  # fmt: skip
        client = create_app(wired, db=database, clock=clock).test_client()
        assert sign_in(client, "ada").status_code == 302
        for path in ("/admin/failures", f"/admin/failures/{key}", "/admin/changes",
                     f"/admin/failures/drop?target=group:{key}"):  # fmt: skip
            assert client.get(path).status_code == 200, path
        token = csrf_of(client.get("/admin/failures"))
        for kind, target in (("retry", f"group:{key}"), ("apply", "reconcile:1")):
            client.post(
                "/admin/actions", data={"csrf_token": token, "kind": kind, "target": target}
            )
        client.post(
            "/admin/failures/drop",
            data={"csrf_token": token, "target": f"group:{key}", "count": "1"},
        )
    assert seen == []
    assert [a[0] for a in actions(database)] == ["plan", "retry", "apply", "drop"]
