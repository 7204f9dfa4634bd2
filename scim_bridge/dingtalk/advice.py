"""Words, not codes: what each DingTalk errcode means to an IT admin, and what fixes it.

Every reason in errcodes.RULES (and every reason the client makes up for transport failures)
has an ``Advice``: a reason in plain English and the fix. Dead letters, ``sync.lastError`` and
alerts say these words; DingTalk's own text (its errmsg, often Chinese) is kept beside them as
detail, never instead of them. Meanings follow dingtalk-api.md §11.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    """Why DingTalk refused, and what to do about it, in words an IT admin can act on."""

    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.fix}"


RETRY = "then run `scim-bridge dlq retry`"
_BY_ITSELF = "the bridge retries by itself"
_CREDENTIALS = (
    "set SCIM_BRIDGE_DINGTALK_APP_KEY and SCIM_BRIDGE_DINGTALK_APP_SECRET to the app's Client ID "
    "and Client Secret from the DingTalk developer console"
)
_PERMISSION = (
    "grant the app the contacts permissions (qyapi_manage_addresslist, qyapi_get_member) in the "
    f"DingTalk developer console, {RETRY}"
)
_SCOPE = (
    "widen the app's contact scope to the whole organisation in the DingTalk developer console, "
    f"{RETRY}"
)
_WHITELIST = (
    "add this server's egress IP to the app's IP whitelist in the DingTalk developer console, "
    f"{RETRY}"
)
_BUG = "report this as a scim-bridge bug with the dead letter's detail (`scim-bridge dlq show`)"
_DRIFT = f"run `scim-bridge reconcile` to see what changed in DingTalk, {RETRY}"
_PARAMETER = (
    "check the user's attributes in the IdP against docs/mapping.md (the detail shows DingTalk's "
    f"own words), {RETRY}"
)
_BUSY = f"{_BY_ITSELF}; if it persists, check DingTalk's service status, {RETRY}"
_SLOW = f"{_BY_ITSELF} after a pause; if it happens often, lower SCIM_BRIDGE_DINGTALK_QPS"
_TOKEN = f"{_BY_ITSELF} with a new token; if it persists, {_CREDENTIALS}"
_QUOTA = Advice(
    "the DingTalk app's monthly API quota is used up",
    f"raise the quota with DingTalk or wait for next month, {RETRY}",
)
_SERVER = Advice("DingTalk had an internal server error", _BUSY)
_THROTTLED = Advice("DingTalk's per-app request limit for this API was reached", _SLOW)
_FLOW_CONTROL = Advice("DingTalk's flow control held this app back for a while", _SLOW)
_BAD_CREDENTIALS = Advice("DingTalk rejected the app key or app secret", _CREDENTIALS)
_NO_PERMISSION = Advice("the DingTalk app lacks the permission for this API", _PERMISSION)
_IP_NOT_ALLOWED = Advice("this server's IP is not in the DingTalk app's IP whitelist", _WHITELIST)
_USER_GONE = Advice("the DingTalk member no longer exists (removed in DingTalk?)", _DRIFT)
_EMAIL_TAKEN = Advice(
    "the e-mail address belongs to another DingTalk member",
    f"give the user their own work e-mail in the IdP, {RETRY}",
)
_NAME_TAKEN = Advice(
    "a department with this name already exists under the same parent in DingTalk",
    f"rename one of the two groups in the IdP, or remove the other department in DingTalk, {RETRY}",
)
_INVALID = Advice("DingTalk rejected a parameter of the request", _PARAMETER)
_MOBILE_INVALID = Advice(
    "DingTalk does not accept the mobile number",
    "give the user a valid mobile number in the IdP (11 digits for mainland China, else "
    f"+<country code>-<number>), {RETRY}",
)
_EXTENSION = Advice(
    "DingTalk does not accept the user's custom fields (extension)",
    f"define each custom field in the DingTalk admin console first and keep values short, {RETRY}",
)
_VISIBILITY = Advice("DingTalk does not accept the department's visibility list", _BUG)
_ROLE_NAME = Advice(
    "DingTalk does not accept the role's name",
    f"give the group a short, non-empty displayName in the IdP, {RETRY}",
)
_ORG_FULL = Advice(
    "the DingTalk organisation has reached its member limit",
    f"certify the organisation or raise its member limit with DingTalk, {RETRY}",
)

ADVICE: dict[str, Advice] = {
    # --- transient: the bridge backs off and retries (§11 "T") ---------------------------------
    "-1": Advice("DingTalk was busy", _BUSY),
    "60019": Advice("DingTalk failed to read the department's members", _BUSY),
    "unknownError": _SERVER,
    "systemError": _SERVER,
    "system.error": _SERVER,
    "server.error": _SERVER,
    "service.timeout": Advice("DingTalk's gateway timed out", _BUSY),
    # --- flow control (§8) ---------------------------------------------------------------------
    "90018": _THROTTLED,
    "90002": Advice("DingTalk's global request limit for this API was reached", _SLOW),
    **{str(code): _FLOW_CONTROL for code in range(90001, 90015) if code != 90002},
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": _THROTTLED,
    "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi": _THROTTLED,
    "Forbidden.AccessDenied.QpsLimitForApi": Advice(
        "DingTalk's global request limit for this API was reached", _SLOW
    ),
    # --- quotas --------------------------------------------------------------------------------
    "90020": _QUOTA,
    "Forbidden.AccessDenied.ApiCountLimitForOrg": _QUOTA,
    "90017": Advice(
        "DingTalk refused this server's IP: it calls for too many organisations",
        f"call DingTalk from an egress IP of your own, {RETRY}",
    ),
    # --- token and credentials (§2) ------------------------------------------------------------
    "40014": Advice("DingTalk rejected the access token as invalid", _TOKEN),
    "42001": Advice("the DingTalk access token had expired", _TOKEN),
    "40001": Advice("DingTalk rejected the app secret or the access token", _TOKEN),
    "33001": Advice("DingTalk did not recognise the organisation of the access token", _TOKEN),
    "41001": Advice("the call reached DingTalk without an access token", _TOKEN),
    "88/40000": Advice("the call reached DingTalk with a blank access token", _TOKEN),
    "InvalidAuthentication": Advice("DingTalk rejected the access token", _TOKEN),
    "AuthenticationFailed.MissingParameter": Advice(
        "the call reached DingTalk without its token header", _BUG
    ),
    "40096": _BAD_CREDENTIALS,
    "40089": Advice("DingTalk rejected the corpid or corpsecret", _CREDENTIALS),
    "invalidClientIdOrSecret": _BAD_CREDENTIALS,
    "invalid.client": _BAD_CREDENTIALS,
    "unauthorized.client": _BAD_CREDENTIALS,
    "unsupported.grant.type": Advice("DingTalk refused the token request's grant type", _BUG),
    # --- permission, scope, whitelist ----------------------------------------------------------
    "43007": _NO_PERMISSION,
    "60011": _NO_PERMISSION,
    "Forbidden.AccessDenied.AccessTokenPermissionDenied": _NO_PERMISSION,
    "50002": Advice("the member is outside the DingTalk app's contact scope", _SCOPE),
    "50004": Advice("the department is outside the DingTalk app's contact scope", _SCOPE),
    "60020": _IP_NOT_ALLOWED,
    "Forbidden.AccessDenied.IpNotInWhiteList": _IP_NOT_ALLOWED,
    "23004": Advice(
        "DingTalk's system roles cannot be changed",
        f"leave system roles out of roles.filter in the mapping file, {RETRY}",
    ),
    # --- not found -----------------------------------------------------------------------------
    "60121": _USER_GONE,
    "60111": _USER_GONE,
    "33012": Advice("DingTalk does not know this userid", _DRIFT),
    "40003": Advice("DingTalk does not know this userid", _DRIFT),
    "60003": Advice("the DingTalk department no longer exists (removed in DingTalk?)", _DRIFT),
    "60004": Advice(
        "the parent department does not exist in DingTalk",
        f"make sure the parent group is provisioned and in scope, {RETRY}",
    ),
    "33011": Advice("DingTalk does not know this role", _DRIFT),
    "34020": Advice(
        "DingTalk does not know this role group",
        f"check roles.group_name in the mapping file, {RETRY}",
    ),
    # --- unique values already taken -----------------------------------------------------------
    "60102": Advice(
        "the DingTalk userid is already taken by another member",
        f"give the user a different externalId in the IdP, {RETRY}",
    ),
    "60104": Advice(
        "the mobile number belongs to another DingTalk member of the organisation",
        "give the user their own mobile number in the IdP (or remove the other member in "
        f"DingTalk), {RETRY}",
    ),
    "60107": Advice(
        "the person who logs in to DingTalk with this mobile number is already a member",
        "link them with policies.link.by: [mobile] in the mapping file, or fix the number in "
        f"the IdP, {RETRY}",
    ),
    "40021": Advice(
        "the new mobile number is already a registered DingTalk account",
        f"have the person change the number in DingTalk, or remove and re-add them, {RETRY}",
    ),
    "40019": Advice(
        "the mobile number has already joined five uncertified DingTalk organisations",
        f"certify your DingTalk organisation, or have the person leave one of the others, {RETRY}",
    ),
    "60106": _EMAIL_TAKEN,
    "40101": _EMAIL_TAKEN,
    "40100": Advice(
        "the extension number belongs to another DingTalk member",
        f"fix the user's dingtalk:telephone in the IdP, {RETRY}",
    ),
    "60008": _NAME_TAKEN,
    "60021": _NAME_TAKEN,
    "60016": Advice("the department id already exists in DingTalk", _BUG),
    "34021": Advice(
        "a DingTalk role with this name already exists",
        f"rename the group in the IdP, or remove the other role in DingTalk, {RETRY}",
    ),
    # --- rejected values -----------------------------------------------------------------------
    "22": Advice("the bridge called a DingTalk API that does not exist", _BUG),
    "404": Advice(
        "DingTalk answered that the address does not exist",
        f"check SCIM_BRIDGE_DINGTALK_BASE_URL and SCIM_BRIDGE_DINGTALK_API_URL, {RETRY}",
    ),
    "40000": _INVALID,
    "400002": _INVALID,
    "invalidParameter": _INVALID,
    "invalidParameter.param.invalid": _INVALID,
    "40035": Advice("DingTalk found a required value missing or invalid", _PARAMETER),
    "40038": Advice("DingTalk could not read the request", _BUG),
    "47001": Advice("DingTalk could not parse the request body", _BUG),
    "60103": _MOBILE_INVALID,
    "40104": _MOBILE_INVALID,
    "40022": Advice(
        "DingTalk will not change the mobile number: the person logs in with another one",
        "have the person change their login number in DingTalk, or remove and re-add them, "
        + RETRY,
    ),
    "41054": Advice(
        "DingTalk will not change the mobile number of a member who activated their account",
        f"remove and re-add the member in DingTalk, or change the number in DingTalk, {RETRY}",
    ),
    "60112": Advice(
        "DingTalk does not accept the user's name",
        f"fix displayName in the IdP (at most 80 characters), {RETRY}",
    ),
    "60105": Advice(
        "DingTalk does not accept the e-mail address",
        f"fix the work e-mail in the IdP (a valid address of at most 50 characters), {RETRY}",
    ),
    "60119": Advice(
        "DingTalk does not accept the title",
        f"shorten title in the IdP to at most 200 characters, {RETRY}",
    ),
    "60120": Advice(
        "the DingTalk member is disabled",
        f"enable the member in the DingTalk admin console, {RETRY}",
    ),
    "60122": _EXTENSION,
    "40063": _EXTENSION,
    "60123": Advice(
        "DingTalk does not accept the job number",
        f"fix the enterprise employeeNumber in the IdP (at most 50 characters), {RETRY}",
    ),
    "60128": Advice(
        "DingTalk does not accept the manager",
        f"make sure the manager is provisioned and in scope, {RETRY}",
    ),
    "40064": Advice(
        "DingTalk does not accept the work place",
        f"shorten dingtalk:workPlace in the IdP to at most 100 characters, {RETRY}",
    ),
    "40065": Advice(
        "DingTalk does not accept the remark",
        f"shorten dingtalk:remark in the IdP to at most 2000 characters, {RETRY}",
    ),
    "40066": Advice(
        "DingTalk does not accept the user's list of departments",
        f"check the user's groups in the IdP (at most 100 departments), {RETRY}",
    ),
    "40103": Advice(
        "the person has account protection on, so DingTalk sent them an invitation instead",
        f"ask the person to accept the invitation in DingTalk, {RETRY}",
    ),
    "60001": Advice(
        "DingTalk does not accept the department name",
        f"give the group a name of at most 64 characters in the IdP, {RETRY}",
    ),
    "60009": Advice(
        "the department name holds characters DingTalk does not allow",
        "remove the special characters from the group's name in the IdP (or set "
        f"departments.name_replacement in the mapping file), {RETRY}",
    ),
    "60002": Advice(
        "the department tree is deeper than DingTalk allows",
        f"nest the groups less deeply (or set departments.nesting: flat), {RETRY}",
    ),
    "60010": Advice(
        "the department hierarchy would loop back on itself",
        f"remove the cycle from the group nesting in the IdP, {RETRY}",
    ),
    "40009": Advice("DingTalk does not accept the department id", _DRIFT),
    "40010": Advice("DingTalk does not accept the parent department id", _DRIFT),
    "40011": Advice("DingTalk does not accept the department order", _BUG),
    "40031": Advice(
        "DingTalk does not accept the department's managers (a manager must be a member)",
        f"add the manager to the group in the IdP, {RETRY}",
    ),
    "40093": Advice(
        "DingTalk does not accept the department's group owner",
        f"make the owner a member of the department, {RETRY}",
    ),
    "60109": _VISIBILITY,
    "600109": _VISIBILITY,
    "60005": Advice(
        "the DingTalk department still has members, so it cannot be removed",
        f"move its members to other groups in the IdP first, {RETRY}",
    ),
    "60006": Advice(
        "the DingTalk department still has sub-departments, so it cannot be removed",
        f"remove or move its sub-groups in the IdP first, {RETRY}",
    ),
    "60007": Advice("DingTalk's root department cannot be removed", _BUG),
    "60018": Advice("DingTalk's root department cannot be changed", _BUG),
    "40068": Advice("DingTalk refused the paging offset", _BUG),
    "40069": Advice("DingTalk refused the page size", _BUG),
    "34018": _ROLE_NAME,
    "660000": _ROLE_NAME,
    # --- capacity limits -----------------------------------------------------------------------
    "40020": _ORG_FULL,
    "40024": _ORG_FULL,
    "40023": Advice(
        "the DingTalk department has reached its member limit (1000)",
        f"split the group in the IdP, {RETRY}",
    ),
    "60110": Advice(
        "the DingTalk organisation has too many departments",
        f"project fewer groups (departments.groups.filter in the mapping file), {RETRY}",
    ),
}

#: Reasons the client gives to failures that are not a DingTalk errcode (client.py).
CLIENT_REASONS: dict[str, Advice] = {
    "timeout": Advice(
        "DingTalk did not answer in time",
        f"{_BY_ITSELF}; if it persists, check the network to DingTalk and "
        "SCIM_BRIDGE_DINGTALK_READ_TIMEOUT",
    ),
    "connection": Advice(
        "the connection to DingTalk failed",
        f"{_BY_ITSELF}; if it persists, check the network, the proxy and "
        "SCIM_BRIDGE_DINGTALK_BASE_URL",
    ),
    "punish": Advice(
        "DingTalk banned this server's IP for about five minutes (too many calls)",
        f"{_BY_ITSELF} after the ban; lower SCIM_BRIDGE_DINGTALK_QPS",
    ),
    "no-token": Advice(
        "DingTalk's token answer carried no token",
        f"check that SCIM_BRIDGE_DINGTALK_BASE_URL points at DingTalk, {RETRY}",
    ),
}
ADVICE.update(CLIENT_REASONS)

#: A code that only says "a parameter is wrong", made precise by the field the client knows.
_GENERIC = frozenset({"40035", "40000", "400002", "invalidParameter"})
_REQUIRED: dict[str, Advice] = {
    "mobile": Advice(
        "DingTalk requires a mobile number",
        "give the user a phoneNumbers entry of type mobile in the IdP",
    ),
    "name": Advice(
        "DingTalk requires a name", "give the user a displayName (or name.formatted) in the IdP"
    ),
    "dept_id_list": Advice("DingTalk requires a department for every member", _BUG),
}


def advice_for(code: str, *, field: str | None = None, auth: bool = False) -> Advice:
    """Return the plain words for a DingTalk reason; ``auth`` when it came wrapped in 88."""
    if auth and f"88/{code}" in ADVICE:
        return ADVICE[f"88/{code}"]
    if code in _GENERIC and field in _REQUIRED:
        return _REQUIRED[field]
    found = ADVICE.get(code)
    if found is not None:
        return found
    if code.isdigit() and 500 <= int(code) < 600:  # a gateway's HTTP status, no JSON body
        return Advice(f"DingTalk answered with a server error (HTTP {code})", _BUSY)
    return Advice(
        f"DingTalk refused the change with code {code}",
        "look the code up in DingTalk's error-code list (the detail shows DingTalk's own "
        f"words), fix the data or the settings, {RETRY}",
    )


def advice_in(words: str, *, code: str | None = None) -> Advice | None:
    """Return the Advice a stored reason was written from (a dead letter's), or None.

    Dead letters keep ``str(advice)`` and the code; explain and the console show the reason
    and the fix apart, so they find the advice again rather than splitting the text.
    """
    if code:
        for field in (None, *_REQUIRED):
            advice = advice_for(code, field=field)
            if str(advice) == words:
                return advice
    for advice in (*ADVICE.values(), *_REQUIRED.values()):
        if str(advice) == words:
            return advice
    return None
