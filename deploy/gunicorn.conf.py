"""gunicorn's configuration for the scim-bridge API: `gunicorn -c deploy/gunicorn.conf.py`.

The options are the ones `scim-bridge serve` uses (cli/webserver.gunicorn_options), so the two
ways to run the API cannot drift apart: gthread workers, timeouts, an access log without query
strings (a filter may carry a person's e-mail address), and no control socket under $HOME.
Everything is set through SCIM_BRIDGE_* variables or the file SCIM_BRIDGE_CONFIG names, as for
every other command; the translator runs apart (`scim-bridge worker`).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from scim_bridge.bootstrap import MULTIPROC_ENV
from scim_bridge.cli.webserver import gunicorn_options
from scim_bridge.settings import load_settings

_settings = load_settings()

wsgi_app = "scim_bridge.wsgi:application"
# Containers bind every interface; SCIM_BRIDGE_HOST decides (127.0.0.1 by default).
globals().update(
    gunicorn_options(
        _settings,
        host=_settings.host,
        port=_settings.port,
        workers=_settings.workers,
        threads=_settings.threads,
    )
)


def on_starting(server: object) -> None:
    """Give the worker processes one empty metrics directory before they fork.

    prometheus-client's multiprocess mode sums the files of every process at scrape time; a
    previous run's files would be counted again, so the directory starts empty."""
    if not _settings.metrics_enabled:
        return
    path = _settings.metrics_dir or tempfile.mkdtemp(prefix="scim-bridge-metrics-")
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))
    os.environ[MULTIPROC_ENV] = path


def on_exit(server: object) -> None:
    """Remove the metrics directory when it was a temporary one of ours."""
    path = os.environ.get(MULTIPROC_ENV, "")
    if path and not _settings.metrics_dir and os.path.basename(path).startswith("scim-bridge-"):
        shutil.rmtree(path, ignore_errors=True)
