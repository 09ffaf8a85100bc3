"""The `bedcast` command: the terminal edge of the service (files in, tables and files out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from forecast import data

app = typer.Typer(
    help="Bed demand forecasting: census forecasts, bed plans and staffing per hospital unit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DEMO_DIR = Path("demo")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV or Parquet (by suffix) all at once: a failed write leaves any earlier file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False, date_format="%Y-%m-%d")
    os.replace(partial, path)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def print_table(frame: pd.DataFrame) -> None:
    typer.echo(frame.to_string(index=False, na_rep="-"))


# Options of the feeds from hospital systems (HL7 ADT, FHIR): see forecast.feeds.
AdtInto = Annotated[
    str | None,
    typer.Option(
        "--into",
        envvar="BEDCAST_EPISODES_URL",
        help="SQLAlchemy URL of the episodes database (default: the service's, BEDCAST_EPISODES_URL).",
    ),
]
Locations = Annotated[
    Path | None,
    typer.Option(
        envvar="BEDCAST_LOCATIONS",
        help="CSV of location, unit: points of care (PV1-3.1) or FHIR Locations to units; without it a location's "
        "name is its unit, with it an unknown location is refused.",
    ),
]
SecretFile = Annotated[
    Path | None,
    typer.Option(
        envvar="BEDCAST_SECRET_FILE",
        help="The installation's secret for episode keys (made on first use; default beside the database).",
    ),
]
InpatientClasses = Annotated[
    str,
    typer.Option(envvar="BEDCAST_INPATIENT_CLASSES", help="PV1-2 patient classes that lie in beds, comma-separated."),
]
Timezone = Annotated[str, typer.Option(help="Local time zone HL7 times with an offset are converted to.")]


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(help="Episodes or daily counts, CSV or Parquet; or FHIR Encounters, .ndjson or .json.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to write the daily frame (.csv or .parquet).")
    ] = None,
    into: Annotated[
        str | None,
        typer.Option(help="Also store the episodes in this database (SQLAlchemy URL), as POST /v1/episodes does."),
    ] = None,
    lenient: Annotated[bool, typer.Option(help="Set bad rows aside in a rejects file instead of failing.")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Rejects file for --lenient (default: next to --out).")] = None,
    timezone: Annotated[str, typer.Option(help="Local time zone for timestamps with an offset.")] = (
        data.DEFAULT_TIMEZONE
    ),
    locations: Locations = None,
    secret_file: SecretFile = None,
) -> None:
    """Validate admission data and write the daily frame per unit (admissions, transfers, discharges, census),
    and/or store the episodes in the service's database (`--into`): a serving process re-anchors its forecast on
    them. Episodes (ward stays) or daily counts as CSV or Parquet; FHIR R4 Encounters as `.ndjson` (Bulk Data)
    or `.json` (a Bundle)."""
    if out is None and into is None:
        raise fail("say where the data goes: --out FILE for the daily frame, --into URL for the episodes database")
    result = load(file, locations, secret_file, lenient=lenient, timezone=timezone)
    if into is not None:
        store_episodes(result, into, file)
    if out is not None:
        write_table(result.daily, out)
    if len(result.rejects):
        rejects = rejects or (out or file).with_name(f"{(out or file).stem}.rejects.csv")
        write_table(result.rejects, rejects)
        typer.echo(f"wrote {len(result.rejects)} rejected row(s) to {rejects}")
    for line in result.report():
        typer.echo(line)
    if out is not None:
        typer.echo(f"wrote {len(result.daily)} unit-days to {out}")


def store_episodes(result: data.Ingested, url: str, file: Path) -> None:
    """Add the validated episodes to the database in one transaction (idempotent, all or nothing)."""
    from forecast.store import EpisodeConflict, EpisodeStore

    if result.episodes is None:
        raise fail(f"{file}: --into needs episodes, not daily counts")
    store = EpisodeStore(url)
    try:
        store.create()
        added = store.add(result.episodes)
    except EpisodeConflict as error:
        raise fail(f"{file}: nothing stored: {error}") from None
    finally:
        store.dispose()
    typer.echo(
        f"stored {added.added} new episode(s), completed {added.discharged} open stay(s), "
        f"{added.unchanged} already stored"
    )


def write_demo(out: Path, seed: int, start: str, end: str, transfers: bool = False, feeds: bool = False) -> Path:
    """Generate the demo hospital and write its files; returns the episodes file. With `feeds`, also the same
    episodes as an HL7 ADT stream (`adt.hl7`, MLLP-framed as `mllp_send --file` reads it), as FHIR Encounters
    (`Encounter.ndjson`) and the locations file both need (`locations.csv`)."""
    from forecast.demo import generate_demo_hospital

    hospital = generate_demo_hospital(seed=seed, start=start, end=end, transfers=transfers)
    write_table(hospital.episodes, out / "episodes.csv")
    if feeds:
        from forecast.feeds.stream import adt_messages, encounters, frame_mllp, locations_of

        stays = data.ingest(hospital.episodes).episodes
        assert stays is not None
        (out / "adt.hl7").write_bytes(frame_mllp(adt_messages(stays)))
        (out / "Encounter.ndjson").write_text("".join(json.dumps(e) + "\n" for e in encounters(stays)))
        write_table(locations_of(sorted(hospital.units["unit"])), out / "locations.csv")
    write_table(hospital.units, out / "units.csv")
    write_table(hospital.guest_nights, out / "guest_nights.csv")
    write_table(hospital.truth, out / "truth.csv")
    return out / "episodes.csv"


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo files.")] = DEFAULT_DEMO_DIR,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same hospital.")] = 7,
    start: Annotated[str, typer.Option(help="First admission day.")] = "2021-01-01",
    end: Annotated[str, typer.Option(help="Extract date (last admission day).")] = "2025-12-31",
    transfers: Annotated[
        bool, typer.Option(help="Move a share of intensive-care patients on to medicine or surgery (ward stays).")
    ] = False,
    feeds: Annotated[
        bool,
        typer.Option(help="Also write the episodes as an HL7 ADT stream (adt.hl7) and FHIR Encounters (.ndjson)."),
    ] = False,
) -> None:
    """Write the demo hospital (Visby, Gotland): episodes, units with beds, guest nights, the true effects."""
    episodes = write_demo(out, seed, start, end, transfers, feeds)
    typer.echo(f"wrote the demo hospital to {out}/ (episodes: {episodes})")


@app.command("national-data")
def national_data(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the files.")] = Path("national"),
    regions: Annotated[int, typer.Option(min=1, max=21, help="Regions (Sweden has 21).")] = 21,
    hospitals: Annotated[int, typer.Option(min=1, help="Hospitals per region.")] = 3,
    units: Annotated[int, typer.Option(min=1, help="Units per hospital.")] = 16,
    start: Annotated[str, typer.Option(help="First day.")] = "2022-01-01",
    end: Annotated[str, typer.Option(help="Last day.")] = "2025-12-31",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same country.")] = 7,
) -> None:
    """Write a synthetic country for scale tests: daily counts per unit, units with hospital, region and beds."""
    from forecast.national import generate_national

    country = generate_national(regions, hospitals, units, start=start, end=end, seed=seed)
    write_table(country.daily, out / "daily.parquet")
    write_table(country.units, out / "units.csv")
    write_table(country.guest_nights, out / "guest_nights.csv")
    typer.echo(f"wrote {len(country.units)} units ({regions} regions × {hospitals} hospitals × {units}) to {out}/")


def read_beds(units_file: Path | None) -> pd.Series | None:
    """Current beds per unit from a `unit, beds` file, if there is one."""
    if units_file is None or not units_file.exists():
        return None
    try:
        return data.current_beds(data.read_units(units_file), units_file)
    except ValueError as error:
        raise fail(str(error)) from None


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def train(ctx: typer.Context) -> None:
    """Train on a data source (the demo hospital by default), log to MLflow, register the model.

    The same code as `python -m training.train`; `bedcast train --help` lists its options.
    """
    # The training pipeline lives outside the package (the core never imports it): run it as its own module.
    done = subprocess.run([sys.executable, "-m", "training.train", *ctx.args], check=False)
    raise typer.Exit(done.returncode)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo files.")] = DEFAULT_DEMO_DIR,
    seed: Annotated[int, typer.Option(help="Random seed of the demo hospital.")] = 7,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="End by serving the API.")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API.")] = 8000,
) -> None:
    """The main job on the built-in demo hospital: generate it, train and register the model, serve it."""
    started = time.perf_counter()
    episodes = write_demo(out, seed, "2021-01-01", "2025-12-31")
    typer.echo(f"demo hospital written to {out}/")
    result = data.ingest_file(episodes)
    write_table(result.daily, out / "daily.csv")
    for line in result.report():
        typer.echo(line)
    typer.echo("")
    typer.echo("Per unit (census after warm-up):")
    print_table(data.unit_summary(result.daily, read_beds(out / "units.csv")))
    typer.echo(f"\ndaily frame: {out / 'daily.csv'}  ({time.perf_counter() - started:.1f} s)")
    typer.echo("\nTraining: backtest of every candidate per unit, the chosen models fitted, the run logged to MLflow")
    sources = ["--data", str(episodes), "--units", str(out / "units.csv")]
    trained = subprocess.run(
        [sys.executable, "-m", "training.train", *sources, "--guest-nights", str(out / "guest_nights.csv")],
        check=False,
    )
    if trained.returncode:
        raise typer.Exit(trained.returncode)
    typer.echo(
        "\nCompare runs in the MLflow UI: .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db "
        "(then open http://127.0.0.1:5000)"
    )
    typer.echo(
        f"next quarter's bed plan in the terminal: .venv/bin/bedcast beds {episodes} --units {out / 'units.csv'} "
        f"--guest-nights {out / 'guest_nights.csv'}"
    )
    if serve_api:
        base = f"http://127.0.0.1:{port}"
        typer.echo(f"\nServing the champion: the planner's pages at {base}/ (API docs at {base}/docs)")
        typer.echo(f"next quarter's plan: curl '{base}/v1/plan?quarter=next&overflow_risk=0.05'")
        typer.echo(f"as a spreadsheet:    curl '{base}/v1/plan?quarter=next&format=csv' > plan.csv")
        typer.echo("(Ctrl-C stops the server)\n")
        serve(host="127.0.0.1", port=port, access_log=False)


def read_guest_nights(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    try:
        return data.read_guest_nights(path)
    except (FileNotFoundError, ValueError) as error:
        raise fail(str(error)) from None


def write_text(text: str, path: Path) -> None:
    """Write a text file whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def load(file: Path, locations: Path | None = None, secret_file: Path | None = None, **options: Any) -> data.Ingested:
    """Ingest a data file (strictly unless `lenient=True`); bad input ends the command with the problems listed,
    each naming the file, and implausible values are warned about by row on stderr.

    A `.ndjson` or `.json` file is FHIR R4 (Encounters, in Bulk Data NDJSON or a Bundle): its Locations map to
    units by the `locations` file, its visit numbers are hashed with the installation's secret.
    """
    try:
        if is_fhir(file):
            result = load_encounters(file, locations, secret_file, **options)
        else:
            result = data.ingest_file(file, **options)
    except (data.InputError, data.UnreadableFile, FileNotFoundError) as error:
        raise fail(str(error)) from None
    except OSError as error:  # e.g. no permission to read it
        raise fail(f"{file}: {error.strerror or type(error).__name__}") from None
    for line in result.warning_lines():
        typer.echo(line, err=True)
    return result


