"""A translator that starts re-projects only when the mapping or the build changed (issue 14).

A full pass reads and projects every user; at 100,000 people that is minutes of CPU beside the
API on every restart. The pass records the rules and the build it checked under; a start
under the same ones skips it, a start after a mapping change or an upgrade does not, and a new
store where nothing was applied yet has nothing to be stale against.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import delete, func, select

from scim_bridge import __version__
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, Link, OutboxEntry
from scim_bridge.mapping.rules import default_rules_path, parse_rules
from scim_bridge.sync.decide_snapshots import PROJECTION
from scim_bridge.sync.reproject import CHECKED_UNDER
from scim_bridge.sync.worker import Worker

_mobiles = itertools.count(13600000000)


def person(i: int) -> dict[str, Any]:
    return {
        "userName": f"start{i}@example.com",
        "externalId": f"start{i}",
        "displayName": f"Start {i}",
        "title": f"Engineer {i}",
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
    }


def queued(database: Database) -> set[str]:
    with database.read() as session:
        return set(session.scalars(select(OutboxEntry.resource_id)))


def stamp(database: Database) -> dict[str, Any] | None:
    with database.read() as session:
        row = session.get(BridgeState, CHECKED_UNDER)
        return None if row is None else dict(row.value)


def make_stale(database: Database, user_id: str) -> None:
    """What a mapping change would leave: the link's digest no longer what the rules give."""
    with database.write() as session:
        link = session.scalar(select(Link).where(Link.kind == "user", Link.key == user_id))
        assert link is not None
        link.snapshot = {**(link.snapshot or {}), PROJECTION: "digest-of-other-rules"}


def synced(scim: Any, worker: Worker, count: int) -> list[str]:
    ids = [scim.post("/Users", person(i)).json["id"] for i in range(count)]
    worker.run_until_idle()
    assert queued(worker.db) == set()
    return ids


def test_a_restart_under_the_same_rules_and_build_reads_nobody(
    scim: Any, worker: Worker, database: Database
) -> None:
    ids = synced(scim, worker, 4)
    assert worker.translator.reproject_changed() == 0  # a full pass: nothing stale, stamped
    assert stamp(database) == {"rules": worker.translator.rules.fingerprint, "build": __version__}
    make_stale(database, ids[0])  # a pass now would queue this one

    assert worker.translator.reproject_changed(on_start=True) == 0

    assert queued(database) == set()


def test_a_start_under_changed_rules_queues_exactly_whom_they_change(
    scim: Any, worker: Worker, database: Database
) -> None:
    synced(scim, worker, 4)
    worker.translator.reproject_changed()
    text = default_rules_path().read_text(encoding="utf-8")
    worker.translator.rules = parse_rules(
        text.replace("    title: title\n", "    title: displayName\n"), source="retitled.yaml"
    )

    assert worker.translator.reproject_changed(on_start=True) == 4

    assert len(queued(database)) == 4
    assert stamp(database) == {"rules": worker.translator.rules.fingerprint, "build": __version__}
    assert worker.translator.reproject_changed(on_start=True) == 0  # and once is enough


def test_a_start_after_an_upgrade_checks_every_link_again(
    scim: Any, worker: Worker, database: Database
) -> None:
    ids = synced(scim, worker, 3)
    worker.translator.reproject_changed()
    with database.write() as session:  # the stamp an older build left
        row = session.get(BridgeState, CHECKED_UNDER)
        assert row is not None
        row.value = {**row.value, "build": "0.0.9"}
    make_stale(database, ids[1])

    assert worker.translator.reproject_changed(on_start=True) == 1

    assert queued(database) == {ids[1]}
    assert stamp(database) == {"rules": worker.translator.rules.fingerprint, "build": __version__}


def test_a_new_store_skips_the_pass_but_not_a_user_nothing_will_project(
    scim: Any, worker: Worker, database: Database
) -> None:
    ids = [scim.post("/Users", person(i)).json["id"] for i in range(3)]  # queued, not applied

    assert worker.translator.reproject_changed(on_start=True) == 0
    assert stamp(database) is not None
    assert queued(database) == set(ids)

    # Without the stamp, a user neither linked, queued nor dead-lettered (a row lost, say)
    # would never be projected: then the pass runs and queues it again.
    with database.write() as session:
        session.execute(delete(BridgeState).where(BridgeState.key == CHECKED_UNDER))
        session.execute(delete(OutboxEntry).where(OutboxEntry.resource_id == ids[0]))

    assert worker.translator.reproject_changed(on_start=True) == 3

    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 3
