"""Attribute rules: SCIM attribute paths, fallbacks, templates, transforms and DingTalk limits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from scim_bridge.errors import ScimError
from scim_bridge.scim import filters as scim_filters

ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DINGTALK_URN = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"

#: Short prefixes a rule may use instead of a schema URN ("enterprise:manager.value").
URN_ALIASES = {"enterprise": ENTERPRISE_URN, "dingtalk": DINGTALK_URN}

USERID_MAX = 64  # dingtalk-api.md §3.1
DEPARTMENT_NAME_MAX = 64  # dingtalk-api.md §4.1
EXTENSION_MAX = 2000  # dingtalk-api.md §3.1: extension is JSON text of at most 2000 chars


@dataclass(frozen=True)
class FieldSpec:
    """What DingTalk accepts in one user field (dingtalk-api.md §3.1)."""

    kind: str  # "str" | "bool" | "epoch_ms"
    limit: int | None = None
    # What a value over the limit becomes by default: trimmed text is still useful for a title,
    # a trimmed e-mail or phone number is a wrong one, so those are dropped.
    overflow: str = "trim"


#: Every DingTalk user field a rule may set. userid, dept_id_list and manager_userid have their
#: own rules (``users.userid``, departments, ``users.manager``).
USER_FIELDS: Mapping[str, FieldSpec] = {
    "name": FieldSpec("str", 80),
    "mobile": FieldSpec("str", 20, "drop"),
    "email": FieldSpec("str", 50, "drop"),
    "title": FieldSpec("str", 200),
    "job_number": FieldSpec("str", 50),
    "telephone": FieldSpec("str", 50, "drop"),
    "work_place": FieldSpec("str", 100),
    "remark": FieldSpec("str", 2000),
    "org_email": FieldSpec("str", 100, "drop"),
    "org_email_type": FieldSpec("str", 20, "drop"),
    "login_email": FieldSpec("str", 64, "drop"),
    "hide_mobile": FieldSpec("bool"),
    "senior_mode": FieldSpec("bool"),
    "hired_date": FieldSpec("epoch_ms"),
}

TRANSFORMS = ("mobile", "phone", "lower", "upper", "bool", "epoch_ms", "userid", "string")

#: Top-level names a template may use: the SCIM User attributes (RFC 7643 §4.1, §4.3) plus
#: ``enterprise`` / ``dingtalk`` (the extension objects), ``user`` (the whole resource) and
#: ``attr(path)`` (any attribute path, value filters included).
TEMPLATE_NAMES = frozenset(
    {
        "id",
        "externalId",
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "meta",
        "schemas",
        "enterprise",
        "dingtalk",
        "user",
        "attr",
    }
)


class RuleError(ValueError):
    """A rule is wrong; the loader adds the file, line and key path to the message."""


# --- attribute paths ------------------------------------------------------------------------


@dataclass(frozen=True)
class AttrPath:
    """A compiled SCIM attribute path such as ``phoneNumbers[type eq "mobile"].value``."""

    text: str
    attr: str
    sub_attr: str | None = None
    urn: str | None = None
    filter: Any = None  # scim_filters.Node

    def values(self, resource: Mapping[str, Any]) -> list[Any]:
        """Return every non-empty value the path reaches in a resource, in document order."""
        scope: Any = resource
        if self.urn is not None and self.urn not in (CORE_USER_URN, CORE_GROUP_URN):
            scope = get_ci(resource, self.urn)
            if not isinstance(scope, Mapping):
                return []
        top = get_ci(scope, self.attr)
        if top is None:
            return []
        items = top if isinstance(top, list) else [top]
        if self.filter is not None:
            items = [
                i for i in items if isinstance(i, Mapping) and scim_filters.matches(self.filter, i)
            ]
        if self.sub_attr is not None:
            picked = [get_ci(i, self.sub_attr) for i in items if isinstance(i, Mapping)]
        else:
            picked = items
        out: list[Any] = []
        for value in picked:
            if isinstance(value, list):
                out.extend(v for v in value if not is_empty(v))
            elif not is_empty(value):
                out.append(value)
        return out

    def first(self, resource: Mapping[str, Any]) -> Any:
        """Return the first non-empty value the path reaches, or None."""
        found = self.values(resource)
        return found[0] if found else None


@lru_cache(maxsize=1024)
def compile_path(text: str) -> AttrPath:
    """Compile an attribute path; raise RuleError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("an attribute path must be a non-empty string")
    source = text.strip()
    head, sep, rest = source.partition(":")
    if sep and head in URN_ALIASES:
        source = f"{URN_ALIASES[head]}:{rest}"
    try:
        parsed = scim_filters.parse_path(source)
    except ScimError as exc:
        raise RuleError(
            f"{exc.detail}; write e.g. 'name.givenName' or 'phoneNumbers[type eq \"mobile\"].value'"
        ) from None
    if parsed.attr is None:
        raise RuleError(f"{text!r} names a schema, not an attribute; add ':attribute'")
    return AttrPath(
        text=text, attr=parsed.attr, sub_attr=parsed.sub_attr, urn=parsed.urn, filter=parsed.filter
    )


