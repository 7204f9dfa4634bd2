"""SCIM_BRIDGE_REJECT_UNPROJECTABLE: refuse at SCIM time a user DingTalk could never accept.

The directory knows nothing of the mapping (design.md's dependency rule); this module, in the
layer that may see both, turns the mapping's own verdict (mapping/acceptance.py) into the hook
the directory's Context calls before a User is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scim_bridge.errors import ConfigError, InvalidValue
from scim_bridge.mapping.acceptance import refusals
from scim_bridge.mapping.rules import MappingRules, load_rules, rules_path
from scim_bridge.settings import Settings

log = logging.getLogger("scim_bridge.http")


class _CurrentRules:
    """The mapping rules, read again when the file changes (as the worker does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self._rules = load_rules(path)  # a bad file stops start-up, naming line and fix

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def get(self) -> MappingRules:
        stamp = self._mtime()
        if stamp == self._stamp:
            return self._rules
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._rules = load_rules(self.path)
                except ConfigError as exc:
                    log.error("mapping file not reloaded, the previous rules stay: %s", exc)
                self._stamp = stamp
        return self._rules


def user_acceptance(settings: Settings) -> Callable[[Mapping[str, Any]], None]:
    """Return the hook that raises 400 invalidValue for a user DingTalk could never accept."""
    rules = _CurrentRules(rules_path(settings))

    def check(doc: Mapping[str, Any]) -> None:
        found = refusals(doc, rules.get())
        if found:
            # The IdP's provisioning log shows this detail: name the attribute and the fix.
            words = "; ".join(str(r) for r in found)
            raise InvalidValue(f"{words} (this server refuses users DingTalk cannot accept)")

    return check


def current_rules(settings: Settings) -> Callable[[], MappingRules]:
    """Return the mapping rules as they are now, read again when the file changes (the
    console's person page explains with the rules the worker projects with)."""
    return _CurrentRules(rules_path(settings)).get
