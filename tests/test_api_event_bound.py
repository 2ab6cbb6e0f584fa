"""What a ``kill -9`` under load may lose of the decision events (contract: aurora.api.eventwriter).

The bound: no request is acknowledged while an event queued ``api.decision_event_flush_s`` or
more before it is unwritten. Seen from the client (one monotonic clock on this machine): every
acknowledged decision missing from the log after the kill was acknowledged less than
``flush_s`` before the latest send of any acknowledged request. No timing is assumed; the
load is bounded (a few seconds, a few thousand requests on loopback).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from aurora.api.process import ServerProcess
from aurora.events import read_events
from tests.test_api import AUTH, PRETRADE, TOKEN, make_home

FLUSH_S = 0.005  # the default api.decision_event_flush_s
CLIENTS = 4
MAX_ACKED = 4000
MAX_LOAD_S = 4.0


@pytest.mark.slow
def test_sigkill_under_load_loses_only_the_last_flush_interval(tmp_path: Path) -> None:
    env = {"AURORA_API_TOKEN": TOKEN, "AURORA_API__DECISION_EVENT_FLUSH_S": str(FLUSH_S)}
    acked: list[tuple[float, float, str]] = []  # (sent, acknowledged, decision_id), monotonic s
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=5.0) as c:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = c.post("/pretrade/check", json=PRETRADE, headers=AUTH)
                except httpx.TransportError:
                    return
                acked.append((sent, time.monotonic(), r.json()["decision_id"]))

    with ServerProcess(make_home(tmp_path / "home"), env) as srv:
        threads = [threading.Thread(target=load, args=(srv.url,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + MAX_LOAD_S
        while len(acked) < MAX_ACKED and time.monotonic() < deadline:
            time.sleep(0.01)  # pacing the load, not a handshake: the kill may come at any moment
        killed_at = time.monotonic()
        srv.kill()
        stop.set()
        for t in threads:
            t.join(10)
    done = list(acked)
    written = {r["decision_id"] for r in read_events(srv.events_path) if r["event"] == "api.decision"}
    lost = [(ack, did) for _, ack, did in done if did not in written]
    last_send = max(sent for sent, _, _ in done)
    assert len(done) >= 100, f"too little load to mean anything: {len(done)} acknowledged"
    late = [(round((last_send - ack) * 1e3, 2), did) for ack, did in lost if ack <= last_send - FLUSH_S]
    assert not late, f"acknowledged more than {FLUSH_S * 1e3} ms before the last send and lost: {late[:5]}"
    print(f"{len(done)} acknowledged, {len(lost)} lost, oldest lost acknowledged "
          f"{max((killed_at - ack for ack, _ in lost), default=0.0) * 1e3:.1f} ms before the kill")
