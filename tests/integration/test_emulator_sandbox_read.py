"""The emulator's paged read endpoints for the console's sandbox (issue 13), over real HTTP.

GET /__emulator__/tree (departments with direct member counts) and GET /__emulator__/people
(one department's members, a page at a time, by name then userid), read through the reader
the console uses. The member index behind them must follow every change to the org: DingTalk
API writes, admin-console edits, loads and resets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scim_bridge.dingtalk.emulator import CONTROL_PREFIX, EmulatorConfig, RunningEmulator
from scim_bridge.dingtalk.emulator import start_emulator as start
from scim_bridge.dingtalk.emulator.read_api import EmulatorStateReader
from scim_bridge.dingtalk.emulator.sandbox_model import NotInSandbox

ORG: dict[str, Any] = {
    "org_name": "Acme",
    "departments": [
        {"dept_id": 1, "name": "Acme", "parent_id": 0},
        {"dept_id": 2, "name": "Engineering", "parent_id": 1},
        {"dept_id": 3, "name": "Platform", "parent_id": 2},
        {"dept_id": 4, "name": "Empty", "parent_id": 1},
    ],
    "users": [
        {"userid": "ceo", "name": "Wang Wei", "mobile": "13800000001", "dept_id_list": [1]},
        {
            "userid": "z-dev",
            "name": "Li Na",
            "mobile": "13800000002",
            "dept_id_list": [2, 3],
            "title": "Engineer",
            "manager_userid": "ceo",
        },
        {"userid": "a-dev", "name": "Li Na", "mobile": "13800000003", "dept_id_list": [2]},
        {"userid": "ops", "name": "Bai Yu", "mobile": "13800000004", "dept_id_list": [2]},
        {
            "userid": "gone",
            "name": "Chen Jie",
            "mobile": "13800000005",
            "dept_id_list": [3],
            "manager_userid": "nobody",
        },
    ],
}


@pytest.fixture
def running() -> Iterator[RunningEmulator]:
    with start(EmulatorConfig(qps=0)) as server:
        server.emulator.load(ORG)
        yield server


@pytest.fixture
def reader(running: RunningEmulator) -> EmulatorStateReader:
    return EmulatorStateReader(running.url)


def counts(reader: EmulatorStateReader) -> dict[int, int]:
    return {d.dept_id: d.people for d in reader.tree().departments}


def names(reader: EmulatorStateReader, dept_id: int, *, page: int = 1, size: int = 50) -> list:
    return [(p.name, p.userid) for p in reader.people(dept_id, page=page, size=size).people]


def test_the_tree_counts_direct_members_and_carries_no_people(
    running: RunningEmulator, reader: EmulatorStateReader
) -> None:
    tree = reader.tree()
    assert tree.org_name == "Acme" and tree.people == 5
    assert [(d.dept_id, d.name, d.parent_id) for d in tree.departments] == [
        (1, "Acme", 0),
        (2, "Engineering", 1),
        (3, "Platform", 2),
        (4, "Empty", 1),
    ]
    assert counts(reader) == {1: 1, 2: 3, 3: 2, 4: 0}  # Li Na (z-dev) counts in both of hers
    raw = requests.get(running.url + CONTROL_PREFIX + "tree", timeout=5).json()
    assert "users" not in raw and all(set(d) == {"dept_id", "name", "parent_id", "people"}
                                      for d in raw["departments"])  # fmt: skip


def test_people_come_by_name_then_userid_with_title_and_manager(
    reader: EmulatorStateReader,
) -> None:
    page = reader.people(2, page=1, size=50)
    assert (page.name, page.total, page.pages) == ("Engineering", 3, 1)
    assert [(p.name, p.userid) for p in page.people] == [
        ("Bai Yu", "ops"),
        ("Li Na", "a-dev"),
        ("Li Na", "z-dev"),
    ]
    engineer = page.people[2]
    assert (engineer.title, engineer.manager) == ("Engineer", "Wang Wei")
    gone = reader.people(3, page=1, size=50).people[0]
    assert (gone.name, gone.manager) == ("Chen Jie", "")  # a manager who is not there: no name
    empty = reader.people(4, page=1, size=50)
    assert (empty.total, empty.pages, empty.people) == (0, 1, ())


def test_pages_split_the_department_without_overlap_or_gap(reader: EmulatorStateReader) -> None:
    first = reader.people(2, page=1, size=2)
    second = reader.people(2, page=2, size=2)
    assert (first.pages, second.pages, first.total) == (2, 2, 3)
    assert [p.userid for p in first.people + second.people] == ["ops", "a-dev", "z-dev"]
    with pytest.raises(NotInSandbox, match="no page 3"):
        reader.people(2, page=3, size=2)


def test_an_unknown_department_is_a_miss(reader: EmulatorStateReader) -> None:
    with pytest.raises(NotInSandbox, match="no department 99"):
        reader.people(99, page=1, size=10)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("dept_id=abc", "dept_id"),
        ("dept_id=0", "dept_id"),
        ("page=-1", "page"),
        ("page=0", "page"),
        ("size=101", "size"),
        ("size=0", "size"),
        ("page=" + "9" * 5000, "page"),
        ("dept_id=%C2%B2", "dept_id"),  # a superscript two: a digit to str.isdigit, not to int
    ],
)
def test_bad_parameters_are_refused_with_400_naming_them(
    running: RunningEmulator, query: str, field: str
) -> None:
    answer = requests.get(f"{running.url}{CONTROL_PREFIX}people?{query}", timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(field)


def test_the_index_follows_dingtalk_api_writes(
    running: RunningEmulator, reader: EmulatorStateReader
) -> None:
    assert counts(reader)[4] == 0  # the index is built now; the writes below must rebuild it
    token = requests.get(
        running.url + "/gettoken",
        params={"appkey": running.emulator.config.app_key,
                "appsecret": running.emulator.config.app_secret},
        timeout=5,
    ).json()["access_token"]  # fmt: skip

    def call(api: str, body: dict[str, Any]) -> None:
        answer = requests.post(
            f"{running.url}/topapi/v2/user/{api}", params={"access_token": token}, json=body,
            timeout=5,
        ).json()  # fmt: skip
        assert answer["errcode"] == 0, answer

    call("create", {"userid": "new", "name": "Aa New", "mobile": "13800000009",
                    "dept_id_list": [4]})  # fmt: skip
    assert counts(reader)[4] == 1 and names(reader, 4) == [("Aa New", "new")]
    call("update", {"userid": "ops", "dept_id_list": [4]})  # a move
    assert counts(reader)[2] == 2 and names(reader, 4) == [("Aa New", "new"), ("Bai Yu", "ops")]
    call("update", {"userid": "new", "name": "Zz Renamed"})  # a rename re-orders
    assert names(reader, 4) == [("Bai Yu", "ops"), ("Zz Renamed", "new")]
    call("delete", {"userid": "ops"})
    assert counts(reader)[4] == 1 and names(reader, 4) == [("Zz Renamed", "new")]
    assert reader.tree().people == 5


def test_the_index_follows_admin_edits_loads_and_resets(
    running: RunningEmulator, reader: EmulatorStateReader
) -> None:
    emulator = running.emulator
    assert counts(reader)[1] == 1
    emulator.admin.move_user("ceo", [4])
    assert counts(reader)[1] == 0 and names(reader, 4) == [("Wang Wei", "ceo")]
    emulator.admin.add_user("orphan", name="Orphan", mobile="13800000010")
    assert names(reader, 1) == [("Orphan", "orphan")]  # no department given: the root
    emulator.load({"org_name": "Other", "users": []})
    assert counts(reader) == {1: 0} and reader.tree().org_name == "Other"
    emulator.reset()
    assert reader.tree().people == 0
