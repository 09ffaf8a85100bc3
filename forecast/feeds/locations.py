"""Points of care to units: the mapping file that says which unit a location of the hospital's systems is.

A CSV (or Parquet) file with the columns `location, unit`: `location` is an HL7 point of care (PV1-3.1), or a
FHIR Location's reference (`Location/123`) or display name. Without a file, a location's own name is its unit;
with one, a location not in it is refused (and named), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LocationMap", "read_locations"]


@dataclass(frozen=True)
class LocationMap:
    """Location to unit; `units` empty means every location is its own unit."""

    units: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def unit_of(self, location: str) -> str | None:
        """The unit of a location, or None when a mapping file is given and does not list it."""
        location = location.strip()
        if not self.units:
            return location or None
        return self.units.get(location)


def read_locations(path: str | Path | None) -> LocationMap:
    """The mapping file as a `LocationMap` (an empty one without a file).

    Raises:
        FileNotFoundError, UnreadableFile: see `forecast.data.read_table`.
        ValueError: a column missing, an empty cell or a location listed twice (naming the row).
    """
    if path is None:
        return LocationMap()
    from forecast.data import read_table

    table = read_table(path)
    missing = [c for c in ("location", "unit") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: a locations file needs the columns location, unit (missing {', '.join(missing)})")
    units: dict[str, str] = {}
    for row, (location, unit) in enumerate(zip(table["location"], table["unit"], strict=True), start=1):
        location, unit = str(location).strip(), str(unit).strip()
        if not location or not unit:
            raise ValueError(f"{path}: row {row}: location and unit must both be given")
        if location in units:
            raise ValueError(f"{path}: row {row}: location {location!r} is listed more than once")
        units[location] = unit
    return LocationMap(units, str(path))
