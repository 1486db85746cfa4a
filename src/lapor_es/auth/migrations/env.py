"""Alembic environment of the auth tables: see lapor_es.alembic_history.History.run_env."""

from lapor_es.auth.migrations import HISTORY

HISTORY.run_env()
