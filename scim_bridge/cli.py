"""The `scim-bridge` command: serve, db, token, config, emulator, quickstart."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from scim_bridge import __version__
from scim_bridge.errors import ConfigError
from scim_bridge.settings import EMULATOR, Settings, load_settings


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _opened(url: str) -> Iterator[Any]:
    """Open the configured database for one command and close its pool afterwards."""
    from scim_bridge.directory.db import Database

    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SCIM_BRIDGE_CONFIG",
    help="YAML config file (SCIM_BRIDGE_CONFIG); SCIM_BRIDGE_* variables override it.",
)
@click.version_option(__version__, prog_name="scim-bridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """SCIM 2.0 service provider that projects your directory onto DingTalk."""
    try:
        ctx.obj = load_settings(config_path=config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# --- database ------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the database schema."""
    from scim_bridge.directory.db import upgrade
    from scim_bridge.settings import mask_url_password

    settings = _settings(ctx)
    upgrade(settings.database_url, revision)
    click.echo(f"database at {mask_url_password(settings.database_url)} is at revision {revision}")


# --- tokens --------------------------------------------------------------------------------


@main.group()
def token() -> None:
    """Create, rotate, list and revoke the bearer tokens IdPs authenticate with."""


@token.command("create")
@click.argument("name")
@click.option(
    "--profile",
    type=click.Choice(["auto", "okta", "entra", "entra-additive", "strict"]),
    default="auto",
    show_default=True,
    help="IdP compatibility profile (auto reads the User-Agent).",
)
@click.option("--idp", help="The IdP whose resources the token sees and owns (default: the name).")
@click.option("--shared", is_flag=True, help="See and write every IdP's resources (migrations).")
@click.option("--read-only", is_flag=True, help="Read and search only; writes get 403.")
@click.pass_context
def token_create(
    ctx: click.Context, name: str, profile: str, idp: str | None, shared: bool, read_only: bool
) -> None:
    """Create a token; it is printed once, alone on the last line, and only its hash is kept."""
    from scim_bridge.directory.tokens import create_token

    with _opened(_settings(ctx).database_url) as database:
        try:
            with database.write() as session:
                row, plaintext = create_token(
                    session,
                    name,
                    profile=profile,
                    idp=idp,
                    shared=shared,
                    read_only=read_only,
                    now=_now(),
                )
                click.echo(
                    f"created token {row.name!r} (IdP {row.idp}, profile {row.profile}); "
                    "store it now, it cannot be shown again:",
                    err=True,
                )
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(plaintext)


@token.command("rotate")
@click.argument("name")
@click.option(
    "--overlap",
    help="How long the old value keeps working, e.g. 30m, 24h, 7d "
    "(default: the token_rotation_overlap_hours setting, 24h).",
)
@click.pass_context
def token_rotate(ctx: click.Context, name: str, overlap: str | None) -> None:
    """Give a token a new value (same name, IdP, profile); printed once on the last line."""
    from datetime import timedelta

    from scim_bridge.directory.tokens import overlap_end, parse_duration, rotate_token

    settings = _settings(ctx)
    now = _now()
    with _opened(settings.database_url) as database:
        try:
            keep = (
                parse_duration(overlap)
                if overlap is not None
                else timedelta(hours=settings.token_rotation_overlap_hours)
            )
            with database.write() as session:
                row, plaintext = rotate_token(session, name, overlap=keep, now=now)
                until = overlap_end(row, now=now)
                click.echo(
                    f"rotated token {row.name!r} (IdP {row.idp}); the old value "
                    + (f"works until {until:%Y-%m-%d %H:%M:%S} UTC" if until else "stopped now")
                    + "; store the new one now, it cannot be shown again:",
                    err=True,
                )
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(plaintext)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (name, IdP, profile, access, prefix, created, last used, status)."""
    from scim_bridge.directory.tokens import describe, list_tokens

    now = _now()
    with _opened(_settings(ctx).database_url) as database, database.read() as session:
        rows = [describe(r, now=now) for r in list_tokens(session)]
    click.echo(
        f"{'NAME':<24} {'IDP':<20} {'PROFILE':<8} {'ACCESS':<18} {'PREFIX':<10} "
        f"{'CREATED':<20} {'LAST USED':<20} STATUS"
    )
    for r in rows:
        click.echo(
            f"{r['name']:<24} {r['idp']:<20} {r['profile']:<8} {r['access']:<18} "
            f"{r['prefix']:<10} {r['created']:<20} {r['last_used']:<20} {r['status']}"
        )


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token by name: its value and a rotation's old value are refused from now on."""
    from scim_bridge.directory.tokens import revoke_token

    with _opened(_settings(ctx).database_url) as database:
        try:
            with database.write() as session:
                revoke_token(session, name, now=_now())
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"revoked token {name!r}")


