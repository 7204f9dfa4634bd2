"""Property-based fuzz of the SCIM API: bad input never causes a 5xx nor changes stored data.

Bodies are drawn from the schemas of the OpenAPI document the project publishes
(scim_bridge/schemas/openapi.json, served at /scim/v2/openapi.json), then mutated: wrong types,
huge strings, deep nesting, odd unicode (NUL, lone surrogates), nulls, string booleans,
unknown attributes, malformed PatchOps and filters, bogus bulkIds; filter literals and PATCH
value-path filters whose escapes decode to NUL or lone surrogates; co/sw/ew literals around the
8 KiB filter cap and past SQLite's LIKE limit; startIndex/count past every database's integers
(as query parameters, JSON numbers and infinities); hostile query strings on writes. For every
request:

* the status is below 500;
* a 4xx body is a SCIM Error (RFC 7644 §3.12) whose ``status`` is the HTTP status as a string,
  and it validates against the OpenAPI document's Error schema;
* a rejected request (4xx) leaves every table but ``tokens`` exactly as it was;
* a 2xx body validates against the schema the OpenAPI document gives for that response.

Runs on SQLite and, when SCIM_BRIDGE_TEST_POSTGRES_URL is set, on PostgreSQL (the app and
database fixtures follow ``db_url``, so each property runs once per backend). Bounded by
``max_examples``; derandomized under CI so a run is reproducible. Hypothesis prints the
minimal failing request.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import text

from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.http.runtime import utc_now

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DINGTALK_URN = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
PROFILES = st.sampled_from(["generic", "okta", "entra", "strict"])
SNAPSHOT_TABLES = ("users", "user_values", "groups", "group_members", "outbox")

FUZZ = settings(
    max_examples=int(os.environ.get("SCIM_BRIDGE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the app and its data persist across examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# --- the published OpenAPI document ----------------------------------------------------------


@cache
def openapi() -> dict[str, Any]:
    """The OpenAPI document as shipped in the package."""
    raw = resources.files("scim_bridge").joinpath("schemas/openapi.json").read_text()
    doc: dict[str, Any] = json.loads(raw)
    return doc


@cache
def validator(component: str) -> Draft202012Validator:
    """A JSON Schema validator for one of the document's component schemas."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:scim-bridge:openapi", Resource.from_contents(openapi(), DRAFT202012)
    )
    ref = {"$ref": f"urn:scim-bridge:openapi#/components/schemas/{component}"}
    return Draft202012Validator(ref, registry=registry)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = openapi()["components"]["schemas"][name]
    return schema


# --- strategies: values ----------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

hostile_strings = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=40),  # any code point, surrogates too
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "\udfff",
            "😀" * 50,
            "\u202e\u0000\uffff",
            "Ω≈ç√∫˜µ≤",
            "null",
            "True",
            "false",
            "FALSE",
            "1",
            "-1",
            "1e309",
            "NaN",
            "bulkId:",
            "bulkId:nope",
            'a"b',
            "\\",
            "%00",
            "../../etc/passwd",
            "2026-02-30T25:61:61Z",
            "' OR 1=1 --",
            "${jndi:ldap://127.0.0.1/x}",
        ]
    ),
    st.integers(min_value=257, max_value=70_000).map(lambda n: "x" * n),  # past column sizes
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"value": value}
    return value


hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["True", "False", "true", "yes", "0", "1", "on"]),  # string booleans
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_strings,
    st.lists(json_scalars, max_size=4),
    st.dictionaries(hostile_strings, json_scalars, max_size=3),
    st.integers(min_value=2, max_value=60).map(_nested),
    json_values,
)


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for values that fit an OpenAPI (JSON Schema) schema, roughly."""
    schema = _resolve(schema)
    if "allOf" in schema:  # User = UserAttributes + required: merge the parts
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [*(_resolve(p) for p in schema["allOf"]), schema]:
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        schema = merged
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if depth > 2:
            return st.fixed_dictionaries({k: from_schema(props[k], depth + 1) for k in required})
        return st.fixed_dictionaries(
            {k: from_schema(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, depth + 1) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), depth + 1), max_size=3)
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=-5, max_value=2000)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes().map(lambda d: d.isoformat() + "Z")
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "examples" in schema and all(isinstance(e, str) for e in schema["examples"]):
            return st.sampled_from(schema["examples"]) | st.text(max_size=12)
        return st.text(max_size=12)
    return json_values


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    """Draw from ``base``, then break it in one or more hostile ways."""
    value = draw(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        value = draw(_mutation(value))
    return value


@st.composite
def _mutation(draw: st.DrawFn, value: Any) -> Any:
    how = draw(st.integers(min_value=0, max_value=6))
    if not isinstance(value, dict) or how == 0:
        return draw(hostile_values) if how == 0 else value
    value = dict(value)
    keys = list(value)
    if how == 1 and keys:  # a wrong type or a hostile value where a good one was
        value[draw(st.sampled_from(keys))] = draw(hostile_values)
    elif how == 2:  # an unknown attribute, or a known one spelt in another case
        name = draw(hostile_strings | st.sampled_from([k.upper() for k in keys] or ["X"]))
        value[name] = draw(hostile_values)
    elif how == 3 and keys:  # drop something, required or not
        del value[draw(st.sampled_from(keys))]
    elif how == 4 and keys:  # go one level down
        key = draw(st.sampled_from(keys))
        value[key] = draw(_mutation(value[key]))
    elif how == 5:  # an extension object of the wrong shape
        value[draw(st.sampled_from([ENTERPRISE_URN, DINGTALK_URN, "urn:x:y"]))] = draw(
            hostile_values
        )
    elif how == 6:  # schemas of the wrong shape
        value["schemas"] = draw(hostile_values)
    return value


def resource_body(component: str) -> st.SearchStrategy[Any]:
    """A User or Group body from the OpenAPI schema, sometimes mutated."""
    return mutated(from_schema({"$ref": f"#/components/schemas/{component}"}))


# --- strategies: paths, filters, PatchOps, Bulk ----------------------------------------------

ATTRS = [
    "userName",
    "USERNAME",
    "displayName",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "phoneNumbers.value",
    "active",
    "externalId",
    "id",
    "meta.created",
    "meta.lastModified",
    "meta.resourceType",
    "members",
    "members.value",
    "members.display",
    "groups",
    "groups.value",
    "title",
    "password",
    f"{USER_URN}:userName",
    f"{ENTERPRISE_URN}:employeeNumber",
    f"{ENTERPRISE_URN}:manager.value",
    f"{DINGTALK_URN}:hiredDate",
    f"{DINGTALK_URN}:extension",
    "x509Certificates.value",
    "nosuch",
    "name.nosuch",
    "urn:nosuch:attr",
    "",
    "a.b.c.d",
    "$ref",
    "emails[",
]
OPS = ["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "EQ", "Eq", "xx", "==", ""]
LITERALS = st.one_of(
    st.text(max_size=10).map(json.dumps),
    st.sampled_from(
        [
            "true",
            "false",
            "null",
            "0",
            "-1",
            "1e309",
            "3.14",
            '"2026-01-01T00:00:00Z"',
            '"2026-13-45"',
            '"unterminated',
            '"\\u0000"',
            '"\\ud800"',
            "'single'",
            "bare",
            '"W/\\"1\\""',
        ]
    ),
)


#: Escapes that decode, after the raw request text was checked, to text no database can hold:
#: NUL and lone surrogates (issue 9: they gave 500s, and a NUL was once stored).
ESCAPED_LITERALS = st.sampled_from(
    ['"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"x\\udfff"', '"\\uDBFF\\u0000"', '"\\uD83D"']
)


def long_literal(size: int) -> str:
    """A quoted literal of about ``size`` characters made of LIKE's wildcards and escape."""
    return json.dumps(("x%_\\é" * (size // 5 + 1))[:size], ensure_ascii=False)


#: co/sw/ew with literals around the 8 KiB filter cap and past SQLite's 50,000-byte LIKE limit.
LONG_LIKE = st.tuples(
    st.sampled_from(["userName", "displayName", "title", "emails.value", "externalId"]),
    st.sampled_from(["co", "sw", "ew"]),
    st.sampled_from([8100, 8180, 9000, 30_000, 60_000]),
).map(lambda t: f"{t[0]} {t[1]} {long_literal(t[2])}")


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    attr = draw(st.sampled_from(ATTRS))
    op = draw(st.sampled_from([*OPS, "pr", "PR"]))
    if op.lower() == "pr":
        return f"{attr} {op}"
    literal = draw(st.one_of(LITERALS, LITERALS, ESCAPED_LITERALS))
    return f"{attr} {op} {literal}"


def _filters(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "AND", "xor"]), inner).map(" ".join),
        inner.map(lambda f: f"not ({f})"),
        inner.map(lambda f: f"({f})"),
        st.tuples(st.sampled_from(["emails", "members", "groups", "addresses", "x"]), inner).map(
            lambda t: f"{t[0]}[{t[1]}]"
        ),
    )