def compile_filter(text: str) -> Any:
    """Compile a SCIM filter (RFC 7644 §3.4.2.2); raise RuleError saying what is wrong."""
    source = text
    for alias, urn in URN_ALIASES.items():
        # Let filters use the same short prefixes as paths.
        source = re.sub(rf"(?<![\w:]){alias}:(?=[A-Za-z$])", f"{urn}:", source)
    try:
        return scim_filters.parse_filter(source)
    except ScimError as exc:
        raise RuleError(exc.detail) from None


def get_ci(obj: Any, name: str) -> Any:
    """Return ``obj[name]`` with the attribute name compared case-insensitively (RFC 7643 §2.1)."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return None
    if name in obj:
        return obj[name]
    # The SCIM layer canonicalises case, so a miss is usually a real absence: compare lengths
    # before lower-casing to keep that path cheap (it runs for every unmapped attribute).
    size, lower = len(name), None
    for key in obj:
        if isinstance(key, str) and len(key) == size:
            lower = lower or name.lower()
            if key.lower() == lower:
                return obj[key]
    return None


def is_empty(value: Any) -> bool:
    """Tell whether a value counts as absent (None, blank text, empty list or object)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


# --- templates ------------------------------------------------------------------------------


def _userid_filter(value: Any) -> str:
    return sanitize_userid(str(value))


def make_template_environment() -> SandboxedEnvironment:
    """Return the sandboxed Jinja2 environment templates compile in (StrictUndefined)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["userid"] = _userid_filter
    return env


TEMPLATE_ENV = make_template_environment()


def compile_template(text: str) -> Template:
    """Compile a template once; raise RuleError for a syntax error or an unknown name."""
    from jinja2 import meta

    try:
        tree = TEMPLATE_ENV.parse(text)
        template = TEMPLATE_ENV.from_string(tree)
    except TemplateError as exc:
        raise RuleError(f"template syntax error: {exc}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - TEMPLATE_NAMES)
    if unknown:
        raise RuleError(
            f"template uses unknown name {unknown[0]!r}"
            f"{did_you_mean(unknown[0], TEMPLATE_NAMES)}; templates see the SCIM User "
            "attributes, 'enterprise', 'dingtalk', 'user' and attr('path')"
        )
    return template


def template_context(user: Mapping[str, Any]) -> dict[str, Any]:
    """Return the names a template sees for one SCIM user."""
    ctx: dict[str, Any] = {k: v for k, v in user.items() if v is not None}
    ext = get_ci(user, ENTERPRISE_URN)
    if isinstance(ext, Mapping):
        ctx["enterprise"] = ext
    dt = get_ci(user, DINGTALK_URN)
    if isinstance(dt, Mapping):
        ctx["dingtalk"] = dt
    ctx["user"] = user

    def attr(path: str) -> Any:
        found = compile_path(path).first(user)
        return "" if found is None else found

    ctx["attr"] = attr
    return ctx


def did_you_mean(word: str, choices: Any) -> str:
    """Return '; did you mean "x"?' for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {str(c).lower(): c for c in choices}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f'; did you mean "{close[0]}"?' if close else ""


# --- transforms -----------------------------------------------------------------------------

_USERID_BAD = re.compile(r"[^A-Za-z0-9_.@-]")
#: Hex characters of SHA-256 in the suffix that keeps a derived userid apart from the others.
USERID_DIGEST = 8


def sanitize_userid(raw: str) -> str:
    """Make a DingTalk userid (1–64 of [A-Za-z0-9_.@-]) that no other text can also give.

    A valid value is kept as it is. Anything else is cleaned (other characters replaced by
    ``_``, cut to fit) and suffixed with a hash of the text as it came, so the result is
    deterministic and lossless: "jdoe 1" gives ``jdoe_1_<hash>``, never the ``jdoe_1`` that
    "jdoe_1" gives (the account-takeover finding of issue 9).
    """
    if 0 < len(raw) <= USERID_MAX and not _USERID_BAD.search(raw):
        return raw
    return _suffixed(_USERID_BAD.sub("_", raw.strip()) or "_", raw)


def userid_choices(userid: str, scim_id: str) -> tuple[str, str]:
    """Return the userids one SCIM user may take, in order: the derived one, then its own.

    The second is for when another link holds the first (two users whose externalIds are
    equal, or whose externalId equals another's SCIM id): the derived userid suffixed with a
    hash of the SCIM id, which no other user shares.
    """
    return userid, _suffixed(userid, f"{userid}\x00{scim_id}")


def free_userid(userid: str, scim_id: str, taken: Container[str]) -> str | None:
    """Return the first of ``userid_choices`` not in ``taken``, or None if both are."""
    return next((c for c in userid_choices(userid, scim_id) if c not in taken), None)


def _suffixed(base: str, source: str) -> str:
    # surrogatepass: a lone surrogate must hash, not raise; it is replaced in ``base`` anyway.
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{base[: USERID_MAX - USERID_DIGEST - 1]}_{digest[:USERID_DIGEST]}"


