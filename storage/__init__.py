"""Persistence: sqlmodel models, the engine and sessions, queries, and Alembic migrations."""