def is_fhir(file: Path) -> bool:
    return file.suffix.lower() in (".ndjson", ".json")


def load_encounters(file: Path, locations: Path | None, secret_file: Path | None, **options: Any) -> data.Ingested:
    """FHIR R4 Encounters as ingested episodes (ward stays); what was left out is said on stderr."""
    from forecast.feeds.fhir import ingest_encounters
    from forecast.feeds.locations import read_locations
    from forecast.feeds.pseudonyms import Pseudonyms, load_secret

    try:
        mapping, secret = read_locations(locations), load_secret(secret_file)
    except ValueError as error:
        raise fail(str(error)) from None
    result, read = ingest_encounters(file, mapping, Pseudonyms(secret), **options)
    for line in read.report():
        typer.echo(line, err=True)
    return result


def run_engine(
    ingested: data.Ingested, config: Any, guest_nights: Path | None, quiet: bool, future: Path | None = None
) -> tuple[Any, Any]:
    """Prepare the series of ingested data and run the backtest; CLI errors for bad settings."""
    from forecast import engine

    try:
        ahead = data.read_table(future) if future is not None else None
        prepared = engine.prepare(ingested.daily, config, ingested.episodes, read_guest_nights(guest_nights), ahead)
        progress = None if quiet else (lambda line: typer.echo(line, err=True))
        return prepared, engine.run(prepared, config, progress)
    except ValueError as error:
        raise fail(str(error)) from None


