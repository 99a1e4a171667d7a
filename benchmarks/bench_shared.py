"""What the shared state costs a request: the rate limiter's storage, side by side in one run.

Usage: .venv/bin/python -m benchmarks.bench_shared [--requests 5000] [--rounds 3]

The rate-limit middleware runs on every limited request. Three storages are measured in turns, each round
5000 hits over 50 client keys: the `limits` library's synchronous memory storage (what the middleware used
before the shared state), its asynchronous memory storage (the default now, one process), and its Redis storage
through `app.api.shared` (NEWSQA_REDIS_URL, a redis-server of its own on a free loopback port). Prints the
median microseconds per hit and the ratio to the synchronous memory storage. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.storage import MemoryStorage as SyncMemoryStorage
from limits.strategies import MovingWindowRateLimiter as SyncMovingWindowRateLimiter
from pydantic import SecretStr

from app.api.shared import RateLimits, SharedState
from app.config import get_settings
from benchmarks.harness import free_port

ITEM: RateLimitItem = parse("1000000/second")  # never refused: the cost of counting, not of refusing


def sync_memory(requests: int) -> float:
    limiter = SyncMovingWindowRateLimiter(SyncMemoryStorage())
    began = time.perf_counter()
    for n in range(requests):
        limiter.hit(ITEM, f"client-{n % 50}")
    return (time.perf_counter() - began) / requests * 1e6


async def shared(limits: RateLimits, requests: int) -> float:
    began = time.perf_counter()
    for n in range(requests):
        await limits.hit(ITEM, f"client-{n % 50}")
    return (time.perf_counter() - began) / requests * 1e6


async def through_redis(redis_url: SecretStr, requests: int) -> float:
    state = SharedState.from_settings(get_settings(redis_url=redis_url))
    try:
        return await shared(state.rate_limits, requests)
    finally:
        await state.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        print("redis-server is not installed (make redis)")
        return 1
    port = free_port()
    server = subprocess.Popen([server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        redis_url = SecretStr(f"redis://127.0.0.1:{port}/0")
        results: dict[str, list[float]] = {"sync memory (before)": [], "async memory (default)": [],
                                           "async Redis, loopback (NEWSQA_REDIS_URL)": []}
        for _ in range(args.rounds):
            results["sync memory (before)"].append(sync_memory(args.requests))
            results["async memory (default)"].append(asyncio.run(shared(RateLimits(MemoryStorage()), args.requests)))
            through = asyncio.run(through_redis(redis_url, args.requests))
            results["async Redis, loopback (NEWSQA_REDIS_URL)"].append(through)
    finally:
        server.kill()
        server.wait()
    base = statistics.median(results["sync memory (before)"])
    print(f"| rate-limit storage | µs per request (median of {args.rounds} × {args.requests}) | × sync memory |")
    print("|---|---|---|")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {median / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
