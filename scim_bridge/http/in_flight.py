"""A WSGI wrapper that counts the requests being answered (issue 14: the translator yields).

It wraps the whole application, outside Flask, so every request counts, whatever it ends in
(an error page, a 401, a 404). A request counts while the application computes its answer,
which is where its CPU goes: our answers are built whole before they are sent (a streamed
export's sending is not counted, and holds no CPU to speak of).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scim_bridge.monitor.api_load import InFlight

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CountInFlight:
    """Count each request while the wrapped application answers it."""

    def __init__(self, app: WsgiApp, counter: InFlight) -> None:
        self.app = app
        self.counter = counter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer the request with the wrapped application, counted while it does."""
        self.counter.enter()
        try:
            return self.app(environ, start_response)
        finally:
            self.counter.leave()
