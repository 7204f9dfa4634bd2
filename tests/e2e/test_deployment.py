"""deploy/: the files an SRE installs are valid, complete, and run the API as documented (#14).

- gunicorn started directly with deploy/gunicorn.conf.py serves the API with its metrics, logs
  paths without query strings and leaves no control socket in $HOME;
- deploy/scim-bridge.example.yaml lists every setting (generated from settings.py) and loads;
- deploy/compose.yaml validates with `docker-compose config` (Debian's package; CI installs it)
  and has the promised topology;
- the systemd units pass `systemd-analyze verify` without a warning.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from e2e_harness import free_port, wait_until
from test_e2e_operator import cli, operator_env

from scim_bridge.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def test_gunicorn_conf_serves_the_api_with_metrics_and_no_query_strings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = operator_env(
        home,
        SCIM_BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'scim.db'}",
        SCIM_BRIDGE_PORT=str(port),
        SCIM_BRIDGE_WORKERS="2",
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    assert cli(tmp_path, env, "db", "upgrade").returncode == 0
    log = tmp_path / "gunicorn.log"
    conf = str(DEPLOY / "gunicorn.conf.py")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", conf], cwd=tmp_path, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ok(f"{url}/healthz"), timeout=60, what="gunicorn")
        secret_filter = 'userName eq "leaver@example.com"'
        answer = requests.get(f"{url}/scim/v2/Users", params={"filter": secret_filter}, timeout=10)
        assert answer.status_code == 401  # no token: refused, and still logged
        metrics = requests.get(f"{url}/metrics", timeout=10)
        assert metrics.status_code == 200, log.read_text()[-3000:]
        assert "scim_bridge_http_requests_total" in metrics.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "GET /scim/v2/Users HTTP/1.1" in text  # the access line, with the path...
    assert "leaver" not in text and "filter=" not in text  # ...but never the query string
    assert not (home / ".gunicorn").exists()


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.ConnectionError:
        return False


def test_example_config_lists_every_setting_and_is_current() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "example_config.py"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    text = (DEPLOY / "scim-bridge.example.yaml").read_text()
    for f in dataclasses.fields(Settings):
        assert f"\n# {f.name}: " in text, f.name
        assert f"SCIM_BRIDGE_{f.name.upper()}" in text, f.name


def test_example_config_uncommented_loads_as_the_defaults(tmp_path: Path) -> None:
    lines = (DEPLOY / "scim-bridge.example.yaml").read_text().splitlines()
    names = {f.name for f in dataclasses.fields(Settings)}
    settings = [
        line[2:]
        for line in lines
        if line.startswith("# ") and line[2:].partition(":")[0] in names
        and not line.endswith("computed on this host")
    ]  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(settings) + "\n")
    loaded = load_settings(environ={}, config_path=path)
    defaults = Settings()
    assert loaded == dataclasses.replace(defaults, workers=loaded.workers)


def test_compose_has_postgres_two_apis_two_workers_prometheus_and_grafana() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "api", "worker", "prometheus", "grafana"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"] == ["scim-bridge", "worker"]
    mounts = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    assert "alerts.yml" in mounts and "scim-bridge.json" in mounts
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert jobs == {"scim-bridge-api", "scim-bridge-worker"}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER scim" in dockerfile and "/readyz" in dockerfile
    assert dockerfile.count("FROM python:3.11.11-slim-bookworm") == 2  # pinned, multi-stage


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False) \
        if shutil.which("docker") else None  # fmt: skip
    return ["docker", "compose"] if probe is not None and probe.returncode == 0 else None


def test_compose_config_validates(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker-compose nor `docker compose` here (.ci/run installs it)")
    work = tmp_path / "deploy"
    shutil.copytree(DEPLOY, work)
    shutil.copy(work / "scim-bridge.env.example", work / "scim-bridge.env")
    env = {**os.environ, "POSTGRES_PASSWORD": "pw", "GRAFANA_ADMIN_PASSWORD": "pw"}
    done = subprocess.run(
        [*command, "-f", str(work / "compose.yaml"), "config", "-q"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env.pop("POSTGRES_PASSWORD")
    missing = subprocess.run(
        [*command, "-f", str(work / "compose.yaml"), "config", "-q"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def test_systemd_units_verify_without_warnings(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    units = []
    for name in ("scim-bridge-api.service", "scim-bridge-worker.service"):
        # The units name /opt/scim-bridge; verify checks that ExecStart exists, so point it here.
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/scim-bridge/bin/", f"{BIN}/")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    done = subprocess.run(
        ["systemd-analyze", "verify", *units],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown or misspelt key only warns
