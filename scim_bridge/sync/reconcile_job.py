"""The scheduled reconcile: the worker's cron job (settings.reconcile_cron, UTC), one at a time.

design.md: a scheduler job opens what it needs, calls one function, and isolates failures. Only
one reconcile runs across every worker process (sync/reconcile_runs.py's database lock): the
others find it busy and skip this turn. Drift found is repaired through the outbox, so the
accuracy after each scheduled run converges on 100%. When the monthly call budget cannot pay
for a full walk, the run is incremental instead (issue 10, quota-aware).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError, ReconcileBusy, ReconcileOverBudget
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import Reconciler, ReconcileResult, reconcile_full, utc_now

log = logging.getLogger("scim_bridge.sync")


def cron_trigger(settings: Settings) -> CronTrigger | None:
    """Return the reconcile's trigger from the settings (None: not scheduled)."""
    if not settings.reconcile_cron.strip():
        return None
    try:
        return CronTrigger.from_crontab(settings.reconcile_cron, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(
            f"setting reconcile_cron is not a cron expression ({exc}); "
            "set SCIM_BRIDGE_RECONCILE_CRON, e.g. '10 2 * * *'"
        ) from None


@dataclass
class ReconcileJob:
    """What the worker's scheduler runs: a full (or, over budget, incremental) reconcile."""

    db: Database
    settings: Settings
    #: The client reconcile reads with (sized to settings.reconcile_qps_share), and closes.
    client: Callable[[], DingTalkClient]
    #: The mapping rules in force now (the worker reloads them when the file changes).
    rules: Callable[[], MappingRules]
    clock: Callable[[], datetime] = utc_now
    #: Whether each run closes the client it got (False: a client shared with the translator).
    close_client: bool = True

    def run(self) -> ReconcileResult | None:
        """Reconcile and repair; None when another process is reconciling or it failed."""
        client = self.client()
        try:
            return self._reconcile(client)
        except ReconcileBusy as exc:
            log.info("scheduled reconcile skipped: %s", exc)
        except Exception:  # the next turn tries again; the failed run is stored with its error
            log.exception("scheduled reconcile failed")
        finally:
            if self.close_client:
                client.close()
        return None

    def _reconcile(self, client: DingTalkClient) -> ReconcileResult | None:
        r = Reconciler(
            self.db, client, self.settings, self.rules(), clock=self.clock, trigger="schedule"
        )
        try:
            result = reconcile_full(r, apply=True)
        except ReconcileOverBudget as exc:
            log.warning("scheduled reconcile: %s; reading incrementally instead", exc)
            try:
                result = reconcile_full(r, apply=True, incremental=True)
            except ReconcileOverBudget as again:
                log.warning("scheduled reconcile skipped: %s", again)
                return None
        log.info(
            "reconcile: accuracy %.2f%% over %d people, %d difference(s) queued for repair",
            result.comparison.accuracy_percent,
            result.comparison.compared,
            len(result.comparison.drift),
        )
        return result
