"""The nowcast: the census since training counted from episodes, and the forecast re-anchored on today's beds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecast.nowcast import as_of_day, nowcast, service_adaptation
from forecast.quantiles import columns
from tests.living import TRAINED_TO, replay, seen_by


def _truth(day: pd.Timestamp) -> pd.DataFrame:
    daily = replay().daily
    days = daily[(daily["date"] > TRAINED_TO) & (daily["date"] <= day)]
    return days.rename(columns={"date": "ds"}).set_index(["unit", "ds"])["census"]


def test_census_since_training_is_the_true_census_and_the_forecast_starts_the_next_day():
    r = replay()
    day = TRAINED_TO + pd.Timedelta(days=10)
    episodes = seen_by(r.episodes, day)
    assert as_of_day(episodes) == day
    now = nowcast(r.bundle, episodes, day)
    counted = now.census.set_index(["unit", "ds"])["census"]
    truth = _truth(day)
    assert len(counted) == len(truth) == 10 * 3
    assert (counted == truth.reindex(counted.index)).all()
    assert (now.census["expected"] == 0).all()
    # The days up to the as-of day are the census counted then; the forecast's range and units stay.
    assert now.bundle.first_forecast_day == r.bundle.first_forecast_day
    assert now.bundle.last_forecast_day == r.bundle.last_forecast_day
    pd.testing.assert_frame_equal(now.bundle.units, r.bundle.units)
    past = now.bundle.forecasts[now.bundle.forecasts["ds"] <= day].set_index(["unique_id", "ds"])
    assert (past["mean"] == truth.reindex(past.index).to_numpy()).all()
    assert (past["q0.995"] == past["mean"]).all() and (past["mean_acute"] + past["mean_elective"] == past["mean"]).all()
    values = now.bundle.forecasts[columns()].to_numpy()
    assert (values >= 0).all() and (np.diff(values, axis=1) >= 0).all()
    assert set(now.methods) == set(r.bundle.unit_names)
    assert all("re-anchored" in how for how in now.methods.values())


def test_training_stays_the_database_lacks_are_expected_not_lost_and_never_counted_twice():
    r = replay()
    day = TRAINED_TO + pd.Timedelta(days=5)
    everything = seen_by(r.episodes, day)
    # The database holds only what was sent after training: the training file's stays still open then are absent.
    after = everything[everything["admitted_at"] > TRAINED_TO]
    partial = nowcast(r.bundle, after, day)
    assert partial.census["expected"].sum() > 0
    # Expected patients stand in for them: the census since is near the truth, not short by the patients in bed.
    truth = _truth(day)
    counted = partial.census.set_index(["unit", "ds"])["census"].reindex(truth.index)
    assert abs(counted.sum() - truth.sum()) / truth.sum() < 0.05
    # Those discharged since are sent (with their discharge): each replaces its expected self, nothing twice.
    left = everything[(everything["admitted_at"] <= TRAINED_TO) & everything["discharged_at"].notna()]
    left = left[left["discharged_at"] > TRAINED_TO]
    more = nowcast(r.bundle, pd.concat([after, left]), day)
    assert more.census["expected"].sum() < partial.census["expected"].sum()
    full = nowcast(
        r.bundle, everything[everything["discharged_at"].isna() | (everything["discharged_at"] > TRAINED_TO)], day
    )
    assert (full.census["expected"] == 0).all()
    assert (
        full.census.set_index(["unit", "ds"])["census"] == truth.reindex(full.census.set_index(["unit", "ds"]).index)
    ).all()


def test_another_chosen_model_is_corrected_by_the_patients_in_bed():
    r = replay()
    unit = r.bundle.unit_names[0]
    day = TRAINED_TO + pd.Timedelta(days=14)
    episodes = seen_by(r.episodes, day)
    flow = nowcast(r.bundle, episodes, day)
    # The same forecast, said to come from ETS: the nowcast corrects it instead of replacing it.
    chosen = {"census": {**r.bundle.meta.chosen["census"], unit: "ets"}}
    as_ets = replace(r.bundle, meta=replace(r.bundle.meta, chosen=chosen))
    corrected = nowcast(as_ets, episodes, day)
    assert "ets forecast corrected" in corrected.methods[unit]

    def mean_of(now):
        rows = now.bundle.forecasts
        return rows[(rows["unique_id"] == unit) & (rows["target"] == "census")]["mean"].to_numpy()

    # A flow forecast corrected by the flow's own news is the re-anchored flow (up to the level of admissions,
    # which only the re-anchored one follows).
    assert np.abs(mean_of(corrected) - mean_of(flow)).max() / mean_of(flow).mean() < 0.1
    # The correction is the news in today's beds: it differs from the trained forecast near today.
    trained = r.bundle.forecasts
    trained = trained[(trained["unique_id"] == unit) & (trained["ds"] > day)]["mean"].to_numpy()
    assert np.abs(mean_of(corrected)[:3] - trained[:3]).max() > 0


def test_units_without_stays_keep_the_trained_forecast_and_say_so():
    r = replay()
    counts_only = replace(r.bundle, length_of_stay=pd.DataFrame(), admissions_by_type=pd.DataFrame())
    day = TRAINED_TO + pd.Timedelta(days=3)
    now = nowcast(counts_only, seen_by(r.episodes, day), day)
    assert all(how.startswith("kept as trained") for how in now.methods.values())
    kept = r.bundle.forecasts
    pd.testing.assert_frame_equal(
        now.bundle.forecasts.sort_values(["unique_id", "ds"]).reset_index(drop=True),
        kept.sort_values(["unique_id", "ds"]).reset_index(drop=True),
    )


@pytest.mark.parametrize("days, says", [(0, "nothing is newer"), (400, "retrain")])
def test_a_day_outside_the_forecast_is_refused_saying_why(days, says):
    r = replay()
    day = TRAINED_TO + pd.Timedelta(days=days)
    with pytest.raises(ValueError, match=says):
        nowcast(r.bundle, seen_by(r.episodes, day), day)


def test_the_nowcast_is_nearer_the_census_than_the_frozen_forecast():
    """Measured on the replay: each day of eight weeks after training, the next seven days' census."""
    r = replay()
    truth = r.daily.set_index(["unit", "date"])["census"]
    frozen_errors, now_errors = [], []
    trained = r.bundle.forecasts.set_index(["unique_id", "ds"])["mean"]
    for lag in range(1, 57):
        day = TRAINED_TO + pd.Timedelta(days=lag)
        now = nowcast(r.bundle, seen_by(r.episodes, day), day).bundle.forecasts.set_index(["unique_id", "ds"])["mean"]
        week = [(u, day + pd.Timedelta(days=k)) for u in r.bundle.unit_names for k in range(1, 8)]
        actual = truth.reindex(week).to_numpy()
        frozen_errors.append(np.abs(trained.reindex(week).to_numpy() - actual).mean())
        now_errors.append(np.abs(now.reindex(week).to_numpy() - actual).mean())
    assert np.mean(now_errors) < 0.9 * np.mean(frozen_errors)


