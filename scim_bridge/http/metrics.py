"""/metrics (Prometheus text format) and the per-request bookkeeping behind it (issue 12)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, g, request

from scim_bridge.errors import Unauthorized
from scim_bridge.monitor.metrics import CONTENT_TYPE, Metrics

#: The endpoint label of a request no route matched: one value, whatever path was asked for,
#: so a scanner cannot blow up the number of series.
UNMATCHED = "<unmatched>"


def install_request_metrics(
    app: Flask, metrics: Metrics, *, timer: Callable[[], float] = time.perf_counter
) -> None:
    """Count every answered request by method, route template and status, and time it."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = timer()

    @app.after_request
    def _count(response: Response) -> Response:
        rule = request.url_rule
        # The route template (/scim/v2/Users/<user_id>), never the path: bounded cardinality.
        endpoint = rule.rule if rule is not None else UNMATCHED
        started = g.get("metrics_started")
        seconds = timer() - started if started is not None else 0.0
        metrics.observe_request(request.method, endpoint, response.status_code, seconds)
        return response


def make_metrics_blueprint(metrics: Metrics, *, token: str) -> Blueprint:
    """Build /metrics; with ``token`` set, only `Authorization: Bearer <token>` may scrape."""
    bp = Blueprint("metrics", __name__)
    wanted = token.encode()

    @bp.get("/metrics")
    def scrape() -> Response:
        if wanted:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            # Constant-time comparison: the scrape token is a secret like the SCIM tokens.
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode(), wanted
            ):
                raise Unauthorized("send Authorization: Bearer <metrics token>")
        return Response(metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE)

    return bp
