"""What every SCIM view needs from its request: the body and query parsed and checked, the
change context, one transaction per change, refusals audited, the base URL, rendering.

The views (scim_users.py, scim_groups.py, scim_bulk.py, scim_meta.py) parse with these, call
one service function, and serialise; they hold no queries and no business rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, g, json, request
from sqlalchemy.orm import Session

from scim_bridge.directory import audit, passwords, tokens
from scim_bridge.directory.documents import Documents, Selection
from scim_bridge.directory.models import Group
from scim_bridge.directory.outbox import outbox_touched
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.rows import Context
from scim_bridge.errors import (
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    NotFound,
    PayloadTooLarge,
    ScimError,
    UnsupportedMediaType,
)
from scim_bridge.http.errors import SCIM_MEDIA_TYPE, request_id
from scim_bridge.http.rate_limit import TokenLimits
from scim_bridge.http.runtime import Runtime
from scim_bridge.scim.etags import etag
from scim_bridge.scim.listing import ListQuery, parse_list_query
from scim_bridge.scim.profiles import Profile
from scim_bridge.scim.schema import SEARCH_REQUEST
from scim_bridge.scim.text import UNSTORABLE as _UNSTORABLE

PREFIX = "/scim/v2"
#: The deepest JSON body accepted. A Bulk operation carrying a PatchOp with a complex value is
#: about ten levels deep; anything far deeper would only exhaust the recursion of the code
#: that walks it (a RecursionError, then a 500).
MAX_JSON_DEPTH = 64
_TOO_DEEP = f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"


def scim_json(doc: Any, status: int = 200, *, version: int | None = None) -> Response:
    """Serialise a SCIM document as application/scim+json, with an ETag when versioned."""
    response = Response(
        json.dumps(doc, ensure_ascii=False), status=status, mimetype=SCIM_MEDIA_TYPE
    )
    if version is not None:
        response.headers["ETag"] = etag(version)
    return response


def read_body(max_bytes: int) -> dict[str, Any]:
    """Parse the request body as a JSON object (application/json or application/scim+json)."""
    mimetype = request.mimetype
    # Anything JSON-shaped is accepted (clients mislabel bodies); forms are clearly not.
    if mimetype.startswith(("multipart/", "application/x-www-form-urlencoded")):
        raise UnsupportedMediaType(
            f"send the body as application/scim+json or application/json, not {mimetype}"
        )
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is {len(raw)} bytes; this server accepts {max_bytes}")
    if not raw.strip():
        raise InvalidSyntax("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidSyntax(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidSyntax(_TOO_DEEP) from None
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a JSON object")
    _check_json(body)
    return body


def check_text(value: str, what: str) -> None:
    """Refuse a string the store could not hold with 400 invalidValue, not a database 500."""
    if _UNSTORABLE.search(value):
        raise InvalidValue(f"{what} contains NUL or an unpaired surrogate (RFC 7643 §2.3.1)")


def _check_json(body: dict[str, Any]) -> None:
    """Refuse bodies nested deeper than MAX_JSON_DEPTH or holding unstorable text."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            for key in item:
                check_text(key, "an attribute name")
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        for child in children:
            if isinstance(child, str):
                check_text(child, "a string value")
            elif isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    raise InvalidSyntax(_TOO_DEEP)
                stack.append((child, depth + 1))


@contextmanager
def filter_depth_guard() -> Iterator[None]:
    """Turn a filter too deeply nested for the recursive parser into 400 invalidFilter."""
    try:
        yield
    except RecursionError:
        raise InvalidFilter("the filter nests too deeply") from None


def known_id(resource_id: str) -> None:
    """Refuse an id the store could not even hold: it names no resource (and would make the
    store fail)."""
    if _UNSTORABLE.search(resource_id):
        raise NotFound(f"no resource with id {resource_id!r}")


