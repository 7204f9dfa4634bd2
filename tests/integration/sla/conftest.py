"""Fixtures of the SLA tests live in sla_support.py and tests/conftest.py (which empties the
SLA tables of migration 0011 between PostgreSQL tests, with the others)."""
