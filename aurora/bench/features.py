"""Import, feature and label throughput, bounded memory and stream speed, measured in one run.

Figures (rates are per second of wall time on one core; the scan and the feature run are each
timed ``--repeat`` times and the fastest run counts):

- ``ws_import_msgs_per_s``: parsing the raw spot websocket recordings of ``--recordings`` with
  :func:`aurora.ticks.binance_ws.parse_recording`.
- ``csv_import_rows_per_s``: importing a generated data.binance.vision trades CSV (with its
  CHECKSUM) into a store with :func:`aurora.ticks.vision.import_vision`.
- ``scan_events_per_s``: a plain ``pyarrow.dataset`` scan of one synthetic day's bbo + trades
  (all columns; Arrow limited to one CPU and one I/O thread, like the rest of the run).
- ``features_labels_events_per_s``: :func:`aurora.ticks.feature_table.iter_feature_days` with
  labels over the same day read from the store (bbo + trade events per second, book replay
  included), as the second day of a two-day stream: what each day of a month streamed by
  partition costs; ``features_vs_scan_ratio`` = that / the scan rate (target ≥ 0.30).
  ``features_first_day_vs_scan_ratio``: the same for the first day of a stream, which also pays
  for faulting in its day-sized arrays (the later days reuse them).
  ``features_nodepth_vs_scan_ratio``: the steady state without reading depth and replaying the
  book (``obi_w`` NaN), to show what the book costs.
- ``peak_rss_mb_{k}d`` (k = 1, 2, ``--days``): peak RSS of a fresh process streaming k days by
  partition with labels; ``rss_multi_vs_one_day_ratio`` (``--days`` over 1) ≈ 1 shows memory
  does not grow with the range.
- ``stream_events_per_s``: per-event ``StreamFeatures.on_bbo``/``on_trade`` calls from Python
  (target ≥ 1 M/s); ``stream_feed_events_per_s``: the same kernels driven over whole arrays.

With ``--recording FILE`` the bench measures a real recording instead (and only that): FILE made
continuous ``--recording-repeats`` times over (:mod:`aurora.bench._long_recording`), imported to a
store (``recording_import_msgs_per_s``), then ``recording_features_msgs_per_s`` (features +
labels over every stored day, book replay included) and ``recording_depth_rows_per_s`` (the depth
replay alone, level rows per second), each also as a ratio to a bare Parquet scan of the same
store's bbo, trades and depth (``recording_*_vs_scan_ratio`` = scan seconds / its seconds); and
``recording_tardis_import_rows_per_s``: the stored trades, bbo and depth written as tardis.dev
CSV(.gz) exports (:mod:`aurora.bench._tardis_csv`) and imported into a fresh store with
:func:`aurora.ticks.tardis.import_tardis` (data rows of the three files per second).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from aurora.bench._long_recording import build_long_recording
from aurora.bench._tardis_csv import write_tardis_csvs
from aurora.core.book import replay_depth
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.core.stream import StreamFeatures
from aurora.ticks.binance_ws import import_recordings, parse_recording
from aurora.ticks.feature_table import iter_feature_days
from aurora.ticks.schema import FUTURES_EXCHANGES, futures_exchange_of
from aurora.ticks.store import TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store
from aurora.ticks.tardis import import_tardis
from aurora.ticks.vision import import_vision

DESCRIPTION = "feature/label throughput vs a raw Parquet scan, import rates, memory, stream speed"
SYMBOL = "BTCUSDT"
EXCHANGE = "binance"
DAY0 = date(2024, 1, 1)
# the shared recordings beside the checkout (../shared/data/binance-ws)
RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-ws"
# ~20 % above the synthetic market's default rates, so that a 24 h day holds > 10 M bbo + trades
RATE_SCALE = 1.2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hours", type=float, default=24.0,
                   help="hours of synthetic market per day (24 = full days; small for a smoke run)")
    p.add_argument("--days", type=int, default=3, help="days in the multi-day memory run")
    p.add_argument("--csv-rows", type=int, default=2_000_000, help="rows of the generated CSV dump")
    p.add_argument("--stream-events", type=int, default=3_000_000,
                   help="events pushed through per-event stream calls")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed runs of the scan and of features + labels; the fastest counts "
                        "(a shared machine's noise only ever slows a run down)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", type=Path, help="keep the generated store here (default: a temp dir)")
    p.add_argument("--recordings", type=Path, default=RECORDINGS, metavar="DIR",
                   help="Binance websocket recordings for the import rate: DIR/spot/*.gz or "
                        "DIR/*.gz, files named SYMBOL_YYYYMMDD.gz (default: %(default)s)")

    p.add_argument("--recording", type=Path, metavar="FILE",
                   help="measure this Binance websocket recording (SYMBOL_YYYYMMDD.gz, spot or "
                        "futures) made continuous --recording-repeats times over, instead of the "
                        "synthetic days")
    p.add_argument("--recording-repeats", type=int, default=22,
                   help="times the --recording is repeated end to end (default: %(default)s)")

def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _recordings(folder: Path) -> list[Path]:
    """The spot recordings in ``folder/spot`` or ``folder``; an error naming the fix if none."""
    files = sorted((folder / "spot").glob("*.gz")) or sorted(folder.glob("*.gz"))
    if not files:
        raise SystemExit(f"--recordings {folder}: no Binance websocket recordings (*.gz) in it or "
                         "in its spot/ folder; pass --recordings DIR (e.g. the shared data's "
                         "binance-ws folder, or tests/fixtures/binance_ws)")
    return files


def _ws_import(files: list[Path], report: Callable[[str], None]) -> float:
    msgs = 0
    secs = 0.0
    for f in files:
        dt, rec = _timed(lambda f=f: parse_recording(f, f.name.split("_")[0].upper()))
        msgs += rec.stats.messages
        secs += dt
    report(f"ws import: {msgs} messages from {len(files)} file(s) in {secs:.2f} s")
    return msgs / secs


def _csv_import(store: TickStore, rows: int, root: Path, seed: int,
                report: Callable[[str], None]) -> float:
    rng = np.random.default_rng(seed)
    t0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
    times = t0 + np.cumsum(rng.integers(0, 20, rows))
    price = np.round(60000 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], rows)), 2)
    qty = np.round(rng.lognormal(-7, 2, rows) + 1e-5, 5)
    maker = rng.random(rows) < 0.5
    path = root / f"{SYMBOL}-trades-2024-03-01.csv"
    with path.open("w") as fh:
        for i in range(0, rows, 200_000):
            sl = slice(i, i + 200_000)
            lines = [f"{k},{p:.2f},{q:.5f},{p * q:.8f},{t},{'true' if m else 'false'},true"
                     for k, p, q, t, m in zip(range(i + 1, i + 1 + len(times[sl])), price[sl], qty[sl],
                                              times[sl], maker[sl], strict=True)]
            fh.write("\n".join(lines) + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(f"{path}.CHECKSUM").write_text(f"{digest}  {path.name}\n")
    dt, _ = _timed(lambda: import_vision([str(path)], store, EXCHANGE, SYMBOL))
    report(f"csv import: {rows} rows in {dt:.2f} s")
    return rows / dt


def _synth(store: TickStore, hours: float, days: int, seed: int, report: Callable[[str], None]) -> None:
    base = SynthParams.for_symbol(SYMBOL)
    params = SynthParams.for_symbol(SYMBOL, bbo_rate_hz=base.bbo_rate_hz * RATE_SCALE,
                                    trade_rate_hz=base.trade_rate_hz * RATE_SCALE)
    for k in range(days):
        start = datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC) + timedelta(days=k)
        dt, rep = _timed(lambda start=start, k=k: synthesize_to_store(
            store, EXCHANGE, SYMBOL, min(hours, 24.0), seed + k, start=start, params=params))
        report(f"synth day {start.date()}: {rep.rows} rows in {dt:.1f} s")


def _scan(store: TickStore, day: date, repeat: int) -> tuple[float, int]:
    files = [str(next(store.partition_dir(t, EXCHANGE, SYMBOL, day).glob("*.parquet")))
             for t in ("bbo", "trades")]

    def scan() -> int:
        return sum(ds.dataset(f, format="parquet").to_table().num_rows for f in files)

    scan()  # warm the page cache like the feature run will find it
    runs = [_timed(scan) for _ in range(repeat)]
    return min(dt for dt, _ in runs), runs[0][1]


def _features(store: TickStore, first: date, last: date, settings: Any,
              with_depth: bool = True) -> list[float]:
    """Seconds each day of one stream took, the consumer dropping each day's frame before it
    asks for the next (as one writing day by day would: memory stays at about one day)."""
    params = FeatureParams.from_settings(settings.features, tick_size=0.01)
    labels = LabelParams.from_settings(settings.labels)
    seconds = []
    start = time.perf_counter()
    for _, frame in iter_feature_days(store, EXCHANGE, SYMBOL, first, last, params, labels,
                                      with_depth=with_depth):
        del frame
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
    return seconds


def _two_day_streams(store: TickStore, settings: Any, repeat: int,
                     with_depth: bool = True) -> tuple[float, float]:
    """Fastest first-day and second-day seconds over ``repeat`` streams of DAY0..DAY0+1."""
    runs = [_features(store, DAY0, DAY0 + timedelta(days=1), settings, with_depth)
            for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _rss_child(root: str, days: int, settings: Any, queue: Any) -> None:
    store = TickStore(root)
    _features(store, DAY0, DAY0 + timedelta(days=days - 1), settings)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)  # KiB on Linux


def _peak_rss_mb(root: Path, days: int, settings: Any) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rss_child, args=(str(root), days, settings, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return float(value)


def _stream(store: TickStore, n_events: int, report: Callable[[str], None]) -> tuple[float, float]:
    bbo = store.read("bbo", EXCHANGE, SYMBOL, DAY0, DAY0).to_pandas()
    trades = store.read("trades", EXCHANGE, SYMBOL, DAY0, DAY0).to_pandas()
    params = FeatureParams(tick_size=0.01)
    seq = np.concatenate([bbo["seq"].to_numpy(), trades["seq"].to_numpy()])
    order = np.argsort(seq, kind="stable")[:n_events]
    nb_ = len(bbo)
    is_bbo = (order < nb_).tolist()
    idx = np.where(order < nb_, order, order - nb_).tolist()
    b_cols = [bbo[c].tolist() for c in ("ts_ns", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty")]
    t_cols = [trades[c].tolist() for c in ("ts_ns", "qty", "side")]
    b_rows = list(zip(*b_cols, strict=True))
    t_rows = [(ts, 0.0, q, s) for ts, q, s in zip(*t_cols, strict=True)]
    sf = StreamFeatures(params)
    sf.on_bbo(*b_rows[0])  # compile / warm up, then start fresh
    sf = StreamFeatures(params)
    on_bbo, on_trade = sf.on_bbo, sf.on_trade

    def loop() -> None:
        for b, i in zip(is_bbo, idx, strict=True):
            if b:
                on_bbo(*b_rows[i])
            else:
                on_trade(*t_rows[i])

    dt, _ = _timed(loop)
    n = len(is_bbo)
    report(f"stream per-event calls: {n} events in {dt:.2f} s")
    feed_dt, _ = _timed(lambda: StreamFeatures(params).feed(bbo, trades))
    return n / dt, (len(bbo) + len(trades)) / feed_dt


def _scan_store(store: TickStore, exchange: str, symbol: str, repeat: int) -> float:
    """Fastest seconds of a bare scan (all columns) of every stored bbo, trades and depth file."""
    files = [str(f) for t in ("bbo", "trades", "depth") for d in store.dates(t, exchange, symbol)
             for f in sorted(store.partition_dir(t, exchange, symbol, d).glob("*.parquet"))]

    def scan() -> int:
        return sum(ds.dataset(f, format="parquet").to_table().num_rows for f in files)

    scan()
    return min(_timed(scan)[0] for _ in range(repeat))


def _replay_store(store: TickStore, exchange: str, symbol: str, levels: int) -> float:
    """Seconds of replaying every stored day's depth in one go (read not counted)."""
    depth = store.read("depth", exchange, symbol, *_day_range(store, exchange, symbol))
    cols = {name: depth.column(name).to_numpy(zero_copy_only=False) for name in depth.column_names}
    cols["prev_update_id"] = np.nan_to_num(cols["prev_update_id"].astype(np.float64), nan=-1.0)
    dt, _ = _timed(lambda: replay_depth(cols, levels, futures=exchange in FUTURES_EXCHANGES))
    return dt


