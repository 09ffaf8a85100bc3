"""Scale-out: the engine's backtest and forecasts run on Dask, Ray or Spark through fugue, one chunk of units a task.

Units are independent: a unit's backtest, choice, calibration and forecast read only that unit's series (and, for
the flow model, its admissions and episodes). So the prepared data is split into chunks of whole units, each chunk
runs the unchanged pure pipeline (`engine.run`, `engine.forecast_units`) wherever fugue sends it, and the pieces
are put back together in the single-machine run's order. This covers every candidate — statsforecast's own fugue
backend would cover only its models, not gradient boosting or the flow model.

The results equal the single-machine run's as long as every unit's series ends on the same day (the backtest takes
its cutoffs from the last day of the data it is given); `split_prepared` checks that. One caveat lives in
`forecast.models`: MSTL drops its yearly season when the shortest series *in the call* has under two years, so a
chunk can differ from the whole for MSTL when unit histories straddle two years.

`local` runs in this process without fugue, chunk after chunk (the engine looks a unit's rows up by scanning the
whole frame, so thousands of units in one call cost time quadratic in the units); `dask` uses a
`distributed.Client` at `address`, or a local cluster with one single-threaded worker process per core; `ray` and
`spark` are handed to fugue by name and need `fugue[ray]` / `fugue[spark]` (and a cluster) installed.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import logging
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast import engine as engine_lib
from forecast.backtest import Backtest, FlowInputs, judge

__all__ = [
    "ENGINES",
    "UNITS_PER_PARTITION",
    "Engine",
    "combine_forecasts",
    "dask_client",
    "forecast_on",
    "map_partitions",
    "run_backtest_on",
    "split_prepared",
    "split_units",
]

Engine = Literal["local", "dask", "ray", "spark"]
ENGINES: tuple[str, ...] = ("local", "dask", "ray", "spark")
# The fugue extras each engine needs, for the error message when it is missing.
_NEEDS = {"dask": ("distributed", "fugue_dask", "fugue[dask]"), "ray": ("ray", "fugue_ray", "fugue[ray]")}
_NEEDS["spark"] = ("pyspark", "fugue_spark", "fugue[spark]")
# Pickles travel as base64 text: engines turn object columns into strings (Dask's pyarrow strings break bytes).
_SCHEMA_OUT = "partition:long,result:str"


def _pack(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def _unpack(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))


def split_units(units: Sequence[str], partitions: int) -> list[list[str]]:
    """Sorted units in `partitions` contiguous chunks of near-equal size (no chunk is empty).

    Contiguous chunks of the sorted names keep each chunk in the order the single-machine run uses, so putting
    them back together is a concatenation.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    ordered = sorted(set(map(str, units)))
    return [list(chunk) for chunk in np.array_split(np.array(ordered, dtype=object), partitions) if len(chunk)]


def _subset(prepared: engine_lib.Prepared, units: list[str]) -> engine_lib.Prepared:
    """The prepared data of some units only, the flow model's inputs included."""

    def rows(frame: pd.DataFrame, key: str = "unique_id") -> pd.DataFrame:
        return frame[frame[key].astype(str).isin(units)].reset_index(drop=True)

    flow = None
    if prepared.flow is not None:
        flow = FlowInputs(rows(prepared.flow.admissions), rows(prepared.flow.episodes, "unit"))
    return engine_lib.Prepared(rows(prepared.series), rows(prepared.future), flow, prepared.column)


def split_prepared(prepared: engine_lib.Prepared, partitions: int) -> list[engine_lib.Prepared]:
    """The prepared data in chunks of whole units, each with its own slice of the flow model's inputs.

    Raises:
        ValueError: units whose series end on different days (each chunk would take other backtest cutoffs).
    """
    last = prepared.series.groupby("unique_id")["ds"].max()
    if last.nunique() > 1:
        early = last[last < last.max()]
        raise ValueError(
            f"every unit's series must end on the same day to split the run by unit; {len(early)} end before "
            f"{last.max():%Y-%m-%d} (e.g. {early.index[0]} on {early.iloc[0]:%Y-%m-%d}); fill or trim them first"
        )
    return [_subset(prepared, chunk) for chunk in split_units(last.index, partitions)]


