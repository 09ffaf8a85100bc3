"""The living forecast: a background thread re-anchors the served forecast when newer episodes arrive.

Episodes reach the database through `POST /v1/episodes` (which wakes the thread at once) or from outside, e.g.
`bedcast ingest FILE --into URL` or another serving worker (the thread looks every `interval` seconds, a
count-and-newest query). An update reads the stays in bed since training, builds a whole new serving state
from the nowcast (`forecast.nowcast`) and the monitoring (`forecast.monitoring`) with the slot's one
build-and-warm step (`forecast.serving.slot.prepare`: answers, scenario inputs and pages), and only then swaps
it in: requests see the old answers until the new ones are ready, and the new ones warm. A failed update keeps
the answers being served and says why in `/ready` and the log. It never refits a model.

This piece is separate from loading the model: a reload brings a state as trained, which the thread re-anchors
on its next look.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from forecast.monitoring import monitor
from forecast.nowcast import nowcast
from forecast.registry import ServedModel
from forecast.serving.slot import Slot, describe, prepare
from forecast.serving.state import ServingState
from forecast.store import EpisodeStore

__all__ = ["Nowcaster", "NowcastStatus"]

log = logging.getLogger("bedcast.api")
WORKER_NICENESS = 10


@dataclass(frozen=True)
class NowcastStatus:
    """The last update: when it ran, how long it took, and the error that kept the old answers (if any)."""

    checked_at: float | None = None
    seconds: float | None = None
    error: str | None = None


class Nowcaster:
    """Keeps the state in `slot` re-anchored on the episodes in `store`.

    Args:
        slot: the slot whose state is being served.
        store: the episodes database.
        interval: seconds between looks at the database for episodes added from outside the service.
    """

    def __init__(self, slot: Slot, store: EpisodeStore, interval: float = 2.0, in_process: bool = False):
        self.slot, self.store, self.interval = slot, store, interval
        # Updates run in a worker process (lower priority), so requests here never wait for the interpreter
        # while one runs; the state comes back whole (pickled) and is swapped in by reference. The worker
        # starts with the first update that has newer episodes (a service without any never starts one).
        self._pool: ProcessPoolExecutor | None = None
        if not in_process:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_worker)
        self.status = NowcastStatus()
        self._wake = threading.Event()
        self._stop = threading.Event()
        # The state and store version the last update started from: nothing new, nothing to do.
        self._seen: tuple[ServingState | None, Any] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bedcast-nowcast", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def poke(self) -> None:
        """New episodes were stored: update soon, off the caller's thread."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.update()
            except Exception:  # the thread must live on; update() records its own failures
                log.exception("nowcast thread")

    def update(self) -> bool:
        """Re-anchor the served state now if the model or the episodes changed since the last update.

        Returns:
            True when a new state was swapped in.
        """
        with self._lock:
            state: ServingState | None = self.slot.state
            if state is None:
                return False
            started = time.perf_counter()
            try:
                version = self.store.version()
                if self._seen is not None and self._seen[0] is state and self._seen[1] == version:
                    return False
                # No episode stored and none anchored on: nothing to do, and no worker process to start for it.
                nothing = version[0] == 0 and state.nowcast is None
                new = None if nothing else self._rebuild(state)
            except Exception as error:  # keep serving the old answers, and say why
                reason = f"the nowcast failed ({describe(error)}); serving the forecast as of {state.as_of:%Y-%m-%d}"
                self.status = NowcastStatus(time.time(), time.perf_counter() - started, reason)
                log.warning("%s", reason)
                return False
            # A reload in between brings its own state: then look again, from it.
            swapped = new is not None and self.slot.swap(new, replacing=state)
            if swapped or (new is None and self.slot.state is state):
                self._seen = (self.slot.state, version)
            else:
                self._wake.set()
            seconds = time.perf_counter() - started
            self.status = NowcastStatus(time.time(), seconds, None)
            if swapped and new is not None:
                log.info("nowcast as of %s in %.2f s", f"{new.as_of:%Y-%m-%d}", seconds)
            return swapped

    def _rebuild(self, state: ServingState) -> ServingState | None:
        """The state re-anchored on the stored episodes, or None when nothing is newer than training; made in
        the worker process (or here, without one)."""
        if self._pool is None:
            return rebuild(state.served, state.loaded_at, state.nowcast is not None, self.store)
        future = self._pool.submit(
            rebuild_in_worker, state.served, state.loaded_at, state.nowcast is not None, self.store.url
        )
        return future.result()


def rebuild(served: ServedModel, loaded_at: datetime, anchored: bool, store: EpisodeStore) -> ServingState | None:
    """A whole serving state of `served` re-anchored on the stored episodes, prepared as every state is (answers,
    scenario inputs, pages); None when nothing is newer than training and the state is not `anchored` already."""
    trained = served.bundle
    end = trained.first_forecast_day - pd.Timedelta(days=1)
    episodes = store.read_in_bed_after(end.date())
    as_of = episodes.attrs.get("as_of")
    policy = trained.meta.policy
    if as_of is None or as_of <= end:
        if not anchored:  # nothing newer than training: the state as trained stays
            return None
        return prepare(served, None, monitor(trained, _no_census(), policy), loaded_at)
    current = nowcast(trained, episodes, as_of)
    return prepare(served, current, monitor(trained, current.census, policy), loaded_at)


_stores: dict[str, EpisodeStore] = {}


def rebuild_in_worker(served: ServedModel, loaded_at: datetime, anchored: bool, url: str) -> ServingState | None:
    """`rebuild` in the worker process, which keeps one connection pool per database."""
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = EpisodeStore(url)
    return rebuild(served, loaded_at, anchored, store)


def _start_worker() -> None:
    # The worker yields the CPU to the serving process: its answers come first, the update when there is time.
    os.nice(WORKER_NICENESS)


def _no_census() -> pd.DataFrame:
    return pd.DataFrame({"unit": pd.Series(dtype=str), "ds": pd.to_datetime([]), "census": pd.Series(dtype=float)})
