"""``auroractl features`` on a small synthetic store spanning midnight, and its errors."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from aurora.cli import main
from aurora.core.book import replay_depth
from aurora.core.features import BookTops, FeatureParams, compute_features
from aurora.core.labels import LabelParams, triple_barrier
from aurora.testing import write_artifact
from aurora.ticks.feature_table import LABEL_COLUMNS, feature_table
from aurora.ticks.store import TickStore
from aurora.ticks.synth import synthesize_to_store

START = datetime(2024, 1, 1, 23, 57, tzinfo=UTC)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ticks")
    synthesize_to_store(TickStore(root), "binance", "BTCUSDT", hours=0.1, seed=5, start=START)
    return root


def _run(home: Path, *argv: str) -> int:
    return main(["--home", str(home), "features", *argv])


def test_writes_parquet_with_labels_matching_a_continuous_run(home, store_root, tmp_path):
    out = tmp_path / "f.parquet"
    rc = _run(home, "--store", str(store_root), "--symbol", "btcusdt", "--start", "2024-01-01",
              "--end", "2024-01-02", "--out", str(out), "--labels")
    assert rc == 0
    got = pq.read_table(out).to_pandas()
    store = TickStore(store_root)
    d0, d1 = date(2024, 1, 1), date(2024, 1, 2)
    bbo = store.read("bbo", "binance", "BTCUSDT", d0, d1).to_pandas()
    trades = store.read("trades", "binance", "BTCUSDT", d0, d1).to_pandas()
    depth = store.read("depth", "binance", "BTCUSDT", d0, d1).to_pandas()
    assert len(got) == len(bbo)
    assert np.unique(got["ts_ns"].to_numpy() // 86_400_000_000_000).size == 2  # spans midnight
    rep = replay_depth(depth, 10)
    tops = BookTops(rep["seq"], rep["bid_qty"], rep["ask_qty"], rep["in_sync"])
    params = FeatureParams(tick_size=0.01)  # BTCUSDT's tick in configs/default.yaml
    whole = compute_features(bbo, trades, tops, params)
    for name in params.names:
        np.testing.assert_allclose(got[name], whole[name], rtol=1e-9, atol=1e-9, err_msg=name)
    lp = LabelParams()
    r = triple_barrier(bbo.ts_ns.to_numpy(), bbo.bid_px.to_numpy(), bbo.ask_px.to_numpy(),
                       lp.tp_bps, lp.sl_bps, lp.horizon_s)
    np.testing.assert_array_equal(got["label_long"], r.outcome)
    assert set(LABEL_COLUMNS) <= set(got.columns)
    assert got["obi_w"].notna().mean() > 0.9


def test_csv_output_and_feature_table(home, store_root, tmp_path):
    out = tmp_path / "f.csv"
    assert _run(home, "--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-02",
                "--end", "2024-01-02", "--out", str(out), "--no-depth") == 0
    csv = pd.read_csv(out)
    direct = feature_table(TickStore(store_root), "binance", "BTCUSDT", date(2024, 1, 2),
                           date(2024, 1, 2), FeatureParams(tick_size=0.01), with_depth=False)
    assert len(csv) == len(direct) and csv["obi_w"].isna().all()
    np.testing.assert_allclose(csv["tfi_5s"], direct["tfi_5s"], atol=1e-12)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--symbol", "BTCUSDT", "--start", "2024-13-01", "--end", "2024-01-02"], "--start"),
        (["--symbol", "BTC/USDT", "--start", "2024-01-01", "--end", "2024-01-02"], "bad symbol"),
        (["--symbol", "ETHUSDT", "--start", "2024-01-01", "--end", "2024-01-02"], "no bbo data"),
        (["--symbol", "BTCUSDT", "--start", "2024-02-01", "--end", "2024-02-02"], "no bbo data"),
        (["--symbol", "BTCUSDT", "--start", "2024-01-02", "--end", "2024-01-01"], "after"),
        (["--symbol", "BTCUSDT", "--exchange", "kraken", "--start", "2024-01-01", "--end", "2024-01-01"],
         "unknown exchange"),
    ],
)
def test_bad_requests_are_clear_errors(home, store_root, tmp_path, capsys, argv, message):
    out = tmp_path / "f.parquet"
    assert _run(home, "--store", str(store_root), "--out", str(out), *argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".f.parquet*"))


@pytest.mark.parametrize("name", ["x.txt", "x", "x.parquet.bak"])
def test_out_with_an_unknown_extension_is_refused_not_written_as_parquet(home, store_root, tmp_path, capsys,
                                                                         name):
    out = tmp_path / name
    assert _run(home, "--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-02",
                "--end", "2024-01-02", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "neither Parquet nor CSV" in err and out.with_suffix(".parquet").name in err
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # nothing written beside it


def test_separately_imported_days_match_one_continuous_run(tmp_path):
    """Real slices imported by two calls (seq restarts at 0): the day split, the carried book and
    the trailing context give the same rows as one continuous computation."""
    from aurora.ticks.binance_ws import import_recordings, parse_recording

    fix = Path(__file__).resolve().parent / "fixtures" / "binance_ws"
    files = [fix / "btcusdt_20240808_head.gz", fix / "btcusdt_20240809_head.gz"]
    store = TickStore(tmp_path / "ticks")
    for f in files:
        import_recordings([f], store, "binance", "BTCUSDT")
    params = FeatureParams(tick_size=0.01)
    got = feature_table(store, "binance", "BTCUSDT", date(2024, 8, 8), date(2024, 8, 9), params,
                        LabelParams(horizon_s=5.0))
    seq = 0
    parts: dict[str, list[pd.DataFrame]] = {"bbo": [], "trades": [], "depth": []}
    for f in files:
        rec = parse_recording(f, "BTCUSDT", seq_start=seq)
        seq = rec.seq_end
        for name, frames in parts.items():
            frames.append(rec.tables[name].to_pandas())
    bbo, trades, depth = (pd.concat(parts[n], ignore_index=True) for n in ("bbo", "trades", "depth"))
    rep = replay_depth(depth, params.obi_levels)
    whole = compute_features(bbo, trades, BookTops(rep["seq"], rep["bid_qty"], rep["ask_qty"],
                                                   rep["in_sync"]), params)
    assert len(got) == len(whole)
    for name in params.names:
        np.testing.assert_allclose(got[name], whole[name], rtol=1e-9, atol=1e-9, err_msg=name)
    r = triple_barrier(bbo.ts_ns.to_numpy(), bbo.bid_px.to_numpy(), bbo.ask_px.to_numpy(), 10, 10, 5.0)
    np.testing.assert_array_equal(got["label_long"], r.outcome)
    # 8 Aug labels see into 9 Aug's head (complete); the data's last rows are censored
    assert got["label_complete"].iloc[0] and not got["label_complete"].iloc[-1]


def test_microprice_from_an_artifact(home, store_root, tmp_path, capsys):
    from aurora.core.microprice import MicropriceModel

    model = MicropriceModel(tick_size=0.01, imbalance_buckets=2, spread_buckets=1,
                            g_ticks=((-0.25, 0.25),))
    art = write_artifact(tmp_path / "artifact.json", "mp", microprice=model.to_dict())
    out = tmp_path / "f.parquet"
    assert _run(home, "--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-02",
                "--end", "2024-01-02", "--out", str(out), "--no-depth", "--microprice", str(art)) == 0
    got = pq.read_table(out).to_pandas()
    up = got["obi_l1"] >= 0
    np.testing.assert_allclose(got.loc[up, "microprice"], got.loc[up, "mid"] + 0.0025)
    np.testing.assert_allclose(got.loc[~up, "microprice"], got.loc[~up, "mid"] - 0.0025)
    write_artifact(art, "no-mp")
    assert _run(home, "--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-02",
                "--end", "2024-01-02", "--out", str(out), "--microprice", str(art)) == 2
    assert "no 'microprice' object" in capsys.readouterr().err
    # any artifact read goes through load_artifact's checks: a bare or tampered document is refused
    art.write_text(json.dumps({"schema": "aurora.calibration/1", "microprice": model.to_dict()}))
    assert _run(home, "--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-02",
                "--end", "2024-01-02", "--out", str(out), "--microprice", str(art)) == 2
    assert "has no sha256" in capsys.readouterr().err


#: Feature parameters of an artifact, each different from the shipped configuration's.
ARTIFACT_PARAMS = FeatureParams(windows_s=(2.0, 7.0), obi_levels=3, obi_decay=1.25, impact_window_s=20.0,
                                microprice_imbalance_buckets=4, microprice_spread_buckets=1,
                                microprice_horizon_s=2.0, tick_size=0.02)
#: A changed value for every feature key of the configuration (and the symbol's tick).
CONFIG_CHANGES = {"features": {"windows_s": [1.0, 3.0], "obi_levels": 5, "obi_decay": 0.1,
                               "impact_window_s": 90.0, "microprice_imbalance_buckets": 6,
                               "microprice_spread_buckets": 3, "microprice_horizon_s": 0.5},
                  "symbols": {"BTCUSDT": {"tick_size": 0.05}}}


def test_the_artifacts_feature_params_win_over_every_config_key(home, store_root, tmp_path, capsys):
    """Research and live compute the features the model was fitted on, whatever the local config."""
    from dataclasses import fields

    from aurora.config import load_settings

    shipped = load_settings(home=tmp_path, env={})
    assert set(CONFIG_CHANGES["features"]) == set(type(shipped.features).model_fields)
    configured = FeatureParams.from_settings(shipped.features, shipped.symbols["BTCUSDT"].tick_size)
    for f in fields(FeatureParams):
        if f.init:
            assert getattr(ARTIFACT_PARAMS, f.name) != getattr(configured, f.name), f.name
    art = write_artifact(tmp_path / "artifact.json", "fp", feature_params=ARTIFACT_PARAMS,
                         symbols=("BTCUSDT",))
    day = ["--store", str(store_root), "--symbol", "BTCUSDT", "--start", "2024-01-01", "--end", "2024-01-02"]
    want = feature_table(TickStore(store_root), "binance", "BTCUSDT", date(2024, 1, 1), date(2024, 1, 2),
                         ARTIFACT_PARAMS)
    assert "tfi_7s" in want.columns
    changes = [(section, {key: value}) for section, keys in CONFIG_CHANGES.items()
               for key, value in keys.items()]
    for section, change in changes:
        cfg = tmp_path / "changed.yaml"
        cfg.write_text(yaml.safe_dump({section: change}))
        out = tmp_path / "f.parquet"
        assert main(["--home", str(home), "--config", str(cfg), "features", *day, "--out", str(out),
                     "--artifact", str(art)]) == 0, change
        pd.testing.assert_frame_equal(pq.read_table(out).to_pandas(), want, obj=str(change))
        assert f"from artifact {art}" in capsys.readouterr().out
    # without --artifact the current artifact is the default, with every key changed at once
    cfg.write_text(yaml.safe_dump(CONFIG_CHANGES))
    current = home / "data" / "artifacts" / "current.json"
    current.parent.mkdir(parents=True, exist_ok=True)
    current.write_bytes(art.read_bytes())
    assert main(["--home", str(home), "--config", str(cfg), "features", *day, "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pq.read_table(out).to_pandas(), want)
    assert f"from artifact {current}" in capsys.readouterr().out
    # an artifact of another symbol is refused rather than applied
    assert main(["--home", str(home), "features", *day, "--out", str(out), "--artifact",
                 str(write_artifact(tmp_path / "eth.json", "eth", symbols=("ETHUSDT",)))]) == 2
    assert "calibrated for ETHUSDT, not BTCUSDT" in capsys.readouterr().err
    # with no artifact at all the configured parameters are used, and the command says so
    current.unlink()
    assert main(["--home", str(home), "--config", str(cfg), "features", *day, "--out", str(out)]) == 0
    assert "configured features.*" in capsys.readouterr().out
    assert "tfi_3s" in pq.read_schema(out).names


def test_unsynced_book_is_reported_and_logged(home, store_root, tmp_path, capsys):
    """A store without depth: book_ok False on every row, one range over the whole table."""
    bare = tmp_path / "bare"
    shutil.copytree(store_root, bare)
    shutil.rmtree(bare / "depth")
    out = tmp_path / "f.parquet"
    assert _run(home, "--store", str(bare), "--symbol", "BTCUSDT", "--start", "2024-01-01",
                "--end", "2024-01-02", "--out", str(out)) == 0
    got = pq.read_table(out, columns=["ts_ns", "book_ok", "obi_w"]).to_pandas()
    assert not got["book_ok"].any() and got["obi_w"].isna().all()
    err = capsys.readouterr().err
    assert "depth book was not in sync in 1 time range(s)" in err and "obi_w is NaN" in err
    logged = [json.loads(line) for line in (home / "logs" / "aurora_events.jsonl").read_text().splitlines()]
    event = next(e for e in logged if e["event"] == "features.book_unsynced")
    first, last = int(got["ts_ns"].iloc[0]), int(got["ts_ns"].iloc[-1])
    assert (event["ranges"], event["first_ts_ns"], event["last_ts_ns"]) == (1, first, last)
    assert event["total_s"] == pytest.approx((last - first) / 1e9, abs=1e-3)
