"""`scim-bridge emulator` logs every request, but never a token's or a secret's value.

DingTalk's API carries the access token in the query string, and gettoken the app secret; the
emulator's access log (its stderr) names the call and hides both. Run as operators run it: the
real command in a process of its own on 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

CLI = str(Path(sys.executable).with_name("scim-bridge"))
APP_KEY, APP_SECRET = "log-test-app", "log-test-secret-4b1d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_access_log_names_each_call_and_hides_the_token_and_the_secret(
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "emulator.log"
    cmd = [CLI, "emulator", "--port", str(port), "--app-key", APP_KEY, "--app-secret", APP_SECRET]
    with log.open("wb") as out:
        emulator = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):  # up to 20 s to listen
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            token = requests.get(
                f"{base}/gettoken", params={"appkey": APP_KEY, "appsecret": APP_SECRET}, timeout=10
            ).json()["access_token"]
            answer = requests.post(
                f"{base}/topapi/v2/user/get",
                params={"access_token": token},
                json={"userid": "nobody"},
                timeout=10,
            )
            assert answer.status_code == 200
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)

    text = log.read_text(encoding="utf-8")
    assert "/gettoken" in text and "/topapi/v2/user/get" in text
    assert "access_token=***" in text and "appsecret=***" in text
    assert token not in text
    assert APP_SECRET not in text
