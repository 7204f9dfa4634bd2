"""The reference server of `scim_load.py`: scim2-server's in-memory application, for gunicorn.

Runs in the reference's own virtualenv (scim2-server and gunicorn, never the project's .venv):

    gunicorn --preload -k gthread -w 1 --threads 8 --chdir bench scim2_reference_app:app

It is the application the ``scim2-server`` command builds (the RFC 7643 schemas and resource
types, the default service provider configuration, an ``InMemoryStorage``), minus the
wsgiref server, which gunicorn replaces. Environment:

- ``SCIM_REF_BEARER_TOKEN``: the one bearer token accepted (as ``--bearer-token``); unset,
  every request is accepted.
- ``SCIM_REF_SEED_USERS``: create that many users (``scim_load_data.user_body``) before serving,
  through the application's own POST /Users handler, in this process. With ``--preload`` the
  store is filled once in gunicorn's master and the worker inherits it.
- ``SCIM_REF_IDS_FILE``: write the seeded users' ids there, one a line, in index order.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scim_load_data import user_body


def build() -> BearerTokenApplication:
    """Build the application as the ``scim2-server`` command does."""
    token = os.environ.get("SCIM_REF_BEARER_TOKEN", "")
    config = load_default_service_provider_config()
    if token:
        config.authentication_schemes = [
            *(config.authentication_schemes or []),
            BEARER_TOKEN_SCHEME,
        ]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    service = ScimService(provider, secret=secrets.token_urlsafe(32))
    return BearerTokenApplication(
        InMemoryStorage(), provider, service=service, bearer_tokens=[token] if token else []
    )


def seed(application: BearerTokenApplication, users: int, ids_file: str | None) -> None:
    """Create ``users`` users through the application's POST /Users handler."""
    token = os.environ.get("SCIM_REF_BEARER_TOKEN", "")
    headers = {"Content-Type": "application/scim+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    ids: list[str] = []
    started = time.perf_counter()
    for index in range(users):
        request = ScimRequest(
            method="POST",
            base_url="http://127.0.0.1/v2",
            path="/Users",
            headers=headers,
            body=json.dumps(user_body(index)).encode(),
        )
        response = application.serve(request)
        if response.status.value != 201 or not isinstance(response.body, dict):
            raise SystemExit(f"seeding user {index} failed: {response.status} {response.body}")
        ids.append(response.body["id"])
        if (index + 1) % 10_000 == 0:
            print(f"reference: seeded {index + 1:,} users", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print(f"reference: seeded {users:,} users in {elapsed:.1f} s", file=sys.stderr, flush=True)
    if ids_file:
        Path(ids_file).write_text("\n".join(ids) + "\n", encoding="utf-8")


app = build()
_seed = int(os.environ.get("SCIM_REF_SEED_USERS", "0") or 0)
if _seed:
    seed(app, _seed, os.environ.get("SCIM_REF_IDS_FILE"))
