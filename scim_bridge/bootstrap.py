"""The composition root beside ``app.py``: everything a process needs except HTTP, from Settings.

``app.create_app(settings)`` builds the Flask side of an API process. This module builds the
rest: the database, the mapping rules, the DingTalk client (or the built-in emulator), the
translator and the worker that runs it, on a thread beside the API or on its own. The CLI
(``scim_bridge/cli/``) calls these two roots and nothing else builds objects from Settings.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from scim_bridge.dingtalk.client import ROOT_DEPT_ID, CallObserver, DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.dingtalk.emulator.record import (
    EmulatorRecord,
    answers,
    read_record,
    remove_record,
    write_record,
)
from scim_bridge.directory.db import Database, normalise_url
from scim_bridge.errors import ConfigError
from scim_bridge.http.dingtalk_events import callback_cipher
from scim_bridge.mapping.rules import MappingRules, load_rules, rules_path
from scim_bridge.monitor.alert_rules import Policy
from scim_bridge.monitor.gauges import StoreGauges
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.monitor.reconcile_state import ReconcileGauges, latest_accuracy
from scim_bridge.monitor.sla_gauges import AvailabilityGauges
from scim_bridge.monitor.sla_jobs import SlaJobs, SlaPolicy
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder, Fanout
from scim_bridge.notify.command import CommandChannel
from scim_bridge.notify.log import LogChannel
from scim_bridge.notify.message import Channel
from scim_bridge.notify.robot import RobotChannel
from scim_bridge.notify.webhook import WebhookChannel
from scim_bridge.settings import EMULATOR, Settings, alert_environment
from scim_bridge.sync.alerting import (
    ESCALATION_CHANNEL,
    AlertEngine,
    MeasuredAvailability,
    hold_down_for,
    report_delivery,
)
from scim_bridge.sync.events import EventJob, targeted_reconcile
from scim_bridge.sync.runtime_files import SingletonLock, runtime_dir
from scim_bridge.sync.translator import Translator
from scim_bridge.sync.wakeup import LocalListener, PostgresListener, socket_path
from scim_bridge.sync.worker import Worker, WorkerConfig

log = logging.getLogger("scim_bridge.bootstrap")

#: The private directory (0700) inside the data directory for files other commands read.
PRIVATE_DIR = ".scim-bridge"


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --- the database -----------------------------------------------------------------------------


def database_url(settings: Settings) -> URL:
    """Parse the configured database URL; a malformed one is a ConfigError naming the setting."""
    try:
        return make_url(normalise_url(settings.database_url))
    except ArgumentError:
        raise ConfigError(
            "setting database_url is not a database URL; set SCIM_BRIDGE_DATABASE_URL to "
            "sqlite:///path/to/file.db or postgresql://user:password@host/database"
        ) from None


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def open_database(settings: Settings) -> Database:
    """Open the configured database (a SQLite file's directory must exist)."""
    url = database_url(settings)
    path = _sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"the directory {path.parent} of the SQLite database does not exist; create it "
            "or fix SCIM_BRIDGE_DATABASE_URL"
        )
    return Database(settings.database_url)


def data_dir(settings: Settings) -> Path:
    """Return the data directory: the SQLite file's directory, else the working directory."""
    path = _sqlite_file(database_url(settings))
    return path.resolve().parent if path is not None else Path.cwd()


# --- mapping, DingTalk, translator, worker ---------------------------------------------------


def load_mapping(settings: Settings) -> MappingRules:
    """Load the mapping rules; a bad file is a one-line ConfigError pointing at `mapping check`."""
    path = rules_path(settings)
    try:
        return load_rules(path)
    except ConfigError as exc:
        problems = str(exc).strip().splitlines()
        if len(problems) <= 1:
            raise
        raise ConfigError(
            f"{problems[0]} (and {len(problems) - 1} more: `scim-bridge mapping check {path}` "
            "lists them all)"
        ) from None


def dingtalk_client(settings: Settings, **overrides: Any) -> DingTalkClient:
    """Build the DingTalk client the settings name (``overrides`` e.g. clock, sleep)."""
    return DingTalkClient.from_settings(settings, **overrides)


