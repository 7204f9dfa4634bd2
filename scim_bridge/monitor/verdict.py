"""The one-sentence answer to "why isn't this person in DingTalk?" (issue 11), chosen purely.

``explain`` gathers the facts (store, mapping, link, outbox, dead letter, guard, live read);
``choose_verdict`` turns them into exactly one sentence from a closed set, and the console
colours it by ``VerdictKind``. Plain data in, plain data out: tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

RECONCILE = "run `scim-bridge reconcile --apply`"


class VerdictKind(StrEnum):
    """Where a person stands, as one word the console can colour and filter by."""

    UP_TO_DATE = "up_to_date"  # in DingTalk, as the mapping says
    UNVERIFIED = "unverified"  # in DingTalk as last applied; DingTalk could not be read now
    WAITING = "waiting"  # a change is queued: throttled, backing off, being synced
    BLOCKED = "blocked"  # the IdP's data cannot be projected (e.g. no mobile number)
    FAILED = "failed"  # dead-lettered: an operator must act
    PAUSED = "paused"  # held back by the mass-change guard
    NOT_IN_SCOPE = "not_in_scope"  # the mapping leaves this person out
    REMOVED = "removed"  # removed from DingTalk, as the mapping says (a leaver)
    DRIFT = "drift"  # DingTalk differs from what the mapping wants, nothing queued
    MISSING = "missing"  # should be in DingTalk, is not, nothing queued

    @property
    def settled(self) -> bool:
        """Say whether the person is where the mapping puts them (nothing left to do)."""
        return self in (VerdictKind.UP_TO_DATE, VerdictKind.NOT_IN_SCOPE, VerdictKind.REMOVED)


class WaitReason(StrEnum):
    """Why a queued change has not reached DingTalk yet."""

    QUEUED = "queued"  # due now: the next free worker takes it
    DELAYED = "delayed"  # due later, with no failure behind it
    LEASED = "leased"  # a worker holds it right now
    THROTTLED = "throttled"  # DingTalk said slow down (dingtalk-api.md §8): no attempt spent
    BACKOFF = "backoff"  # a transient failure: exponential backoff (design.md)
    GUARD = "guard"  # the mass-change guard holds removals for an operator


class LiveStatus(StrEnum):
    """What the live read of the person in DingTalk gave."""

    READ = "read"
    ABSENT = "absent"  # DingTalk does not know the userid
    FAILED = "failed"  # the read itself failed (network, token, throttling, ...)
    SKIPPED = "skipped"  # --no-live, or no userid to read


#: DingTalk requires these at user/create (dingtalk-api.md §3.1); the words of each.
REQUIRED_WORDS = {"mobile": "no mobile number", "name": "no name"}


@dataclass(frozen=True)
class Waiting:
    """A queued change: why it waits, how long still, after how many failed attempts."""

    why: WaitReason
    seconds: float = 0.0
    attempts: int = 0
    max_attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the verdict is chosen from; each field is one section of the explanation."""

    in_store: bool = True
    #: The mapping's action: "upsert", "skip", "remove" ("" when the user is gone).
    action: str = "upsert"
    reason: str = ""
    #: Required DingTalk fields the mapping leaves empty ("mobile", "name").
    missing: tuple[str, ...] = ()
    #: A live link: a userid this bridge placed in DingTalk and has not removed.
    linked: bool = False
    #: A link that was removed (the person was in DingTalk once).
    was_removed: bool = False
    waiting: Waiting | None = None
    dead_letter: tuple[str, str] | None = None  # (reason, fix)
    guard_token: str | None = None
    live: LiveStatus = LiveStatus.SKIPPED
    live_error: str | None = None
    #: Fields that differ; ``against_live`` says whether from DingTalk or the last snapshot.
    differences: tuple[str, ...] = ()
    against_live: bool = False


@dataclass(frozen=True)
class Verdict:
    """One sentence from a closed set, and its kind."""

    kind: VerdictKind
    sentence: str


def _seconds(value: float) -> str:
    return f"{max(0, round(value))} s"


