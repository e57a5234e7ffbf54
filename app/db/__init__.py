"""Database access: the engine, the session factory and the migrations entry point.

Nothing here runs at import time; `Database(url)` is built by the entry point from the
Settings and passed down.
"""

from app.db.engine import Database, is_sqlite
from app.db.migrate import downgrade, upgrade

__all__ = ["Database", "downgrade", "is_sqlite", "upgrade"]
