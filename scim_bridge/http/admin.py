"""The admin console's access: sign-in, sign-out, the actions form, headers, error pages.

Pages that only read live in ``admin_pages.py``; this module owns who gets in and what they
may do. A web request never calls DingTalk: an action is a ``console_actions`` row the worker
carries out (design.md). Every action, and every sign-in, is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scim_bridge.directory import admins, console_access, login_throttle
from scim_bridge.directory.console_access import console_principal
from scim_bridge.directory.rows import Context
from scim_bridge.errors import BadRequest, ScimError
from scim_bridge.http import auth
from scim_bridge.http.admin_audit import register_audit
from scim_bridge.http.admin_changes import register_changes  # console-ops
from scim_bridge.http.admin_failures import register_failures  # console-ops
from scim_bridge.http.admin_pages import register_pages
from scim_bridge.http.admin_people import register_people
from scim_bridge.http.admin_reports import register_reports
from scim_bridge.http.errors import request_id
from scim_bridge.http.runtime import Runtime

#: Content-Security-Policy of every console page: nothing inline runs (the one script is a
#: file under static/), nothing is framed (clickjacking), forms post only to us.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages hold personal data: no browser or proxy copy
}
#: Pages anyone may open (the rest need a session).
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})
#: Requests a page's script makes on its own: they do not keep an idle session alive.
POLLS = frozenset({"admin.overview_json"})
POLLS |= {"admin.person_status"}  # console-person: the person page's poll


def secure_headers(response: BaseResponse) -> BaseResponse:
    """Add the console's security headers to a response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def console_context(runtime: Runtime, actor: str) -> Context:
    """The audit context of a console request by ``actor``."""
    return Context(
        principal=console_principal(actor),
        now=runtime.clock(),
        request_id=request_id(),
        client=request.remote_addr,
        audit=runtime.settings.audit_enabled,
    )


def make_admin_blueprint(runtime: Runtime) -> Blueprint:
    """Build /admin: the gate, sign-in and sign-out, the pages (admin_pages.py), actions."""
    bp = Blueprint(
        "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
    )
    guard(bp, runtime)
    register_sign_in(bp, runtime)
    register_pages(bp, runtime)
    register_actions(bp, runtime)
    # console-person (issue 13): people search and pages, audit search, reports.
    register_people(bp, runtime, lambda actor: console_context(runtime, actor))
    register_audit(bp, runtime)
    register_reports(bp, runtime, CSP)
    register_failures(bp, runtime, context=console_context)  # console-ops: /admin/failures
    register_changes(bp, runtime)  # console-ops: /admin/changes
    return bp


def guard(bp: Blueprint, runtime: Runtime) -> None:
    """Add what every console request goes through: the session and CSRF gate, the security
    headers, the pages' globals, and error pages."""
    idle = timedelta(minutes=runtime.settings.admin_session_idle_minutes)

    @bp.before_request
    def gate() -> BaseResponse | None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            if request.method == "POST":
                auth.check_csrf()
            return None
        with runtime.db.read() as session:
            admin = auth.current_admin(
                session, now=runtime.clock(), idle=idle, activity=request.endpoint not in POLLS
            )
        if admin is None:
            return redirect(url_for("admin.login", next=request.path))
        if request.method == "POST":
            auth.check_csrf()  # a session's token, before the role: a forged form learns nothing
        return None

    @bp.after_app_request
    def console_headers(response: BaseResponse) -> BaseResponse:
        # Every console response, its 404s and redirects included (they are app-level).
        if request.path == "/" or request.path.startswith("/admin"):
            secure_headers(response)
            if g.get("page_csp"):  # console-person: the SLA report's own styles, by hash
                response.headers["Content-Security-Policy"] = g.page_csp
        return response

    @bp.context_processor
    def page_globals() -> dict[str, Any]:
        return {
            "csrf_token": auth.csrf_token,
            "admin": g.get("admin"),
            "sandbox": runtime.sandbox is not None,
        }

    @bp.errorhandler(ScimError)
    def refused(exc: ScimError) -> tuple[str, int]:
        # Console errors are pages, not SCIM JSON (http/errors.py stays the SCIM renderer).
        page = render_template("admin/error.html", status=exc.status, message=exc.detail)
        return page, exc.status


def register_sign_in(bp: Blueprint, runtime: Runtime) -> None:
    """Add /admin/login and /admin/logout."""
    settings = runtime.settings
    policy = login_throttle.ThrottlePolicy(
        window=timedelta(minutes=settings.admin_login_window_minutes),
        per_account=settings.admin_login_failures_per_account,
        per_address=settings.admin_login_failures_per_address,
    )

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int]:
        if request.method == "GET":
            return render_template("admin/login.html", error=None), 200
        attempt = console_access.sign_in(
            runtime.db,
            policy,
            name=request.form.get("name", "").strip()[:64],
            password=request.form.get("password", ""),
            address=request.remote_addr or "-",
            context=lambda actor: console_context(runtime, actor),
        )
        if attempt.admin is None:
            if attempt.outcome is console_access.Outcome.THROTTLED:
                error = "Too many failed sign-ins; wait a few minutes and try again."
                return render_template("admin/login.html", error=error), 429
            return render_template("admin/login.html", error="Wrong name or password."), 401
        auth.start_session(attempt.admin, now=runtime.clock())
        return redirect(safe_next(request.args.get("next")))

    @bp.post("/logout")
    def logout() -> BaseResponse:
        auth.end_session()
        return redirect(url_for("admin.login"))


def register_actions(bp: Blueprint, runtime: Runtime) -> None:
    """Add /admin/actions: an admin's request, queued for the worker."""

    @bp.post("/actions")
    def act() -> BaseResponse:
        admin: admins.Admin = g.admin
        if request.form.get("kind") == "drop":  # console-ops: a drop is confirmed first
            raise BadRequest("dropping dead letters is confirmed first: use the failures page")
        console_access.request_action(
            runtime.db,
            console_context(runtime, admin.name),
            admin,
            kind=request.form.get("kind", ""),
            target=request.form.get("target", ""),
        )
        return redirect(safe_next(request.form.get("back")))


def safe_next(target: str | None) -> str:
    """Return where to go after a form: a console path of ours, never another site."""
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin/"


def make_root_blueprint() -> Blueprint:
    """Build `/`, which sends a person to the console."""
    bp = Blueprint("root", __name__)

    @bp.get("/")
    def root() -> Response:
        return redirect("/admin/")  # type: ignore[return-value]

    return bp
