#!/usr/bin/python3
"""The job of `gather fetch`, written the way the asyncio tutorial would:
aiohttp, one ClientSession, N worker coroutines pulling URLs from stdin.

Reads URLs from stdin (or --input FILE), one per line (blank lines and # comments skipped),
fetches them with at most -c requests in flight, reads each body, and
writes one JSON line per URL on stdout: line, url, status, bytes,
duration_ms, error. Input is streamed through a bounded queue, so memory
does not grow with the input, as with gather fetch. It is a benchmark
baseline (bench/fetch.sh), not a tool: no retries, no per-host limit.

Run with Debian's interpreter (/usr/bin/python3) and python3-aiohttp.
"""

import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", type=int, default=500, help="requests in flight")
    ap.add_argument("-t", type=float, default=30, help="timeout per request, seconds")
    ap.add_argument("--input", help="read URLs from this file instead of stdin")
    args = ap.parse_args()

    queue: asyncio.Queue = asyncio.Queue(maxsize=args.c * 2)
    out = sys.stdout
    timeout = aiohttp.ClientTimeout(total=args.t)
    connector = aiohttp.TCPConnector(limit=args.c, limit_per_host=0)

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            n, url = item
            rec = {"line": n, "url": url, "status": 0, "bytes": 0}
            start = time.perf_counter()
            try:
                async with session.get(url) as resp:
                    body = await resp.read()
                    rec["status"] = resp.status
                    rec["bytes"] = len(body)
            except Exception as e:  # every line gets a record, as with gather fetch
                rec["error"] = type(e).__name__
            rec["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
            out.write(json.dumps(rec) + "\n")

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(args.c)]
        lines = open(args.input) if args.input else sys.stdin
        for n, line in enumerate(lines, 1):
            url = line.strip()
            if not url or url.startswith("#"):
                continue
            await queue.put((n, url))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    out.flush()


if __name__ == "__main__":
    asyncio.run(main())