filters = st.one_of(
    st.recursive(comparisons(), _filters, max_leaves=5),
    LONG_LIKE,
    st.tuples(st.sampled_from(["emails", "members", "groups"]), ESCAPED_LITERALS).map(
        lambda t: f"{t[0]}[value eq {t[1]}]"
    ),
    hostile_strings,
    st.integers(min_value=1, max_value=3000).map(lambda n: "(" * n + 'userName eq "a"' + ")" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: "not (" * n + "id pr" + ")" * n),
    st.sampled_from(
        [
            'userName eq "a" and',
            "(userName eq 1",
            "emails[type eq work]",
            'emails[type eq "work"].value eq "x"',
            'members[value eq "x"].display sw "y"',
            'meta.lastModified gt "garbage"',
            "userName eq",
            "eq",
            "()",
            "[]",
            'userName eq "a") or (1',
            'userName eq "a" ' * 200,
        ]
    ),
)

#: startIndex / count values: ordinary, negative, and past every database's integers.
paging_numbers = st.one_of(
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64 + 1, 10**30, -(10**30)]),
    st.integers(min_value=2**63, max_value=10**4000),
)
huge_floats = st.sampled_from([1e30, -1e30, 1e308, float("inf"), float("-inf"), 2.5, 0.0])


#: Query strings on writes: one parameter at a time (so a bad one is not drowned by another),
#: or several; parameters are parsed before the write or not at all.
write_queries = st.one_of(
    st.fixed_dictionaries({"count": hostile_strings | paging_numbers.map(str)}),
    st.fixed_dictionaries({"startIndex": hostile_strings | paging_numbers.map(str)}),
    st.fixed_dictionaries({"filter": filters}),
    st.fixed_dictionaries({"sortBy": st.sampled_from(ATTRS) | hostile_strings}),
    st.fixed_dictionaries({"sortOrder": st.sampled_from(["ascending", "up"]) | hostile_strings}),
    st.fixed_dictionaries(
        {},
        optional={
            "attributes": st.lists(st.sampled_from(ATTRS), max_size=3).map(",".join),
            "excludedAttributes": st.lists(st.sampled_from(ATTRS), max_size=3).map(",".join),
            "count": paging_numbers.map(str),
        },
    ),
)


