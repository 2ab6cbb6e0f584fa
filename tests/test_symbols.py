"""One symbol rule everywhere: core validator, store/importers, CLI, config keys, API schema."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pydantic
import pytest
from conftest import SHARED_WS

from aurora.api.schemas import PretradeRequest
from aurora.cli import main
from aurora.core.symbols import SYMBOL_PATTERN, coinm_contract_usd, is_coinm, validate_symbol
from aurora.ticks.schema import futures_exchange_of, instrument_problem
from aurora.ticks.store import StoreError, TickStore

GOOD = ["BTCUSDT", "1000PEPEUSDT", "BTCUSD_PERP", "ETHUSD_240927", "BTCUSDT_240927"]
BAD = ["btcusdt", "BTC/USDT", "B", "BTCUSD_", "BTCUSD_PERPX", "BTC-USDT", "../ETC", "BTCUSD_2409", ""]
CM = SHARED_WS.parent / "cm" / "btcusd_perp_20240808.gz"


@pytest.mark.parametrize("symbol", GOOD)
def test_binance_names_pass_the_one_rule_and_the_api_schema(symbol: str) -> None:
    assert validate_symbol(symbol) == symbol
    body = {"symbol": symbol, "side": "buy", "qty": 1.0, "price": 1.0, "latency_ms": 1.0,
            "slippage_est_bps": 0.0, "spread_bps": 1.0, "p_tp": 0.5, "e_pi_bps": 1.0, "regime": "x",
            "sprt_llr": 0.0}
    assert PretradeRequest.model_validate(body).symbol == symbol


@pytest.mark.parametrize("symbol", BAD)
def test_other_text_is_refused_naming_the_rule(symbol: str) -> None:
    with pytest.raises(ValueError, match=r"bad symbol .*like BTCUSDT, optionally _PERP"):
        validate_symbol(symbol)
    with pytest.raises(pydantic.ValidationError):
        PretradeRequest.model_validate({"symbol": symbol})
    assert SYMBOL_PATTERN in json.dumps(PretradeRequest.model_json_schema())


def test_coinm_contracts_and_exchanges() -> None:
    assert is_coinm("BTCUSD_PERP") and is_coinm("ETHUSD_240927") and not is_coinm("BTCUSDT_240927")
    assert coinm_contract_usd("BTCUSD_PERP") == 100.0 and coinm_contract_usd("ETHUSD_PERP") == 10.0
    with pytest.raises(ValueError, match="not a COIN-M contract"):
        coinm_contract_usd("BTCUSDT")
    assert futures_exchange_of("btcusd_perp") == "binance-coinm"
    assert futures_exchange_of("BTCUSDT") == "binance-usdm"
    assert instrument_problem("binance-coinm", "BTCUSD_PERP") is None
    assert "use --exchange binance-coinm" in instrument_problem("binance", "BTCUSD_PERP")
    assert "use --exchange binance-coinm" in instrument_problem("binance-usdm", "BTCUSD_PERP")
    assert "not a COIN-M contract" in instrument_problem("binance-coinm", "BTCUSDT")
    assert "use --exchange binance-usdm" in instrument_problem("binance", "BTCUSDT_240927")


def test_store_records_what_a_quantity_means(tmp_path: Path) -> None:
    store = TickStore(tmp_path)
    with pytest.raises(StoreError, match="is a COIN-M contract"):
        store.instrument("binance", "BTCUSD_PERP")
    assert store.instrument("binance-coinm", "BTCUSD_PERP") == {
        "exchange": "binance-coinm", "symbol": "BTCUSD_PERP", "qty_unit": "contracts", "contract_usd": 100.0}
    assert store.instrument("binance", "BTCUSDT")["qty_unit"] == "base"


@pytest.mark.skipif(not CM.is_file(), reason="shared recordings not present")
def test_coinm_recording_flows_from_import_to_features(home: Path, tmp_path: Path, capsys) -> None:
    """``data import`` accepted BTCUSD_PERP but ``features`` refused it: COIN-M was unusable."""
    with gzip.open(CM, "rt") as fh:
        head = [next(fh) for _ in range(3000)]
    rec = tmp_path / "cm.gz"
    rec.write_bytes(gzip.compress("".join(head).encode()))
    base = ["--home", str(home)]
    assert main([*base, "data", "import", "--symbol", "btcusd_perp", str(rec)]) == 2
    assert "is a COIN-M contract; use --exchange binance-coinm" in capsys.readouterr().err
    assert main([*base, "data", "import", "--exchange", "binance-coinm", "--symbol", "btcusd_perp",
                 str(rec)]) == 0
    meta = home / "data" / "ticks" / "_instruments" / "binance-coinm" / "BTCUSD_PERP.json"
    assert json.loads(meta.read_text())["contract_usd"] == 100.0
    out = tmp_path / "f.parquet"
    assert main([*base, "features", "--exchange", "binance-coinm", "--symbol", "BTCUSD_PERP",
                 "--start", "2024-08-08", "--end", "2024-08-08", "--out", str(out)]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.num_rows == 1099
    obi = table.column("obi_w").to_numpy()
    assert (obi == obi).mean() > 0.9   # the book syncs (not NaN)
