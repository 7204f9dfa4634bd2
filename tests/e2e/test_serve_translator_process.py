"""`scim-bridge serve` runs the translator in a process of its own, at a lower priority (issue 14).

Real processes over real HTTP: the API under gunicorn, the emulator, SQLite. The translator
must not be one of gunicorn's API workers (it would share their GIL), must run at the
configured nice value, must come back after a SIGKILL, and must not outlive the server.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
from e2e_harness import Cluster, cluster, wait_until

pytestmark = pytest.mark.slow


def children_of(pid: int) -> dict[int, int]:
    """The child processes of ``pid`` and their nice values, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        # proc(5): after the name come state, ppid, ... nice is field 19 (index 16 here).
        if int(fields[1]) == pid:
            found[int(entry)] = int(fields[16])
    return found


def create(base: str, token: str, name: str) -> None:
    user = {
        "userName": f"{name}@example.com",
        "externalId": name,
        "name": {"givenName": name.title(), "familyName": "Lee"},
        "phoneNumbers": [{"value": f"138{abs(hash(name)) % 10**8:08d}", "type": "mobile"}],
    }
    answer = requests.post(
        f"{base}/Users", json=user, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 201, answer.text


def in_dingtalk(c: Cluster, name: str) -> bool:
    return any(u.get("name") == f"{name.title()} Lee" for u in c.emulator_state()["users"])


def test_serve_runs_the_translator_apart_restarts_it_and_takes_it_down(tmp_path: Path) -> None:
    with cluster(
        tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}", SCIM_BRIDGE_TRANSLATOR_NICE="12"
    ) as c:
        c.start_emulator()
        c.prepare()
        base = c.start_api("api", "--workers", "2")
        arbiter = c.procs["api"].pid
        # gunicorn's two API workers at nice 0, and the translator at 12.
        wait_until(lambda: len(children_of(arbiter)) == 3, timeout=60, what="three children")
        niced = [pid for pid, nice in children_of(arbiter).items() if nice == 12]
        assert len(niced) == 1, children_of(arbiter)
        assert sorted(children_of(arbiter).values()) == [0, 0, 12]
        translator = niced[0]

        create(base, c.token, "ada")
        wait_until(lambda: in_dingtalk(c, "ada"), timeout=60, what="ada in DingTalk")

        os.kill(translator, signal.SIGKILL)
        wait_until(
            lambda: any(
                pid != translator and nice == 12 for pid, nice in children_of(arbiter).items()
            ),
            timeout=60,
            what="a new translator",
        )
        create(base, c.token, "grace")
        wait_until(lambda: in_dingtalk(c, "grace"), timeout=60, what="grace in DingTalk")
        log = (tmp_path / "api.log").read_text(encoding="utf-8")
        assert f"the translator's process {translator} ended; restarting it" in log

        # Only the server is asked to stop (not its process group): it takes the translator down.
        replacement = next(pid for pid, nice in children_of(arbiter).items() if nice == 12)
        os.kill(arbiter, signal.SIGTERM)
        c.procs.pop("api").wait(timeout=60)
        wait_until(lambda: _gone(replacement), timeout=30, what="the translator to end")


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"  # ended, not yet reaped