patch_paths = st.one_of(
    st.none(),
    st.sampled_from(ATTRS),
    st.tuples(
        st.sampled_from(["emails", "members", "phoneNumbers"]),
        st.sampled_from(["value", "display", "type"]),
        st.sampled_from(["eq", "co", "sw", "ne"]),
        ESCAPED_LITERALS,
        st.sampled_from(["", ".type", ".value", ".primary"]),
    ).map(lambda t: f"{t[0]}[{t[1]} {t[2]} {t[3]}]{t[4]}"),
    st.tuples(
        st.sampled_from(["members", "emails"]),
        st.sampled_from(["value", "display"]),
        st.sampled_from(["co", "sw", "ew"]),
        st.sampled_from([9000, 60_000]),
    ).map(lambda t: f"{t[0]}[{t[1]} {t[2]} {long_literal(t[3])}]"),
    st.tuples(st.sampled_from(["emails", "members", "phoneNumbers", "addresses"]), filters).map(
        lambda t: f"{t[0]}[{t[1]}]"
    ),
    st.tuples(st.sampled_from(["emails", "members"]), comparisons(), st.sampled_from(ATTRS)).map(
        lambda t: f"{t[0]}[{t[1]}].{t[2]}"
    ),
    hostile_strings,
)


@st.composite
def patch_operation(draw: st.DrawFn, ids: list[str]) -> Any:
    op: dict[str, Any] = {
        "op": draw(
            st.sampled_from(["add", "remove", "replace", "Add", "REPLACE", "delete", "", "move"])
            | hostile_values
        )
    }
    path = draw(patch_paths)
    if path is not None:
        op["path"] = path
    if draw(st.booleans()):
        member = st.fixed_dictionaries(
            {"value": one_of_ids(ids) | hostile_strings},
            optional={"display": hostile_strings, "type": st.sampled_from(["User", "Group", "x"])},
        )
        op["value"] = draw(
            st.one_of(
                hostile_values,
                st.lists(member, max_size=3),
                from_schema({"$ref": "#/components/schemas/User"}),
                st.dictionaries(st.sampled_from(ATTRS), hostile_values, max_size=3),
            )
        )
    return draw(mutated(st.just(op))) if draw(st.integers(0, 4)) == 0 else op


@st.composite
def patch_bodies(draw: st.DrawFn, ids: list[str]) -> Any:
    body: dict[str, Any] = {
        "schemas": draw(st.sampled_from([[PATCH_URN], [], ["urn:x"], None])),
        "Operations": draw(st.lists(patch_operation(ids), max_size=4)),
    }
    if body["schemas"] is None:
        del body["schemas"]
    return draw(mutated(st.just(body))) if draw(st.integers(0, 5)) == 0 else body


BULK_PATHS = ["/Users", "/Groups", "/users", "Users", "/Users/", "/Me", "/Bulk", "", "/Users/x/y"]


@st.composite
def bulk_operation(draw: st.DrawFn, ids: list[str]) -> Any:
    method = draw(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "post", "GET", ""]))
    target = draw(
        one_of_ids(ids) | st.sampled_from(["bulkId:a", "bulkId:b", "bulkId:", "bulkId:zz"])
    )
    path = draw(
        st.sampled_from(BULK_PATHS)
        | st.sampled_from(["/Users/", "/Groups/"]).map(lambda p: p + target)
        | hostile_strings
    )
    op: dict[str, Any] = {"method": method, "path": path}
    if draw(st.booleans()):
        op["bulkId"] = draw(st.sampled_from(["a", "b", "c", ""]) | hostile_values)
    if draw(st.booleans()):
        op["version"] = draw(st.sampled_from(['W/"1"', 'W/"999"', "garbage"]) | hostile_values)
    data = st.one_of(
        resource_body("User"),
        resource_body("Group").map(
            lambda g: (
                {**g, "members": [{"value": "bulkId:a"}, {"value": "bulkId:b"}]}
                if isinstance(g, dict)
                else g
            )
        ),
        patch_bodies(ids),
        hostile_values,
    )
    if draw(st.integers(0, 5)):
        op["data"] = draw(data)
    return op


