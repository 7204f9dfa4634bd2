"""The log as a channel: every notice, one line each, always delivered."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from scim_bridge.notify.message import FIRING, Delivery, Notice, Report

log = logging.getLogger("scim_bridge.alerts")


class LogChannel:
    """Write each notice to the ``scim_bridge.alerts`` log (error when firing, info resolved)."""

    name = "log"

    def send(self, notices: Sequence[Notice]) -> Delivery:
        """Log the notices."""
        for notice in notices:
            level = logging.ERROR if notice.status == FIRING else logging.INFO
            log.log(level, "ALERT %s (key %s)", notice.headline(), notice.key)
        return Delivery(True)

    def send_report(self, report: Report) -> Delivery:
        """Log the report's title."""
        log.info("REPORT %s", report.title)
        return Delivery(True)