class ScimRequests:
    """The per-request plumbing of one /scim/v2 blueprint, bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.documents = Documents()
        self.no_parameters = ListQuery(count=self.settings.default_count)
        self._base_urls: dict[tuple[Any, ...], str] = {}
        #: Per-token rate limits and concurrency slots (issue 14).
        self.limits = TokenLimits(runtime)

    # --- who and how -------------------------------------------------------------------------

    def scope(self) -> str | None:
        """The IdP whose resources this request sees (None: a shared token sees every IdP)."""
        principal: tokens.Principal = g.principal
        return principal.scope

    def context(self) -> Context:
        """The change context of this request: who, when, under which compatibility rules."""
        profile: Profile = g.profile
        return Context(
            principal=g.principal,
            now=self.runtime.clock(),
            compat=profile.compat,
            password_policy=self.settings.password_policy,
            additive_member_replace=profile.additive_member_replace,
            check_user=self.runtime.check_user,
            ignore_unknown_members=profile.ignore_unknown_members,
            request_id=request_id(),
            client=request.remote_addr,
            audit=self.settings.audit_enabled,
        )

    def change_context(self, endpoint: str, body: dict[str, Any]) -> Context:
        """The change context, with a User request's passwords hashed before its transaction
        opens (scrypt is slow by design: it must not hold the writer's turn)."""
        ctx = self.context()
        return passwords.prepare(body, ctx) if endpoint == "Users" else ctx

    @contextmanager
    def refusals_audited(self, endpoint: str, resource_id: str | None = None) -> Iterator[None]:
        """Audit a write refused with a 4xx: after its transaction rolled back, in a small
        transaction of its own (the refusal is what IT looks for when a person is missing)."""
        try:
            yield
        except ScimError as exc:
            if 400 <= exc.status < 500 and self.settings.audit_enabled:
                with self.runtime.db.transaction() as cur:
                    audit.record_refusal(
                        cur,
                        self.context(),
                        resource_type=endpoint.removesuffix("s"),
                        resource_id=resource_id,
                        operation=request.method,
                        status=exc.status,
                        scim_type=exc.scim_type,
                        message=exc.detail,
                    )
            raise

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction on a Session; wakes the translator if it wrote the outbox."""
        with self.runtime.db.write() as session:
            yield session
            touched = outbox_touched(session)
        self.committed(touched)

    @contextmanager
    def change(self, endpoint: str) -> Iterator[Any]:
        """One write transaction for one resource: a Session for Groups, a Session-free Cursor
        for Users (whose services run on prepared statements: the IdPs' commonest writes)."""
        if endpoint != "Users":
            with self.write() as session:
                yield session
            return
        with self.runtime.db.transaction() as cur:
            yield cur
            touched = cur.outbox_touched
        self.committed(touched)

    def committed(self, touched_outbox: bool) -> None:
        """After a commit: forget page hints, and wake the translator for new outbox rows."""
        self.runtime.hints.clear()  # pages may have shifted
        if touched_outbox:
            self.runtime.outbox_committed()

    # --- the request's URL and parameters ----------------------------------------------------

    def base_url(self) -> str:
        """The SCIM base URL this request reached (for meta.location)."""
        # Werkzeug works the root URL out of the environ on each call; it is the same for
        # every request that names the same host.
        environ = request.environ
        key = (
            environ.get("wsgi.url_scheme"),
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
            environ.get("SCRIPT_NAME"),
        )
        found = self._base_urls.get(key)
        if found is None:
            found = request.url_root.rstrip("/") + PREFIX
            if len(self._base_urls) < 64:  # Host is the client's to choose: keep a few
                self._base_urls[key] = found
        return found

    def query_params(self) -> ListQuery:
        """Parse and check every query parameter (RFC 7644 §3.4.2, §3.9)."""
        if not request.args:
            return self.no_parameters  # the IdPs' writes and reads by id
        for name, value in request.args.items(multi=True):
            check_text(value, f"the {name} parameter")
        return self._parse_query(request.args)

    def search_request(self) -> ListQuery:
        """Parse a POST .../.search body (RFC 7644 §3.4.3)."""
        body = read_body(self.settings.max_body_bytes)
        schemas = body.get("schemas")
        if (
            schemas is not None
            and (not isinstance(schemas, list) or SEARCH_REQUEST not in schemas)
            and not g.profile.compat.lenient_filters
        ):
            raise InvalidSyntax(f"a search request must carry the schema {SEARCH_REQUEST}")
        return self._parse_query(body)

    def _parse_query(self, source: Any) -> ListQuery:
        with filter_depth_guard():
            return parse_list_query(
                source,
                default_count=self.settings.default_count,
                max_results=self.settings.max_results,
                lenient=g.profile.compat.lenient_filters,
                max_filter_chars=self.settings.max_filter_chars,
            )

    def selection(self) -> Selection:
        """The attributes and excludedAttributes of this request."""
        q: ListQuery = g.query
        return q.attributes, q.excluded

    # --- rendering ---------------------------------------------------------------------------

    def user_docs(self, reader: Cursor, rows: Any, selection: Selection) -> list[dict[str, Any]]:
        """Render users for this request."""
        return self.documents.users(
            reader, rows, base_url=self.base_url(), scope=self.scope(), selection=selection
        )

    def group_docs(
        self, session: Session, rows: list[Group], selection: Selection
    ) -> list[dict[str, Any]]:
        """Render groups for this request."""
        return self.documents.groups(
            session, rows, base_url=self.base_url(), scope=self.scope(), selection=selection
        )

    def docs_for(
        self, session: Session, endpoint: str, rows: list[Any], q: ListQuery
    ) -> list[dict[str, Any]]:
        """Render one page of a search's rows of one resource type."""
        if endpoint == "Users":
            return self.user_docs(Cursor.of(session), rows, (q.attributes, q.excluded))
        return self.group_docs(session, rows, (q.attributes, q.excluded))

    def render_one(
        self, row: Any, status: int = 200, *, selection: Selection | None = None
    ) -> Response:
        """Render one resource for a response; after a write, once its transaction committed
        (the writer's turn is not held while rendering). ``selection``: the request's own
        attributes and excludedAttributes unless given."""
        if selection is None:
            selection = self.selection()
        if isinstance(row, Group):
            with self.runtime.db.read() as session:
                doc = self.group_docs(session, [row], selection)[0]
        elif status == 201:
            doc = self.documents.new_user(row, base_url=self.base_url(), selection=selection)
        else:
            with self.runtime.db.reader() as reader:
                doc = self.user_docs(reader, [row], selection)[0]
        response = scim_json(doc, status, version=row.version)
        if status == 201:
            response.headers["Location"] = doc.get("meta", {}).get("location") or (
                f"{self.base_url()}/{'Groups' if isinstance(row, Group) else 'Users'}/{row.id}"
            )
        return response
