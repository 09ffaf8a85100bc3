"""Calibration (forecast/calibration.py): quantiles from out-of-sample errors, widening with the step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.calibration import apply_error_quantiles, conformal_levels, error_quantiles
from forecast.quantiles import LEVELS


def test_error_quantiles_widen_with_horizon_and_never_go_negative():
    rng = np.random.default_rng(1)
    steps = np.repeat(np.arange(1, 29), 50)
    errors = pd.DataFrame({"step": steps, "error": rng.normal(0, steps, steps.size)})
    q = error_quantiles(errors, 28)
    assert q.shape == (28, len(LEVELS))
    spread = q[:, LEVELS.index(0.9)] - q[:, LEVELS.index(0.1)]
    assert spread[-1] > 5 * spread[0]
    table = apply_error_quantiles(np.full(28, 2.0), q)
    assert (table.to_numpy() >= 0).all()
    assert (np.diff(table.to_numpy(), axis=1) >= 0).all()


def test_conformal_levels_move_away_from_the_median_by_n_plus_one_over_n():
    got = conformal_levels(np.array([0.025, 0.5, 0.975]), 39)
    assert got.tolist() == pytest.approx([0.5 - 0.475 * 40 / 39, 0.5, 0.5 + 0.475 * 40 / 39])
    assert conformal_levels(np.array([0.001, 0.999]), 5).tolist() == [0.0, 1.0]


def test_tail_quantiles_pool_wider_than_central_ones():
    # Errors grow with the step; the central quantiles follow the step, the tails reach further out and so
    # are wider than the same step's own errors would make them, never crossing the central ones.
    steps = np.repeat(np.arange(1, 29), 5)
    errors = pd.DataFrame({"step": steps, "error": np.tile([-2.0, -1.0, 0.0, 1.0, 2.0], 28) * steps})
    q = error_quantiles(errors, 28)
    lo, hi = LEVELS.index(0.1), LEVELS.index(0.9)
    tail_lo, tail_hi = LEVELS.index(0.025), LEVELS.index(0.975)
    assert q[0, hi] < 2.0 * 4  # step 1: the central pool stays within the first few steps
    assert q[0, tail_hi] > q[0, hi] and q[0, tail_lo] < q[0, lo]
    assert (np.diff(q, axis=1) >= 0).all()
