"""Text a SCIM string may carry into the store (RFC 7643 §2.3.1: Unicode encoded as UTF-8)."""

from __future__ import annotations

import re

#: Text no database column can hold: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates
#: (JSON's "\\ud800" escapes; not Unicode scalar values, so not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> bool:
    """Return whether every database we support can store this text as it is."""
    return UNSTORABLE.search(value) is None
