"""gunicorn as `serve` and `quickstart` run it: its options, the access log, the port check.

The access log never records a query string: SCIM filters carry personal data
(``?filter=userName eq "jane@example.com"``), so each line holds the method, the path without
its query, the protocol, the status, the size, the duration and the proxy's request id.
"""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings

#: gunicorn's access-log atoms (docs.gunicorn.org, "access_log_format"): %(U)s is the path
#: without the query string; %(r)s (request line) and %(q)s (query) are left out on purpose.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}i)s'


def gunicorn_options(
    settings: Settings, *, host: str, port: int, workers: int, threads: int
) -> dict[str, Any]:
    """Return the gunicorn settings of an API process."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": "scim_bridge.cli.access_log.AccessLogger",  # the same line, cheaper
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 30,
        # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
        # connections over them by address hash. On one shared socket the worker already on a
        # CPU accepts a burst of connections alone: IdPs keep theirs alive, and 16 of them on
        # one worker held the API to one core (measured: 1,190 reads/s instead of 2,100).
        # Linux lets only processes of the same user join the port (socket(7)).
        "reuse_port": True,
        # gunicorn >= 25.1 opens a control socket under ~/.gunicorn by default; nothing here
        # uses it, and a socket in the home directory outlives the process.
        "control_socket_disable": True,
    }


def run_gunicorn(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    embed_worker: bool = True,
    metrics_dir: Path | None = None,
    sandbox_url: str | None = None,
) -> None:
    """Serve the API with gunicorn (never Flask's development server) until stopped.

    ``metrics_dir``: the multiprocess directory of bootstrap.metrics_directory, or None.
    ``sandbox_url``: the built-in emulator the console's sandbox view reads, or None."""
    from gunicorn.app.base import BaseApplication

    from scim_bridge.app import create_app
    from scim_bridge.cli.translator_child import TranslatorChild, arbiter_fds
    from scim_bridge.dingtalk.emulator.read_api import EmulatorStateReader
    from scim_bridge.monitor.api_load import SharedInFlight

    options = gunicorn_options(settings, host=host, port=port, workers=workers, threads=threads)
    # Issue 14: the translator runs in a process of its own, at a lower priority, and naps
    # while any API process answers a request (cli/translator_child.py).
    in_flight = SharedInFlight()
    arbiter: list[Any] = []
    translator = TranslatorChild(
        settings,
        in_flight=in_flight,
        metrics_dir=metrics_dir,
        inherited=lambda: arbiter_fds(arbiter[0]) if arbiter else [],
    )

    def when_ready(server: Any) -> None:
        arbiter.append(server)
        translator.start()

    def on_exit(server: Any) -> None:
        translator.stop()

    if embed_worker:
        options.update(when_ready=when_ready, on_exit=on_exit)

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # an older gunicorn lacks control_socket_*
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # Called in each worker after fork: every worker gets its own engine and pool.
            sandbox = EmulatorStateReader(sandbox_url) if sandbox_url else None
            return create_app(
                settings, metrics_dir=metrics_dir, sandbox=sandbox, in_flight=in_flight
            )

    Server().run()


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when the address is taken (gunicorn would retry, then exit in log lines)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind((host, port))
    except OSError as exc:
        why = "it is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or exc
        raise ConfigError(
            f"cannot listen on {host}:{port}: {why}; stop what listens there or choose another "
            "address (--host, --port; SCIM_BRIDGE_HOST, SCIM_BRIDGE_PORT)"
        ) from None


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """One thread per scrape; daemon threads, so a stuck scraper never holds up exit."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access line per scrape (Prometheus scrapes every few seconds)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


def serve_metrics(app: Any, *, host: str, port: int) -> WSGIServer:
    """Serve the worker's /metrics app on a daemon thread; call shutdown() to stop it."""
    check_port_free(host, port)
    server = make_server(host, port, app, _MetricsServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
