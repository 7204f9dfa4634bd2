"""Generate tests/data/sample_directory.json: 500 people as the SCIM API renders them.

Deterministic (fixed seed). The people: a parent company and two subsidiaries, contractors and
partners, a manager hierarchy, 15 groups, some leavers, and a few bad records planted on
purpose. The file's ``declared`` block lists what was planted, so tests can derive their
expectations from it instead of from the engine's output.

Run: .venv/bin/python tests/data/make_sample_directory.py
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

import phonenumbers

SEED = 20240611
PEOPLE = 500
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DINGTALK = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
OUT = Path(__file__).with_name("sample_directory.json")

PRIMARY = "Acme Group"
SUBSIDIARIES = {"Acme Asia": ("HK", 110), "Acme Europe": ("GB", 60)}
CONTRACTORS = 20
PARTNERS = 10
LEAVERS = 25
GROUPS = [
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "People",
    "Legal",
    "Support",
    "Operations",
    "Product",
    "Design",
    "Research",
    "IT",
    "Procurement",
    "Sales-EMEA",  # DingTalk forbids '-' in department names: renamed "Sales EMEA"
    "Partner Programme",
]

FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明"]
FIRST = ["Alice", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Henry", "Isla", "Jack"]
LAST = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Wright", "Walker"]


def _mobile(rng: random.Random, region: str, used: set[str]) -> str:
    """Return a valid, unused mobile number of a region, written as people type them."""
    while True:
        if region == "CN":
            text = f"+86 1{rng.choice('3589')}{rng.randrange(10)} {rng.randrange(10**8):08d}"
        elif region == "HK":
            text = f"+852 {rng.choice('569')}{rng.randrange(10**7):07d}"
        else:
            text = f"+44 7{rng.choice('4579')}{rng.randrange(10**8):08d}"
        number = phonenumbers.parse(text, None)
        if not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in used:
            continue
        used.add(e164)
        return text


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build() -> dict[str, Any]:
    """Build the sample directory (users, groups, declared facts) from the fixed seed."""
    rng = random.Random(SEED)
    used_mobiles: set[str] = set()
    people: list[dict[str, Any]] = []
    orgs = (
        [PRIMARY] * (PEOPLE - CONTRACTORS - PARTNERS - sum(n for _, n in SUBSIDIARIES.values()))
        + [org for org, (_, n) in SUBSIDIARIES.items() for _ in range(n)]
        + ["contractor"] * CONTRACTORS
        + ["partner"] * PARTNERS
    )
    for n, org in enumerate(orgs, 1):
        region = SUBSIDIARIES.get(org, ("CN", 0))[0]
        user_id = _id(rng)
        if region == "CN" and org == PRIMARY:
            family, given = rng.choice(FAMILY), rng.choice(GIVEN) + rng.choice(["", *GIVEN])
            display = family + given
            name = {"familyName": family, "givenName": given, "formatted": display}
            login = f"user{n:03d}"
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            display = f"{first} {last}"
            name = {"givenName": first, "familyName": last, "formatted": display}
            login = f"{first.lower()}.{last.lower()}{n:03d}"
        domain = {"partner": "partner.example", "contractor": "contractors.example"}.get(
            org, "acme.example"
        )
        user: dict[str, Any] = {
            "id": user_id,
            "userName": f"{login}@{domain}",
            "name": name,
            "displayName": display,
            "active": True,
            "emails": [{"value": f"{login}@{domain}", "type": "work", "primary": True}],
            "phoneNumbers": [{"value": _mobile(rng, region, used_mobiles), "type": "mobile"}],
            "groups": [],
        }
        # Okta sends externalId; Entra-provisioned people (every third) have none.
        if n % 3:
            user["externalId"] = f"00u{rng.getrandbits(64):016x}"
        if n % 7 == 0:
            # No displayName: the name comes from givenName + familyName.
            del user["displayName"]
            del user["name"]["formatted"]
        if org in ("contractor", "partner"):
            user["userType"] = "Contractor" if org == "contractor" else "Partner"
            organization = PRIMARY if org == "contractor" else "Globex Partners"
        else:
            user["userType"] = "Employee"
            organization = org
        user[ENTERPRISE] = {
            "employeeNumber": f"E{n:05d}",
            "organization": organization,
            "department": "",
        }
        if n % 5 == 0:
            user[DINGTALK] = {"workPlace": rng.choice(["Hangzhou", "Shanghai", "Remote"])}
        people.append(user)

    # --- groups and membership: every employee in one group, a few in two, some in none ---
    groups = [{"id": _id(rng), "displayName": g, "members": []} for g in GROUPS]
    by_name = {g["displayName"]: g for g in groups}
    for i, user in enumerate(people):
        if user["userType"] == "Partner":
            picks = ["Partner Programme"]
        elif user[ENTERPRISE]["organization"] == "Acme Europe" and i % 2:
            picks = ["Sales-EMEA"]
        else:
            picks = [GROUPS[i % 13]]
            if i % 17 == 0:
                picks.append(GROUPS[(i + 5) % 13])
        for pick in picks:
            _join(user, by_name[pick])

    # --- the manager hierarchy: a CEO, one head per group, everyone else under a head ---
    ceo = people[0]
    heads: dict[str, dict[str, Any]] = {}
    for user in people[1:]:
        gname = user["groups"][0]["display"]
        if gname not in heads and user["userType"] == "Employee":
            heads[gname] = user
            _manage(user, ceo)
    for user in people[1:]:
        gname = user["groups"][0]["display"]
        head = heads.get(gname)
        if head is not None and head is not user:
            _manage(user, head)
    managers = {ceo["id"]} | {h["id"] for h in heads.values()}

    # --- the declared facts: picked from plain staff so they don't disturb one another ---
    staff = [
        u
        for u in people[1:]
        if u["id"] not in managers and u["userType"] == "Employee" and "externalId" in u
    ]
    rng.shuffle(staff)
    pool = iter(staff)

    def take(k: int) -> list[dict[str, Any]]:
        return [next(pool) for _ in range(k)]

    declared: dict[str, Any] = {"seed": SEED, "people": PEOPLE, "groups": GROUPS}

    no_group = take(12)
    for user in no_group:
        for ref in user["groups"]:
            group = by_name[ref["display"]]
            group["members"] = [m for m in group["members"] if m["value"] != user["id"]]
        user["groups"] = []
    declared["no_group"] = [u["id"] for u in no_group]

    leavers = take(LEAVERS)
    for user in leavers:
        user["active"] = False
    declared["leavers"] = [u["id"] for u in leavers]

    bad: dict[str, Any] = {}
    invalid = take(3)
    for user, text in zip(invalid, ["12345", "+86 100 0000 0000", "call me"], strict=True):
        user["phoneNumbers"][0]["value"] = text
    bad["invalid_mobile"] = [u["id"] for u in invalid]

    missing = take(2)
    for user in missing:
        del user["phoneNumbers"]
    bad["missing_mobile"] = [u["id"] for u in missing]

    first, second = take(2)
    # The same number written two ways: equal once normalised.
    second["phoneNumbers"][0]["value"] = first["phoneNumbers"][0]["value"].replace(" ", "-")
    bad["duplicate_mobile"] = [[first["id"], second["id"]]]

    first, second = take(2)
    second["emails"][0]["value"] = first["emails"][0]["value"].upper()
    bad["duplicate_email"] = [[first["id"], second["id"]]]

    (long_name,) = take(1)
    long_name["displayName"] = "Maximilian " + "Alexander-" * 8 + "Featherstonehaugh"
    bad["long_name"] = [long_name["id"]]

    first, second = take(2)
    _manage(first, second)
    _manage(second, first)
    bad["manager_cycle"] = [[first["id"], second["id"]]]

    ghost_report, leaver_report = take(2)
    _manage(ghost_report, {"id": "ffffffff-0000-4000-8000-000000000000", "displayName": "Gone"})
    _manage(leaver_report, leavers[0])
    bad["manager_out_of_scope"] = [ghost_report["id"], leaver_report["id"]]
    declared["bad"] = bad

    declared["partners"] = [u["id"] for u in people if u["userType"] == "Partner"]
    declared["contractors"] = [u["id"] for u in people if u["userType"] == "Contractor"]
    declared["subsidiaries"] = {
        org: [u["id"] for u in people if u[ENTERPRISE]["organization"] == org]
        for org in SUBSIDIARIES
    }
    declared["primary_organization"] = PRIMARY
    return {"declared": declared, "users": people, "groups": groups}


def _join(user: dict[str, Any], group: dict[str, Any]) -> None:
    user["groups"].append({"value": group["id"], "display": group["displayName"]})
    group["members"].append({"value": user["id"], "type": "User"})


def _manage(user: dict[str, Any], manager: dict[str, Any]) -> None:
    user[ENTERPRISE]["manager"] = {
        "value": manager["id"],
        "displayName": manager.get("displayName", ""),
    }


def main() -> int:
    """Write the sample directory next to this script."""
    OUT.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
