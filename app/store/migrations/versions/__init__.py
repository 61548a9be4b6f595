"""One module per schema revision, oldest first (alembic loads them by path, not by import)."""
