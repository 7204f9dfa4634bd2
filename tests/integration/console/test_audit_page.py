"""The console's audit search and CSV export (issue 13): every filter, newest first, paged,
and a streamed export that holds the same records and never a secret."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

from console_support import T0
from people_support import PATCH, person
from scim_client import ScimClient

from scim_bridge.directory.audit import DINGTALK_SIDE, canonical
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord
from scim_bridge.directory.tokens import create_token
from scim_bridge.monitor.audit import EXPORT_COLUMNS
from scim_bridge.monitor.audit_search import PAGE_SIZE

SECRET = "Tr0ub4dor&3-never-in-the-trail"


def token_for(database: Database, name: str, idp: str) -> str:
    with database.write() as session:
        _row, plaintext = create_token(session, name, idp=idp, now=datetime.now(UTC))
    return plaintext


def listed(client: Any, **filters: str) -> list[tuple[str, str, str]]:
    """Return (actor, resource, operation) of each row the search lists, in order."""
    answer = client.get("/admin/audit", query_string=filters)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    html = answer.get_data(as_text=True)
    rows = re.findall(r'<tr data-record="\d+"><td>[^<]*</td><td>([^<]*)</td><td>[^<]*</td>'
                      r"<td>([^<]*)</td>\s*<td>([^<]*)</td>", html)  # fmt: skip
    return [(a, r, o) for a, r, o in rows]


def exported(client: Any, **filters: str) -> tuple[Any, bool, list[list[str]]]:
    """GET the export; return the answer, whether it was streamed, and its CSV rows."""
    with client.get("/admin/audit.csv", query_string=filters, buffered=False) as answer:
        streamed = answer.is_streamed
        body = answer.get_data(as_text=True)
    return answer, streamed, list(csv.reader(io.StringIO(body)))


def setup_trail(console_app: Any, database: Database) -> dict[str, str]:
    tokens = [token_for(database, "okta-prod", "okta"), token_for(database, "entra-prod", "entra")]
    okta = ScimClient(console_app.test_client(), tokens[0])
    entra = ScimClient(console_app.test_client(), tokens[1])
    kate = okta.post("/Users", person("kate", password=SECRET)).get_json()["id"]
    okta.patch(
        f"/Users/{kate}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": SECRET}}]},
    )
    okta.patch(
        f"/Users/{kate}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"title": "Lead"}}]},
    )
    leo = entra.post("/Users", person("leo")).get_json()["id"]
    with database.write() as session:
        # What sync/dingtalk_audit.py writes when DingTalk refuses a call (status = errcode).
        session.add(
            AuditRecord(
                at=T0, actor="translator", idp=DINGTALK_SIDE, request_id="-", client=None,
                resource_type="User", resource_id=leo, operation="create", status=60121,
                detail=canonical({"dingtalk": {"outcome": "failed", "errcode": "60121"}}),
            )
        )  # fmt: skip
    return {"kate": kate, "leo": leo, "tokens": " ".join(tokens)}


def test_each_filter_selects_its_records_newest_first(
    as_admin: Any, console_app: Any, database: Database
) -> None:
    ids = setup_trail(console_app, database)
    kate, leo = f"User {ids['kate']}", f"User {ids['leo']}"
    assert listed(as_admin, actor="okta") == [
        ("okta-prod", kate, "PATCH"),
        ("okta-prod", kate, "PATCH"),
        ("okta-prod", kate, "POST"),
    ]
    assert [r[0] for r in listed(as_admin, idp="entra")] == ["entra-prod"]
    assert listed(as_admin, person="kate@example.com") == listed(as_admin, actor="okta-prod")
    assert listed(as_admin, person="leo@example.com")[0] == ("translator", leo, "create")
    assert len(listed(as_admin, operation="patch")) == 2  # methods in any case
    assert listed(as_admin, errcode="60121") == [("translator", leo, "create")]
    assert listed(as_admin, operation="login", actor="console:ada") == [
        ("console:ada", "Console -", "login")
    ]
    day = T0.date().isoformat()
    assert len(listed(as_admin, since=day, until=day)) == len(listed(as_admin))
    assert listed(as_admin, since="2026-12-08") == []
    assert listed(as_admin, until="2026-12-06T23:59") == []


def test_bad_filters_are_a_400_page_naming_the_field(as_admin: Any) -> None:
    for filters, words in (
        ({"since": "yesterday"}, "since &#39;yesterday&#39; is not a date or time"),
        ({"since": "2026-12-07", "until": "2026-12-01"}, "since must be before until"),
        ({"errcode": "abc"}, "errcode &#39;abc&#39; is not a number"),
        ({"person": "nobody"}, "person: no user is known as &#39;nobody&#39;"),
        ({"before": "x"}, "before &#39;x&#39; is not a record id"),
    ):
        answer = as_admin.get("/admin/audit", query_string=filters)
        assert answer.status_code == 400, filters
        assert words in answer.get_data(as_text=True), filters
    assert as_admin.get("/admin/audit.csv?person=nobody").status_code == 400


def test_pages_go_newest_first_without_repeating_a_record(
    as_admin: Any, console_app: Any, token: str
) -> None:
    idp = ScimClient(console_app.test_client(), token)
    for n in range(PAGE_SIZE + 5):
        idp.post("/Users", person(f"r{n:02d}", mobile=False))
    html = as_admin.get("/admin/audit?actor=test-idp").get_data(as_text=True)
    first = [int(i) for i in re.findall(r'data-record="(\d+)"', html)]
    assert len(first) == PAGE_SIZE and first == sorted(first, reverse=True)
    older = re.search(r'id="older" href="([^"]+)"', html)
    assert older is not None
    html = as_admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    rest = [int(i) for i in re.findall(r'data-record="(\d+)"', html)]
    assert len(rest) == 5 and max(rest) < min(first)
    assert 'id="older"' not in html


def test_the_csv_export_streams_the_filtered_records_and_no_secret(
    as_admin: Any, as_viewer: Any, console_app: Any, database: Database
) -> None:
    ids = setup_trail(console_app, database)
    answer, streamed, rows = exported(as_admin, person="kate@example.com")
    assert answer.status_code == 200 and streamed
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    assert rows[0] == list(EXPORT_COLUMNS)
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [r["operation"] for r in body] == ["POST", "PATCH", "PATCH"]  # oldest first
    assert {r["resource_id"] for r in body} == {ids["kate"]}
    assert all(json.loads(r["detail"]) for r in body)
    everything = as_admin.get("/admin/audit.csv").get_data(as_text=True)
    assert ids["leo"] in everything and "console:ada" in everything
    assert SECRET not in everything  # redacted on the way in: directory/audit.py
    assert "okta-prod" in everything and "scim_" not in everything.lower().replace(
        "scim_bridge", ""
    )
    assert as_viewer.get("/admin/audit.csv").status_code == 200  # viewers see everything


def test_a_cell_a_spreadsheet_would_run_is_exported_as_text(
    as_admin: Any, console_app: Any, token: str
) -> None:
    # X-Request-ID is the client's (a proxy's) to set, and lands in the trail as sent.
    formula = '=HYPERLINK("http://attacker.example/","open me")'
    idp = ScimClient(console_app.test_client(), token)
    idp.post("/Users", person("eve", mobile=False), **{"X-Request-ID": formula})
    _answer, _streamed, rows = exported(as_admin, person="eve@example.com")
    (row,) = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert row["request_id"] == "'" + formula
    assert not any(cell.startswith(("=", "+", "@")) for r in rows[1:] for cell in r)