@st.composite
def bulk_bodies(draw: st.DrawFn, ids: list[str]) -> Any:
    body: dict[str, Any] = {
        "schemas": draw(st.sampled_from([[BULK_URN], [], ["urn:x"]])),
        "Operations": draw(st.lists(bulk_operation(ids), max_size=4)),
    }
    if draw(st.booleans()):
        body["failOnErrors"] = draw(st.integers(-2, 3) | hostile_values)
    return draw(mutated(st.just(body))) if draw(st.integers(0, 5)) == 0 else body


def one_of_ids(ids: list[str]) -> st.SearchStrategy[str]:
    """One of ``ids``, drawn by index: the list changes between examples, the draw must not."""
    return st.integers(min_value=0, max_value=1000).map(lambda i: ids[i % len(ids)])


def resource_ids(ids: list[str]) -> st.SearchStrategy[str]:
    """Ids to address: existing ones, unknown ones and hostile ones."""
    return st.one_of(
        one_of_ids(ids),
        st.just("6d4f1f1e-0000-4000-8000-000000000000"),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), max_size=40),
        st.sampled_from(["%00", "..", ".search", "x" * 300, "%2F", "%ZZ"]),
    )


raw_bodies = st.one_of(
    st.sampled_from(
        [
            b"",
            b"   ",
            b"null",
            b"[]",
            b'"a"',
            b"1",
            b"{",
            b'{"a":}',
            b"\xff\xfe",
            b'{"userName": NaN}',
            b'{"userName": Infinity}',
            b'{"userName": "\\ud800"}',
            b'{"userName": "a\\u0000b"}',
        ]
    ),
    st.integers(min_value=10, max_value=100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=10, max_value=100_000).map(
        lambda n: b'{"userName": ' + b'{"a":' * n + b"1" + b"}" * n + b"}"
    ),
    st.binary(max_size=64),
)


