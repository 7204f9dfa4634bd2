"""Generic JSON webhooks: an ITSM tool (ServiceNow, ...) and the escalation contacts.

One POST per notice with the body of ``Notice.as_json``: ``status`` firing|resolved,
``severity`` warning|critical|escalation, ``rule``, ``key`` (stable: an ITSM tool deduplicates
and closes incidents by it), ``summary``, ``started_at``, and ``ended_at``/``labels`` when set.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from scim_bridge.notify.message import Delivery, Notice, Report
from scim_bridge.notify.transport import post_json


class WebhookChannel:
    """POST each notice as JSON to one URL; the delivery fails at the first refusal."""

    def __init__(self, name: str, url: str, *, session: requests.Session | None = None) -> None:
        self.name = name
        self._url = url
        self._session = session or requests.Session()

    def send(self, notices: Sequence[Notice]) -> Delivery:
        """POST the notices in order (never raises)."""
        for notice in notices:
            delivery, _answer = post_json(self._session, self._url, notice.as_json())
            if not delivery.ok:
                return delivery
        return Delivery(True)

    def send_report(self, report: Report) -> Delivery:
        """POST the report's JSON body (never raises)."""
        delivery, _answer = post_json(self._session, self._url, report.body)
        return delivery
