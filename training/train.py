"""The command line of training (the pipeline itself is `training.pipeline`).

    python -m training.train [--data FILE] [--units FILE] [--guest-nights FILE] [--country CC] [--promote]
                              [--no-year-ahead] [--quiet]

Without `--data` it trains on the built-in demo hospital. Every run logs its parameters, its metrics overall and
per unit and model, the backtest, forecast and bed-plan tables and the planner's charts, then registers a new
version of the model; the alias `champion` moves to it only when it wins (see `forecast.registry`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecast import data, distributed, models, registry
from training.pipeline import Say, train
from training.settings import TrainSettings

__all__ = ["cli", "main"]


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
    models_: Annotated[
        str | None,
        typer.Option(
            "--models", help="Comma-separated candidates (default: all but the global models, global and global_diff)."
        ),
    ] = None,
    regressors: Annotated[str | None, typer.Option(help="Daily counts: columns with known future values.")] = None,
    future_regressors: Annotated[
        Path | None,
        typer.Option(help="The regressors' values after the data (date, optionally unit, one column per regressor)."),
    ] = None,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = registry.DEFAULT_MODEL_NAME,
    promote: Annotated[bool, typer.Option(help="Make the new version champion whatever its score.")] = False,
    engine_name: Annotated[
        str, typer.Option("--engine", help="Where to compute: local or dask (chunks of units).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Cluster address (e.g. tcp://host:8786); Dask without one: a local cluster.")
    ] = None,
    year_ahead: Annotated[
        bool,
        typer.Option(help="Also backtest and forecast the census 52 weeks ahead (where two years of history exist)."),
    ] = True,
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
            candidates=models.candidates_for(models_.split(",")) if models_ else tuple(models.CANDIDATES),
            regressors=tuple(r.strip() for r in regressors.split(",") if r.strip()) if regressors else (),
            future_regressors=future_regressors,
            model_name=model_name,
            promote=promote,
            engine=engine_name,
            address=address,
            year_ahead=year_ahead,
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
