"""The API's access log line, written by gunicorn's logger without its general machinery.

gunicorn builds every access line from a dictionary of all its atoms: each request and response
header, every WSGI environ key lower-cased, a freshly formatted date. With a SCIM client busy
that was 6.7% of the API processes' CPU (py-spy, bench/scim_load.py, issue 14), for a line of
eight fields. ``AccessLogger`` writes the same line as ``ACCESS_LOG_FORMAT`` directly, and
falls back to gunicorn's own way when a deployment sets a format of its own.
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn import glogging

from scim_bridge.cli.webserver import ACCESS_LOG_FORMAT


class AccessLogger(glogging.Logger):
    """gunicorn's logger, with ``ACCESS_LOG_FORMAT`` lines written directly."""

    _stamp_second: tuple[int, ...] = ()
    _stamp = ""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        # A deployment's own format, or a gunicorn before 27 (no access_log_enabled): theirs.
        enabled = getattr(self, "access_log_enabled", None)
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT or enabled is None:
            super().access(resp, req, environ, request_time)
            return
        if not enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        millis = request_time.seconds * 1000 + request_time.microseconds // 1000
        # gunicorn upper-cases header names; %({x-request-id}i)s is the client's header.
        rid = next((value for name, value in req.headers if name == "X-REQUEST-ID"), "-")
        line = (
            f"{environ.get('REMOTE_ADDR', '-')} {self._now()} "
            f'"{environ.get("REQUEST_METHOD")} {environ.get("PATH_INFO")} '
            f'{environ.get("SERVER_PROTOCOL")}" {status} {"-" if sent is None else sent} '
            f"{millis}ms rid={rid}"
        )
        try:
            # No arguments: logging leaves a '%' in the path alone.
            self.access_log.info(line)
        except Exception:  # gunicorn's own access() reports a failed write the same way
            self.exception("could not write the access log line")

    def _now(self) -> str:
        """The Common Log Format time, as gunicorn writes it, formatted once a second."""
        # time.localtime() reads the clock gunicorn's own stamp reads (C's time(), a coarse
        # clock on Linux): time.time() runs a few milliseconds ahead of it, so a line written
        # just after a second began was stamped a second later than gunicorn's would be.
        now = time.localtime()
        second = now[:6]
        if second != self._stamp_second:
            self._stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", now)
            self._stamp_second = second
        return self._stamp
