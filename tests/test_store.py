"""The episodes store: idempotent on episode_id, all-or-nothing, durable across engines; on SQLite and on a
real PostgreSQL server."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.data import validate_episodes
from forecast.store import EpisodeConflict, EpisodeStore


def episodes(*rows: dict) -> pd.DataFrame:
    raw = pd.DataFrame(
        [
            {"episode_id": "", "unit": "medicine", "admitted_at": "2026-01-01", "discharged_at": "", **row}
            | {"admission_type": row.get("admission_type", "acute")}
            for row in rows
        ]
    )
    valid, problems, _ = validate_episodes(raw)
    assert not problems
    return valid


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'episodes.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = EpisodeStore(url)
    store.create()
    yield store
    store.dispose()


def test_add_counts_new_and_unchanged(store):
    batch = episodes({"episode_id": "a"}, {"episode_id": "b", "discharged_at": "2026-01-03"})
    assert store.add(batch).added == 2
    again = store.add(batch)
    assert (again.added, again.unchanged, again.discharged) == (0, 2, 0)
    assert store.count() == 2


def test_open_stay_gets_its_discharge(store):
    store.add(episodes({"episode_id": "a"}))
    result = store.add(episodes({"episode_id": "a", "discharged_at": "2026-01-05"}))
    assert result.discharged == 1
    assert store.read().loc[0, "discharged_at"] == pd.Timestamp("2026-01-05")


def test_conflict_writes_nothing(store):
    store.add(episodes({"episode_id": "a", "discharged_at": "2026-01-03"}))
    batch = episodes({"episode_id": "new"}, {"episode_id": "a", "discharged_at": "2026-01-09"})
    with pytest.raises(EpisodeConflict, match="a") as caught:
        store.add(batch)
    assert caught.value.episode_ids == ["a"]
    assert store.count() == 1  # `new` was not kept: the batch is all or nothing


def test_durable_across_engines(store):
    first = EpisodeStore(store.url)
    first.create()
    first.add(episodes({"episode_id": "a", "hospital": "visby"}))
    first.dispose()
    second = EpisodeStore(store.url)
    second.create()  # safe on an existing table
    stored = second.read()
    assert stored[["episode_id", "unit", "admission_type", "hospital"]].values.tolist() == [
        ["a", "medicine", "acute", "visby"]
    ]
    assert pd.isna(stored.loc[0, "discharged_at"])
    second.dispose()


def test_many_ids_in_chunks(store):
    batch = episodes(*({"episode_id": f"e{k}"} for k in range(1200)))
    assert store.add(batch).added == 1200
    assert store.add(batch).unchanged == 1200


def test_a_transfer_adds_a_stay_to_the_episode(store):
    store.add(episodes({"episode_id": "a", "unit": "icu"}))
    moved = episodes(
        {"episode_id": "a", "unit": "icu", "discharged_at": "2026-01-03"},
        {"episode_id": "a", "unit": "medicine", "admitted_at": "2026-01-03"},
    )
    result = store.add(moved)
    assert (result.added, result.discharged) == (1, 1)
    stored = store.read()
    assert stored[["unit", "admitted_at"]].astype(str).values.tolist() == [
        ["icu", "2026-01-01"],
        ["medicine", "2026-01-03"],
    ]


def test_a_stay_overlapping_the_stored_ones_is_a_conflict(store):
    store.add(episodes({"episode_id": "a", "unit": "icu", "discharged_at": "2026-01-04"}))
    with pytest.raises(EpisodeConflict, match="overlapping") as caught:
        store.add(episodes({"episode_id": "a", "unit": "medicine", "admitted_at": "2026-01-02"}))
    assert caught.value.episode_ids == ["a"]
    assert store.count() == 1


def test_a_database_of_one_stay_per_episode_is_carried_over(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE episodes (episode_id VARCHAR(200) PRIMARY KEY, unit VARCHAR(200) NOT NULL, "
                "admitted_at DATE NOT NULL, discharged_at DATE, admission_type VARCHAR(20) NOT NULL, "
                "hospital VARCHAR(200), region VARCHAR(200), received_at DATETIME NOT NULL)"
            )
        )
        connection.execute(
            sa.text("INSERT INTO episodes VALUES ('old', 'icu', '2025-12-30', NULL, 'acute', NULL, NULL, :now)"),
            {"now": "2026-01-01 00:00:00"},
        )
    engine.dispose()
    store = EpisodeStore(url)
    store.create()
    assert store.read()["episode_id"].tolist() == ["old"]
    assert not sa.inspect(store.engine).has_table("episodes")
    store.add(
        episodes({"episode_id": "old", "unit": "icu", "admitted_at": "2025-12-30", "discharged_at": "2026-01-02"})
    )
    assert store.read().loc[0, "discharged_at"] == pd.Timestamp("2026-01-02")
    store.dispose()
