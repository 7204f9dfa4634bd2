"""Fixtures of the SLA tests: the SLA tables emptied between PostgreSQL tests, literal buckets."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

#: The tables of migration 0011 (tests/conftest.py empties the older ones).
SLA_TABLES = (
    "availability_minutes",
    "availability_failures",
    "availability_flushes",
    "incidents",
    "maintenance_windows",
    "sync_lag_minutes",
)


@pytest.fixture(autouse=True)
def _empty_sla_tables(db_url: str) -> None:
    """PostgreSQL tests share one database per session: start each from empty SLA tables."""
    if not db_url.startswith("postgresql"):
        return
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(SLA_TABLES)} RESTART IDENTITY"))
    engine.dispose()
