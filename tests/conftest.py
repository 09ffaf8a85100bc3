"""Shared test settings: where the real data sets live."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
