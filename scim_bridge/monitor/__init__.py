"""Metrics, SLA roll-ups, alerts and the audit log."""
