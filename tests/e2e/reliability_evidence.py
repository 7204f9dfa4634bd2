"""What a failed reliability run leaves behind, to find out why (issue 14).

The run's PostgreSQL cluster and emulator are thrown away when it ends, so a run that ends with
a difference writes, beside the processes' logs, everything needed to explain it: for each
person DingTalk holds wrongly, their link (and its last-applied snapshot), their audit trail
(`scim-bridge audit history`), and every DingTalk call that touched them, plus the whole
emulator call log and state.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from e2e_harness import Cluster
from scale_scenario import Writer, engine_of
from sqlalchemy import select

from scim_bridge.directory.models import Link, OutboxEntry


def keep_evidence(c: Cluster, writers: list[Writer], differing: list[str], workdir: Path) -> Path:
    """Write the evidence of the differing people to ``workdir/evidence``; return that folder."""
    out = workdir / "evidence"
    out.mkdir(exist_ok=True)
    calls = c.emulator_calls()
    _dump(out / "emulator_calls.json", calls)
    _dump(out / "emulator_state.json", c.emulator_state())
    people = {p.external_id: (w, p) for w in writers for p in w.people}
    for line in differing:
        external = line.split(":", 1)[0]
        if external not in people:
            continue
        writer, person = people[external]
        mine = [call for call in calls if call.get("userid") == external]
        facts: dict[str, Any] = {
            "difference": line,
            "client_believes": {
                "user_id": person.user_id,
                "group": writer.groups.get(person.group),
                "title": person.title,
                "active": person.active,
                "deleted": person.deleted,
            },
            "link": _link(c, person.user_id),
            "outbox": _outbox(c, person.user_id),
            "dingtalk_calls": mine,
        }
        _dump(out / f"{external}.json", facts)
        try:
            history = c.cli("audit", "history", person.user_id, "--format", "json")
        except subprocess.CalledProcessError as exc:
            history = f"FAILED: {exc.stdout.decode()}{exc.stderr.decode()}"
        (out / f"{external}.audit.json").write_text(history)
    return out


def _link(c: Cluster, user_id: str) -> dict[str, Any] | None:
    engine = engine_of(c.database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(Link.dingtalk_id, Link.state, Link.snapshot, Link.last_error).where(
                    Link.kind == "user", Link.key == user_id
                )
            ).first()
    finally:
        engine.dispose()
    return None if row is None else dict(row._mapping)


def _outbox(c: Cluster, user_id: str) -> list[dict[str, Any]]:
    engine = engine_of(c.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxEntry).where(OutboxEntry.resource_id == user_id))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, default=str, ensure_ascii=False))
