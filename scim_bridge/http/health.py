"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, json

from scim_bridge.http.runtime import Runtime
from scim_bridge.monitor.readiness import ReadinessPolicy, check_readiness


def readiness_policy(runtime: Runtime) -> ReadinessPolicy:
    """Return what /readyz expects of the worker; none when DingTalk is not configured yet."""
    settings = runtime.settings
    expect_worker = bool(settings.dingtalk_app_key) and settings.ready_heartbeat_seconds > 0
    return ReadinessPolicy(
        heartbeat_seconds=settings.ready_heartbeat_seconds if expect_worker else 0.0,
        token_seconds=settings.ready_token_seconds,
    )


def make_health_blueprint(runtime: Runtime) -> Blueprint:
    """Build /healthz (the process answers) and /readyz (the database, migrations, worker,
    DingTalk token: each check named, 503 when one fails)."""
    bp = Blueprint("health", __name__)
    policy = readiness_policy(runtime)

    @bp.get("/healthz")
    def healthz() -> Response:
        return Response(json.dumps({"status": "ok"}), mimetype="application/json")

    @bp.get("/readyz")
    def readyz() -> Response:
        checks = check_readiness(runtime.db, policy, clock=runtime.clock)
        ready = all(check.ok for check in checks)
        body = {
            "status": "ready" if ready else "unavailable",
            "checks": {check.name: check.as_json() for check in checks},
        }
        return Response(json.dumps(body), status=200 if ready else 503, mimetype="application/json")

    return bp
