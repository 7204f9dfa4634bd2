"""`scim-bridge demo`: play an IdP's initial push of a sample company against a running server.

What a newcomer runs after `make run` to watch a directory arrive: Users first (managers
before their reports, so ``manager`` can name them), then one Group per department with its
members, over real HTTP with a bearer token, as Okta or Entra would. Progress goes to stderr.
"""

from __future__ import annotations

import secrets
from typing import Any

import click
import requests

from scim_bridge.cli.demo_company import group_document, make_company, user_document
from scim_bridge.cli.root import now, opened, settings_of
from scim_bridge.errors import ConfigError

SCIM_JSON = "application/scim+json"
DEMO_IDP = "demo"


class Pusher:
    """POSTs SCIM documents to one server with one token; a resource already there is reused."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": SCIM_JSON,
                "User-Agent": "scim-bridge-demo",
            }
        )
        self.timeout = timeout

    def create(self, endpoint: str, doc: dict[str, Any], *, unique: str, value: str) -> str:
        """Create a resource and return its id; if it exists (409), return the existing id."""
        try:
            response = self.http.post(f"{self.url}/{endpoint}", json=doc, timeout=self.timeout)
            if response.status_code == 409:
                query = {"filter": f'{unique} eq "{value}"', "attributes": "id"}
                found = self.http.get(f"{self.url}/{endpoint}", params=query, timeout=self.timeout)
                found.raise_for_status()
                matches = found.json().get("Resources") or []
                if not matches:
                    raise ConfigError(
                        f"{value!r} exists but belongs to another IdP's token; push with a "
                        "token of the IdP that created it (--token), or into an empty database"
                    )
                return str(matches[0]["id"])
        except requests.ConnectionError:
            raise ConfigError(
                f"nothing answers at {self.url}; start the server first (`make run`) or pass --url"
            ) from None
        if response.status_code == 401:
            raise ConfigError("the server refused the token; pass a valid one with --token")
        if response.status_code >= 400:
            detail = response.json().get("detail", response.text[:200])
            raise ConfigError(f"the server refused {endpoint} {value!r}: {detail}")
        return str(response.json()["id"])


@click.command()
@click.option("--url", default=None, help="SCIM base URL (default: http://HOST:PORT/scim/v2).")
@click.option("--token", default=None, help="Bearer token (default: a new token named demo-…).")
@click.option("--people", type=click.IntRange(1, 10000), default=200, show_default=True)
@click.option("--seed", type=int, default=None, help="Another seed gives another company.")
@click.pass_context
def demo(
    ctx: click.Context, url: str | None, token: str | None, people: int, seed: int | None
) -> None:
    """Push a sample company (people, departments, managers) to a running server over SCIM."""
    from scim_bridge.directory.tokens import create_token

    settings = settings_of(ctx)
    url = url or f"http://{settings.host}:{settings.port}/scim/v2"
    if token is None:
        with opened(settings) as database, database.write() as session:
            # The second gives a readable name, the random tail one that two runs never share.
            name = f"demo-{now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            # One IdP for every demo token: a second run sees, and reuses, the first's people.
            _row, token = create_token(session, name, idp=DEMO_IDP, now=now())
        click.echo(f"created token {name!r} for the push", err=True)
    company = make_company(people) if seed is None else make_company(people, seed=seed)
    pusher = Pusher(url, token)
    ids: dict[str, str] = {}
    for n, person in enumerate(company.people, start=1):
        manager = ids.get(person.manager_key) if person.manager_key else None
        doc = user_document(person, manager_id=manager)
        ids[person.key] = pusher.create("Users", doc, unique="userName", value=person.user_name)
        if n % 20 == 0 or n == len(company.people):
            click.echo(f"users {n}/{len(company.people)}", err=True)
    for n, dept in enumerate(company.departments, start=1):
        members = [ids[p.key] for p in company.people if p.department == dept]
        if not members:
            continue
        pusher.create("Groups", group_document(dept, members), unique="displayName", value=dept)
        click.echo(f"departments {n}/{len(company.departments)}: {dept} ({len(members)})", err=True)
    click.echo(
        f"pushed {len(company.people)} people in {len(company.departments)} departments to {url}"
    )


COMMANDS = (demo,)
