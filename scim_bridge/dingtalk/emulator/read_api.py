"""Read the built-in emulator's directory over its HTTP control API, a page at a time.

For the console's sandbox view: the API process is not the process that runs the emulator
(gunicorn forks the workers), so it asks over 127.0.0.1. This reads the emulator only, never
DingTalk: the URL is the one `make run` started, and the paths (``/__emulator__/tree`` and
``/__emulator__/people``, served by ``sandbox_read.py``) exist on no DingTalk host. Each call
answers in O(departments) or O(one page), not the whole org (GET /__emulator__/state).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from scim_bridge.dingtalk.emulator.app import CONTROL_PREFIX
from scim_bridge.dingtalk.emulator.sandbox_model import (
    NotInSandbox,
    SandboxDepartment,
    SandboxPage,
    SandboxPerson,
    SandboxTree,
)


@dataclass(frozen=True)
class EmulatorStateReader:
    """Reads the emulator at ``url``; OSError when it does not answer."""

    url: str
    timeout: float = 2.0

    def tree(self) -> SandboxTree:
        """Return the department tree with each department's count of direct members."""
        body = self._get("tree", {})
        with self._malformed("tree"):
            return SandboxTree(
                org_name=str(body.get("org_name", "")),
                people=int(body.get("people", 0)),
                departments=tuple(
                    SandboxDepartment(
                        dept_id=int(d["dept_id"]),
                        name=str(d.get("name", "")),
                        parent_id=int(d.get("parent_id") or 0),
                        people=int(d.get("people", 0)),
                    )
                    for d in body.get("departments", [])
                ),
            )

    def people(self, dept_id: int, *, page: int, size: int) -> SandboxPage:
        """Return one page of a department's direct members; NotInSandbox for a miss."""
        body = self._get("people", {"dept_id": dept_id, "page": page, "size": size})
        with self._malformed("people"):
            return SandboxPage(
                dept_id=int(body["dept_id"]),
                name=str(body.get("name", "")),
                total=int(body["total"]),
                page=int(body["page"]),
                size=int(body["size"]),
                pages=int(body["pages"]),
                people=tuple(
                    SandboxPerson(
                        userid=str(p["userid"]),
                        name=str(p.get("name", "")),
                        title=str(p.get("title") or ""),
                        manager=str(p.get("manager") or ""),
                    )
                    for p in body.get("people", [])
                ),
            )

    @contextmanager
    def _malformed(self, action: str) -> Iterator[None]:
        # Our own emulator answers these shapes; another version might not: no answer, no 500.
        try:
            yield
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"the emulator at {self.url} answered a malformed {action}: {exc!r}"
            raise OSError(problem) from None

    def _get(self, action: str, params: dict[str, int]) -> dict[str, Any]:
        try:
            response = requests.get(
                self.url.rstrip("/") + CONTROL_PREFIX + action, params=params, timeout=self.timeout
            )
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OSError(f"the emulator at {self.url} did not answer: {exc}") from None
        if response.status_code == 404 and isinstance(body, dict) and "error" in body:
            raise NotInSandbox(str(body["error"]))
        if response.status_code != 200 or not isinstance(body, dict):
            # A 400 means we sent what the view should have refused; treat it as no answer.
            raise OSError(f"the emulator at {self.url} answered {response.status_code}: {body}")
        return body
