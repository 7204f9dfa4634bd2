"""The long-running commands: serve, worker, quickstart (what `make run` runs), emulator."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from scim_bridge.cli.root import now, opened, settings_of
from scim_bridge.cli.webserver import check_port_free, run_gunicorn
from scim_bridge.errors import ConfigError
from scim_bridge.settings import EMULATOR, Settings


@contextmanager
def builtin_emulator(settings: Settings, *, wanted: bool) -> Iterator[Settings]:
    """Run the recorded built-in emulator for the block when ``wanted``; yield the settings."""
    if not wanted:
        yield settings
        return
    from scim_bridge.bootstrap import start_builtin_emulator

    settings, emulator = start_builtin_emulator(settings)
    try:
        yield settings
    finally:
        emulator.stop()


@click.command()
@click.option("--host", default=None, help="Address to bind (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default from settings: 8000).")
@click.option(
    "--workers", type=int, default=None, help="gunicorn worker processes (default: 2 x CPUs)."
)
@click.option("--threads", type=int, default=None, help="Threads per worker (default: 2).")
@click.option(
    "--no-worker", is_flag=True, help="Serve the API only; run `scim-bridge worker` apart."
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    no_worker: bool,
) -> None:
    """Serve the SCIM API with gunicorn."""
    from scim_bridge.bootstrap import check_can_serve, metrics_directory

    settings = settings_of(ctx)
    host, port = host or settings.host, port or settings.port
    check_port_free(host, port)
    wanted = settings.dingtalk_base_url == EMULATOR
    check_can_serve(settings, with_translator=not no_worker)
    with (
        metrics_directory(settings, os.environ) as metrics_dir,
        builtin_emulator(settings, wanted=wanted) as settings,
    ):
        if wanted:
            click.echo(f"DingTalk emulator at {settings.dingtalk_base_url}", err=True)
        run_gunicorn(
            settings,
            host=host,
            port=port,
            workers=workers or settings.workers,
            threads=threads or settings.threads,
            embed_worker=not no_worker,
            metrics_dir=metrics_dir,
            sandbox_url=settings.dingtalk_base_url if wanted else None,
        )


@click.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.pass_context
def quickstart(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Migrate, create a token (and a first console admin), print them, serve (`make run`)."""
    from scim_bridge.bootstrap import check_can_serve, metrics_directory
    from scim_bridge.directory.admins import create_first_admin
    from scim_bridge.directory.db import upgrade
    from scim_bridge.directory.tokens import create_token

    settings = settings_of(ctx)
    host, port = host or settings.host, port or settings.port
    check_port_free(host, port)  # before anything is written
    check_can_serve(settings, with_translator=True)
    upgrade(settings.database_url)
    wanted = not settings.dingtalk_app_key or settings.dingtalk_base_url == EMULATOR
    with builtin_emulator(settings, wanted=wanted) as settings:
        with opened(settings) as database, database.write() as session:
            name = "quickstart-" + now().strftime("%Y%m%d-%H%M%S")
            _row, plaintext = create_token(session, name, now=now())
            first = create_first_admin(session, now=now())
        for line in quickstart_banner(
            host=host,
            port=port,
            token=plaintext,
            dingtalk=settings.dingtalk_base_url,
            first_admin=first,
            demo=demo_command(sys.argv[0]) if wanted else None,
        ):
            click.echo(line)
        sys.stdout.flush()
        with metrics_directory(settings, os.environ) as metrics_dir:
            run_gunicorn(
                settings,
                host=host,
                port=port,
                workers=settings.workers,
                threads=settings.threads,
                metrics_dir=metrics_dir,
                sandbox_url=settings.dingtalk_base_url if wanted else None,
            )


