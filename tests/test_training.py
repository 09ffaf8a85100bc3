"""The training pipeline: MLflow runs, the registry's champion alias, and loading what was registered."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from forecast import registry
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from training.pipeline import champion_score_on, method_of, train, window_of
from training.settings import TrainSettings
from training.sources import fingerprint, load_source


@pytest.fixture(scope="module")
def small_hospital(tmp_path_factory):
    """Two units, two years: enough for a short backtest in seconds."""
    folder = tmp_path_factory.mktemp("hospital")
    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[:2])
    hospital.episodes.to_csv(folder / "episodes.csv", index=False, date_format="%Y-%m-%d")
    hospital.units.to_csv(folder / "units.csv", index=False)
    return folder


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def settings_for(folder, store, **changes) -> TrainSettings:
    base = TrainSettings(
        data=folder / "episodes.csv",
        units=folder / "units.csv",
        candidates=("seasonal_naive", "ets"),
        horizon=28,
        folds=2,
        step=28,
        root=store,
    )
    return TrainSettings(**{**base.__dict__, **changes})


def test_decide_promotion_rules():
    assert registry.decide_promotion(0.9, None, None).alias == "champion"
    assert registry.decide_promotion(0.8, "1", 0.9).alias == "champion"
    worse = registry.decide_promotion(0.9, "1", 0.9)
    assert worse.alias == "challenger" and "does not beat" in worse.reason
    assert registry.decide_promotion(0.95, "1", 0.9, refit=True).alias == "champion"
    forced = registry.decide_promotion(2.0, "1", 0.9, force=True)
    assert forced.alias == "champion" and "--promote" in forced.reason


def test_champion_score_on_the_same_window_or_a_refit(small_hospital, store):
    settings = settings_for(small_hospital, store)
    source = load_source(settings)
    window, method = window_of(fingerprint(source), settings), method_of(settings)
    same = {"version": "3", "score": "0.7", "window": window, "method": method}
    assert champion_score_on(same, source, settings, window, print) == (0.7, False)
    newer = {**same, "window": "another-data|h28"}
    assert champion_score_on(newer, source, settings, window, print) == (0.7, True)
    assert champion_score_on(None, source, settings, window, print) == (None, False)


@pytest.mark.slow
def test_training_registers_a_champion_a_worse_run_does_not_take_it(small_hospital, store):
    first = train(settings_for(small_hospital, store), say=lambda line: None)
    assert first.promotion.alias == "champion"
    assert (store / "mlflow.db").exists() and (store / "mlruns").is_dir()
    client = MlflowClient()
    run = client.get_run(first.run_id)
    assert run.data.params["horizon"] == "28" and len(run.data.params["data_fingerprint"]) == 16
    assert "census.mase" in run.data.metrics and "census.unit.surgery.model.ets.mase" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert {"plots/beds.png", "plots/fan_surgery.png", "plots/drivers_surgery.png"} <= artifacts
    assert "tables/explain_2025Q1.csv" in {a.path for a in client.list_artifacts(first.run_id, "tables")}

    # Loading the champion by alias answers exactly the forecast the run logged.
    served = registry.load_model("bed-demand", "champion")
    assert served.version == first.version
    curves = served.bundle.length_of_stay
    assert set(curves["unit"]) == {"internal_medicine", "surgery"}
    assert set(curves["source"]) <= {"unit", "hospital", "all"}  # each rests on at least 20 stays (test_los.py)
    for _, curve in curves.groupby(["unit", "admission_type"]):
        assert curve["survival"].iloc[0] <= 1 and curve["survival"].is_monotonic_decreasing
    model = mlflow.pyfunc.load_model("models:/bed-demand@champion")
    answered = model.predict(registry.input_example(served.bundle))
    logged = pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=first.run_id, artifact_path="tables/forecast.parquet")
    )
    pd.testing.assert_frame_equal(answered, logged, check_exact=True)

    # Seasonal naive alone is never better than the choice that may pick it: it becomes challenger.
    second = train(settings_for(small_hospital, store, candidates=("seasonal_naive",)), say=lambda line: None)
    assert second.promotion.alias == "challenger"
    assert str(client.get_model_version_by_alias("bed-demand", "champion").version) == first.version
    assert client.get_run(second.run_id).data.tags["promotion_reason"] == second.promotion.reason

    forced = train(settings_for(small_hospital, store, candidates=("seasonal_naive",), promote=True), say=print)
    assert str(client.get_model_version_by_alias("bed-demand", "champion").version) == forced.version


@pytest.mark.slow
def test_with_two_years_of_history_training_plans_and_explains_the_year_ahead(tmp_path, store):
    from forecast import beds, explain
    from forecast.periods import year_window

    hospital = generate_demo_hospital(start="2022-01-01", end="2024-12-31", units=DEFAULT_UNITS[1:2])
    hospital.episodes.to_csv(tmp_path / "episodes.csv", index=False, date_format="%Y-%m-%d")
    lines: list[str] = []
    settings = settings_for(tmp_path, store, units=None, candidates=("seasonal_naive", "flow"))
    result = train(settings, say=lines.append)
    bundle = registry.load_model("bed-demand", "champion").bundle
    start, end = year_window(pd.Timestamp("2024-12-31"))
    assert (start, end) == (pd.Timestamp("2025-01-06"), pd.Timestamp("2026-01-04"))
    year = bundle.year_ahead
    assert pd.to_datetime(year["ds"]).max() == end and (year["target"] == "census").all()
    assert set(bundle.year_units["promise"]) <= {"kept", "broken", "unmeasured"}
    assert bundle.meta.year_ahead["horizon"] == 364 and bundle.meta.year_ahead["chosen"]["surgery"]
    assert any(line.startswith("year ahead: backtest at a horizon of 364 days") for line in lines)
    # Both plans explained from the stored counterfactuals, adding up to their plans' beds.
    found = explain.explained_plans(bundle, bundle.meta.policy)
    assert set(found) == {"quarter", "year"}
    weeks = found["year"].parts.groupby("period")["beds"].sum()
    census = explain.served_census(bundle, "year")
    plan = beds.period_plan(beds.daily_bed_plan(census[(census["ds"] >= start) & (census["ds"] <= end)]))
    assert len(weeks) == 52 and (weeks.to_numpy() == plan["beds_risk"].to_numpy()).all()
    client = MlflowClient()
    assert "tables/explain_year.csv" in {a.path for a in client.list_artifacts(result.run_id, "tables")}


def test_an_unreachable_tracking_server_fails_quickly_and_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    started = time.perf_counter()
    with pytest.raises(registry.TrackingUnavailable, match=r"127\.0\.0\.1:9"):
        registry.configure_tracking(tmp_path)
    assert time.perf_counter() - started < 20


def test_episodes_posted_to_the_api_join_the_training_data(small_hospital, tmp_path):
    from forecast.data import validate_episodes
    from forecast.store import EpisodeStore

    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    store = EpisodeStore(url)
    store.create()
    raw = pd.DataFrame(
        {
            "episode_id": ["new-1", "new-2"],
            "unit": ["surgery", "surgery"],
            "admitted_at": ["2024-12-30", "2024-12-31"],
            "discharged_at": ["", ""],
            "admission_type": ["acute", "acute"],
        }
    )
    episodes, problems, _ = validate_episodes(raw)
    assert not problems
    store.add(episodes.drop(columns="row"))
    store.dispose()
    file_only = load_source(TrainSettings(data=small_hospital / "episodes.csv"))
    both = load_source(TrainSettings(data=small_hospital / "episodes.csv", episodes_db=url))
    last = {s: src.ingested.daily.set_index(["unit", "date"]) for s, src in (("file", file_only), ("both", both))}
    key = ("surgery", pd.Timestamp("2024-12-31"))
    assert last["both"].loc[key, "census"] == last["file"].loc[key, "census"] + 2
    assert "episodes.db" in both.name


def test_a_bad_units_file_names_the_row_and_field(tmp_path):
    from forecast.data import current_beds as current_beds_of

    units = pd.DataFrame({"unit": ["a", "b", "c"], "beds": ["12", "", "twelve"]})
    with pytest.raises(ValueError, match=r"field beds .* row 3 \(c\)"):
        current_beds_of(units, tmp_path / "units.csv")
    assert current_beds_of(units.iloc[:2], tmp_path / "units.csv").to_dict() == {"a": 12}
