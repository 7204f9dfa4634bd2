"""What an operator sees around the running service, with real processes on 127.0.0.1.

1. `scim-bridge serve`: the access log names the request without its query string (SCIM
   filters carry personal data), and gunicorn leaves no control socket in the home directory.
2. `scim-bridge quickstart` (what `make run` runs) records its built-in emulator; `plan` and
   `quality` run in the same directory from another process use it, with no traceback; the
   record is removed and nothing listens once the server stops.
3. A whole run at DEBUG with a hashed password, a synced user and a dead letter: no bearer
   token, DingTalk app secret or password in the log, the database files or `config show`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_harness import CLI, free_port, wait_until

pytestmark = pytest.mark.slow
SECRET_FILTER = 'userName eq "secret@x"'


def operator_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of an operator's shell: no SCIM_BRIDGE_* but ``settings``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    base.pop("XDG_RUNTIME_DIR", None)  # gunicorn would put its control socket there
    return {**base, "HOME": str(home), "SCIM_BRIDGE_WORKERS": "1", **settings}


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a scim-bridge command to completion, as text."""
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@contextlib.contextmanager
def running(cwd: Path, env: dict[str, str], log: Path, *args: str) -> Iterator[Any]:
    """A long-running scim-bridge command in its own process group, stopped on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [CLI, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def listening(port: int) -> bool:
    """Say whether anything accepts connections on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_access_log_has_no_query_string_and_no_control_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = operator_env(home, SCIM_BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'scim.db'}")
    assert cli(tmp_path, env, "db", "upgrade").returncode == 0
    token = cli(tmp_path, env, "token", "create", "okta").stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp_path / "serve.log"
    with running(tmp_path, env, log, "serve", "--port", str(port), "--no-worker"):
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).ok, timeout=60, what="serve")
        answer = requests.get(
            f"{url}/scim/v2/Users",
            params={"filter": SECRET_FILTER},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["totalResults"] == 0
    text = log.read_text(encoding="utf-8")
    access = [line for line in text.splitlines() if "/scim/v2/Users" in line]
    assert len(access) == 1, text
    assert '"GET /scim/v2/Users HTTP/1.1" 200' in access[0] and "rid=req-42" in access[0]
    for leak in ("secret@x", "secret%40x", "secret", "filter="):
        assert leak not in text
    assert not (home / ".gunicorn").exists()
    assert not listening(port)


def test_plan_and_quality_beside_quickstart_use_its_emulator(tmp_path: Path) -> None:
    env = operator_env(tmp_path / "home")
    port = free_port()
    log = tmp_path / "quickstart.log"
    record = tmp_path / ".scim-bridge" / "scim-bridge.db.emulator.json"
    with running(tmp_path, env, log, "quickstart", "--port", str(port)):
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).ok, timeout=60, what="api")
        token = next(
            line.split(":", 1)[1].strip()
            for line in log.read_text(encoding="utf-8").splitlines()
            if "Bearer token" in line
        )
        emulator_url = json.loads(record.read_text(encoding="utf-8"))["url"]
        user = {"userName": "ada@example.com", "name": {"givenName": "Ada", "familyName": "L"}}
        created = requests.post(
            f"{url}/scim/v2/Users",
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], **user},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        planned = cli(tmp_path, env, "plan", "--format", "json")
        assert planned.returncode == 0, planned.stderr
        assert f"built-in DingTalk emulator of `make run` at {emulator_url}" in planned.stderr
        assert "totals" in json.loads(planned.stdout)
        checked = cli(tmp_path, env, "quality")
        assert checked.returncode in (0, 1), checked.stderr  # 1: a blocking data problem
        assert "mobile" in checked.stdout  # ada has no mobile number: DingTalk needs one
        for done in (planned, checked):
            assert "Traceback" not in done.stdout + done.stderr
    emulator_port = int(emulator_url.rsplit(":", 1)[1])
    assert not record.exists()
    assert not listening(port) and not listening(emulator_port)
    assert "Traceback" not in log.read_text(encoding="utf-8")


def test_no_secret_reaches_the_log_the_database_or_config_show(tmp_path: Path) -> None:
    """A whole run at DEBUG: the bearer token, the DingTalk app secret and a user's password
    appear in no log line, nowhere in the database files, and not in `config show`."""
    app_secret = "dt-secret-4c1f9e7a"
    password = "Pa55-word-9b2d"
    emulator_port, port = free_port(), free_port()
    db = tmp_path / "scim.db"
    env = operator_env(
        tmp_path / "home",
        SCIM_BRIDGE_DATABASE_URL=f"sqlite:///{db}",
        SCIM_BRIDGE_DINGTALK_BASE_URL=f"http://127.0.0.1:{emulator_port}",
        SCIM_BRIDGE_DINGTALK_APP_KEY="dt-key",
        SCIM_BRIDGE_DINGTALK_APP_SECRET=app_secret,
        SCIM_BRIDGE_PASSWORD_POLICY="hash",  # the password is used, then only its hash kept
        SCIM_BRIDGE_LOG_LEVEL="DEBUG",
    )
    assert cli(tmp_path, env, "db", "upgrade").returncode == 0
    token = cli(tmp_path, env, "token", "create", "okta").stdout.strip().splitlines()[-1]
    log = tmp_path / "run.log"
    emulator = ("emulator", "--port", str(emulator_port), "--app-key", "dt-key")
    with (
        running(tmp_path, env, log, *emulator, "--app-secret", app_secret),
        running(tmp_path, env, log, "serve", "--port", str(port)),
    ):
        url = f"http://127.0.0.1:{port}/scim/v2"
        wait_until(
            lambda: requests.get(f"{url}/../../readyz", timeout=2).ok, timeout=60, what="api"
        )
        auth = {"Authorization": f"Bearer {token}"}
        people = [
            {"userName": "ada@example.com", "displayName": "Ada", "password": password,
             "phoneNumbers": [{"value": "+86 138 0013 8000", "type": "mobile"}]},
            # No mobile: DingTalk refuses grace, and she goes to the dead-letter list.
            {"userName": "grace@example.com", "displayName": "Grace", "password": password},
        ]  # fmt: skip
        ids = []
        for person in people:
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], **person}
            created = requests.post(f"{url}/Users", json=body, headers=auth, timeout=30)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        ext = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"

        def settled() -> bool:
            states = [
                requests.get(f"{url}/Users/{i}", headers=auth, timeout=10).json()[ext]["sync"]
                for i in ids
            ]
            return [s["state"] for s in states] == ["synced", "failed"]

        wait_until(settled, timeout=60, what="one synced, one dead-lettered")
        shown = cli(tmp_path, env, "config", "show")
        assert shown.returncode == 0
    text = log.read_text(encoding="utf-8")
    assert "dead letter" in text  # the run did log at DEBUG, failures included
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("scim.db*"))
    for secret in (token, app_secret, password):
        assert secret not in text
        assert secret.encode() not in stored
        assert secret not in shown.stdout + shown.stderr
