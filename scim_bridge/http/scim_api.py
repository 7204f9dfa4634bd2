"""The SCIM 2.0 endpoints (RFC 7644 §3): parse, call one service function, serialise."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, g, json, request
from sqlalchemy.orm import Session

from scim_bridge.directory import audit, bulk, discovery, groups, passwords, tokens, users
from scim_bridge.directory.models import Group, User
from scim_bridge.directory.outbox import outbox_touched
from scim_bridge.directory.prepared import Cursor, StoredResource
from scim_bridge.directory.representation import render_group, render_user
from scim_bridge.directory.rows import READ_ONLY, Context
from scim_bridge.directory.sync_state import sync_states
from scim_bridge.errors import (
    Forbidden,
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    NotFound,
    NotImplementedByServer,
    PayloadTooLarge,
    ScimError,
    Unauthorized,
    UnsupportedMediaType,
)
from scim_bridge.http.errors import SCIM_MEDIA_TYPE, error_response, request_id
from scim_bridge.http.runtime import Runtime
from scim_bridge.scim import resources
from scim_bridge.scim.etags import etag, if_none_match_hit
from scim_bridge.scim.listing import ListQuery, equality_lookup, list_response, parse_list_query
from scim_bridge.scim.profiles import Profile, choose_profile
from scim_bridge.scim.schema import (
    DINGTALK_GROUP,
    DINGTALK_USER,
    SEARCH_REQUEST,
    ResourceType,
    registry,
)
from scim_bridge.scim.text import UNSTORABLE as _UNSTORABLE

PREFIX = "/scim/v2"
#: Endpoints a read-only token may POST to: searches (RFC 7644 §3.4.3) change nothing.
SEARCH_ENDPOINTS = frozenset({"scim.search_resources", "scim.root_search"})
#: Endpoint names in their canonical case; clients send `/users` too (scim-idp-notes §2.24).
CANONICAL_SEGMENTS = {
    "users": "Users",
    "groups": "Groups",
    "bulk": "Bulk",
    "me": "Me",
    "serviceproviderconfig": "ServiceProviderConfig",
    "serviceconfiguration": "ServiceProviderConfig",
    "resourcetypes": "ResourceTypes",
    "schemas": "Schemas",
    ".search": ".search",
}


def canonical_path(path: str) -> str:
    """Rewrite endpoint segments of a /scim/v2 path to their canonical case."""
    if not path.lower().startswith(PREFIX.lower() + "/"):
        return path
    parts = path[len(PREFIX) + 1 :].split("/")
    parts[0] = CANONICAL_SEGMENTS.get(parts[0].lower(), parts[0])
    return PREFIX + "/" + "/".join(parts)


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


#: The deepest JSON body accepted. A Bulk operation carrying a PatchOp with a complex value is
#: about ten levels deep; anything far deeper would only exhaust the recursion of the code
#: that walks it (a RecursionError, then a 500).
MAX_JSON_DEPTH = 64
_TOO_DEEP = f"the body nests JSON deeper than {MAX_JSON_DEPTH} levels"


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


def make_scim_blueprint(runtime: Runtime) -> Blueprint:
    """Build the /scim/v2 blueprint bound to one runtime."""
    bp = Blueprint("scim", __name__, url_prefix=PREFIX)
    settings = runtime.settings
    reg = registry()
    base_urls: dict[tuple[Any, ...], str] = {}

    # --- plumbing ----------------------------------------------------------------------------

    @bp.errorhandler(RecursionError)
    def too_deep(_exc: RecursionError) -> Response:
        # Input nested deeper than a recursive parser can follow (a filter or PATCH path of
        # thousands of parentheses): the request is at fault, and its transaction rolled back.
        return error_response(400, "the request nests too deeply to be processed", "invalidSyntax")

    @bp.before_request
    def authenticate() -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        now = runtime.clock()
        with runtime.db.reader() as reader:
            principal, stale = tokens.authenticate(reader, presented.strip(), now=now)
        if principal is None:
            raise Unauthorized("the bearer token is not valid or has been revoked")
        if stale:
            with runtime.db.write() as session:
                tokens.touch(session, principal.token_id, now=now)
        g.principal = principal
        g.profile = choose_profile(
            principal.profile, settings.default_profile, request.headers.get("User-Agent")
        )
        if (
            principal.read_only
            and request.method not in ("GET", "HEAD")
            and request.endpoint not in SEARCH_ENDPOINTS
        ):
            # RFC 7644 §3.12: 403, "not permitted based on the supplied authorization";
            # refused before the body is read (the services refuse it too: Context), and
            # audited: a read-only token trying to write is worth knowing about.
            view_args = request.view_args or {}
            with refusals_audited(view_args.get("endpoint", "Bulk"), view_args.get("resource_id")):
                raise Forbidden(READ_ONLY)

    def scope() -> str | None:
        """The IdP whose resources this request sees (None: a shared token sees every IdP)."""
        principal: tokens.Principal = g.principal
        return principal.scope

    def context() -> Context:
        profile: Profile = g.profile
        return Context(
            principal=g.principal,
            now=runtime.clock(),
            compat=profile.compat,
            password_policy=settings.password_policy,
            additive_member_replace=profile.additive_member_replace,
            check_user=runtime.check_user,
            ignore_unknown_members=profile.ignore_unknown_members,
            request_id=request_id(),
            client=request.remote_addr,
            audit=settings.audit_enabled,
        )

    @contextmanager
    def refusals_audited(endpoint: str, resource_id: str | None = None) -> Iterator[None]:
        """Audit a write refused with a 4xx: after its transaction rolled back, in a small
        transaction of its own (the refusal is what IT looks for when a person is missing)."""
        try:
            yield
        except ScimError as exc:
            if 400 <= exc.status < 500 and settings.audit_enabled:
                with runtime.db.transaction() as cur:
                    audit.record_refusal(
                        cur,
                        context(),
                        resource_type=endpoint.removesuffix("s"),
                        resource_id=resource_id,
                        operation=request.method,
                        status=exc.status,
                        scim_type=exc.scim_type,
                        message=exc.detail,
                    )
            raise

    def change_context(endpoint: str, body: dict[str, Any]) -> Context:
        """The change context, with a User request's passwords hashed before its transaction
        opens (scrypt is slow by design: it must not hold the writer's turn)."""
        ctx = context()
        return passwords.prepare(body, ctx) if endpoint == "Users" else ctx

    @contextmanager
    def write() -> Iterator[Session]:
        with runtime.db.write() as session:
            yield session
            touched = outbox_touched(session)
        committed(touched)

    @contextmanager
    def change(endpoint: str) -> Iterator[Any]:
        """One write transaction for one resource: a Session for Groups, a Session-free Cursor
        for Users (whose services run on prepared statements: the IdPs' commonest writes)."""
        if endpoint != "Users":
            with write() as session:
                yield session
            return
        with runtime.db.transaction() as cur:
            yield cur
            touched = cur.outbox_touched
        committed(touched)

    def committed(touched_outbox: bool) -> None:
        runtime.hints.clear()  # pages may have shifted
        if touched_outbox:
            runtime.outbox_committed()

    def known_id(resource_id: str) -> None:
        # An id the store could not even hold names no resource (and would make it fail).
        if _UNSTORABLE.search(resource_id):
            raise NotFound(f"no resource with id {resource_id!r}")

    def base_url() -> str:
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
        found = base_urls.get(key)
        if found is None:
            found = request.url_root.rstrip("/") + PREFIX
            if len(base_urls) < 64:  # Host is the client's to choose: keep a few
                base_urls[key] = found
        return found

    no_parameters = ListQuery(count=settings.default_count)

    def query_params() -> ListQuery:
        """Parse and check every query parameter (RFC 7644 §3.4.2, §3.9)."""
        if not request.args:
            return no_parameters  # the IdPs' writes and reads by id
        for name, value in request.args.items(multi=True):
            check_text(value, f"the {name} parameter")
        with filter_depth_guard():
            return parse_list_query(
                request.args,
                default_count=settings.default_count,
                max_results=settings.max_results,
                lenient=g.profile.compat.lenient_filters,
                max_filter_chars=settings.max_filter_chars,
            )

    @bp.before_request
    def parse_before_write() -> None:
        # Every query parameter is parsed before any transaction opens: a bad one is a 400
        # that changed nothing (`POST /Users?count=x` once created the user, then said 400).
        if request.endpoint not in discovery_endpoints:
            g.query = query_params()

    def selection() -> tuple[tuple[str, ...], tuple[str, ...]]:
        q: ListQuery = g.query
        return q.attributes, q.excluded

    # --- rendering ---------------------------------------------------------------------------

    plain_wants: dict[tuple[str, str], bool] = {}

    def wants(
        rt: ResourceType, attributes: tuple[str, ...], excluded: tuple[str, ...], name: str
    ) -> bool:
        """Whether the response includes an attribute; worked out once for plain requests."""
        if attributes or excluded:
            return resources.wanted(rt, attributes, excluded, name)
        key = (rt.name, name)
        found = plain_wants.get(key)
        if found is None:
            found = plain_wants[key] = resources.wanted(rt, None, None, name)
        return found

    def user_docs(
        reader: Cursor,
        rows: Sequence[User | StoredResource],
        attributes: tuple[str, ...],
        excluded: tuple[str, ...],
    ) -> list[dict[str, Any]]:
        rt = reg.user
        need_groups = wants(rt, attributes, excluded, "groups")
        ids = [r.id for r in rows]
        memberships = users.groups_of(reader, ids, scope=scope()) if need_groups else {}
        states = sync_extension(reader, "User", ids, attributes, excluded)
        return [
            resources.project(
                rt,
                render_user(
                    r,
                    base_url=base_url(),
                    groups=memberships.get(r.id, []) if need_groups else None,
                    extra=states.get(r.id),
                ),
                attributes=attributes or None,
                excluded=excluded or None,
            )
            for r in rows
        ]

    def group_docs(
        session: Session, rows: list[Group], attributes: tuple[str, ...], excluded: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        rt = reg.group
        # Entra always asks excludedAttributes=members: then members are never loaded.
        need_members = wants(rt, attributes, excluded, "members")
        ids = [r.id for r in rows]
        states = sync_extension(Cursor.of(session), "Group", ids, attributes, excluded)
        out = []
        for r in rows:
            members = groups.members_of(session, r.id, scope=scope()) if need_members else None
            doc = resources.project(
                rt,
                render_group(r, base_url=base_url(), members=members, extra=states.get(r.id)),
                attributes=attributes or None,
                excluded=excluded or None,
            )
            if need_members and "members" not in doc:
                doc["members"] = []  # Entra expects the empty list on a new group
            out.append(doc)
        return out

    def sync_extension(
        reader: Cursor,
        resource_type: str,
        ids: list[str],
        attributes: tuple[str, ...],
        excluded: tuple[str, ...],
    ) -> dict[str, dict[str, Any]]:
        rt = reg.user if resource_type == "User" else reg.group
        urn = DINGTALK_USER if resource_type == "User" else DINGTALK_GROUP
        if not wants(rt, attributes, excluded, f"{urn}:sync"):
            return {}
        states = sync_states(reader, resource_type, ids)
        return {i: {urn: {"sync": state}} for i, state in states.items()}

    def render_one(row: User | Group | StoredResource, status: int = 200) -> Response:
        """Render one resource for a response; after a write, once its transaction committed
        (the writer's turn is not held while rendering)."""
        attributes, excluded = selection()
        if isinstance(row, Group):
            with runtime.db.read() as session:
                doc = group_docs(session, [row], attributes, excluded)[0]
        elif status == 201:
            # A user just created belongs to no group and has not reached DingTalk yet:
            # nothing to look up.
            doc = resources.project(
                reg.user,
                render_user(
                    row,
                    base_url=base_url(),
                    groups=[],
                    extra={DINGTALK_USER: {"sync": {"state": "pending"}}},
                ),
                attributes=attributes or None,
                excluded=excluded or None,
            )
        else:
            with runtime.db.reader() as reader:
                doc = user_docs(reader, [row], attributes, excluded)[0]
        response = scim_json(doc, status, version=row.version)
        if status == 201:
            response.headers["Location"] = doc.get("meta", {}).get("location") or (
                f"{base_url()}/{'Groups' if isinstance(row, Group) else 'Users'}/{row.id}"
            )
        return response

    # --- Users and Groups --------------------------------------------------------------------

    kinds: dict[str, dict[str, Callable[..., Any]]] = {
        "Users": {
            "create": users.create_user,
            "replace": users.replace_user,
            "patch": users.patch_user,
            "delete": users.delete_user,
            "list": users.list_users,
        },
        "Groups": {
            "create": groups.create_group,
            "replace": groups.replace_group,
            "patch": groups.patch_group,
            "delete": groups.delete_group,
            "list": groups.list_groups,
        },
    }

    def docs_for(session: Session, endpoint: str, rows: list[Any], q: ListQuery) -> list[Any]:
        if endpoint == "Users":
            return user_docs(Cursor.of(session), rows, q.attributes, q.excluded)
        return group_docs(session, rows, q.attributes, q.excluded)

    def search(endpoint: str, q: ListQuery) -> Response:
        if endpoint == "Users":
            name = equality_lookup(q, "userName", reg.user.core.id)
            if name is not None:
                return existence_check(name, q)
        with runtime.db.read() as session:
            total, rows = kinds[endpoint]["list"](session, q, scope=scope(), hints=runtime.hints)
            docs = docs_for(session, endpoint, rows, q)
        return scim_json(list_response(docs, total=total, start_index=q.start_index))

    def existence_check(name: str, q: ListQuery) -> Response:
        # `userName eq "…"`, sent by Okta and Entra before every create: userName is unique
        # case-insensitively, so this is one index lookup with at most one match (and none
        # when the match belongs to another IdP: the same statement requires the caller's).
        with runtime.db.reader() as reader:
            found = users.find_user_by_name(reader, name, scope=scope())
            matches = [] if found is None else [found]
            page = matches[q.start_index - 1 :][: q.count]
            docs = user_docs(reader, page, q.attributes, q.excluded)
        return scim_json(list_response(docs, total=len(matches), start_index=q.start_index))

    @bp.post("/<any(Users, Groups):endpoint>")
    def create(endpoint: str) -> Response:
        with refusals_audited(endpoint):
            body = read_body(settings.max_body_bytes)
            ctx = change_context(endpoint, body)
            with change(endpoint) as handle:
                row = kinds[endpoint]["create"](handle, body, ctx)
        return render_one(row, 201)

    @bp.get("/<any(Users, Groups):endpoint>")
    def list_resources(endpoint: str) -> Response:
        return search(endpoint, g.query)

    @bp.post("/<any(Users, Groups):endpoint>/.search")
    def search_resources(endpoint: str) -> Response:
        return search(endpoint, search_request())

    def search_request() -> ListQuery:
        body = read_body(settings.max_body_bytes)
        schemas = body.get("schemas")
        if (
            schemas is not None
            and (not isinstance(schemas, list) or SEARCH_REQUEST not in schemas)
            and not g.profile.compat.lenient_filters
        ):
            raise InvalidSyntax(f"a search request must carry the schema {SEARCH_REQUEST}")
        with filter_depth_guard():
            return parse_list_query(
                body,
                default_count=settings.default_count,
                max_results=settings.max_results,
                lenient=g.profile.compat.lenient_filters,
                max_filter_chars=settings.max_filter_chars,
            )

    @bp.get("/<any(Users, Groups):endpoint>/<resource_id>")
    def get_resource(endpoint: str, resource_id: str) -> Response:
        known_id(resource_id)
        if endpoint == "Users":
            with runtime.db.reader() as reader:
                user = users.read_user(reader, resource_id, scope=scope())
                if not if_none_match_hit(request.headers.get("If-None-Match"), user.version):
                    attributes, excluded = selection()
                    doc = user_docs(reader, [user], attributes, excluded)[0]
                    return scim_json(doc, version=user.version)
            version = user.version
        else:
            with runtime.db.read() as session:
                group = groups.get_group(session, resource_id, scope=scope())
                version = group.version
                if not if_none_match_hit(request.headers.get("If-None-Match"), version):
                    attributes, excluded = selection()
                    doc = group_docs(session, [group], attributes, excluded)[0]
                    return scim_json(doc, version=version)
        response = Response(status=304)
        response.headers["ETag"] = etag(version)
        return response

    @bp.put("/<any(Users, Groups):endpoint>/<resource_id>")
    def replace_resource(endpoint: str, resource_id: str) -> Response:
        known_id(resource_id)
        with refusals_audited(endpoint, resource_id):
            body = read_body(settings.max_body_bytes)
            ctx = change_context(endpoint, body)
            with change(endpoint) as handle:
                row = kinds[endpoint]["replace"](
                    handle, resource_id, body, ctx, if_match=request.headers.get("If-Match")
                )
        return render_one(row)

    @bp.patch("/<any(Users, Groups):endpoint>/<resource_id>")
    def patch_resource(endpoint: str, resource_id: str) -> Response:
        known_id(resource_id)
        profile: Profile = g.profile
        status = profile.user_patch_status if endpoint == "Users" else profile.group_patch_status
        with refusals_audited(endpoint, resource_id):
            body = read_body(settings.max_body_bytes)
            ctx = change_context(endpoint, body)
            with change(endpoint) as handle:
                row = kinds[endpoint]["patch"](
                    handle, resource_id, body, ctx, if_match=request.headers.get("If-Match")
                )
        # RFC 7644 §3.5.2: 204 unless the client asked for attributes back.
        if status == 204 and not request.args.get("attributes"):
            response = Response(status=204)
            response.headers["ETag"] = etag(row.version)
            return response
        return render_one(row)

    @bp.delete("/<any(Users, Groups):endpoint>/<resource_id>")
    def delete_resource(endpoint: str, resource_id: str) -> Response:
        known_id(resource_id)
        with refusals_audited(endpoint, resource_id), change(endpoint) as handle:
            kinds[endpoint]["delete"](
                handle, resource_id, context(), if_match=request.headers.get("If-Match")
            )
        return Response(status=204)

    # --- root search, Bulk, /Me -------------------------------------------------------------

    @bp.post("/.search")
    def root_search() -> Response:
        q = search_request()
        with runtime.db.read() as session:
            total, pages = bulk.search_all(session, q, scope=scope(), hints=runtime.hints)
            docs = [doc for endpoint, rows in pages for doc in docs_for(session, endpoint, rows, q)]
        return scim_json(list_response(docs, total=total, start_index=q.start_index))

    @bp.post("/Bulk")
    def bulk_request() -> Response:
        def run(op: Callable[[Session], Any]) -> Any:
            with write() as session:
                return op(session)

        # A refused request (413, bad syntax) is audited here; each operation in bulk.py.
        with refusals_audited("Bulk"):
            body = read_body(settings.bulk_max_payload_bytes)
            result = bulk.process(
                body,
                context(),
                run=run,
                max_operations=settings.bulk_max_operations,
                base_url=base_url(),
            )
        return scim_json(result)

    @bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def me() -> Response:
        raise NotImplementedByServer(
            "/Me is not supported: a bearer token identifies an IdP, not a user (RFC 7644 §3.11)"
        )

    # --- discovery (RFC 7644 §4) -------------------------------------------------------------

    @bp.get("/ServiceProviderConfig")
    def service_provider_config() -> Response:
        return scim_json(discovery.service_provider_config(settings, base_url()))

    @bp.get("/ResourceTypes")
    def resource_types() -> Response:
        docs = discovery.resource_types(base_url())
        return scim_json(list_response(docs, total=len(docs), start_index=1))

    @bp.get("/ResourceTypes/<name>")
    def resource_type(name: str) -> Response:
        for doc in discovery.resource_types(base_url()):
            if doc["id"].lower() == name.lower():
                return scim_json(doc)
        raise NotFound(f"no resource type {name!r}; try /ResourceTypes")

    @bp.get("/Schemas")
    def schemas() -> Response:
        docs = discovery.schemas(base_url())
        return scim_json(list_response(docs, total=len(docs), start_index=1))

    @bp.get("/Schemas/<urn>")
    def schema(urn: str) -> Response:
        for doc in discovery.schemas(base_url()):
            if doc["id"].lower() == urn.lower():
                return scim_json(doc)
        raise NotFound(f"no schema {urn!r}; try /Schemas")

    # Discovery (RFC 7644 §4) takes no query parameters and leaves them unread, as before.
    discovery_endpoints = {
        f"{bp.name}.{view.__name__}"
        for view in (service_provider_config, resource_types, resource_type, schemas, schema, me)
    }
    return bp
