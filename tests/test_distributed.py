"""Scale-out (forecast/distributed.py): the Dask run equals the local one; unknown engines are refused."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from forecast import distributed, engine


def test_unknown_engine_fails_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown engine 'ray'; known: local, dask"), distributed.runner("ray"):
        pass


@pytest.mark.slow
def test_dask_run_equals_the_single_machine_run(demo_prepared):
    from distributed import Client, LocalCluster

    prepared, config = demo_prepared
    with (
        # One OpenMP thread for gradient boosting: on a busy machine spinning OpenMP threads slow a run tenfold,
        # and the worker threads share this process.
        threadpool_limits(1),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        local = engine.run(prepared, config)
        spread = engine.run(prepared, config, runner=distributed.DaskRunner(client), partitions=2)
        for name in ("forecasts", "scores", "selected"):
            pd.testing.assert_frame_equal(getattr(spread, name), getattr(local, name))
        pd.testing.assert_series_equal(spread.choice, local.choice)
        assert spread.models == local.models
        # The production forecast too, from the same choices and errors.
        local_forecast = engine.forecast_units(prepared, local, config)
        spread_forecast = engine.forecast_units(
            prepared, spread, config, runner=distributed.DaskRunner(client), partitions=2
        )
    pd.testing.assert_frame_equal(spread_forecast, local_forecast)
    assert np.isfinite(spread_forecast["mean"]).all()
