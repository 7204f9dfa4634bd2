"""The operator's alert command (settings.alert_command) as a channel.

It runs once per notice with the notice as JSON on stdin (``"event": "alert"`` plus the ITSM
body), with only the allow-listed environment it is given (settings.alert_environment): none
of our secrets. A non-zero exit is a failed delivery, retried like any other channel's.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from scim_bridge.notify.message import Delivery, Notice, Report

#: Seconds the command may take per notice.
TIMEOUT = 10


class CommandChannel:
    """Run the operator's command for each notice."""

    name = "command"

    def __init__(self, command: str, *, env: Mapping[str, str]) -> None:
        self._argv = shlex.split(command)
        self._env = dict(env)

    def send(self, notices: Sequence[Notice]) -> Delivery:
        """Run the command per notice (never raises); the program is named, not its arguments."""
        for notice in notices:
            delivery = self._run({"event": "alert", **notice.as_json()})
            if not delivery.ok:
                return delivery
        return Delivery(True)

    def send_report(self, report: Report) -> Delivery:
        """Run the command with the report's JSON body (never raises)."""
        return self._run({"event": "report", **report.body})

    def _run(self, payload: dict[str, object]) -> Delivery:
        program = self._argv[0] if self._argv else "(empty)"
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own configured command
                self._argv,
                input=json.dumps(payload).encode(),
                timeout=TIMEOUT,
                check=False,
                env=self._env,
                capture_output=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Delivery(False, f"alert command {program} failed: {type(exc).__name__}")
        if done.returncode != 0:
            return Delivery(False, f"alert command {program} exited {done.returncode}")
        return Delivery(True)
