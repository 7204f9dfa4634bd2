"""The guard's reject path (sync/guard.py): an operator's "no" keeps a burst's people held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from console_support import T0
from ops_support import pause_the_guard, queued

from scim_bridge.directory.db import Database
from scim_bridge.mapping.guard import GuardError
from scim_bridge.mapping.rules import GuardRules
from scim_bridge.monitor import guard_state
from scim_bridge.sync import guard

LATER = T0 + timedelta(minutes=5)


def test_rejected_removals_stay_held_even_when_the_numbers_pass(database: Database) -> None:
    token = pause_the_guard(database)
    with database.write() as session:
        held = guard.reject_burst(session, GuardRules(), token, now=LATER, actor="console:ada")
    assert held == 12 and queued(database) == []
    # The limit is raised (or the window slides): the numbers alone would let them go now.
    lenient = GuardRules(max_removal_percent=90.0)
    with database.write() as session:
        decision = guard.propose_removal(session, "p03", lenient, now=LATER)
    assert not decision.allow and "rejected this burst" in decision.reason
    assert decision.token == token
    with database.read() as session:
        pause = guard_state.paused(session)
    assert pause is not None and pause["rejected_by"] == "console:ada"
    # Confirming the rejected token after all releases them.
    with database.write() as session:
        released = guard.confirm_burst(session, lenient, token, now=LATER, actor="console:ada")
    assert released == 12
    with database.read() as session:
        assert guard_state.rejection(session) is None and guard_state.paused(session) is None
    with database.write() as session:
        assert guard.propose_removal(session, "p03", lenient, now=LATER).allow


def test_reject_needs_a_pause_and_its_token(database: Database) -> None:
    with database.write() as session, pytest.raises(GuardError, match="nothing to reject"):
        guard.reject_burst(session, GuardRules(), "abc", now=LATER, actor="ops")
    pause_the_guard(database)
    with database.write() as session, pytest.raises(GuardError, match="does not match"):
        guard.reject_burst(session, GuardRules(), "abc", now=LATER, actor="ops")
    with database.read() as session:
        assert guard_state.rejection(session) is None


def guard_cli(db_url: str, *args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from scim_bridge.cli import main

    result = CliRunner().invoke(main, ["guard", *args], env={"SCIM_BRIDGE_DATABASE_URL": db_url})
    return result.exit_code, result.output


def test_guard_reject_on_the_command_line(db_url: str, database: Database) -> None:
    code, out = guard_cli(db_url, "reject", "abc")
    assert code != 0 and "nothing to reject" in out and "Traceback" not in out
    # The command reads the real clock: the burst must lie in the guard's window from now.
    token = pause_the_guard(database, at=datetime.now(UTC) - timedelta(seconds=5))
    code, out = guard_cli(db_url, "status")
    assert code == 0 and f"scim-bridge guard reject {token}" in out
    code, out = guard_cli(db_url, "reject", token)
    assert code == 0 and out.startswith("rejected: 12 removal(s) stay held")
    code, out = guard_cli(db_url, "status")
    assert "rejected by guard-reject" in out
    assert queued(database) == []