class TargetName(StrEnum):
    census = "census"
    admissions = "admissions"


TargetOption = Annotated[TargetName, typer.Option(help="What to forecast: the midnight census or admissions.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")]
GuestNights = Annotated[
    Path | None, typer.Option("--guest-nights", help="Daily or monthly tourist guest nights (date, guest_nights).")
]
Country = Annotated[str, typer.Option(help="Country code for public holidays (SE, PT, US, IN, ...).")]
Regressors = Annotated[str | None, typer.Option(help="Daily counts: comma-separated columns with known future values.")]
FutureRegressors = Annotated[
    Path | None,
    typer.Option(
        "--future-regressors",
        help="The regressors' values after the data (date, optionally unit, one column per regressor): a forecast "
        "refuses days without them.",
    ),
]


def promise_lines(result: Any, risk: float) -> tuple[dict[str, float], list[str]]:
    """Per unit the widening of a conservative plan, and the sentences on the overflow promise measured."""
    from forecast import metrics, reliability

    promise = metrics.promise_kept(result, risk)
    return promise["upper_widened_by"].to_dict(), [
        reliability.statement(r) for r in reliability.records(promise).values()
    ]


@app.command()
def backtest(
    file: Annotated[Path, typer.Argument(help="Episodes or daily counts, CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write metrics.json.")],
    target: TargetOption = TargetName.census,
    horizon: Annotated[int, typer.Option(min=1, max=730, help="Days ahead.")] = 91,
    folds: Annotated[int, typer.Option(min=1, max=52, help="Scored windows.")] = 4,
    step: Annotated[int, typer.Option(min=1, help="Days between cutoffs.")] = 91,
    country: Country = "SE",
    column: Annotated[str | None, typer.Option(help="Daily counts: the column to forecast.")] = None,
    regressors: Regressors = None,
    models: Annotated[
        str | None,
        typer.Option(help="Comma-separated candidates (default: all but the global models, global and global_diff)."),
    ] = None,
    guest_nights: GuestNights = None,
    quiet: Quiet = False,
) -> None:
    """Rolling-origin backtest of every candidate; per unit the chosen model and its honest scores."""
    from forecast import engine, metrics
    from forecast import models as candidate_models

    try:
        candidates = (
            candidate_models.candidates_for(models.split(",")) if models else tuple(candidate_models.CANDIDATES)
        )
    except ValueError as error:
        raise fail(str(error)) from None
    config = engine.EngineConfig(
        target=target.value,
        horizon=horizon,
        folds=folds,
        step=step,
        country=country,
        column=column,
        regressors=tuple(r.strip() for r in regressors.split(",") if r.strip()) if regressors else (),
        candidates=candidates,
    )
    started = time.perf_counter()
    _, result = run_engine(load(file), config, guest_nights, quiet)
    report = metrics.backtest_metrics(result, config)
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_text(json.dumps(report, indent=2), output)
    rows = [
        {"unit": unit, **{k: v for k, v in m.items() if k not in ("models", "chosen_per_fold", "decisions")}}
        for unit, m in report["units"].items()
    ]
    print_table(pd.DataFrame(rows).round(3))
    summary = report["summary"]
    typer.echo(
        f"\nmean MASE {summary['mase']:.3f} (seasonal naive {summary['baseline_mase']:.3f}); "
        f"coverage 80 % {summary['coverage_80']:.1%}, 95 % {summary['coverage_95']:.1%}"
    )
    promise = summary["decisions"]["beds_risk"]
    typer.echo(
        f"beds at the {promise['promised_risk']:.0%} overflow risk were exceeded on {promise['overflow_share']:.1%} "
        f"of {promise['days']:.0f} unit-days; promise broken in {summary['decisions']['units_promise_broken']:.0f} "
        f"unit(s), not measurable in {summary['decisions']['units_promise_unmeasured']:.0f}"
    )
    typer.echo(f"wrote {output} ({report['seconds']} s)")


