"""The floors a poll's cost is measured against: the same request and JSON
parse, at the same rate, with no schedule, state or database, in a process
that does nothing else. Reports CPU microseconds per request.

- `httpx`: `client.post` and `json.loads` on a client from `make_client`,
  the issue's floor: a bare loop on the HTTP stack loadwatch uses;
- `exchange`: the same request as loadwatch makes it, `request()` and
  `decode_json` on the same client (streamed, size-capped, straight to the
  transport): what a poll's HTTP costs loadwatch itself;
- `aiohttp`: a bare aiohttp session.

    python -m bench.floor URL httpx|exchange|aiohttp RATE SECONDS
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import sys
import time
from typing import Any

from bench.fakeserver import TOKEN

CONCURRENCY = 64


async def _paced(send: Any, rate: float, seconds: float) -> int:
    """Start `rate` requests a second for `seconds`, at most CONCURRENCY at once."""
    slots = asyncio.Semaphore(CONCURRENCY)
    done = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(number: int) -> None:
        nonlocal done
        async with slots:
            await send(f"job-{number % 10000}")
            done += 1

    loop = asyncio.get_running_loop()
    start = loop.time()
    number = 0
    while (now := loop.time()) - start < seconds:
        due = int((now - start) * rate)
        while number < due:
            task = asyncio.create_task(one(number))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            number += 1
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    return done


async def _httpx(url: str, rate: float, seconds: float) -> int:
    from monitor.providers.base import ProviderSettings
    from monitor.providers.http import make_client

    settings = ProviderSettings(type="floor", base_url=url, max_concurrency=CONCURRENCY)
    async with make_client(settings) as client:

        async def send(job: str) -> None:
            response = await client.post(f"{url}/dataload.info", json={"token": TOKEN, "id": job})
            json.loads(response.content)

        return await _paced(send, rate, seconds)


async def _exchange(url: str, rate: float, seconds: float) -> int:
    from monitor.providers.base import ProviderSettings
    from monitor.providers.http import decode_json, make_client, request

    settings = ProviderSettings(type="floor", base_url=url, max_concurrency=CONCURRENCY)
    async with make_client(settings) as client:

        async def send(job: str) -> None:
            response = await request(
                client, "POST", f"{url}/dataload.info", json={"token": TOKEN, "id": job}
            )
            decode_json(response)

        return await _paced(send, rate, seconds)


async def _aiohttp(url: str, rate: float, seconds: float) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(job: str) -> None:
            async with session.post(
                f"{url}/dataload.info", json={"token": TOKEN, "id": job}
            ) as response:
                json.loads(await response.read())

        return await _paced(send, rate, seconds)


def _measure(url: str, stack: str, rate: float, seconds: float, out: Any) -> None:
    work = {"httpx": _httpx, "exchange": _exchange, "aiohttp": _aiohttp}[stack]
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    requests = asyncio.run(work(url, rate, seconds))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out.put({"requests": requests, "cpu": cpu, "elapsed": time.monotonic() - started})


def run_floor(url: str, stack: str, rate: float, seconds: float) -> float:
    """CPU microseconds per request of the `stack` floor at `rate` requests/s."""
    out: multiprocessing.Queue[dict[str, float]] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_measure, args=(url, stack, rate, seconds, out))
    process.start()
    result = out.get(timeout=seconds * 4 + 60)
    process.join()
    return result["cpu"] / max(result["requests"], 1) * 1e6


if __name__ == "__main__":
    print(run_floor(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
