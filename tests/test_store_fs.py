"""The tick store and the fan-out on object storage: a real S3 HTTP API on loopback (moto's
server) reached through ``pyarrow.fs.S3FileSystem``. Writes through the store give the same files
as on a local disk; Dask workers reading the store there, and writing feature partitions there,
give the local serial path's results byte for byte."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from aurora.cli import main
from aurora.core.features import FeatureParams
from aurora.core.labels import LabelParams
from aurora.ticks.fanout import dask_client, partition_key, plan_days, run_days, write_partition
from aurora.ticks.feature_table import iter_feature_days
from aurora.ticks.location import LocationError, resolve
from aurora.ticks.store import PART_FILE, TickStore
from aurora.ticks.synth import SynthParams, synthesize_to_store

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "aurora-test", "AWS_SECRET_ACCESS_KEY": "aurora-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "aurora"
DAY1, DAY4 = date(2024, 1, 1), date(2024, 1, 4)
LABELS = LabelParams(horizon_s=30.0)


class S3:
    """The loopback server: ``uri(prefix)`` of a store there, ``fs`` to look at its objects."""

    def __init__(self, host: str, port: int) -> None:
        self.endpoint = f"{host}:{port}"
        self.fs = pafs.S3FileSystem(endpoint_override=self.endpoint, scheme="http",
                                    region="us-east-1", allow_bucket_creation=True)

    def uri(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}?endpoint_override={self.endpoint}&scheme=http&region=us-east-1"

    def keys(self, prefix: str) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True))
        return sorted(i.path for i in infos if i.type == pafs.FileType.File)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as fh:
            return fh.read()


@pytest.fixture(scope="module")
def s3():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with pytest.MonkeyPatch.context() as mp:
        for name, value in CREDENTIALS.items():  # before the workers start: they inherit them
            mp.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            s3 = S3(*server.get_host_and_port())
            s3.fs.create_dir(BUCKET)
            yield s3
        finally:
            server.stop()


@pytest.fixture(scope="module")
def client(s3):
    with dask_client(2, None) as c:
        yield c


@pytest.fixture(scope="module")
def stores(s3, tmp_path_factory) -> tuple[TickStore, TickStore]:
    """The same slow market over three midnights written to a local store and to S3."""
    params = SynthParams.for_symbol("BTCUSDT", bbo_rate_hz=0.3, trade_rate_hz=0.1,
                                    depth_interval_s=30.0)
    local, remote = TickStore(tmp_path_factory.mktemp("local")), TickStore(s3.uri("ticks"))
    for store in (local, remote):
        synthesize_to_store(store, "binance", "BTCUSDT", hours=48.2, seed=11, params=params,
                            start=datetime(2024, 1, 1, 23, 54, tzinfo=UTC))
    return local, remote


def _trades(ids: range, day: date) -> pa.Table:
    t0 = int(pd.Timestamp(day).value)
    n = len(ids)
    return pa.table({"ts_ns": [t0 + i * 10**9 for i in ids], "exch_ns": [None] * n,
                     "trade_id": list(ids), "price": [100.0 + i for i in ids], "qty": [1.0] * n,
                     "side": [1 if i % 2 else -1 for i in ids], "seq": list(ids)})


def test_the_store_on_s3_writes_what_a_local_store_writes(s3, stores):
    local, remote = stores
    assert remote.dates("bbo", "binance", "BTCUSDT") == local.dates("bbo", "binance", "BTCUSDT")
    assert len(local.dates("bbo", "binance", "BTCUSDT")) == 4
    assert remote.next_seq("binance", "BTCUSDT") == local.next_seq("binance", "BTCUSDT")
    assert remote.instrument("binance", "BTCUSDT") == local.instrument("binance", "BTCUSDT")
    keys = s3.keys("ticks")
    assert not [k for k in keys if "/." in k]  # no temporary object, no lock file
    parts = [k for k in keys if k.endswith(PART_FILE)]
    assert len(parts) == 12  # bbo, trades, depth x 4 days
    for key in parts:
        on_disk = Path(local.root) / key.removeprefix(f"{BUCKET}/ticks/")
        assert s3.read_bytes(key) == on_disk.read_bytes(), key
    for table in ("bbo", "trades", "depth"):
        assert remote.read(table, "binance", "BTCUSDT", DAY1, DAY4).equals(
            local.read(table, "binance", "BTCUSDT", DAY1, DAY4))


def test_writes_to_s3_merge_and_deduplicate(s3):
    store = TickStore(s3.uri("merge"))
    day = date(2024, 3, 1)
    first = store.write("trades", _trades(range(10), day), "binance", "ETHUSDT")
    again = store.write("trades", _trades(range(5, 15), day), "binance", "ETHUSDT")
    assert (first.rows_written, again.rows_written, again.duplicates) == (10, 5, 5)
    assert store.write("trades", _trades(range(15), day), "binance", "ETHUSDT").rows_written == 0
    got = store.read("trades", "binance", "ETHUSDT", day, day)
    assert got.column("trade_id").to_pylist() == list(range(15))
    assert s3.keys("merge") == [f"{BUCKET}/merge/_instruments/binance/ETHUSDT.json",
                                f"{BUCKET}/merge/trades/exchange=binance/symbol=ETHUSDT/"
                                f"date=2024-03-01/{PART_FILE}"]


def test_workers_reading_and_writing_s3_equal_the_local_serial_path(s3, stores, client, tmp_path):
    local, remote = stores
    params = {"BTCUSDT": FeatureParams()}  # tick inferred from the first day on both
    out = s3.uri("features")
    tasks = plan_days(remote, "binance", ["BTCUSDT"], [(DAY1, DAY4)], params, LABELS)
    assert tasks[0].stream.store == remote.uri and tasks[2].prev is not None
    outcomes = list(run_days(tasks, write_partition, out, "snappy", client=client))
    assert [o.error for o in outcomes] == [None] * 4
    serial = tmp_path / "serial"
    local_tasks = plan_days(local, "binance", ["BTCUSDT"], [(DAY1, DAY4)], params, LABELS)
    assert [o.error for o in run_days(local_tasks, write_partition, str(serial), "snappy")] == [None] * 4
    frames = dict(iter_feature_days(local, "binance", "BTCUSDT", DAY1, DAY4, FeatureParams(), LABELS,
                                    keep_frames=True))
    for task in tasks:
        key = f"{BUCKET}/features/{partition_key(task)}"
        payload = s3.read_bytes(key)
        assert payload == (serial / partition_key(task)).read_bytes()
        got = pq.read_table(pa.BufferReader(payload)).to_pandas()
        pd.testing.assert_frame_equal(got, frames[task.day], check_exact=True)


def test_cli_features_from_and_to_s3_on_a_scheduler(s3, stores, client, home, tmp_path, capsys):
    local, remote = stores
    base = ["--home", str(home), "features", "--symbol", "BTCUSDT", "--start", "2024-01-01",
            "--end", "2024-01-04", "--labels"]
    assert main([*base, "--store", str(local.root), "--out-dir", str(tmp_path / "serial")]) == 0
    assert main([*base, "--store", remote.uri, "--out-dir", s3.uri("cli"),
                 "--scheduler", client.scheduler.address]) == 0
    assert "wrote" in capsys.readouterr().out
    written = [k for k in s3.keys("cli") if k.endswith(PART_FILE)]
    assert len(written) == 4
    for key in written:
        assert s3.read_bytes(key) == (tmp_path / "serial" / key.removeprefix(f"{BUCKET}/cli/")).read_bytes()


def test_cli_data_synth_writes_to_s3(s3, home, capsys):
    uri = s3.uri("synth")
    argv = ["--home", str(home), "data", "synth", "--store", uri, "--symbol", "BTCUSDT",
            "--hours", "0.05", "--seed", "3"]
    assert main(argv) == 0
    assert TickStore(uri).dates("bbo", "binance", "BTCUSDT")
    assert any(k.endswith(PART_FILE) for k in s3.keys("synth"))


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("s3://bucket/p?access_key=AKIA&secret_key=x", "give credentials in the environment"),
        ("nosuchscheme://bucket/p", "cannot open the store location"),
    ],
)
def test_bad_locations_are_refused_by_name(location, message, home, capsys):
    with pytest.raises(LocationError, match=message):
        resolve(location)
    argv = ["--home", str(home), "features", "--store", location, "--symbol", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-01", "--out-dir", str(home / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