@app.command("forecast")
def forecast_command(
    file: Annotated[Path, typer.Argument(help="Episodes or daily counts, CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the forecast (.csv/.parquet).")],
    horizon: Annotated[int, typer.Option(min=1, max=730, help="Days ahead.")] = 91,
    target: TargetOption = TargetName.census,
    folds: Annotated[int, typer.Option(min=1, max=52, help="Backtest windows for choice and calibration.")] = 4,
    step: Annotated[int, typer.Option(min=1, help="Days between backtest cutoffs.")] = 91,
    country: Country = "SE",
    column: Annotated[str | None, typer.Option(help="Daily counts: the column to forecast.")] = None,
    regressors: Regressors = None,
    future_regressors: FutureRegressors = None,
    guest_nights: GuestNights = None,
    quiet: Quiet = False,
) -> None:
    """Forecast each unit's daily census (or admissions) with quantiles, after a backtest picks the model."""
    from forecast import engine

    config = engine.EngineConfig(
        target=target.value,
        horizon=horizon,
        folds=folds,
        step=step,
        country=country,
        column=column,
        regressors=tuple(r.strip() for r in regressors.split(",") if r.strip()) if regressors else (),
    )
    prepared, result = run_engine(load(file), config, guest_nights, quiet, future_regressors)
    widening, lines = promise_lines(result, config.overflow_risk)
    try:
        table = engine.forecast_units(prepared, result, config, widening=widening)
    except ValueError as error:
        raise fail(str(error)) from None
    for line in lines:
        typer.echo(line, err=True)
    write_table(table, output)
    typer.echo(f"wrote {len(table)} unit-days of forecasts to {output}")


class PlanLevel(StrEnum):
    unit = "unit"
    hospital = "hospital"
    region = "region"


