"""tardis.dev CSV exports: trades, quotes, incremental_book_L2, book_snapshot_N (fixtures in the
documented formats, values from the shared real USD-M recording)."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from aurora.cli import main
from aurora.core.book import DiffResult, replay_depth
from aurora.ticks.formats import detect_format
from aurora.ticks.store import TickStore
from aurora.ticks.tardis import ParseState, TardisError, detect_kind, import_tardis, parse

FIX = Path(__file__).resolve().parent / "fixtures" / "tardis"
TRADES = FIX / "binance-futures_trades_2024-08-08_BTCUSDT.csv"
QUOTES = FIX / "binance-futures_quotes_2024-08-08_BTCUSDT.csv.gz"
L2 = FIX / "binance-futures_incremental_book_L2_2024-08-08_BTCUSDT.csv.gz"
SNAP5 = FIX / "binance_book_snapshot_5_2024-08-08_BTCUSDT.csv"
DAY = date(2024, 8, 8)


def rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return list(csv.DictReader(fh))


def test_trades_map_clocks_ids_and_taker_side(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    rep = import_tardis([TRADES], store, "binance-usdm", "BTCUSDT", seq_start=7)
    raw = rows(TRADES)
    fi = rep.files[0]
    assert fi.rows == {"trades": len(raw) - 1} and fi.skipped == 1     # the "unknown" side row
    got = store.read("trades", "binance-usdm", "BTCUSDT", DAY, DAY).to_pylist()
    known = [r for r in raw if r["side"] != "unknown"]
    assert [g["trade_id"] for g in got] == [int(r["id"]) for r in known]
    assert [g["side"] for g in got] == [1 if r["side"] == "buy" else -1 for r in known]
    assert [g["ts_ns"] for g in got] == [int(r["local_timestamp"]) * 1000 for r in known]
    assert [g["exch_ns"] for g in got] == [int(r["timestamp"]) * 1000 for r in known]
    assert [g["qty"] for g in got] == [float(r["amount"]) for r in known]
    assert [g["seq"] for g in got] == list(range(7, 7 + len(known))) and fi.seq_end == 7 + len(known)
    again = import_tardis([TRADES], store, "binance-usdm", "BTCUSDT", seq_start=7)
    assert again.files[0].written == {"trades": 0}                       # idempotent


def test_quotes_become_bbo_and_empty_sides_are_skipped(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    rep = import_tardis([QUOTES], store, "binance-usdm", "BTCUSDT")
    raw = rows(QUOTES)
    assert rep.files[0].rows == {"bbo": len(raw) - 1} and rep.files[0].skipped == 1
    got = store.read("bbo", "binance-usdm", "BTCUSDT", DAY, DAY).to_pylist()
    for g, r in zip(got, raw, strict=False):
        assert (g["bid_px"], g["bid_qty"], g["ask_px"], g["ask_qty"]) == (
            float(r["bid_price"]), float(r["bid_amount"]), float(r["ask_price"]), float(r["ask_amount"]))
    assert [g["update_id"] for g in got] == list(range(2, 2 + len(got)))   # line numbers


def _model_tops(raw: list[dict[str, str]]) -> list[tuple[float, float]]:
    """Best bid/ask after each message from a dict book following tardis's own rule (skip diffs
    before the first snapshot; a snapshot after diffs discards the book)."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    tops, seen_snapshot, prev = [], False, None
    for i, r in enumerate(raw):
        snap = r["is_snapshot"] == "true"
        key = (r["local_timestamp"], snap)
        if snap and (prev is None or prev[1] is False):
            bids, asks, seen_snapshot = {}, {}, True
        if seen_snapshot:
            book = bids if r["side"] == "bid" else asks
            if float(r["amount"]) == 0:
                book.pop(float(r["price"]), None)
            else:
                book[float(r["price"])] = float(r["amount"])
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if nxt is None or (nxt["local_timestamp"], nxt["is_snapshot"] == "true") != key:
            tops.append((max(bids) if seen_snapshot else np.nan, min(asks) if seen_snapshot else np.nan))
        prev = key
    return tops


