"""Helpers of the event tests: the callback secrets and a push sealed as DingTalk seals it."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from werkzeug.serving import BaseWSGIServer

from scim_bridge.dingtalk.callback_crypto import CallbackCipher, new_nonce
from scim_bridge.dingtalk.emulator import EmulatorConfig

TOKEN = "callback-token-for-tests"
AES_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # the key bytes 00 01 … 1f
APP_KEY = EmulatorConfig().app_key  # an internal app's pushes are sealed for its app key


@dataclass
class Bridge:
    """The bridge's Flask app served over HTTP; ``url`` is its callback endpoint."""

    url: str
    server: BaseWSGIServer


CIPHER = CallbackCipher(token=TOKEN, aes_key=AES_KEY, receiver_id=APP_KEY)


def push(
    url: str,
    message: str,
    *,
    timestamp: str,
    nonce: str | None = None,
    cipher: CallbackCipher = CIPHER,
    signature: str | None = None,
) -> requests.Response:
    """POST one sealed push to the bridge, as DingTalk does."""
    sealed = cipher.seal(message, timestamp=timestamp, nonce=nonce or new_nonce())
    query = {
        "msg_signature": signature or sealed["msg_signature"],
        "timeStamp": sealed["timeStamp"],
        "nonce": sealed["nonce"],
    }
    return requests.post(url, params=query, json={"encrypt": sealed["encrypt"]}, timeout=30)
