"""The admin console in a real browser: headless Debian Chromium driven by selenium (issue 13).

The app runs on a real HTTP server on 127.0.0.1 (SQLite), with the built-in emulator behind
the sandbox view and standing in for DingTalk. The browser signs in, sees the overview update
without a reload, finds a person the IdP sent without a mobile number, reads the verdict,
sees it turn "in DingTalk and up to date" after the IdP fixes the mobile and "Sync now" is
pressed, finds the IdP's PATCH in the audit search, opens the SLA report, queues an action,
is refused as a viewer and with a forged form, and shows the sandbox tree. The worker is
driven by the test (console actions, then the outbox until idle) at the story's moments, so
nothing depends on a background timer but the page's own polling.
Screenshots (desktop and phone viewports) are saved under the directory the test prints
(SCIM_BRIDGE_ARTIFACTS_DIR, else the test's temporary directory).

Skipped only when /usr/bin/chromium is absent; `.ci/run` installs it (and chromedriver) from
Debian's packages, so CI runs it. Nothing is downloaded: both binaries are given by path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from console_browser_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    WAIT_SECONDS,
    chromium,
    needs_chromium,
    shots_dir,
    text_of,
    wait_for,
)
from console_browser_support import screenshot as save_both_sizes
from dingtalk_client_fixtures import emulator_client
from e2e_harness import CLI, free_port, wait_until
from sqlalchemy import select
from werkzeug.serving import make_server

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import start_emulator
from scim_bridge.dingtalk.emulator.read_api import EmulatorStateReader
from scim_bridge.directory import admins
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction, DeadLetter
from scim_bridge.directory.tokens import create_token
from scim_bridge.settings import Settings
from scim_bridge.sync.console_actions import carry_out_actions
from scim_bridge.sync.worker import WorkerConfig

pytestmark = needs_chromium
__all__ = ["chromium"]  # the browser fixture, used by name

SANDBOX = {
    "org_name": "Acme",
    "departments": [
        {"dept_id": 1, "name": "Acme", "parent_id": 0},
        {"dept_id": 2, "name": "Engineering", "parent_id": 1},
        {"dept_id": 3, "name": "Sales", "parent_id": 1},
    ],
    "users": [
        {
            "userid": "ceo",
            "name": "Wang Wei",
            "mobile": "13800000001",
            "dept_id_list": [1],
            "title": "Chief Executive Officer",
        },
        {
            "userid": "eng",
            "name": "Li Na",
            "mobile": "13800000002",
            "dept_id_list": [2],
            "title": "Software Engineer",
            "manager_userid": "ceo",
        },
        {
            "userid": "ae",
            "name": "Zhao Min",
            "mobile": "13800000003",
            "dept_id_list": [3],
            "title": "Account Executive",
            "manager_userid": "ceo",
        },
    ],
}


@dataclass
class Console:
    """The running console: its URL, database, where screenshots go, the IdP and worker."""

    url: str
    database: Database
    shots: Path
    token: str = ""
    #: Runs what the worker would do next: console actions, then the outbox until idle.
    work: Any = None

    def scim(self, method: str, path: str, body: Any = None) -> Any:
        """Call the SCIM API over HTTP as the IdP does; return the parsed answer."""
        answer = requests.request(
            method,
            f"{self.url}/scim/v2{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert answer.status_code < 300, answer.text
        return answer.json()


@pytest.fixture
def console(sqlite_template: Path, tmp_path: Path) -> Iterator[Console]:
    """The app on a real HTTP server on 127.0.0.1, an admin, a viewer and the sandbox."""
    path = tmp_path / "console.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    database = Database(url)
    now = datetime.now(UTC)
    with database.write() as session:
        for name, role in (("ada", "admin"), ("vic", "viewer")):
            hashed = admins.hash_password(PASSWORD, cost=2**10)  # quick to verify in tests
            admins.create_admin(session, name, role=role, password_hash=hashed, now=now)
        _row, token = create_token(session, "okta", now=now)
    shots = shots_dir(tmp_path, "console-screenshots")
    with start_emulator() as emulator:
        emulator.emulator.load(SANDBOX)
        cfg = emulator.emulator.config
        settings = Settings(
            database_url=url,
            dingtalk_base_url=emulator.url,
            dingtalk_api_url=emulator.url,
            dingtalk_app_key=cfg.app_key,
            dingtalk_app_secret=cfg.app_secret,
        )
        app = create_app(settings, db=database, sandbox=EmulatorStateReader(emulator.url))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        client = emulator_client(emulator, sleep=lambda _s: None)
        worker = build_worker(settings, database, client=client, config=WorkerConfig(threads=1))

        def work() -> None:
            carry_out_actions(database, clock=lambda: datetime.now(UTC), wake=lambda: None)
            worker.run_until_idle(timeout=WAIT_SECONDS)

        try:
            yield Console(f"http://127.0.0.1:{server.port}", database, shots, token, work)
        finally:
            server.shutdown()
            client.close()
            database.dispose()


def sign_in(driver: Any, console: Console, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{console.url}/admin/")
    wait_for(driver, lambda d: "/admin/login" in d.current_url)
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, "h1") and text_of(d, "h1") == "Overview"
    )


def screenshot(driver: Any, console: Console, name: str) -> None:
    """Save the page at desktop and phone sizes."""
    save_both_sizes(driver, console.shots, name)


def add_dead_letter(console: Console, resource_id: str) -> None:
    with console.database.write() as session:
        session.add(
            DeadLetter(
                resource_type="User",
                resource_id=resource_id,
                reason="DingTalk needs a mobile number",
                code="40022",
                created_at=datetime.now(UTC),
            )
        )


def queued(console: Console, kind: str = "retry") -> list[tuple[str, str, str]]:
    with console.database.read() as session:
        rows = session.scalars(select(ConsoleAction).where(ConsoleAction.kind == kind))
        return [(a.kind, a.target, a.requested_by) for a in rows]


def person_story(driver: Any, console: Console) -> str:
    """A person the IdP sent without a mobile number: found, explained, fixed, synced now,
    their PATCH found in the audit search; then the SLA report. Returns their SCIM id."""
    from selenium.webdriver.common.by import By

    noel = console.scim("POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "noel.blocked@example.com", "externalId": "noel",
        "displayName": "Noel Blocked",
        "emails": [{"value": "noel.blocked@example.com", "type": "work", "primary": True}],
    })["id"]  # fmt: skip
    console.work()  # DingTalk refuses a member without a mobile: a dead letter

    driver.find_element(By.LINK_TEXT, "People").click()
    wait_for(driver, lambda d: text_of(d, "h1") == "People and groups")
    driver.find_element(By.ID, "q").send_keys("noel")
    driver.find_element(By.ID, "search").click()
    wait_for(driver, lambda d: "Noel Blocked" in text_of(d, ".people-hits"))
    screenshot(driver, console, "02a-people-search")
    driver.find_element(By.LINK_TEXT, "Noel Blocked").click()
    wait_for(driver, lambda d: text_of(d, "h1") == "Noel Blocked")
    verdict = text_of(driver, "[data-field=verdict]")
    assert verdict == "blocked: no mobile number — fix it in the IdP"
    assert driver.find_element(By.ID, "verdict").get_attribute("data-kind") == "blocked"
    screenshot(driver, console, "02b-person-blocked")

    # The IdP fixes the mobile; an admin presses "Sync now"; the page shows it land.
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "+86 13800000009",
                                                         "type": "mobile"}]}]}  # fmt: skip
    console.scim("PATCH", f"/Users/{noel}", patch)
    driver.find_element(By.CSS_SELECTOR, "#sync-now button").click()
    wait_for(driver, lambda d: "waiting for the worker" in text_of(d, "#sync-state"))
    assert queued(console, "sync_now") == [("sync_now", noel, "ada")]
    console.work()
    synced = "in DingTalk and up to date (as last applied)"
    wait_for(driver, lambda d: text_of(d, "[data-field=verdict]") == synced)  # the page polls
    wait_for(driver, lambda d: "done: queued for DingTalk" in text_of(d, "#sync-state"))
    assert driver.find_element(By.ID, "verdict").get_attribute("data-kind") == "up_to_date"
    screenshot(driver, console, "02c-person-synced")

    # The audit search finds the IdP's PATCH.
    driver.find_element(By.LINK_TEXT, "Audit").click()
    wait_for(driver, lambda d: text_of(d, "h1") == "Audit trail")
    driver.find_element(By.ID, "person").send_keys("noel.blocked@example.com")
    driver.find_element(By.ID, "operation").send_keys("PATCH")
    driver.find_element(By.ID, "filter").click()
    wait_for(driver, lambda d: "PATCH" in text_of(d, "table.audit tbody"))
    rows = driver.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    assert len(rows) == 1 and "okta" in rows[0].text and noel in rows[0].text
    screenshot(driver, console, "02d-audit-search")

    # The SLA report, the same HTML `report sla` renders, styled under the page's CSP hash.
    driver.find_element(By.LINK_TEXT, "Reports").click()
    wait_for(driver, lambda d: text_of(d, "h1") == "Reports")
    driver.find_element(By.ID, "open-report").click()
    wait_for(driver, lambda d: text_of(d, "h1").startswith("DingTalk availability"))
    size = driver.execute_script("return getComputedStyle(document.querySelector('h1')).fontSize")
    assert size == "24px"  # the report's own 1.5rem: its inline <style> was allowed
    screenshot(driver, console, "02e-sla-report")
    driver.get(f"{console.url}/admin/")
    wait_for(driver, lambda d: text_of(d, "h1") == "Overview")
    return str(noel)


def test_console_in_a_browser(console: Console, chromium: Any) -> None:
    from selenium.webdriver.common.by import By

    driver = chromium
    driver.get(f"{console.url}/admin/login")
    screenshot(driver, console, "01-login")

    sign_in(driver, console, "ada")
    assert text_of(driver, "[data-field=dead_letters]") == "0"
    # The overview updates without a reload: the static script polls overview.json.
    add_dead_letter(console, "u-blocked")
    wait_for(driver, lambda d: text_of(d, "[data-field=dead_letters]") == "1")
    screenshot(driver, console, "02-overview")
    noel = person_story(driver, console)

    # An admin acts: the action is a row for the worker.
    driver.find_element(By.CSS_SELECTOR, "#retry-all button").click()
    wait_for(driver, lambda d: "waiting" in text_of(d, "main"))
    assert queued(console) == [("retry", "all", "ada")]
    screenshot(driver, console, "03-action-queued")

    # A forged form (no CSRF token) is refused and changes nothing.
    driver.execute_script(
        "var f = document.getElementById('retry-all');"
        "f.querySelector('[name=csrf_token]').remove(); f.submit();"
    )
    wait_for(driver, lambda d: text_of(d, "h1") == "Not allowed")
    assert "security token" in text_of(driver, ".error")
    assert len(queued(console)) == 1
    screenshot(driver, console, "04-forged-form-refused")

    # The sandbox shows the emulator's directory as a tree with counts; a click on a
    # department lists its people (paged), each with title and manager.
    driver.get(f"{console.url}/admin/sandbox")
    wait_for(driver, lambda d: "Engineering" in text_of(d, ".sandbox-tree"))
    assert "Wang Wei" in text_of(driver, ".sandbox-people")  # the root's own people first
    driver.find_element(By.LINK_TEXT, "Engineering").click()
    wait_for(driver, lambda d: "Li Na" in text_of(d, ".sandbox-people"))
    assert "reports to Wang Wei" in text_of(driver, ".sandbox-people")
    screenshot(driver, console, "05-sandbox")

    # A viewer sees a person's page without the button, and the request itself is refused.
    sign_in(driver, console, "vic")
    driver.get(f"{console.url}/admin/people/{noel}")
    wait_for(driver, lambda d: text_of(d, "h1") == "Noel Blocked")
    assert not driver.find_elements(By.ID, "sync-now")
    driver.execute_script(
        "var f = document.createElement('form'); f.method = 'post';"
        f"f.action = '/admin/people/{noel}/sync';"
        "f.appendChild(document.querySelector('[name=csrf_token]').cloneNode());"
        "document.body.appendChild(f); f.submit();"
    )
    wait_for(driver, lambda d: text_of(d, "h1") == "Not allowed")
    assert "viewers see, only admins act" in text_of(driver, ".error")
    assert len(queued(console, "sync_now")) == 1
    screenshot(driver, console, "05a-viewer-person-refused")

    # On the overview the button is disabled too, and the request itself is refused.
    driver.get(f"{console.url}/admin/")
    wait_for(driver, lambda d: text_of(d, "h1") == "Overview")
    button = driver.find_element(By.CSS_SELECTOR, "#retry-all button")
    assert button.get_attribute("disabled") is not None
    driver.execute_script("document.getElementById('retry-all').submit();")
    wait_for(driver, lambda d: text_of(d, "h1") == "Not allowed")
    assert "viewers see, only admins act" in text_of(driver, ".error")
    assert len(queued(console)) == 1
    screenshot(driver, console, "06-viewer-refused")
    assert sorted(p.name for p in console.shots.glob("*.png"))[:2] == [
        "01-login-desktop.png",
        "01-login-phone.png",
    ]


# --- a newcomer's first run: `make run`, sign in, `scim-bridge demo`, watch the sandbox --------


@contextlib.contextmanager
def quickstart(cwd: Path, env: dict[str, str], log: Path, port: int) -> Iterator[None]:
    """`scim-bridge quickstart` (what `make run` runs) in its own process group."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [CLI, "quickstart", "--port", str(port)],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def printed(log: Path, label: str) -> str:
    """Return what quickstart printed after ``label :``."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith(label):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"quickstart printed no {label!r} line")


@pytest.mark.slow
def test_newcomer_signs_in_with_the_printed_password_and_watches_the_demo_arrive(
    tmp_path: Path, chromium: Any
) -> None:
    from selenium.webdriver.common.by import By

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(HOME=str(tmp_path / "home"), SCIM_BRIDGE_WORKERS="1")
    port, log = free_port(), tmp_path / "quickstart.log"
    shots = shots_dir(tmp_path, "console-screenshots")
    with quickstart(tmp_path, env, log, port):
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{base}/readyz", timeout=2).ok, timeout=90, what="api")
        assert printed(log, "Console       ") == f"{base}/admin"
        name, password = printed(log, "Console login").split(" / ")
        driver = chromium
        driver.get(f"{base}/")  # `/` leads to the console, and it to the sign-in page
        wait_for(driver, lambda d: "/admin/login" in d.current_url)
        driver.find_element(By.ID, "name").send_keys(name)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "sign-in").click()
        wait_for(driver, lambda d: text_of(d, "h1") == "Overview")

        demo = subprocess.run(
            [CLI, "demo", "--url", f"{base}/scim/v2", "--people", "30"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr
        assert "users 30/30" in demo.stderr

        def arrived(d: Any) -> bool:
            d.get(f"{base}/admin/sandbox")
            return bool(d.find_elements(By.LINK_TEXT, "Engineering"))

        wait_for(driver, arrived)
        # The tree shows the demo's departments with counts; Engineering is one click away.
        driver.find_element(By.LINK_TEXT, "Engineering").click()
        wait_for(driver, lambda d: "Engineering" in text_of(d, ".sandbox-people h2"))

        def head_arrived(d: Any) -> bool:
            d.refresh()  # the department may exist before its people do
            return "Head of Engineering" in text_of(d, ".sandbox-people")

        wait_for(driver, head_arrived)
        for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
            driver.set_window_size(width, height)
            driver.save_screenshot(str(shots / f"07-newcomer-sandbox-{label}.png"))
        driver.set_window_size(*DESKTOP)
        driver.get(f"{base}/admin/")
        wait_for(driver, lambda d: text_of(d, "[data-field=people]") == "30")
        driver.save_screenshot(str(shots / "08-newcomer-overview-desktop.png"))
    assert "Traceback" not in log.read_text(encoding="utf-8")
