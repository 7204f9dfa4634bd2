"""The WSGI entry point for a gunicorn the operator runs (deploy/gunicorn.conf.py, the image).

`scim-bridge serve` builds the same application itself; this module is for deployments that
start gunicorn directly, so the process manager (systemd, a container runtime) supervises
gunicorn's own master. Like ``cli/``, it is an entry point: it reads the environment once,
through settings.load_settings(), and passes the result down.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from scim_bridge.app import create_app
from scim_bridge.bootstrap import MULTIPROC_ENV
from scim_bridge.settings import load_settings


def application_from_environment() -> Flask:
    """Build the API application from SCIM_BRIDGE_* (and SCIM_BRIDGE_CONFIG), no translator."""
    settings = load_settings()
    # gunicorn.conf.py's on_starting hook prepared the directory before forking (metrics on).
    metrics_dir = os.environ.get(MULTIPROC_ENV) if settings.metrics_enabled else None
    return create_app(settings, metrics_dir=Path(metrics_dir) if metrics_dir else None)


application = application_from_environment()
