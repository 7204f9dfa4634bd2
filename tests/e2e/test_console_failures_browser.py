"""The failures and changes pages in a real browser (issue 13, acceptance 1: the dead-letter half).

A dead-letter group made for real: DingTalk (the emulator, over HTTP) already holds members
with the mobiles of three new people, and the mapping links by job number only, so each create
is refused with errcode 60104 and dead-lettered. The browser opens the failures page and the
group; the conflicting members are removed in DingTalk (the fault cleared); the browser retries
the group; the worker carries out the action and the translator projects the three; the page
(which reloads itself while an action waits) shows the failures cleared. Then the changes page
computes its plan preview. The worker is driven step by step (carry_out_actions, then
run_until_idle): deterministic, no sleeping. Screenshots at desktop and phone sizes.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from console_browser_support import (
    chromium,
    has,
    needs_chromium,
    screenshot,
    shots_dir,
    sign_in,
    text_of,
    wait_for,
)
from dingtalk_client_fixtures import emulator_client
from werkzeug.serving import make_server

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory import admins
from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.mapping.rules import default_rules_path
from scim_bridge.settings import Settings
from scim_bridge.sync.console_actions import ActionTools, carry_out_actions
from scim_bridge.sync.worker import Worker, WorkerConfig

pytestmark = needs_chromium
__all__ = ["chromium"]  # the browser fixture, used by name

MOBILES = ("13900001001", "13900001002", "13900001003")
PASSWORD = "correct horse battery staple"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Stack:
    """The console on a real HTTP server, its worker, the emulator and a SCIM client."""

    url: str
    database: Database
    worker: Worker
    emulator: RunningEmulator
    scim: Any
    shots: Path

    def carry_out(self) -> None:
        """Let the worker act now: the console's actions, then the translator until idle."""
        tools = ActionTools.of(self.worker)
        carry_out_actions(self.database, clock=lambda: datetime.now(UTC), wake=lambda: None,
                          tools=tools)  # fmt: skip
        self.worker.run_until_idle()


@pytest.fixture
def stack(sqlite_template: Path, tmp_path: Path) -> Iterator[Stack]:
    """SQLite, the emulator holding three members, a worker, the app on 127.0.0.1."""
    path = tmp_path / "console.db"
    shutil.copy(sqlite_template, path)
    mapping = tmp_path / "mapping.yaml"
    default = default_rules_path().read_text(encoding="utf-8")
    mapping.write_text(
        default.replace("by: [mobile, email, job_number]", "by: [job_number]"), encoding="utf-8"
    )
    settings = Settings(database_url=f"sqlite:///{path}", mapping_file=str(mapping))
    database = Database(settings.database_url)
    with database.write() as session:
        for name, role in (("ada", "admin"), ("vic", "viewer")):
            hashed = admins.hash_password(PASSWORD, cost=2**10)
            admins.create_admin(
                session, name, role=role, password_hash=hashed, now=datetime.now(UTC)
            )
        _row, token = create_token(session, "okta", now=datetime.now(UTC))
    with start_emulator(EmulatorConfig(qps=0)) as emulator:
        for i, mobile in enumerate(MOBILES):  # people DingTalk has that the bridge does not link
            emulator.emulator.admin.add_user(f"old{i}", name=f"Former {i}", mobile=mobile)
        client = emulator_client(emulator)
        worker = build_worker(settings, database, client=client, config=WorkerConfig(threads=1))
        app = create_app(settings, db=database)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        scim = app.test_client()
        scim.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        try:
            yield Stack(f"http://127.0.0.1:{server.port}", database, worker, emulator, scim,
                        shots_dir(tmp_path, "console-failures-screenshots"))  # fmt: skip
        finally:
            server.shutdown()
            client.close()
            database.dispose()


def person(i: int, mobile: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"new{i}@example.com",
        "displayName": f"Newcomer {i}",
        "phoneNumbers": [{"value": mobile, "type": "mobile"}],
    }


def test_a_dead_letter_group_is_retried_and_cleared_in_a_browser(
    stack: Stack, chromium: Any
) -> None:
    from selenium.webdriver.common.by import By

    driver = chromium
    for i, mobile in enumerate((*MOBILES, "13900001009")):
        answer = stack.scim.post("/scim/v2/Users", json=person(i, mobile))
        assert answer.status_code == 201, answer.get_data(as_text=True)
    stack.worker.run_until_idle()
    users = stack.emulator.emulator.users()
    assert len(users) == 4  # the three former members and the one newcomer without a clash

    sign_in(driver, stack.url, "ada")
    driver.get(f"{stack.url}/admin/failures")
    wait_for(driver, lambda d: has(d, "tr.group"))
    assert "Dead letters: 3 in 1 cause(s)" in text_of(driver, "#groups")
    assert "mobile number belongs to another DingTalk member" in text_of(driver, "tr.group")
    screenshot(driver, stack.shots, "11-failures")

    driver.find_element(By.CSS_SELECTOR, "tr.group a").click()
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-letter]")) == 3)
    assert "Newcomer" in text_of(driver, "main")
    screenshot(driver, stack.shots, "12-failure-group")

    # The fault is cleared in DingTalk (over HTTP, as an admin there would), then retried here.
    with emulator_client(stack.emulator) as dingtalk:
        for i in range(len(MOBILES)):
            dingtalk.delete_user(f"old{i}")
    driver.find_element(By.CSS_SELECTOR, "#retry-group button").click()
    wait_for(driver, lambda d: "waiting for the worker" in text_of(d, "main"))
    screenshot(driver, stack.shots, "13-retry-queued")
    stack.carry_out()
    # The page reloads itself while the action waits: it shows the outcome and no failure.
    wait_for(driver, lambda d: has(d, "#no-failures"))
    assert "3 dead letter(s) queued again" in text_of(driver, "main")
    names = {u["name"] for u in stack.emulator.emulator.users().values()}
    assert {"Newcomer 0", "Newcomer 1", "Newcomer 2", "Newcomer 3"} <= names
    screenshot(driver, stack.shots, "14-failures-cleared")

    # The changes page: the worker computes the plan preview on request. A rename the
    # translator has not carried yet is what the preview shows, with its diff.
    rename = {"op": "replace", "path": "displayName", "value": "Newcomer Three"}
    renamed = {"schemas": [PATCH], "Operations": [rename]}
    new3 = stack.scim.get('/scim/v2/Users?filter=userName eq "new3@example.com"').get_json()
    answer = stack.scim.patch(f"/scim/v2/Users/{new3['Resources'][0]['id']}", json=renamed)
    assert answer.status_code == 200
    driver.get(f"{stack.url}/admin/changes")
    wait_for(driver, lambda d: has(d, "#compute-plan"))
    driver.find_element(By.CSS_SELECTOR, "#compute-plan button").click()
    wait_for(driver, lambda d: "waiting for the worker" in text_of(d, "main"))
    stack.carry_out()
    wait_for(driver, lambda d: has(d, "[data-field=plan-total]"))
    assert text_of(driver, "[data-field=plan-total]") == "1"
    assert "Newcomer Three" in text_of(driver, "details.plan-kind")
    assert has(driver, "#mapping-ok")
    screenshot(driver, stack.shots, "15-changes")

    # A viewer sees the same pages without a single button.
    sign_in(driver, stack.url, "vic")
    driver.get(f"{stack.url}/admin/failures")
    wait_for(driver, lambda d: has(d, "#no-failures"))
    assert not driver.find_elements(By.CSS_SELECTOR, "main button")
    screenshot(driver, stack.shots, "16-failures-viewer")