# --- configuration -------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print every setting with its effective value; secrets are masked."""
    for key, value in _settings(ctx).masked().items():
        click.echo(f"{key} = {value}")


# --- serving -------------------------------------------------------------------------------


def run_gunicorn(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    embed_worker: bool = True,
) -> None:
    """Serve the API with gunicorn (never Flask's development server)."""
    from gunicorn.app.base import BaseApplication

    from scim_bridge.app import create_app

    class Server(BaseApplication):
        def load_config(self) -> None:
            cfg: dict[str, Any] = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": threads,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": settings.log_level.lower(),
                "timeout": 60,
                "graceful_timeout": 20,
                "keepalive": 30,
            }
            for key, value in cfg.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Called in each worker after fork: every worker gets its own engine and pool.
            app = create_app(settings)
            if embed_worker:
                _embed_translator(settings, app)
            return app

    Server().run()


def _embed_translator(settings: Settings, app: Any) -> None:
    """Run the translator in this API process if no other process on this host does."""
    from scim_bridge.sync.service import BackgroundWorker, build_worker, try_singleton_lock

    if not settings.dingtalk_app_key:
        # Nothing to talk to yet: changes wait in the outbox (none is lost) until configured.
        app.logger.warning(
            "DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY and "
            "SCIM_BRIDGE_DINGTALK_APP_SECRET (or SCIM_BRIDGE_DINGTALK_BASE_URL=emulator); "
            "changes are kept in the outbox until then"
        )
        return
    lock = try_singleton_lock(settings)
    if lock is None:
        return  # a sibling worker process already translates; our commits wake it by socket
    runtime = app.extensions["scim_bridge"]
    background = BackgroundWorker(settings, build_worker(settings, runtime.db))
    # Same process: the commit wakes the translator directly.
    runtime.on_outbox_commit.append(background.worker.wakeup.set)
    _held.append((lock, background))


@main.command()
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
    settings = _settings(ctx)
    if settings.dingtalk_base_url == EMULATOR:
        settings = _start_emulator(settings)
        click.echo(f"DingTalk emulator at {settings.dingtalk_base_url}", err=True)
    run_gunicorn(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        threads=threads or settings.threads,
        embed_worker=not no_worker,
    )


