"""The console's reports (issue 13): the SLA report of any month and zone, as `report sla`
renders it.

The page is the very HTML the CLI writes (monitor/sla_render.py), served as its own page with
the console's headers, so what the risk committee prints from the console and what the monthly
job mails are the same document. Its charts are inline SVG (no script). Its stylesheet is
inline too, so the file stays self-contained when mailed; rather than weaken the console's
``style-src 'self'``, this one page's Content-Security-Policy allows exactly that stylesheet by
its SHA-256 hash (CSP Level 2, "hash-source"): any other inline style, and every inline script,
is still refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date

from flask import Blueprint, Response, g, render_template, request

from scim_bridge.errors import BadRequest, ConfigError
from scim_bridge.http.runtime import Runtime
from scim_bridge.monitor.availability import parse_month, zone
from scim_bridge.monitor.sla_jobs import SlaPolicy
from scim_bridge.monitor.sla_render import render
from scim_bridge.monitor.sla_report import build

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_MONTH = re.compile(r"^\d{4}-\d{2}$")
#: The months a report may be asked for (month_bounds needs the month after to exist).
YEARS = range(1970, 9999)


def style_hashes(html: str) -> list[str]:
    """Return the CSP hash-sources of every inline <style> element of a page."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _STYLE.findall(html)
    ]


def page_csp(base: str, html: str) -> str:
    """Return the console's CSP with style-src widened to this page's own inline styles."""
    hashes = " ".join(style_hashes(html))
    return base.replace("style-src 'self'", f"style-src 'self' {hashes}".rstrip(), 1)


def parse_report_args(month: str, tz: str) -> date:
    """Check a month (YYYY-MM) and an IANA zone; a bad one is a 400 naming it and the fix."""
    try:
        first = parse_month(month)
        zone(tz)
    except ConfigError as exc:
        raise BadRequest(str(exc)) from None
    if not _MONTH.match(month) or first.year not in YEARS:
        raise BadRequest(f"month {month!r} is not YYYY-MM between 1970 and 9998; use e.g. 2026-11")
    return first


def register_reports(bp: Blueprint, runtime: Runtime, csp: str) -> None:
    """Add /admin/reports/ (the choice of month and zone) and /admin/reports/sla (the report);
    ``csp`` is the console's Content-Security-Policy."""

    @bp.get("/reports/")
    def reports() -> str:
        policy = SlaPolicy.from_settings(runtime.settings)
        local = runtime.clock().astimezone(zone(policy.report_tz))
        return render_template(
            "admin/reports.html", month=f"{local.year:04d}-{local.month:02d}", tz=policy.report_tz
        )

    @bp.get("/reports/sla")
    def sla_report() -> Response:
        policy = SlaPolicy.from_settings(runtime.settings)
        tz = request.args.get("tz", "").strip() or policy.report_tz
        local = runtime.clock().astimezone(zone(policy.report_tz))
        month = request.args.get("month", "").strip() or f"{local.year:04d}-{local.month:02d}"
        first = parse_report_args(month, tz)
        # Read only: maintenance windows declared in the settings count once the worker has
        # copied them (`report sla` also copies them first; a page never writes).
        with runtime.db.read() as session:
            now = runtime.clock()
            figures = build(session, month=first, tz=tz, policy=policy.report(), now=now)
        html = render(figures, "html")
        g.page_csp = page_csp(csp, html)  # admin.console_headers applies it
        return Response(html, mimetype="text/html")
