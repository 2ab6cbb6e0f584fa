"""data.binance.vision dumps: CSV/zip, header or not, ms/µs clocks, CHECKSUM over real loopback HTTP."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections.abc import Iterator
from datetime import date
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aurora.events import EventLog, read_events
from aurora.ticks.store import StoreError, TickStore
from aurora.ticks.vision import VisionError, detect_kind, import_vision

DAY_MS = 1723075200000  # 2024-08-08T00:00:00Z in ms


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def agg_rows(n: int, t0_ms: int = DAY_MS, step_ms: int = 1000, unit: int = 1) -> list[str]:
    return [f"{100 + i},{60000 + i * 0.01:.2f},{0.001 * (i + 1):.5f},{200 + i},{200 + i},"
            f"{(t0_ms + i * step_ms) * unit},{'True' if i % 3 == 0 else 'False'},True" for i in range(n)]


def write_with_checksum(path: Path, data: bytes, good: bool = True) -> Path:
    path.write_bytes(data)
    digest = hashlib.sha256(data if good else data + b"x").hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def zipped(name: str, text: str) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def test_local_spot_aggtrades_csv_without_header(tmp_path: Path) -> None:
    csv = write_with_checksum(tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv",
                              ("\n".join(agg_rows(50)) + "\n").encode())
    store = TickStore(tmp_path / "ticks")
    events = EventLog("test", tmp_path / "logs")
    rep = import_vision([str(csv)], store, "binance", "BTCUSDT", events=events)
    assert rep.files[0].written == {"trades": 50}
    got = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 8)).to_pylist()
    assert got[0]["trade_id"] == 100 and got[0]["side"] == -1 and got[1]["side"] == 1   # m=True: sold
    assert got[3]["ts_ns"] == got[3]["exch_ns"] == (DAY_MS + 3000) * 1_000_000
    assert [r["seq"] for r in got] == list(range(50))
    status = [e["status"] for e in read_events(tmp_path / "logs" / "aurora_events.jsonl")
              if e["event"] == "data.import.checksum"]
    assert status == ["verified"]
    again = import_vision([str(csv)], store, "binance", "BTCUSDT")
    assert again.files[0].written == {"trades": 0}


def test_zip_over_http_with_header_and_microseconds(http_dir, tmp_path: Path) -> None:
    root, base = http_dir
    header = "id,price,qty,quote_qty,time,is_buyer_maker\n"
    rows = [f"{7 + i},3000.5,0.2,600.1,{(DAY_MS + 86_400_000 - 500 + i * 400) * 1000},"
            f"{'true' if i else 'false'}" for i in range(3)]   # spans midnight, µs clock
    name = "ETHUSDT-trades-2024-08-08.zip"
    write_with_checksum(root / name, zipped(name.replace(".zip", ".csv"), header + "\n".join(rows) + "\n"))
    store = TickStore(tmp_path / "ticks")
    rep = import_vision([f"{base}/{name}"], store, "binance-usdm", "ETHUSDT")
    assert rep.files[0].rows == {"trades": 3}
    assert store.dates("trades", "binance-usdm", "ETHUSDT") == [date(2024, 8, 8), date(2024, 8, 9)]
    got = store.read("trades", "binance-usdm", "ETHUSDT", date(2024, 8, 8), date(2024, 8, 9)).to_pylist()
    assert [r["side"] for r in got] == [1, -1, -1]
    assert got[0]["ts_ns"] == (DAY_MS + 86_400_000 - 500) * 1_000_000


def test_wrong_checksum_over_http_is_refused_and_nothing_is_written(http_dir, tmp_path: Path) -> None:
    root, base = http_dir
    name = "BTCUSDT-aggTrades-2024-08-08.zip"
    write_with_checksum(root / name, zipped("x.csv", "\n".join(agg_rows(10)) + "\n"), good=False)
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(VisionError, match=rf"{name}: checksum mismatch"):
        import_vision([f"{base}/{name}"], store, "binance", "BTCUSDT")
    assert not (tmp_path / "ticks").exists()
    # without verification the same bytes import (the user chose to skip the check)
    rep = import_vision([f"{base}/{name}"], store, "binance", "BTCUSDT", verify_checksum=False)
    assert rep.files[0].written == {"trades": 10}


def test_missing_checksum_is_accepted_and_reported(http_dir, tmp_path: Path) -> None:
    root, base = http_dir
    name = "BTCUSDT-aggTrades-2024-08-08.csv"
    (root / name).write_text("\n".join(agg_rows(5)) + "\n")
    events = EventLog("test", tmp_path / "logs")
    import_vision([f"{base}/{name}"], TickStore(tmp_path / "ticks"), "binance", "BTCUSDT", events=events)
    status = [e["status"] for e in read_events(tmp_path / "logs" / "aurora_events.jsonl")
              if e["event"] == "data.import.checksum"]
    assert status == ["absent"]


def test_futures_bookticker(tmp_path: Path) -> None:
    text = ("update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
            f"1,60000.1,1.5,60000.2,2.5,{DAY_MS + 10},{DAY_MS + 12}\n"
            f"2,60000.1,1.4,60000.2,2.5,{DAY_MS + 20},{DAY_MS + 21}\n")
    path = write_with_checksum(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", text.encode())
    store = TickStore(tmp_path / "ticks")
    import_vision([str(path)], store, "binance-usdm", "BTCUSDT")
    got = store.read("bbo", "binance-usdm", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 8)).to_pylist()
    assert got[0] == {"ts_ns": (DAY_MS + 12) * 10**6, "exch_ns": (DAY_MS + 10) * 10**6, "seq": 0,
                      "update_id": 1, "bid_px": 60000.1, "bid_qty": 1.5, "ask_px": 60000.2, "ask_qty": 2.5}


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks")
    plain = tmp_path / "dump.csv"
    plain.write_text("\n".join(agg_rows(3)) + "\n")
    with pytest.raises(VisionError, match="cannot tell aggTrades/trades/bookTicker"):
        import_vision([str(plain)], store, "binance", "BTCUSDT")
    named = tmp_path / "BTCUSDT-trades-2024-08-08.csv"
    named.write_text("\n".join(agg_rows(3)) + "\n")
    with pytest.raises(VisionError, match="file name says trades, but kind aggTrades was given"):
        import_vision([str(named)], store, "binance", "BTCUSDT", kind="aggTrades")
    with pytest.raises(VisionError, match="8 columns, but a trades dump has 6 or 7"):
        import_vision([str(named)], store, "binance", "BTCUSDT")
    bad = tmp_path / "BTCUSDT-aggTrades-2024-08-09.csv"
    bad.write_text("\n".join([*agg_rows(3), "1,2,3"]) + "\n")
    with pytest.raises(VisionError, match="bad CSV"):
        import_vision([str(bad)], store, "binance", "BTCUSDT")
    with pytest.raises(VisionError, match="no such file"):
        import_vision([str(tmp_path / "BTCUSDT-aggTrades-2024-01-01.zip")], store, "binance", "BTCUSDT")
    empty = tmp_path / "BTCUSDT-aggTrades-2024-08-10.csv"
    empty.write_text("")
    with pytest.raises(VisionError, match=r"2024-08-10\.csv: nothing imported"):
        import_vision([str(empty)], store, "binance", "BTCUSDT")
    parquet = tmp_path / "BTCUSDT-aggTrades-2024-08-11.csv"
    pq.write_table(pa.table({"x": [1]}), parquet)
    with pytest.raises(VisionError, match=r"2024-08-11\.csv: is a Parquet file, not"):
        import_vision([str(parquet)], store, "binance", "BTCUSDT")
    assert not (tmp_path / "ticks").exists()
    assert detect_kind("BTCUSDT-bookTicker-2024-03-01.zip") == "bookTicker"


def test_a_dump_of_the_other_market_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = TickStore(tmp_path / "ticks")
    fut_trades = write_with_checksum(tmp_path / "BTCUSDT-trades-2024-08-08.csv", (
        "id,price,qty,quote_qty,time,is_buyer_maker\n"
        f"1,60000.1,0.01,600.001,{DAY_MS},true\n").encode())
    with pytest.raises(VisionError, match=r"a futures dump \(6 columns without is_best_match\).*"
                                          r"use --exchange binance-usdm"):
        import_vision([str(fut_trades)], store, "binance", "BTCUSDT")
    fut_agg = write_with_checksum(tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv", (
        f"5,60000.1,0.01,7,8,{DAY_MS},false\n").encode())
    with pytest.raises(VisionError, match="a futures dump"):
        import_vision([str(fut_agg)], store, "binance", "BTCUSDT")
    book = write_with_checksum(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", (
        f"1,60000.1,1.5,60000.2,2.5,{DAY_MS + 10},{DAY_MS + 12}\n").encode())
    with pytest.raises(VisionError, match="bookTicker dumps exist only for futures"):
        import_vision([str(book)], store, "binance", "BTCUSDT")
    spot_agg = write_with_checksum(tmp_path / "ETHUSDT-aggTrades-2024-08-08.csv",
                                   ("\n".join(agg_rows(3)) + "\n").encode())
    with pytest.raises(VisionError,
                       match=r"a spot dump \(8 columns with is_best_match\).*--exchange binance$"):
        import_vision([str(spot_agg)], store, "binance-usdm", "ETHUSDT")
    assert not (tmp_path / "ticks").exists()


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e999", "NaN", "nan", ""])
def test_a_price_or_quantity_that_is_not_a_finite_number_is_refused_naming_its_line(tmp_path: Path,
                                                                                   cell: str) -> None:
    """Arrow's CSV reader takes "inf" and "1e999" as infinity and "NaN" or an empty cell as null;
    either would be stored as a quote nothing could trade on. The dump is refused, its line named,
    and nothing is written."""
    text = ("update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
            f"1,60000.1,1.5,60000.2,2.5,{DAY_MS + 10},{DAY_MS + 12}\n"
            f"2,60000.1,{cell},60000.2,2.5,{DAY_MS + 20},{DAY_MS + 21}\n")
    path = write_with_checksum(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", text.encode())
    store = TickStore(tmp_path / "ticks")
    with pytest.raises(StoreError, match=r"2024-08-08\.csv:3: bbo\.bid_qty is (-?inf, not a finite "
                                         r"number|missing)"):
        import_vision([str(path)], store, "binance-usdm", "BTCUSDT")
    assert not any((tmp_path / "ticks").rglob("*.parquet"))
