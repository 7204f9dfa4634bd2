"""Run scim2-tester's ``check_server`` against a live server and print the results as JSON.

Runs inside the conformance tools venv (scripts/conformance.py creates it), not the project's:

    TOOLS/bin/python scripts/conformance_tester.py URL TOKEN [--fill-datetimes]

``--fill-datetimes`` works around a scim2-tester 0.5.x bug (docs/conformance.md, T1): its random
value generator has no branch for ``dateTime`` attributes and fills them with a UUID string, which
its own pydantic model then rejects before a request is sent, so every check that fills a User
with all attributes (scim-bridge's DingTalk extension has ``hiredDate: dateTime``) errors out
without testing the server. With the flag the generator gives dateTime attributes a timestamp;
nothing else changes. scripts/conformance.py runs the tool both ways and reports both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any


def _fill_datetimes() -> None:
    from scim2_tester import filling
    from scim2_tester.checkers import patch_add, patch_replace

    original = filling.generate_random_value

    def generate(context: Any, path: Any, mutability: Any = None, required: Any = None) -> Any:
        value = original(context, path, mutability, required)
        binding = path.resolve()
        if value is not None and binding is not None and binding.target_type is dt.datetime:
            stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
            return [stamp] if isinstance(value, list) else stamp
        return value

    filling.generate_random_value = generate
    patch_add.generate_random_value = generate  # type: ignore[attr-defined]
    patch_replace.generate_random_value = generate  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--fill-datetimes", action="store_true")
    args = parser.parse_args()
    if args.fill_datetimes:
        _fill_datetimes()

    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    http = Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    out = [
        {
            "check": r.title,
            "status": r.status.name,
            "resource_type": r.resource_type,
            "reason": str(r.reason or ""),
        }
        for r in results
    ]
    json.dump(out, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
