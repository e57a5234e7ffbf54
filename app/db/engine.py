"""Engine and session factory for SQLite (embedded) and PostgreSQL (at scale).

SQLite gets WAL mode (readers never block the writer) and a busy timeout (a writer waits
for the lock instead of failing at once). pysqlite's own implicit BEGIN is switched off
and the `begin` event emits it instead, so a session can ask for `BEGIN IMMEDIATE`: the
job queue's atomic claim on SQLite takes the write lock before it reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url_or_engine: str | Engine) -> bool:
    """True when the URL (or engine) points at SQLite."""
    name = url_or_engine.dialect.name if isinstance(url_or_engine, Engine) else str(url_or_engine)
    return name.startswith("sqlite")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's `begin` event own the transaction start (SQLAlchemy docs,
        # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints only
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


class Database:
    """An engine plus the session factories the service uses.

    `session()` gives an ordinary session; `session(immediate=True)` one whose
    transactions take SQLite's write lock at BEGIN (a no-op difference on PostgreSQL,
    where claims lock rows with FOR UPDATE SKIP LOCKED instead).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        if is_sqlite(url):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if is_sqlite(url):
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        immediate = self.engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(url) else self.engine
        self._immediate_sessions = sessionmaker(immediate, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    def session(self, *, immediate: bool = False) -> Session:
        """A new session; the caller opens `with session.begin():`."""
        return (self._immediate_sessions if immediate else self._sessions)()

    @contextmanager
    def transaction(self, *, immediate: bool = True) -> Iterator[Session]:
        """`with db.transaction() as session:` — one session, one transaction, committed on exit.

        Immediate by default: on SQLite a deferred transaction that reads and then writes
        fails at once with "database is locked" when another writer committed in between
        (the busy timeout does not apply to that upgrade), so anything that may write takes
        the lock up front. Pass immediate=False for read-only work.
        """
        with self.session(immediate=immediate) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
