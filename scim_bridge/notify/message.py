"""What every channel sends and answers: a notice in, a delivery result out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

#: An alert event: it starts firing (or its severity changes), or it resolves.
FIRING = "firing"
RESOLVED = "resolved"
#: Severities, least to most urgent; "escalation" goes to the people who claim service credits.
SEVERITIES = ("warning", "critical", "escalation")


@dataclass(frozen=True)
class Notice:
    """One alert event as a channel sends it."""

    rule: str
    key: str
    severity: str
    status: str  # FIRING | RESOLVED
    summary: str
    started_at: str  # ISO 8601, UTC
    ended_at: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the notice as the ITSM webhook body (and the command's stdin) carries it."""
        body: dict[str, Any] = {
            "status": self.status,
            "severity": self.severity,
            "rule": self.rule,
            "key": self.key,
            "summary": self.summary,
            "started_at": self.started_at,
        }
        if self.ended_at is not None:
            body["ended_at"] = self.ended_at
        if self.labels:
            body["labels"] = dict(self.labels)
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Notice:
        """Rebuild a notice from ``as_json`` (deliveries are stored, then sent)."""
        return cls(
            rule=str(body["rule"]),
            key=str(body["key"]),
            severity=str(body["severity"]),
            status=str(body["status"]),
            summary=str(body["summary"]),
            started_at=str(body["started_at"]),
            ended_at=body.get("ended_at"),
            labels={str(k): str(v) for k, v in (body.get("labels") or {}).items()},
        )

    def headline(self) -> str:
        """Return one line naming the rule, the severity and whether it fires or resolves."""
        verb = "FIRING" if self.status == FIRING else "RESOLVED"
        return f"[{verb}] {self.rule} ({self.severity}): {self.summary}"


@dataclass(frozen=True)
class Delivery:
    """What a channel made of one send: delivered, or why not (no secret, no query string)."""

    ok: bool
    error: str | None = None
    #: A channel may ask for the next attempt no earlier than this many seconds (a rate limit).
    retry_after: float | None = None


@dataclass(frozen=True)
class Report:
    """A periodic report (the monthly SLA report): a title, markdown for people, JSON for tools."""

    title: str
    markdown: str
    body: dict[str, Any]


class Channel(Protocol):
    """One place alerts go."""

    name: str

    def send(self, notices: Sequence[Notice]) -> Delivery:
        """Deliver ``notices`` together (a digest where the channel has one), never raise."""
        ...

    def send_report(self, report: Report) -> Delivery:
        """Deliver a report (never raise)."""
        ...


def where(url: str) -> str:
    """Return a URL as errors may show it: scheme, host and path, never the query (keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
