"""The emulator's contact-change pushes: sealed and signed like DingTalk's HTTP push (§9).

Every successful user or department write — through the API or the admin console
(``admin.py``) — raises an event, and DingTalk pushes it to the app's callback URL. So does
the emulator: events go onto a queue and one sender thread POSTs them, off the request
thread, with the query ``msg_signature``, ``timeStamp``, ``nonce`` and the body
``{"encrypt": …}`` (``callback_crypto.py``). A push counts as delivered when the answer is
``"success"`` sealed under the same keys; otherwise it is retried after the configured delays
(DingTalk: 10 s, then 30 s), then given up. Tests call ``flush()`` to wait for the queue.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from scim_bridge.dingtalk.callback_crypto import SUCCESS, CallbackCipher, new_nonce
from scim_bridge.dingtalk.callback_events import ContactEvent
from scim_bridge.dingtalk.emulator.config import EmulatorConfig
from scim_bridge.errors import CallbackRejected

log = logging.getLogger("scim_bridge.dingtalk.emulator")
MAX_DELIVERIES_KEPT = 10_000

#: Which write raises which event (dingtalk-api.md §9), and where its id is found.
WRITE_EVENTS: dict[str, tuple[str, str]] = {
    "/topapi/v2/user/create": ("user_add_org", "userid"),
    "/topapi/v2/user/update": ("user_modify_org", "userid"),
    "/topapi/v2/user/delete": ("user_leave_org", "userid"),
    "/topapi/v2/department/create": ("org_dept_create", "dept_id"),
    "/topapi/v2/department/update": ("org_dept_modify", "dept_id"),
    "/topapi/v2/department/delete": ("org_dept_remove", "dept_id"),
}


@dataclass(frozen=True)
class Delivery:
    """What became of one push: delivered, or given up after ``attempts``, and why."""

    event: dict[str, Any]
    delivered: bool
    attempts: int
    detail: str


def event_for(event_type: str, *, user_ids: Any = (), dept_ids: Any = ()) -> ContactEvent:
    """Build the event a change raises, with a fresh eventId (DingTalk deduplicates by it)."""
    return ContactEvent(
        event_type=event_type,
        event_id=uuid.uuid4().hex,
        user_ids=tuple(str(u) for u in user_ids),
        dept_ids=tuple(int(d) for d in dept_ids),
    )


class CallbackSender:
    """A queue and one daemon thread that push events to the configured callback URL."""

    def __init__(self, config_of: Callable[[], EmulatorConfig]) -> None:
        self._config_of = config_of
        self._queue: queue.Queue[ContactEvent | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = threading.Event()
        self._deliveries: deque[Delivery] = deque(maxlen=MAX_DELIVERIES_KEPT)
        self._session = requests.Session()

    def emit(self, event: ContactEvent) -> None:
        """Queue an event for pushing, if a callback URL is configured (never blocks)."""
        if not self._config_of().callback_url or self._closed.is_set():
            return
        self._ensure_thread()
        self._queue.put(event)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event was delivered or given up; False on timeout."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(
                lambda: self._queue.unfinished_tasks == 0, timeout
            )

    def deliveries(self) -> list[Delivery]:
        """Return what became of the pushes so far, oldest first."""
        return list(self._deliveries)

    def close(self) -> None:
        """Stop the thread (pending pushes are dropped, as a stopped DingTalk drops them)."""
        self._closed.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
        self._session.close()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="emulator-callbacks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._deliveries.append(self._deliver(event))
            except Exception:  # a bug here must not stop later pushes
                log.exception("pushing %s failed", event)
            finally:
                self._queue.task_done()

    def _deliver(self, event: ContactEvent) -> Delivery:
        config = self._config_of()
        body = event.as_json() | {"CorpId": config.corp_id}
        delays = (0.0, *config.callback_retry_delays)
        detail = ""
        for attempt, delay in enumerate(delays, start=1):
            if delay and self._closed.wait(delay):
                break
            ok, detail = self._push(config, body)
            if ok:
                return Delivery(body, True, attempt, detail)
            log.info("push of %s failed (%s); attempt %d", body["EventType"], detail, attempt)
        return Delivery(body, False, len(delays), detail)

    def _push(self, config: EmulatorConfig, body: dict[str, Any]) -> tuple[bool, str]:
        cipher = CallbackCipher(
            token=config.callback_token,
            aes_key=config.callback_aes_key,
            receiver_id=config.callback_receiver_id or config.app_key,
        )
        stamp = str(int(config.clock() * 1000))
        body = body | {"TimeStamp": stamp}
        sealed = cipher.seal(
            json.dumps(body, ensure_ascii=False), timestamp=stamp, nonce=new_nonce()
        )
        query = {k: sealed[k] for k in ("msg_signature", "timeStamp", "nonce")}
        try:
            answer = self._session.post(
                config.callback_url,
                params=query,
                json={"encrypt": sealed["encrypt"]},
                timeout=config.callback_timeout,
            )
        except requests.RequestException as exc:
            return False, f"no answer: {type(exc).__name__}"
        if answer.status_code != 200:
            return False, f"HTTP {answer.status_code}"
        return _check_reply(cipher, answer)


def _check_reply(cipher: CallbackCipher, answer: requests.Response) -> tuple[bool, str]:
    """DingTalk counts a push delivered only when the reply is "success", sealed and signed."""
    try:
        reply = answer.json()
        text = cipher.open(
            str(reply["msg_signature"]),
            str(reply["timeStamp"]),
            str(reply["nonce"]),
            str(reply["encrypt"]),
        )
    except (ValueError, KeyError, TypeError, CallbackRejected) as exc:
        return False, f"reply not sealed: {exc}"
    return (text == SUCCESS), f"reply {text!r}"