_DEPT_FORBIDDEN = re.compile("[-,，]")  # dingtalk-api.md §4.1
_SPACES = re.compile(r"\s+")


def sanitize_department_name(raw: str, *, replacement: str = " ") -> tuple[str, list[str]]:
    """Make a DingTalk department name (1–64 chars, no - , ，); return it and warnings."""
    warnings: list[str] = []
    name = _SPACES.sub(" ", _DEPT_FORBIDDEN.sub(replacement, str(raw))).strip()
    if name != str(raw).strip():
        warnings.append(f"department name {raw!r} changed to {name!r} (DingTalk forbids - , ，)")
    if not name:
        name = "_"
    if len(name) > DEPARTMENT_NAME_MAX:
        warnings.append(f"department name {name!r} trimmed to {DEPARTMENT_NAME_MAX} chars")
        name = name[:DEPARTMENT_NAME_MAX].rstrip()
    return name, warnings


_MOBILE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
)


@lru_cache(maxsize=200_000)
def normalise_phone(
    raw: str, region: str = "CN", *, mainland: str = "national", mobile_only: bool = True
) -> str | None:
    """Format a number the DingTalk way (``1xxxxxxxxxx`` / ``+cc-number``); None if invalid."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    national = phonenumbers.national_significant_number(number)
    # dingtalk-api.md §3.1: mainland numbers are 11 plain digits; others "+<cc>-<number>".
    if number.country_code == 86 and mainland == "national":
        return national
    return f"+{number.country_code}-{national}"


_TRUE = frozenset({"true", "yes", "1", "on", "y"})
_FALSE = frozenset({"false", "no", "0", "off", "n", ""})


def to_bool(value: Any) -> bool | None:
    """Read a boolean the way IdPs send them (true, "True", 1, "yes"); None if unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def to_epoch_ms(value: Any) -> int | None:
    """Turn a date, an RFC 3339 timestamp or a number into Unix milliseconds (hired_date)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value >= 1 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        return int(text) or None
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = int(moment.timestamp() * 1000)
    return millis if millis >= 1 else None


# --- value rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneRules:
    """How phone numbers are read and written."""

    default_region: str = "CN"
    mainland_format: str = "national"


@dataclass(frozen=True)
class ValueRule:
    """Where one value comes from: paths in order, then a template, then a constant."""

    paths: tuple[AttrPath, ...] = ()
    template: Template | None = None
    template_text: str = ""
    constant: Any = None
    transforms: tuple[str, ...] = ()
    on_overflow: str | None = None

    def raw(self, user: Mapping[str, Any], context: Callable[[], dict[str, Any]]) -> Any:
        """Return the first non-empty candidate (the fallback chain), before transforms."""
        for path in self.paths:
            found = path.first(user)
            if found is not None:
                return found
        if self.template is not None:
            try:
                text = self.template.render(context()).strip()
            except TemplateError:
                # StrictUndefined: an attribute the template needs is absent, so it has no value.
                text = ""
            if text:
                return text
        return self.constant


def apply_transforms(
    value: Any, transforms: tuple[str, ...], phone: PhoneRules
) -> tuple[Any, str | None]:
    """Apply transforms in order; return the value (None if it failed) and a problem, if any."""
    for name in transforms:
        if value is None:
            return None, None
        if name in ("mobile", "phone"):
            text = str(value)
            value = normalise_phone(
                text,
                phone.default_region,
                mainland=phone.mainland_format,
                mobile_only=name == "mobile",
            )
            if value is None:
                kind = "mobile number" if name == "mobile" else "phone number"
                return None, f"{text!r} is not a valid {kind}"
        elif name == "lower":
            value = str(value).lower()
        elif name == "upper":
            value = str(value).upper()
        elif name == "string":
            value = str(value)
        elif name == "userid":
            value = sanitize_userid(str(value))
        elif name == "bool":
            converted = to_bool(value)
            if converted is None:
                return None, f"{value!r} is not a boolean"
            value = converted
        elif name == "epoch_ms":
            millis = to_epoch_ms(value)
            if millis is None:
                return None, f"{value!r} is not a date"
            value = millis
    return value, None


def coerce_field(name: str, value: Any, on_overflow: str | None) -> tuple[Any, str | None]:
    """Fit a value to a DingTalk user field's type and limit; return it and a warning, if any."""
    spec = USER_FIELDS[name]
    if spec.kind == "bool":
        converted = to_bool(value)
        if converted is None:
            return None, f"{name}: {value!r} is not a boolean; left unset"
        return converted, None
    if spec.kind == "epoch_ms":
        millis = to_epoch_ms(value)
        if millis is None:
            return None, f"{name}: {value!r} is not a date; left unset"
        return millis, None
    if isinstance(value, dict | list):
        return None, f"{name}: a {type(value).__name__} is not text; left unset"
    text = value.strip() if isinstance(value, str) else str(value)
    if spec.limit is not None and len(text) > spec.limit:
        if (on_overflow or spec.overflow) == "drop":
            return None, f"{name} longer than {spec.limit} chars; left unset"
        return text[: spec.limit].rstrip(), f"{name} trimmed to {spec.limit} chars"
    return (text or None), None
