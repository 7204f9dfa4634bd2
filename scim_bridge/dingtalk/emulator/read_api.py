"""Read the built-in emulator's directory over its HTTP control API (GET /__emulator__/state).

For the console's sandbox view: the API process is not the process that runs the emulator
(gunicorn forks the workers), so it asks over 127.0.0.1. This reads the emulator only, never
DingTalk: the URL is the one `make run` started, and the path exists on no DingTalk host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from scim_bridge.dingtalk.emulator.app import CONTROL_PREFIX


@dataclass(frozen=True)
class EmulatorStateReader:
    """A callable returning the emulator's snapshot; OSError when it does not answer."""

    url: str
    timeout: float = 2.0

    def __call__(self) -> dict[str, Any]:
        """Return the emulator's directory (users, departments, roles)."""
        try:
            response = requests.get(
                self.url.rstrip("/") + CONTROL_PREFIX + "state", timeout=self.timeout
            )
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OSError(f"the emulator at {self.url} did not answer: {exc}") from None
        return body if isinstance(body, dict) else {}
