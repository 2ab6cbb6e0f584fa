"""Binance websocket recordings: parsing the real shared files, bad input, idempotent import."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_WS
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.events import EventLog, read_events
from aurora.ticks.binance_ws import RecordingError, import_recordings, parse_recording
from aurora.ticks.store import StoreError, TickStore

FIX = Path(__file__).resolve().parent / "fixtures" / "binance_ws"
HEAD_0808 = FIX / "btcusdt_20240808_head.gz"
HEAD_0809 = FIX / "btcusdt_20240809_head.gz"
SHARED = SHARED_WS
FULL_0808 = SHARED / "btcusdt_20240808.gz"


def raw_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return fh.read().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def files_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fixture_counts_sides_clocks_and_snapshot() -> None:
    lines = raw_lines(HEAD_0808)
    msgs = [json.loads(ln.split(" ", 1)[1]) for ln in lines]
    kinds = [m["stream"].split("@", 1)[1] if "stream" in m else "snapshot" for m in msgs]
    rec = parse_recording(HEAD_0808, "BTCUSDT")
    assert rec.stats.skipped == 0 and not rec.gaps and rec.stats.messages == len(lines)
    assert rec.stats.per_stream == {"trade": kinds.count("trade"), "bookTicker": kinds.count("bookTicker"),
                                    "depth": kinds.count("depth@100ms"), "snapshot": 1}
    trades = rec.tables["trades"].to_pandas()
    raw_trades = [m["data"] for m in msgs if m.get("stream", "").endswith("@trade")]
    assert trades.trade_id.tolist() == [d["t"] for d in raw_trades]
    assert trades.side.tolist() == [-1 if d["m"] else 1 for d in raw_trades]   # m=True: taker sold
    assert (trades.exch_ns.to_numpy() == np.array([d["T"] for d in raw_trades]) * 1_000_000).all()
    bbo = rec.tables["bbo"]
    assert bbo.column("exch_ns").null_count == bbo.num_rows > 0   # spot bookTicker has no time
    depth = rec.tables["depth"].to_pandas()
    snap_line = next(i for i, m in enumerate(msgs) if "lastUpdateId" in m)
    snap = msgs[snap_line]
    rows = depth[depth.is_snapshot]
    assert len(rows) == len(snap["bids"]) + len(snap["asks"])
    assert (rows.last_update_id == snap["lastUpdateId"]).all()
    assert (rows.ts_ns == int(lines[snap_line].split(" ", 1)[0])).all()
    assert (rows.side == 1).sum() == len(snap["bids"])
    # seq is one arrival counter over all tables, in file order
    seqs = np.sort(np.concatenate([rec.tables[t].column("seq").to_numpy() for t in ("trades", "bbo")]
                                  + [np.unique(depth.seq)]))
    assert (seqs == np.arange(len(lines))).all()


@pytest.mark.parametrize(("unit", "div"), [("us", 1_000), ("ms", 1_000_000)])
def test_microsecond_and_millisecond_receive_clocks_are_detected_and_converted(
        tmp_path: Path, unit: str, div: int) -> None:
    """``<recv_ts_us> <json>`` (older open-source collectors) imported as ns would land in 1970."""
    lines = raw_lines(HEAD_0808)[:400]
    coarse = [f"{int(ln.split(' ', 1)[0]) // div} {ln.split(' ', 1)[1]}" for ln in lines]
    path = write_lines(tmp_path / f"rec_{unit}.txt", coarse)
    ref = parse_recording(HEAD_0808, "BTCUSDT")
    rec = parse_recording(path, "BTCUSDT")
    assert rec.ts_unit == unit
    want = ref.tables["trades"].column("ts_ns").to_numpy()[: rec.tables["trades"].num_rows] // div * div
    assert (rec.tables["trades"].column("ts_ns").to_numpy() == want).all()
    # bookTicker-only spot files carry no exchange time: the epoch range decides
    tickers = [ln for ln in coarse if "@bookTicker" in ln]
    assert parse_recording(tickers, "BTCUSDT").ts_unit == unit
    # forced to ns, the store refuses the 1970 date and names file and line; nothing is written
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(StoreError, match=rf"rec_{unit}\.txt:4: receive time .* is dated 1970-01-"):
        import_recordings([path], store, "binance", "BTCUSDT", ts_unit="ns")
    assert not store.root.exists()
    rep = import_recordings([path], store, "binance", "BTCUSDT")
    assert rep.files[0].ts_unit == unit and store.dates("trades", "binance", "BTCUSDT") == [date(2024, 8, 8)]


def test_receive_clock_that_matches_no_unit_is_an_error(tmp_path: Path) -> None:
    lines = raw_lines(HEAD_0808)[:50]
    # seconds: no unit puts it near the messages' exchange times
    path = write_lines(tmp_path / "secs.txt", [f"{int(ln.split(' ', 1)[0]) // 10**9} {ln.split(' ', 1)[1]}"
                                              for ln in lines])
    with pytest.raises(RecordingError, match=r"secs\.txt: the receive clock matches .* in no unit"):
        parse_recording(path, "BTCUSDT")


@pytest.mark.slow
def test_full_shared_recording_parses_without_gaps() -> None:
    if not FULL_0808.is_file():
        pytest.skip("shared recordings not present")
    rec = parse_recording(FULL_0808, "BTCUSDT", on_bad_input="error")
    assert rec.stats.per_stream == {"depth": 3451, "bookTicker": 28040, "trade": 9757, "snapshot": 1}
    assert not rec.gaps and rec.stats.skipped == 0
    ids = rec.tables["trades"].column("trade_id").to_numpy()
    assert (np.diff(ids) == 1).all()


def test_two_days_land_in_two_partitions_and_reimport_is_idempotent(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks")
    rep = import_recordings([HEAD_0808, HEAD_0809], store, "binance", "BTCUSDT")
    for table in ("trades", "bbo", "depth"):
        assert store.dates(table, "binance", "BTCUSDT") == [date(2024, 8, 8), date(2024, 8, 9)]
        assert rep.written(table) == rep.rows(table) > 0
    before = files_state(tmp_path)
    again = import_recordings([HEAD_0809, HEAD_0808], store, "binance", "BTCUSDT")
    assert all(again.written(t) == 0 for t in ("trades", "bbo", "depth"))
    assert files_state(tmp_path) == before
    got = store.read("bbo", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 9))
    assert got.num_rows == rep.rows("bbo")


def _inject(tmp_path: Path, name: str, edit) -> Path:
    lines = raw_lines(HEAD_0808)[:400]
    edit(lines)
    return write_lines(tmp_path / name, lines)


def _depth_idx(lines: list[str]) -> list[int]:
    return [i for i, ln in enumerate(lines) if "@depth" in ln]


BAD_CASES = {
    "malformed_json": (lambda ls: ls.__setitem__(50, ls[50][:-20]), "malformed JSON", 51),
    "no_timestamp": (lambda ls: ls.__setitem__(60, "abc " + ls[60].split(" ", 1)[1]), "malformed line", 61),
    "unknown_stream": (lambda ls: ls.__setitem__(70, ls[70].replace("@bookTicker", "@kline_1m")),
                       "unknown stream", 71),
    "wrong_symbol": (lambda ls: ls.__setitem__(80, ls[80].replace("btcusdt@", "ethusdt@")),
                     "wrong symbol", 81),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_line_is_skipped_with_an_event_or_is_an_error(tmp_path: Path, case: str) -> None:
    edit, reason, lineno = BAD_CASES[case]
    path = _inject(tmp_path, f"{case}.txt", edit)
    rec = parse_recording(path, "BTCUSDT")
    assert rec.stats.skipped == 1 and rec.stats.messages == 399
    assert rec.skips[0].line == lineno and rec.skips[0].reason.startswith(reason)

    store = TickStore(tmp_path / "ticks")
    events = EventLog("test", tmp_path / "logs")
    import_recordings([path], store, "binance", "BTCUSDT", "skip", events)
    log = tmp_path / "logs" / "aurora_events.jsonl"
    skips = [e for e in read_events(log) if e["event"] == "data.import.skip"]
    assert [(e["line"], e["reason"].split(":")[0]) for e in skips] == [(lineno, reason)]

    before = files_state(tmp_path / "ticks")
    with pytest.raises(RecordingError, match=rf"{case}.txt:{lineno}: {reason}"):
        import_recordings([path], store, "binance", "BTCUSDT", "error", events)
    assert files_state(tmp_path / "ticks") == before


def test_depth_out_of_order_is_skipped_and_gap_is_reported(tmp_path: Path) -> None:
    lines = raw_lines(HEAD_0808)[:400]
    d = _depth_idx(lines)
    swapped = list(lines)
    swapped[d[5]], swapped[d[6]] = lines[d[6]], lines[d[5]]      # u goes backwards at d[6]
    rec = parse_recording(swapped, "BTCUSDT")
    assert rec.skips and rec.skips[0].line == d[6] + 1 and rec.skips[0].reason.startswith("out-of-order")
    assert len(rec.gaps) == 1   # d[6] (now at d[5]) jumped over d[5]
    with pytest.raises(RecordingError, match=rf"<lines>:{d[5] + 1}: depth sequence gap"):
        parse_recording(swapped, "BTCUSDT", on_bad_input="error")

    dropped = [ln for i, ln in enumerate(lines) if i != d[7]]   # a missing diff: a gap, rows kept
    rec = parse_recording(dropped, "BTCUSDT")
    assert rec.stats.skipped == 0 and len(rec.gaps) == 1
    gap = rec.gaps[0]
    assert gap.line == d[8] and gap.first_u > gap.prev_u + 1


def test_truncated_gzip_keeps_what_was_read_or_errors(tmp_path: Path) -> None:
    data = HEAD_0808.read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    rec = parse_recording(cut, "BTCUSDT")
    assert rec.stats.truncated and rec.stats.skip_reasons["truncated input"] == 1
    assert 0 < rec.stats.messages < 3000
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(RecordingError, match=r"cut.gz:\d+: truncated input"):
        import_recordings([cut], store, "binance", "BTCUSDT", "error")
    assert not (tmp_path / "ticks").exists()
    rep = import_recordings([cut], store, "binance", "BTCUSDT", "skip")
    assert rep.files[0].truncated and rep.written("bbo") == rec.tables["bbo"].num_rows
    full = import_recordings([HEAD_0808], store, "binance", "BTCUSDT", "skip")   # completes, no dups
    assert full.written("bbo") + rep.written("bbo") == full.rows("bbo")


def test_futures_variants_and_aggtrade(tmp_path: Path) -> None:
    ts = 1723161600000000000
    def line(i, obj):
        return f"{ts + i} {json.dumps(obj)}"
    bt = {"e": "bookTicker", "u": 10, "s": "BTCUSDT", "b": "60000.1", "B": "1.5", "a": "60000.2", "A": "2.5",
          "T": 1723161598999, "E": 1723161599000}

    def diff(first, last, pu, bids, asks):
        return {"e": "depthUpdate", "E": 1723161599001, "s": "BTCUSDT", "U": first, "u": last, "pu": pu,
                "b": bids, "a": asks}

    def agg(a, m):
        return {"e": "aggTrade", "E": 1723161599300 + a, "s": "BTCUSDT", "a": a, "p": "60000.2", "q": "0.1",
                "f": 100 + a, "l": 100 + a, "T": 1723161599299 + a, "m": m}

    lines = [
        line(0, {"stream": "btcusdt@bookTicker", "data": bt}),
        line(1, {"stream": "btcusdt@depth@100ms", "data": diff(11, 15, 9, [["60000.1", "1.5"]], [])}),
        line(2, {"stream": "btcusdt@depth@100ms", "data": diff(20, 25, 15, [], [["60000.2", "0"]])}),
        line(3, {"stream": "btcusdt@depth@100ms", "data": diff(30, 35, 27, [], [["60000.3", "1"]])}),
        line(4, {"stream": "btcusdt@aggTrade", "data": agg(77, False)}),
        line(5, {"stream": "btcusdt@aggTrade", "data": agg(78, True)}),
    ]
    rec = parse_recording(lines, "BTCUSDT", exchange="binance-usdm")
    bbo = rec.tables["bbo"].to_pylist()[0]
    assert bbo["exch_ns"] == 1723161598999 * 1_000_000 and bbo["update_id"] == 10
    assert [(g.prev_u, g.prev_field) for g in rec.gaps] == [(25, 27)]   # pu 27 != previous u 25
    trades = rec.tables["trades"].to_pylist()
    assert [(t["trade_id"], t["side"]) for t in trades] == [(77, 1), (78, -1)]
    # with both streams, @trade wins and aggTrade rows are dropped (they are the same fills)
    both = [*lines, line(6, {"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 5,
                                                                 "p": "1", "q": "1", "T": 1, "m": True}})]
    rec = parse_recording(both, "BTCUSDT", exchange="binance-usdm")
    assert rec.tables["trades"].column("trade_id").to_pylist() == [5] and rec.stats.aggtrades_dropped == 2


def test_file_of_another_symbol_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    """A BTCUSDT recording imported as ETHUSDT used to store the symbol-less REST snapshot as
    ETHUSDT depth, exit 0. Now the file is refused whatever on_bad_input says."""
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(RecordingError, match=r"streams are for BTCUSDT \(\d+ messages\), not ETHUSDT; "
                                             r"nothing imported\. Use --symbol BTCUSDT"):
        import_recordings([HEAD_0808], store, "binance", "ETHUSDT", "skip")
    with pytest.raises(RecordingError, match=r"head\.gz:1: wrong symbol: stream btcusdt@depth@100ms is not "
                                             r"ETHUSDT"):
        import_recordings([HEAD_0808], store, "binance", "ETHUSDT", "error")
    assert not store.root.exists()


def test_snapshot_of_a_mixed_file_belongs_to_the_symbol_whose_diffs_straddle_it(tmp_path: Path) -> None:
    btc = raw_lines(HEAD_0808)[:300]
    eth = raw_lines(SHARED / "ethusdt_20240808.gz")[:300] if SHARED.is_dir() else None
    if eth is None:
        pytest.skip("shared recordings not present")
    # interleave by receive time, as one combined-stream connection would
    mixed = [ln for _, ln in sorted((int(ln.split(" ", 1)[0]), ln) for ln in btc + eth)]
    path = write_lines(tmp_path / "mixed.txt", mixed)
    for symbol, own in (("BTCUSDT", btc), ("ETHUSDT", eth)):
        rec = parse_recording(path, symbol)
        snap = next(json.loads(ln.split(" ", 1)[1]) for ln in own if "lastUpdateId" in ln)
        depth = rec.tables["depth"].to_pandas()
        assert set(depth[depth.is_snapshot].last_update_id) == {snap["lastUpdateId"]}
        foreign = [s for s in rec.skips if "REST snapshot" in s.reason]
        assert len(foreign) == 1 and foreign[0].reason.startswith("wrong symbol")
        alone = parse_recording(own, symbol)
        assert rec.tables["depth"].drop(["seq"]).equals(alone.tables["depth"].drop(["seq"]))


@pytest.mark.parametrize(("edit", "evidence"), [
    (lambda d: d.update(pu=d["U"] - 1) if d.get("e") == "depthUpdate" else None, "depth diffs carry pu"),
    (lambda d: d.update(T=1723075200000, E=1723075200001) if "b" in d and "U" not in d else None,
     "bookTicker carries T/E"),
    (lambda d: d.update(X="MARKET") if d.get("e") == "trade" else None, "trades carry an execution type X"),
])
def test_futures_recording_imported_as_spot_is_refused(tmp_path: Path, edit, evidence: str) -> None:
    out = []
    for ln in raw_lines(HEAD_0808)[:200]:
        ts, payload = ln.split(" ", 1)
        msg = json.loads(payload)
        if "data" in msg:
            edit(msg["data"])
        out.append(f"{ts} {json.dumps(msg)}")
    path = write_lines(tmp_path / "fut.txt", out)
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(RecordingError, match=rf"fut\.txt:\d+: a Binance futures recording \({evidence}.*"
                                             r"use --exchange binance-usdm"):
        import_recordings([path], store, "binance", "BTCUSDT")
    assert not store.root.exists()
    assert import_recordings([path], store, "binance-usdm", "BTCUSDT").messages == 200


def test_file_from_which_nothing_is_imported_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "foreign.csv", [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        "binance,BTCUSDT,1723075200000000,1723075200001000,1,buy,1,1"])
    with pytest.raises(RecordingError, match=r"foreign\.csv: nothing imported: 2 line\(s\), 2 skipped "
                                             r"\(malformed line 2\)"):
        import_recordings([path], TickStore(tmp_path / "ticks"), "binance", "BTCUSDT")


def test_non_market_futures_trades_are_counted_not_stored() -> None:
    """``X`` = INSURANCE_FUND / ADL / NA are not taker flow (a real liquidation print sat 2 % outside
    the book and moved tfi): not stored, counted per X, and not bad input even under "error"."""
    def trade(t, x, price="56962.10"):
        return (f"1723161255{t:09d} " + json.dumps({"stream": "btcusdt@trade", "data": {
            "e": "trade", "E": 1723161256303 + t, "T": 1723161256302 + t, "s": "BTCUSDT", "t": 5163985000 + t,
            "p": price, "q": "0.010", "X": x, "m": t % 2 == 0}}))
    lines = [trade(1, "MARKET"), trade(2, "INSURANCE_FUND", "55800.00"), trade(3, "MARKET"), trade(4, "ADL"),
             trade(5, "NA"), trade(6, "MARKET")]
    rec = parse_recording(lines, "BTCUSDT", exchange="binance-usdm", on_bad_input="error")
    assert rec.tables["trades"].column("trade_id").to_pylist() == [5163985001, 5163985003, 5163985006]
    assert rec.stats.non_market == {"INSURANCE_FUND": 1, "ADL": 1, "NA": 1} and rec.stats.skipped == 0
    assert rec.stats.as_dict()["non_market"] == {"INSURANCE_FUND": 1, "ADL": 1, "NA": 1}


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_corruption_is_counted_never_crashes(data) -> None:
    lines = [ln.encode() for ln in raw_lines(HEAD_0808)[:150]]
    picked = data.draw(st.sets(st.integers(0, len(lines) - 1), max_size=10))
    for i in picked:
        how = data.draw(st.sampled_from(["truncate", "garbage", "bitflip"]))
        if how == "truncate":
            lines[i] = lines[i][: data.draw(st.integers(1, len(lines[i]) - 2))]
        elif how == "garbage":
            lines[i] = data.draw(st.binary(min_size=1, max_size=40)).replace(b"\n", b"x").strip() or b"x"
        else:
            pos = data.draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:pos] + bytes([lines[i][pos] ^ 0x55]) + lines[i][pos + 1:]
    rec = parse_recording(lines, "BTCUSDT")
    assert rec.stats.messages + rec.stats.skipped == rec.stats.lines == len(lines)
    # (a flipped id can also make the next, intact line out-of-order, so skips may exceed picks)
    known = ("malformed", "unknown", "wrong symbol", "out-of-order")
    assert all(s.reason.startswith(known) for s in rec.skips)
    if not picked:
        assert rec.stats.skipped == 0 and not rec.gaps


def test_chunked_buffering_gives_identical_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    import aurora.ticks.binance_ws as ws

    whole = parse_recording(HEAD_0808, "BTCUSDT")
    monkeypatch.setattr(ws, "CHUNK_MESSAGES", 97)
    chunked = parse_recording(HEAD_0808, "BTCUSDT")
    for name, table in whole.tables.items():
        assert table.num_rows and chunked.tables[name].equals(table)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e999"])
def test_a_price_or_quantity_that_is_not_finite_makes_the_line_bad(tmp_path, fast, value):
    path = tmp_path / "btcusdt_20240101.gz"
    lines = [{"stream": "btcusdt@bookTicker",
              "data": {"u": 1, "s": "BTCUSDT", "b": value, "B": "1", "a": "100.1", "A": "1"}},
             {"stream": "btcusdt@bookTicker",
              "data": {"u": 2, "s": "BTCUSDT", "b": "100", "B": "1", "a": "100.1", "A": value}},
             {"stream": "btcusdt@trade",
              "data": {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 7, "p": "100", "q": value,
                       "T": 1, "m": True}},
             {"stream": "btcusdt@bookTicker",
              "data": {"u": 3, "s": "BTCUSDT", "b": "100", "B": "1", "a": "100.1", "A": "1"}}]
    with gzip.open(path, "wt") as f:
        for line in lines:
            f.write(f"1704067200000 {json.dumps(line)}\n")
    rec = parse_recording(path, "BTCUSDT", fast=fast)
    assert rec.tables["bbo"].column("bid_px").to_pylist() == [100.0]
    assert rec.tables["trades"].num_rows == 0
    assert rec.stats.skipped == 3
    assert all(s.reason.startswith("malformed number") and "is not finite" in s.reason
               for s in rec.skips)
