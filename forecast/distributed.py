"""Scale-out on Dask: a runner that maps the engine's chunks of units over a Dask cluster with `Client.map`.

The engine splits the units into chunks and maps the costly part over them (`forecast.engine.run`,
`forecast.engine.forecast_units`); `DaskRunner` sends each chunk to a worker as data (scattered, then mapped),
runs the unchanged pure function there and gathers the results in the chunks' order. Any runner with `map` and
`workers` would do; this module is the one that needs a cluster.

`dask_client` connects to a scheduler at `address` (e.g. `tcp://host:8786`), or starts a local cluster with one
single-threaded worker process per core.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

__all__ = ["ENGINES", "DaskRunner", "Engine", "dask_client", "runner"]

Engine = Literal["local", "dask"]
ENGINES: tuple[str, ...] = ("local", "dask")


class DaskRunner:
    """Chunks of units on a Dask cluster: each chunk a task, results in the chunks' order."""

    def __init__(self, client: Any) -> None:
        """
        Args:
            client: an open `distributed.Client`.
        """
        self.client = client

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info()["workers"]))

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        # Scattered first: the chunks travel to the workers as data, not inside the task graph.
        chunks = self.client.scatter(list(items))
        return list(self.client.gather(self.client.map(function, chunks, pure=False)))


@contextlib.contextmanager
def dask_client(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: connected to the scheduler at `address`, or to a local cluster started (and stopped) here.

    The local cluster has `workers` single-threaded worker processes (default: one per core): the models are
    CPU-bound Python, so threads would queue on the interpreter lock.
    """
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def runner(engine: str = "local", address: str | None = None) -> Iterator[DaskRunner | None]:
    """The runner for an engine name: None for `local` (this process), a `DaskRunner` for `dask`.

    Raises:
        ValueError: an unknown engine.
        RuntimeError: `dask` without Dask's `distributed` installed.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "local":
        yield None
        return
    if importlib.util.find_spec("distributed") is None:
        raise RuntimeError("engine 'dask' needs Dask's distributed, which is not installed: pip install distributed")
    with dask_client(address) as client:
        yield DaskRunner(client)
