"""The one exception hierarchy: SCIM protocol errors, DingTalk errors, configuration errors.

Services raise; ``http/errors.py`` alone renders ScimError as RFC 7644 §3.12 Error JSON.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error scim-bridge raises on purpose."""


class ConfigError(BridgeError):
    """Configuration is wrong; the message names the setting and the fix."""


# --- SCIM (RFC 7644 §3.12) -------------------------------------------------------------------


class ScimError(BridgeError):
    """An error the SCIM API answers with: an HTTP status and an optional scimType."""

    status: int = 500
    scim_type: str | None = None

    def __init__(self, detail: str, *, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if scim_type is not None:
            self.scim_type = scim_type


class BadRequest(ScimError):
    """400 with no scimType: the request is wrong in a way the RFC has no keyword for."""

    status = 400


class InvalidFilter(BadRequest):
    """400 invalidFilter: the filter syntax is invalid or names an unsupported attribute."""

    scim_type = "invalidFilter"


class TooMany(BadRequest):
    """400 tooMany: the query would return more results than the server allows."""

    scim_type = "tooMany"


class InvalidSyntax(BadRequest):
    """400 invalidSyntax: the request body is not parsable or violates the schema structure."""

    scim_type = "invalidSyntax"


class InvalidPath(BadRequest):
    """400 invalidPath: a PATCH path is malformed or names no attribute."""

    scim_type = "invalidPath"


class NoTarget(BadRequest):
    """400 noTarget: a PATCH path filter matched nothing where a match is required."""

    scim_type = "noTarget"


class InvalidValue(BadRequest):
    """400 invalidValue: a required value is missing or a value has the wrong type or form."""

    scim_type = "invalidValue"


class InvalidVersion(BadRequest):
    """400 invalidVers: the requested protocol version is not supported."""

    scim_type = "invalidVers"


class Mutability(BadRequest):
    """400 mutability: the request would change a readOnly or immutable attribute."""

    scim_type = "mutability"


class Sensitive(BadRequest):
    """400 sensitive: the request put sensitive data (e.g. a password) where it must not be."""

    scim_type = "sensitive"


class Unauthorized(ScimError):
    """401: no valid bearer token."""

    status = 401


class Forbidden(ScimError):
    """403: the token may not do this."""

    status = 403


class NotFound(ScimError):
    """404: the resource or endpoint does not exist."""

    status = 404


class MethodNotAllowed(ScimError):
    """405: the endpoint does not take this method."""

    status = 405


class Uniqueness(ScimError):
    """409 uniqueness: a unique attribute value is already taken."""

    status = 409
    scim_type = "uniqueness"


class Conflict(ScimError):
    """409 with no scimType: the request conflicts with what it depends on, e.g. bulkId
    references that cannot be resolved (RFC 7644 §3.7.1; §3.12 has no keyword for it)."""

    status = 409


class PreconditionFailed(ScimError):
    """412: If-Match named a version that is no longer current (RFC 7644 §3.14)."""

    status = 412


class PayloadTooLarge(ScimError):
    """413: the body, or the Bulk request, exceeds the advertised limits (RFC 7644 §3.7.4)."""

    status = 413


class UnsupportedMediaType(ScimError):
    """415: the body is not JSON."""

    status = 415


class TooManyRequests(ScimError):
    """429: the token is over its rate limit or its cap on concurrent requests (RFC 6585 §4);
    ``retry_after`` is the whole seconds to wait, sent as Retry-After (RFC 9110 §10.2.3)."""

    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class NotImplementedByServer(ScimError):
    """501: the feature is not implemented (e.g. /Me without a subject mapping)."""

    status = 501


# --- DingTalk (dingtalk-api.md §11) ---------------------------------------------------------


class DingTalkError(BridgeError):
    """A DingTalk call failed; ``reason`` is the normalised code, never the raw errmsg."""

    retryable: bool = False
    #: Seconds to wait before a retry makes sense (0 when the caller's backoff decides).
    retry_after: float = 0.0

    def __init__(
        self,
        reason: str,
        message: str = "",
        *,
        api: str = "",
        field: str | None = None,
        retry_after: float | None = None,
        request_id: str = "",
    ) -> None:
        self.reason = str(reason)
        self.message = message
        self.api = api
        self.field = field
        self.request_id = request_id
        if retry_after is not None:
            self.retry_after = retry_after
        where = f" on {api}" if api else ""
        super().__init__(f"DingTalk {self.reason}{where}: {message}".rstrip(": "))


class Throttled(DingTalkError):
    """DingTalk's QPS limit answered (88/90018, 90002, 403 Qps*): wait and retry; no failure."""

    retryable = True
    retry_after = 1.0


class Transient(DingTalkError):
    """A server-side or network failure (-1, 5xx, timeout): back off and retry, bounded."""

    retryable = True


class AmbiguousWrite(Transient):
    """A write may or may not have been applied (timeout, 502/504, -1): re-read before retrying."""


class AuthFailed(DingTalkError):
    """Credentials or token were refused; a token error is retried once by the client itself."""


class IpBanned(DingTalkError):
    """The egress IP is banned (10k requests per 20 s): stop all calls for about five minutes."""

    retryable = True
    retry_after = 300.0


class DingTalkNotFound(DingTalkError):
    """The user, department or role does not exist (60121, 60111, 33012, 60003 …)."""


class DingTalkConflict(DingTalkError):
    """A unique value is already taken (userid, mobile, e-mail, dept name); ``field`` says which."""


class DingTalkInvalid(DingTalkError):
    """DingTalk rejected a field value; ``field`` names it when the code says which."""


class DepartmentNotEmpty(DingTalkInvalid):
    """The department still has members or sub-departments (60005, 60006).

    The translator moves members out and removes children first, but a member's move may
    still be in flight on another thread or worker: the removal is retried with backoff, and
    only a department that stays occupied reaches the dead-letter list."""

    retryable = True


class PermissionDenied(DingTalkError):
    """The app lacks the permission, the scope or the IP whitelist entry for this call."""


# Not DingTalk's answer but our own refusal, so it carries no errcode (style.md: a local conflict
# is our own error class). One DingTalk person belongs to at most one SCIM user: adopting a person
# another link holds would let one IdP record overwrite, then delete, someone else's account.


class LinkConflict(BridgeError):
    """A DingTalk person can't be linked to this SCIM user; permanent until an operator acts.

    ``userid`` is the DingTalk person concerned; ``holder`` the SCIM user already linked to
    them (None when the link keys point at several people instead).
    """

    def __init__(self, message: str, *, userid: str | None = None, holder: str | None = None):
        super().__init__(message)
        self.message = message
        self.userid = userid
        self.holder = holder


class ProjectionPaused(BridgeError):
    """Projection is held back (the mass-change guard) until an operator confirms."""

    retry_after: float = 30.0


# --- explain (issue 11): naming a person on the command line -----------------------------------


class UnknownPerson(BridgeError):
    """No user (nor link) answers to the SCIM id, userName or DingTalk userid given."""


class AmbiguousPerson(BridgeError):
    """Several users answer to the name given; the message lists them with their IdP."""


# --- DingTalk event callbacks (issue 10; dingtalk-api.md §9) ---------------------------------
# A callback we refuse changes nothing stored and answers 403: DingTalk retries a push it could
# not deliver (after 10 s and 30 s), and a forged or replayed one must never look accepted.


class CallbackRejected(ScimError):
    """403: a DingTalk event callback failed its signature, decryption or freshness check."""

    status = 403


class CallbackSignatureInvalid(CallbackRejected):
    """The msg_signature does not match SHA-1 over the token, timestamp, nonce and ciphertext."""


class CallbackUndecryptable(CallbackRejected):
    """The ciphertext is not AES-256-CBC under our key, its padding is bad, or it names
    another receiver (a corp id or app key other than ours)."""


class CallbackReplayed(CallbackRejected):
    """The timestamp is too far from our clock, or this nonce and timestamp were seen before."""


# Reconcile (issue 10): our own refusals to start, each naming why and what to do.


class ReconcileBusy(BridgeError):
    """Another reconcile holds the lock (one at a time across processes, design.md)."""


class ReconcileOverBudget(BridgeError):
    """The calls a reconcile needs exceed what is left of its monthly DingTalk call budget."""
