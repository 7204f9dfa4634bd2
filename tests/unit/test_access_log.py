"""The API's access line: written directly, it says exactly what gunicorn's own formatter would
say with ACCESS_LOG_FORMAT, and a deployment's own format still goes through gunicorn."""

from __future__ import annotations

import datetime
import logging
import time
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from scim_bridge.cli.access_log import AccessLogger
from scim_bridge.cli.webserver import ACCESS_LOG_FORMAT


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def access_line(logger_class: type[glogging.Logger], log_format: str, **request: object) -> str:
    """Log one request through gunicorn's configured logger and return the line it wrote."""
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", log_format)
    logger = logger_class(cfg)
    lines = Lines()
    logger.access_log.handlers = [lines]
    environ = {
        "REMOTE_ADDR": "10.0.0.7",
        "REQUEST_METHOD": request.get("method", "PATCH"),
        "PATH_INFO": request.get("path", "/scim/v2/Users/a%20b"),
        "QUERY_STRING": "filter=userName%20eq%20%22jane%40example.com%22",
        "RAW_URI": "/scim/v2/Users?filter=userName%20eq%20%22jane%40example.com%22",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    headers = request.get("headers", [("X-REQUEST-ID", "req-42"), ("USER-AGENT", "Okta SCIM")])
    req = SimpleNamespace(headers=headers)
    resp = SimpleNamespace(
        status=request.get("status", "200 OK"), sent=request.get("sent", 812), headers=[]
    )
    took = datetime.timedelta(seconds=1, microseconds=234_567)
    logger.access(resp, req, environ, took)
    assert len(lines.lines) == 1
    return lines.lines[0]


def lines_in_one_second(request_: dict[str, object]) -> tuple[str, str]:
    """Our line and gunicorn's for the same request, both stamped in the same second: each
    logger reads the clock itself, and a second that ends between the two calls is a
    different time, not a different line (it failed CI once that way). The second is read
    from the loggers' own clock (``time.localtime()``, C's ``time()``): ``time.time()`` runs a
    few milliseconds ahead of it, and saw no second end where the loggers did."""
    for _ in range(3):
        second = time.localtime()[:6]
        ours = access_line(AccessLogger, ACCESS_LOG_FORMAT, **request_)
        theirs = access_line(glogging.Logger, ACCESS_LOG_FORMAT, **request_)
        if time.localtime()[:6] == second:
            return ours, theirs
    raise AssertionError("a second ended during each of three tries")


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"headers": [("USER-AGENT", "Entra")]},  # no request id: "-"
        {"status": "204 No Content", "sent": 0},
        {"sent": None},  # nothing sent: "-"
        {"method": "GET", "path": "/scim/v2/Users/100%"},  # a '%' in the path is no format
    ],
)
def test_the_direct_line_is_gunicorns_line(request_: dict[str, object]) -> None:
    ours, theirs = lines_in_one_second(request_)
    assert ours == theirs
    assert "filter" not in ours and "jane" not in ours  # never the query string


def test_a_deployments_own_format_goes_through_gunicorn() -> None:
    line = access_line(AccessLogger, '%(m)s %(U)s?%(q)s "%({user-agent}i)s"')
    assert (
        line
        == 'PATCH /scim/v2/Users/a%20b?filter=userName%20eq%20%22jane%40example.com%22 "Okta SCIM"'
    )
