"""Alembic environment of the key tables: see lapor_es.alembic_history.History.run_env."""

from lapor_es.key_migrations import HISTORY

HISTORY.run_env()