@pytest.mark.parametrize("exchange", ["binance-usdm", "binance"])
def test_incremental_book_replays_like_tardis_says_under_either_rule(tmp_path: Path, exchange: str) -> None:
    """Synthetic update ids chain under the spot and the futures rule alike: the book syncs at the
    snapshot, drops the diffs before it and then equals a dict model on every message."""
    text = gzip.decompress(L2.read_bytes()).decode()
    if exchange == "binance":
        text = text.replace("binance-futures,", "binance,")
    path = tmp_path / "l2.csv"
    path.write_text(text)
    store = TickStore(tmp_path / "ticks")
    rep = import_tardis([path], store, exchange, "BTCUSDT")
    assert rep.files[0].book_warning is None
    depth = store.read("depth", exchange, "BTCUSDT", DAY, DAY)
    raw = rows(path)
    assert depth.num_rows == len(raw)
    assert depth.column("is_snapshot").to_pylist() == [r["is_snapshot"] == "true" for r in raw]
    out = replay_depth(depth, 1, futures=exchange != "binance")
    model = _model_tops(raw)
    assert len(out["result"]) == len(model) == rep.files[0].messages
    first = int(np.argmax(out["in_sync"]))
    assert out["in_sync"][first:].all() and not (out["result"] == DiffResult.GAP).any()
    assert first == 6 and (out["result"][:first] == DiffResult.BUFFERED).all()
    np.testing.assert_array_equal(out["bid_px"][:, 0], [b for b, _ in model])
    np.testing.assert_array_equal(out["ask_px"][:, 0], [a for _, a in model])


def test_book_snapshot_rows_become_snapshot_messages(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    rep = import_tardis([SNAP5], store, "binance", "BTCUSDT")
    raw = rows(SNAP5)
    assert rep.files[0].messages == 3 and rep.files[0].rows == {"depth": 29}   # one empty ask level
    depth = store.read("depth", "binance", "BTCUSDT", DAY, DAY)
    assert all(depth.column("is_snapshot").to_pylist())
    out = replay_depth(depth, 5)
    assert out["in_sync"].all()
    for i, r in enumerate(raw):
        assert out["bid_px"][i].tolist() == [float(r[f"bids[{k}].price"]) for k in range(5)]
        asks = [float(r[f"asks[{k}].price"]) for k in range(5) if r[f"asks[{k}].price"]]
        assert out["ask_px"][i, : len(asks)].tolist() == asks
    assert np.isnan(out["ask_px"][2, 4])


def test_parse_continues_a_message_across_batches() -> None:
    raw = rows(L2)
    table = pa.table({k: [r[k] for r in raw] for k in raw[0]})
    cast = pa.table({
        "exchange": table["exchange"], "symbol": table["symbol"],
        "timestamp": table["timestamp"].cast(pa.int64()),
        "local_timestamp": table["local_timestamp"].cast(pa.int64()),
        "is_snapshot": pa.array([r["is_snapshot"] == "true" for r in raw]), "side": table["side"],
        "price": table["price"].cast(pa.float64()), "amount": table["amount"].cast(pa.float64())})
    whole = parse(cast.to_batches()[0], "incremental_book_L2", ParseState(seq=0), True)["depth"]
    state = ParseState(seq=0)
    cut = 100   # inside the snapshot message (rows 96..115)
    parts = [parse(b, "incremental_book_L2", state, True)["depth"] for b in
             (cast.slice(0, cut).to_batches()[0], cast.slice(cut).to_batches()[0])]
    assert pa.concat_tables(parts).equals(whole)


def test_header_detection_and_refusals(tmp_path: Path) -> None:
    assert detect_kind(["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price",
                        "amount"]) == "trades"
    with pytest.raises(TardisError, match="not trades, quotes, incremental_book_L2"):
        detect_kind(["exchange", "symbol", "timestamp", "local_timestamp", "funding_rate"])
    for f in (TRADES, QUOTES, L2, SNAP5):
        assert detect_format(str(f)) == "tardis"
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(TardisError, match=r"trades_2024-08-08_BTCUSDT\.csv:2: exchange 'binance-futures' is "
                                          r"not 'binance'; import it with --exchange binance-usdm"):
        import_tardis([TRADES], store, "binance", "BTCUSDT")
    with pytest.raises(TardisError, match=r":2: symbol 'BTCUSDT' is not 'ETHUSDT'; import it with "
                                          r"--symbol BTCUSDT"):
        import_tardis([TRADES], store, "binance-usdm", "ETHUSDT")
    empty = tmp_path / "e.csv"
    empty.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
    with pytest.raises(TardisError, match="nothing imported"):
        import_tardis([empty], store, "binance-usdm", "BTCUSDT")
    assert not store.root.exists()


def test_cli_detects_and_imports_tardis_files(home: Path, capsys) -> None:
    argv = ["--home", str(home), "data", "import", "--exchange", "binance-usdm", "--symbol", "BTCUSDT"]
    assert main([*argv, str(TRADES), str(QUOTES), str(L2)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(": tardis, " in ln for ln in out)
    store = TickStore(home / "data" / "ticks")
    seqs = [store.read(t, "binance-usdm", "BTCUSDT", DAY, DAY).column("seq").to_numpy() for t in
            ("trades", "bbo", "depth")]
    assert seqs[0].max() < seqs[1].min() and seqs[1].max() < seqs[2].min()   # seq runs on across files
