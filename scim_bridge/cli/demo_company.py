"""A realistic sample company for `scim-bridge demo`: people, departments, managers, titles.

Deterministic (a fixed seed gives the same company every time), and as an IdP renders it in
SCIM: Users with the enterprise extension (employeeNumber, department, manager) and Groups that
the default mapping turns into DingTalk departments. Mobiles are valid mainland numbers, unique.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

SEED = 20261207
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
DOMAIN = "example-corp.cn"

#: Departments, each with the share of the staff it gets and its members' titles.
DEPARTMENTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Engineering", 30, ("Software Engineer", "Senior Engineer", "QA Engineer", "SRE")),
    ("Product", 8, ("Product Manager", "Product Analyst")),
    ("Design", 5, ("Product Designer", "UX Researcher")),
    ("Sales", 18, ("Account Executive", "Sales Representative", "Solutions Consultant")),
    ("Marketing", 8, ("Marketing Specialist", "Content Writer")),
    ("Customer Support", 12, ("Support Engineer", "Support Specialist")),
    ("Finance", 6, ("Accountant", "Financial Analyst")),
    ("People", 5, ("HR Partner", "Recruiter")),
    ("Legal", 3, ("Counsel", "Paralegal")),
    ("Operations", 5, ("Operations Analyst", "Office Manager")),
)
FAMILY = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Wu",
    "Zhou",
    "Xu",
    "Sun",
    "Ma",
    "Zhu",
    "Hu",
    "Guo",
    "He",
    "Gao",
    "Lin",
    "Luo",
)
GIVEN = (
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Jun",
    "Yang",
    "Yong",
    "Yan",
    "Jie",
    "Tao",
    "Ming",
    "Xin",
    "Hui",
    "Ying",
    "Bo",
    "Hao",
    "Lan",
    "Rui",
    "Yu",
    "Ning",
)
#: Mainland mobile prefixes (China's numbering plan: 13x-19x, 11 digits).
MOBILE_PREFIXES = ("133", "135", "136", "137", "138", "139", "150", "151", "158", "186", "188")


@dataclass
class Person:
    """One employee, before the IdP has pushed them (``scim_id`` once created)."""

    key: str
    given: str
    family: str
    title: str
    department: str
    mobile: str
    employee_number: str
    manager_key: str | None
    scim_id: str | None = None

    @property
    def user_name(self) -> str:
        """Return the sign-in name the IdP uses, an e-mail address."""
        return f"{self.given.lower()}.{self.family.lower()}.{self.key}@{DOMAIN}"


@dataclass
class Company:
    """The people (managers before their reports) and the departments."""

    people: list[Person] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)


def make_company(size: int, *, seed: int = SEED) -> Company:
    """Return a company of ``size`` people: a CEO, one head per department, their staff."""
    rng = random.Random(seed)  # noqa: S311 (sample data: the same company every time)
    used: set[str] = set()
    company = Company(departments=[name for name, _, _ in DEPARTMENTS])
    ceo = _person(rng, used, 0, "Chief Executive Officer", "Operations", None)
    company.people.append(ceo)
    heads = {}
    for name, _, _ in DEPARTMENTS[: max(0, size - 1)]:
        head = _person(rng, used, len(company.people), f"Head of {name}", name, ceo.key)
        heads[name] = head
        company.people.append(head)
    weights = [share for name, share, _ in DEPARTMENTS]
    while len(company.people) < size:
        name, _, titles = rng.choices(DEPARTMENTS, weights=weights)[0]
        boss = heads.get(name, ceo)
        title = rng.choice(titles)
        company.people.append(_person(rng, used, len(company.people), title, name, boss.key))
    return company


def _person(
    rng: random.Random, used: set[str], n: int, title: str, department: str, manager: str | None
) -> Person:
    while True:
        mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if mobile not in used:
            used.add(mobile)
            break
    return Person(
        key=f"{n + 1:04d}",
        given=rng.choice(GIVEN),
        family=rng.choice(FAMILY),
        title=title,
        department=department,
        mobile=mobile,
        employee_number=f"E{n + 1:05d}",
        manager_key=manager,
    )


def user_document(person: Person, *, manager_id: str | None) -> dict[str, Any]:
    """Return the SCIM User an IdP would POST for this person."""
    enterprise: dict[str, Any] = {
        "employeeNumber": person.employee_number,
        "department": person.department,
    }
    if manager_id is not None:
        enterprise["manager"] = {"value": manager_id}
    return {
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": person.user_name,
        "externalId": f"demo-{person.key}",
        "name": {"givenName": person.given, "familyName": person.family},
        "displayName": f"{person.given} {person.family}",
        "title": person.title,
        "active": True,
        "emails": [{"value": person.user_name, "type": "work", "primary": True}],
        "phoneNumbers": [{"value": person.mobile, "type": "mobile", "primary": True}],
        ENTERPRISE: enterprise,
    }


def group_document(name: str, member_ids: list[str]) -> dict[str, Any]:
    """Return the SCIM Group an IdP would POST for a department with its members."""
    return {
        "schemas": [CORE_GROUP],
        "displayName": name,
        "externalId": f"demo-dept-{name.lower().replace(' ', '-')}",
        "members": [{"value": i} for i in member_ids],
    }