@app.command("beds")
def beds_command(
    file: Annotated[Path, typer.Argument(help="Episodes or daily counts, CSV or Parquet.")],
    quarter: Annotated[
        str, typer.Option(help="next, a quarter like 2026Q1, or year (the 52 weeks ahead; two years of history).")
    ] = "next",
    units: Annotated[Path | None, typer.Option(help="Current beds per unit (unit, beds).")] = None,
    overflow_risk: Annotated[float, typer.Option(min=0.001, max=0.5, help="Accepted P(census > beds).")] = 0.05,
    folds: Annotated[int, typer.Option(min=1, max=52, help="Backtest windows for choice and calibration.")] = 4,
    country: Country = "SE",
    guest_nights: GuestNights = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the table (.csv).")] = None,
    level: Annotated[
        PlanLevel, typer.Option(help="unit, or hospital/region: pools of units sharing beds (needs hospital, region).")
    ] = PlanLevel.unit,
    models: Annotated[str | None, typer.Option(help="Comma-separated candidates (default: all).")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also split each week's beds by driver (tourism, season, the margin, …).")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """The planner's table: per unit and week of the quarter (or the year ahead), census, beds needed, today's beds
    and the gap; with --explain each week's beds split by driver."""
    from forecast import beds, engine, hierarchy, plans, year_ahead
    from forecast import models as candidate_models
    from forecast.periods import YEAR, QuarterError, quarter_window, year_window

    try:
        candidates = (
            candidate_models.candidates_for(models.split(",")) if models else tuple(candidate_models.CANDIDATES)
        )
    except ValueError as error:
        raise fail(str(error)) from None

    ingested = load(file)
    last_day = ingested.last_day
    year = quarter.strip().lower() == YEAR
    try:
        start, end = year_window(last_day) if year else quarter_window(quarter, last_day)
    except QuarterError as error:
        raise fail(str(error)) from None
    horizon = (end - last_day).days
    config = engine.EngineConfig(
        target="census",
        horizon=horizon,
        folds=folds,
        step=91,
        country=country,
        overflow_risk=overflow_risk,
        candidates=candidates,
    )
    if year:
        # The year ahead's own backtest: a horizon of a year (its choice and calibration), then the 52 weeks.
        probe = engine.prepare(ingested.daily, config, ingested.episodes, read_guest_nights(guest_nights))
        backtest_config = year_ahead.year_config(config, probe)
        if backtest_config is None:
            raise fail(f"no year ahead: {year_ahead.too_short(probe)}")
        _, result = run_engine(ingested, backtest_config, guest_nights, quiet)
        prepared = probe  # the 52 weeks' forecast is prepared as the probe was
    else:
        prepared, result = run_engine(ingested, config, guest_nights, quiet)
    widening, lines = promise_lines(result, overflow_risk)
    ahead = engine.forecast_units(prepared, result, config, widening=widening)
    policy = beds.BedPolicy(overflow_risk=overflow_risk)
    tree, pools = None, None
    if level is not PlanLevel.unit and (year or explain):
        raise fail("--level hospital/region plans a quarter of pooled beds: without --explain and --quarter year")
    if level is not PlanLevel.unit:
        units_table = data.read_units(units) if units is not None and units.exists() else None
        daily = ingested.daily
        tree = hierarchy.hierarchy_from([units_table, daily], sorted(daily["unit"].unique()))
        if tree is None:
            raise fail("--level hospital/region needs hospital and region for every unit (in --units or the episodes)")
        # The pool's errors are by horizon step: its distribution is built from the data's end, then cut.
        pools = plans.pooled_forecasts(result, ahead, tree)
    table, warnings = plans.quarter_plan(ahead, start, end, policy, read_beds(units), level.value, pools, tree)
    table = table.drop(columns="period_start")
    print_table(table.round(1))
    for warning in warnings:
        typer.echo(f"warning: {warning}")
    for line in lines:
        typer.echo(f"reliability: {line}")
    if units is None:
        typer.echo("current beds unknown (give --units FILE with unit, beds): no gap or days over capacity shown")
    if explain:
        table = explained_table(prepared, result, config, ahead, policy, start, end, quiet)
    if output:
        write_table(table, output)


def explained_table(
    prepared: Any,
    result: Any,
    config: Any,
    ahead: pd.DataFrame,
    policy: Any,
    start: pd.Timestamp,
    end: pd.Timestamp,
    quiet: bool,
) -> pd.DataFrame:
    """Print each unit's weekly beds by driver (and what its model could not split); the table, a row per unit
    and week and a column per part."""
    from forecast import explain
    from forecast.counterfactual import counterfactual_forecasts

    if not quiet:
        typer.echo("counterfactual forecasts for the explanation by driver", err=True)
    found = explain.explain_weeks(
        counterfactual_forecasts(prepared.series, prepared.future, result.choice, config.horizon, prepared.flow),
        ahead,
        policy,
        start,
        end,
    )
    wide = found.parts.pivot_table(index=["unique_id", "period"], columns="part", values="beds", aggfunc="sum")
    wide = wide.reindex(columns=[p for p in explain.PARTS if p in wide.columns])
    totals = found.totals.set_index(["unique_id", "period"])["beds"].rename("planned_beds")
    table = pd.concat([totals, wide], axis=1).reset_index().rename(columns={"unique_id": "unit", "period": "week"})
    for name in wide.columns:
        table[name] = pd.array(table[name], dtype="Int64")
    typer.echo("\nbeds by driver (patients each driver brings on the week's busiest day; margin: beds above them):")
    print_table(table)
    for row in found.drivers[found.drivers["status"].isin(["not_separated", "partly"])].itertuples(index=False):
        if row.status == "partly":
            said = f"{row.driver} is seen by {row.seen_by} only of {row.members}: the rest is in trend and level"
        else:
            said = f"{row.driver} is not separated by {row.members}: its effect is in trend and level"
        typer.echo(f"note: {row.unique_id}: {said}")
    return table


# --- scenario: what-if on the served model (issue 13) --------------------------------------------------------


class ScenarioTable(StrEnum):
    weeks = "weeks"
    days = "days"
    shifts = "shifts"
    fte = "fte"


# The weekly table's columns a terminal has room for; --output writes them all.
SCENARIO_WEEK_COLUMNS = [
    "unit",
    "week",
    "mean_census",
    "change_mean_census",
    "beds_at_target_occupancy",
    "beds_at_overflow_risk",
    "change_beds_at_overflow_risk",
    "open_beds",
    "gap",
    "expected_days_over_capacity",
    "change_expected_days_over_capacity",
    "surge_days",
]


def read_scenario(file: Path) -> dict[str, Any]:
    """A scenario file: JSON, or YAML (`.yaml`, `.yml`)."""
    text = file.read_text()
    if file.suffix.lower() in {".yaml", ".yml"}:
        import yaml  # type: ignore[import-untyped,unused-ignore]

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("a scenario is a mapping of fields (admissions, length_of_stay, planned_beds, ...)")
    return raw


@app.command()
def scenario(
    file: Annotated[Path, typer.Argument(help="The scenario, JSON or YAML (the body of POST /v1/scenarios).")],
    table: Annotated[
        ScenarioTable, typer.Option(help="The table to print: weeks, days, shifts or fte.")
    ] = ScenarioTable.weeks,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the whole table (.csv).")] = None,
    model_name: Annotated[str, typer.Option(help="Registered model.")] = "bed-demand",
    alias: Annotated[str, typer.Option(help="Its alias.")] = "champion",
) -> None:
    """A what-if scenario against the served model: the quarter's plan beside the served plan (per unit and
    week, per day, nurses per shift, FTE per week) and how each unit's scenario was made."""
    from pydantic import ValidationError

    from forecast import registry
    from forecast.serving.answers import answer
    from forecast.serving.errors import Refusal
    from forecast.serving.scenario import scenario_answer
    from forecast.serving.scenario_schemas import ScenarioIn
    from forecast.serving.state import build_state

    try:
        body = ScenarioIn.model_validate(read_scenario(file))
    except FileNotFoundError:
        raise fail(f"{file}: no such file") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise fail(f"{file}: {problems}") from None
    except ValueError as error:
        raise fail(f"{file}: {error}") from None
    try:
        registry.configure_tracking()
        state = build_state(registry.load_model(model_name, alias))
    except (registry.ModelNotFound, registry.TrackingUnavailable) as error:
        raise fail(str(error), 2) from None
    chosen = table.value
    try:
        result = answer(state, scenario_answer(state, body, (chosen,), chosen, where=()))  # type: ignore[arg-type]
    except Refusal as error:
        problems = "; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in error.problems) or str(error)
        raise fail(f"{file}: {problems}") from None
    head = result.head
    typer.echo(f"{head['model_name']} version {head['model_version']}, {head['start']} to {head['end']}")
    for unit in head["units"]:
        typer.echo(f"  {unit['unit']}: {unit['how']}")
    frame = result.table(chosen)
    print_table(frame[SCENARIO_WEEK_COLUMNS] if chosen == "weeks" else frame)
    for note in head["notes"]:
        typer.echo(f"note: {note}")
    if output is not None:
        write_table(frame, output)
        typer.echo(f"wrote {len(frame)} rows to {output}")


# --- serve: the HTTP API (issue 5) ---------------------------------------------------------------------------


# --- data straight from hospital systems: the HL7 v2 ADT listener (issue 23) --------------------------------


def adt_listener(
    port: int, host: str, into: str | None, locations: Path | None, secret_file: Path | None, classes: str, zone: str
) -> Any:
    """An `AdtListener` on the episodes database, with the locations file and the episode-key secret."""
    from forecast.feeds.listener import AdtListener

    return AdtListener(adt_journal(into, locations, secret_file, classes, zone), host=host, port=port)


def adt_journal(into: str | None, locations: Path | None, secret_file: Path | None, classes: str, zone: str) -> Any:
    """An `AdtJournal` on the episodes database (its tables made), with the locations file and the secret."""
    from forecast.feeds.journal import AdtJournal
    from forecast.feeds.locations import read_locations
    from forecast.feeds.pseudonyms import Pseudonyms, load_secret
    from forecast.store import EpisodeStore

    try:
        mapping = read_locations(locations)
        secret = load_secret(secret_file)
    except (OSError, ValueError) as error:
        raise fail(str(error)) from None
    if into is None:
        from forecast.api.settings import default_episodes_url

        into = default_episodes_url()
    store = EpisodeStore(into)
    journal = AdtJournal(store, mapping, Pseudonyms(secret), [c.strip() for c in classes.split(",") if c.strip()], zone)
    journal.create()
    return journal


@app.command()
def adt(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port for MLLP (2575: HL7's port).")] = 2575,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    into: AdtInto = None,
    locations: Locations = None,
    secret_file: SecretFile = None,
    inpatient_classes: InpatientClasses = "I",
    timezone: Timezone = data.DEFAULT_TIMEZONE,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Load this HL7 batch file (FHS/BHS … BTS/FTS, or messages one after the other) and exit, "
            "instead of listening: all its messages are stored, or none.",
        ),
    ] = None,
) -> None:
    """Listen for HL7 v2 ADT messages over MLLP and keep the ward stays they describe in the episodes database.

    Each message is answered (ACK) only once it is stored: AA, or AE/AR naming the segment and field. A message
    sent again (same MSH-10) is answered AA and not stored twice. Nothing of PID is read or stored; the episode
    key is the visit number (PV1-19) hashed with the installation's secret. With `--file`, a batch file (a
    nightly export) is loaded instead, in one transaction: a refused message is named by its position, line and
    MSH-10, and nothing of the file is stored.
    """
    import asyncio
    import logging

    if file is not None:
        load_adt_file(file, into, locations, secret_file, inpatient_classes, timezone)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    listener = adt_listener(port, host, into, locations, secret_file, inpatient_classes, timezone)
    try:
        asyncio.run(listener.serve())
    except KeyboardInterrupt:
        pass
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def load_adt_file(
    file: Path, into: str | None, locations: Path | None, secret_file: Path | None, classes: str, zone: str
) -> None:
    """`bedcast adt --file`: an HL7 batch file into the episodes database, all of it or nothing."""
    import logging

    import sqlalchemy as sa

    from forecast.feeds.batch import BatchError, load_batch

    try:
        content = file.read_bytes()
    except OSError as error:
        raise fail(f"{file}: {error.strerror or error}") from None
    # The summary below, or the error naming the refused messages, is the answer: no log line per message.
    logging.getLogger("bedcast.adt").addHandler(logging.NullHandler())
    journal = adt_journal(into, locations, secret_file, classes, zone)
    try:
        loaded = load_batch(journal, content)
    except BatchError as error:
        raise fail(f"{file}: {error}") from None
    except sa.exc.SQLAlchemyError as error:
        raise fail(f"{file}: not stored (database error: {type(error).__name__}); nothing of it was stored") from None
    finally:
        journal.store.dispose()
    skipped = sum(loaded.skipped.values())
    old = loaded.messages - loaded.new - skipped
    kinds = ", ".join(f"{kind} {n}" for kind, n in loaded.skipped.items())
    typer.echo(
        f"{file}: {loaded.messages} messages in {loaded.batches} batch(es): {loaded.new} stored"
        + (f", {old} received before" if old else "")
        + (f", {skipped} skipped (not ADT or an event not handled: {kinds})" if skipped else "")
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Serving processes on the one port; each follows the champion alias.")
    ] = 1,
    adt_port: Annotated[
        int | None,
        typer.Option(envvar="BEDCAST_ADT_PORT", help="Also listen for HL7 ADT over MLLP on this port (see `adt`)."),
    ] = None,
    locations: Locations = None,
    secret_file: SecretFile = None,
    inpatient_classes: InpatientClasses = "I",
) -> None:
    """Serve forecasts, bed plans and staffing over HTTP from the champion model (settings: BEDCAST_* variables).

    With `--adt-port`, this process also takes the hospital's ADT feed into the episodes database; the served
    forecast follows it as it follows posted episodes (the nowcast looks at the database every few seconds).
    """
    import tempfile

    import uvicorn

    from forecast.serve import create_app

    if adt_port is not None:
        from forecast.api.settings import Settings

        settings = Settings()
        listener = adt_listener(
            adt_port, host, settings.episodes_url, locations, secret_file, inpatient_classes, settings.timezone
        )
        try:
            listener.start()
        except OSError as error:
            raise fail(f"cannot listen for ADT on {host}:{adt_port}: {error.strerror or error}") from None
    if workers == 1:
        uvicorn.run(create_app(), host=host, port=port, access_log=access_log)
        return
    # The workers share a folder to follow reloads together (forecast.api.follow); it goes when serving ends.
    with tempfile.TemporaryDirectory(prefix="bedcast-workers-") as board:
        os.environ.update(BEDCAST_WORKERS_DIR=board, BEDCAST_WORKERS=str(workers))
        uvicorn.run(
            "forecast.serve:create_app", factory=True, workers=workers, host=host, port=port, access_log=access_log
        )


