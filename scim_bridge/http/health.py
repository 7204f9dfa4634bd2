"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, json
from sqlalchemy import text

from scim_bridge.http.runtime import Runtime


def make_health_blueprint(runtime: Runtime) -> Blueprint:
    """Build /healthz (the process answers) and /readyz (the database answers)."""
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        return Response(json.dumps({"status": "ok"}), mimetype="application/json")

    @bp.get("/readyz")
    def readyz() -> Response:
        try:
            with runtime.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # readiness reports any failure, it must not raise
            body = {"status": "unavailable", "database": type(exc).__name__}
            return Response(json.dumps(body), status=503, mimetype="application/json")
        return Response(json.dumps({"status": "ready"}), mimetype="application/json")

    return bp
