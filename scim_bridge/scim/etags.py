"""Entity tags (RFC 7644 §3.14): weak ETags from resource versions, If-Match / If-None-Match."""

from __future__ import annotations

from scim_bridge.errors import PreconditionFailed


def etag(version: int) -> str:
    """Return the weak ETag of a resource version, e.g. W/"3"."""
    return f'W/"{version}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _opaque(tag: str) -> str:
    # Weak comparison (RFC 7232 §2.3.2): W/"3" and "3" name the same version.
    return tag[2:] if tag.startswith(("W/", "w/")) else tag


def if_match_holds(header: str | None, version: int) -> bool:
    """Return whether an If-Match header (absent, "*", or a list of tags) allows the write."""
    if header is None or header.strip() == "":
        return True
    tags = _tags(header)
    if "*" in tags:
        return True
    current = _opaque(etag(version))
    return any(_opaque(t) == current for t in tags)


def require_if_match(header: str | None, version: int) -> None:
    """Raise PreconditionFailed (412) when If-Match names a version that is not current."""
    if not if_match_holds(header, version):
        raise PreconditionFailed(
            f"the resource has changed: its version is {etag(version)}, not {header}"
        )


def if_none_match_hit(header: str | None, version: int) -> bool:
    """Return whether If-None-Match names the current version (answer 304 Not Modified)."""
    if not header:
        return False
    tags = _tags(header)
    current = _opaque(etag(version))
    return "*" in tags or any(_opaque(t) == current for t in tags)