def build_worker(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utc_now,
    client: DingTalkClient | None = None,
    config: WorkerConfig | None = None,
    environ: Mapping[str, str] | None = None,
    metrics: Metrics | None = None,
    sla: SlaJobs | None = None,
) -> Worker:
    """Build a worker: the DingTalk client, the mapping rules and the translator.

    ``environ`` is the process environment the alert command's allow-list is taken from
    (settings.alert_environment reads os.environ when it is None); ``metrics`` records the
    sync lag, guard pauses and (for a client built here) every DingTalk call; ``sla`` is the
    SLA bookkeeping (built from the settings when not given; see sla_jobs for a client of
    the caller's own)."""
    rules = load_mapping(settings)  # a bad file stops start-up, naming line and fix
    sla = sla if sla is not None else sla_jobs(settings, db, clock=clock)
    observer = Fanout(metrics, sla.recorder) if sla is not None else metrics
    client = client or dingtalk_client(settings, observer=observer)
    if sla is not None:
        sla.probe_read = lambda: client.get_department(ROOT_DEPT_ID)
    translator = Translator(db=db, client=client, rules=rules, clock=clock)
    config = config or WorkerConfig(
        threads=settings.sync_threads,
        max_attempts=settings.sync_max_attempts,
        backoff_base=settings.sync_backoff_base,
        audit_retention_days=settings.audit_retention_days,
        # Issue 14 (scale-out): how soon a killed worker's rows return; the lag sample's tick.
        lease=timedelta(seconds=settings.sync_lease_seconds),
        lag_sample_seconds=settings.lag_sample_seconds,
    )
    path = rules_path(settings)
    worker = Worker(
        db=db,
        translator=translator,
        clock=clock,
        config=config,
        rules_loader=lambda: load_rules(path),
        metrics=metrics,
        sla=sla,
    )
    if settings.dingtalk_callback_token:  # DingTalk contact-change events (issue 10)
        repair = targeted_reconcile(
            db, client, settings, rules_of=lambda: translator.rules, clock=clock
        )
        worker.event_job = EventJob(db, repair, clock, on_queued=worker.wakeup.set)
    worker.reconcile = reconcile_job(
        settings, db, worker, clock=clock, client=client, observer=observer
    )
    # The alert command is one channel of the alert rules (issue 12): it hears of dead letters
    # once per episode, with the other alerts, instead of once per letter.
    worker.alerting = build_alerting(settings, db, clock=clock, environ=environ)
    if sla is not None:  # issue 12: last month's report goes to the channels on the 1st
        sla.deliver_report = report_delivery(worker.alerting.channels)
    return worker


def reconcile_job(
    settings: Settings,
    db: Database,
    worker: Worker,
    *,
    clock: Callable[[], datetime],
    client: DingTalkClient | None = None,
    observer: CallObserver | None = None,
) -> Any:
    """Build the scheduled reconcile (issue 10): its own client at its share of the quota,
    its calls counted by ``observer`` like the translator's (metrics, SLA minutes)."""
    from scim_bridge.sync.reconcile_job import ReconcileJob

    def reading_client() -> DingTalkClient:
        # A client handed in (a test's emulator) is shared; otherwise reconcile reads with its
        # own, sized to its share of the per-second quota so the translator keeps the rest.
        if client is not None:
            return client
        qps = settings.dingtalk_qps * settings.reconcile_qps_share
        return dingtalk_client(settings, qps=qps, observer=observer)

    return ReconcileJob(
        db,
        settings,
        reading_client,
        lambda: worker.translator.rules,
        clock=clock,
        close_client=client is None,
    )


def alert_channels(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    environ: Mapping[str, str] | None = None,
) -> list[Channel]:
    """Build the alert channels the settings configure; the log is always one (issue 12)."""
    channels: list[Channel] = [LogChannel()]
    if settings.alert_dingtalk_webhook:
        robot = RobotChannel(
            settings.alert_dingtalk_webhook,
            settings.alert_dingtalk_secret,
            clock=lambda: clock().timestamp(),  # the robot signs and counts in epoch seconds
        )
        channels.append(robot)
    if settings.alert_webhook_url:
        channels.append(WebhookChannel("itsm_webhook", settings.alert_webhook_url))
    if settings.alert_escalation_webhook_url:
        channels.append(WebhookChannel(ESCALATION_CHANNEL, settings.alert_escalation_webhook_url))
    if settings.alert_command:
        channels.append(CommandChannel(settings.alert_command, env=alert_environment(environ)))
    return channels


