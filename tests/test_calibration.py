"""Calibration (forecast/calibration.py): the ruler corrected by pooled errors, a prior, and online adaptation.

A calibration is tested the way a planner relies on it: errors are drawn from a known distribution, the calibration
learns from them, and fresh errors from the same distribution are counted inside its intervals and over its
95th percentile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.calibration import (
    NORMAL,
    Settings,
    apply_spread,
    calibrate_windows,
    pooled_multipliers,
    spread_from_interval,
)
from forecast.quantiles import LEVELS

Q = {q: i for i, q in enumerate(LEVELS)}
NO_ADAPTATION = Settings(adapt_rate=0.0)


def windows_of(
    errors: np.ndarray, spread: np.ndarray | float = 20.0, units: int = 1, step_days: int = 28
) -> pd.DataFrame:
    """Backtest windows whose actuals are `point + spread × errors`: errors shaped `(units, windows, horizon)`."""
    _, n_windows, horizon = errors.shape
    rows = []
    for u in range(units):
        for w in range(n_windows):
            cutoff = pd.Timestamp("2024-01-01") + pd.Timedelta(days=step_days * w)
            ds = cutoff + pd.to_timedelta(np.arange(1, horizon + 1), unit="D")
            ruler = np.broadcast_to(np.asarray(spread, float), (horizon,))
            rows.append(
                pd.DataFrame(
                    {
                        "unique_id": f"u{u}",
                        "cutoff": cutoff,
                        "ds": ds,
                        "step": np.arange(1, horizon + 1),
                        "point": 500.0,
                        "spread": ruler,
                        "y": 500.0 + ruler * errors[u, w],
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def fresh_shares(multipliers: np.ndarray, draws: np.ndarray, spread: float = 20.0) -> tuple[float, float]:
    """Share of fresh actuals inside the 95 % interval, and over the 95th percentile rounded up (the beds)."""
    steps = draws.shape[1]
    quantiles = apply_spread(np.full(steps, 500.0), np.full(steps, spread), multipliers).to_numpy()
    y = 500.0 + spread * draws
    inside = (y >= quantiles[:, Q[0.025]]) & (y <= quantiles[:, Q[0.975]])
    over = y > np.ceil(quantiles[:, Q[0.95]] - 1e-9)
    return float(inside.mean()), float(over.mean())


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.8])
def test_fresh_errors_fall_inside_the_learned_95_interval_95_percent_of_the_time(scale):
    # The ruler is off by `scale` (too wide at 0.6, too narrow at 1.8): the errors correct it.
    rng = np.random.default_rng(7)
    errors = rng.standard_t(df=6, size=(4, 12, 28)) * scale
    _, calibration = calibrate_windows(windows_of(errors, units=4), 28, NO_ADAPTATION)
    draws = rng.standard_t(df=6, size=(4000, 28)) * scale
    inside, over = fresh_shares(calibration.multipliers["u0"], draws)
    assert inside == pytest.approx(0.95, abs=0.02)
    assert over == pytest.approx(0.05, abs=0.015)


def test_a_tail_30_percent_too_narrow_fails_the_check():
    # The same check as above must notice an upper tail 30 % too close to the median.
    rng = np.random.default_rng(8)
    errors = rng.normal(0, 1.5, size=(4, 12, 28))
    _, calibration = calibrate_windows(windows_of(errors, units=4), 28, NO_ADAPTATION)
    m = calibration.multipliers["u0"]
    narrow = m.copy()
    upper = np.array(LEVELS) > 0.5
    narrow[:, upper] = m[:, [Q[0.5]]] + 0.7 * (m[:, upper] - m[:, [Q[0.5]]])
    draws = rng.normal(0, 1.5, size=(4000, 28))
    _, over = fresh_shares(m, draws)
    _, over_narrow = fresh_shares(narrow, draws)
    assert over == pytest.approx(0.05, abs=0.015)
    assert over_narrow > 0.05 + 0.015


def test_few_windows_are_never_narrower_than_the_ruler():
    # Two windows of tiny errors: the ruler's own normal quantiles hold, and only widen with errors that need it.
    quiet = windows_of(np.full((1, 2, 14), 0.01))
    _, calibration = calibrate_windows(quiet, 14, NO_ADAPTATION)
    m = calibration.multipliers["u0"]
    assert (m[:, Q[0.95]] >= NORMAL[Q[0.95]] - 1e-9).all()
    assert (m[:, Q[0.05]] <= NORMAL[Q[0.05]] + 1e-9).all()
    wild = windows_of(np.linspace(-8.0, 8.0, 28).reshape(1, 2, 14))
    _, calibration = calibrate_windows(wild, 14, NO_ADAPTATION)
    assert (calibration.multipliers["u0"][:, Q[0.95]] > 2 * NORMAL[Q[0.95]]).all()
    # With no window at all, the ruler's normal quantiles.
    assert np.allclose(pooled_multipliers(np.array([]), np.array([]), 0, 3, Settings()), np.tile(NORMAL, (3, 1)))


def test_a_young_unit_borrows_the_pooled_errors_of_the_others():
    # u0..u3 have twelve windows with errors twice the ruler; u4 joins for the last window only.
    rng = np.random.default_rng(2)
    errors = rng.normal(0, 2.0, size=(5, 12, 28))
    frame = windows_of(errors, units=5)
    frame = frame[(frame["unique_id"] != "u4") | (frame["cutoff"] == frame["cutoff"].max())]
    _, calibration = calibrate_windows(frame, 28, NO_ADAPTATION)
    young, old = calibration.multipliers["u4"], calibration.multipliers["u0"]
    assert np.allclose(young, old)
    assert young[:, Q[0.95]].mean() == pytest.approx(2.0 * NORMAL[Q[0.95]], rel=0.15)


def test_each_window_is_calibrated_on_what_was_seen_at_its_origin():
    rng = np.random.default_rng(3)
    errors = rng.normal(0, 1.0, size=(2, 8, 28))
    frame = windows_of(errors, units=2)
    before, _ = calibrate_windows(frame, 28)
    late = frame["ds"] > frame["cutoff"].unique()[4]
    changed = frame.assign(y=np.where(late, frame["y"] * 3, frame["y"]))
    after, _ = calibrate_windows(changed, 28)
    # Windows whose origin came before the change are calibrated exactly as before.
    early = (frame["cutoff"] <= frame["cutoff"].unique()[4]).to_numpy()
    assert np.array_equal(before[early], after[early])
    assert not np.allclose(before[~early], after[~early])


def test_a_run_of_misses_widens_the_next_forecasts_and_a_run_of_hits_narrows_them():
    rng = np.random.default_rng(4)
    calm = rng.normal(0, 1.0, size=(1, 12, 28))
    # The level jumps in the last four windows: errors five times as large.
    shifted = calm.copy()
    shifted[:, 8:] *= 5
    _, still = calibrate_windows(windows_of(shifted), 28, NO_ADAPTATION)
    _, adapting = calibrate_windows(windows_of(shifted), 28)
    assert adapting.adaptation["u0"][0] > 0.3
    assert adapting.multipliers["u0"][:, Q[0.95]].mean() > still.multipliers["u0"][:, Q[0.95]].mean()
    # Errors well inside the ruler for months: the adaptation narrows the tails.
    _, quiet = calibrate_windows(windows_of(calm * 0.3), 28)
    assert quiet.adaptation["u0"][0] < 0


def test_the_adaptation_keeps_the_promise_through_a_level_shift():
    # The errors triple halfway: over the windows after the shift, the beds planned at 5 % hold better with it.
    rng = np.random.default_rng(5)
    errors = rng.normal(0, 1.0, size=(3, 20, 28))
    errors[:, 10:] *= 3
    frame = windows_of(errors, units=3)
    late = (frame["cutoff"] >= frame["cutoff"].unique()[10]).to_numpy()

    def over(settings: Settings) -> float:
        quantiles, _ = calibrate_windows(frame, 28, settings)
        return float((frame["y"].to_numpy()[late] > np.ceil(quantiles[late, Q[0.95]] - 1e-9)).mean())

    assert over(Settings()) < over(NO_ADAPTATION) - 0.02


def test_the_ruler_is_the_sd_of_the_reference_interval():
    spread = spread_from_interval(np.array([10.0, 5.0, np.nan]), np.array([12.5631, 5.0, np.nan]))
    assert spread[0] == pytest.approx(1.0, rel=1e-3)
    assert spread[1] == spread[2] == 0.5  # no spread: half a patient


def test_apply_spread_is_non_negative_non_crossing_and_extends_the_last_step():
    m = np.tile(NORMAL, (3, 1))
    table = apply_spread(np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 2.0), m).to_numpy()
    assert (table >= 0).all() and (np.diff(table, axis=1) >= 0).all()
    assert table[3, Q[0.95]] == pytest.approx(4.0 + 2.0 * NORMAL[Q[0.95]])
