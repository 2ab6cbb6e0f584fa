"""The live source's recording rebuilds the runner's book: a session against the venue (with
websocket drops and depth gaps, so the book resyncs from REST snapshots) recorded by the runner's
source, imported with ``auroractl data import``'s importer, replayed: at every update id the
runner's book had, the imported book has the same top levels."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from test_exchange_venue import gateway_settings
from venue_support import running_venue, venue_settings

from aurora.config import Settings
from aurora.core.book import replay_depth
from aurora.events import event_log
from aurora.exchange import Gateway, GatewayError
from aurora.runner.live import GatewaySource
from aurora.runner.recorder import Recorder
from aurora.ticks.binance_ws import import_recordings
from aurora.ticks.store import TickStore
from aurora.venue import FaultInjector
from aurora.venue._faults import _MODELS
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"
LEVELS = 5


def test_recorded_session_imports_to_the_book_the_runner_saw(settings: Settings, tmp_path: Path) -> None:
    vs = venue_settings(settings)
    tape = synthetic_tape(SYM, 0.1, 5, vs.symbols[SYM].tick_size)
    injector = FaultInjector({"ws_disconnect": _MODELS["ws_disconnect"].model_validate({"rate": 0.003}),
                              "depth_gap": _MODELS["depth_gap"].model_validate({"rate": 0.05})}, 4)
    recorder = Recorder(tmp_path / "recordings", SYM)

    async def go() -> list[tuple[int, list, list]]:
        seen: list[tuple[int, list, list]] = []
        async with running_venue(vs, tape, speed=10.0, faults=injector) as (_, hostport):
            gs = gateway_settings(settings, hostport)
            events = event_log(gs, "runner")
            async with Gateway(gs, symbols=[SYM]) as gw:
                source = GatewaySource(gw, SYM, book_levels=LEVELS, retry_s=0.2, events=events,
                                       recorder=recorder)
                async with source.running() as queue:
                    end = time.monotonic() + 8.0
                    while time.monotonic() < end:
                        # the runner's book events carry no update id: read the same ccxt book with it
                        try:
                            b = await asyncio.wait_for(gw.watch_order_book(SYM, LEVELS), 1.0)
                        except (GatewayError, TimeoutError):
                            continue
                        seen.append((b.update_id, list(b.bids), list(b.asks)))
                        while not queue.empty():
                            queue.get_nowait()
            events.close()
        return seen

    seen = asyncio.run(go())
    recorder.close()
    assert injector.counts["depth_gap"] > 0 and injector.counts["ws_disconnect"] > 0, injector.counts
    store = TickStore(tmp_path / "ticks")
    report = import_recordings(sorted((tmp_path / "recordings").glob("*.jsonl")), store, "binance", SYM)
    # nothing the recorder wrote is bad input; the gaps are the injected ones (an id skipped, or the
    # diffs a dropped connection lost), each resynced from a snapshot after
    assert sum(f.skipped for f in report.files) == 0 and report.rows("depth") > 0
    faults = injector.counts["depth_gap"] + injector.counts["ws_disconnect"]
    assert 0 < sum(f.gaps for f in report.files) <= faults
    days = store.dates("depth", "binance", SYM)
    depth = store.read("depth", "binance", SYM, days[0], days[-1])
    assert pc.sum(depth.column("is_snapshot")).as_py() >= 2  # the book was resynced from snapshots
    tops = replay_depth(depth, LEVELS)
    seq, last = depth.column("seq").to_numpy(), depth.column("last_update_id").to_numpy()
    last_of = dict(zip(seq.tolist(), last.tolist(), strict=True))
    imported: dict[int, int] = {}  # update id -> index of the last in-sync message ending there
    for i, (s, ok) in enumerate(zip(tops["seq"].tolist(), tops["in_sync"].tolist(), strict=True)):
        if ok:
            imported[last_of[s]] = i
    matched = 0
    for u, bids, asks in seen:
        i = imported.get(u)
        if i is None:
            continue
        matched += 1
        for px, qty, levels in ((tops["bid_px"][i], tops["bid_qty"][i], bids),
                                (tops["ask_px"][i], tops["ask_qty"][i], asks)):
            n = len(levels)
            np.testing.assert_allclose(px[:n], [p for p, _ in levels], rtol=0, atol=1e-9, err_msg=str(u))
            np.testing.assert_allclose(qty[:n], [q for _, q in levels], rtol=0, atol=1e-12, err_msg=str(u))
    assert len(seen) > 20 and matched >= 0.95 * len(seen), (matched, len(seen))
