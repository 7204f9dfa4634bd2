"""The explanation's JSON form: plain data whatever the mapping handed over."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import MappingProxyType

from scim_bridge.mapping.compare import FieldDiff
from scim_bridge.monitor.explain_model import (
    DingTalkSection,
    Explanation,
    GuardSection,
    MappingSection,
    StoreSection,
)
from scim_bridge.monitor.verdict import LiveStatus, Verdict, VerdictKind


def test_to_dict_is_json_with_times_enums_and_read_only_maps_made_plain() -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    fields = MappingProxyType({"name": "Ann", "extension": MappingProxyType({"Team": "Blue"})})
    explanation = Explanation(
        asked="ann",
        matched_by="DingTalk userid",
        store=StoreSection(present=True, scim_id="u1", created=at),
        mapping=MappingSection(action="upsert", in_scope=True, fields=fields),
        dingtalk=DingTalkSection(
            userid="ann",
            should={"title": "Rep"},
            unknown=(),
            live=LiveStatus.READ,
            holds={"title": "CEO"},
            compared_with="DingTalk",
            differences=(FieldDiff("title", "Rep", "CEO"),),
        ),
        link=None,
        pending=None,
        dead_letter=None,
        guard=GuardSection(paused=False),
        verdict=Verdict(VerdictKind.DRIFT, "drift: DingTalk differs in title"),
        at=at,
    )
    data = json.loads(json.dumps(explanation.to_dict()))
    assert data["mapping"]["fields"] == {"name": "Ann", "extension": {"Team": "Blue"}}
    assert data["store"]["created"] == "2026-03-02T09:00:00+00:00"
    assert data["dingtalk"]["live"] == "read"
    assert data["dingtalk"]["differences"] == [{"field": "title", "should": "Rep", "holds": "CEO"}]
    assert data["verdict"] == {"kind": "drift", "sentence": "drift: DingTalk differs in title"}