def _day_range(store: TickStore, exchange: str, symbol: str) -> tuple[date, date]:
    days = store.dates("bbo", exchange, symbol)
    return days[0], days[-1]


def _run_recording(args: argparse.Namespace, settings: Any, root: Path,
                   report: Callable[[str], None]) -> dict[str, Any]:
    source: Path = args.recording
    if not source.is_file():
        raise SystemExit(f"--recording {source}: no such file; pass a Binance websocket recording "
                         "such as ../shared/data/binance-ws/usdm/btcusdt_20240808.gz")
    symbol = source.name.split("_")[0].upper()
    dt, long = _timed(lambda: build_long_recording(source, args.recording_repeats,
                                                   root / f"{symbol.lower()}_long.gz"))
    report(f"long recording: {long.messages} messages, {long.level_rows} depth level rows "
           f"({args.recording_repeats}× {source.name}), built in {dt:.1f} s")
    futures = b'"pu":' in gzip_head(long.path)
    exchange = futures_exchange_of(symbol) if futures else EXCHANGE
    store = TickStore(root / "rec-ticks")
    import_dt, imp = _timed(lambda: import_recordings([long.path], store, exchange, symbol))
    if imp.files[0].gaps or imp.files[0].skipped:
        raise SystemExit(f"the long recording did not import whole: {imp.files[0].gaps} depth gaps, "
                         f"{imp.files[0].skipped} lines skipped")
    msgs = imp.messages
    report(f"import ({exchange}): {msgs} messages in {import_dt:.2f} s")
    repeat = max(args.repeat, 1)
    scan_dt = _scan_store(store, exchange, symbol, repeat)
    params = FeatureParams.from_settings(settings.features, tick_size=None)
    labels = LabelParams.from_settings(settings.labels)
    first, last = _day_range(store, exchange, symbol)

    def features() -> float:
        t0 = time.perf_counter()
        for _, frame in iter_feature_days(store, exchange, symbol, first, last, params, labels):
            del frame
        return time.perf_counter() - t0

    feat_dt = min(features() for _ in range(repeat + 1))  # the first run may compile
    replay_dt = min(_replay_store(store, exchange, symbol, params.obi_levels)
                    for _ in range(repeat + 1))
    rows = imp.rows("depth")
    report(f"bare scan of the store: {scan_dt:.2f} s; features + labels: {feat_dt:.2f} s; "
           f"depth replay alone: {rows} level rows in {replay_dt:.2f} s")
    tardis_files, tardis_rows = write_tardis_csvs(store, exchange, symbol, first, last,
                                                    folder=root)
    tardis_dt, _ = _timed(lambda: import_tardis(tardis_files, TickStore(root / "tardis-ticks"),
                                                exchange, symbol))
    report(f"tardis CSV import: {tardis_rows} rows ({len(tardis_files)} files) in {tardis_dt:.2f} s")
    return {"recording_messages": msgs, "recording_depth_rows": rows,
            "recording_scan_msgs_per_s": round(msgs / scan_dt),
            "recording_import_msgs_per_s": round(msgs / import_dt),
            "recording_import_vs_scan_ratio": round(scan_dt / import_dt, 4),
            "recording_features_msgs_per_s": round(msgs / feat_dt),
            "recording_features_vs_scan_ratio": round(scan_dt / feat_dt, 4),
            "recording_depth_rows_per_s": round(rows / replay_dt),
            "recording_depth_vs_scan_ratio": round(scan_dt / replay_dt, 4),
            "recording_tardis_import_rows_per_s": round(tardis_rows / tardis_dt)}


