"""Training's data sources: the demo hospital, or files and the API's episode store, read and validated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import make_url

from forecast import data, hierarchy
from forecast.staffing import StaffingRatios, ratios_per_unit
from training.settings import TrainSettings

__all__ = ["Source", "fingerprint", "hierarchy_of", "load_source", "read_episodes", "stored_episodes", "unit_ratios"]


@dataclass
class Source:
    """A data source read and validated: the daily frame, the episodes (if any), beds and tourism."""

    name: str
    ingested: data.Ingested
    current_beds: pd.Series | None
    guest_nights: pd.DataFrame | None
    units_table: pd.DataFrame | None = None  # the units file as read (beds, maybe hospital and region)
    future_regressors: pd.DataFrame | None = None  # regressors' values after the data (date[, unit], columns)


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
    """The data file, with the stored episodes added (an episode's stored stays replace the file's)."""
    if settings.episodes_db is None:
        assert settings.data is not None
        return data.ingest_file(settings.data)
    stored = stored_episodes(settings.episodes_db)
    raw = stored
    if settings.data is not None:
        file = data.read_table(settings.data)
        # An episode's stored stays replace all of the file's stays of that episode (its ward stays as now known).
        raw = pd.concat([file[~file["episode_id"].isin(stored["episode_id"])], stored], ignore_index=True)
    if raw.empty:
        shown = make_url(settings.episodes_db).render_as_string(hide_password=True)
        raise ValueError(f"no episodes in {shown} and no --data file")
    return data.ingest(raw.reset_index(drop=True))


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
    guests = data.read_guest_nights(settings.guest_nights) if settings.guest_nights is not None else None
    # A database URL may carry a password: the run's parameters must not.
    stored = settings.episodes_db and make_url(settings.episodes_db).render_as_string(hide_password=True)
    name = " + ".join(str(x) for x in (settings.data, stored) if x)
    future = data.read_table(settings.future_regressors) if settings.future_regressors is not None else None
    return Source(name, read_episodes(settings), current, guests, units, future)


def fingerprint(source: Source) -> str:
    """A hash of what the models learn from (the daily frame and tourism), independent of row order."""
    digest = hashlib.sha256()
    daily = source.ingested.daily.sort_values(["unit", "date"])
    digest.update(pd.util.hash_pandas_object(daily, index=False).to_numpy().tobytes())
    if source.guest_nights is not None:
        digest.update(pd.util.hash_pandas_object(source.guest_nights, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def unit_ratios(source: Source, settings: TrainSettings) -> dict[str, StaffingRatios]:
    """Staffing ratios per unit: the settings', overridden by the units file's ratio columns (e.g. `rn_night`)."""
    if source.units_table is None:
        return {}
    return ratios_per_unit(source.units_table, settings.staffing)


def hierarchy_of(source: Source) -> pd.DataFrame | None:
    """`unit, hospital, region` from the units file or the episodes, when every unit has both."""
    daily = source.ingested.daily
    return hierarchy.hierarchy_from([source.units_table, daily], sorted(daily["unit"].unique()))
