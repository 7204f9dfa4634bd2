"""The console's SLA report page (issue 13): the HTML `report sla` renders, for any month and
zone, under a CSP that allows exactly its own stylesheet; a bad month or zone is a 400 page."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from console_support import Clock

from scim_bridge.directory.db import Database
from scim_bridge.http.admin import CSP, SECURITY_HEADERS
from scim_bridge.monitor.availability import parse_month
from scim_bridge.monitor.sla_jobs import SlaPolicy
from scim_bridge.monitor.sla_render import render
from scim_bridge.monitor.sla_report import build
from scim_bridge.settings import Settings


def test_the_report_page_is_the_html_report_sla_renders(
    as_viewer: Any, console_settings: Settings, database: Database, clock: Clock
) -> None:
    answer = as_viewer.get("/admin/reports/sla?month=2026-11&tz=Asia/Hong_Kong")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    policy = SlaPolicy.from_settings(console_settings)
    with database.read() as session:
        figures = build(
            session, month=parse_month("2026-11"), tz="Asia/Hong_Kong",
            policy=policy.report(), now=clock(),
        )  # fmt: skip
    assert html == render(figures, "html")  # the very document the CLI writes
    assert "DingTalk availability — 2026-11" in html and "Asia/Hong_Kong" in html
    assert "<script" not in html and "<svg" in html


def test_the_report_page_allows_its_own_style_by_hash_and_nothing_else(as_admin: Any) -> None:
    answer = as_admin.get("/admin/reports/sla?month=2026-11&tz=UTC")
    (style,) = re.findall(r"<style>(.*?)</style>", answer.get_data(as_text=True), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = answer.headers["Content-Security-Policy"]
    assert csp == CSP.replace("style-src 'self'", f"style-src 'self' 'sha256-{digest}'")
    assert "unsafe-inline" not in csp and "script-src 'self';" in csp
    for name, value in SECURITY_HEADERS.items():
        if name != "Content-Security-Policy":
            assert answer.headers[name] == value
    # Every other page keeps the console's own policy.
    assert as_admin.get("/admin/reports/").headers["Content-Security-Policy"] == CSP


def test_without_a_month_the_page_shows_the_current_one(as_admin: Any, clock: Clock) -> None:
    html = as_admin.get("/admin/reports/sla").get_data(as_text=True)
    assert f"DingTalk availability — {clock():%Y-%m}" in html
    form = as_admin.get("/admin/reports/").get_data(as_text=True)
    assert f'name="month" value="{clock():%Y-%m}"' in form and 'name="tz" value="UTC"' in form


def test_a_bad_month_or_zone_is_a_400_page_naming_it(as_admin: Any) -> None:
    for query, words in (
        ("month=2026-13", "month &#39;2026-13&#39; is not YYYY-MM; use e.g. 2026-11"),
        ("month=november", "month &#39;november&#39; is not YYYY-MM"),
        ("month=9999-12", "between 1970 and 9998"),
        ("month=2026-1", "month &#39;2026-1&#39; is not YYYY-MM"),
        ("month=2026-11&tz=Mars/Olympus", "time zone &#39;Mars/Olympus&#39; is not an IANA zone"),
    ):
        answer = as_admin.get(f"/admin/reports/sla?{query}")
        assert answer.status_code == 400, query
        html = answer.get_data(as_text=True)
        assert words in html, (query, html)
        assert answer.headers["Content-Security-Policy"] == CSP
