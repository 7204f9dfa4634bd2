# ruff: noqa: S603  (runs our own CLI)
"""One person's story through the real processes, with the operator's two views of it.

Issue 11, acceptance 2: `audit history` and `explain` for a person who was created, moved,
blocked by a missing mobile, fixed and synced. This starts, on 127.0.0.1, the DingTalk
emulator (`scim-bridge emulator`), the API (`scim-bridge serve --no-worker`) and the
translator (`scim-bridge worker`) on a fresh SQLite store, as an operator would
(tests/e2e/e2e_harness.py), then acts as the IdP over SCIM:

1. creates the groups Sales and Support, and Nora (with a mobile) in Sales;
2. moves her to Support (a department change);
3. removes her mobile: the default mapping (scim_bridge/schemas/mapping.default.yaml) takes
   DingTalk's ``mobile`` from ``phoneNumbers[type eq "mobile"]``, which DingTalk requires
   (dingtalk-api.md §4.1), so the translator cannot carry the change: she is blocked;
4. gives her a mobile again.

After each step it waits until the outbox is drained. At the blocked point and at the end it
runs the real CLI, `scim-bridge audit history nora@example.com` and `scim-bridge explain
nora@example.com`, and prints their output: the transcript of the closing note
(docs/evidence/story_person.txt).

    .venv/bin/python scripts/story_person.py
    .venv/bin/python scripts/story_person.py --database-url postgresql://postgres@127.0.0.1:55433/x
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from e2e_harness import CLI, PATCH, IdP, cluster

USER = "nora@example.com"


def banner(text: str) -> None:
    """Print a step heading."""
    print(f"\n=== {text}", flush=True)


def members(op: str, user_id: str) -> dict[str, Any]:
    """A group PATCH adding or removing one member (as Okta sends it)."""
    if op == "add":
        return {"op": "add", "path": "members", "value": [{"value": user_id}]}
    return {"op": "remove", "path": f'members[value eq "{user_id}"]'}


def shell(c: Any, *args: str) -> None:
    """Run a scim-bridge command as an operator would and print it with its output."""
    print(f"\n$ scim-bridge {' '.join(args)}", flush=True)
    done = subprocess.run(
        [CLI, *args], env=c.env(), capture_output=True, text=True, timeout=120, check=False
    )
    print((done.stdout + done.stderr).rstrip())
    if done.returncode:
        print(f"(exit status {done.returncode})")


def story(c: Any, idp: IdP) -> None:
    """Drive the IdP side and print the operator's views at the blocked point and the end."""
    banner("1. create Sales, Support and Nora (mobile +86 13900001111) in Sales")
    sales = idp.call("POST", "/Groups", {"displayName": "Sales", "members": []}, expect=201)
    support = idp.call("POST", "/Groups", {"displayName": "Support", "members": []}, expect=201)
    nora = idp.call(
        "POST",
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": USER,
            "externalId": "nora",
            "displayName": "Nora",
            "title": "Rep",
            "emails": [{"value": USER, "type": "work", "primary": True}],
            "phoneNumbers": [{"value": "+86 13900001111", "type": "mobile"}],
        },
        expect=201,
    )
    idp.patch(f"/Groups/{sales['id']}", members("add", nora["id"]), expect=204)
    c.wait_converged(timeout=120)
    print("synced")

    banner("2. move Nora from Sales to Support")
    idp.patch(f"/Groups/{sales['id']}", members("remove", nora["id"]), expect=204)
    idp.patch(f"/Groups/{support['id']}", members("add", nora["id"]), expect=204)
    c.wait_converged(timeout=120)
    print("synced")

    banner("3. the IdP drops Nora's mobile (DingTalk requires one)")
    idp.patch(f"/Users/{nora['id']}", {"op": "remove", "path": "phoneNumbers"})
    c.wait_converged(timeout=120)
    print("outbox drained; the operator looks:")
    shell(c, "audit", "history", USER)
    shell(c, "explain", USER)

    banner("4. the IdP sends a mobile again (+86 13955550000)")
    idp.patch(
        f"/Users/{nora['id']}",
        {
            "op": "replace",
            "value": {"phoneNumbers": [{"value": "+86 13955550000", "type": "mobile"}]},
        },
    )
    c.wait_converged(timeout=120)
    print("synced; the operator looks again:")
    shell(c, "audit", "history", USER)
    shell(c, "explain", USER)
    user = next(u for u in c.emulator_state()["users"] if u.get("userid") == "nora")
    print(
        f"\nthe emulator holds nora: mobile {user.get('mobile')}, depts {user.get('dept_id_list')}"
    )


def main(argv: list[str] | None = None) -> int:
    """Start the processes, tell the story, stop them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    assert PATCH  # the harness's PATCH URN; IdP.patch wraps operations in it
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'story.db'}"
        with cluster(workdir, url) as c:
            c.start_emulator("--qps", "20")
            c.prepare()
            api = c.start_api("api", "--no-worker")
            c.start("worker", "worker")
            story(c, IdP([api], c.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
