"""create_app(settings): the HTTP composition root."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask

from scim_bridge.dingtalk.emulator.sandbox_model import SandboxReader
from scim_bridge.directory.db import Database
from scim_bridge.http.acceptance import user_acceptance
from scim_bridge.http.admin import make_admin_blueprint, make_root_blueprint
from scim_bridge.http.auth import install_console_session, session_key_source
from scim_bridge.http.dingtalk_events import callback_cipher, make_dingtalk_events_blueprint
from scim_bridge.http.errors import register_error_handlers
from scim_bridge.http.health import make_health_blueprint
from scim_bridge.http.in_flight import CountInFlight
from scim_bridge.http.metrics import install_request_metrics, make_metrics_blueprint
from scim_bridge.http.openapi import make_openapi_blueprint
from scim_bridge.http.runtime import Runtime, utc_now
from scim_bridge.http.scim_api import canonical_path, make_scim_blueprint
from scim_bridge.monitor.api_load import InFlight
from scim_bridge.monitor.gauges import StoreGauges
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.monitor.reconcile_state import ReconcileGauges
from scim_bridge.monitor.sla_gauges import AvailabilityGauges
from scim_bridge.settings import Settings
from scim_bridge.sync.wakeup import notify_local, socket_path


class CanonicalScimPaths:
    """WSGI middleware: `/scim/v2/users` reaches `/scim/v2/Users` (scim-idp-notes §2.24)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Rewrite PATH_INFO, then call the wrapped application."""
        environ["PATH_INFO"] = canonical_path(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Callable[[], datetime] = utc_now,
    metrics_dir: Path | None = None,
    sandbox: SandboxReader | None = None,
    in_flight: InFlight | None = None,
) -> Flask:
    """Build the Flask application for one process.

    ``metrics_dir``: prometheus-client's multiprocess directory, when `serve` runs several
    processes (the caller has put it in PROMETHEUS_MULTIPROC_DIR before any metric exists).
    ``sandbox``: reads the built-in emulator's directory for the console's sandbox view.
    ``in_flight``: the request count the translator reads (shared by `serve`'s processes)."""
    logging.getLogger("scim_bridge").setLevel(settings.log_level.upper())
    app = Flask("scim_bridge")
    # Werkzeug refuses larger bodies with 413 before we read them (RFC 7644 §3.7.4 for Bulk).
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.bulk_max_payload_bytes)
    app.url_map.strict_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep schemas, id, … first
    # No ping per checkout: it is one more round trip to PostgreSQL on every request (a GET
    # checks out twice). A connection a database restart broke fails its request with 503
    # and Retry-After (http/errors.py), SQLAlchemy then drops the pool's older connections,
    # and the IdP's retry gets a fresh one. The worker keeps the ping: it has no retrying IdP.
    db = db or Database(settings.database_url, pool_pre_ping=False)
    runtime = Runtime(settings=settings, db=db, clock=clock)
    runtime.sandbox = sandbox
    if in_flight is not None:
        runtime.in_flight = in_flight
    if settings.reject_unprojectable:
        runtime.check_user = user_acceptance(settings)
    # Wake a translator in another process on this host the moment a change commits.
    wake_path = socket_path(settings)
    runtime.on_outbox_commit.append(lambda: notify_local(wake_path))
    app.extensions["scim_bridge"] = runtime
    register_error_handlers(app)
    app.register_blueprint(make_scim_blueprint(runtime))
    app.register_blueprint(make_health_blueprint(runtime))
    app.register_blueprint(make_openapi_blueprint())
    cipher = callback_cipher(settings)  # DingTalk contact-change events (issue 10), if configured
    if cipher is not None:
        app.register_blueprint(make_dingtalk_events_blueprint(runtime, cipher))
    # The admin console (issue 13): its own sign-in, apart from the SCIM tokens.
    install_console_session(app, session_key_source(runtime))
    app.register_blueprint(make_admin_blueprint(runtime))
    app.register_blueprint(make_root_blueprint())
    if settings.metrics_enabled:
        runtime.metrics = Metrics(multiprocess_dir=metrics_dir)
        runtime.metrics.add_collector(StoreGauges(runtime.db, clock=clock))
        runtime.metrics.add_collector(ReconcileGauges(runtime.db, clock=clock))
        if settings.sla_enabled:  # issue 12: availability from the minute buckets
            runtime.metrics.add_collector(AvailabilityGauges(runtime.db, clock=clock))
        install_request_metrics(app, runtime.metrics)
        app.register_blueprint(
            make_metrics_blueprint(runtime.metrics, token=settings.metrics_token)
        )
    app.wsgi_app = CanonicalScimPaths(app.wsgi_app)  # type: ignore[method-assign]
    # Issue 14 (perf): count the requests being answered, for the translator to give way.
    app.wsgi_app = CountInFlight(app.wsgi_app, runtime.in_flight)  # type: ignore[method-assign]
    return app


def create_metrics_app(settings: Settings, metrics: Metrics) -> Flask:
    """Build the Flask application of `scim-bridge worker`'s own /metrics (nothing else)."""
    app = Flask("scim_bridge.worker_metrics")
    register_error_handlers(app)
    app.register_blueprint(make_metrics_blueprint(metrics, token=settings.metrics_token))
    return app
