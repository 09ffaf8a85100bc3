"""The training pipeline: data → features → backtest → fit per unit → MLflow run → registered model.

    python -m training.train [--data FILE] [--units FILE] [--guest-nights FILE] [--country CC] [--promote] [--quiet]

Without `--data` it trains on the built-in demo hospital. Every run logs its parameters, its metrics overall and
per unit and model, the backtest, forecast and bed-plan tables and the planner's charts, then registers a new
version of the model; the alias `champion` moves to it only when it wins (see `forecast.registry`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any

import mlflow
import numpy as np
import pandas as pd
import typer
from mlflow.tracking import MlflowClient
from sqlalchemy.engine import make_url

from forecast import beds, data, distributed, engine, hierarchy, models, plots, registry
from forecast.backtest import Backtest, expected_admissions
from forecast.bundle import FORECAST_COLUMNS, TARGETS, ForecastBundle
from forecast.census import in_bed_at, survival_at
from forecast.staffing import StaffingRatios, ratios_per_unit, shift_staffing, weekly_fte

__all__ = ["TrainSettings", "TrainResult", "Source", "load_source", "train", "main"]

Say = Callable[[str], None]
PROJECT = Path(__file__).resolve().parents[1]
HISTORY_DAYS = 365  # recent history kept in the bundle for charts and context


@dataclass(frozen=True)
class TrainSettings:
    """What a training run does; every field has a default a user can override."""

    data: Path | None = None  # episodes or daily counts; None: the demo hospital
    episodes_db: str | None = None  # SQLAlchemy URL of episodes posted to the API, added to `data`
    units: Path | None = None  # current beds per unit (unit, beds)
    guest_nights: Path | None = None
    country: str = "SE"
    horizon: int = 91  # backtest horizon (days)
    folds: int = 4
    step: int = 91
    candidates: tuple[str, ...] = models.CANDIDATES
    targets: tuple[str, ...] = TARGETS
    regressors: tuple[str, ...] = ()  # daily-count columns with known future values
    model_name: str = registry.DEFAULT_MODEL_NAME
    promote: bool = False
    policy: beds.BedPolicy = field(default_factory=beds.BedPolicy)
    staffing: StaffingRatios = field(default_factory=StaffingRatios)
    root: Path | None = None  # folder of the embedded MLflow store; default the working folder
    engine: str = "local"  # local, dask, ray or spark (forecast.distributed)
    address: str | None = None  # the cluster's address; Dask without one starts a local cluster


@dataclass
class Source:
    """A data source read and validated: the daily frame, the episodes (if any), beds and tourism."""

    name: str
    ingested: data.Ingested
    current_beds: pd.Series | None
    guest_nights: pd.DataFrame | None
    units_table: pd.DataFrame | None = None  # the units file as read (beds, maybe hospital and region)


@dataclass
class TrainResult:
    run_id: str
    version: str
    promotion: registry.Promotion
    score: float
    bundle: ForecastBundle
    seconds: float
    mlflow_seconds: float
    tracking_uri: str


def stored_episodes(url: str) -> pd.DataFrame:
    """Episodes from the API's store, as text like a file read by `data.read_table`."""
    from forecast.store import EpisodeStore

    store = EpisodeStore(url)
    try:
        frame = store.read()
    finally:
        store.dispose()
    for column in ("admitted_at", "discharged_at"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d").fillna("")
    return frame.fillna("").astype(str)


def read_episodes(settings: TrainSettings) -> data.Ingested:
    """The data file, with the stored episodes added (a stored version of a stay replaces the file's)."""
    if settings.episodes_db is None:
        assert settings.data is not None
        return data.ingest_file(settings.data)
    stored = stored_episodes(settings.episodes_db)
    raw = stored if settings.data is None else pd.concat([data.read_table(settings.data), stored], ignore_index=True)
    if raw.empty:
        raise ValueError(f"no episodes in {settings.episodes_db} and no --data file")
    return data.ingest(raw.drop_duplicates("episode_id", keep="last").reset_index(drop=True))


def load_source(settings: TrainSettings) -> Source:
    """The demo hospital, or a file (and/or the episodes store) with its optional units and guest-nights files."""
    if settings.data is None and settings.episodes_db is None:
        from forecast.demo import generate_demo_hospital

        hospital = generate_demo_hospital()
        return Source(
            "demo hospital (Visby, Gotland)",
            data.ingest(hospital.episodes),
            hospital.units.set_index("unit")["beds"],
            hospital.guest_nights,
            hospital.units,
        )
    current, units = None, None
    if settings.units is not None:
        units = data.read_units(settings.units)
        current = data.current_beds(units, settings.units)
    guests = None
    if settings.guest_nights is not None:
        guests = data.read_table(settings.guest_nights)
        if not {"date", "guest_nights"} <= set(guests.columns):
            raise ValueError(f"{settings.guest_nights}: a guest-nights file needs the columns date, guest_nights")
        guests["date"] = pd.to_datetime(guests["date"])
        guests["guest_nights"] = pd.to_numeric(guests["guest_nights"], errors="coerce")
    # A database URL may carry a password: the run's parameters must not.
    stored = settings.episodes_db and make_url(settings.episodes_db).render_as_string(hide_password=True)
    name = " + ".join(str(x) for x in (settings.data, stored) if x)
    return Source(name, read_episodes(settings), current, guests, units)


def fingerprint(source: Source) -> str:
    """A hash of what the models learn from (the daily frame and tourism), independent of row order."""
    digest = hashlib.sha256()
    daily = source.ingested.daily.sort_values(["unit", "date"])
    digest.update(pd.util.hash_pandas_object(daily, index=False).to_numpy().tobytes())
    if source.guest_nights is not None:
        digest.update(pd.util.hash_pandas_object(source.guest_nights, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def forecast_days(last_day: pd.Timestamp, horizon: int) -> int:
    """Days to forecast: through the end of the next whole quarter, and at least the backtest horizon."""
    _, end = beds.quarter_bounds("next", last_day)
    return max(horizon, (end - last_day).days)


@dataclass
class TargetRun:
    """One target's backtest, its metrics (the metrics.json contract) and its forecast beyond the data."""

    config: engine.EngineConfig
    result: Backtest
    metrics: dict[str, Any]
    forecast: pd.DataFrame
    regressors: list[str]


def run_target(
    source: Source, settings: TrainSettings, target: str, say: Say, ahead: bool = True, client: Any = None
) -> TargetRun | None:
    """Backtest the candidates for one target and (with `ahead`) forecast it beyond the data.

    Returns None when the data lacks the target.
    """
    daily = source.ingested.daily
    wanted = {"census": ("census",), "admissions": ("admissions", "arrivals")}[target]
    if not any(c in daily.columns for c in wanted):
        say(f"{target}: not in the data, skipped")
        return None
    config = engine.EngineConfig(
        target=target,  # type: ignore[arg-type]
        horizon=settings.horizon,
        folds=settings.folds,
        step=settings.step,
        country=settings.country,
        regressors=settings.regressors,
        candidates=settings.candidates,
    )
    episodes = source.ingested.episodes
    prepared = engine.prepare(daily, config, episodes, source.guest_nights)
    say(f"{target}: backtest of {', '.join(config.candidates)} on {prepared.series['unique_id'].nunique()} unit(s)")
    on = {"engine": settings.engine, "address": settings.address, "client": client}
    result = distributed.run_backtest_on(prepared, config, **on, progress=lambda line: say(f"{target}: {line}"))
    metrics = engine.backtest_metrics(result, config)
    for unit, scores in metrics["units"].items():
        mase, naive = scores["mase"], scores["baseline_mase"]
        say(f"{target}: {unit}: chose {scores['model']} (MASE {mase:.3f}, seasonal naive {naive:.3f})")
    regressors = [c for c in prepared.series.columns if c not in ("unique_id", "ds", "y")]
    forecast = pd.DataFrame(columns=FORECAST_COLUMNS)
    if ahead:
        further = replace(config, horizon=forecast_days(daily["date"].max(), config.horizon))
        say(f"{target}: fitting the chosen models on all history, forecasting {further.horizon} days")
        further_prepared = engine.prepare(daily, further, episodes, source.guest_nights)
        forecast = distributed.forecast_on(further_prepared, result, further, **on)
        forecast.insert(1, "target", target)
    return TargetRun(config, result, metrics, forecast.reindex(columns=FORECAST_COLUMNS), regressors)


def run_targets(source: Source, settings: TrainSettings, say: Say, ahead: bool = True) -> dict[str, TargetRun]:
    runs = {}
    # One Dask cluster (local or at the address) for every target's backtest and forecast.
    cluster = distributed.dask_client(settings.address) if settings.engine == "dask" else contextlib.nullcontext()
    with cluster as client:
        for target in settings.targets:
            run = run_target(source, settings, target, say, ahead, client)
            if run is not None:
                runs[target] = run
    if "census" not in runs:
        raise ValueError("the data has no census (neither episodes nor a census column): nothing to plan beds from")
    return runs


def window_of(data_print: str, settings: TrainSettings) -> str:
    """What a score was measured on: the data (its fingerprint) and the backtest protocol. Scores compare only
    within one."""
    protocol = f"h{settings.horizon}|k{settings.folds}|s{settings.step}|{'+'.join(settings.targets)}"
    return f"{data_print}|{protocol}"


def method_of(settings: TrainSettings) -> str:
    """What makes the forecasts, apart from the data: candidates, holidays, regressors (JSON)."""
    method = {
        "candidates": list(settings.candidates),
        "country": settings.country,
        "regressors": list(settings.regressors),
    }
    return json.dumps(method, sort_keys=True)


def champion_score_on(
    champion: dict[str, str] | None, source: Source, settings: TrainSettings, window: str, say: Say
) -> tuple[float | None, bool]:
    """The champion's score on this run's data window, and whether this run is a refit of its method.

    Same window: the champion's own score. Another window (newer data or another protocol): the champion's
    method is backtested here on this window — unless it is this run's method, which is then a refit.
    """
    if champion is None:
        return None, False
    if champion.get("window") == window:
        return float(champion.get("score", "inf")), False
    if champion.get("method") == method_of(settings):
        return None if "score" not in champion else float(champion["score"]), True
    try:
        method = json.loads(champion.get("method", ""))
        theirs = replace(
            settings,
            candidates=tuple(method["candidates"]),
            country=str(method["country"]),
            regressors=tuple(method["regressors"]),
        )
    except (ValueError, KeyError, TypeError):
        say("the champion records no method to re-score; comparing with its own score")
        return float(champion.get("score", "inf")), False
    say(f"re-scoring the champion (version {champion.get('version')}) on this data window")
    return score_of(run_targets(source, theirs, say, ahead=False)), False


def build_bundle(source: Source, runs: dict[str, TargetRun], meta: dict) -> ForecastBundle:
    """What serving needs: the forecasts, units (beds, range, hierarchy), recent history, pools, stays."""
    daily = source.ingested.daily
    forecasts = pd.concat([r.forecast for r in runs.values()], ignore_index=True)
    span = daily.groupby("unit")["date"].agg(first_date="min", last_date="max").reset_index()
    beds_known = source.current_beds if source.current_beds is not None else pd.Series(dtype=float)
    span["beds"] = pd.array(span["unit"].map(beds_known), dtype="Int64")
    recent = daily[daily["date"] > daily["date"].max() - pd.Timedelta(days=HISTORY_DAYS)]
    history = recent[["unit", "date", *[c for c in ("census", "admissions") if c in recent.columns]]]
    history = history.rename(columns={"unit": "unique_id", "date": "ds"}).reset_index(drop=True)
    tree = hierarchy_of(source)
    if tree is not None:
        span = span.merge(tree, on="unit", how="left")
    units = span[["unit", "beds", "first_date", "last_date", *(["hospital", "region"] if tree is not None else [])]]
    by_type, in_bed = flow_structure(source, runs["census"])
    return ForecastBundle(
        forecasts,
        units,
        history,
        meta,
        length_of_stay_curves(source),
        pools_of(runs, tree),
        admissions_by_type=by_type,
        in_bed=in_bed,
    )


def unit_ratios(source: Source, settings: TrainSettings) -> dict[str, StaffingRatios]:
    """Staffing ratios per unit: the settings', overridden by the units file's ratio columns (e.g. `rn_night`)."""
    if source.units_table is None:
        return {}
    return ratios_per_unit(source.units_table, settings.staffing)


def hierarchy_of(source: Source) -> pd.DataFrame | None:
    """`unit, hospital, region` from the units file or the episodes, when every unit has both."""
    daily = source.ingested.daily
    return hierarchy.hierarchy_from([source.units_table, daily], sorted(daily["unit"].unique()))


def pools_of(runs: dict[str, TargetRun], tree: pd.DataFrame | None) -> pd.DataFrame:
    """Each hospital's and region's summed census distribution (from the backtest errors of the sum)."""
    if tree is None:
        return pd.DataFrame()
    census = runs["census"]
    forecast = census.forecast[["unique_id", "ds", "mean"]]
    levels = [
        hierarchy.pooled_totals(census.result, forecast, tree, level).assign(level=level)
        for level in ("hospital", "region")
    ]
    pools = pd.concat(levels, ignore_index=True)
    return pools[["level", *[c for c in pools.columns if c != "level"]]]


def length_of_stay_curves(source: Source, days: int = 60) -> pd.DataFrame:
    """Per unit and admission type, P(stay > day) at the end of the data for the first `days` days."""
    episodes = source.ingested.episodes
    if episodes is None:
        return pd.DataFrame(columns=["unit", "admission_type", "day", "survival"])
    end = source.ingested.daily["date"].max()
    pieces = []
    for (unit, kind), stays in episodes.groupby(["unit", "admission_type"], sort=True):
        curve = survival_at(stays, end)[: days + 1]
        pieces.append(pd.DataFrame({"unit": unit, "admission_type": kind, "day": range(len(curve)), "survival": curve}))
    return pd.concat(pieces, ignore_index=True)


def flow_structure(source: Source, census: TargetRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What-if scenarios' inputs for every unit, whatever model its census chose: the flow model's expected
    admissions per forecast day by type (`unit, admission_type, ds, expected`) and the patients in bed at the
    end of the data by days since admission (`unit, admission_type, days_since_admission, patients`).

    Both are aggregates; both are empty without episodes (daily counts have no stays to follow).
    """
    by_type = pd.DataFrame(columns=["unit", "admission_type", "ds", "expected"])
    in_bed = pd.DataFrame(columns=["unit", "admission_type", "days_since_admission", "patients"])
    episodes, daily = source.ingested.episodes, source.ingested.daily
    if episodes is None or not {"admissions_acute", "admissions_elective"} <= set(daily.columns):
        return by_type, in_bed
    config = replace(
        census.config, horizon=forecast_days(daily["date"].max(), census.config.horizon), candidates=("flow",)
    )
    prepared = engine.prepare(daily, config, episodes, source.guest_nights)
    assert prepared.flow is not None
    arrivals, patients = [], []
    for unit, past in prepared.series.groupby("unique_id", sort=True):
        ahead = prepared.future[prepared.future["unique_id"] == unit].sort_values("ds").reset_index(drop=True)
        origin = past["ds"].max()
        for kind, expected in expected_admissions(past, ahead, prepared.flow, str(unit)).items():
            arrivals.append(
                pd.DataFrame({"unit": unit, "admission_type": kind, "ds": ahead["ds"], "expected": expected})
            )
            stays = episodes[(episodes["unit"] == unit) & (episodes["admission_type"] == kind)]
            there = in_bed_at(stays, origin)
            patients.append(
                pd.DataFrame(
                    {
                        "unit": unit,
                        "admission_type": kind,
                        "days_since_admission": there.days_since_admission,
                        "patients": there.patients,
                    }
                )
            )
    return pd.concat(arrivals, ignore_index=True), pd.concat(patients, ignore_index=True)


def next_quarter_plan(bundle: ForecastBundle, policy: beds.BedPolicy) -> tuple[pd.DataFrame, str]:
    """The weekly bed plan of the first whole quarter after the data, and the quarter's name."""
    start, end = beds.quarter_bounds("next", pd.Timestamp(bundle.units["last_date"].max()))
    census = bundle.select(target="census", start=start, days=(end - start).days + 1)
    daily = beds.daily_bed_plan(census, bundle.current_beds(), policy)
    quarter = f"{start.year}Q{start.quarter}"
    return beds.period_plan(daily, "week"), quarter


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_params(settings: TrainSettings, source: Source, data_print: str, regressors: list[str]) -> dict[str, Any]:
    daily = source.ingested.daily
    units = sorted(daily["unit"].unique())
    params: dict[str, Any] = {
        "data": source.name,
        "data_fingerprint": data_print,
        "data_first_date": f"{daily['date'].min():%Y-%m-%d}",
        "data_last_date": f"{daily['date'].max():%Y-%m-%d}",
        "units": ",".join(units)[:5000],
        "unit_count": len(units),
        "horizon": settings.horizon,
        "folds": settings.folds,
        "step": settings.step,
        "candidates": ",".join(settings.candidates),
        "targets": ",".join(settings.targets),
        "season_lengths": "7,365",
        "country": settings.country,
        "regressors": ",".join(regressors)[:5000],
        "model_name": settings.model_name,
        "git_commit": git_commit(),
        **{f"policy_{k}": v for k, v in asdict(settings.policy).items()},
        **{f"staffing_{k}": v for k, v in asdict(settings.staffing).items()},
    }
    for lib in ("statsforecast", "scikit-learn", "pandas", "numpy", "mlflow"):
        params[f"version_{lib}"] = package_version(lib)
    return params


def _metric_key(*parts: str) -> str:
    # MLflow keys allow letters, digits and _-./ and space; unit names may hold anything.
    return ".".join("".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in p) for p in parts)


def run_metrics(runs: dict[str, TargetRun]) -> dict[str, float]:
    """Overall, per unit and per unit and model (MASE, MAE, coverage, decision scores)."""
    out: dict[str, float] = {}
    for target, run in runs.items():
        summary = run.metrics["summary"]
        for key in ("mase", "baseline_mase", "mae", "coverage_80", "coverage_95"):
            out[_metric_key(target, key)] = summary[key]
        for model, mase in summary["models"].items():
            out[_metric_key(target, "model", model, "mase")] = mase
        for unit, scores in run.metrics["units"].items():
            for key in ("mase", "mae", "bias", "coverage_80", "coverage_95", "width_80", "width_95", "baseline_mase"):
                out[_metric_key(target, "unit", unit, key)] = scores[key]
            for model, mase in scores["models"].items():
                out[_metric_key(target, "unit", unit, "model", model, "mase")] = mase
            for policy, decision in scores["decisions"].items():
                for key, value in decision.items():
                    out[_metric_key(target, "unit", unit, policy, key)] = value
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def score_of(runs: dict[str, TargetRun]) -> float:
    """The run's score for the champion contest: mean honest MASE over its targets (lower is better)."""
    return float(np.mean([r.metrics["summary"]["mase"] for r in runs.values()]))


def log_artifacts(runs: dict[str, TargetRun], bundle: ForecastBundle, settings: TrainSettings, say: Say) -> None:
    """Tables and charts of the run."""
    plan, quarter = next_quarter_plan(bundle, settings.policy)
    first = bundle.first_forecast_day
    own = {u: StaffingRatios(**r) for u, r in bundle.meta.get("staffing_per_unit", {}).items()}
    ratios = {unit: own.get(unit, settings.staffing) for unit in bundle.unit_names}
    staffing = shift_staffing(bundle.select(target="census", start=first, days=28), ratios)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = {
            "backtest.csv": pd.concat([r.result.scores.assign(target=t) for t, r in runs.items()], ignore_index=True),
            "forecast.csv": bundle.forecasts,
            f"bed_plan_{quarter}.csv": plan,
            "staffing_next_28_days.csv": staffing,
            "staffing_fte_next_28_days.csv": weekly_fte(staffing, ratios),
        }
        for name, table in tables.items():
            table.to_csv(folder / name, index=False, date_format="%Y-%m-%d")
        # CSV for spreadsheets; Parquet keeps every digit, to check a loaded model against.
        bundle.forecasts.to_parquet(folder / "forecast.parquet", index=False)
        for target, run in runs.items():
            (folder / f"metrics_{target}.json").write_text(json.dumps(run.metrics, indent=2))
        mlflow.log_artifacts(str(folder), artifact_path="tables")
    current = bundle.current_beds()
    for unit in bundle.unit_names:
        history = bundle.history[bundle.history["unique_id"] == unit].set_index("ds")["census"]
        rows = bundle.select([unit], "census")
        figure = plots.fan_chart(history, rows, unit, float(current[unit]) if unit in current else None)
        mlflow.log_figure(figure, f"plots/fan_{_metric_key(unit)}.png")
        say(f"logged the fan chart of {unit}")
    mlflow.log_figure(plots.beds_chart(plan, f"beds needed in {quarter} against today's"), "plots/beds.png")


def train(settings: TrainSettings = TrainSettings(), say: Say = print) -> TrainResult:
    """Train, log and register; move `champion` only when the new version wins (or `promote` forces it)."""
    started = time.perf_counter()
    uri = registry.configure_tracking(settings.root)
    say(f"tracking: {uri}")
    source = load_source(settings)
    say(f"data: {source.name}: {source.ingested.daily['unit'].nunique()} unit(s)")
    runs = run_targets(source, settings, say)
    data_print = fingerprint(source)
    window = window_of(data_print, settings)
    score = score_of(runs)
    meta = {
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "data": source.name,
        "data_fingerprint": data_print,
        "window": window,
        "method": method_of(settings),
        "data_first_date": f"{source.ingested.daily['date'].min():%Y-%m-%d}",
        "data_last_date": f"{source.ingested.daily['date'].max():%Y-%m-%d}",
        "score": score,
        "settings": {
            "horizon": settings.horizon,
            "folds": settings.folds,
            "step": settings.step,
            "country": settings.country,
            "candidates": list(settings.candidates),
            "regressors": list(settings.regressors),
        },
        "policy": asdict(settings.policy),
        "staffing": asdict(settings.staffing),
        "staffing_per_unit": {
            unit: asdict(ratios)
            for unit, ratios in unit_ratios(source, settings).items()
            if ratios != settings.staffing
        },
        "backtest": {t: r.metrics["summary"] for t, r in runs.items()},
        "chosen": {t: {u: s["model"] for u, s in r.metrics["units"].items()} for t, r in runs.items()},
    }
    bundle = build_bundle(source, runs, meta)
    client = MlflowClient()
    champion = registry.champion_tags(client, settings.model_name)
    champion_score, refit = (
        (None, False) if settings.promote else champion_score_on(champion, source, settings, window, say)
    )
    promotion = registry.decide_promotion(
        score, champion["version"] if champion else None, champion_score, refit, force=settings.promote
    )
    say("logging the run to MLflow")
    logging_started = time.perf_counter()
    with mlflow.start_run(run_name=f"{settings.model_name} {meta['data_last_date']}") as active:
        mlflow.log_params(run_params(settings, source, data_print, runs["census"].regressors))
        mlflow.log_metrics({"score": score, **run_metrics(runs)})
        log_artifacts(runs, bundle, settings, say)
        info = registry.log_bundle(bundle, settings.model_name)
        version = str(info.registered_model_version)
        for key, value in {
            "score": repr(score),  # every digit: a refit ties exactly, not by rounding
            "window": window,
            "method": meta["method"],
            "data_fingerprint": data_print,
        }.items():
            client.set_model_version_tag(settings.model_name, version, key, value)
        registry.set_alias(client, settings.model_name, version, promotion)
        mlflow.set_tags({"alias": promotion.alias, "promotion_reason": promotion.reason, "model_version": version})
        run_id = active.info.run_id
    mlflow_seconds = time.perf_counter() - logging_started
    say(f"registered {settings.model_name} version {version} as {promotion.alias}: {promotion.reason}")
    return TrainResult(run_id, version, promotion, score, bundle, time.perf_counter() - started, mlflow_seconds, uri)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@cli.command()
def main(
    data_file: Annotated[
        Path | None, typer.Option("--data", help="Episodes or daily counts (default: the demo hospital).")
    ] = None,
    episodes_db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the episodes posted to the API (e.g. sqlite:///episodes.db).")
    ] = None,
    units: Annotated[Path | None, typer.Option(help="Current beds per unit (unit, beds).")] = None,
    guest_nights: Annotated[Path | None, typer.Option(help="Tourist guest nights (date, guest_nights).")] = None,
    country: Annotated[str, typer.Option(help="Country code for public holidays.")] = "SE",
    horizon: Annotated[int, typer.Option(min=7, max=366, help="Backtest horizon in days.")] = 91,
    folds: Annotated[int, typer.Option(min=1, max=52, help="Scored backtest windows.")] = 4,
    step: Annotated[int, typer.Option(min=1, help="Days between backtest cutoffs.")] = 91,
    models_: Annotated[str | None, typer.Option("--models", help="Comma-separated candidates (default: all).")] = None,
    regressors: Annotated[str | None, typer.Option(help="Daily counts: columns with known future values.")] = None,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = registry.DEFAULT_MODEL_NAME,
    promote: Annotated[bool, typer.Option(help="Make the new version champion whatever its score.")] = False,
    engine_name: Annotated[
        str, typer.Option("--engine", help="Where to compute: local, dask, ray or spark (chunks of units).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Cluster address (e.g. tcp://host:8786); Dask without one: a local cluster.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Train on a data source, log the run to MLflow and register the model."""
    try:
        settings = TrainSettings(
            data=data_file,
            episodes_db=episodes_db,
            units=units,
            guest_nights=guest_nights,
            country=country,
            horizon=horizon,
            folds=folds,
            step=step,
            candidates=engine.candidates_for(models_.split(",")) if models_ else models.CANDIDATES,
            regressors=tuple(r.strip() for r in regressors.split(",") if r.strip()) if regressors else (),
            model_name=model_name,
            promote=promote,
            engine=engine_name,
            address=address,
        )
        if engine_name not in distributed.ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(distributed.ENGINES)}, got {engine_name!r}")
        say: Say = (lambda line: None) if quiet else (lambda line: typer.echo(line, err=True))
        result = train(settings, say)
    except registry.TrackingUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except (data.InputError, FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"run {result.run_id}: {settings.model_name} version {result.version} is {result.promotion.alias} "
        f"(score {result.score:.3f}; {result.promotion.reason})"
    )
    typer.echo(
        f"trained in {result.seconds:.0f} s, of which MLflow {result.mlflow_seconds:.1f} s "
        f"({result.mlflow_seconds / result.seconds:.0%}); tracking {result.tracking_uri}"
    )


if __name__ == "__main__":
    cli(prog_name="bedcast train")
