"""The ADT listener's rate and acknowledgment times: a year of a 300-bed hospital's ADT messages over MLLP.

    .venv/bin/python benchmarks/adt.py [--connections 1,8] [--rate 50] [--seconds 60] [--postgres]

Builds the year (the demo hospital's units with 2.3 times their beds and arrivals, transfers on, three A08 updates
per visit: about 100,000 messages), starts `bedcast adt` on 127.0.0.1 with its episodes in a durable database
(SQLite in a temporary file, synchronous=FULL; with `--postgres` a PostgreSQL server with fsync on,
`tests/postgres.py`), and sends them with python-hl7's `MLLPClient`, each message waiting for its ACK:
1. the whole year over `connections` connections at once, a visit's messages always on the same connection (in
   order, as an integration engine partitions by visit); messages per second and the time the year took;
2. then, on the loaded database, one connection at a steady `rate` messages a second for `seconds` seconds: the
   acknowledgment times (median, 99th percentile, max).
Figures only; nothing is asserted. Goals (issue 23): the year in at most 2 minutes; p99 ACK at most 20 ms at 50/s.
The machine is shared: each line says the load average it ran under, and the CPU seconds the listener process
used (a figure other jobs on the machine change less than the wall-clock time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.data import ingest  # noqa: E402
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital  # noqa: E402
from forecast.feeds.stream import adt_messages, locations_of  # noqa: E402
from tests.feeds.mllp import Listener  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

SCALE = 2.3  # the demo's 132 beds to about 300


def hospital_year(start: str, end: str, prefix: str) -> tuple[list[str], list[str]]:
    """(messages, units) of a 300-bed hospital from `start` to `end`; visit numbers and control ids start with
    `prefix` so that several streams do not collide."""
    units = [
        replace(
            u,
            beds=round(u.beds * SCALE),
            acute_per_day=u.acute_per_day * SCALE,
            acute_per_1000_guest_nights=u.acute_per_1000_guest_nights * SCALE,
            elective_per_weekday=u.elective_per_weekday * SCALE,
        )
        for u in DEFAULT_UNITS
    ]
    demo = generate_demo_hospital(start=start, end=end, units=units, transfers=True)
    stays = ingest(demo.episodes).episodes
    assert stays is not None
    messages = [
        m.replace("|MSG", f"|{prefix}M").replace("^^^VISBY^VN", f"{prefix}^^^VISBY^VN")
        for m in adt_messages(stays, updates=3)
    ]
    return messages, [u.unit for u in units]


def visit_of(message: str) -> str:
    pv1 = next(s for s in message.split("\r") if s.startswith("PV1"))
    return pv1.split("|")[19]


def send(port: int, messages: list[str], latencies: list[float], pace: float | None = None) -> None:
    from hl7.client import MLLPClient

    with MLLPClient("127.0.0.1", port) as client:
        client.socket.settimeout(30)
        started = time.perf_counter()
        for n, message in enumerate(messages):
            if pace is not None:
                time.sleep(max(0.0, started + n / pace - time.perf_counter()))
            sent = time.perf_counter()
            ack = client.send_message(message)
            latencies.append(time.perf_counter() - sent)
            if b"MSA|AA" not in ack:
                raise RuntimeError(f"not accepted: {ack[:300]!r}")


def throughput(port: int, messages: list[str], connections: int) -> tuple[float, list[float]]:
    """Seconds to send every message over `connections` connections (a visit always on one)."""
    parts: list[list[str]] = [[] for _ in range(connections)]
    for message in messages:
        parts[zlib.crc32(visit_of(message).encode()) % connections].append(message)
    latencies: list[float] = []
    threads = [threading.Thread(target=send, args=(port, part, latencies)) for part in parts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def cpu_seconds(listener: Listener) -> float:
    import psutil

    assert listener.process is not None
    times = psutil.Process(listener.process.pid).cpu_times()
    return float(times.user + times.system)


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", default="8", help="comma-separated connection counts for the year")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (fsync on) instead of SQLite")
    args = parser.parse_args()

    built = time.perf_counter()
    year, units = hospital_year("2025-01-01", "2025-12-31", "Y")
    later, _ = hospital_year("2026-01-01", "2026-01-31", "L")
    print(f"built {len(year)} messages of a year ({time.perf_counter() - built:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="bedcast-adt-") as folder:
        work = Path(folder)
        locations = work / "locations.csv"
        locations_of(units).to_csv(locations, index=False)
        server = PostgresServer(durable=True).start() if args.postgres else None
        try:
            for connections in (int(c) for c in args.connections.split(",")):
                name = f"year{connections}"
                url = server.create_database(name) if server else f"sqlite:///{work / (name + '.db')}"
                listener = Listener(url, work, locations).start()
                try:
                    before = cpu_seconds(listener)
                    seconds, latencies = throughput(listener.port, year, connections)
                    cpu = cpu_seconds(listener) - before
                    median, p99 = 1000 * statistics.median(latencies), 1000 * percentile(latencies, 0.99)
                    print(
                        f"{'PostgreSQL' if server else 'SQLite'}, {connections} connection(s): {len(year)} messages "
                        f"in {seconds:.1f} s, {len(year) / seconds:.0f} messages/s; ACK median {median:.1f} ms, "
                        f"p99 {p99:.1f} ms; listener CPU {cpu:.0f} s ({1000 * cpu / len(year):.2f} ms a message); "
                        f"{load()}",
                        flush=True,
                    )
                    paced = later[: int(args.rate * args.seconds)]
                    latencies = []
                    started = time.perf_counter()
                    send(listener.port, paced, latencies, pace=args.rate)
                    rate = len(paced) / (time.perf_counter() - started)
                    print(
                        f"  then one connection at {rate:.1f} messages/s for {len(paced)} messages on the loaded "
                        f"database: ACK median {1000 * statistics.median(latencies):.1f} ms, p99 "
                        f"{1000 * percentile(latencies, 0.99):.1f} ms, max {1000 * max(latencies):.1f} ms; {load()}",
                        flush=True,
                    )
                finally:
                    listener.stop()
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