# --- the living service: monitoring and retraining (issue 14) ------------------------------------------------

EpisodesDb = Annotated[
    str, typer.Option("--episodes-db", help="SQLAlchemy URL of the episodes database (as BEDCAST_EPISODES_URL).")
]
ServeUrl = Annotated[
    str | None,
    typer.Option(
        help="A serving process to tell to reload (POST /v1/reload with BEDCAST_API_KEY), e.g. http://127.0.0.1:8000."
    ),
]
TrainData = Annotated[Path | None, typer.Option("--data", help="The training data file (episodes), as at training.")]
TrainUnits = Annotated[Path | None, typer.Option("--units", help="Current beds per unit (unit, beds).")]


class RetrainIf(StrEnum):
    never = "never"
    watch = "watch"
    drifted = "drifted"


def _train_args(data_file: Path | None, episodes_db: str, units: Path | None, guest_nights: Path | None) -> list[str]:
    args = ["--episodes-db", episodes_db, "--quiet"]
    for flag, value in (("--data", data_file), ("--units", units), ("--guest-nights", guest_nights)):
        if value is not None:
            args += [flag, str(value)]
    return args


def _retrain_and_reload(train_args: list[str], serve_url: str | None) -> None:
    from forecast import watch

    code, before, after = watch.retrain(train_args)
    if code:
        raise typer.Exit(code)
    if after == before:
        typer.echo(f"the champion stays version {before}: nothing to reload")
        return
    typer.echo(f"version {after} is the new champion (was {before})")
    if serve_url:
        try:
            typer.echo(watch.reload_service(serve_url, os.environ.get("BEDCAST_API_KEY")))
        except RuntimeError as error:
            raise fail(str(error)) from None


