"""``auroractl bench features`` at tiny sizes produces every figure (values are not asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from aurora.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance_ws"
FIGURES = {
    "ws_import_msgs_per_s", "csv_import_rows_per_s", "day_events", "scan_events_per_s",
    "features_labels_events_per_s", "features_vs_scan_ratio", "features_first_day_vs_scan_ratio",
    "features_nodepth_vs_scan_ratio", "peak_rss_mb_1d", "peak_rss_mb_2d",
    "rss_multi_vs_one_day_ratio", "stream_events_per_s", "stream_feed_events_per_s",
}


@pytest.mark.slow
def test_bench_features_smoke(home, tmp_path, capsys):
    rc = main(["--home", str(home), "bench", "features", "--hours", "0.02", "--days", "2",
               "--csv-rows", "2000", "--stream-events", "5000", "--repeat", "1",
               "--workdir", str(tmp_path / "w"), "--recordings", str(FIXTURES),
               "--json"])
    assert rc == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures) == FIGURES
    assert all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in figures.values())


def test_bench_features_names_a_missing_recordings_folder(home, tmp_path):
    with pytest.raises(SystemExit, match=r"--recordings .*nowhere: no Binance websocket recordings"):
        main(["--home", str(home), "bench", "features", "--recordings", str(tmp_path / "nowhere"),
              "--workdir", str(tmp_path / "w")])


def test_bench_features_recording_mode(home, tmp_path, capsys):
    """A recording repeated end to end imports whole (no gap, no skipped line) and every figure
    of the recording mode comes out."""
    rc = main(["--home", str(home), "bench", "features", "--recording",
               str(FIXTURES / "btcusdt_20240808_head.gz"), "--recording-repeats", "2",
               "--repeat", "1", "--workdir", str(tmp_path / "w"), "--json"])
    assert rc == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures) == {
        "recording_messages", "recording_depth_rows", "recording_scan_msgs_per_s",
        "recording_import_msgs_per_s", "recording_import_vs_scan_ratio",
        "recording_features_msgs_per_s", "recording_features_vs_scan_ratio",
        "recording_depth_rows_per_s", "recording_depth_vs_scan_ratio",
        "recording_tardis_import_rows_per_s"}
    assert figures["recording_messages"] == 2 * 3000
    assert all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in figures.values())


def test_bench_features_names_a_missing_recording(home, tmp_path):
    with pytest.raises(SystemExit, match=r"--recording .*nowhere.gz: no such file"):
        main(["--home", str(home), "bench", "features", "--recording", str(tmp_path / "nowhere.gz"),
              "--workdir", str(tmp_path / "w")])


def test_tardis_export_imports_back_to_the_same_rows(tmp_path):
    """The bench's tardis CSVs (written from a store) import back to the same trades, quotes
    and depth levels, times cut to µs as tardis keeps them."""
    from aurora.bench._tardis_csv import write_tardis_csvs
    from aurora.ticks.binance_ws import import_recordings
    from aurora.ticks.store import TickStore
    from aurora.ticks.tardis import import_tardis

    src = TickStore(tmp_path / "src")
    import_recordings([FIXTURES / "btcusdt_20240808_head.gz"], src, "binance", "BTCUSDT")
    day = src.dates("bbo", "binance", "BTCUSDT")[0]
    files, rows = write_tardis_csvs(src, "binance", "BTCUSDT", day, day, folder=tmp_path)
    back = TickStore(tmp_path / "back")
    import_tardis(files, back, "binance", "BTCUSDT")
    total = 0
    for table, cols in (("trades", ["ts_ns", "trade_id", "price", "qty", "side"]),
                        ("bbo", ["ts_ns", "bid_px", "bid_qty", "ask_px", "ask_qty"]),
                        ("depth", ["ts_ns", "side", "price", "qty", "is_snapshot"])):
        want = src.read(table, "binance", "BTCUSDT", day, day).to_pandas()
        got = back.read(table, "binance", "BTCUSDT", day, day).to_pandas()
        want["ts_ns"] = want["ts_ns"] // 1000 * 1000
        assert len(got) == len(want) > 0
        assert got[cols].reset_index(drop=True).equals(want[cols].reset_index(drop=True)), table
        total += len(want)
    assert rows == total
