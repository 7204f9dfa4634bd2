"""The worker carries out the console's actions through the store (issue 13)."""

from __future__ import annotations

from console_support import T0, Clock
from sqlalchemy import select

from scim_bridge.directory.console_actions import queue_action
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction, DeadLetter, OutboxEntry
from scim_bridge.sync.console_actions import carry_out_actions


def letter(database: Database, resource_id: str) -> int:
    with database.write() as session:
        row = DeadLetter(
            resource_type="User", resource_id=resource_id, reason="no mobile", created_at=T0
        )
        session.add(row)
        session.flush()
        return row.id


def ask(database: Database, kind: str, target: str) -> None:
    with database.write() as session:
        queue_action(session, kind, target=target, requested_by="ada", now=T0)


def outcomes(database: Database) -> list[tuple[str, str | None, bool]]:
    with database.read() as session:
        rows = session.scalars(select(ConsoleAction).order_by(ConsoleAction.id))
        return [(r.kind, r.outcome, r.done_at is not None) for r in rows]


def queued(database: Database) -> list[tuple[str, str | None]]:
    with database.read() as session:
        return [(r.resource_id, r.actor) for r in session.scalars(select(OutboxEntry))]


def letters(database: Database) -> list[str]:
    with database.read() as session:
        return [r.resource_id for r in session.scalars(select(DeadLetter))]


def test_retry_all_puts_every_dead_letter_back_in_the_outbox(database: Database) -> None:
    letter(database, "u1")
    letter(database, "u2")
    ask(database, "retry", "all")
    woken: list[bool] = []
    assert carry_out_actions(database, clock=Clock(), wake=lambda: woken.append(True)) == 1
    assert letters(database) == []
    assert sorted(queued(database)) == [("u1", "console:ada"), ("u2", "console:ada")]
    assert outcomes(database) == [("retry", "2 dead letter(s) queued again", True)]
    assert woken == [True]
    # Done is done: a second run carries out nothing again.
    assert carry_out_actions(database, clock=Clock(), wake=lambda: None) == 0


def test_retry_and_drop_by_id_touch_only_those_letters(database: Database) -> None:
    first, second, third = letter(database, "u1"), letter(database, "u2"), letter(database, "u3")
    ask(database, "retry", str(first))
    ask(database, "drop", f"{second}")
    carry_out_actions(database, clock=Clock(), wake=lambda: None)
    assert letters(database) == ["u3"]
    assert queued(database) == [("u1", "console:ada")]
    assert [o[1] for o in outcomes(database)] == [
        "1 dead letter(s) queued again",
        "1 dead letter(s) dropped",
    ]
    assert third


def test_drop_never_means_every_letter(database: Database) -> None:
    letter(database, "u1")
    ask(database, "drop", "all")
    carry_out_actions(database, clock=Clock(), wake=lambda: None)
    assert letters(database) == ["u1"]
    assert "refused" in (outcomes(database)[0][1] or "")


def test_sync_now_queues_the_person(database: Database) -> None:
    ask(database, "sync_now", "user-42")
    carry_out_actions(database, clock=Clock(), wake=lambda: None)
    assert queued(database) == [("user-42", "console:ada")]
    assert outcomes(database) == [("sync_now", "queued for DingTalk", True)]
