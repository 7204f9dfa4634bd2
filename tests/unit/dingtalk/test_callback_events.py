"""Parsing DingTalk's flattened HTTP-push events and refusing stale ones (literal data)."""

from __future__ import annotations

import json

import pytest

from scim_bridge.dingtalk.callback_events import ContactEvent, check_fresh, parse_event
from scim_bridge.errors import CallbackReplayed, CallbackUndecryptable


def test_user_event_carries_its_userids() -> None:
    event = parse_event(
        '{"EventType":"user_modify_org","TimeStamp":"1796605200000","CorpId":"ding1",'
        '"UserId":["alice","bob"],"eventId":"e1"}'
    )
    assert event == ContactEvent("user_modify_org", "e1", ("alice", "bob"), ())
    assert not event.is_handshake


def test_department_event_ids_become_numbers() -> None:
    event = parse_event('{"EventType":"org_dept_remove","DeptId":[500000001,"500000002"]}')
    assert event.dept_ids == (500000001, 500000002)
    assert event.event_id is None


def test_stream_style_camel_case_names_are_read_too() -> None:
    event = parse_event('{"eventType":"user_add_org","userId":["carol"]}')
    assert (event.event_type, event.user_ids) == ("user_add_org", ("carol",))


def test_check_url_is_the_handshake() -> None:
    assert parse_event('{"EventType":"check_url"}').is_handshake


def test_as_json_is_the_flattened_push_shape() -> None:
    event = ContactEvent("org_dept_create", "e2", (), (7,))
    assert event.as_json() == {"EventType": "org_dept_create", "eventId": "e2", "DeptId": [7]}
    assert parse_event(json.dumps(event.as_json())) == event


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        "{}",
        '{"EventType": 3}',
        '{"EventType":"user_add_org","UserId":[{"x":1}]}',
        '{"EventType":"org_dept_create","DeptId":["abc"]}',
        '{"EventType":"user_add_org","UserId":[true]}',
    ],
)
def test_malformed_events_are_refused(text: str) -> None:
    with pytest.raises(CallbackUndecryptable):
        parse_event(text)


def test_fresh_timestamp_in_milliseconds_or_seconds_is_accepted() -> None:
    assert check_fresh("1796605200000", now=1796605260.0, max_age=300) == 1796605200.0
    assert check_fresh("1796605200", now=1796605100.0, max_age=300) == 1796605200.0


@pytest.mark.parametrize("stamp", ["1796604000000", "1796606000000", "soon", ""])
def test_stale_future_or_garbled_timestamp_is_refused(stamp: str) -> None:
    with pytest.raises(CallbackReplayed):
        check_fresh(stamp, now=1796605200.0, max_age=300)
