"""The common lines of a Binance websocket recording, parsed in one numba pass.

A speed path for :mod:`aurora.ticks.binance_ws`: per-line Python (``orjson.loads`` then a dict
walk) costs ~25 µs a message and caps an import near 40 k msgs/s; this kernel reads the
decompressed bytes directly (~150 k+ msgs/s on the USD-M recording made continuous, see
``auroractl bench features --recording``). It is not a second definition of the format: it
accepts only lines it can decode *exactly* as the Python parser would (canonical JSON of the four
market streams, numbers Python would read to the same value) whose handling is the plain one
(in order, the right symbol, the chain continuing, no futures field in a spot file), and hands
every other line — REST snapshots, bad or odd lines, gaps, non-market trades, other symbols,
escapes, duplicate keys — back to the Python parser, which owns those rules. The parity test
(``tests/test_ws_fastpath.py``) compares both paths on the shared recordings and on mutated
lines.

Numbers: a price string ``"61837.63000000"`` is ``m / 10**k`` with the integer ``m < 2**53`` and
``k <= 22``; both are exact doubles, so the one IEEE division is the correctly rounded value,
exactly ``float("61837.63000000")`` (Clinger's fast path). Anything else goes to Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# token types
_STR, _INT, _NUM, _TRUE, _FALSE, _NULL, _ARR, _OBJ = 1, 2, 3, 4, 5, 6, 7, 8
# known keys (index into the token tables)
(K_STREAM, K_DATA, K_LASTID, K_e, K_E, K_T, K_s, K_t, K_p, K_q, K_m, K_a, K_u, K_U, K_pu, K_b, K_B,
 K_A, K_X, K_BIDS, K_ASKS) = range(21)
_NK = 21
# message kinds (per-stream counters, in this order)
KIND_TRADE, KIND_AGG, KIND_BBO, KIND_DEPTH = 0, 1, 2, 3
KIND_NAMES = ("trade", "aggTrade", "bookTicker", "depth")
# state slots shared with the Python parser
(S_SEQ, S_LAST_TRADE, S_HAS_TRADE, S_LAST_AGG, S_HAS_AGG, S_LAST_BBO, S_HAS_BBO, S_LAST_DEPTH,
 S_HAS_DEPTH, S_NCLOCK, S_LINES) = range(11)
STATE_SIZE = 11
CLOCK_SAMPLES = 256
MS = 1_000_000
_MAX_EXACT = 1 << 53
_POW10 = np.array([10.0 ** k for k in range(23)])


@njit(cache=True)
def _ws(c: int) -> bool:
    return c == 32 or c == 9 or c == 10 or c == 13


@njit(cache=True)
def _skip_ws(buf, i: int, end: int) -> int:
    while i < end and _ws(buf[i]):
        i += 1
    return i


@njit(cache=True)
def _str_end(buf, i: int, end: int) -> int:
    """``buf[i]`` is an opening quote: the index of the closing one, or -1 for anything the
    Python parser might read differently (escapes, control bytes, non-ASCII)."""
    i += 1
    while i < end:
        c = buf[i]
        if c == 34:
            return i
        if c == 92 or c < 32 or c >= 128:
            return -1
        i += 1
    return -1


@njit(cache=True)
def _digits_end(buf, j: int, end: int) -> int:
    """The end of a run of at least one digit at ``j``, or -1 when there is none."""
    if j >= end or not (48 <= buf[j] <= 57):
        return -1
    while j < end and 48 <= buf[j] <= 57:
        j += 1
    return j


@njit(cache=True)
def _num_end(buf, i: int, end: int) -> tuple[int, int]:
    """A JSON number at ``i``: (end index, _INT or _NUM), or (-1, 0) when it is not valid JSON or
    not one orjson surely reads (an exponent may overflow a double, which orjson refuses; an
    integer past 18 digits may pass 64 bits): Python decides those lines."""
    j = i + 1 if buf[i] == 45 else i
    first = j
    if j < end and buf[j] == 48:
        j += 1
        if j < end and 48 <= buf[j] <= 57:
            return -1, 0  # a leading zero is not JSON
    else:
        j = _digits_end(buf, j, end)
    if j < 0 or j - first > 18:
        return -1, 0
    typ = _INT
    if j < end and buf[j] == 46:
        j = _digits_end(buf, j + 1, end)
        typ = _NUM
        if j < 0 or j - i > 40:  # a plain decimal this long is nothing Binance sends
            return -1, 0
    if j < end and (buf[j] == 101 or buf[j] == 69):
        return -1, 0
    return j, typ


@njit(cache=True)
def _lit_end(buf, i: int, end: int, word) -> int:
    n = len(word)
    if i + n > end:
        return -1
    for k in range(n):
        if buf[i + k] != word[k]:
            return -1
    return i + n


@njit(cache=True)
def _key_id(buf, a: int, b: int) -> int:
    n = b - a
    c = buf[a]
    if n == 1:
        if c == 101:
            return K_e
        if c == 69:
            return K_E
        if c == 84:
            return K_T
        if c == 115:
            return K_s
        if c == 116:
            return K_t
        if c == 112:
            return K_p
        if c == 113:
            return K_q
        if c == 109:
            return K_m
        if c == 97:
            return K_a
        if c == 117:
            return K_u
        if c == 85:
            return K_U
        if c == 98:
            return K_b
        if c == 66:
            return K_B
        if c == 65:
            return K_A
        if c == 88:
            return K_X
        return -1
    if n == 2 and c == 112 and buf[a + 1] == 117:
        return K_pu
    if n == 4:
        if c == 100 and buf[a + 1] == 97 and buf[a + 2] == 116 and buf[a + 3] == 97:
            return K_DATA
        if c == 98 and buf[a + 1] == 105 and buf[a + 2] == 100 and buf[a + 3] == 115:
            return K_BIDS
        if c == 97 and buf[a + 1] == 115 and buf[a + 2] == 107 and buf[a + 3] == 115:
            return K_ASKS
        return -1
    if n == 6 and c == 115 and buf[a + 1] == 116 and buf[a + 2] == 114 and buf[a + 3] == 101 \
            and buf[a + 4] == 97 and buf[a + 5] == 109:
        return K_STREAM
    if n == 12 and c == 108 and buf[a + 1] == 97 and buf[a + 4] == 85 and buf[a + 10] == 73 \
            and buf[a + 11] == 100:
        for k, ch in enumerate(b"lastUpdateId"):
            if buf[a + k] != ch:
                return -1
        return K_LASTID
    return -1


@njit(cache=True)
def _next_item(buf, i: int, end: int, close: int) -> tuple[int, int]:
    """After a value in an array or object (``close`` is its closing bracket): (1, start of the
    next item) after a comma, (0, index after the bracket) at its end, (-1, -1) otherwise."""
    i = _skip_ws(buf, i, end)
    if i < end and buf[i] == close:
        return 0, i + 1
    if i < end and buf[i] == 44:
        return 1, _skip_ws(buf, i + 1, end)
    return -1, -1


@njit(cache=True)
def _levels_end(buf, i: int, end: int) -> int:
    """``[["p","q"], ...]`` at ``i``: its end, or -1 (anything else goes to Python)."""
    i += 1
    i = _skip_ws(buf, i, end)
    if i < end and buf[i] == 93:
        return i + 1
    while i < end:
        if buf[i] != 91:
            return -1
        for k in range(2):
            i = _skip_ws(buf, i + 1, end)
            if i >= end or buf[i] != 34:
                return -1
            j = _str_end(buf, i, end)
            if j < 0:
                return -1
            i = _skip_ws(buf, j + 1, end)
            if i >= end or buf[i] != (44 if k == 0 else 93):
                return -1
        more, i = _next_item(buf, i + 1, end, 93)
        if more <= 0:
            return i
    return -1


@njit(cache=True)
def _value(buf, i: int, end: int, kid: int) -> tuple[int, int, int, int]:
    """The scalar (or, for the book keys, levels array) value at ``buf[i]``: (type, start, end of
    its content, index after it), or type -1 for anything the fast path does not take."""
    c = buf[i]
    if c == 34:
        j = _str_end(buf, i, end)
        return (_STR, i + 1, j, j + 1) if j >= 0 else (-1, 0, 0, 0)
    if c == 45 or 48 <= c <= 57:
        j, t = _num_end(buf, i, end)
        return (t, i, j, j) if j >= 0 else (-1, 0, 0, 0)
    if c == 116:
        j = _lit_end(buf, i, end, b"true")
        return (_TRUE, i, j, j) if j >= 0 else (-1, 0, 0, 0)
    if c == 102:
        j = _lit_end(buf, i, end, b"false")
        return (_FALSE, i, j, j) if j >= 0 else (-1, 0, 0, 0)
    if c == 110:
        j = _lit_end(buf, i, end, b"null")
        return (_NULL, i, j, j) if j >= 0 else (-1, 0, 0, 0)
    if c == 91 and (kid == K_b or kid == K_a or kid == K_BIDS or kid == K_ASKS):
        j = _levels_end(buf, i, end)
        return (_ARR, i, j, j) if j >= 0 else (-1, 0, 0, 0)
    return -1, 0, 0, 0


@njit(cache=True)
def _object(buf, i: int, end: int, typ, st, en, base: int, allow_data: bool) -> int:
    """Scan the object at ``buf[i] == '{'``, recording the known keys' tokens (type, start, end)
    at ``base + key`` in ``typ/st/en``. With ``allow_data`` the value of ``data`` may be an object:
    its start and end are recorded and the caller scans it (no recursion: numba's cache does not
    take recursive functions). Returns the index after ``}``, or -1 for anything the fast path
    does not take (a repeated known key, nested values under other keys, invalid JSON)."""
    i = _skip_ws(buf, i + 1, end)
    if i < end and buf[i] == 125:
        return i + 1
    while i < end:
        if buf[i] != 34:
            return -1
        kend = _str_end(buf, i, end)
        if kend < 0 or kend == i + 1:
            return -1
        kid = _key_id(buf, i + 1, kend)
        i = _skip_ws(buf, kend + 1, end)
        if i >= end or buf[i] != 58:
            return -1
        i = _skip_ws(buf, i + 1, end)
        if i >= end:
            return -1
        if kid >= 0 and typ[base + kid] != 0:
            return -1  # a repeated key: orjson keeps the last; let Python decide
        if buf[i] == 123 and allow_data and kid == K_DATA:
            j = _object_end(buf, i, end)
            if j < 0:
                return -1
            t, a, b = _OBJ, i, j
        else:
            t, a, b, j = _value(buf, i, end, kid)
            if t < 0:
                return -1
        i = j
        if kid >= 0:
            typ[base + kid] = t
            st[base + kid] = a
            en[base + kid] = b
        more, i = _next_item(buf, i, end, 125)
        if more <= 0:
            return i
    return -1


@njit(cache=True)
def _object_end(buf, i: int, end: int) -> int:
    """Where a flat object (the ``data`` of an envelope) starting at ``i`` ends, strings skipped;
    -1 if it nests another object. Its content is validated when it is scanned."""
    j = i + 1
    while j < end:
        c = buf[j]
        if c == 34:
            j = _str_end(buf, j, end)
            if j < 0:
                return -1
        elif c == 125:
            return j + 1
        elif c == 123:
            return -1
        j += 1
    return -1


@njit(cache=True)
def _int(buf, a: int, b: int) -> tuple[bool, int]:
    """An _INT token as int64 (at most 18 digits, so it cannot overflow)."""
    neg = buf[a] == 45
    if neg:
        a += 1
    if b - a > 18:
        return False, 0
    v = 0
    for k in range(a, b):
        v = v * 10 + (buf[k] - 48)
    return True, -v if neg else v


@njit(cache=True)
def _float(buf, a: int, b: int) -> tuple[bool, float]:
    """A decimal string's value when it is exactly ``float(text)`` by Clinger's fast path."""
    neg = a < b and buf[a] == 45
    if neg:
        a += 1
    m = 0
    k = 0
    digits = 0
    dot = False
    for j in range(a, b):
        c = buf[j]
        if 48 <= c <= 57:
            m = m * 10 + (c - 48)
            if m > _MAX_EXACT:
                return False, 0.0
            digits += 1
            if dot:
                k += 1
        elif c == 46 and not dot:
            dot = True
        else:
            return False, 0.0
    if digits == 0 or k > 22:
        return False, 0.0
    v = m / _POW10[k]
    return True, -v if neg else v


@njit(cache=True)
def _symbol_is(buf, a: int, b: int, symbol) -> bool:
    """``buf[a:b].upper() == symbol`` (ASCII; the caller has ruled out other bytes)."""
    if b - a != len(symbol):
        return False
    for k in range(b - a):
        c = buf[a + k]
        if 97 <= c <= 122:
            c -= 32
        if c != symbol[k]:
            return False
    return True


@njit(cache=True)
def _is(buf, a: int, b: int, word) -> bool:
    if b - a != len(word):
        return False
    for k in range(len(word)):
        if buf[a + k] != word[k]:
            return False
    return True


@njit(cache=True)
def _stream_kind(buf, a: int, b: int, symbol) -> int:
    """The kind of ``<symbol>@<kind>``, or -1 (another symbol, an unknown or partial stream)."""
    at = -1
    for k in range(a, b):
        if buf[k] == 64:
            at = k
            break
    if at < 0 or not _symbol_is(buf, a, at, symbol):
        return -1
    s = at + 1
    if _is(buf, s, b, b"trade"):
        return KIND_TRADE
    if _is(buf, s, b, b"aggTrade"):
        return KIND_AGG
    if _is(buf, s, b, b"bookTicker"):
        return KIND_BBO
    if b - s >= 5 and _is(buf, s, s + 5, b"depth"):
        if b - s == 5:
            return KIND_DEPTH
        # depth@<digits>ms
        j = s + 5
        if b - j < 4 or buf[j] != 64 or buf[b - 2] != 109 or buf[b - 1] != 115:
            return -1
        for k in range(j + 1, b - 2):
            if not (48 <= buf[k] <= 57):
                return -1
        return KIND_DEPTH
    return -1


@njit(cache=True)
def _event_kind(buf, a: int, b: int) -> int:
    if _is(buf, a, b, b"trade"):
        return KIND_TRADE
    if _is(buf, a, b, b"aggTrade"):
        return KIND_AGG
    if _is(buf, a, b, b"depthUpdate"):
        return KIND_DEPTH
    if _is(buf, a, b, b"bookTicker"):
        return KIND_BBO
    return -1


@njit(cache=True)
def _levels(buf, a: int, b: int, side: int, px, qty, sides, n: int) -> int:
    """Append the levels of the array token ``buf[a:b]`` at ``n``; the new count, or -1 when a
    number is not exact by the fast path."""
    i = a + 1
    while i < b:
        c = buf[i]
        if c == 34:
            j = _str_end(buf, i, b)
            ok, v = _float(buf, i + 1, j)
            if not ok:
                return -1
            i = j + 1
            # the price comes first in a level, the quantity second
            k = _skip_ws(buf, i, b)
            if buf[k] == 44:
                px[n] = v
            else:
                qty[n] = v
                sides[n] = side
                n += 1
        else:
            i += 1
    return n


@njit(cache=True)
def parse_lines(buf, starts, ends, linenos, symbol, futures: bool, state, clock_recv, clock_exch,
                trades_i, trades_f, bbo_i, bbo_f, depth_i, depth_f, depth_side, kinds, acc_lines,
                nt: int, nb: int, nd: int, nm: int):
    """Parse lines ``starts[k]:ends[k]`` in order until one must go to the Python parser.

    Returns ``(k, n_trades, n_bbo, n_depth_rows, n_messages)``: ``k`` is the first line not taken
    (``len(starts)`` when all were); the counts continue the ones passed in (rows already in the
    output arrays). ``state`` (see ``S_*``) is read and advanced.
    Output rows: ``trades_i`` (ts, exch, seq, id, side, is_agg) / ``trades_f`` (price, qty);
    ``bbo_i`` (ts, exch, has_exch, seq, uid) / ``bbo_f`` (b, B, a, A); ``depth_i`` (ts, exch,
    has_exch, seq, first, last, prev, has_prev) / ``depth_f`` (price, qty) / ``depth_side``;
    ``kinds``/``acc_lines``: kind and line number of each message taken.
    """
    typ = np.zeros(2 * _NK, np.int8)
    st = np.zeros(2 * _NK, np.int64)
    en = np.zeros(2 * _NK, np.int64)
    n = len(starts)
    for k in range(n):
        a, b = starts[k], ends[k]
        while a < b and (_ws(buf[a]) or buf[a] == 11 or buf[a] == 12):
            a += 1
        while b > a and (_ws(buf[b - 1]) or buf[b - 1] == 11 or buf[b - 1] == 12):
            b -= 1
        if a == b:
            continue  # blank: Python skips it without counting it either
        # <recv_ts> <json>
        j = a
        while j < b and 48 <= buf[j] <= 57:
            j += 1
        # at most 19 digits, the 19-digit ones below 9e18 (int64 holds up to 9.22e18)
        if j == a or j - a > 19 or (j - a == 19 and buf[a] > 56) or j >= b or buf[j] != 32:
            return k, nt, nb, nd, nm
        ts = 0
        for q in range(a, j):
            ts = ts * 10 + (buf[q] - 48)
        i = _skip_ws(buf, j + 1, b)
        if i >= b or buf[i] != 123:
            return k, nt, nb, nd, nm
        typ[:] = 0
        e = _object(buf, i, b, typ, st, en, 0, True)
        if e < 0 or _skip_ws(buf, e, b) != b:
            return k, nt, nb, nd, nm
        if typ[K_DATA] == _OBJ and _object(buf, st[K_DATA], en[K_DATA], typ, st, en, _NK, False) \
                != en[K_DATA]:
            return k, nt, nb, nd, nm
        # dispatch as binance_ws._Parser.message does
        if typ[K_STREAM] != 0:
            if typ[K_STREAM] != _STR or typ[K_DATA] != _OBJ:
                return k, nt, nb, nd, nm
            kind = _stream_kind(buf, st[K_STREAM], en[K_STREAM], symbol)
            o = _NK
        elif typ[K_LASTID] != 0:
            return k, nt, nb, nd, nm
        elif typ[K_e] != 0:
            if typ[K_e] != _STR:
                return k, nt, nb, nd, nm
            kind = _event_kind(buf, st[K_e], en[K_e])
            o = 0
        elif typ[K_u] and typ[K_b] and typ[K_B] and typ[K_a] and typ[K_A]:
            kind = KIND_BBO
            o = 0
        else:
            return k, nt, nb, nd, nm
        if kind < 0:
            return k, nt, nb, nd, nm
        # the clock sample: data's E, else T, when an integer
        if typ[o + K_E] != 0:
            ex_t, ex_a, ex_b = typ[o + K_E], st[o + K_E], en[o + K_E]
        else:
            ex_t, ex_a, ex_b = typ[o + K_T], st[o + K_T], en[o + K_T]
        if ex_t != 0 and ex_t != _INT and ex_t != _TRUE and ex_t != _FALSE:
            clock = -1
        elif ex_t == _INT:
            ok, v = _int(buf, ex_a, ex_b)
            if not ok:
                return k, nt, nb, nd, nm
            clock = v * MS
        elif ex_t == 0:
            clock = -1
        else:
            return k, nt, nb, nd, nm  # a boolean E is an int to Python: leave it to Python
        sym_t = typ[o + K_s]
        if sym_t != 0 and (sym_t != _STR or not _symbol_is(buf, st[o + K_s], en[o + K_s], symbol)):
            return k, nt, nb, nd, nm
        seq = state[S_SEQ]
        if kind == KIND_TRADE or kind == KIND_AGG:
            idk = K_t if kind == KIND_TRADE else K_a
            if typ[o + idk] != _INT or typ[o + K_T] != _INT or typ[o + K_p] != _STR \
                    or typ[o + K_q] != _STR or (typ[o + K_m] != _TRUE and typ[o + K_m] != _FALSE):
                return k, nt, nb, nd, nm
            ok, tid = _int(buf, st[o + idk], en[o + idk])
            has, last = (S_HAS_TRADE, S_LAST_TRADE) if kind == KIND_TRADE else (S_HAS_AGG, S_LAST_AGG)
            if not ok or (state[has] and tid <= state[last]):
                return k, nt, nb, nd, nm
            if kind == KIND_TRADE and typ[o + K_X] != 0:
                if not futures or typ[o + K_X] != _STR or not _is(buf, st[o + K_X], en[o + K_X], b"MARKET"):
                    return k, nt, nb, nd, nm
            ok1, tt = _int(buf, st[o + K_T], en[o + K_T])
            ok2, px = _float(buf, st[o + K_p], en[o + K_p])
            ok3, qty = _float(buf, st[o + K_q], en[o + K_q])
            if not (ok1 and ok2 and ok3):
                return k, nt, nb, nd, nm
            trades_i[nt, 0] = ts
            trades_i[nt, 1] = tt * MS
            trades_i[nt, 2] = seq
            trades_i[nt, 3] = tid
            trades_i[nt, 4] = -1 if typ[o + K_m] == _TRUE else 1
            trades_i[nt, 5] = kind == KIND_AGG
            trades_f[nt, 0] = px
            trades_f[nt, 1] = qty
            nt += 1
            state[has] = 1
            state[last] = tid
        elif kind == KIND_BBO:
            if typ[o + K_u] != _INT or typ[o + K_b] != _STR or typ[o + K_B] != _STR \
                    or typ[o + K_a] != _STR or typ[o + K_A] != _STR:
                return k, nt, nb, nd, nm
            has_t, has_e = typ[o + K_T] != 0, typ[o + K_E] != 0
            if (has_t or has_e) and not futures:
                return k, nt, nb, nd, nm
            ok, uid = _int(buf, st[o + K_u], en[o + K_u])
            if not ok or (state[S_HAS_BBO] and uid < state[S_LAST_BBO]):
                return k, nt, nb, nd, nm
            xk = K_T if has_t else K_E
            exch = 0
            if has_t or has_e:
                if typ[o + xk] != _INT:
                    return k, nt, nb, nd, nm
                ok, exch = _int(buf, st[o + xk], en[o + xk])
                if not ok:
                    return k, nt, nb, nd, nm
            okb, vb = _float(buf, st[o + K_b], en[o + K_b])
            okB, vB = _float(buf, st[o + K_B], en[o + K_B])
            oka, va = _float(buf, st[o + K_a], en[o + K_a])
            okA, vA = _float(buf, st[o + K_A], en[o + K_A])
            if not (okb and okB and oka and okA):
                return k, nt, nb, nd, nm
            bbo_i[nb, 0] = ts
            bbo_i[nb, 1] = exch * MS
            bbo_i[nb, 2] = has_t or has_e
            bbo_i[nb, 3] = seq
            bbo_i[nb, 4] = uid
            bbo_f[nb, 0] = vb
            bbo_f[nb, 1] = vB
            bbo_f[nb, 2] = va
            bbo_f[nb, 3] = vA
            nb += 1
            state[S_HAS_BBO] = 1
            state[S_LAST_BBO] = uid
        else:  # depth diff
            if typ[o + K_U] != _INT or typ[o + K_u] != _INT or typ[o + K_b] != _ARR or typ[o + K_a] != _ARR:
                return k, nt, nb, nd, nm
            ok1, first = _int(buf, st[o + K_U], en[o + K_U])
            ok2, last = _int(buf, st[o + K_u], en[o + K_u])
            if not (ok1 and ok2) or last < first:
                return k, nt, nb, nd, nm
            has_pu = typ[o + K_pu] != 0
            pu = 0
            if has_pu:
                if not futures or typ[o + K_pu] != _INT:
                    return k, nt, nb, nd, nm
                ok, pu = _int(buf, st[o + K_pu], en[o + K_pu])
                if not ok:
                    return k, nt, nb, nd, nm
            has_e = typ[o + K_E] != 0
            exch = 0
            if has_e:
                if typ[o + K_E] != _INT:
                    return k, nt, nb, nd, nm
                ok, exch = _int(buf, st[o + K_E], en[o + K_E])
                if not ok:
                    return k, nt, nb, nd, nm
            if state[S_HAS_DEPTH]:
                prev = state[S_LAST_DEPTH]
                if last <= prev:
                    return k, nt, nb, nd, nm
                if (pu != prev) if has_pu else (first != prev + 1):
                    return k, nt, nb, nd, nm  # a gap: Python records it
            n0 = nd
            nd = _levels(buf, st[o + K_b], en[o + K_b], 1, depth_f[:, 0], depth_f[:, 1], depth_side, nd)
            if nd >= 0:
                nd = _levels(buf, st[o + K_a], en[o + K_a], -1, depth_f[:, 0], depth_f[:, 1], depth_side, nd)
            if nd < 0:
                return k, nt, nb, n0, nm
            for r in range(n0, nd):
                depth_i[r, 0] = ts
                depth_i[r, 1] = exch * MS
                depth_i[r, 2] = has_e
                depth_i[r, 3] = seq
                depth_i[r, 4] = first
                depth_i[r, 5] = last
                depth_i[r, 6] = pu
                depth_i[r, 7] = has_pu
            state[S_HAS_DEPTH] = 1
            state[S_LAST_DEPTH] = last
        if state[S_NCLOCK] < CLOCK_SAMPLES:
            clock_recv[state[S_NCLOCK]] = ts
            clock_exch[state[S_NCLOCK]] = clock
            state[S_NCLOCK] += 1
        kinds[nm] = kind
        acc_lines[nm] = linenos[k]
        nm += 1
        state[S_SEQ] = seq + 1
        state[S_LINES] += 1
    return n, nt, nb, nd, nm