@app.command()
def monitor(
    episodes_db: EpisodesDb = "sqlite:///episodes.db",
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log a monitoring run to MLflow.")] = True,
    retrain_if: Annotated[
        RetrainIf, typer.Option(help="Retrain (as `bedcast retrain`) when a unit is at least this bad.")
    ] = RetrainIf.never,
    data_file: TrainData = None,
    units: TrainUnits = None,
    guest_nights: GuestNights = None,
    serve_url: ServeUrl = None,
) -> None:
    """Is the champion still good? Per unit since training: MASE against the backtest's, interval coverage,
    days over the beds planned at the risk, bias and a status; logged to MLflow beside the training run."""
    from forecast import registry, watch

    try:
        watched = watch.watch(episodes_db, to_mlflow=mlflow_log)
    except (registry.ModelNotFound, registry.TrackingUnavailable, ValueError) as error:
        raise fail(str(error)) from None
    as_of = f"{watched.as_of:%Y-%m-%d}" if watched.as_of is not None else "nothing newer than training"
    typer.echo(f"champion version {watched.version} (run {watched.run_id}); census known as of {as_of}")
    rows = pd.DataFrame([vars(m) for m in watched.units])
    shown = [
        "unit",
        "status",
        "days",
        "mase",
        "backtest_mase",
        "coverage_80",
        "coverage_95",
        "over_beds_at_risk",
        "bias",
    ]
    print_table(rows[shown].round(3))
    for m in watched.units:
        typer.echo(f"{m.unit}: {m.status}: {m.reason}")
    if watched.monitoring_run_id:
        typer.echo(f"logged to MLflow: run {watched.monitoring_run_id} (nested under the champion's run)")
    if retrain_if is RetrainIf.never:
        return
    threshold = ("watch", "drifted") if retrain_if is RetrainIf.watch else ("drifted",)
    bad = [m.unit for m in watched.units if m.status in threshold]
    if not bad:
        typer.echo(f"no unit is {' or '.join(threshold)}: no retraining")
        return
    typer.echo(f"retraining: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} {' or '.join(threshold)}")
    _retrain_and_reload(_train_args(data_file, episodes_db, units, guest_nights), serve_url)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def retrain(
    ctx: typer.Context,
    episodes_db: EpisodesDb = "sqlite:///episodes.db",
    data_file: TrainData = None,
    units: TrainUnits = None,
    guest_nights: GuestNights = None,
    serve_url: ServeUrl = None,
) -> None:
    """Retrain on the data file plus the stored episodes; the champion rule decides; a serving process is told
    to reload when the champion changed. Other options go to `bedcast train` (e.g. --models, --folds)."""
    _retrain_and_reload([*_train_args(data_file, episodes_db, units, guest_nights), *ctx.args], serve_url)


if __name__ == "__main__":  # pragma: no cover - `python -m forecast.cli`
    app()
