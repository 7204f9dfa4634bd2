"""Serve an Emulator over HTTP: on a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import re
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from scim_bridge.dingtalk.emulator.app import Emulator
from scim_bridge.dingtalk.emulator.config import EmulatorConfig


class _QuietHandler(WSGIRequestHandler):
    """Log only errors; a test run makes thousands of calls."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Drop the per-request access log lines, keep errors."""
        if type == "error":
            super().log(type, message, *args)


#: DingTalk's API carries the access token in the query string (dingtalk-api.md): its value.
_TOKEN_VALUE = re.compile(r"((?:access_token|appsecret)=)[^&\s\"']+")


class _AccessLogHandler(WSGIRequestHandler):
    """The CLI emulator's access log, every line without the token's value: a token, even the
    emulator's, never goes to a log."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Write the line with any access token or app secret replaced by ``***``."""
        line = message % args if args else message
        super().log(type, "%s", _TOKEN_VALUE.sub(r"\1***", line))


class RunningEmulator:
    """An emulator listening on a background thread; a context manager that stops it on exit."""

    def __init__(self, emulator: Emulator, server: BaseWSGIServer, thread: threading.Thread):
        self.emulator = emulator
        self._server = server
        self._thread = thread
        host = server.host if ":" not in server.host else f"[{server.host}]"
        self.url = f"http://{host}:{server.port}"

    def stop(self) -> None:
        """Stop listening, wake stalled calls and close the socket; safe to call twice."""
        self.emulator.stop_stalls()
        self.emulator.callbacks.close()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Start a threaded emulator (port 0 = an ephemeral one); return once it is listening."""
    emulator = Emulator(config)
    server = make_server(host, port, emulator, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"dingtalk-emulator-{server.port}",
        daemon=True,
    )
    thread.start()
    return RunningEmulator(emulator, server, thread)


def serve_emulator(config: EmulatorConfig, *, host: str, port: int) -> None:
    """Serve the emulator in the foreground until interrupted (``scim-bridge emulator``)."""
    emulator = Emulator(config)
    server = make_server(host, port, emulator, threaded=True, request_handler=_AccessLogHandler)
    server.log_startup()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop_stalls()
        emulator.callbacks.close()
        server.server_close()
