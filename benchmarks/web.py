"""The planner's pages: server time per page, and how soon headless Chromium has each page fully drawn.

    .venv/bin/python benchmarks/web.py [--store DIR] [--requests 300] [--loads 10]

Trains the demo hospital (six units, two years, seasonal naive and ETS) into a temporary MLflow store, or serves
the store in `--store DIR`; starts `bedcast serve` on 127.0.0.1 (a free port); then

- server time: `requests` GETs of each page one after another on one kept-alive connection; p50/p99 of the
  time to the last byte, measured by this client on loopback (so an upper bound of the server's time), and the
  time to render each page from nothing inside the process (what the first request after a load would cost if
  the pages were not rendered at load);
- browser: Debian's headless Chromium loads each page `loads` times at 1280 px and at 390 px; the figure is
  the browser's own clock from navigation start to the end of the load event (the charts are SVG in the page,
  so loaded is drawn). The first load of each width is in a new browser with an empty cache.

Prints figures; asserts nothing. Stops by itself (bounded counts, the server is stopped at the end).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402

PAGES = ("/", "/units/internal_medicine", "/units/intensive_care", "/what-if?unit=surgery&admissions=10")


def server_times(base: str, path: str, count: int) -> list[float]:
    """Seconds to the last byte of `count` sequential GETs on one connection."""
    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status}")
    finally:
        connection.close()
    return times


def render_from_nothing(store: Path) -> dict[str, float]:
    """Milliseconds to render each page with empty caches, in this process (the median of three)."""
    import os

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    from forecast.api.main import default_loader
    from forecast.api.settings import Settings
    from forecast.serving import pages
    from forecast.serving.state import Cache, build_state

    state = build_state(default_loader(Settings())())
    out = {}
    for name, render in (
        ("/", pages.overview_page),
        ("/units/internal_medicine", lambda s: pages.unit_page(s, "internal_medicine")),
    ):
        runs = []
        for _ in range(3):
            state.cache, state.answers = Cache(), Cache()
            started = time.perf_counter()
            render(state)
            runs.append(1000 * (time.perf_counter() - started))
        out[name] = statistics.median(runs)
    return out


def browser_times(base: str, path: str, width: int, loads: int) -> list[float]:
    driver = browser.chromium(width, 900)
    try:
        browser.emulate(driver, width, 900, mobile=width < 700)
        times = []
        for _ in range(loads):
            driver.get(base + path)
            times.append(browser.wait_drawn(driver))
        errors = browser.console_errors(driver)
        if errors:
            raise RuntimeError(f"{path}: console errors {errors}")
        return times
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="folder of a trained MLflow store (default: train one)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    missing = browser.browser_missing()
    if missing:
        raise SystemExit(missing)
    with tempfile.TemporaryDirectory() as temporary:
        store = args.store or Path(temporary)
        if not (store / "mlflow.db").exists():
            started = time.perf_counter()
            browser.train_demo(store)
            print(f"trained the demo hospital in {time.perf_counter() - started:.0f} s")
        with browser.serve(store) as service:
            print(f"\nserver time, {args.requests} sequential GETs per page on loopback (ms):")
            print(f"{'page':<40} {'p50':>7} {'p99':>7} {'max':>7} {'KB':>6}")
            for path in PAGES:
                server_times(service.base, path, 3)  # the what-if answer is computed on its first request
                times = sorted(1000 * t for t in server_times(service.base, path, args.requests))
                size = len(service.get(path)[2]) / 1024
                p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
                print(f"{path:<40} {statistics.median(times):7.2f} {p99:7.2f} {times[-1]:7.2f} {size:6.0f}")
            print("\nrendered from nothing, in process (ms):")
            for path, ms in render_from_nothing(store).items():
                print(f"{path:<40} {ms:7.1f}")
            print(f"\nheadless Chromium, navigation start to load event end (ms), {args.loads} loads:")
            print(f"{'page':<40} {'width':>5} {'first':>7} {'median':>7} {'max':>7}")
            for path in PAGES:
                for width in (1280, 390):
                    times = browser_times(service.base, path, width, args.loads)
                    later = times[1:] or times
                    print(f"{path:<40} {width:5d} {times[0]:7.0f} {statistics.median(later):7.0f} {max(times):7.0f}")


if __name__ == "__main__":
    main()
