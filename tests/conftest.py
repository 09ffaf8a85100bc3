"""Shared test settings: where the real data sets live, and a small demo hospital prepared once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from forecast import data, engine
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from tests.postgres import PostgresServer

# Real data that nobody here wrote, beside the project (CI clones the project next to shared/).
SHARED_DATA = Path(os.environ.get("BEDCAST_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole test session (started here, stopped at the end)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A new, empty database on the session's server, as a SQLAlchemy URL (with its password)."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return postgres.create_database(f"{name}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo hospital's six units (2023–2024, seasonal naive and ETS) trained once per session by
    `training.train` into the embedded MLflow store of a folder: tests serve and read it, none trains into it."""
    from tests import browser

    folder = tmp_path_factory.mktemp("trained-demo")
    browser.train_demo(folder)
    return folder


@pytest.fixture(scope="session")
def demo_hospital() -> tuple[data.Ingested, pd.DataFrame]:
    """Three demo units over two years, ingested from episodes, and their guest nights."""
    hospital = generate_demo_hospital(start="2023-01-01", end="2024-12-31", units=DEFAULT_UNITS[:3])
    return data.ingest(hospital.episodes.astype(str).replace({"NaT": ""})), hospital.guest_nights


@pytest.fixture(scope="session")
def demo_prepared(demo_hospital) -> tuple[engine.Prepared, engine.EngineConfig]:
    ingested, guest_nights = demo_hospital
    # ETS costs most of a run here; one statsforecast model and one of ours cover both code paths.
    config = engine.EngineConfig(horizon=28, folds=2, step=28, candidates=("seasonal_naive", "gbm"))
    return engine.prepare(ingested.daily, config, ingested.episodes, guest_nights), config


@pytest.fixture(scope="session")
def explained_served():
    """A served model of two demo units whose plans (next quarter, year ahead) are explained by driver."""
    from tests.explained_bundles import make_explained_served

    return make_explained_served()
