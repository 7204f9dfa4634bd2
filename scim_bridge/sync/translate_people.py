"""The translator's people: which DingTalk person a SCIM user becomes, its updates, its removal.

decide.choose_person picks the userid (created, adopted by a link key, or refused); this module
reads what it needs to choose (DingTalk's lookup by mobile, an index of e-mails and job numbers)
and holds each userid on the link before the DingTalk call (person_links.py), so a person
another SCIM user holds is never overwritten. decide.py decides each create, update and move,
apply.py sends it, record.py records it. A leaver's person is deleted only past the
mass-change guard, or only unlinked when another live link holds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link
from scim_bridge.errors import (
    AmbiguousWrite,
    DingTalkConflict,
    DingTalkError,
    DingTalkNotFound,
    LinkConflict,
    ProjectionPaused,
)
from scim_bridge.mapping.model import UserProjection
from scim_bridge.mapping.project import managed_fields
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync import apply, decide, guard, person_links
from scim_bridge.sync.decide import DEPT_LIST, MANAGER, Kind, Operation, Target
from scim_bridge.sync.decide_snapshots import as_snapshot, user_fields
from scim_bridge.sync.record import REMOVED, USER, Recorder
from scim_bridge.sync.translate_structure import KeyedLocks, Observe

#: How long a walk of the DingTalk directory serves e-mail and job-number linking.
INDEX_TTL = 600.0
#: Plain words for the link keys, in a refusal.
_KEY_WORDS = {"mobile": "the mobile number", "email": "the e-mail address"}


@dataclass
class People:
    """Finds, holds, and removes the DingTalk person of one SCIM user, for the translator."""

    db: Database
    client: DingTalkClient
    record: Recorder
    clock: Callable[[], datetime]
    observed: Observe
    locks: KeyedLocks
    monotonic: Callable[[], float] = time.monotonic
    _indexes: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)

    def link_person(
        self,
        user_id: str,
        link: Link | None,
        projection: UserProjection,
        desired: dict[str, Any],
        rules: MappingRules,
        *,
        actor: str | None,
    ) -> None:
        """Create this user's DingTalk person as ``desired``, or adopt one no other link holds.

        A reservation another user wins is fed back to decide as that userid's holder.
        """
        known = link.dingtalk_id if link is not None else None
        holders: dict[str, str] = {}
        matches: list[tuple[str, str]] | None = None
        # Issue 14: the lookup by mobile waits until DingTalk refuses the create (_look_up).
        deferred: tuple[str, ...] = ("mobile",) if "mobile" in rules.link.by else ()
        while True:
            if matches is None and not (known and known not in holders):
                matches, deferred = self._look_up(projection, rules, deferred)
            choice = decide.choose_person(
                user_id,
                derived=projection.userid,
                known=known,
                matches=matches or (),
                exists=(),
                holders=holders,
                on_conflict=rules.link.on_conflict,
            )
            if choice.kind == Kind.CONFLICT:
                raise self._refusal(user_id, choice, projection, matches or [])
            existing = None
            if choice.key is not None:  # found by a link key: adopt that person as they are
                existing = self.client.find_user(choice.userid)
                if existing is None:
                    matches = []  # gone since it was found: as if nobody matched
                    continue
            holder = person_links.reserve(self.db, user_id, choice.userid, now=self.clock())
            if holder is not None:
                holders[choice.userid] = holder
                continue
            try:
                with self._reserved(user_id, choice.userid, before=link):
                    if existing is not None:
                        self._adopt(user_id, str(choice.key), existing, desired, rules, actor=actor)
                    else:
                        tentative = bool(deferred)
                        self._create(
                            user_id, choice.userid, desired, rules, actor=actor, tentative=tentative
                        )
            except DingTalkConflict as exc:
                if not deferred or exc.field in (None, "userid"):
                    raise
                # Taken by someone DingTalk has: look them up by every key, then decide again
                # (the reservation is released; a retried create's userid is no longer forced).
                deferred, matches, known = (), None, None
                continue
            return

    def _look_up(
        self, projection: UserProjection, rules: MappingRules, deferred: tuple[str, ...]
    ) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
        """Match the link keys, leaving the ``deferred`` ones out unless another key matched.

        The lookup by mobile is one more DingTalk call, and one more round trip, on the path of
        every creation (issue 14). DingTalk refuses a create whose mobile it already has and
        creates nothing (60104, dingtalk-api.md §3.1), so a new person is created first and
        looked up only after such a refusal; the e-mail and job-number index costs no call.
        When it names someone, every key decides, as before. Returns what is still deferred.
        """
        matches = self.matches(projection.link_by, rules.link.by, skip=deferred)
        if matches and deferred:
            return self.matches(projection.link_by, rules.link.by), ()
        return matches, deferred

    def _refusal(
        self,
        user_id: str,
        choice: decide.PersonChoice,
        projection: UserProjection,
        matches: list[tuple[str, str]],
    ) -> LinkConflict:
        """Say in words why no person was linked (docs/mapping.md, policies.link)."""
        values = dict(projection.link_by)
        if choice.holder is None:
            return LinkConflict(
                "the link keys point at different DingTalk people: "
                + ", ".join(f"{k} {values[k]} -> {u}" for k, u in matches)
                + "; fix the data in the IdP or set policies.link.on_conflict"
            )
        how = choice.reason
        if choice.key is not None:
            how = f"found by {_KEY_WORDS.get(choice.key, choice.key)} {values[choice.key]}"
        return self.conflict(user_id, choice.userid, choice.holder, how=how)

    def conflict(self, user_id: str, userid: str, holder: str, *, how: str) -> LinkConflict:
        """Return the refusal to take ``userid``, which ``holder`` holds, for ``user_id``."""
        with self.db.read() as session:
            return person_links.conflict(session, user_id, userid, holder, how=how)

    def holder_of(self, user_id: str, userid: str) -> str | None:
        """Return the SCIM id of another user whose live link holds ``userid``."""
        with self.db.read() as session:
            return person_links.holder_of(session, userid, other_than=user_id)

    @contextmanager
    def _reserved(self, user_id: str, userid: str, *, before: Link | None) -> Iterator[None]:
        """Keep a reservation while the person may exist; give it up on a definite refusal."""
        try:
            yield
        except (DingTalkError, LinkConflict) as exc:
            if not getattr(exc, "retryable", False):
                person_links.release(self.db, user_id, userid, before=before, now=self.clock())
            raise

    def matches(
        self,
        link_by: tuple[tuple[str, str], ...],
        keys: tuple[str, ...],
        *,
        skip: tuple[str, ...] = (),
    ) -> list[tuple[str, str]]:
        """Find the DingTalk people this one's link keys name: (key, userid) in policy order.

        Mobile through DingTalk's lookup (dingtalk-api.md §3.6); e-mail and job number, which
        DingTalk cannot look up, through an index of the whole DingTalk directory, walked at
        most every ten minutes. Keys in ``skip`` are not looked up.
        """
        values = dict(link_by)
        found: list[tuple[str, str]] = []
        for key in keys:
            value = values.get(key)
            if not value or key in skip:
                continue
            if key == "mobile":
                userid = self.client.get_userid_by_mobile(value)
            else:
                userid = self._index(key).get(value.strip().lower())
            if userid is not None:
                found.append((key, userid))
        return found

    def _index(self, key: str) -> dict[str, str]:
        """Map lower-cased e-mail or job number to userid over the whole DingTalk directory."""
        if key not in ("email", "job_number"):
            return {}
        # One walk at a time; the threads that wait get its result.
        with self.locks.of(f"index:{key}"):
            cached = self._indexes.get(key)
            if cached is not None and self.monotonic() - cached[0] < INDEX_TTL:
                return cached[1]
            index: dict[str, str] = {}
            for person in self.client.iter_all_users():
                value = person.get(key)
                if value:
                    index.setdefault(str(value).strip().lower(), str(person["userid"]))
            self._indexes[key] = (self.monotonic(), index)
            return index

    def _adopt(
        self,
        user_id: str,
        key: str,
        existing: Mapping[str, Any],
        desired: dict[str, Any],
        rules: MappingRules,
        *,
        actor: str | None,
    ) -> None:
        """Link to a person already in DingTalk and bring their fields in line."""
        userid = str(existing["userid"])
        name = str(user_fields(desired).get("name") or "")
        link = Operation(Kind.LINK, Target.USER, user_id, userid, name, reason=f"matched by {key}")
        self.observed([link])
        self.record.event("User", user_id, "link", userid, "ok", detail=link.reason, actor=actor)
        self._update_remote(user_id, userid, as_snapshot(existing), desired, rules, actor=actor)
        self.record.save_link(USER, user_id, userid, desired)

    def _create(
        self,
        user_id: str,
        userid: str,
        desired: dict[str, Any],
        rules: MappingRules,
        *,
        actor: str | None,
        tentative: bool = False,
    ) -> None:
        """Create the person under ``userid``, or complete a create DingTalk already applied.

        ``tentative``: made before the lookup by mobile (link_person); the observer sees the
        create only once it is not refused, since a refused one is decided again.
        """
        op = decide.create_user(
            user_id,
            userid,
            user_fields(desired),
            dept_ids=desired[DEPT_LIST],
            manager_userid=desired.get(MANAGER),
        )
        if not tentative:
            self.observed([op])
        try:
            sent = apply.create_person(self.client, userid, op, desired)
        except (AmbiguousWrite, DingTalkConflict) as exc:
            if isinstance(exc, DingTalkConflict) and exc.field not in (None, "userid"):
                raise
            # dingtalk-api.md §10: our userid is deterministic, so re-read before retrying.
            existing = self.client.find_user(userid)
            if existing is None:
                raise
            # Adopting is how a create that timed out after DingTalk applied it completes; a
            # person another SCIM user holds is theirs (the reservation makes this a backstop).
            holder = self.holder_of(user_id, userid)
            if holder is not None:
                how = f"DingTalk {exc.reason}"
                raise self.conflict(user_id, userid, holder, how=how) from exc
            if tentative:
                self.observed([op])
            self.record.event(
                "User", user_id, "adopt", userid, "ok", detail=exc.reason, actor=actor
            )
            self._update_remote(user_id, userid, as_snapshot(existing), desired, rules, actor=actor)
        else:
            if tentative:
                self.observed([op])
            self.record.event(
                "User", user_id, "create", userid, "ok", fields=sent.fields, actor=actor
            )
        self.record.save_link(USER, user_id, userid, desired)

    def update(
        self,
        user_id: str,
        link: Link,
        desired: dict[str, Any],
        rules: MappingRules,
        *,
        actor: str | None,
        reread: bool = False,
    ) -> None:
        """Bring the linked person in line with ``desired``; put them back if deleted by hand.

        ``reread``: compare with the person DingTalk holds, not the last snapshot recorded
        (which an applied but unrecorded write left behind; dingtalk-api.md §12.4)."""
        userid = str(link.dingtalk_id)
        current: Mapping[str, Any] | None = link.snapshot or {}
        if reread:  # None: the person is gone
            remote = self.client.find_user(userid)
            current = None if remote is None else as_snapshot(remote)
        if current is not None:
            try:
                self._update_remote(user_id, userid, current, desired, rules, actor=actor)
            except DingTalkNotFound:
                current = None
        if current is None:
            # Someone removed the person in DingTalk: put them back (reconciliation).
            self._create(user_id, userid, desired, rules, actor=actor)
            return
        self.record.save_link(USER, user_id, userid, desired)

    def _update_remote(
        self,
        user_id: str,
        userid: str,
        current: Mapping[str, Any],
        desired: Mapping[str, Any],
        rules: MappingRules,
        *,
        actor: str | None,
    ) -> None:
        """Decide and send the update (fields, manager) and move one person needs."""
        ops = self.observed(
            decide.update_user(
                user_id,
                userid,
                current,
                user_fields(desired),
                dept_ids=desired[DEPT_LIST],
                manager_userid=desired.get(MANAGER),
                managed=managed_fields(rules),
            )
        )
        sent = apply.update_person(self.client, userid, ops, desired)
        if sent is not None:
            self.record.event(
                "User", user_id, "update", userid, "ok", fields=sent.fields, actor=actor
            )

    # --- leavers -----------------------------------------------------------------------------

    def remove(
        self,
        user_id: str,
        link: Link | None,
        rules: MappingRules,
        *,
        reason: str,
        actor: str | None,
    ) -> None:
        """Delete a leaver's person (past the mass-change guard), or unlink a shared one."""
        if link is None or link.state == REMOVED or not link.dingtalk_id:
            return
        userid = link.dingtalk_id
        with self.db.read() as session:
            holder = person_links.holder_of(session, userid, other_than=user_id)
            why = holder and person_links.unlink_words(session, user_id, userid, holder)
        name = str((link.snapshot or {}).get("name") or "")
        (op,) = self.observed(
            [decide.remove_user(user_id, userid, name, reason=reason, holder_words=why or None)]
        )
        if op.kind == Kind.UNLINK:
            # Another live link holds this person (a store from before migration 0005): their
            # account stays; only this link goes.
            self.record.event(
                "User", user_id, "unlink", userid, "ok", detail=op.reason, actor=actor
            )
            self.record.removed(USER, user_id, forget_id=True, why=op.reason)
            return
        with self.db.write() as session:
            decision = guard.propose_removal(
                session,
                user_id,
                rules.guard,
                now=self.clock(),
                inactive_is_removal=rules.leavers.action == "delete",
            )
        if not decision.allow:
            # A burst of removals waits for an operator (`scim-bridge guard confirm TOKEN`).
            raise ProjectionPaused(
                f"mass-change guard: {decision.reason}; confirm with "
                f"`scim-bridge guard confirm {decision.token}`"
            )
        existed = apply.delete_person(self.client, op)
        detail = reason if existed else f"{reason}; already gone from DingTalk"
        self.record.event("User", user_id, "delete", userid, "ok", detail=detail, actor=actor)
        # Keep the userid: a reactivated person comes back with the same one.
        self.record.removed(USER, user_id, forget_id=False)
