"""/metrics of `scim-bridge serve --workers 2`: whichever process answers the scrape, the
counters are the sum over both processes, exactly (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from e2e_harness import cluster, free_port, wait_until
from prometheus_client.mmap_dict import MmapedDict
from test_e2e_operator import cli, operator_env, running

from scim_bridge.monitor.metrics import parse, total

pytestmark = pytest.mark.slow
LIST_ROUTE = "/scim/v2/Users"


def lists_per_process(directory: Path) -> dict[str, float]:
    """GET /Users answered, per process, read from each process's own file (prometheus-client
    names them counter_<pid>.db)."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        counted[path.stem.split("_", 1)[1]] = sum(
            value
            for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path))
            if json.loads(key)[2] == {"method": "GET", "endpoint": LIST_ROUTE, "status": "200"}
        )
    return counted


def test_http_counters_add_up_exactly_across_two_gunicorn_processes(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_1.db"
    stale.write_bytes(b"a previous run's counts must not be added again")
    env = operator_env(
        tmp_path / "home",
        SCIM_BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'scim.db'}",
        SCIM_BRIDGE_METRICS_DIR=str(metrics_dir),
    )
    (tmp_path / "home").mkdir()
    assert cli(tmp_path, env, "db", "upgrade").returncode == 0
    token = cli(tmp_path, env, "token", "create", "okta").stdout.strip().splitlines()[-1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("serve", "--port", str(port), "--workers", "2", "--no-worker")
    with running(tmp_path, env, tmp_path / "serve.log", *args):
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=2).ok, timeout=60, what="serve")
        assert not stale.exists()
        sent = 0
        # A fresh connection per request (no Session): each is accepted by whichever process
        # gets to it first. Keep going until both processes have counted something.
        while len([n for n in lists_per_process(metrics_dir).values() if n > 0]) < 2:
            assert sent < 3000, "one process served everything"
            answer = requests.get(
                f"{url}/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert answer.status_code == 200
            sent += 1
        scraped = requests.get(f"{url}/metrics", timeout=10)
        assert scraped.status_code == 200
        parsed = parse(scraped.content)
        again = parse(requests.get(f"{url}/metrics", timeout=10).content)
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    per_process = lists_per_process(metrics_dir)
    assert len([n for n in per_process.values() if n > 0]) == 2, log
    assert sum(per_process.values()) == sent
    requests_total = "scim_bridge_http_requests_total"
    labels = {"method": "GET", "endpoint": LIST_ROUTE, "status": "200"}
    assert total(parsed, requests_total, **labels) == sent
    assert total(again, requests_total, **labels) == sent  # whichever process answered
    durations = "scim_bridge_http_request_duration_seconds_count"
    assert total(parsed, durations, method="GET", endpoint=LIST_ROUTE) == sent
    # The first scrape is counted once it is answered, so the second one sees it.
    assert total(parsed, requests_total, endpoint="/metrics") == 0
    assert total(again, requests_total, endpoint="/metrics") == 1
    assert total(parsed, "scim_bridge_outbox_depth") == 0
    assert total(parsed, "scim_bridge_database_up") == 1


def test_a_worker_run_apart_shows_its_sync_metrics_and_makes_the_api_ready(
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    token = "worker-scrape-token"
    with cluster(
        tmp_path,
        f"sqlite:///{tmp_path / 'bridge.db'}",
        SCIM_BRIDGE_WORKER_METRICS_PORT=str(metrics_port),
        SCIM_BRIDGE_METRICS_TOKEN=token,
    ) as c:
        c.start_emulator()
        c.prepare()
        base = c.start_api("api", "--workers", "1", "--no-worker")
        api = base.removesuffix("/scim/v2")
        assert requests.get(f"{api}/readyz", timeout=5).status_code == 503  # no worker yet
        c.start("worker", "worker")
        wait_until(lambda: requests.get(f"{api}/readyz", timeout=5).ok, timeout=60, what="ready")
        user = {
            "userName": "ada@example.com",
            "externalId": "ada",
            "name": {"givenName": "Ada", "familyName": "L"},
            "phoneNumbers": [{"value": "13800000001", "type": "mobile"}],
        }
        answer = requests.post(
            f"{base}/Users", json=user, headers={"Authorization": f"Bearer {c.token}"}, timeout=10
        )
        assert answer.status_code == 201
        scrape_url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert requests.get(scrape_url, timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}

        def lag_observed() -> bool:
            parsed = parse(requests.get(scrape_url, headers=auth, timeout=5).content)
            return total(parsed, "scim_bridge_sync_lag_seconds_count") == 1

        wait_until(lag_observed, timeout=60, what="the sync lag of ada")
        parsed = parse(requests.get(scrape_url, headers=auth, timeout=5).content)
        ready = requests.get(f"{api}/readyz", timeout=5).json()
    calls = "scim_bridge_dingtalk_calls_total"
    assert total(parsed, calls, api="/topapi/v2/user/create", outcome="ok") == 1
    assert total(parsed, "scim_bridge_dingtalk_token_refreshes_total", outcome="ok") >= 1
    assert total(parsed, "scim_bridge_outbox_depth") == 0
    assert {name: check["status"] for name, check in ready["checks"].items()} == {
        "database": "ok",
        "migrations": "ok",
        "worker": "ok",
        "dingtalk_token": "ok",
    }