def combine_forecasts(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One forecast table from disjoint chunks of units, ordered by unit and day like `engine.forecast_units`."""
    frame = pd.concat(list(parts), ignore_index=True)
    return frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def _slice_backtest(result: Backtest, units: list[str]) -> Backtest:
    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["unique_id"].astype(str).isin(units)].reset_index(drop=True)

    return Backtest(
        rows(result.forecasts), rows(result.scores), result.models, rows(result.selected), result.choice.loc[units]
    )


def _run_task(task: tuple[str, Any]) -> Any:
    """What one chunk does on a worker: the unchanged single-machine pipeline on its units."""
    kind, args = task
    if kind == "backtest":
        prepared, config = args
        return engine_lib.windows(prepared, config)
    prepared, result, config = args
    return engine_lib.forecast_units(prepared, result, config)


def _transformer(frame: pd.DataFrame) -> pd.DataFrame:
    # Module level (not a closure) so that workers unpickle it by reference to this module.
    results = [_pack(_run_task(_unpack(text))) for text in frame["payload"]]
    return pd.DataFrame({"partition": frame["partition"].to_numpy(), "result": results})


def _check_installed(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "local":
        return
    library, plugin, extra = _NEEDS[engine]
    missing = [name for name in (library, plugin) if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            f"engine {engine!r} needs {', '.join(missing)}, which is not installed: pip install '{extra}'"
            + ("" if engine == "dask" else " (and a running cluster, named with --address)")
        )


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
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # Every fugue partitioning logs a shuffle warning; the planner's terminal needs none of them.
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def map_partitions(
    tasks: Sequence[tuple[str, Any]], engine: Engine = "local", address: str | None = None, client: Any = None
) -> list[Any]:
    """Run tasks (one per chunk of units) on an engine through fugue; the results in the tasks' order.

    Args:
        tasks: `(kind, arguments)` pairs for `_run_task`.
        engine: `local` (in this process, no fugue), `dask`, `ray` or `spark`.
        address: the cluster to use (a Dask scheduler such as `tcp://host:8786`, a Ray or Spark master); for
            Dask without one, a local cluster.
        client: an existing `distributed.Client` to reuse (Dask only; benchmarks and tests keep one open).
    """
    _check_installed(engine)
    if engine == "local":
        return [_run_task(task) for task in tasks]
    import fugue.api as fa

    work = pd.DataFrame(
        {
            "partition": np.arange(len(tasks), dtype=np.int64),
            "payload": [_pack(task) for task in tasks],
        }
    )
    # One chunk per fugue partition, spread evenly: hashing can put two chunks on one worker.
    spec = {"by": ["partition"], "algo": "even", "num": len(tasks)}

    def on_dask(on: Any) -> pd.DataFrame:
        import dask.dataframe as dd

        # One Dask partition per chunk from the start: fugue then maps over them as they are, with no shuffle
        # (repartitioning by a key costs seconds a run, more than seasonal naive on a thousand units).
        chunks = dd.from_pandas(work, npartitions=len(tasks), sort=False)
        out = fa.transform(chunks, _transformer, schema=_SCHEMA_OUT, engine=on, as_local=True)
        return fa.as_pandas(out)

    if engine == "dask":
        if client is not None:
            out = on_dask(client)
        else:
            with dask_client(address) as own:
                out = on_dask(own)
    else:
        # Untested here (neither is installed): fugue takes a Spark session as its engine, and Ray's address
        # from `ray.init`.
        on: Any = engine
        if engine == "spark" and address:
            from pyspark.sql import SparkSession

            on = SparkSession.builder.master(address).getOrCreate()
        if engine == "ray" and address:
            import ray

            ray.init(address=address, ignore_reinit_error=True)
        done = fa.transform(work, _transformer, schema=_SCHEMA_OUT, partition=spec, engine=on, as_local=True)
        out = fa.as_pandas(done)
    out = out.sort_values("partition")
    if len(out) != len(tasks):
        raise RuntimeError(f"the engine returned {len(out)} results for {len(tasks)} chunks of units")
    return [_unpack(text) for text in out["result"]]


# The engine finds a unit's rows by scanning the whole frame, so one call costs units × rows: quadratic in the
# units. Chunks of at most this many units keep the cost linear (measured in benchmarks/scale.py).
UNITS_PER_PARTITION = 100


def _partitions(prepared: engine_lib.Prepared, engine: str, partitions: int | None, client: Any) -> int:
    units = prepared.series["unique_id"].nunique()
    if partitions is not None:
        return max(1, min(partitions, units))
    by_size = -(-units // UNITS_PER_PARTITION)
    if engine == "local":
        return by_size
    workers = len(client.scheduler_info()["workers"]) if client is not None else os.cpu_count() or 1
    # A few chunks per worker even out chunks of unequal cost without much per-task overhead.
    return max(1, min(units, max(4 * workers, by_size)))


def run_backtest_on(
    prepared: engine_lib.Prepared,
    config: engine_lib.EngineConfig,
    engine: Engine = "local",
    address: str | None = None,
    partitions: int | None = None,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Backtest:
    """`engine.run` (backtest, choice, calibration) on an engine, chunk by chunk of units; equal to the local run.

    Args:
        prepared: `engine.prepare(...)`'s output for all units.
        config: the engine settings; `n_jobs` applies inside each chunk (keep 1 on a cluster).
        engine: `local`, `dask`, `ray` or `spark`.
        address: the cluster's address (see `map_partitions`).
        partitions: chunks of units; default chunks of at most `UNITS_PER_PARTITION` units (one chunk, the
            plain run, for fewer), and at least four per worker on a cluster.
        client: an open `distributed.Client` to reuse.
        progress: called with a line before the run.
    """
    if engine == "local" and _partitions(prepared, engine, partitions, client) == 1:
        return engine_lib.run(prepared, config, progress=progress)
    chunks = split_prepared(prepared, _partitions(prepared, engine, partitions, client))
    if progress:
        progress(f"backtest on {engine}: {prepared.series['unique_id'].nunique()} units in {len(chunks)} chunks")
    tasks = [("backtest", (chunk, config)) for chunk in chunks]
    # The costly forecasts run chunk by chunk; the choice pools over all units, so it is made here on all.
    parts = map_partitions(tasks, engine, address, client)
    forecasts = pd.concat([f for f, _ in parts], ignore_index=True).sort_values(["fold", "unique_id", "ds"])
    scale = pd.concat([s for _, s in parts]).sort_index()
    return judge(forecasts.reset_index(drop=True), scale, engine_lib.candidates_in(prepared, config), config.horizon)


def forecast_on(
    prepared: engine_lib.Prepared,
    result: Backtest,
    config: engine_lib.EngineConfig,
    engine: Engine = "local",
    address: str | None = None,
    partitions: int | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """`engine.forecast_units` on an engine, chunk by chunk of units; equal to the local run.

    Args:
        prepared: the data prepared with the forecast's horizon (as `engine.forecast_units` takes it).
        result: the backtest whose choices and errors the forecast uses (from `run_backtest_on` or `engine.run`).
        config: the engine settings of the forecast.
        engine, address, partitions, client: as in `run_backtest_on`.
    """
    if engine == "local" and _partitions(prepared, engine, partitions, client) == 1:
        return engine_lib.forecast_units(prepared, result, config)
    chunks = split_prepared(prepared, _partitions(prepared, engine, partitions, client))
    tasks = []
    for chunk in chunks:
        units = sorted(chunk.series["unique_id"].astype(str).unique())
        tasks.append(("forecast", (chunk, _slice_backtest(result, units), config)))
    return combine_forecasts(map_partitions(tasks, engine, address, client))
