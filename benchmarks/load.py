"""Load on the HTTP API: a bounded open-loop request stream against `bedcast serve` on this machine.

    .venv/bin/python benchmarks/load.py [--store DIR] [--rate 200] [--seconds 20] [--port 0] [--scenario-rate 20]
                                        [--only TEXT]
    .venv/bin/python benchmarks/load.py --saturate [--seconds 15] [--rounds 2]

Trains a champion on the demo hospital (all units, three years, seasonal naive and ETS) into a temporary MLflow
store, or serves the store in `--store DIR` (`mlflow.db` and `mlruns/`; trained into when empty); starts the
service as a subprocess on 127.0.0.1 only; then, per endpoint, sends `rate` requests a second for `seconds`
seconds on a fixed schedule (open loop: a slow answer does not delay the next request, so queueing shows in the latency,
which is measured from each request's scheduled time). What-if scenarios (`POST /v1/scenarios`, the whole
hospital's next quarter, a new scenario each request) run at `--scenario-rate`, beside the plain plan at the
same rate; the plan explained by driver (`/v1/explain`, per unit and for the hospital, the year ahead where
the model plans it) at `rate`. Prints p50/p99 latency, throughput, errors and the server's resident memory.
Figures only; nothing is asserted. Stops by itself: at most rate × seconds requests per endpoint and a hard time limit.

`--saturate` measures instead the saturation rate of `/v1/plan` with `bedcast serve --workers 1` and
`--workers 2` in the same run (alternating, `rounds` times each): closed loop, 32 connections each sending its
next request as soon as the answer arrives, with `wrk` when it is installed (Debian's `wrk`: a client in C,
so the client takes little of the CPU the workers share), else with this script's own client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only: the benchmark never listens on a public address
MAX_CONNECTIONS = 64


def train_demo(folder: Path) -> None:
    """A champion of the demo hospital in `folder` (embedded MLflow store)."""
    from forecast.demo import generate_demo_hospital
    from training.pipeline import train
    from training.settings import TrainSettings

    hospital = generate_demo_hospital(start="2022-01-01", end="2024-12-31")
    hospital.episodes.to_csv(folder / "episodes.csv", index=False)
    hospital.units.to_csv(folder / "units.csv", index=False)
    settings = TrainSettings(
        data=folder / "episodes.csv",
        units=folder / "units.csv",
        candidates=("seasonal_naive", "ets"),
        folds=2,
        horizon=28,
        root=folder,
    )
    started = time.perf_counter()
    result = train(settings, say=lambda line: None)
    print(f"trained {result.bundle.unit_names} in {time.perf_counter() - started:.0f} s (version {result.version})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server(store: Path, port: int, workers: int = 1) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}"),
        "BEDCAST_EPISODES_URL": f"sqlite:///{store / 'episodes.db'}",
    }
    command = [sys.executable, "-m", "forecast.cli", "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    command += ["--workers", str(workers)]
    return subprocess.Popen(command, cwd=store, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_workers(port: int, server: subprocess.Popen, workers: int, timeout: float = 180) -> None:
    """Wait until `workers` different workers have answered /ready (each on a new connection)."""
    wait_ready(port, server, timeout)
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen)} of {workers} workers ready within {timeout:.0f} s")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=5) as response:
                seen.add(int(json.loads(response.read())["worker"]))
        except OSError:
            time.sleep(0.2)


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=2) as response:
                return dict(json.loads(response.read()))
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the server was not ready within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (a figure other jobs on the machine do not distort)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Connections:
    """Keep-alive HTTP/1.1 connections: reused when free, opened when all are busy (up to a bound)."""

    def __init__(self, port: int):
        self.port, self.idle, self.opened = port, [], 0

    async def get(self, fresh: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle and not fresh:
            return self.idle.pop()
        while self.opened >= MAX_CONNECTIONS:
            await asyncio.sleep(0.001)
            if self.idle:
                return self.idle.pop()
        self.opened += 1
        return await asyncio.open_connection(HOST, self.port)

    def put(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(connection)

    def drop(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.opened -= 1
        connection[1].close()


Request = str | tuple[str, bytes]  # a GET path, or a POST path and its JSON body


async def exchange(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: Request) -> tuple[int, int]:
    """One request on a keep-alive connection: (status, body bytes); status 0 when the server had closed it."""
    reader, writer = connection
    if isinstance(path, tuple):
        target, body = path
        head = f"POST {target} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    else:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        return 0, 0
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return int(status_line.split()[1]), len(await reader.readexactly(length))


async def request(connections: Connections, path: Request, scheduled: float, run: Run) -> None:
    for attempt in range(2):  # a keep-alive connection the server closed while idle: once more on a new one
        connection = await connections.get(fresh=attempt > 0)
        try:
            status, size = await exchange(connection, path)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            connections.drop(connection)
            run.error(type(error).__name__)
            return
        if status:
            break
        connections.drop(connection)
    else:
        run.error("connection closed")
        return
    connections.put(connection)
    run.bytes_read += size
    if status != 200:
        run.error(f"HTTP {status}")
    run.latencies.append(time.perf_counter() - scheduled)


async def drive(port: int, paths: list[Request], rate: float, seconds: float) -> tuple[Run, float]:
    """Send `rate` requests a second for `seconds` on a fixed schedule; wait for the answers (bounded)."""
    run, connections = Run(), Connections(port)
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for k in range(count):
        scheduled = start + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(request(connections, paths[k % len(paths)], scheduled, run)))
    _, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
        run.error("timeout")
    elapsed = time.perf_counter() - start
    for _, writer in connections.idle:
        writer.close()
    return run, elapsed


async def closed_loop(port: int, path: str, seconds: float, connections: int) -> int:
    """Answers received with `connections` connections each sending again as soon as it has its answer."""
    deadline = time.perf_counter() + seconds
    answered = 0

    async def one() -> None:
        nonlocal answered
        connection = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                status, _ = await exchange(connection, path)
                answered += status == 200
        finally:
            connection[1].close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return answered


def saturation_rate(port: int, path: str, seconds: float, connections: int = 32) -> tuple[float, str]:
    """Requests a second at saturation, and the client that measured it."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return asyncio.run(closed_loop(port, path, seconds, connections)) / seconds, "this script's client"
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", f"http://{HOST}:{port}{path}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        print(out)
    rate = next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec:"))
    return float(rate), "wrk"


