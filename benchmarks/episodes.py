"""Episode posting rate over HTTP, on PostgreSQL and on SQLite side by side, in batches of 500.

    .venv/bin/python benchmarks/episodes.py [--batches 40] [--batch 500] [--clients 1,4]

For each database starts `bedcast serve` on 127.0.0.1 (one worker, no model needed) with its episodes there:
SQLite in a temporary file, PostgreSQL on its own durable server in a temporary folder (`tests/postgres.py`:
fsync on, as in production; Debian's `postgresql` must be installed). Posts `batches` batches of new episodes,
first from one client, then from several at once, and prints episodes per second (validation, the write
transaction and the answer included). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import HOST, free_port, wait_ready  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

KEY = "benchmark-key"


def bodies(prefix: str, batches: int, size: int) -> list[bytes]:
    """`batches` JSON bodies of `size` new episodes each, half of them still open."""
    units = ["medicine", "surgery", "orthopaedics", "cardiology"]
    out = []
    for b in range(batches):
        rows = []
        for k in range(size):
            admitted = dt.date(2025, 1, 1) + dt.timedelta(days=(b * size + k) % 365)
            rows.append(
                {
                    "episode_id": f"{prefix}-{b}-{k}",
                    "unit": units[k % len(units)],
                    "admitted_at": admitted.isoformat(),
                    "discharged_at": (admitted + dt.timedelta(days=k % 9)).isoformat() if k % 2 else None,
                    "admission_type": "acute" if k % 3 else "elective",
                }
            )
        out.append(json.dumps(rows).encode())
    return out


def post_all(base: str, payloads: list[bytes], clients: int) -> float:
    """Post every body, `clients` at a time; returns the seconds it took. Any answer but 200 stops the run."""
    queue = list(payloads)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": KEY, "Content-Type": "application/json"}) as http:
            while True:
                with lock:
                    if not queue or failures:
                        return
                    body = queue.pop()
                answer = http.post("/v1/episodes", content=body, timeout=120)
                if answer.status_code != 200:
                    failures.append(f"HTTP {answer.status_code}: {answer.text[:300]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    return time.perf_counter() - started


def measure(name: str, url: str, folder: Path, args: argparse.Namespace) -> dict[int, float]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "BEDCAST_EPISODES_URL": url,
        "BEDCAST_API_KEY": KEY,
        "BEDCAST_FOLLOW_SECONDS": "0",
    }
    command = [sys.executable, "-m", "forecast.cli", "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    server = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rates = {}
    try:
        wait_ready_or_unloaded(port, server)
        base = f"http://{HOST}:{port}"
        post_all(base, bodies(f"{name}-warm", 2, args.batch), 1)
        for clients in args.clients:
            payloads = bodies(f"{name}-{clients}", args.batches, args.batch)
            seconds = post_all(base, payloads, clients)
            rates[clients] = args.batches * args.batch / seconds
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rates


def wait_ready_or_unloaded(port: int, server: subprocess.Popen) -> None:
    """The service is up (without a model /ready answers 503, which is enough to post episodes)."""
    try:
        wait_ready(port, server, timeout=10)
    except (TimeoutError, OSError):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{HOST}:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="batches per measurement")
    parser.add_argument("--batch", type=int, default=500, help="episodes per batch")
    parser.add_argument("--clients", default="1,4", help="comma-separated numbers of clients posting at once")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    print(
        f"{args.batches} batches of {args.batch} new episodes per measurement; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs included)"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="bedcast-episodes-") as tmp, PostgresServer(durable=True) as postgres:
        folder = Path(tmp)
        results["PostgreSQL"] = measure("pg", postgres.create_database("episodes"), folder, args)
        results["SQLite"] = measure("sqlite", f"sqlite:///{folder / 'episodes.db'}", folder, args)
    print(f"{'clients':>8}  " + "  ".join(f"{name:>18}" for name in results))
    for clients in args.clients:
        cells = "  ".join(f"{results[name][clients]:>10,.0f} episodes/s" for name in results)
        print(f"{clients:>8}  {cells}")


if __name__ == "__main__":
    main()
