"""deploy/prometheus/alerts.yml and deploy/grafana/scim-bridge.json speak our metrics (issue 12).

Both are checked against a schema, and every metric name in every expression must be one that
/metrics really exports (read from a live exposition) or a recording rule of alerts.yml. When
promtool is installed (Debian's `prometheus` package), it checks the rules' PromQL too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ReconcileRun
from scim_bridge.monitor.alert_rules import CHANNEL, RULES
from scim_bridge.monitor.gauges import StoreGauges
from scim_bridge.monitor.metrics import Metrics, parse
from scim_bridge.monitor.reconcile_state import ReconcileGauges
from scim_bridge.monitor.sla_gauges import AvailabilityGauges

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES_FILE = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "scim-bridge.json"
NAME = re.compile(r"\bscim_bridge[_:][A-Za-z0-9_:]*")
#: Alerts of the Prometheus file that watch the bridge itself rather than one of its rules.
OWN_HEALTH = {"database", "guard"}

RULES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "rules"],
                "properties": {
                    "name": {"type": "string"},
                    "interval": {"type": "string", "pattern": "^[0-9]+[smhd]$"},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["expr"],
                            "oneOf": [
                                {"required": ["record"], "not": {"required": ["alert"]}},
                                {"required": ["alert", "labels", "annotations"]},
                            ],
                            "properties": {
                                "record": {"type": "string", "pattern": "^scim_bridge:"},
                                "alert": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                "expr": {"type": "string", "minLength": 1},
                                "for": {"type": "string", "pattern": "^[0-9]+[smhd]$"},
                                "keep_firing_for": {"type": "string", "pattern": "^[0-9]+[smhd]$"},
                                "labels": {
                                    "type": "object",
                                    "required": ["rule", "severity"],
                                    "properties": {
                                        "severity": {"enum": ["warning", "critical", "escalation"]}
                                    },
                                },
                                "annotations": {"type": "object", "required": ["summary"]},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        }
    },
    "additionalProperties": False,
}

DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "panels", "schemaVersion"],
    "properties": {
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
                "properties": {
                    "datasource": {"properties": {"uid": {"const": "prometheus"}}},
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["refId", "expr"]},
                    },
                },
            },
        }
    },
}


@pytest.fixture
def exported(database: Database) -> set[str]:
    """Every sample name a scrape of /metrics shows, with one observation of each family."""
    metrics = Metrics()
    metrics.observe_request("GET", "/scim/v2/Users", 200, 0.01)
    metrics.observe_lag(1.0)
    metrics.call_finished("/topapi/v2/user/get", "ok", 0.05)
    metrics.token_fetched(True)
    metrics.guard_paused()
    metrics.add_collector(StoreGauges(database, clock=lambda: datetime.now(UTC)))
    metrics.add_collector(AvailabilityGauges(database, clock=lambda: datetime.now(UTC)))
    now = datetime.now(UTC)
    with database.write() as session:  # one finished reconcile, so its gauges have samples
        session.add(
            ReconcileRun(
                started_at=now, finished_at=now, lease_expires_at=now, holder="test",
                status="done", mode="full", trigger="cli", applied=False, compared=10,
                accuracy_percent=90.0, drift={"user_field": 1}, calls_estimated=3, calls_made=3,
            )
        )  # fmt: skip
    metrics.add_collector(ReconcileGauges(database, clock=lambda: datetime.now(UTC)))
    return {name for name, _labels, _value in parse(metrics.exposition())}


def rules_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return data


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in rules_file()["groups"] for rule in group["rules"]]


def recorded() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def unknown_names(expr: str, exported: set[str]) -> set[str]:
    return {name for name in NAME.findall(expr) if name not in exported | recorded()}


def test_the_prometheus_rules_match_their_schema_and_our_metric_names(exported: set[str]) -> None:
    jsonschema.validate(rules_file(), RULES_SCHEMA)
    for rule in all_rules():
        assert NAME.search(rule["expr"]), rule
        assert unknown_names(rule["expr"], exported) == set(), rule.get("alert") or rule["record"]


def test_the_prometheus_rules_are_the_bridges_rules() -> None:
    alerting = [rule for rule in all_rules() if "alert" in rule]
    named = {rule["labels"]["rule"] for rule in alerting}
    assert named - OWN_HEALTH <= set(RULES)
    # Every rule of the bridge but its own channels' health (Alertmanager replaces them).
    assert set(RULES) - named == {CHANNEL}
    severities = {(r["labels"]["rule"], r["labels"]["severity"]) for r in alerting}
    assert {("dingtalk_availability", "warning"), ("dingtalk_availability", "critical")} <= (
        severities
    )
    assert {("sync_lag", "warning"), ("sync_lag", "critical")} <= severities
    assert ("dingtalk_sla_breach", "escalation") in severities


def test_the_grafana_dashboard_matches_its_schema_and_our_metric_names(
    exported: set[str],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert NAME.search(target["expr"]), panel["title"]
            assert unknown_names(target["expr"], exported) == set(), panel["title"]


def test_the_dashboard_shows_every_metric_family_we_export(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    shown = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    families = {re.sub(r"_(bucket|count|sum|created|total)$", "", name) for name in exported}
    assert {f for f in families if f not in shown} == set()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_rules_fire_as_their_promtool_unit_tests_expect() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    done = subprocess.run(
        [promtool, "test", "rules", str(RULES_FILE.with_name("alerts_test.yml"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
