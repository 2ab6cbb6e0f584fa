"""The durable risk-state store: WAL SQLite, atomic post-trade application, idempotency."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from aurora.api.store import StateStore, StateStoreError
from aurora.core import risk


def test_state_round_trips_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "state" / "aurora.sqlite"
    store = StateStore(db)
    assert store.load() is None
    state = replace(risk.initial_state(1000.0, 1.7e9, 0), returns_bps=(1.5, -2.0), cvar_bps=-2.0,
                    exposure={"BTCUSDT": 12.5}, kill_switch=True, kill_reason="ops", dd_breached=True)
    store.save(state)
    store.close()
    again = StateStore(db)
    assert again.load() == state
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.writable()


def test_posttrade_key_is_recorded_with_the_state_exactly_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    s0 = risk.initial_state(1000.0, 1.7e9, 0)
    s1 = replace(s0, equity=990.0)
    assert store.log_posttrade("o-1", "closed", 1.7e9, s1, b'{"qty":1}') is True
    assert store.logged_payload("o-1", "closed") == b'{"qty":1}'
    assert store.logged_payload("o-1", "filled") is None
    assert store.log_posttrade("o-1", "closed", 1.7e9, replace(s0, equity=1.0), b'{"qty":2}') is False
    assert store.load() == s1 and store.logged_payload("o-1", "closed") == b'{"qty":1}'  # nothing changed


def test_a_database_from_before_payloads_gets_the_column(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE posttrade_keys (client_order_id TEXT NOT NULL, status TEXT NOT NULL, "
                "logged_at REAL NOT NULL, PRIMARY KEY (client_order_id, status))")
    con.execute("INSERT INTO posttrade_keys VALUES ('o-1', 'closed', 1.7e9)")
    con.commit()
    con.close()
    store = StateStore(db)
    assert store.logged_payload("o-1", "closed") == b""  # logged, payload unknown
    assert store.log_posttrade("o-2", "closed", 1.7e9, risk.initial_state(1.0, 1.7e9, 0), b"{}") is True


def test_unreadable_state_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    StateStore(db).save(risk.initial_state(1000.0, 1.7e9, 0))
    con = sqlite3.connect(db)
    con.execute("UPDATE risk_state SET doc = '{\"equity\": 1}'")
    con.commit()
    with pytest.raises(StateStoreError, match="unreadable"):
        StateStore(db).load()
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StateStoreError, match="cannot open"):
        StateStore(tmp_path / "dir.sqlite")
