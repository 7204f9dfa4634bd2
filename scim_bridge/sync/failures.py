"""What people are told when a change cannot reach DingTalk (design.md: reasons in plain words).

One function turns any failure of the translator into the words that dead letters, the SCIM
``sync.lastError``, alerts and the CLI show. DingTalk's own text is kept apart as ``detail``
(operators see it with `scim-bridge dlq show`); the text of an internal exception is never
shown to anyone but the log, which the worker writes when it catches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from scim_bridge.dingtalk.advice import RETRY, advice_for
from scim_bridge.errors import AuthFailed, BridgeError, DingTalkError, LinkConflict

INTERNAL = (
    "scim-bridge failed internally while projecting this change: the worker log has the "
    "details; the bridge retries by itself, and if it keeps failing, report it"
)


HELD_BY_ANOTHER = (
    "the DingTalk person this user matches is already linked to another user of the directory, "
    "so the bridge will not take it over: correct the user's mobile, e-mail or job number in "
    "the IdP (an administrator sees both users with `scim-bridge dlq show`)"
)


@dataclass(frozen=True)
class FailureWords:
    """A failure as people see it: the words, the code behind them, DingTalk's own text."""

    text: str
    code: str
    detail: str | None = None
    #: What the resource's own SCIM client may read (sync.lastError), when ``text`` names
    #: another SCIM user, who may belong to another IdP (docs/security.md: IdPs are isolated).
    public: str | None = None


def explain(exc: Exception) -> FailureWords:
    """Say in plain words why a change could not be projected, and what to do."""
    if isinstance(exc, DingTalkError) and exc.api:
        # An answer of DingTalk (or of the network on the way): its code, in our words.
        advice = advice_for(exc.reason, field=exc.field, auth=isinstance(exc, AuthFailed))
        return FailureWords(str(advice), exc.reason, exc.message or None)
    if isinstance(exc, DingTalkError):
        # Raised by the translator itself (a link conflict): its message is written for people.
        return FailureWords(f"{exc.message}, {RETRY}", exc.reason)
    if isinstance(exc, LinkConflict):
        return FailureWords(str(exc), type(exc).__name__, public=HELD_BY_ANOTHER)
    if isinstance(exc, BridgeError):
        return FailureWords(str(exc), type(exc).__name__)
    return FailureWords(INTERNAL, type(exc).__name__)


def failure_words(exc: Exception) -> str:
    """Return the words the resource's own SCIM client may see (what a link's lastError stores)."""
    words = explain(exc)
    return words.public or words.text


def words_for_the_log(exc: Exception) -> str:
    """Return the words plus what is behind them, for operators reading the log."""
    words = explain(exc)
    said = f"; DingTalk said: {words.detail}" if words.detail else ""
    if isinstance(exc, DingTalkError) or words.text == str(exc):
        return f"{words.text} (code {words.code}{said})"
    return f"{words.text} ({type(exc).__name__}: {exc})"
