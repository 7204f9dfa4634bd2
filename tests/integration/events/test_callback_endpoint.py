"""POST /dingtalk/events over real HTTP: the check_url handshake, refusals, replays, storage."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from events_harness import AES_KEY, APP_KEY, CIPHER, TOKEN, Bridge, push
from sqlalchemy import select

from scim_bridge.app import create_app
from scim_bridge.dingtalk.callback_crypto import CallbackCipher, new_aes_key, signature
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DingTalkEvent
from scim_bridge.errors import ConfigError
from scim_bridge.http.dingtalk_events import EVENTS_PATH, callback_cipher
from scim_bridge.settings import Settings


def now_ms() -> str:
    return str(int(time.time() * 1000))


def stored(database: Database) -> list[DingTalkEvent]:
    with database.read() as session:
        return list(session.scalars(select(DingTalkEvent).order_by(DingTalkEvent.id)))


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"EventType": kind, "CorpId": "dingemulatorcorp", **fields})


def test_check_url_handshake_answers_sealed_success_and_stores_nothing(
    bridge: Bridge, database: Database
) -> None:
    answer = push(bridge.url, event("check_url"), timestamp=now_ms())
    assert answer.status_code == 200
    reply = answer.json()
    # The reply carries its own signature over its own timestamp and nonce, and says "success".
    assert reply["msg_signature"] == signature(
        TOKEN, reply["timeStamp"], reply["nonce"], reply["encrypt"]
    )
    opened = CIPHER.open(
        reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"]
    )
    assert opened == "success"
    assert stored(database) == []


def test_contact_event_is_stored_with_its_ids(bridge: Bridge, database: Database) -> None:
    answer = push(bridge.url, event("user_modify_org", UserId=["alice", "bob"]), timestamp=now_ms())
    assert answer.status_code == 200
    push(bridge.url, event("org_dept_modify", DeptId=[500000001]), timestamp=now_ms())
    rows = stored(database)
    assert [(r.event_type, r.user_ids, r.dept_ids) for r in rows] == [
        ("user_modify_org", ["alice", "bob"], []),
        ("org_dept_modify", [], [500000001]),
    ]
    assert all(r.processed_at is None for r in rows)


def test_bad_signature_is_refused_with_403_and_nothing_stored(
    bridge: Bridge, database: Database
) -> None:
    answer = push(
        bridge.url,
        event("user_add_org", UserId=["mallory"]),
        timestamp=now_ms(),
        signature="0" * 40,
    )
    assert answer.status_code == 403
    assert "msg_signature" in answer.json()["detail"]
    assert stored(database) == []


def test_wrong_token_is_refused(bridge: Bridge, database: Database) -> None:
    forger = CallbackCipher(token="guessed", aes_key=AES_KEY, receiver_id=APP_KEY)
    answer = push(
        bridge.url, event("user_add_org", UserId=["x"]), timestamp=now_ms(), cipher=forger
    )
    assert answer.status_code == 403
    assert stored(database) == []


def test_wrong_aes_key_is_refused(bridge: Bridge, database: Database) -> None:
    # Signed with the right token (leaked, say) but sealed under another key: still refused.
    forger = CallbackCipher(token=TOKEN, aes_key=new_aes_key(), receiver_id=APP_KEY)
    answer = push(
        bridge.url, event("user_add_org", UserId=["x"]), timestamp=now_ms(), cipher=forger
    )
    assert answer.status_code == 403
    assert stored(database) == []


def test_push_for_another_app_is_refused(bridge: Bridge, database: Database) -> None:
    other = CallbackCipher(token=TOKEN, aes_key=AES_KEY, receiver_id="another-app")
    answer = push(bridge.url, event("user_add_org", UserId=["x"]), timestamp=now_ms(), cipher=other)
    assert answer.status_code == 403
    assert "another corp or app" in answer.json()["detail"]
    assert stored(database) == []


def test_replayed_push_is_refused(bridge: Bridge, database: Database) -> None:
    stamp = now_ms()
    message = event("user_modify_org", UserId=["alice"])
    assert push(bridge.url, message, timestamp=stamp, nonce="n0nce").status_code == 200
    again = push(bridge.url, message, timestamp=stamp, nonce="n0nce")
    assert again.status_code == 403
    assert "already received" in again.json()["detail"]
    assert len(stored(database)) == 1


def test_stale_timestamp_is_refused(bridge: Bridge, database: Database) -> None:
    ten_minutes_ago = str(int((time.time() - 600) * 1000))
    answer = push(bridge.url, event("user_add_org", UserId=["x"]), timestamp=ten_minutes_ago)
    assert answer.status_code == 403
    assert "timestamp" in answer.json()["detail"]
    assert stored(database) == []


def test_dingtalk_retry_of_a_stored_push_is_answered_and_stored_once(
    bridge: Bridge, database: Database
) -> None:
    message = event("user_leave_org", UserId=["carol"], eventId="ev-123")
    assert push(bridge.url, message, timestamp=now_ms()).status_code == 200
    assert push(bridge.url, message, timestamp=now_ms()).status_code == 200  # new nonce
    assert [r.event_id for r in stored(database)] == ["ev-123"]


@pytest.mark.parametrize(
    ("query", "body", "status"),
    [
        ({}, {"encrypt": "abc"}, 403),  # unsigned
        ({"msg_signature": "x", "timeStamp": "1", "nonce": "n"}, None, 400),  # no JSON body
        ({"msg_signature": "x", "timeStamp": "1", "nonce": "n"}, {"other": 1}, 403),
    ],
)
def test_malformed_push_gets_a_json_error_not_a_500(
    app: Any, database: Database, query: dict[str, str], body: Any, status: int
) -> None:
    client = app.test_client()
    answer = client.post(EVENTS_PATH, query_string=query, data=json.dumps(body) if body else "x")
    assert answer.status_code == status
    assert answer.json["detail"]
    assert stored(database) == []


def test_undecryptable_payload_that_is_not_an_event_is_refused(
    bridge: Bridge, database: Database
) -> None:
    answer = push(bridge.url, "[1, 2, 3]", timestamp=now_ms())
    assert answer.status_code == 403
    assert stored(database) == []


def test_no_endpoint_when_callbacks_are_not_configured(db_url: str, database: Database) -> None:
    app = create_app(Settings(database_url=db_url), db=database)
    answer = app.test_client().post(EVENTS_PATH, json={"encrypt": "x"})
    assert answer.status_code == 404


def test_half_configured_callbacks_are_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_DINGTALK_CALLBACK_AES_KEY"):
        callback_cipher(Settings(dingtalk_callback_token=TOKEN))
    with pytest.raises(ConfigError, match="dingtalk_callback_aes_key"):
        callback_cipher(Settings(dingtalk_callback_token=TOKEN, dingtalk_callback_aes_key="short"))


def test_callback_secrets_are_masked_in_config_show() -> None:
    shown = Settings(dingtalk_callback_token=TOKEN, dingtalk_callback_aes_key=AES_KEY).masked()
    assert TOKEN not in json.dumps(shown)
    assert AES_KEY not in json.dumps(shown)


def test_check_url_is_answered_without_touching_the_database() -> None:
    """DingTalk wants the handshake answered within 1.5 s: it waits on nothing, not even the
    database (here one nothing listens for)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = Settings(
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed}/none",
        dingtalk_app_key=APP_KEY,
        dingtalk_callback_token=TOKEN,
        dingtalk_callback_aes_key=AES_KEY,
        metrics_enabled=False,
    )
    client = create_app(settings).test_client()
    sealed = CIPHER.seal(event("check_url"), timestamp=now_ms(), nonce="n1")
    query = {k: sealed[k] for k in ("msg_signature", "timeStamp", "nonce")}
    answer = client.post(EVENTS_PATH, query_string=query, json={"encrypt": sealed["encrypt"]})
    assert answer.status_code == 200
    reply = answer.json
    assert (
        CIPHER.open(reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"])
        == "success"
    )
