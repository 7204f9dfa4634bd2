"""What becomes of a claimed change once the translator has run: done, postponed (DingTalk
asked us to wait, or the guard holds projection), retried after a backoff, or moved to the
dead-letter list. Every failure is recorded (sync/record.py) with its reason in plain words."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter
from scim_bridge.sync import claims as outbox
from scim_bridge.sync import dlq
from scim_bridge.sync.claims import Claim
from scim_bridge.sync.failures import FailureWords, explain, words_for_the_log
from scim_bridge.sync.translator import FAILED, RETRYING, Translator

if TYPE_CHECKING:
    from scim_bridge.sync.worker import WorkerConfig

log = logging.getLogger("scim_bridge.sync")


@dataclass
class Outcomes:
    """Settles one worker's claimed outbox rows."""

    db: Database
    translator: Translator
    clock: Callable[[], datetime]
    owner: str  # the worker holding the claims' leases
    config: WorkerConfig  # max_attempts and the backoff
    rng: random.Random  # the backoff's jitter

    def complete(self, claim: Claim) -> None:
        """The change reached DingTalk: its outbox row goes, and its dead letter if any."""
        with self.db.transaction() as cur:  # prepared: one per change, in the writer's turn
            outbox.complete_on(cur, claim, owner=self.owner)
            dlq.settle_on(cur, claim.resource_type, claim.resource_id)

    def postpone(self, claim: Claim, exc: Exception, *, state: str, seconds: float) -> None:
        """Record why the change waits, and look at it again in ``seconds``, without spending
        an attempt."""
        self.translator.record_failure(
            claim.resource_type, claim.resource_id, exc, state=state, attempt=claim.attempts
        )
        self._look_again(claim, seconds)

    def busy_elsewhere(self, claim: Claim) -> None:
        """Another worker still translates this resource (its lease lapsed; it did not die):
        look again in a second, without spending an attempt (sync/resource_locks.py)."""
        self._look_again(claim, 1.0)

    def _look_again(self, claim: Claim, seconds: float) -> None:
        until = self.clock() + timedelta(seconds=seconds)
        with self.db.write() as session:
            outbox.postpone(session, claim, owner=self.owner, until=until, count_attempt=False)

    def retry_or_bury(self, claim: Claim, exc: Exception) -> None:
        """Retry after a jittered backoff; dead-letter after the last attempt."""
        attempt = claim.attempts + 1
        if attempt >= self.config.max_attempts:
            self.dead_letter(claim, exc, attempts=attempt)
            return
        delay = outbox.backoff(
            attempt, base=self.config.backoff_base, cap=self.config.backoff_cap, rng=self.rng
        )
        self.translator.record_failure(
            claim.resource_type, claim.resource_id, exc, state=RETRYING, attempt=attempt
        )
        log.warning(
            "%s %s: attempt %d failed (%s); retrying in %.0f s",
            claim.resource_type,
            claim.resource_id,
            attempt,
            words_for_the_log(exc),
            delay,
        )
        with self.db.write() as session:
            outbox.postpone(
                session,
                claim,
                owner=self.owner,
                until=self.clock() + timedelta(seconds=delay),
                count_attempt=True,
            )

    def dead_letter(self, claim: Claim, exc: Exception, *, attempts: int | None = None) -> None:
        """Move a change to the dead-letter list (the ``dead_letters`` alert rule announces it),
        unless a newer change of the same resource was committed meanwhile: that one goes next."""
        attempts = claim.attempts + 1 if attempts is None else attempts
        words = explain(exc)  # the reason in plain words; DingTalk's own text as the detail
        with self.db.write() as session:
            if not outbox.remove(session, claim):
                # The resource changed again while this change failed (a department it named
                # was removed by a later change, say): what failed is no longer what is
                # wanted. The newer change goes next, where it may well succeed.
                outbox.release(session, claim, owner=self.owner)
                superseded = True
            else:
                superseded = False
                self._bury(session, claim, words, attempts)
        if superseded:
            log.info(
                "%s %s: a change failed (%s), but a newer one is queued; projecting that",
                claim.resource_type,
                claim.resource_id,
                words_for_the_log(exc),
            )
            return
        self.translator.record_failure(
            claim.resource_type, claim.resource_id, exc, state=FAILED, attempt=attempts
        )
        log.error(
            "dead letter: %s %s: %s", claim.resource_type, claim.resource_id, words_for_the_log(exc)
        )

    def _bury(self, session: Session, claim: Claim, words: FailureWords, attempts: int) -> None:
        """Add or refresh the dead letter of a change."""
        letter = session.scalar(
            select(DeadLetter).where(
                DeadLetter.resource_type == claim.resource_type,
                DeadLetter.resource_id == claim.resource_id,
            )
        )
        if letter is None:
            letter = DeadLetter(
                resource_type=claim.resource_type,
                resource_id=claim.resource_id,
                created_at=self.clock(),
            )
            session.add(letter)
        letter.reason, letter.code, letter.detail = words.text, words.code, words.detail
        letter.attempts = attempts
        letter.created_at = self.clock()