@main.command()
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
) -> None:
    """Run the built-in DingTalk emulator on its own."""
    from scim_bridge.dingtalk.emulator import EmulatorConfig, serve_emulator

    settings = _settings(ctx)
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
    click.echo(f"DingTalk emulator on http://{host}:{port} (app key {cfg.app_key})", err=True)
    serve_emulator(cfg, host=host, port=port)


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.pass_context
def quickstart(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Migrate, create a token, print the SCIM URL and token, serve (what `make run` does)."""
    from scim_bridge.directory.db import upgrade
    from scim_bridge.directory.tokens import create_token

    settings = _settings(ctx)
    host = host or settings.host
    port = port or settings.port
    upgrade(settings.database_url)
    if not settings.dingtalk_app_key or settings.dingtalk_base_url == EMULATOR:
        settings = _start_emulator(settings)
    with _opened(settings.database_url) as database:
        name = "quickstart-" + _now().strftime("%Y%m%d-%H%M%S")
        with database.write() as session:
            _row, plaintext = create_token(session, name, now=_now())
    click.echo("")
    click.echo(f"  SCIM base URL : http://{host}:{port}/scim/v2")
    click.echo(f"  Bearer token  : {plaintext}")
    click.echo(f"  DingTalk      : {settings.dingtalk_base_url}")
    click.echo("")
    sys.stdout.flush()
    run_gunicorn(settings, host=host, port=port, workers=settings.workers, threads=settings.threads)


def _start_emulator(settings: Settings) -> Settings:
    """Run the DingTalk emulator in this process and point the settings at it."""
    from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator

    cfg = EmulatorConfig()
    running = start_emulator(cfg)
    # The emulator's server thread lives as long as this process (gunicorn's master).
    _running_emulators.append(running)
    return settings.replace(
        dingtalk_base_url=running.url,
        dingtalk_app_key=cfg.app_key,
        dingtalk_app_secret=cfg.app_secret,
    )


_running_emulators: list[Any] = []
#: Objects that must live as long as the process (the translator lock and thread).
_held: list[Any] = []


# --- the translator ------------------------------------------------------------------------


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the translator on its own (pair it with `serve --no-worker`)."""
    import signal

    from scim_bridge.sync.service import BackgroundWorker, build_worker

    settings = _settings(ctx)
    if not settings.dingtalk_app_key:
        raise click.ClickException(
            "DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY and "
            "SCIM_BRIDGE_DINGTALK_APP_SECRET (and SCIM_BRIDGE_DINGTALK_BASE_URL for an emulator)"
        )
    with _opened(settings.database_url) as database:
        try:
            background = BackgroundWorker(settings, build_worker(settings, database))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        click.echo(f"translator {background.worker.owner} running; Ctrl-C stops it", err=True)
        stop.wait()
        background.stop()


@main.group()
def dlq() -> None:
    """Inspect and act on changes that could not reach DingTalk."""


@dlq.command("list")
@click.pass_context
def dlq_list(ctx: click.Context) -> None:
    """List dead letters with the reason in plain words."""
    from scim_bridge.sync.dlq import list_dead_letters

    with _opened(_settings(ctx).database_url) as database, database.read() as session:
        letters = list_dead_letters(session)
    if not letters:
        click.echo("the dead-letter list is empty")
        return
    click.echo(f"{'ID':>5}  {'TYPE':<6} {'RESOURCE':<36}  {'ATTEMPTS':>8}  REASON")
    for d in letters:
        click.echo(
            f"{d.id:>5}  {d.resource_type:<6} {d.resource_id:<36}  {d.attempts:>8}  {d.reason}"
        )


@dlq.command("show")
@click.argument("letter_id", type=int)
@click.pass_context
def dlq_show(ctx: click.Context, letter_id: int) -> None:
    """Show one dead letter and what DingTalk answered to each attempt."""
    from scim_bridge.sync.dlq import get_dead_letter, history

    with _opened(_settings(ctx).database_url) as database, database.read() as session:
        letter = get_dead_letter(session, letter_id)
        if letter is None:
            raise click.ClickException(
                f"no dead letter {letter_id}; `scim-bridge dlq list` shows them"
            )
        events = history(session, letter)
    click.echo(f"{letter.resource_type} {letter.resource_id}: {letter.reason}")
    stamp = "%Y-%m-%d %H:%M:%S"
    click.echo(
        f"code {letter.code}, {letter.attempts} attempt(s), since {letter.created_at:{stamp}}"
    )
    for e in events:
        what = f"{e.action:<8} {e.outcome:<9} {e.code or '':<8}"
        click.echo(f"  {e.at:{stamp}} {what} {e.detail or ''}")


@dlq.command("retry")
@click.argument("letter_ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Retry every dead letter.")
@click.pass_context
def dlq_retry(ctx: click.Context, letter_ids: tuple[int, ...], all_: bool) -> None:
    """Queue dead letters again (after the data was fixed in the IdP)."""
    from scim_bridge.sync.dlq import retry

    if not letter_ids and not all_:
        raise click.UsageError("name dead-letter ids (see `scim-bridge dlq list`) or pass --all")
    with _opened(_settings(ctx).database_url) as database, database.write() as session:
        count = retry(session, None if all_ else list(letter_ids), now=_now(), actor="dlq-retry")
    from scim_bridge.sync.wakeup import notify_local, socket_path

    notify_local(socket_path(_settings(ctx).database_url))
    click.echo(f"queued {count} dead letter(s) again")


@dlq.command("drop")
@click.argument("letter_ids", type=int, nargs=-1, required=True)
@click.pass_context
def dlq_drop(ctx: click.Context, letter_ids: tuple[int, ...]) -> None:
    """Forget dead letters without retrying them."""
    from scim_bridge.sync.dlq import drop

    with _opened(_settings(ctx).database_url) as database, database.write() as session:
        count = drop(session, list(letter_ids))
    click.echo(f"dropped {count} dead letter(s)")


@main.group("guard")
def guard_group() -> None:
    """The mass-change guard: see a paused burst of removals, and release it."""


@guard_group.command("status")
@click.pass_context
def guard_status(ctx: click.Context) -> None:
    """Say whether removals are paused, how many, and the token that releases them."""
    from scim_bridge.sync.guard import paused

    with _opened(_settings(ctx).database_url) as database, database.read() as session:
        pause = paused(session)
    if pause is None:
        click.echo("removals are flowing: the mass-change guard is not paused")
        return
    click.echo(
        f"PAUSED since {pause['since']}: {pause['removals']} of {pause['active_users']} people "
        f"({pause['percent']}% > {pause['threshold']}%) would be removed from DingTalk"
    )
    click.echo(f"review them, then release with: scim-bridge guard confirm {pause['token']}")


@guard_group.command("confirm")
@click.argument("token")
@click.pass_context
def guard_confirm(ctx: click.Context, token: str) -> None:
    """Release the paused removals (the token from `guard status` or the alert)."""
    from scim_bridge.mapping.guard import GuardError
    from scim_bridge.mapping.rules import load_rules, rules_path
    from scim_bridge.sync.guard import confirm_burst
    from scim_bridge.sync.wakeup import notify_local, socket_path

    settings = _settings(ctx)
    try:
        rules = load_rules(rules_path(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with _opened(settings.database_url) as database:
        try:
            with database.write() as session:
                released = confirm_burst(
                    session,
                    rules.guard,
                    token,
                    now=_now(),
                    actor="guard-confirm",
                    inactive_is_removal=rules.leavers.action == "delete",
                )
        except GuardError as exc:
            raise click.ClickException(str(exc)) from None
    notify_local(socket_path(settings.database_url))
    click.echo(f"released {released} removal(s); the translator proceeds now")


# --- dry run and data quality --------------------------------------------------------------


class _Progress:
    """A progress line on stderr for long CLI steps (only when stderr is a terminal or asked)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        if now - self.last < 0.5 and done != total:
            return
        self.last = now
        of = f"/{total}" if total else ""
        click.echo(f"\r{self.label}: {done}{of}", nl=False, err=True)

    def finish(self) -> None:
        click.echo("", err=True)


def _rules(settings: Settings) -> Any:
    from scim_bridge.mapping.rules import load_rules, rules_path

    try:
        return load_rules(rules_path(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--source",
    type=click.Choice(["dingtalk", "links"]),
    default="dingtalk",
    show_default=True,
    help="Compare with DingTalk itself (walked live) or with what the bridge applied.",
)
@click.pass_context
def plan(ctx: click.Context, fmt: str, source: str) -> None:
    """List every DingTalk call needed to converge (a dry run: nothing is written)."""
    from scim_bridge.dingtalk.client import DingTalkClient
    from scim_bridge.mapping.plan import plan as make_plan
    from scim_bridge.mapping.plan import render_plan
    from scim_bridge.mapping.project import project_directory
    from scim_bridge.sync.dryrun import current_from_dingtalk, current_from_links, load_directory

    settings = _settings(ctx)
    rules = _rules(settings)
    with _opened(settings.database_url) as database:
        progress = _Progress("reading the directory")
        users, groups = load_directory(database, progress=progress)
        progress.finish()
        if source == "links":
            current = current_from_links(database)
        else:
            try:
                client = DingTalkClient.from_settings(settings)
            except ConfigError as exc:
                raise click.ClickException(f"{exc}; or use --source links") from None
            with client:
                walk = _Progress("reading DingTalk users")
                current = current_from_dingtalk(database, client, progress=walk)
                walk.finish()
        result = make_plan(project_directory(users, groups, rules), current)
    click.echo(render_plan(result, fmt))


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def quality(ctx: click.Context, fmt: str) -> None:
    """Report data problems that would block or degrade projection; exit 1 if any blocks."""
    from scim_bridge.mapping.quality import quality_report, render_quality
    from scim_bridge.sync.dryrun import load_directory

    settings = _settings(ctx)
    rules = _rules(settings)
    with _opened(settings.database_url) as database:
        progress = _Progress("reading the directory")
        users, groups = load_directory(database, progress=progress)
        progress.finish()
    checking = _Progress("checking")
    report = quality_report(users, groups, rules, progress=checking)
    checking.finish()
    click.echo(render_quality(report, fmt))
    if report.blocking:
        raise SystemExit(1)


# --- mapping -------------------------------------------------------------------------------


@main.group()
def mapping() -> None:
    """Check mapping rule files."""


@mapping.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def mapping_check(path: str) -> None:
    """Validate a mapping file; each problem names the line, the key and the fix."""
    from scim_bridge.mapping.rules import check_rules_file

    problems = check_rules_file(path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{path}: ok")
