"""The SLA bookkeeping's scheduled work: flush, probe and evaluate, and the monthly report.

sync/worker.py schedules these (only sync/ schedules, design.md); each opens its own
sessions, does one thing, and logs a failure instead of raising into the scheduler.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.monitor.availability import aware, open_incident, zone
from scim_bridge.monitor.credits import CreditTable, credit_table
from scim_bridge.monitor.incidents import evaluate
from scim_bridge.monitor.maintenance import Declared, parse_setting, sync_declared
from scim_bridge.monitor.sla_probe import claim_turn, probe_once, release_backoff
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder, forget_old_batches
from scim_bridge.monitor.sla_render import render
from scim_bridge.monitor.sla_report import ReportPolicy, SlaFigures, build
from scim_bridge.settings import Settings

log = logging.getLogger("scim_bridge.monitor.sla")

#: Called with the rendered report's path and its figures (the lead wires notify/ to it).
DeliverReport = Callable[[Path, SlaFigures], None]


def log_report(path: Path, figures: SlaFigures) -> None:
    """The default delivery: say in the log where the report is and what it says."""
    log.info(
        "SLA report %s (%s): availability %s%%, %d minute(s) down, %d incident(s): %s",
        figures.month,
        figures.tz,
        "n/a" if figures.availability_percent is None else f"{figures.availability_percent:.3f}",
        figures.downtime_minutes,
        len(figures.incidents),
        path,
    )


@dataclass(frozen=True)
class SlaPolicy:
    """The SLA settings, read and checked once."""

    target_percent: float
    probe_seconds: float
    flush_seconds: float
    down_ratio: float
    credits: CreditTable
    maintenance: list[Declared]
    report_tz: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        """Check and collect the sla_* settings; a bad one is a ConfigError naming it."""
        try:
            zone(settings.sla_report_tz)
        except ConfigError as exc:
            raise ConfigError(f"setting sla_report_tz: {exc}") from None
        return cls(
            target_percent=settings.sla_target,
            probe_seconds=settings.sla_probe_seconds,
            flush_seconds=settings.sla_flush_seconds,
            down_ratio=settings.sla_down_ratio,
            credits=credit_table(settings.sla_credit_table),
            maintenance=parse_setting(settings.sla_maintenance_windows),
            report_tz=settings.sla_report_tz,
        )

    def report(self) -> ReportPolicy:
        """Return what a report is measured against."""
        return ReportPolicy(self.target_percent, self.credits, self.probe_seconds, self.down_ratio)


def previous_month(now: datetime, tz: str) -> date:
    """Return the first day of the month before the one ``now`` falls in, in zone ``tz``."""
    local = aware(now).astimezone(zone(tz)).date()
    return date(local.year - (local.month == 1), (local.month - 2) % 12 + 1, 1)


def write_report(path: Path, body: str) -> None:
    """Write a report readable by its owner only (0600): it names incidents and volumes."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_TRUNC


@dataclass
class SlaJobs:
    """The jobs of one process: its recorder's flush, the probe, the monthly report."""

    db: Database
    recorder: AvailabilityRecorder
    policy: SlaPolicy
    clock: Callable[[], datetime]
    #: The cheap DingTalk read (the composition root passes the client's root department get).
    probe_read: Callable[[], object] | None = None
    reports_dir: Path | None = None
    deliver_report: DeliverReport = log_report
    #: How many outbox rows the last recovery released (None: none yet), for tests and the log.
    released: int | None = None

    def flush(self) -> None:
        """Add this process's counted calls to the minute rows."""
        try:
            self.recorder.flush(self.db, now=self.clock(), down_ratio=self.policy.down_ratio)
        except Exception:  # counts stay in memory and go with the next flush
            log.exception("SLA: adding the minute counts failed; the next flush retries")

    def probe(self) -> str | None:
        """Probe DingTalk if it is this process's turn, then update incidents; the outcome."""
        try:
            return self._probe()
        except Exception:
            log.exception("SLA: the probe run failed; the next one tries again")
            return None

    def _probe(self) -> str | None:
        now = self.clock()
        with self.db.write() as session:
            sync_declared(session, self.policy.maintenance, now=now)
            mine = claim_turn(session, now=now, interval=self.policy.probe_seconds)
        outcome = None
        if mine and self.probe_read is not None:
            outcome = probe_once(self.probe_read, self.recorder)
        self.recorder.flush(self.db, now=self.clock(), down_ratio=self.policy.down_ratio)
        with self.db.write() as session:
            changes = evaluate(session, now=self.clock())
            for incident in changes.opened:
                log.error("SLA: DingTalk down since %s (incident opened)", incident.started_at)
            for incident in changes.closed:
                log.warning(
                    "SLA: DingTalk answering again at %s after %d down minute(s)",
                    incident.ended_at,
                    incident.down_minutes,
                )
            if outcome == "ok" and (changes.closed or open_incident(session) is not None):
                self._release(session)
            forget_old_batches(session, now=self.clock())
        return outcome

    def _release(self, session: Session) -> None:
        count = release_backoff(session, now=self.clock())
        self.released = count
        if count:
            log.info("SLA: DingTalk recovered; %d change(s) waiting in backoff are due now", count)

    def monthly_report(self) -> Path | None:
        """Render last month's report into reports/ and hand it to ``deliver_report``."""
        if self.reports_dir is None:
            return None
        try:
            now = self.clock()
            month = previous_month(now, self.policy.report_tz)
            with self.db.read() as session:
                figures = build(
                    session,
                    month=month,
                    tz=self.policy.report_tz,
                    policy=self.policy.report(),
                    now=now,
                )
            name = f"sla-{figures.month}-{self.policy.report_tz.replace('/', '_')}.html"
            path = self.reports_dir / name
            write_report(path, render(figures, "html"))
            self.deliver_report(path, figures)
            return path
        except Exception:
            log.exception("SLA: the monthly report failed; run `scim-bridge report sla` by hand")
            return None