def _waiting(w: Waiting, guard_token: str | None) -> Verdict:
    if w.why is WaitReason.DELAYED and w.seconds < 1:
        w = Waiting(WaitReason.QUEUED)  # due within the second: as good as queued
    if w.why is WaitReason.GUARD:
        token = guard_token or "TOKEN"
        return Verdict(
            VerdictKind.PAUSED,
            f"paused by the mass-change guard — confirm with `scim-bridge guard confirm {token}`",
        )
    of = f" of {w.max_attempts}" if w.max_attempts else ""
    words = {
        WaitReason.THROTTLED: f"DingTalk throttled, next attempt in {_seconds(w.seconds)}",
        WaitReason.BACKOFF: (
            f"attempt {w.attempts}{of} failed ({w.last_error or 'no reason recorded'}), "
            f"next attempt in {_seconds(w.seconds)}"
        ),
        WaitReason.LEASED: "a worker is sending the change to DingTalk now",
        WaitReason.QUEUED: "queued, the next free worker sends it",
        WaitReason.DELAYED: f"queued, next attempt in {_seconds(w.seconds)}",
    }
    return Verdict(VerdictKind.WAITING, f"waiting: {words[w.why]}")


def _leaver(facts: Facts) -> Verdict:
    """A person the mapping removes (deleted, inactive under `delete`, out of scope)."""
    why = facts.reason or "deleted in the IdP"
    if facts.linked:
        return Verdict(VerdictKind.DRIFT, f"drift: {why}, but still in DingTalk — {RECONCILE}")
    if facts.was_removed:
        label = "leaver" if "deactivated" in why else why
        return Verdict(VerdictKind.REMOVED, f"removed from DingTalk ({label})")
    return Verdict(VerdictKind.NOT_IN_SCOPE, f"not in scope of the mapping: {why}")


def _present(facts: Facts) -> Verdict:
    """A person the mapping puts in DingTalk, with nothing queued."""
    if not facts.linked:
        return Verdict(VerdictKind.MISSING, f"not in DingTalk and nothing queued — {RECONCILE}")
    if facts.live is LiveStatus.ABSENT:
        return Verdict(VerdictKind.MISSING, f"missing from DingTalk (removed there?) — {RECONCILE}")
    if facts.differences:
        where = "DingTalk differs" if facts.against_live else "the mapping now wants a change"
        fields = ", ".join(facts.differences)
        return Verdict(VerdictKind.DRIFT, f"drift: {where} in {fields} — {RECONCILE}")
    if facts.live is LiveStatus.FAILED:
        return Verdict(
            VerdictKind.UNVERIFIED,
            "in DingTalk as last applied, but DingTalk could not be read now: "
            + (facts.live_error or "no reason given"),
        )
    if facts.live is LiveStatus.SKIPPED:
        return Verdict(VerdictKind.UP_TO_DATE, "in DingTalk and up to date (as last applied)")
    return Verdict(VerdictKind.UP_TO_DATE, "in DingTalk and up to date")


def _missing_matters(facts: Facts) -> bool:
    """Say whether a required field the IdP lacks is what keeps the person from DingTalk."""
    return (
        not facts.linked
        or facts.dead_letter is not None
        or bool(set(facts.missing) & set(facts.differences))
    )


def choose_verdict(facts: Facts) -> Verdict:
    """Return the one verdict the facts support, most actionable first."""
    if facts.waiting is not None and facts.waiting.why is WaitReason.GUARD:
        return _waiting(facts.waiting, facts.guard_token)
    if facts.action == "skip":
        # Whatever is queued or failed before, the translator leaves this person alone.
        return Verdict(VerdictKind.NOT_IN_SCOPE, f"not in scope of the mapping: {facts.reason}")
    if facts.action == "upsert" and facts.missing and _missing_matters(facts):
        # DingTalk refuses a new member without these, and keeps (or refuses to clear) an
        # existing member's: no retry or reconcile helps until the IdP has them again.
        what = " and ".join(REQUIRED_WORDS.get(m, f"no {m}") for m in facts.missing)
        return Verdict(VerdictKind.BLOCKED, f"blocked: {what} — fix it in the IdP")
    if facts.waiting is not None:
        # A change queued after a dead letter (the IdP fixed the data, or `dlq retry`) is
        # what happens next; the old failure is moot once it lands (sync/dlq.py settle).
        return _waiting(facts.waiting, facts.guard_token)
    if facts.dead_letter is not None:
        reason, fix = facts.dead_letter
        sentence = f"failed: {reason} — {fix}" if fix else f"failed: {reason}"
        return Verdict(VerdictKind.FAILED, sentence)
    if facts.action in ("remove", "") or not facts.in_store:
        return _leaver(facts)
    return _present(facts)
