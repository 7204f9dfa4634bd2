"""Find the one person an operator means by a SCIM id, a userName or a DingTalk userid.

``scim-bridge explain USER`` (and the console's search) take whatever the operator has at
hand. A SCIM user deleted in the IdP is still found through its link, so "why is this
person gone?" has an answer too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Link, User
from scim_bridge.errors import AmbiguousPerson, UnknownPerson


@dataclass(frozen=True)
class Candidate:
    """One user a name may mean, and how it matched."""

    scim_id: str
    user_name: str | None
    idp: str | None
    matched_by: str

    def describe(self) -> str:
        """Return the candidate as one readable phrase."""
        name = self.user_name or "(deleted in the IdP)"
        idp = self.idp or "unknown IdP"
        return f"{name} [SCIM id {self.scim_id}, IdP {idp}, by {self.matched_by}]"


def candidates(session: Session, who: str) -> list[Candidate]:
    """Return every user ``who`` may name: by SCIM id, by userName, by DingTalk userid."""
    found: dict[str, Candidate] = {}

    def add(scim_id: str, how: str) -> None:
        if scim_id in found:
            return
        row = session.get(User, scim_id)
        found[scim_id] = Candidate(
            scim_id,
            row.user_name if row is not None else None,
            row.idp if row is not None else None,
            how,
        )

    if session.get(User, who) is not None:
        add(who, "SCIM id")
    # RFC 7643 §4.1.1: userName is caseExact false, hence the lowered key; unique per IdP
    # only (issue 9), so two IdPs may each have one.
    for by_name in session.scalars(
        select(User.id).where(User.user_name_key == who.lower()).order_by(User.id)
    ):
        add(by_name, "userName")
    for key in session.scalars(
        select(Link.key).where(Link.kind == "user", Link.dingtalk_id == who).order_by(Link.id)
    ):
        add(key, "DingTalk userid")
    if not found and session.scalar(select(Link.key).where(Link.kind == "user", Link.key == who)):
        add(who, "SCIM id")  # deleted in the IdP; its link remembers it
    return list(found.values())


def resolve_person(
    session: Session, who: str, *, remembered: Callable[[str], bool] | None = None
) -> Candidate:
    """Return the one user ``who`` names; raise UnknownPerson or AmbiguousPerson otherwise.

    ``remembered(who)`` says whether a SCIM id the store and links no longer know is still
    known elsewhere (the audit trail of an erased person)."""
    who = who.strip()
    found = candidates(session, who) if who else []
    if not found and who and remembered is not None and remembered(who):
        found = [Candidate(who, None, None, "SCIM id (no longer in the store)")]
    if not found:
        raise UnknownPerson(
            f"no user is known as {who!r}: give a SCIM id, a userName or a DingTalk userid "
            "(`scim-bridge dlq list` and the SCIM API list who is there)"
        )
    if len(found) > 1:
        listed = "; ".join(c.describe() for c in found)
        raise AmbiguousPerson(
            f"{who!r} names {len(found)} users: {listed}; give the SCIM id of the one you mean"
        )
    return found[0]