def saturate(store: Path, seconds: float, rounds: int) -> None:
    """/v1/plan at saturation with 1 and 2 workers, alternating, in one run."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    client = ""
    for _ in range(rounds):
        for workers in (1, 2):
            port = free_port()
            server = start_server(store, port, workers)
            try:
                wait_workers(port, server, workers)
                saturation_rate(port, "/v1/plan", 2)  # warm every worker's connections and caches
                rate, client = saturation_rate(port, "/v1/plan", seconds)
                rates[workers].append(rate)
                print(f"{workers} worker(s): {rate:,.0f} requests/s  (load average {os.getloadavg()[0]:.1f})")
            finally:
                server.terminate()
                server.wait(timeout=30)
    one, two = float(np.median(rates[1])), float(np.median(rates[2]))
    print(
        f"/v1/plan at saturation ({client}, 32 connections, {seconds:.0f} s, median of {rounds}): "
        f"1 worker {one:,.0f}/s, 2 workers {two:,.0f}/s: {two / one:.2f}× on {os.cpu_count()} cores"
    )


def report(name: str, run: Run, elapsed: float, rss: float, cpu: float) -> None:
    latency = np.array(run.latencies) * 1000
    errors = sum(run.errors.values())
    p50, p99 = np.percentile(latency, [50, 99]) if len(latency) else (float("nan"),) * 2
    print(
        f"{name:<28} {len(latency) + errors:>6} req  {len(latency) / elapsed:>7.1f} rps  p50 {p50:>6.2f} ms  "
        f"p99 {p99:>6.2f} ms  max {latency.max() if len(latency) else float('nan'):>7.2f} ms  "
        f"errors {errors}{' ' + str(run.errors) if errors else ''}  server CPU {cpu * 1000 / max(len(latency), 1):.2f} "
        f"ms/req  RSS {rss:.0f} MiB"
    )


def what_if(units: list[str], first_day: pd.Timestamp, count: float) -> dict[str, list[Request]]:
    """Whole-hospital what-if scenarios of the next quarter, each one new (no answer comes from the cache), and
    the plain plan at the same rate beside them."""
    week = (first_day + pd.Timedelta(days=40)).isocalendar()
    closure = f"{week.year}-W{week.week:02d}"

    def scenario(k: int) -> bytes:
        return json.dumps(
            {
                "admissions": [{"percent": -5 + k / 1000}],
                "length_of_stay": [{"days": -0.5, "units": units[:3]}],
                "target_acute": 0.88,
                "planned_beds": [{"unit": units[0], "week": closure, "beds": 10}],
                "smooth_electives": True,
            }
        ).encode()

    n = int(count) + 100
    return {
        "/v1/plan at the scenario rate": ["/v1/plan"],
        "POST /v1/scenarios": [("/v1/scenarios", scenario(k)) for k in range(n)],
        "POST /v1/scenarios +shifts": [("/v1/scenarios?tables=weeks,days,shifts,fte", scenario(k)) for k in range(n)],
        "POST /v1/scenarios?tables=weeks": [("/v1/scenarios?tables=weeks", scenario(k)) for k in range(n)],
    }


def _has_year(port: int) -> bool:
    """Whether the served model plans the year ahead."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/v1/plan?period=year", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, help="folder with mlflow.db and mlruns/; trained on the demo when it has none"
    )
    parser.add_argument("--rate", type=float, default=200, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per endpoint")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--scenario-rate", type=float, default=20, help="requests a second for what-if scenarios and the plan beside"
    )
    parser.add_argument("--only", default="", help="run only the endpoints whose name contains this text")
    parser.add_argument("--saturate", action="store_true", help="/v1/plan's saturation rate, 1 worker against 2")
    parser.add_argument("--rounds", type=int, default=2, help="--saturate: measurements per number of workers")
    args = parser.parse_args()
    if args.rate * args.seconds > 100_000:
        parser.error("at most 100,000 requests per endpoint")

    with tempfile.TemporaryDirectory(prefix="bedcast-load-") as tmp:
        store = args.store.resolve() if args.store else Path(tmp)
        if not (store / "mlflow.db").exists() and "MLFLOW_TRACKING_URI" not in os.environ:
            store.mkdir(parents=True, exist_ok=True)
            train_demo(store)
        if args.saturate:
            saturate(store, args.seconds, args.rounds)
            return
        port = args.port or free_port()
        server = start_server(store, port)
        try:
            ready = wait_ready(port, server)
            print(f"serving {ready['model_name']} version {ready['model_version']} on {HOST}:{port} (pid {server.pid})")
            with urllib.request.urlopen(f"http://{HOST}:{port}/v1/units", timeout=5) as response:
                answer = json.loads(response.read())
            units = [u["unit"] for u in answer["units"]]
            first_day = pd.Timestamp(answer["forecast_first_day"])
            print(
                f"server RSS after start: {rss_mib(server.pid):.0f} MiB; {args.rate:.0f} rps for {args.seconds:.0f} s "
                f"per endpoint; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs included)"
            )
            scenarios: dict[str, list[Request]] = {
                "/v1/plan": ["/v1/plan"],
                "/v1/forecast/{unit}": [f"/v1/forecast/{urllib.request.quote(u)}" for u in units],
                # Requests nobody made before: each answer is computed once, then served from the cache.
                "/v1/beds/{unit}?start=varied": [
                    f"/v1/beds/{urllib.request.quote(u)}?start={day:%Y-%m-%d}&days=28"
                    for day in pd.date_range(first_day, periods=60)
                    for u in units
                ],
            }
            # The plan explained by driver, a year ahead where the model has one (else the next quarter).
            period = "year" if _has_year(port) else "next"
            scenarios[f"/v1/explain/{{unit}}?period={period}"] = [
                f"/v1/explain/{urllib.request.quote(u)}?period={period}" for u in units
            ]
            scenarios[f"/v1/explain?period={period}"] = [f"/v1/explain?period={period}"]
            rates = dict.fromkeys(scenarios, args.rate)
            for name, paths in what_if(units, first_day, args.rate * args.seconds).items():
                scenarios[name], rates[name] = paths, args.scenario_rate
            for name, paths in scenarios.items():
                if args.only not in name:
                    continue
                # Warm the connections (a what-if with scenarios the run does not send again).
                warming = paths[-50:] if rates[name] == args.scenario_rate else paths
                asyncio.run(drive(port, warming, min(rates[name], 50), 1))
                cpu = cpu_seconds(server.pid)
                run, elapsed = asyncio.run(drive(port, paths, rates[name], args.seconds))
                report(name, run, elapsed, rss_mib(server.pid), cpu_seconds(server.pid) - cpu)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
