"""The numba fast path of the websocket importer gives exactly what the Python parser gives.

On the real recordings (spot, USD-M, COIN-M) and on real lines mutated the ways broken files are
broken (dropped, repeated, swapped, truncated, corrupted bytes, another symbol, escapes, other
number spellings, repeated keys, non-market trades, CRLF, a cut gzip): the same tables, counts,
skips, gaps, line numbers and errors.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.ticks import ws_fastpath as fp
from aurora.ticks.binance_ws import RecordingError, parse_recording
from tests.conftest import FIXTURES, REPO

SHARED = REPO.parent / "shared" / "data" / "binance-ws"
SPOT_HEAD = FIXTURES / "binance_ws" / "btcusdt_20240808_head.gz"


def _outcome(path: Path, symbol: str, exchange: str, mode: str, fast: bool) -> object:
    try:
        r = parse_recording(path, symbol, exchange, on_bad_input=mode, fast=fast)  # type: ignore[arg-type]
    except RecordingError as exc:
        return ("error", str(exc))
    return ({k: t.to_pydict() for k, t in r.tables.items()}, r.stats, r.skips, r.gaps, r.seq_end, r.ts_unit,
            list(r.lines))


def _same(path: Path, symbol: str, exchange: str, mode: str = "skip") -> None:
    assert _outcome(path, symbol, exchange, mode, True) == _outcome(path, symbol, exchange, mode, False)


@pytest.mark.parametrize(("rel", "symbol", "exchange"), [
    ("spot/btcusdt_20240808.gz", "BTCUSDT", "binance"),
    ("usdm/btcusdt_20240808.gz", "BTCUSDT", "binance-usdm"),
    ("cm/btcusd_perp_20240808.gz", "BTCUSD_PERP", "binance-coinm"),
])
def test_real_recordings_parse_the_same(rel: str, symbol: str, exchange: str) -> None:
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"{path} is not here (the shared recordings lie beside the checkout)")
    fast = parse_recording(path, symbol, exchange)
    slow = parse_recording(path, symbol, exchange, fast=False)
    for name in slow.tables:
        assert fast.tables[name].equals(slow.tables[name]), name
    assert (fast.stats, fast.skips, fast.gaps, fast.seq_end, list(fast.lines)) == \
        (slow.stats, slow.skips, slow.gaps, slow.seq_end, list(slow.lines))
    assert fast.stats.messages > 40_000


def _lines(path: Path, n: int) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        return [fh.readline().rstrip(b"\n") for _ in range(n)]


SPOT_LINES = _lines(SPOT_HEAD, 400)
_JUNK = [b'"', b"\\", b"{", b"}", b",", b"x", b"1", b"-", b".", b"e", b" ", b"\xc3\xa9", b"[", b"]", b"\x01"]


def _futures_lines() -> list[bytes]:
    """Spot lines dressed as USD-M ones (E/T on bookTicker, X on trades, pu on diffs, times on the
    snapshot), so the futures rules are exercised without a futures fixture."""
    out, prev_u = [], None
    for spot in SPOT_LINES:
        ln = spot
        if b"@bookTicker" in ln:
            ln = ln.replace(b'"data":{', b'"data":{"e":"bookTicker","T":1723161255342,"E":1723161255343,')
        elif b"@trade" in ln:
            ln = ln.replace(b'"M":true', b'"X":"MARKET"')
        elif b"depthUpdate" in ln:
            u = int(ln.split(b'"u":')[1].split(b",")[0])
            if prev_u is not None:
                ln = ln.replace(b'"U":', b'"pu":%d,"U":' % prev_u)
            prev_u = u
        out.append(ln)
    return out


FUTURES_LINES = _futures_lines()


@st.composite
def mutated(draw: st.DrawFn, base: list[bytes]) -> list[bytes]:
    lines = list(base)
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        ln = lines[i]
        op = draw(st.sampled_from(["drop", "repeat", "swap", "blank", "byte", "cut", "symbol", "x", "number",
                                   "dupkey", "crlf", "escape", "space"]))
        if op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(draw(st.integers(0, len(lines))), ln)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], ln
        elif op == "blank":
            lines.insert(i, draw(st.sampled_from([b"", b"   ", b"\t"])))
        elif op == "byte" and ln:
            k = draw(st.integers(0, len(ln) - 1))
            lines[i] = ln[:k] + draw(st.sampled_from(_JUNK)) + ln[k + 1:]
        elif op == "cut" and ln:
            lines[i] = ln[:draw(st.integers(0, len(ln) - 1))]
        elif op == "symbol":
            lines[i] = ln.replace(b"btcusdt@", b"ethusdt@").replace(b'"s":"BTCUSDT"', b'"s":"ETHUSDT"')
        elif op == "x":
            kind = draw(st.sampled_from([b"ADL", b"NA", b"MARKET"]))
            lines[i] = ln.replace(b'"X":"MARKET"', b'"X":"' + kind + b'"').replace(b'"M":true', b'"X":"NA"')
        elif op == "number":
            price = draw(st.sampled_from([b"+", b"0", b"1e", b"", b"-"]))
            uid = draw(st.sampled_from([b"-", b"0", b"1.5", b""]))
            lines[i] = ln.replace(b'"p":"', b'"p":"' + price).replace(b'"u":', b'"u":' + uid)
        elif op == "dupkey":
            key = draw(st.sampled_from([b"u", b"s", b"b", b"T", b"zz"]))
            lines[i] = ln.replace(b'"data":{', b'"data":{"' + key + b'":1,')
        elif op == "crlf":
            lines[i] = ln + b"\r"
        elif op == "escape":
            lines[i] = ln.replace(b'"s":"BTCUSDT"', b'"s":"BTC\\u0055SDT"')
        elif op == "space":
            lines[i] = ln.replace(b'":', b'" : ', 3).replace(b",", b" , ", 2)
    return lines


def _write(path: Path, lines: list[bytes], gz: bool, cut: int | None = None) -> Path:
    data = b"\n".join(lines) + b"\n"
    if gz:
        data = gzip.compress(data, mtime=0)
        if cut is not None:
            data = data[:max(cut, 20)]
    path.write_bytes(data)
    return path


@settings(deadline=None)  # the first example loads the compiled kernel
@given(lines=mutated(SPOT_LINES), gz=st.booleans(), mode=st.sampled_from(["skip", "error"]))
def test_mutated_spot_lines_parse_the_same(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes],
                                           gz: bool, mode: str) -> None:
    path = _write(tmp_path_factory.mktemp("m") / "rec.gz", lines, gz)
    _same(path, "BTCUSDT", "binance", mode)


@settings(deadline=None)  # the first example loads the compiled kernel
@given(lines=mutated(FUTURES_LINES), exchange=st.sampled_from(["binance-usdm", "binance"]))
def test_mutated_futures_lines_parse_the_same(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes],
                                              exchange: str) -> None:
    path = _write(tmp_path_factory.mktemp("f") / "rec.gz", lines, True)
    _same(path, "BTCUSDT", exchange)


@settings(deadline=None)  # the first example loads the compiled kernel
@given(cut=st.integers(20, 40_000))
def test_a_cut_gzip_keeps_the_same_lines(tmp_path_factory: pytest.TempPathFactory, cut: int) -> None:
    path = _write(tmp_path_factory.mktemp("c") / "rec.gz", SPOT_LINES, True, cut=cut)
    _same(path, "BTCUSDT", "binance")


def test_blocks_split_lines_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks: every line boundary falls inside a read, and the last line has no newline."""
    import aurora.ticks.binance_ws as bw

    path = tmp_path / "rec.txt"
    path.write_bytes(b"\n".join(FUTURES_LINES))
    whole = _outcome(path, "BTCUSDT", "binance-usdm", "skip", False)
    monkeypatch.setattr(bw, "FAST_BLOCK_BYTES", 777)
    assert _outcome(path, "BTCUSDT", "binance-usdm", "skip", True) == whole


@settings(deadline=None)  # the first example loads the compiled kernel
@given(text=st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,12})?", fullmatch=True))
def test_decimal_strings_read_exactly_as_python_does(text: str) -> None:
    buf = np.frombuffer(text.encode(), np.uint8)
    ok, value = fp._float(buf, 0, len(buf))
    if ok:
        assert value == float(text) and np.signbit(value) == np.signbit(float(text))


@pytest.mark.parametrize("number", [b"1e23161255343", b"1E5", b"17231612553430000000000", b"-0.5e-3", b"1.5"])
def test_numbers_orjson_may_refuse_are_left_to_python(tmp_path: Path, number: bytes) -> None:
    """An exponent can overflow a double (orjson then refuses the line) and a long integer can pass
    64 bits: such lines go to the Python parser, which says what orjson says."""
    lines = [ln.replace(b'"E":1723161255343', b'"E":' + number, 1) for ln in FUTURES_LINES]
    _same(_write(tmp_path / "rec.gz", lines, True), "BTCUSDT", "binance-usdm")
