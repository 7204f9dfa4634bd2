"""The emulator's member index (sandbox_read.MemberIndex) stays exactly what a fresh build of
the same org would be, through any sequence of joins, renames, moves and departures, whether
it patches the few people who changed or rebuilds after many."""

from __future__ import annotations

import random

import pytest

from scim_bridge.dingtalk.emulator.sandbox_read import PATCH_LIMIT, MemberIndex
from scim_bridge.dingtalk.emulator.state import Directory, user_defaults

DEPTS = (1, 2, 3, 4)


def org() -> Directory:
    directory = Directory(corp_id="corp", org_name="Acme")
    for n in range(40):
        add(directory, f"u{n:03d}", name=f"Person {n % 7}", depts=[DEPTS[n % 4]])
    return directory


def add(directory: Directory, userid: str, *, name: str, depts: list[int]) -> None:
    directory.users[userid] = user_defaults() | {
        "userid": userid,
        "name": name,
        "dept_id_list": depts,
    }


def pages(index: MemberIndex) -> dict[int, tuple[int, list[str]]]:
    return {d: (index.count(d), index.slice(d, 0, 10_000)) for d in DEPTS}


def fresh(directory: Directory) -> dict[int, tuple[int, list[str]]]:
    index = MemberIndex()
    index.refresh(directory, 0)
    return pages(index)


def change(directory: Directory, rng: random.Random, serial: int) -> None:
    userids = sorted(directory.users)
    kind = rng.choice(("join", "rename", "move", "leave", "same"))
    if kind == "join" or not userids:
        depts = rng.sample(DEPTS, rng.randint(0, 2))  # none: the root
        add(directory, f"n{serial:04d}", name=f"Person {rng.randint(0, 9)}", depts=depts)
    elif kind == "rename":
        user = directory.users[rng.choice(userids)]
        directory.users[user["userid"]] = user | {"name": f"Person {rng.randint(0, 9)}"}
    elif kind == "move":
        directory.users[rng.choice(userids)]["dept_id_list"] = rng.sample(DEPTS, 2)
    elif kind == "leave":
        del directory.users[rng.choice(userids)]


@pytest.mark.parametrize("seed", range(5))
def test_patching_change_by_change_equals_building_afresh(seed: int) -> None:
    rng = random.Random(seed)
    directory = org()
    index = MemberIndex()
    index.refresh(directory, 0)
    for revision in range(1, 120):
        for serial in range(rng.randint(1, 3)):
            change(directory, rng, revision * 10 + serial)
        index.refresh(directory, revision)
        assert pages(index) == fresh(directory), revision


def test_people_sort_by_name_then_userid_and_sit_in_the_root_without_departments() -> None:
    directory = Directory(corp_id="corp", org_name="Acme")
    add(directory, "b", name="Li Na", depts=[2])
    add(directory, "a", name="Li Na", depts=[2, 2])  # listed twice: counted once
    add(directory, "c", name="Bai Yu", depts=[2])
    add(directory, "r", name="Root", depts=[])
    index = MemberIndex()
    index.refresh(directory, 0)
    assert index.slice(2, 0, 10) == ["c", "a", "b"] and index.count(2) == 3
    assert index.slice(1, 0, 10) == ["r"]
    assert index.slice(2, 1, 2) == ["a"]


def test_an_unchanged_revision_is_not_read_again_and_a_new_org_is_rebuilt() -> None:
    directory = org()
    index = MemberIndex()
    index.refresh(directory, 7)
    before = pages(index)
    add(directory, "late", name="Aaa", depts=[2])
    index.refresh(directory, 7)  # the emulator counted no change: nothing is read
    assert pages(index) == before
    index.refresh(directory, 8)
    assert index.slice(2, 0, 1) == ["late"]
    other = Directory(corp_id="corp", org_name="Other")  # what load() and reset() install
    index.refresh(other, 8)
    assert pages(index) == fresh(other)


def test_more_changes_than_the_patch_limit_rebuild_to_the_same_result() -> None:
    directory = org()
    index = MemberIndex()
    index.refresh(directory, 0)
    for n in range(PATCH_LIMIT + 5):
        add(directory, f"bulk{n:05d}", name=f"Bulk {n % 13}", depts=[3])
    del directory.users["u000"]
    index.refresh(directory, 1)
    assert pages(index) == fresh(directory)