def test_misses_seen_in_service_widen_the_tail_that_missed():
    days = 14
    trained = pd.DataFrame({"q0.05": np.full(days, 8.0), "q0.95": np.full(days, 12.0)})
    upper, lower = service_adaptation(trained, np.full(days, 15.0), 91)  # over the beds every day
    assert upper > 1.2 and lower < 1.0
    upper, lower = service_adaptation(trained, np.full(days, 10.0), 91)  # inside every day: both narrow a little
    assert 0.9 < upper < 1.0 and 0.9 < lower < 1.0
    assert service_adaptation(trained, np.array([]), 91) == (1.0, 1.0)


def test_the_re_anchored_plan_is_explained_with_its_news_under_the_patients_in_bed():
    from forecast import beds, explain

    r = replay()
    day = TRAINED_TO + pd.Timedelta(days=10)
    now = nowcast(r.bundle, seen_by(r.episodes, day), day)
    policy = r.bundle.meta.policy
    trained = explain.explained_plans(r.bundle, policy)["quarter"]
    moved = explain.explained_plans(now.bundle, policy)["quarter"]
    start, end = explain.plan_window(now.bundle, "quarter")
    census = explain.served_census(now.bundle, "quarter")
    plan = beds.period_plan(beds.daily_bed_plan(census[(census["ds"] >= start) & (census["ds"] <= end)], policy=policy))
    summed = moved.parts.groupby(["unique_id", "period"])["beds"].sum()
    assert (summed == plan.set_index(["unique_id", "period"])["beds_risk"].reindex(summed.index)).all()
    # The days counted since training carry no margin; after them what the newer patients in bed changed is
    # theirs, every driver keeps its share but for a week's busiest day moving (the spread goes by the steps
    # from the as-of day, so the margin moves and with it, by a bed or so, which day of a week is busiest).
    key = ["unique_id", "period", "part"]
    later = moved.parts[moved.parts["period_start"] > day]
    both = trained.parts.set_index(key)["value"].to_frame("trained").join(later.set_index(key)["value"], how="inner")
    change = (both["value"] - both["trained"]).abs().groupby(level="part").max()
    assert change["in_bed"] > 0.5, change.to_dict()
    assert change.drop(["in_bed", "margin"]).max() < 1.5, change.to_dict()
    counted = moved.parts[
        (moved.parts["period_start"] + pd.Timedelta(days=6) <= day) & (moved.parts["part"] == "margin")
    ]
    assert (counted["value"].abs() < 1e-9).all()


def test_the_year_ahead_moves_with_the_re_anchored_quarter_and_keeps_its_mean_beyond_it():
    from forecast.bundle import FORECAST_COLUMNS

    r = replay()
    quarter = r.bundle.forecasts[r.bundle.forecasts["target"] == "census"][FORECAST_COLUMNS]
    # A year ahead that reads like the quarter's forecast, then goes on beyond it.
    beyond = quarter.assign(ds=quarter["ds"] + pd.Timedelta(days=int(quarter["ds"].nunique())))
    year = pd.concat([quarter, beyond], ignore_index=True)
    day = TRAINED_TO + pd.Timedelta(days=10)
    now = nowcast(replace(r.bundle, year_ahead=year), seen_by(r.episodes, day), day)
    key = ["unique_id", "ds"]
    moved = now.bundle.year_ahead.set_index(key)
    served = now.bundle.forecasts[now.bundle.forecasts["target"] == "census"].set_index(key)
    shared = served.index
    # On the days the quarter covers, the year's mean is the re-anchored quarter's: the counted census up to
    # the as-of day, the news in beds after it.
    assert np.allclose(moved.loc[shared, "mean"], served["mean"])
    counted = served[served.index.get_level_values("ds") <= day]
    assert (moved.loc[counted.index, columns()].to_numpy() == counted[columns()].to_numpy()).all()
    assert not np.allclose(moved.loc[shared, "mean"], year.set_index(key).loc[shared, "mean"])
    # Beyond the quarter its mean stays as trained; every day's quantiles stay ordered and never negative.
    later = beyond.set_index(key)
    assert np.allclose(moved.loc[later.index, "mean"], later["mean"])
    values = moved[columns()].to_numpy()
    assert (values >= 0).all() and (np.diff(values, axis=1) >= -1e-9).all()
    assert len(moved) == len(year)
