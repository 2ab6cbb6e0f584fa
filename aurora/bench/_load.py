"""HTTP/1.1 keep-alive load generator run as a SEPARATE process by ``auroractl bench gate``.

``python -m aurora.bench._load --port P --method M --path PATH [--body FILE] [--token T]
--concurrency C --requests N --warmup W --max-seconds S`` prints one JSON line: requests/s,
latency percentiles (µs) and status counts. C connections each keep one request in flight
(no pipelining). Written on raw asyncio protocols with uvloop rather than an HTTP client
library because the generator must not be the bottleneck: httpx costs ~10x more CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import cast

import numpy as np
import uvloop


class _Shared:
    def __init__(self, total: int, warmup: int) -> None:
        self.to_send = total
        self.warmup = warmup
        self.latencies_ns: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.started = time.perf_counter()


class _Conn(asyncio.Protocol):
    def __init__(self, request: bytes, shared: _Shared, done: asyncio.Future[None]) -> None:
        self.request = request
        self.shared = shared
        self.done = done
        self.buf = bytearray()
        self.t0 = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._send()

    def _send(self) -> None:
        s = self.shared
        if s.to_send <= 0:
            if not self.done.done():
                self.done.set_result(None)
            return
        s.to_send -= 1
        self.t0 = time.perf_counter_ns()
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"content-length:")
        length = 0
        if i >= 0:
            j = head.find(b"\r\n", i)
            length = int(head[i + 15:j if j >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        elapsed = time.perf_counter_ns() - self.t0
        status = int(self.buf[9:12])
        del self.buf[:end + 4 + length]
        s = self.shared
        if s.warmup > 0:
            s.warmup -= 1
            if s.warmup == 0:
                s.started = time.perf_counter()
        else:
            s.latencies_ns.append(elapsed)
            s.statuses[status] += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"server closed the connection: {exc}"))


async def _main(a: argparse.Namespace) -> dict[str, object]:
    body = Path(a.body).read_bytes() if a.body else b""
    head = [f"{a.method} {a.path} HTTP/1.1", f"Host: 127.0.0.1:{a.port}"]
    if a.token:
        head.append(f"Authorization: Bearer {a.token}")
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    shared = _Shared(a.requests + a.warmup, a.warmup)
    loop = asyncio.get_running_loop()
    futures = []
    for _ in range(a.concurrency):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda d=done: _Conn(request, shared, d), "127.0.0.1", a.port)
        futures.append(done)
    await asyncio.wait_for(asyncio.gather(*futures), a.max_seconds)
    elapsed = time.perf_counter() - shared.started
    lat = np.asarray(shared.latencies_ns, dtype=np.float64) / 1e3
    return {"requests": int(lat.size), "seconds": elapsed, "rps": lat.size / elapsed,
            "p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99)),
            "statuses": {str(k): v for k, v in shared.statuses.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--method", default="GET")
    p.add_argument("--path", required=True)
    p.add_argument("--body")
    p.add_argument("--token")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--max-seconds", type=float, default=60.0)
    a = p.parse_args(argv)
    print(json.dumps(uvloop.run(_main(a))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
