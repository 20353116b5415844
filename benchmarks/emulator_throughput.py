"""Throughput of the emulator: authenticated ``GET /api/v2/profile`` from 16 concurrent
keep-alive clients. The emulator must never be what limits a benchmark (goal: 500+ req/s).

    .venv/bin/python benchmarks/emulator_throughput.py                # emulator in a subprocess
    .venv/bin/python benchmarks/emulator_throughput.py --client requests --duration 10

The emulator runs as its own process (``python -m django_seeclickfix.testing.emulator``, rate
limit off) so the load generator does not share its interpreter; clients are threads, each with
one persistent connection, spread over ``--processes`` processes.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import threading
import time
from contextlib import nullcontext
from urllib.parse import urlsplit

from common import remote, running_emulator

USER_AGENT = "emulator-throughput-benchmark/1.0"


def mint_token(base_url: str) -> str:
    return str(remote(base_url).issue_token("rita@example.com").access_token)


def _client_httpclient(url: str, token: str, stop_at: float, counts: list[int], i: int) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    done = 0
    while time.perf_counter() < stop_at:
        connection.request("GET", parts.path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"unexpected status {response.status}")
        done += 1
    counts[i] = done
    connection.close()


def _client_requests(url: str, token: str, stop_at: float, counts: list[int], i: int) -> None:
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT})
    done = 0
    while time.perf_counter() < stop_at:
        response = session.get(url, timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"unexpected status {response.status_code}")
        done += 1
    counts[i] = done


def _run_clients(args: tuple[str, str, int, float, str]) -> int:
    url, token, clients, duration, kind = args
    target = _client_requests if kind == "requests" else _client_httpclient
    counts = [0] * clients
    stop_at = time.perf_counter() + duration
    threads = [
        threading.Thread(target=target, args=(url, token, stop_at, counts, i))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def measure(
    base_url: str, token: str, *, clients: int, duration: float, processes: int, kind: str
) -> float:
    """Requests per second over ``duration`` seconds with ``clients`` concurrent clients."""
    url = f"{base_url}/api/v2/profile"
    _run_clients((url, token, 1, 0.3, kind))  # warm-up
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    started = time.perf_counter()
    if processes == 1:
        total = _run_clients((url, token, clients, duration, kind))
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            total = sum(pool.map(_run_clients, [(url, token, n, duration, kind) for n in shares]))
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--client", choices=("http.client", "requests"), default="http.client")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="measure an emulator already running there")
    args = parser.parse_args()
    server = nullcontext(args.url.rstrip("/")) if args.url else running_emulator("--seed", "demo")
    with server as base_url:
        token = mint_token(base_url)
        rates = [
            measure(
                base_url,
                token,
                clients=args.clients,
                duration=args.duration,
                processes=args.processes,
                kind=args.client,
            )
            for _ in range(args.runs)
        ]
    print(
        f"GET /api/v2/profile, {args.clients} concurrent keep-alive clients ({args.client}, "
        f"{args.processes} process(es)), {args.runs} runs of {args.duration:g}s on "
        f"{os.cpu_count()} CPUs: median {statistics.median(rates):.0f} req/s "
        f"(runs: {', '.join(f'{r:.0f}' for r in rates)})"
    )


if __name__ == "__main__":
    main()
