"""``auroractl data import|synth`` end to end through ``aurora.cli.main``."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from aurora.cli import main
from aurora.config import load_settings
from aurora.events import read_events
from aurora.ticks.store import TickStore

FIX = Path(__file__).resolve().parent / "fixtures" / "binance_ws"


def events_of(home: Path, prefix: str) -> list[dict]:
    return [e for e in read_events(home / "logs" / "aurora_events.jsonl") if e["event"].startswith(prefix)]


def test_import_two_ws_files_into_the_default_store(home: Path, capsys) -> None:
    files = [str(FIX / "btcusdt_20240808_head.gz"), str(FIX / "btcusdt_20240809_head.gz")]
    assert main(["--home", str(home), "data", "import", "--symbol", "btcusdt", *files]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "ws, 3000 messages" in out[0] and "0 skipped, 0 gaps" in out[0]
    store = TickStore(home / "data" / "ticks")
    assert store.dates("bbo", "binance", "BTCUSDT") == [date(2024, 8, 8), date(2024, 8, 9)]
    kinds = [e["event"] for e in events_of(home, "data.import")]
    assert kinds[0] == "data.import.start" and kinds[-1] == "data.import.done"
    assert kinds.count("data.import.file") == 2
    # seq continues across the files of one call
    t8 = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 8))
    t9 = store.read("trades", "binance", "BTCUSDT", date(2024, 8, 9), date(2024, 8, 9))
    assert t9.column("seq").to_numpy().min() >= 3000 > t8.column("seq").to_numpy().max()
    # re-import: same store, nothing written
    assert main(["--home", str(home), "data", "import", "--symbol", "BTCUSDT", *files]) == 0
    assert "written trades=0 bbo=0 depth=0" in capsys.readouterr().out


def test_separate_imports_into_one_day_keep_one_arrival_order(home: Path, tmp_path: Path, capsys) -> None:
    """A day imported in two runs (two halves of a recording) numbers ``seq`` on from what is
    stored, so features see the same strictly increasing arrival order as one import."""
    from aurora.core.features import FeatureParams
    from aurora.ticks.feature_table import feature_table

    lines = gzip.decompress((FIX / "btcusdt_20240808_head.gz").read_bytes()).splitlines(keepends=True)
    halves = [tmp_path / "a.gz", tmp_path / "b.gz"]
    for path, part in zip(halves, (lines[:1500], lines[1500:]), strict=True):
        path.write_bytes(gzip.compress(b"".join(part)))
    split_home, whole_home = home / "split", home / "whole"
    for half in halves:
        assert main(["--home", str(split_home), "data", "import", "--symbol", "BTCUSDT", str(half)]) == 0
    assert main(["--home", str(whole_home), "data", "import", "--symbol", "BTCUSDT", *map(str, halves)]) == 0
    capsys.readouterr()
    day = date(2024, 8, 8)
    split_store = TickStore(split_home / "data" / "ticks")
    whole_store = TickStore(whole_home / "data" / "ticks")
    for table in ("trades", "bbo", "depth"):
        a = split_store.read(table, "binance", "BTCUSDT", day, day)
        b = whole_store.read(table, "binance", "BTCUSDT", day, day)
        assert a.equals(b), table
    assert split_store.next_seq("binance", "BTCUSDT") == whole_store.next_seq("binance", "BTCUSDT") > 0
    params = FeatureParams.from_settings(load_settings(home=split_home, env={}).features)
    f = feature_table(split_store, "binance", "BTCUSDT", day, day, params)
    assert len(f) == whole_store.read("bbo", "binance", "BTCUSDT", day, day).num_rows


def test_bad_line_skip_vs_error(home: Path, tmp_path: Path, capsys) -> None:
    with gzip.open(FIX / "btcusdt_20240808_head.gz", "rt") as fh:
        lines = fh.read().splitlines()[:200]
    lines[20] = lines[20][:30]
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n")
    store_dir = tmp_path / "store"
    rc = main(["--home", str(home), "data", "import", "--store", str(store_dir), "--symbol", "BTCUSDT",
               "--on-bad-input", "error", str(bad)])
    assert rc == 2 and "bad.txt:21: malformed JSON" in capsys.readouterr().err
    assert not store_dir.exists()
    assert events_of(home, "data.import.failed")
    rc = main(["--home", str(home), "data", "import", "--store", str(store_dir), "--symbol", "BTCUSDT",
               str(bad)])
    assert rc == 0 and "1 skipped" in capsys.readouterr().out
    assert [e["line"] for e in events_of(home, "data.import.skip")] == [21]


def test_microsecond_recording_is_converted_or_refused_with_ts_unit(home: Path, tmp_path: Path,
                                                                    capsys) -> None:
    with gzip.open(FIX / "btcusdt_20240808_head.gz", "rt") as fh:
        lines = fh.read().splitlines()[:300]
    rec = tmp_path / "us.txt"
    rec.write_text("".join(f"{int(ln[:19]) // 1000}{ln[19:]}\n" for ln in lines))
    base = ["--home", str(home), "data", "import", "--symbol", "BTCUSDT", str(rec)]
    assert main([*base, "--ts-unit", "ns"]) == 2
    assert "us.txt:4: receive time" in capsys.readouterr().err
    assert main(base) == 0
    assert "clock in us" in capsys.readouterr().out
    assert TickStore(home / "data" / "ticks").dates("bbo", "binance", "BTCUSDT") == [date(2024, 8, 8)]
    assert events_of(home, "data.import.file")[-1]["ts_unit"] == "us"
    csv = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    csv.write_text("1,60000.0,0.1,1,1,1723075200000,True,True\n")
    assert main([*base[:-1], "--ts-unit", "ms", str(csv)]) == 2
    assert "--ts-unit applies to websocket recordings only" in capsys.readouterr().err


def test_imports_that_store_nothing_or_the_wrong_thing_exit_non_zero(home: Path, tmp_path: Path,
                                                                     capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = ["--home", str(home), "data", "import", "--symbol", "BTCUSDT"]
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("exchange,symbol,timestamp\nbinance,BTCUSDT,1\n")
    assert main([*base, "--format", "ws", str(foreign)]) == 2
    assert "foreign.txt: nothing imported: 2 line(s), 2 skipped" in capsys.readouterr().err
    assert main([*base, "--symbol", "ETHUSDT", str(FIX / "btcusdt_20240808_head.gz")]) == 2
    assert "streams are for BTCUSDT" in capsys.readouterr().err
    with gzip.open(FIX / "btcusdt_20240808_head.gz", "rt") as fh:
        lines = fh.read().splitlines()[:100]
    fut = tmp_path / "fut.txt"
    with_pu = (ln.replace('"e":"depthUpdate",', '"e":"depthUpdate","pu":1,') for ln in lines)
    fut.write_text("".join(ln + "\n" for ln in with_pu))
    assert main([*base, str(fut)]) == 2
    assert "a Binance futures recording (depth diffs carry pu)" in capsys.readouterr().err
    parquet = tmp_path / "BTCUSDT-trades-2024-08-08.parquet"
    pq.write_table(pa.table({"x": [1]}), parquet)
    for fmt in (["--format", "vision"], ["--format", "ws"], []):
        assert main([*base, *fmt, str(parquet)]) == 2
        assert "is a Parquet file, not a raw recording" in capsys.readouterr().err
    assert not (home / "data" / "ticks").exists()


def test_depth_that_can_never_give_a_book_is_warned_about(home: Path, tmp_path: Path, capsys) -> None:
    with gzip.open(FIX / "btcusdt_20240808_head.gz", "rt") as fh:
        lines = fh.read().splitlines()[:600]
    no_snap = tmp_path / "no_snap.txt"
    no_snap.write_text("".join(ln + "\n" for ln in lines if "lastUpdateId" not in ln))
    i = next(i for i, ln in enumerate(lines) if "lastUpdateId" in ln)
    ts, payload = lines[i].split(" ", 1)
    snap = json.loads(payload)
    snap["lastUpdateId"] -= 10**6     # older than every diff of the file: none connects to it
    never = tmp_path / "never.txt"
    never.write_text("".join(ln + "\n" for ln in [*lines[:i], f"{ts} {json.dumps(snap)}", *lines[i + 1:]]))
    base = ["--home", str(home), "data", "import", "--symbol", "BTCUSDT"]
    assert main([*base, str(no_snap)]) == 0
    assert "warning: " in (err := capsys.readouterr().err) and "no REST depth snapshot" in err
    assert main([*base, "--store", str(tmp_path / "s2"), str(never)]) == 0
    assert "the depth never syncs" in capsys.readouterr().err
    assert main([*base, "--store", str(tmp_path / "s3"), str(FIX / "btcusdt_20240808_head.gz")]) == 0
    assert "warning" not in capsys.readouterr().err
    reasons = [e["reason"] for e in events_of(home, "data.import.no_book")]
    assert len(reasons) == 2 and "no REST depth snapshot" in reasons[0]


def test_vision_dump_is_detected_by_name(home: Path, tmp_path: Path, capsys) -> None:
    csv = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    body = b"1,60000.0,0.1,1,1,1723075200000,True,True\n2,60000.1,0.2,2,2,1723075201000,False,True\n"
    csv.write_bytes(body)
    (tmp_path / (csv.name + ".CHECKSUM")).write_text(f"{hashlib.sha256(body).hexdigest()}  {csv.name}\n")
    assert main(["--home", str(home), "data", "import", "--symbol", "BTCUSDT", str(csv)]) == 0
    assert "vision, 2 messages" in capsys.readouterr().out
    (tmp_path / (csv.name + ".CHECKSUM")).write_text(f"{'0' * 64}  {csv.name}\n")
    assert main(["--home", str(home), "data", "import", "--symbol", "BTCUSDT", str(csv)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_synth_writes_days_and_is_deterministic(home: Path, tmp_path: Path, capsys) -> None:
    args = ["data", "synth", "--symbol", "BTCUSDT", "--hours", "0.1", "--seed", "9", "--start", "2024-05-01"]
    assert main(["--home", str(home), *args]) == 0
    assert main(["--home", str(home), *args, "--store", str(tmp_path / "other")]) == 0
    out = capsys.readouterr().out
    assert out.count("BTCUSDT 2024-05-01:") == 2
    day = date(2024, 5, 1)
    a = TickStore(home / "data" / "ticks").read("bbo", "binance", "BTCUSDT", day, day)
    b = TickStore(tmp_path / "other").read("bbo", "binance", "BTCUSDT", day, day)
    assert a.num_rows > 10_000 and a.equals(b)
    assert [e["event"] for e in events_of(home, "data.synth")][:3] == [
        "data.synth.start", "data.synth.day", "data.synth.done"]


@pytest.mark.parametrize(("argv", "message"), [
    (["data", "synth", "--symbol", "BTCUSDT", "--hours", "0", "--seed", "1"], "--hours must be > 0"),
    (["data", "synth", "--symbol", "BTC/USDT", "--hours", "1", "--seed", "1"], "bad symbol 'BTC/USDT'"),
    (["data", "synth", "--symbol", "BTCUSDT", "--hours", "1", "--seed", "1", "--start", "May 1"],
     "is not a date"),
    (["data", "synth", "--symbol", "BTCUSDT", "--exchange", "kraken", "--hours", "1", "--seed", "1"],
     "--exchange 'kraken' is unknown"),
    (["data", "import", "--symbol", "BTCUSDT", "/no/such/file.gz"], "no such file"),
])
def test_bad_arguments_exit_2_with_a_clear_message(home: Path, capsys, argv, message) -> None:
    assert main(["--home", str(home), *argv]) == 2
    assert message in capsys.readouterr().err


def test_unknown_synth_param_in_config_is_named(home: Path, capsys) -> None:
    (home / "configs").mkdir()
    (home / "configs" / "local.yaml").write_text("synth: {params: {alpha_obii: 2.0}}\n")
    argv = ["--home", str(home), "data", "synth", "--symbol", "BTCUSDT", "--hours", "0.01", "--seed", "1"]
    assert main(argv) == 2
    assert "synth.params.alpha_obii is not a SynthParams field" in capsys.readouterr().err
