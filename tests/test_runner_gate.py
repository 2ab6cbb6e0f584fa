"""The live loop's gate client against a real Aurora (``auroractl serve`` in a child process):
asked without blocking the asyncio loop, the client order id on the request, bounded by its
timeout and retries when Aurora stops answering, and no answer is never an allow."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from test_runner import PLATT, SYMBOL, _artifact

from aurora.api.process import ServerProcess
from aurora.config import Settings
from aurora.core.risk import Request
from aurora.events import read_events
from aurora.runner.gate import GATE_UNAVAILABLE, AsyncHttpGate, GateReply, GateRequest, LoopGate

TOKEN = "gate-test-token"


def aurora_home(root: Path) -> Path:
    """A working root for a real Aurora serving a fresh artifact."""
    (root / "configs").mkdir(parents=True)
    _artifact(root / "data" / "artifacts" / "current.json", PLATT, created_at=datetime.now(UTC).isoformat())
    return root


def decided(server: ServerProcess, cids: set[str], timeout_s: float = 30.0) -> dict[str, dict]:
    """Aurora's ``api.decision`` events by client order id, once those of ``cids`` are written
    (Aurora writes them in batches, off the request path)."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = {e["inputs"]["client_order_id"]: e for e in read_events(server.events_path)
               if e["event"] == "api.decision"}
        if cids <= out.keys() or time.monotonic() > deadline:
            return out
        time.sleep(0.02)


def _request(cid: str) -> GateRequest:
    check = Request(SYMBOL, "buy", 0.001, 60000.0, 1.0, 0.5, 1.0, 0.7, 3.0, "normal", 0.0)
    return GateRequest(check, cid, time.time())


def _gate_settings(settings: Settings, url: str) -> tuple[Settings, str]:
    s = settings.model_copy(update={
        "api_token": SecretStr(TOKEN),
        "http": settings.http.model_copy(update={"timeout_s": 0.5, "backoff_initial_s": 0.05}),
        "runner": settings.runner.model_copy(update={"gate_retries": 1, "aurora_url": url})})
    return s, url


def test_async_gate_never_blocks_the_loop_and_gives_no_allow_without_an_answer(settings: Settings,
                                                                             tmp_path: Path) -> None:
    with ServerProcess(aurora_home(tmp_path / "aurora"), {"AURORA_API_TOKEN": TOKEN}) as server:
        gs, url = _gate_settings(settings, server.url)

        async def go() -> tuple[GateReply, GateReply, GateReply, int, float, list[GateReply]]:
            gate = AsyncHttpGate(gs, url)
            first = await gate.check(_request("cid-answered"))
            server.signal(signal.SIGSTOP)  # Aurora frozen: connections open, nothing answers
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.create_task(ticker())
            t0 = time.monotonic()
            frozen = await gate.check(_request("cid-frozen"))
            waited = time.monotonic() - t0
            t.cancel()
            server.signal(signal.SIGCONT)
            back = await gate.check(_request("cid-back"))
            # through the loop bridge: the answer comes as a call handed to ``deliver``
            handed: list = []
            got: list[GateReply] = []
            loop_gate = LoopGate(gate, handed.append)
            loop_gate.ask(_request("cid-bridged"), got.append)
            await loop_gate.drain()
            for call in handed:
                call()
            await loop_gate.aclose()
            return first, frozen, back, ticks, waited, got

        first, frozen, back, ticks, waited, bridged = asyncio.run(go())
        decisions = decided(server, {"cid-answered", "cid-back", "cid-bridged"})
    assert first.decision_id and first.reasons is not None and first.error is None
    assert not frozen.allow and frozen.reasons == (GATE_UNAVAILABLE,) and "Timeout" in (frozen.error or "")
    # two attempts of 0.5 s and one pause of 0.05 s, while the loop ran on (a tick per 10 ms)
    assert 1.0 <= waited < 10.0
    assert ticks >= 10  # a blocking client would leave 0
    assert back.decision_id and back.error is None
    assert len(bridged) == 1 and bridged[0].decision_id
    # Aurora saw the client order id of every request it answered (the frozen one too, once thawed)
    assert {"cid-answered", "cid-back", "cid-bridged"} <= decisions.keys()
    assert decisions["cid-answered"]["decision_id"] == first.decision_id


def test_async_gate_without_aurora_denies_at_once(settings: Settings) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gs, url = _gate_settings(settings, f"http://127.0.0.1:{port}")

    async def go() -> GateReply:
        gate = AsyncHttpGate(gs, url)
        try:
            return await gate.check(_request("cid-refused"))
        finally:
            await gate.aclose()

    reply = asyncio.run(go())
    assert not reply.allow and reply.max_qty == 0.0 and reply.reasons == (GATE_UNAVAILABLE,)
    assert "ConnectError" in (reply.error or "")