def build_alerting(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utc_now,
    environ: Mapping[str, str] | None = None,
    channels: list[Channel] | None = None,
) -> AlertEngine:
    """Build the alert evaluation job: the rules' thresholds and the channels (issue 12)."""
    policy = Policy(
        sla_warning=settings.sla_warning,
        sla_critical=settings.sla_critical,
        sla_target=settings.sla_target,
        lag_seconds=settings.alert_lag_seconds,
        hold_down=hold_down_for(settings.alert_eval_seconds),
    )
    return AlertEngine(
        db=db,
        channels=channels
        if channels is not None
        else alert_channels(settings, clock=clock, environ=environ),
        policy=policy,
        clock=clock,
        availability=(
            MeasuredAvailability(settings.sla_window_minutes, settings.sla_report_tz)
            if settings.sla_enabled
            else None
        ),
        window_minutes=settings.sla_window_minutes,
        interval=settings.alert_eval_seconds,
        accuracy=latest_accuracy,
    )


def sla_jobs(
    settings: Settings, db: Database, *, clock: Callable[[], datetime] = utc_now
) -> SlaJobs | None:
    """Build the SLA bookkeeping of a worker (issue 12), or None when it is switched off.

    A client passed to build_worker is the caller's: give it ``Fanout(metrics, sla.recorder)``
    as its observer for its calls to be counted."""
    if not settings.sla_enabled:
        return None
    return SlaJobs(
        db=db,
        recorder=AvailabilityRecorder(clock=clock),
        policy=SlaPolicy.from_settings(settings),
        clock=clock,
        reports_dir=runtime_dir(settings) / "reports",
    )


class BackgroundWorker:
    """A worker on a thread of this process, with its wake-up listeners (and the host's
    translator lock, when it was given one); it cleans up when stopped or the process exits."""

    def __init__(
        self, settings: Settings, worker: Worker, *, lock: SingletonLock | None = None
    ) -> None:
        self.worker = worker
        self._lock = lock
        self._stop = threading.Event()
        self._listeners: list[Any] = [LocalListener(socket_path(settings), worker.wakeup)]
        if worker.db.dialect == "postgresql":
            self._listeners.append(PostgresListener(settings.database_url, worker.wakeup))
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name="translator", daemon=True
        )
        self._thread.start()
        # A gunicorn worker ends with sys.exit(): remove the socket and the lock file then too.
        atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and the listeners; remove the socket and the lock file."""
        atexit.unregister(self.stop)
        self._stop.set()
        self.worker.wakeup.set()
        self._thread.join(timeout)
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def worker_metrics(settings: Settings, db: Database) -> Metrics | None:
    """Return the metrics of a worker run on its own, when it is to show them (else None)."""
    if not settings.metrics_enabled or not settings.worker_metrics_port:
        return None
    metrics = Metrics()
    metrics.add_collector(StoreGauges(db, clock=utc_now))
    metrics.add_collector(ReconcileGauges(db, clock=utc_now))
    if settings.sla_enabled:
        metrics.add_collector(AvailabilityGauges(db, clock=utc_now))
    return metrics


def check_can_serve(settings: Settings, *, with_translator: bool) -> None:
    """Fail now, in one line, where a forked API process would otherwise die in a traceback:
    a bad mapping file, a malformed database URL, a missing SQLite directory."""
    if with_translator:
        load_mapping(settings)
    callback_cipher(settings)  # DingTalk event callbacks: both secrets, a well-formed AES key
    open_database(settings).dispose()


# --- metrics across gunicorn's processes ------------------------------------------------------

#: Where prometheus-client's multiprocess mode keeps its per-process files (its own variable).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_directory(
    settings: Settings, environ: MutableMapping[str, str]
) -> Iterator[Path | None]:
    """Give the API processes one private, empty directory for their metric files (issue 12).

    Set in ``environ`` before gunicorn forks, so every process writes there and a scrape sums
    them; emptied at start (files of a previous run would be counted again) and, when it is
    our own temporary directory, removed at exit by the process that made it."""
    if not settings.metrics_enabled:
        yield None
        return
    owner = os.getpid()
    if settings.metrics_dir:
        path = Path(settings.metrics_dir)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as exc:
            raise ConfigError(
                f"setting metrics_dir: cannot use {path} ({exc.strerror}); fix "
                "SCIM_BRIDGE_METRICS_DIR or leave it empty for a temporary directory"
            ) from None
        made = False
    else:
        path, made = Path(tempfile.mkdtemp(prefix="scim-bridge-metrics-")), True
    environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        # gunicorn's forked workers unwind through here too: only the parent cleans up.
        if os.getpid() == owner:
            environ.pop(MULTIPROC_ENV, None)
            if made:
                shutil.rmtree(path, ignore_errors=True)


# --- the built-in emulator ----------------------------------------------------------------------


def emulator_record_path(settings: Settings) -> Path:
    """Return where this database's built-in emulator is recorded (one file per database)."""
    url = database_url(settings)
    path = _sqlite_file(url)
    label = path.name if path is not None else (url.database or url.get_backend_name())
    return data_dir(settings) / PRIVATE_DIR / f"{label}.emulator.json"


