"""The durable task store: SQLAlchemy 2 (async) over SQLite or PostgreSQL, with alembic migrations."""
