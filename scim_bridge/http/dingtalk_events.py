"""POST /dingtalk/events: DingTalk's contact-change HTTP push (dingtalk-api.md §9, issue 10).

DingTalk signs the query (``msg_signature``, ``timeStamp``, ``nonce``) and sends ``{"encrypt":
…}``; we verify, decrypt, store the event in the inbox and answer ``"success"`` sealed with
our own signature. DingTalk wants that answer within 1.5 s, so nothing here calls DingTalk: the
worker's event job reads the records and repairs drift (design.md: a web request never calls
DingTalk). A bad signature, a ciphertext not for us, a stale timestamp or a replay answers
403 and stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Request, Response, json, request

from scim_bridge.dingtalk.callback_crypto import SUCCESS, CallbackCipher, new_nonce
from scim_bridge.dingtalk.callback_events import ContactEvent, check_fresh, parse_event
from scim_bridge.directory.dingtalk_inbox import store_event
from scim_bridge.errors import (
    CallbackSignatureInvalid,
    CallbackUndecryptable,
    ConfigError,
    InvalidSyntax,
)
from scim_bridge.http.runtime import Runtime
from scim_bridge.settings import Settings

EVENTS_PATH = "/dingtalk/events"


@dataclass(frozen=True)
class Delivery:
    """The signed parts of one push: the query's signature, timestamp and nonce, and the body."""

    msg_signature: str
    timestamp: str
    nonce: str
    encrypt: str


def _first(req: Request, *names: str) -> str:
    for name in names:
        value = req.args.get(name)
        if value:
            return value
    return ""


def read_delivery(req: Request) -> Delivery:
    """Take the signed parts from the request; refuse an unsigned or unreadable one."""
    # DingTalk's reference receivers accept both spellings of the query names.
    msg_signature = _first(req, "msg_signature", "signature")
    timestamp = _first(req, "timeStamp", "timestamp")
    nonce = _first(req, "nonce")
    if not (msg_signature and timestamp and nonce):
        raise CallbackSignatureInvalid(
            "the callback lacks msg_signature, timeStamp or nonce in its query"
        )
    body = req.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InvalidSyntax('the callback body must be a JSON object {"encrypt": "..."}')
    encrypt = body.get("encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise CallbackUndecryptable('the callback body has no "encrypt" text')
    return Delivery(msg_signature, timestamp, nonce, encrypt)


def callback_cipher(settings: Settings) -> CallbackCipher | None:
    """Build the cipher of our app's callbacks from the settings; None when not configured.

    ConfigError (one line, naming the setting) when only one secret is set or the AES key is
    not DingTalk's 43-character form."""
    token, key = settings.dingtalk_callback_token, settings.dingtalk_callback_aes_key
    if not token and not key:
        return None
    if not token or not key:
        missing = "AES_KEY" if token else "TOKEN"
        raise ConfigError(
            f"DingTalk event callbacks are half configured: set SCIM_BRIDGE_DINGTALK_CALLBACK_"
            f"{missing} as well (both come from the app's event subscription page)"
        )
    return CallbackCipher(
        token=settings.dingtalk_callback_token,
        aes_key=settings.dingtalk_callback_aes_key,
        receiver_id=settings.dingtalk_callback_receiver_id or settings.dingtalk_app_key,
    )


def make_dingtalk_events_blueprint(runtime: Runtime, cipher: CallbackCipher) -> Blueprint:
    """Build the endpoint DingTalk pushes contact-change events to."""
    bp = Blueprint("dingtalk_events", __name__)
    max_age = runtime.settings.dingtalk_callback_max_age

    @bp.post(EVENTS_PATH)
    def receive() -> Response:
        delivery = read_delivery(request)
        now = runtime.clock()
        # Freshness first: a replayed push is refused before any decryption work.
        check_fresh(delivery.timestamp, now=now.timestamp(), max_age=max_age)
        message = cipher.open(
            delivery.msg_signature, delivery.timestamp, delivery.nonce, delivery.encrypt
        )
        event: ContactEvent = parse_event(message)
        if not event.is_handshake:  # check_url only asks us to prove we hold the keys
            with runtime.db.write() as session:
                store_event(
                    session,
                    event_type=event.event_type,
                    event_id=event.event_id,
                    user_ids=event.user_ids,
                    dept_ids=event.dept_ids,
                    nonce=delivery.nonce,
                    signed_at=delivery.timestamp,
                    now=now,
                )
        stamp = str(int(now.timestamp() * 1000))
        reply = cipher.seal(SUCCESS, timestamp=stamp, nonce=new_nonce())
        return Response(json.dumps(reply), mimetype="application/json")

    return bp