def gzip_head(path: Path, size: int = 1 << 16) -> bytes:
    with gzip.open(path, "rb") as fh:
        return fh.read(size)


def run(args: argparse.Namespace, settings: Any, report: Callable[[str], None]) -> dict[str, Any]:
    if args.recording is not None:
        return _run_with_root(args, lambda root: _run_recording(args, settings, root, report))
    if args.hours <= 0 or args.days < 1:
        raise SystemExit("--hours must be > 0 and --days >= 1")
    recordings = _recordings(args.recordings)
    return _run_with_root(args, lambda root: _run_synthetic(args, settings, recordings, root, report))


def _run_with_root(args: argparse.Namespace, body: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``body(workdir)`` with Arrow on one core, in ``--workdir`` or a temporary folder."""
    # one core for everything measured: Arrow's CPU and I/O pools too (the scan would otherwise
    # decode on every core while the feature kernels use one)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    tmp = None
    root = args.workdir
    if root is None:
        tmp = tempfile.mkdtemp(prefix="aurora-bench-features-")
        root = Path(tmp)
    try:
        root.mkdir(parents=True, exist_ok=True)
        return body(root)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_synthetic(args: argparse.Namespace, settings: Any, recordings: list[Path], root: Path,
                   report: Callable[[str], None]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures["ws_import_msgs_per_s"] = round(_ws_import(recordings, report))
    csv_store = TickStore(root / "csv-store")
    figures["csv_import_rows_per_s"] = round(
        _csv_import(csv_store, args.csv_rows, root, args.seed, report))
    store = TickStore(root / "ticks")
    days = max(args.days, 3)  # day 1 streams into day 2 (measured); day 3 gives its lookahead
    if not store.dates("bbo", EXCHANGE, SYMBOL):
        _synth(store, args.hours, days, args.seed, report)
    repeat = max(args.repeat, 1)
    scan0_dt, events0 = _scan(store, DAY0, repeat)
    scan_dt, events = _scan(store, DAY0 + timedelta(days=1), repeat)
    figures["day_events"] = events
    figures["scan_events_per_s"] = round(events / scan_dt)
    _features(store, DAY0, DAY0, settings)  # numba compile + page cache, not timed
    first_dt, feat_dt = _two_day_streams(store, settings, repeat)
    report(f"features + labels, day 2 of a stream: {events} events in {feat_dt:.2f} s "
           f"(scan {scan_dt:.2f} s); day 1: {events0} events in {first_dt:.2f} s "
           f"(scan {scan0_dt:.2f} s)")
    figures["features_labels_events_per_s"] = round(events / feat_dt)
    figures["features_vs_scan_ratio"] = round(scan_dt / feat_dt, 3)
    figures["features_first_day_vs_scan_ratio"] = round(scan0_dt / first_dt, 3)
    _, nodepth_dt = _two_day_streams(store, settings, repeat, with_depth=False)
    report(f"features + labels without the book replay (obi_w NaN): {nodepth_dt:.2f} s")
    figures["features_nodepth_vs_scan_ratio"] = round(scan_dt / nodepth_dt, 3)
    for k in sorted({1, min(2, args.days), args.days}):
        figures[f"peak_rss_mb_{k}d"] = round(_peak_rss_mb(root / "ticks", k, settings), 1)
        report(f"peak RSS streaming {k} day(s): {figures[f'peak_rss_mb_{k}d']} MB")
    figures["rss_multi_vs_one_day_ratio"] = round(
        figures[f"peak_rss_mb_{args.days}d"] / figures["peak_rss_mb_1d"], 3)
    per_call, fed = _stream(store, args.stream_events, report)
    figures["stream_events_per_s"] = round(per_call)
    figures["stream_feed_events_per_s"] = round(fed)
    return figures
