"""Durable risk state: one SQLite file in WAL mode (``settings.api.state_db``).

The whole :class:`~aurora.core.risk.RiskState` is one JSON row, replaced in the same
transaction that records a post-trade key, so a report is either fully applied or not at all.
``synchronous=FULL`` makes every commit durable before the API answers: a ``kill -9`` (or a
power loss) after a response never forgets the drawdown breach, cool-off or kill switch it
reported. Post-trade idempotency is the primary key ``(client_order_id, status)``; each key keeps
its report's canonical JSON payload, so a different report under the same key is recognised
(databases from before the ``payload`` column get it added, empty for their old rows).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from pathlib import Path

import orjson

from aurora.core.risk import RiskState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_state (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posttrade_keys (
    client_order_id TEXT NOT NULL, status TEXT NOT NULL, logged_at REAL NOT NULL,
    payload BLOB NOT NULL DEFAULT x'', PRIMARY KEY (client_order_id, status));
"""


class StateStoreError(RuntimeError):
    """The state database cannot be opened, read or written."""


def _encode(state: RiskState) -> str:
    return orjson.dumps(asdict(state)).decode()


def _decode(doc: str) -> RiskState:
    data = orjson.loads(doc)
    data["returns_bps"] = tuple(data["returns_bps"])
    return RiskState(**data)


class StateStore:
    """The risk state and the post-trade keys, one connection used from the event-loop thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=2000")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(posttrade_keys)")}
            if "payload" not in columns:
                self._db.execute("ALTER TABLE posttrade_keys ADD COLUMN payload BLOB NOT NULL DEFAULT x''")
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"cannot open the state database {self.path}: {exc}") from exc

    def load(self) -> RiskState | None:
        """The stored state, or None for a fresh database."""
        row = self._db.execute("SELECT doc FROM risk_state WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            return _decode(row[0])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateStoreError(f"the risk state in {self.path} is unreadable: {exc}") from exc

    def save(self, state: RiskState) -> None:
        """Replace the state (one durable transaction)."""
        try:
            with self._tx():
                self._put(state)
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot write the risk state to {self.path}: {exc}") from exc

    def logged_payload(self, client_order_id: str, status: str) -> bytes | None:
        """The payload logged under this key (empty for a row older than payloads), or None."""
        try:
            row = self._db.execute("SELECT payload FROM posttrade_keys WHERE client_order_id = ? "
                                   "AND status = ?", (client_order_id, status)).fetchone()
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot read the post-trade keys in {self.path}: {exc}") from exc
        return None if row is None else bytes(row[0])

    def log_posttrade(self, client_order_id: str, status: str, now_s: float, state: RiskState,
                      payload: bytes) -> bool:
        """Record the key, its payload and the new state atomically; False (nothing written) if
        the key is already logged."""
        try:
            with self._tx():
                self._db.execute("INSERT INTO posttrade_keys VALUES (?, ?, ?, ?)",
                                 (client_order_id, status, now_s, payload))
                self._put(state)
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot record the post-trade report in {self.path}: {exc}") from exc
        return True

    def writable(self) -> bool:
        """True when the write lock can be taken (the database is writable right now)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        self._db.close()

    def _put(self, state: RiskState) -> None:
        self._db.execute("INSERT OR REPLACE INTO risk_state (id, doc) VALUES (1, ?)", (_encode(state),))

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (sqlite3's own context manager
    does not begin a transaction in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
