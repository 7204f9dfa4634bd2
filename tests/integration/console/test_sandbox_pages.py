"""The console's sandbox view (issue 13): the emulator's department tree with counts, and one
department's people a page at a time, read from the real emulator over HTTP. Bad query values
get a console error page, never a 500; a stopped emulator is said in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import add_account, sign_in

from scim_bridge.app import create_app
from scim_bridge.dingtalk.emulator import RunningEmulator, start_emulator
from scim_bridge.dingtalk.emulator.read_api import EmulatorStateReader
from scim_bridge.directory.db import Database
from scim_bridge.http.admin import SECURITY_HEADERS
from scim_bridge.http.sandbox_view import PAGE_SIZE
from scim_bridge.settings import Settings

ENGINEERS = 2 * PAGE_SIZE + 7  # three pages, the last one short

ORG: dict[str, Any] = {
    "org_name": "Acme",
    "departments": [
        {"dept_id": 1, "name": "Acme", "parent_id": 0},
        {"dept_id": 2, "name": "Engineering", "parent_id": 1},
        {"dept_id": 3, "name": "Platform", "parent_id": 2},
        {"dept_id": 4, "name": "Sales", "parent_id": 1},
    ],
    "users": [
        {"userid": "ceo", "name": "Wang Wei", "mobile": "13800000001", "dept_id_list": [4],
         "title": "CEO"},
        {"userid": "plat", "name": "Li Na", "mobile": "13800000002", "dept_id_list": [3],
         "title": "Platform Engineer", "manager_userid": "ceo"},
        *(
            {"userid": f"e{n:03d}", "name": f"Engineer {n:03d}", "mobile": f"139{n:08d}",
             "dept_id_list": [2], "title": "Engineer", "manager_userid": "plat"}
            for n in range(ENGINEERS)
        ),
    ],
}  # fmt: skip


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator() as running:
        running.emulator.load(ORG)
        yield running


@pytest.fixture
def viewer(
    console_settings: Settings, database: Database, clock: Any, emulator: RunningEmulator
) -> Any:
    """A viewer's client of a console whose sandbox reads the emulator."""
    add_account(database, "vic", "viewer")
    app = create_app(
        console_settings, db=database, clock=clock, sandbox=EmulatorStateReader(emulator.url)
    )
    client = app.test_client()
    sign_in(client, "vic")
    return client


def page(client: Any, query: str = "") -> str:
    answer = client.get(f"/admin/sandbox{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return str(answer.get_data(as_text=True))


def people_of(html: str) -> list[str]:
    return re.findall(r"<li><strong>([^<]+)</strong>", html)


def test_the_tree_shows_every_department_with_counts_and_the_root_by_default(viewer: Any) -> None:
    html = page(viewer)
    tree = html[html.index('aria-label="Departments"') : html.index('aria-label="People"')]
    for dept_id, name, count in ((1, "Acme", 0), (2, "Engineering", ENGINEERS), (3, "Platform", 1),
                                 (4, "Sales", 1)):  # fmt: skip
        link = re.escape(f'href="/admin/sandbox?dept={dept_id}"')
        assert re.search(rf"{link}[^>]*>{name}</a>\s*<small[^>]*>{count}</small>", tree), name
    assert tree.index("Engineering") < tree.index("Platform") < tree.index("Sales")
    for tag in ("ul", "li", "details", "summary"):  # the flat loop closes what it opens
        assert tree.count(f"<{tag}") == tree.count(f"</{tag}>") > 0, tag
    assert "<details open><summary>" in tree  # the root is open: its sub-departments show
    assert "Engineer 000" not in html  # no one sits in the root: nobody else is listed
    # An empty root points at where the people are, one click away.
    assert "the people are in its sub-departments" in html
    assert f"{ENGINEERS + 2} people in 4 departments" in html


def test_a_department_lists_its_people_with_title_and_manager_on_its_branch(viewer: Any) -> None:
    html = page(viewer, "?dept=3")
    assert people_of(html) == ["Li Na"]
    assert "Platform Engineer" in html and "(reports to Wang Wei)" in html
    assert re.search(r'<li class="dept selected" data-dept="3">', html)
    # Platform's branch (Acme > Engineering) is open so the selected department shows.
    engineering = html[html.index('data-dept="2"') :]
    assert engineering.startswith('data-dept="2"><details open>')
    assert 'aria-current="page">Platform</a>' in html


def test_a_large_department_pages_by_name_with_previous_and_next(viewer: Any) -> None:
    first = page(viewer, "?dept=2")
    assert people_of(first) == [f"Engineer {n:03d}" for n in range(PAGE_SIZE)]
    assert "page 1 of 3" in first and "(reports to Li Na)" in first
    assert 'rel="next" href="/admin/sandbox?dept=2&amp;page=2"' in first
    assert 'rel="prev"' not in first
    last = page(viewer, "?dept=2&page=3")
    assert people_of(last) == [f"Engineer {n:03d}" for n in range(2 * PAGE_SIZE, ENGINEERS)]
    assert 'rel="prev" href="/admin/sandbox?dept=2&amp;page=2"' in last
    assert 'rel="next"' not in last
    middle = page(viewer, "?dept=2&page=2")
    assert people_of(middle)[0] == f"Engineer {PAGE_SIZE:03d}"


def test_the_page_follows_the_emulator_as_it_changes(
    viewer: Any, emulator: RunningEmulator
) -> None:
    assert people_of(page(viewer, "?dept=4")) == ["Wang Wei"]
    emulator.emulator.admin.add_user("new", name="Aaron New", mobile="13700000001", dept_ids=[4])
    assert people_of(page(viewer, "?dept=4")) == ["Aaron New", "Wang Wei"]


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("?dept=abc", 400, "dept must be a department id"),
        ("?dept=-1", 400, "dept must be a department id"),
        ("?dept=0", 400, "dept must be a department id"),
        ("?dept=" + "9" * 5000, 400, "dept must be a department id"),
        ("?page=-1", 400, "page must be a page number"),
        ("?page=x", 400, "page must be a page number"),
        ("?dept=404", 404, "no department 404 in the emulator"),
        ("?dept=2&page=4", 404, "no page 4"),
    ],
)
def test_bad_query_values_get_a_console_error_page(
    viewer: Any, query: str, status: int, words: str
) -> None:
    answer = viewer.get(f"/admin/sandbox{query}")
    assert answer.status_code == status
    html = answer.get_data(as_text=True)
    assert words in html and 'role="alert"' in html and "Traceback" not in html
    assert answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_the_sandbox_says_so_when_the_emulator_is_gone(
    console_settings: Settings, database: Database, clock: Any
) -> None:
    add_account(database, "vic", "viewer")
    with start_emulator() as running:
        url = running.url
    app = create_app(console_settings, db=database, clock=clock, sandbox=EmulatorStateReader(url))
    client = app.test_client()
    sign_in(client, "vic")
    for query in ("", "?dept=2&page=2"):
        answer = client.get(f"/admin/sandbox{query}")
        assert answer.status_code == 200
        assert "the emulator did not answer" in answer.get_data(as_text=True)
    assert client.get("/admin/sandbox?dept=abc").status_code == 400  # the query is read first


def test_without_the_emulator_there_is_no_sandbox(as_admin: Any) -> None:
    assert as_admin.get("/admin/sandbox").status_code == 404
    assert 'href="/admin/sandbox"' not in as_admin.get("/admin/").get_data(as_text=True)


def test_the_nav_links_the_sandbox_when_the_emulator_is_in_use(viewer: Any) -> None:
    assert 'href="/admin/sandbox"' in page(viewer, "?dept=1")