@click.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the translator on its own (pair it with `serve --no-worker`)."""
    from scim_bridge.app import create_metrics_app
    from scim_bridge.bootstrap import (
        BackgroundWorker,
        build_worker,
        dingtalk_target,
        worker_metrics,
    )
    from scim_bridge.cli.webserver import serve_metrics

    target = dingtalk_target(settings_of(ctx))
    settings = target.settings
    click.echo(f"using {target.note}", err=True)
    with opened(settings) as database:
        metrics = worker_metrics(settings, database)
        server = None
        if metrics is not None:
            app = create_metrics_app(settings, metrics)
            port = settings.worker_metrics_port
            server = serve_metrics(app, host=settings.host, port=port)
            click.echo(f"metrics at http://{settings.host}:{port}/metrics", err=True)
        worker = build_worker(settings, database, metrics=metrics)
        background = BackgroundWorker(settings, worker)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        click.echo(f"translator {background.worker.owner} running; Ctrl-C stops it", err=True)
        stop.wait()
        background.stop()
        if server is not None:
            server.shutdown()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8900, show_default=True)
@click.option("--app-key", default=None, help="App key the emulator accepts (default: configured).")
@click.option("--app-secret", default=None, help="App secret the emulator accepts.")
@click.option("--qps", type=float, default=20.0, show_default=True, help="Per-app per-API QPS.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True)
@click.option(
    "--fail-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Fraction of calls that get an injected fault.",
)
@click.option(
    "--fault-kinds",
    default="http500,http502,busy,timeout,timeout_after_apply",
    show_default=True,
    help="Comma-separated faults to inject.",
)
@click.option(
    "--timeout-stall",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds an injected timeout stalls before answering.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--callback-url",
    default="",
    help="Push contact-change events here, sealed with SCIM_BRIDGE_DINGTALK_CALLBACK_TOKEN "
    "and _AES_KEY (e.g. http://127.0.0.1:8000/dingtalk/events).",
)
@click.pass_context
def emulator(
    ctx: click.Context,
    host: str,
    port: int,
    app_key: str | None,
    app_secret: str | None,
    qps: float,
    latency_ms: float,
    fail_rate: float,
    fault_kinds: str,
    timeout_stall: float,
    seed: int,
    callback_url: str,
) -> None:
    """Run the built-in DingTalk emulator on its own."""
    from scim_bridge.dingtalk.callback_crypto import decode_aes_key
    from scim_bridge.dingtalk.emulator import EmulatorConfig, serve_emulator

    settings = settings_of(ctx)
    kinds = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    cfg = EmulatorConfig(
        qps=qps,
        latency=latency_ms / 1000.0,
        fail_rate=fail_rate,
        fault_kinds=kinds,
        timeout_stall=timeout_stall,
        seed=seed,
    )
    cfg.app_key = app_key or settings.dingtalk_app_key or cfg.app_key
    cfg.app_secret = app_secret or settings.dingtalk_app_secret or cfg.app_secret
    if callback_url:
        if not settings.dingtalk_callback_token or not settings.dingtalk_callback_aes_key:
            raise ConfigError(
                "--callback-url needs SCIM_BRIDGE_DINGTALK_CALLBACK_TOKEN and "
                "SCIM_BRIDGE_DINGTALK_CALLBACK_AES_KEY: the emulator seals its pushes with them"
            )
        decode_aes_key(settings.dingtalk_callback_aes_key)  # a one-line error naming the setting
        cfg.callback_url = callback_url
        cfg.callback_token = settings.dingtalk_callback_token
        cfg.callback_aes_key = settings.dingtalk_callback_aes_key
        cfg.callback_receiver_id = settings.dingtalk_callback_receiver_id
    check_port_free(host, port)
    click.echo(f"DingTalk emulator on http://{host}:{port} (app key {cfg.app_key})", err=True)
    serve_emulator(cfg, host=host, port=port)


COMMANDS = (serve, worker, quickstart, emulator)


def quickstart_banner(
    *,
    host: str,
    port: int,
    token: str,
    dingtalk: str,
    first_admin: tuple[str, str] | None,
    demo: str | None,
) -> list[str]:
    """Return what `make run` prints before it serves: where to point the IdP, the console.

    ``first_admin`` is printed once (only its hash is kept); ``demo`` is the command that
    pushes the sample company, shown only beside the built-in emulator: pushed to a real
    DingTalk, 200 made-up people would land in a real organisation."""
    lines = [
        "",
        f"  SCIM base URL : http://{host}:{port}/scim/v2",
        f"  Bearer token  : {token}",
        f"  DingTalk      : {dingtalk}",
        f"  Console       : http://{host}:{port}/admin",
    ]
    if first_admin is not None:
        lines.append(f"  Console login : {first_admin[0]} / {first_admin[1]}")
    if demo is not None:
        lines.append(f"  Sample push   : {demo}  (another terminal, this directory; see Sandbox)")
    return [*lines, ""]


def demo_command(argv0: str) -> str:
    """Return how to run `demo` from here: `make run`'s .venv is not on a newcomer's PATH."""
    program = argv0 if Path(argv0).name == "scim-bridge" else "scim-bridge"
    return f"{program} demo"
