"""The console's people search (issue 13): every key an operator may have at hand, paged,
and each lookup served by an index (no scan of the directory per keystroke)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from console_support import T0
from people_support import person
from scim_client import ScimClient
from sqlalchemy import event

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link
from scim_bridge.monitor.people_search import PAGE_SIZE, search_people


def found(client: Any, q: str, **params: Any) -> list[str]:
    """Return the SCIM ids the search page lists, in order."""
    answer = client.get("/admin/people", query_string={"q": q, **params})
    assert answer.status_code == 200
    return re.findall(r'data-scim-id="([^"]+)"', answer.get_data(as_text=True))


def link(database: Database, scim_id: str, userid: str) -> None:
    with database.write() as session:
        session.add(
            Link(kind="user", key=scim_id, dingtalk_id=userid, state="synced", updated_at=T0)
        )


def test_a_person_is_found_by_each_key_and_the_page_says_how(
    as_admin: Any, console_app: Any, token: str, database: Database
) -> None:
    idp = ScimClient(console_app.test_client(), token)
    body = person("kate")
    body["phoneNumbers"] = [{"value": "+86 13812345678", "type": "mobile"}]
    kate = idp.post("/Users", body).get_json()["id"]
    other = idp.post("/Users", person("otto")).get_json()["id"]
    link(database, kate, "dt-kate-01")
    keys = {
        "Kate Tes": "name",  # displayName "Kate Tester", by prefix, any case
        "KATE@EXAMPLE.COM": "userName",
        "kate.work@": "e-mail",
        "13812345678": "mobile",  # typed without the +86 the IdP stored
        "+86 1381234": "mobile",
        "dt-kate": "DingTalk userid",
        kate: "SCIM id",
    }
    for q, how in keys.items():
        assert found(as_admin, q) == [kate], q
        html = as_admin.get("/admin/people", query_string={"q": q}).get_data(as_text=True)
        assert f'<td class="muted">{how}</td>' in html, q
    assert found(as_admin, "") == [kate, other]  # no query: everyone, by userName
    assert found(as_admin, "nobody") == []
    assert found(as_admin, "%") == [] and found(as_admin, "_ate") == []  # no wildcards


def test_results_are_paged(as_admin: Any, console_app: Any, token: str) -> None:
    idp = ScimClient(console_app.test_client(), token)
    for n in range(PAGE_SIZE + 3):
        idp.post("/Users", person(f"pat{n:02d}", mobile=False))
    first = found(as_admin, "pat")
    assert len(first) == PAGE_SIZE
    html = as_admin.get("/admin/people?q=pat").get_data(as_text=True)
    assert 'id="next"' in html and f"offset={PAGE_SIZE}" in html
    rest = found(as_admin, "pat", offset=PAGE_SIZE)
    assert len(rest) == 3 and not set(rest) & set(first)
    assert as_admin.get("/admin/people?offset=ten").status_code == 400


def test_groups_are_listed_with_their_member_counts(
    as_admin: Any, console_app: Any, token: str
) -> None:
    idp = ScimClient(console_app.test_client(), token)
    ids = [idp.post("/Users", person(f"m{n}")).get_json()["id"] for n in range(3)]
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}
    idp.post(
        "/Groups", {**group, "displayName": "Sales East", "members": [{"value": i} for i in ids]}
    )
    idp.post("/Groups", {**group, "displayName": "Support"})
    html = as_admin.get("/admin/people?q=sales").get_data(as_text=True)
    assert "<td>Sales East</td><td>3</td>" in html and "Support" not in html
    html = as_admin.get("/admin/people").get_data(as_text=True)
    assert "<td>Sales East</td><td>3</td>" in html and "<td>Support</td><td>0</td>" in html


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_every_lookup_of_a_search_uses_an_index(sqlite_template: Any, tmp_path: Any) -> None:
    # SQLite's planner says "SCAN t" for a full scan and "SEARCH t USING INDEX" otherwise.
    path = tmp_path / "plan.db"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database(f"sqlite:///{path}")
    try:
        with statements(database) as seen, database.read() as session:
            search_people(session, "13812345678")
            search_people(session, "Kate", offset=25)
        with database.engine.connect() as conn:
            for statement in seen:
                params = tuple("x" for _ in range(statement.count("?")))
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
                steps = " | ".join(str(row[-1]) for row in plan)
                # A SCAN reads the whole table; a sort of the range would defeat the LIMIT.
                assert "SCAN" not in steps and "TEMP B-TREE" not in steps, (statement, steps)
    finally:
        database.dispose()
    assert len(seen) >= 8  # every key was looked up
