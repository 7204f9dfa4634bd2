"""The failures page: causes with their fix, a cause's letters, acting through action rows."""

from __future__ import annotations

from typing import Any

from console_support import csrf_of
from ops_support import actions, add_letter, bad_mobile_words, letters, pause_the_guard, queued
from sqlalchemy import select

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord
from scim_bridge.monitor.dead_letter_groups import group_key

WORDS = bad_mobile_words()
KEY = group_key("60103", WORDS)


def two_causes(database: Database) -> None:
    for i in range(3):
        add_letter(database, f"m{i}", code="60103", reason=WORDS, detail="手机号码不合法")
    add_letter(database, "e1", code="60106", reason="the e-mail address belongs to another")


def post_action(client: Any, page: str, **form: str) -> Any:
    token = csrf_of(client.get(page))
    return client.post("/admin/actions", data={"csrf_token": token, "back": page, **form})


def test_the_failures_page_groups_by_cause_with_reason_and_fix(
    as_admin: Any, database: Database
) -> None:
    two_causes(database)
    html = as_admin.get("/admin/failures").get_data(as_text=True)
    assert "Dead letters: 4 in 2 cause(s)" in html
    assert "DingTalk does not accept the mobile number" in html
    assert "Fix: give the user a valid mobile number in the IdP" in html
    assert f'data-group="{KEY}"' in html and f"/admin/failures/{KEY}" in html
    # An admin gets the buttons: retry all, retry each cause, drop each cause (confirmed).
    assert 'id="retry-all"' in html and f'value="group:{KEY}"' in html
    assert f"/admin/failures/drop?target=group:{KEY}" in html
    group = as_admin.get(f"/admin/failures/{KEY}").get_data(as_text=True)
    assert group.count('data-letter="') == 3 and "手机号码不合法" in group
    assert as_admin.get("/admin/failures/ffffffffffffffff").status_code == 404
    assert as_admin.get(f"/admin/failures/{KEY}?page=x").status_code == 400


def test_retry_a_group_is_an_audited_action_row_not_a_move(
    as_admin: Any, database: Database
) -> None:
    two_causes(database)
    answer = post_action(as_admin, "/admin/failures", kind="retry", target=f"group:{KEY}")
    assert answer.status_code == 302
    assert actions(database) == [("retry", f"group:{KEY}", "ada")]
    # The request moved nothing: the worker will.
    assert len(letters(database)) == 4 and queued(database) == []
    with database.read() as session:
        record = session.scalar(select(AuditRecord).where(AuditRecord.operation == "retry"))
    assert record is not None and record.actor == "console:ada"
    assert record.resource_id == f"group:{KEY}"
    html = as_admin.get("/admin/failures").get_data(as_text=True)
    assert "waiting for the worker" in html and 'data-waiting="1"' in html


def test_drop_needs_the_confirmation_step(as_admin: Any, database: Database) -> None:
    two_causes(database)
    # The generic form cannot drop: a drop is confirmed on its own page.
    assert post_action(as_admin, "/admin/failures", kind="drop", target="1").status_code == 400
    page = as_admin.get(f"/admin/failures/drop?target=group:{KEY}")
    assert "Drop 3 dead letter(s)?" in page.get_data(as_text=True)
    token = csrf_of(page)
    # The cause grew since the page was drawn: the count is asked again, nothing queued.
    add_letter(database, "m9", code="60103", reason=WORDS)
    again = as_admin.post(
        "/admin/failures/drop", data={"csrf_token": token, "target": f"group:{KEY}", "count": "3"}
    )
    assert again.status_code == 200 and "Drop 4 dead letter(s)?" in again.get_data(as_text=True)
    assert actions(database) == []
    done = as_admin.post(
        "/admin/failures/drop", data={"csrf_token": token, "target": f"group:{KEY}", "count": "4"}
    )
    assert done.status_code == 302
    assert actions(database) == [("drop", f"group:{KEY}@4", "ada")]
    assert len(letters(database)) == 5  # the worker drops them, not the request


def test_dropping_one_letter_is_confirmed_too(as_admin: Any, database: Database) -> None:
    letter = add_letter(database, "m1", code="60103", reason=WORDS)
    page = as_admin.get(f"/admin/failures/drop?target={letter}")
    assert "Drop 1 dead letter(s)?" in page.get_data(as_text=True)
    assert as_admin.get("/admin/failures/drop?target=9999").status_code == 404
    assert as_admin.get("/admin/failures/drop?target=all").status_code == 400


def test_the_guard_pause_is_shown_with_confirm_and_reject(
    as_admin: Any, database: Database
) -> None:
    token = pause_the_guard(database)
    html = as_admin.get("/admin/failures").get_data(as_text=True)
    assert "12 of 20 people" in " ".join(html.split())
    assert 'id="guard-confirm"' in html and 'id="guard-reject"' in html
    assert f'name="target" value="{token}"' in html
    assert "12 removal(s) counted" in html
    post_action(as_admin, "/admin/failures", kind="guard_reject", target=token)
    assert actions(database) == [("guard_reject", token, "ada")]


def test_a_viewer_sees_no_button_and_is_refused(as_viewer: Any, database: Database) -> None:
    two_causes(database)
    token = pause_the_guard(database)
    html = as_viewer.get("/admin/failures").get_data(as_text=True)
    assert "DingTalk does not accept the mobile number" in html
    assert "<button" not in html.split("</header>")[1] and "Drop…" not in html
    group = as_viewer.get(f"/admin/failures/{KEY}").get_data(as_text=True)
    assert "<button" not in group.split("</header>")[1]
    csrf = csrf_of(as_viewer.get("/admin/failures"))
    for kind, target in (("retry", f"group:{KEY}"), ("guard_confirm", token)):
        refused = as_viewer.post(
            "/admin/actions", data={"csrf_token": csrf, "kind": kind, "target": target}
        )
        assert refused.status_code == 403
    dropped = as_viewer.post(
        "/admin/failures/drop", data={"csrf_token": csrf, "target": f"group:{KEY}", "count": "3"}
    )
    assert dropped.status_code == 403
    assert actions(database) == []


def test_a_form_without_the_csrf_token_is_refused(as_admin: Any, database: Database) -> None:
    two_causes(database)
    forged = as_admin.post("/admin/actions", data={"kind": "retry", "target": f"group:{KEY}"})
    assert forged.status_code == 403
    forged_drop = as_admin.post(
        "/admin/failures/drop", data={"target": f"group:{KEY}", "count": "3"}
    )
    assert forged_drop.status_code == 403
    assert actions(database) == []


def test_the_new_pages_carry_the_headers_and_no_inline_script(
    as_admin: Any, database: Database
) -> None:
    from scim_bridge.http.admin import SECURITY_HEADERS

    two_causes(database)
    post_action(as_admin, "/admin/failures", kind="retry", target="all")  # the refresh script
    for path in ("/admin/failures", f"/admin/failures/{KEY}", "/admin/changes",
                 f"/admin/failures/drop?target=group:{KEY}"):  # fmt: skip
        answer = as_admin.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (path, name)
        html = answer.get_data(as_text=True)
        for tag in html.split("<script")[1:]:
            assert "src=" in tag.split(">")[0] and tag.split(">", 1)[1].startswith("</script")
        assert "onclick" not in html and "javascript:" not in html