@dataclass
class BuiltinEmulator:
    """The emulator `make run` starts in its own process, and the file that tells others."""

    running: RunningEmulator
    record: EmulatorRecord
    path: Path

    def stop(self) -> None:
        """Forget the record and stop serving, in the process that started it only (gunicorn's
        forked workers unwind through the same code and must leave both alone)."""
        if os.getpid() != self.record.pid:
            return
        remove_record(self.path, self.record)
        self.running.stop()


def start_builtin_emulator(settings: Settings) -> tuple[Settings, BuiltinEmulator]:
    """Start the emulator in this process, record it, and point a copy of the settings at it."""
    config = EmulatorConfig()
    running = start_emulator(config)
    record = EmulatorRecord(
        url=running.url, app_key=config.app_key, app_secret=config.app_secret, pid=os.getpid()
    )
    path = emulator_record_path(settings)
    try:
        write_record(path, record)
    except OSError:
        running.stop()
        raise
    return _pointed_at(settings, record), BuiltinEmulator(running, record, path)


def _pointed_at(settings: Settings, record: EmulatorRecord) -> Settings:
    return settings.replace(
        dingtalk_base_url=record.url,
        dingtalk_api_url="",
        dingtalk_app_key=record.app_key,
        dingtalk_app_secret=record.app_secret,
    )


@dataclass(frozen=True)
class DingTalkTarget:
    """The settings a command talks to DingTalk with, and a sentence saying which DingTalk."""

    settings: Settings
    note: str


def dingtalk_target(settings: Settings) -> DingTalkTarget:
    """Return the configured DingTalk, or the built-in emulator a `make run` beside us recorded.

    The recorded emulator is used when SCIM_BRIDGE_DINGTALK_BASE_URL=emulator, and when no
    DingTalk credentials are configured at all and it answers.
    """
    wants_emulator = settings.dingtalk_base_url == EMULATOR
    key, secret = settings.dingtalk_app_key, settings.dingtalk_app_secret
    if not wants_emulator and key and secret:
        return DingTalkTarget(settings, f"DingTalk at {settings.dingtalk_base_url}")
    if not wants_emulator and (key or secret):
        missing = "SCIM_BRIDGE_DINGTALK_APP_SECRET" if key else "SCIM_BRIDGE_DINGTALK_APP_KEY"
        raise ConfigError(f"DingTalk is half configured: set {missing} as well")
    path = emulator_record_path(settings)
    record = read_record(path)
    if record is not None and answers(record):
        note = f"the built-in DingTalk emulator of `make run` at {record.url} (from {path})"
        return DingTalkTarget(_pointed_at(settings, record), note)
    if wants_emulator:
        raise ConfigError(
            "SCIM_BRIDGE_DINGTALK_BASE_URL is 'emulator' but no built-in emulator is running "
            "for this database; start `make run` in this directory first, or set "
            "SCIM_BRIDGE_DINGTALK_BASE_URL to the URL of `scim-bridge emulator`"
        )
    raise ConfigError(
        "DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY and "
        "SCIM_BRIDGE_DINGTALK_APP_SECRET (or run `make run` in this directory for its "
        "built-in emulator)"
    )
