"""Parquet tick store: partitioning, ordering, idempotent merges, atomic writes, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.ticks.schema import BBO, TRADES
from aurora.ticks.store import PART_FILE, StoreError, TickStore

MIDNIGHT = int(datetime(2024, 8, 9, tzinfo=UTC).timestamp()) * 1_000_000_000


def trades(ids, ts=None, seq=None) -> pa.Table:
    ids = np.asarray(ids, dtype=np.int64)
    ts = np.asarray(ts if ts is not None else MIDNIGHT - 10_000 + ids, dtype=np.int64)
    return pa.table({
        "ts_ns": ts, "exch_ns": ts - 5, "seq": np.asarray(seq if seq is not None else ids, dtype=np.int64),
        "trade_id": ids, "price": 60_000.0 + ids * 0.01, "qty": np.full(len(ids), 0.5),
        "side": np.where(ids % 2 == 0, 1, -1).astype(np.int8),
    }, schema=TRADES)


def files_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_splits_by_utc_date_and_reads_back_sorted(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    ts = np.array([MIDNIGHT + 5, MIDNIGHT - 5, MIDNIGHT - 7, MIDNIGHT + 1])
    rep = store.write("trades", trades([4, 2, 1, 3], ts=ts, seq=[9, 8, 7, 6]), "binance", "BTCUSDT")
    assert rep.rows_written == 4 and sorted(rep.partitions) == ["2024-08-08", "2024-08-09"]
    assert (tmp_path / "trades/exchange=binance/symbol=BTCUSDT/date=2024-08-08" / PART_FILE).is_file()
    assert store.dates("trades", "binance", "BTCUSDT") == [date(2024, 8, 8), date(2024, 8, 9)]
    got = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 9))
    assert got.column("ts_ns").to_pylist() == sorted(ts.tolist())
    assert got.column("trade_id").to_pylist() == [1, 2, 3, 4]
    one = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 9), date(2024, 8, 9), columns=["qty"])
    assert one.column_names == ["qty"] and one.num_rows == 2
    days = [(d, t.num_rows) for d, t in store.iter_days("trades", "binance", "BTCUSDT",
                                                        date(2024, 1, 1), date(2024, 12, 31))]
    assert days == [(date(2024, 8, 8), 2), (date(2024, 8, 9), 2)]


def test_ties_in_receive_time_keep_seq_order(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    ts = np.full(3, MIDNIGHT + 100)
    store.write("trades", trades([10, 11, 12], ts=ts, seq=[3, 1, 2]), "binance", "BTCUSDT")
    got = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 9), date(2024, 8, 9))
    assert got.column("seq").to_pylist() == [1, 2, 3]
    assert got.column("trade_id").to_pylist() == [11, 12, 10]


def test_rewrite_is_idempotent_and_merge_keeps_existing_rows(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    store.write("trades", trades(range(0, 100)), "binance", "BTCUSDT")
    before = files_state(tmp_path)
    again = store.write("trades", trades(range(0, 100)), "binance", "BTCUSDT")
    assert again.rows_written == 0 and again.duplicates == 100
    assert files_state(tmp_path) == before  # nothing rewritten
    overlap = store.write("trades", trades(range(50, 150)), "binance", "BTCUSDT")
    assert overlap.rows_written == 50 and overlap.duplicates == 50
    got = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 8))
    assert got.column("trade_id").to_pylist() == list(range(150))


def test_bbo_key_ignores_seq_but_not_receive_time(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    base = {"exch_ns": [None, None], "update_id": [7, 7], "bid_px": [1.0, 1.0], "bid_qty": [2.0, 2.0],
            "ask_px": [1.01, 1.01], "ask_qty": [3.0, 3.0]}
    t1 = pa.table({"ts_ns": [MIDNIGHT, MIDNIGHT + 1], "seq": [0, 1], **base}).select(BBO.names)
    t2 = pa.table({"ts_ns": [MIDNIGHT, MIDNIGHT + 1], "seq": [5, 6], **base}).select(BBO.names)
    assert store.write("bbo", t1, "binance", "BTCUSDT").rows_written == 2
    assert store.write("bbo", t2, "binance", "BTCUSDT").rows_written == 0


def test_failed_write_leaves_the_partition_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TickStore(tmp_path)
    store.write("trades", trades(range(10)), "binance", "BTCUSDT")
    before = files_state(tmp_path)

    def crash(table, where, **kwargs):  # a crash half-way through writing the temp file
        Path(where).write_bytes(b"PAR1 torn")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write("trades", trades(range(10, 20)), "binance", "BTCUSDT")
    assert files_state(tmp_path) == before  # no torn file, no temp file left behind


def test_validation_names_the_problem(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    with pytest.raises(StoreError, match="unknown table 'quotes'"):
        store.write("quotes", trades([1]), "binance", "BTCUSDT")
    with pytest.raises(StoreError, match=r"missing column\(s\) \['side'\]"):
        store.write("trades", trades([1]).drop(["side"]), "binance", "BTCUSDT")
    bad = trades([1]).set_column(3, "trade_id", pa.array([None], pa.int64()))
    with pytest.raises(StoreError, match=r"trades row 0 \(seq 1\): trades\.trade_id is missing "
                                         r"\(1 row\(s\) in all\)"):
        store.write("trades", bad, "binance", "BTCUSDT")
    with pytest.raises(StoreError, match="unknown exchange"):
        store.write("trades", trades([1]), "kraken", "BTCUSDT")
    with pytest.raises(StoreError, match="bad symbol"):
        store.write("trades", trades([1]), "binance", "../etc")
    with pytest.raises(StoreError, match="unknown column"):
        store.read("trades", "binance", "BTCUSDT", date(2024, 1, 1), date(2024, 1, 2), columns=["nope"])
    assert not any(tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("column", ["price", "qty"])
def test_a_price_or_quantity_that_is_not_finite_is_refused_naming_its_row(tmp_path: Path, column,
                                                                        value) -> None:
    """Every float column is a price or a quantity: NaN or ±inf there is corrupt input, and a stored
    one would silently skew every feature computed over it."""
    store = TickStore(tmp_path)
    data = trades([1, 2, 3, 4])
    values = data.column(column).to_numpy().copy()
    values[[1, 3]] = value
    data = data.set_column(data.schema.get_field_index(column), column, pa.array(values))
    with pytest.raises(StoreError, match=rf"dump\.csv:3: trades\.{column} is -?(nan|inf), not a "
                                         r"finite number \(2 row\(s\) in all\); nothing was written"):
        store.write("trades", data, "binance", "BTCUSDT", origin=lambda seq: f"dump.csv:{seq + 1}")
    with pytest.raises(StoreError, match=rf"trades\.{column} is -?(nan|inf)"):
        store.write_tables({"trades": data}, "binance", "BTCUSDT")
    assert not any(tmp_path.rglob("*.parquet"))
    assert store.write("trades", trades([]), "binance", "BTCUSDT").rows_written == 0  # nothing to check


def test_no_partition_before_2009_or_in_the_future(tmp_path: Path) -> None:
    """A µs clock read as ns lands in 1970; a bad unit the other way lands centuries ahead. Either
    is refused before anything is written, naming the input line through ``origin``."""
    store = TickStore(tmp_path)
    us_as_ns = trades([1, 2, 3], ts=[MIDNIGHT // 1000] * 3, seq=[40, 41, 42])
    with pytest.raises(StoreError, match=r"rec\.txt:40: receive time ts_ns=\d+ is dated 1970-01-20, outside "
                                         r"2009-01-01\.\."):
        store.write("trades", us_as_ns, "binance", "BTCUSDT", origin=lambda seq: f"rec.txt:{seq}")
    future = datetime.now(UTC).timestamp() + 3 * 86_400
    with pytest.raises(StoreError, match=r"trades row 1 \(seq 2\).*--ts-unit"):
        store.write("trades", trades([1, 2], ts=[MIDNIGHT, int(future * 1e9)]), "binance", "BTCUSDT")
    # several tables of one input: all are checked before any is written
    good_bbo = pa.table({"ts_ns": [MIDNIGHT], "exch_ns": [None], "seq": [0], "update_id": [1],
                         "bid_px": [1.0], "bid_qty": [1.0], "ask_px": [2.0], "ask_qty": [1.0]}, schema=BBO)
    with pytest.raises(StoreError, match="1970"):
        store.write_tables({"bbo": good_bbo, "trades": us_as_ns}, "binance", "BTCUSDT")
    assert not any(tmp_path.rglob("*.parquet"))
    done = store.write_tables({"bbo": good_bbo, "trades": trades([7])}, "binance", "BTCUSDT")
    assert done["bbo"].rows_written == done["trades"].rows_written == 1


def test_read_of_an_empty_range_gives_an_empty_typed_table(tmp_path: Path) -> None:
    got = TickStore(tmp_path).read("bbo", "binance", "BTCUSDT", date(2024, 1, 1), date(2024, 1, 2))
    assert got.num_rows == 0 and got.schema == BBO


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=30), min_size=1, max_size=5))
def test_any_sequence_of_overlapping_writes_stores_each_trade_once(tmp_path_factory, batches) -> None:
    root = tmp_path_factory.mktemp("store")
    store = TickStore(root)
    for ids in batches:
        store.write("trades", trades(ids), "binance", "BTCUSDT")
    got = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 9))
    assert got.column("trade_id").to_pylist() == sorted({i for ids in batches for i in ids})


def test_concurrent_writers_of_one_partition_lose_nothing(tmp_path: Path) -> None:
    import threading

    def writer(k: int) -> None:
        store = TickStore(tmp_path)
        for b in range(8):
            start = (k * 8 + b) * 50
            store.write("trades", trades(range(start, start + 50)), "binance", "BTCUSDT")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = TickStore(tmp_path).read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 8))
    assert got.column("trade_id").to_pylist() == list(range(4 * 8 * 50))


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 1),
                          st.sampled_from([1.0, 2.5, 0.0, -0.0, float("nan")]), st.booleans()), max_size=40))
def test_first_of_each_key_keeps_the_earliest_row_of_every_key(rows: list[tuple]) -> None:
    """The numpy path gives what Arrow's group_by (the reference) gives, NaN and -0.0 included."""
    from aurora.ticks.store import _first_of_each_key

    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    t = pa.table({"u": pa.array(cols[0], pa.int64()), "side": pa.array(cols[1], pa.int8()),
                  "price": pa.array(cols[2], pa.float64()), "snap": pa.array(cols[3], pa.bool_())})
    keys = ("u", "side", "price", "snap")
    grouped = t.append_column("__row", pa.array(np.arange(len(t), dtype=np.int64))) \
        .group_by(list(keys), use_threads=False).aggregate([("__row", "min")])
    want = t.take(pa.array(np.sort(grouped.column("__row_min").to_numpy())))
    assert _first_of_each_key(t, keys).to_pandas().equals(want.to_pandas())
