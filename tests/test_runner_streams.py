"""The live source's market streams through the real gateway against the venue: after a websocket
the venue drops, every stream delivers again at once (not after ``exchange.stream_retry_s``, and
never a stream that silently stops), and the time to the first event after each disconnect is
measured."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from test_exchange_venue import gateway_settings
from venue_support import running_venue, venue_settings

from aurora.config import Settings
from aurora.events import event_log, read_events
from aurora.exchange import Gateway
from aurora.runner.live import GatewaySource
from aurora.runner.source import BOOK, QUOTE, TRADE
from aurora.venue import FaultInjector
from aurora.venue._faults import _MODELS
from aurora.venue._market import synthetic_tape

SYM = "BTCUSDT"
FEED = {QUOTE: "bbo", TRADE: "trades", BOOK: "book"}
DISCONNECTS_AT_S = (1.5, 3.0, 4.5, 6.0)


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_streams_deliver_again_at_once_after_a_dropped_websocket(settings: Settings, tmp_path: Path) -> None:
    vs = venue_settings(settings)
    tape = synthetic_tape(SYM, 0.1, 5, vs.symbols[SYM].tick_size)
    injector = FaultInjector({"ws_disconnect": _MODELS["ws_disconnect"].model_validate(
        {"at_s": list(DISCONNECTS_AT_S)})}, 1)

    async def go() -> tuple[dict[str, list[float]], float]:
        async with running_venue(vs, tape, speed=10.0, faults=injector) as (_, hostport):
            gs = gateway_settings(settings, hostport)
            # the shipped retry pause of the private order stream (5 s): a market stream must not wait it
            gs = gs.model_copy(update={"exchange": gs.exchange.model_copy(update={"stream_retry_s": 5.0})})
            events = event_log(gs, "runner")
            seen: dict[str, list[float]] = {name: [] for name in FEED.values()}
            async with Gateway(gs, symbols=[SYM]) as gw:
                source = GatewaySource(gw, SYM, book_levels=5, retry_s=gs.exchange.stream_retry_s,
                                       events=events)
                async with source.running() as queue:
                    # until every feed has delivered after the last drop (a readiness signal, not a
                    # clock: a loaded machine takes longer), at most 30 s
                    end = time.monotonic() + 30.0
                    last_drop: float | None = None
                    while (left := end - time.monotonic()) > 0:
                        try:
                            ev = await asyncio.wait_for(queue.get(), left)
                        except TimeoutError:
                            break
                        assert ev[0] in FEED, ev  # a dead stream would come as a CALL that raises
                        seen[FEED[ev[0]]].append(ev[1] / 1e9)
                        if last_drop is None and sum(injector.counts.values()) == len(DISCONNECTS_AT_S):
                            last_drop = time.time()
                        if last_drop is not None and all(v and v[-1] > last_drop for v in seen.values()):
                            break
            events.close()
            return seen, time.time()

    seen, ended = asyncio.run(go())
    errors = [e for e in read_events(settings.path(settings.logging.dir) / "aurora_events.jsonl")
              if e["event"] == "runner.stream_error"]
    assert sum(injector.counts.values()) == len(DISCONNECTS_AT_S)
    assert errors and all(e["retry_in_s"] == 0.0 for e in errors)  # one failure each: asked again at once
    gaps = []
    for e in errors:
        t = _wall(e["ts"])
        after = [x for x in seen[e["feed"]] if x > t]
        assert after, f"{e['feed']} never delivered again after its websocket dropped at {e['ts']}"
        gaps.append(after[0] - t)
    # the stream comes back within one dial (ms on loopback), far under the 5 s retry pause; the
    # bound leaves room for a loaded machine
    assert max(gaps) < 2.0, gaps
    for feed in ("bbo", "book"):  # frequent feeds: still flowing at the end
        assert seen[feed] and ended - seen[feed][-1] < 2.0, feed
    print(f"time to first event after a dropped websocket: max {max(gaps) * 1e3:.1f} ms over {len(gaps)}")