# --- the harness -----------------------------------------------------------------------------


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every directory table (tokens left out: authentication touches them)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with database.read() as session:
        for table in SNAPSHOT_TABLES:
            rows = session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - constant
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def unstorable_text(value: Any) -> str | None:
    """The first stored string (JSON documents decoded) holding NUL or a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    stack.append(json.loads(item))
            if any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in item):
                return item[:80]
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


class Harness:
    """Sends one request, checks the invariants, returns the response."""

    def __init__(self, app: Any, database: Database, token: str) -> None:
        self.client = app.test_client()
        self.database = database
        with database.write() as session:
            # The same IdP as the generic token (conftest's "test-idp"): it aims at the same
            # stored resources, not at ones IdP isolation hides from it.
            _row, strict = create_token(
                session, "fuzz-strict", profile="strict", idp="test-idp", now=utc_now()
            )
        # Each compatibility profile parses differently; "auto" tokens pick by User-Agent.
        self.personas = {
            "generic": {"Authorization": f"Bearer {token}", "User-Agent": "scim-fuzz"},
            "okta": {"Authorization": f"Bearer {token}", "User-Agent": "Okta SCIM Client"},
            "entra": {"Authorization": f"Bearer {token}", "User-Agent": "Azure AD SCIM"},
            "strict": {"Authorization": f"Bearer {strict}", "User-Agent": "scim-fuzz"},
        }
        self.headers = self.personas["generic"]

    def act_as(self, profile: str) -> None:
        """Send the next requests as a client of this compatibility profile."""
        self.headers = self.personas[profile]

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        ok_schema: str | None = None,
    ) -> Any:
        before = snapshot(self.database)
        kwargs: dict[str, Any] = {"headers": {**self.headers, **(headers or {})}}
        if query:
            # Percent-encoded UTF-8, lone surrogates included: invalid UTF-8 is a hostile input.
            kwargs["query_string"] = "&".join(
                f"{k}={quote(str(v).encode('utf-8', 'surrogatepass'), safe='')}"
                for k, v in query.items()
            )
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"].setdefault("Content-Type", "application/scim+json")
        elif body is not None:
            kwargs["data"] = json.dumps(body)  # NaN, Infinity and lone surrogates included
            kwargs["headers"].setdefault("Content-Type", "application/scim+json")
        response = self.client.open(f"/scim/v2{path}", method=method, **kwargs)
        status = response.status_code
        where = f"{method} {path} -> {status}: {response.get_data(as_text=True)[:500]}"
        assert status < 500, where
        if 400 <= status < 500:
            doc = json.loads(response.get_data())
            errors = [e.message for e in validator("Error").iter_errors(doc)]
            assert not errors, f"{where}\nnot a SCIM Error: {errors}"
            assert doc["schemas"] == [ERROR_URN], where
            assert doc["status"] == str(status), where
            assert response.mimetype == "application/scim+json", where
            assert snapshot(self.database) == before, f"{where}\na rejected request changed data"
        elif method in ("GET", "HEAD") or path.endswith(".search"):
            assert snapshot(self.database) == before, f"{where}\na read changed data"
        if 200 <= status < 300 and method not in ("GET", "HEAD"):
            bad = unstorable_text(snapshot(self.database))
            assert bad is None, f"{where}\nstored text with NUL or a lone surrogate: {bad!r}"
        if 200 <= status < 300 and ok_schema and status != 204:
            doc = json.loads(response.get_data())
            errors = [e.message for e in validator(ok_schema).iter_errors(doc)]
            assert not errors, f"{where}\nthe response does not fit {ok_schema}: {errors}"
        return response


@pytest.fixture
def harness(app: Any, database: Database, token: str) -> Harness:
    """The harness, with two Users and a Group holding them already stored."""
    h = Harness(app, database, token)
    for name in ("alice", "bob"):
        body = {"schemas": [USER_URN], "userName": name, "emails": [{"value": f"{name}@x.test"}]}
        assert h.send("POST", "/Users", body=body).status_code == 201
    return h


def stored_ids(h: Harness) -> list[str]:
    """The ids of the Users and Groups stored now, for requests to aim at."""
    with h.database.read() as session:
        users = [r[0] for r in session.execute(text("SELECT id FROM users")).all()]
        groups = [r[0] for r in session.execute(text("SELECT id FROM groups")).all()]
    return users + groups or [str(uuid.uuid4())]


# --- the properties --------------------------------------------------------------------------


@FUZZ
@given(profile=PROFILES, data=st.data(), endpoint=st.sampled_from(["Users", "Groups"]))
def test_create_and_replace_never_fail_or_leak(
    harness: Harness, profile: str, data: st.DataObject, endpoint: str
) -> None:
    """POST and PUT with schema-shaped, then mutated, bodies."""
    harness.act_as(profile)
    kind = "User" if endpoint == "Users" else "Group"
    body = data.draw(resource_body(kind) | hostile_values, label="body")
    # A bad query parameter must be refused before the write (issue 9: the user was created).
    query = data.draw(st.none() | write_queries, label="query")
    if data.draw(st.booleans(), label="put"):
        rid = data.draw(one_of_ids(stored_ids(harness)), label="id")
        path, method = f"/{endpoint}/{rid}", "PUT"
    else:
        path, method = f"/{endpoint}", "POST"
    harness.send(method, path, body=body, query=query, ok_schema=f"{kind}Resource")


@FUZZ
@given(profile=PROFILES, data=st.data(), endpoint=st.sampled_from(["Users", "Groups"]))
def test_patch_never_fails_or_leaks(
    harness: Harness, profile: str, data: st.DataObject, endpoint: str
) -> None:
    """PATCH with malformed PatchOps: bad ops, paths, value filters, values and members."""
    harness.act_as(profile)
    ids = stored_ids(harness)
    if endpoint == "Groups" and data.draw(st.booleans(), label="new group"):
        group = {"schemas": [GROUP_URN], "displayName": f"g-{uuid.uuid4().hex[:8]}"}
        created = harness.send("POST", "/Groups", body=group)
        ids = [*ids, created.json["id"]]
    rid = data.draw(resource_ids(ids), label="id")
    body = data.draw(patch_bodies(ids), label="body")
    kind = "User" if endpoint == "Users" else "Group"
    query = data.draw(st.none() | write_queries, label="query")
    harness.send("PATCH", f"/{endpoint}/{rid}", body=body, query=query, ok_schema=f"{kind}Resource")


@FUZZ
@given(profile=PROFILES, data=st.data(), endpoint=st.sampled_from(["Users", "Groups", ""]))
def test_list_and_search_never_fail_or_write(
    harness: Harness, profile: str, data: st.DataObject, endpoint: str
) -> None:
    """GET with filter/sort/paging/attribute parameters, and POST .search with the same."""
    harness.act_as(profile)
    query = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "filter": filters,
                "sortBy": st.sampled_from(ATTRS) | hostile_strings,
                "sortOrder": st.sampled_from(["ascending", "DESCENDING", "up"]) | hostile_strings,
                "startIndex": paging_numbers.map(str) | hostile_strings,
                "count": paging_numbers.map(str) | hostile_strings,
                "attributes": st.lists(st.sampled_from(ATTRS), max_size=3).map(",".join),
                "excludedAttributes": st.lists(st.sampled_from(ATTRS), max_size=3).map(",".join),
            },
        ),
        label="query",
    )
    if endpoint and data.draw(st.booleans(), label="GET"):
        harness.send("GET", f"/{endpoint}", query=query, ok_schema="ListResponse")
        return
    body: Any = {"schemas": [SEARCH_URN], **query}
    for key in ("startIndex", "count"):
        if key in body and data.draw(st.booleans(), label=f"{key} as JSON"):
            body[key] = data.draw(hostile_values | paging_numbers | huge_floats, label=key)
    if data.draw(st.integers(0, 4), label="mutate") == 0:
        body = data.draw(mutated(st.just(body)), label="mutated body")
    path = f"/{endpoint}/.search" if endpoint else "/.search"
    harness.send("POST", path, body=body, ok_schema="ListResponse")


@FUZZ
@given(profile=PROFILES, data=st.data())
def test_bulk_never_fails_or_leaks(harness: Harness, profile: str, data: st.DataObject) -> None:
    """Bulk with bogus methods, paths, bulkIds (unknown, empty, circular) and bodies."""
    harness.act_as(profile)
    body = data.draw(bulk_bodies(stored_ids(harness)), label="body")
    response = harness.send("POST", "/Bulk", body=body, ok_schema="BulkResponse")
    if response.status_code == 200:
        for result in response.json["Operations"]:
            status = int(result["status"])
            assert status < 500, result
            if status >= 400:
                errors = [e.message for e in validator("Error").iter_errors(result["response"])]
                assert not errors, result
                assert result["response"]["status"] == result["status"], result


@FUZZ
@given(
    profile=PROFILES,
    data=st.data(),
    endpoint=st.sampled_from(["Users", "Groups"]),
    method=st.sampled_from(["DELETE", "GET", "PUT", "PATCH", "POST"]),
)
def test_ids_headers_and_raw_bodies_never_fail_or_leak(
    harness: Harness, profile: str, data: st.DataObject, endpoint: str, method: str
) -> None:
    """Hostile ids, If-Match / If-None-Match values and raw (unparsable) bodies."""
    harness.act_as(profile)
    rid = data.draw(resource_ids(stored_ids(harness)), label="id")
    header = data.draw(
        st.sampled_from(["If-Match", "If-None-Match", "Content-Type", "X-None"]), label="header"
    )
    value = data.draw(
        st.sampled_from(['W/"1"', 'W/"2"', "*", '"1"', "W/", "", "garbage", "text/plain"])
        | st.text(alphabet=st.characters(codec="ascii", min_codepoint=32), max_size=20),
        label="value",
    )
    path = f"/{endpoint}" if method == "POST" else f"/{endpoint}/{rid}"
    raw = data.draw(raw_bodies, label="raw") if method in ("PUT", "PATCH", "POST") else None
    harness.send(method, path, raw=raw, headers={header: value})
