"""Alembic migrations of the task store, run by `app.store.migrate` when a store connects."""
