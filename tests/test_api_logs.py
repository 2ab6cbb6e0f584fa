"""uvicorn's own log records go through aurora.events (DESIGN.md §8), never as plain text."""

from __future__ import annotations

import json
import logging
import logging.config
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aurora.api.logs import uvicorn_log_config
from aurora.api.process import ServerProcess
from aurora.events import EventLog, read_events
from aurora.testing import write_artifact


def _uvicorn_events(server: ServerProcess, expect: int = 1) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in read_events(server.events_path) if r["event"].startswith("uvicorn.")]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _json_lines_only(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_server_logs_are_events_and_stderr_stays_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "v1")
    with ServerProcess(home, {"AURORA_API_TOKEN": "t"}) as srv:
        assert httpx.get(f"{srv.url}/health/live").status_code == 200
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        warnings = [r for r in _uvicorn_events(srv, 4) if r["event"] == "uvicorn.warning"]
    assert [w["message"] for w in warnings] == ["Invalid HTTP request received."]
    assert warnings[0]["logger"] == "uvicorn.error" and warnings[0]["service"] == "aurora-api"
    messages = [r["message"] for r in _uvicorn_events(srv) if r["event"] == "uvicorn.info"]
    assert "Application startup complete." in messages and "Application shutdown complete." in messages
    # no access log by default, and nothing but JSON (here: nothing) on stderr
    assert not any(r["logger"] == "uvicorn.access" for r in _uvicorn_events(srv))
    assert _json_lines_only(srv.stderr()) == []


def test_access_log_is_an_option(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_artifact(home / "data" / "artifacts" / "current.json", "v1")
    with ServerProcess(home, {"AURORA_API_TOKEN": "t", "AURORA_API__ACCESS_LOG": "true"}) as srv:
        httpx.get(f"{srv.url}/health/live")
        access = [r for r in _uvicorn_events(srv, 4) if r["logger"] == "uvicorn.access"]
    assert len(access) == 1 and "GET /health/live HTTP/1.1" in access[0]["message"]
    assert access[0]["event"] == "uvicorn.info"


@pytest.fixture
def uvicorn_loggers(tmp_path: Path) -> Iterator[EventLog]:
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    events = EventLog("aurora-api", tmp_path / "logs")
    logging.config.dictConfig(uvicorn_log_config(events))
    yield events
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def test_errors_carry_the_traceback_and_are_also_json_on_stderr(
        uvicorn_loggers: EventLog, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    records = list(read_events(uvicorn_loggers.log_dir / "aurora_events.jsonl"))
    assert [r["event"] for r in records] == ["uvicorn.error", "uvicorn.info"]
    assert records[0]["message"] == "Exception in ASGI application"
    assert "RuntimeError: boom" in records[0]["exc"]
    assert records[1]["message"] == "Started server process [42]"
    # errors only, as the same JSON line
    assert _json_lines_only(capsys.readouterr().err) == [records[0]]
