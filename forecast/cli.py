"""The `bedcast` command: the terminal edge of the service (files in, tables and files out)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

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


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Episodes or daily counts, CSV or Parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the daily frame (.csv or .parquet).")],
    lenient: Annotated[bool, typer.Option(help="Set bad rows aside in a rejects file instead of failing.")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Rejects file for --lenient (default: next to --out).")] = None,
    timezone: Annotated[str, typer.Option(help="Local time zone for timestamps with an offset.")] = (
        data.DEFAULT_TIMEZONE
    ),
) -> None:
    """Validate admission data and write the daily frame per unit (admissions, discharges, census)."""
    try:
        result = data.ingest_file(file, lenient=lenient, timezone=timezone)
    except (data.InputError, FileNotFoundError) as error:
        raise fail(f"{file}: {error}") from None
    write_table(result.daily, out)
    if len(result.rejects):
        rejects = rejects or out.with_name(f"{out.stem}.rejects.csv")
        write_table(result.rejects, rejects)
        typer.echo(f"wrote {len(result.rejects)} rejected row(s) to {rejects}")
    for line in result.report():
        typer.echo(line)
    typer.echo(f"wrote {len(result.daily)} unit-days to {out}")


def write_demo(out: Path, seed: int, start: str, end: str) -> Path:
    """Generate the demo hospital and write its files; returns the episodes file."""
    from forecast.demo import generate_demo_hospital

    hospital = generate_demo_hospital(seed=seed, start=start, end=end)
    write_table(hospital.episodes, out / "episodes.csv")
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
) -> None:
    """Write the demo hospital (Visby, Gotland): episodes, units with beds, guest nights, the true effects."""
    episodes = write_demo(out, seed, start, end)
    typer.echo(f"wrote the demo hospital to {out}/ (episodes: {episodes})")


def read_beds(units_file: Path | None) -> pd.Series | None:
    """Current beds per unit from a `unit, beds` file, if there is one."""
    if units_file is None or not units_file.exists():
        return None
    units = pd.read_csv(units_file)
    if not {"unit", "beds"} <= set(units.columns):
        raise fail(f"{units_file}: a units file needs the columns unit, beds")
    return units.set_index("unit")["beds"]


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo files.")] = DEFAULT_DEMO_DIR,
    seed: Annotated[int, typer.Option(help="Random seed of the demo hospital.")] = 7,
) -> None:
    """The main job on the built-in demo hospital: generate it, ingest it, summarise each unit."""
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


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
