"""POSTing JSON to a webhook, with bounded timeouts and errors that never show the query."""

from __future__ import annotations

from typing import Any

import requests

from scim_bridge.notify.message import Delivery, where

#: Connect and read timeouts: an alert channel must not hold the evaluation job for long.
TIMEOUT = (3.05, 10.0)


def post_json(
    session: requests.Session,
    url: str,
    body: dict[str, Any],
    *,
    params: dict[str, str] | None = None,
) -> tuple[Delivery, Any]:
    """POST ``body``; return the delivery (2xx or why not) and the parsed answer, if JSON."""
    try:
        response = session.post(url, json=body, params=params, timeout=TIMEOUT)
    except requests.RequestException as exc:
        # The exception's text carries the full URL (the robot's access_token): name its kind.
        return Delivery(False, f"{type(exc).__name__} posting to {where(url)}"), None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not 200 <= response.status_code < 300:
        retry_after = _retry_after(response) if response.status_code == 429 else None
        error = f"HTTP {response.status_code} from {where(url)}"
        return Delivery(False, error, retry_after=retry_after), answer
    return Delivery(True), answer


def _retry_after(response: requests.Response) -> float | None:
    # RFC 9110 §10.2.3: seconds (the HTTP-date form is rare from webhooks; ignored).
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None
