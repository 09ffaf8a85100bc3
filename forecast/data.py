"""Read and validate admission data (episodes or daily counts) and turn it into a daily frame per unit.

Two input contracts (see DESIGN.md):
- episodes: `episode_id, unit, admitted_at, discharged_at, admission_type` (+ optional `hospital`, `region`);
- daily counts: `unit, date` and one or more of `admissions, census, admissions_acute, admissions_elective,
  discharges` (other columns, e.g. event flags, are kept as candidate regressors).

Every problem is reported with its row number (1 = the first row after the header) and field. Episodes are
health data: messages name the row, the field and the `episode_id`, never the rest of the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from forecast.los import length_of_stay, survival_curve, warmup_days
from forecast.stays import TRANSFER_COLUMNS, mark_transfers, sequence_problems, stay_gaps

__all__ = [
    "ADMISSION_TYPES",
    "COUNT_COLUMNS",
    "EPISODE_COLUMNS",
    "Ingested",
    "InputError",
    "LONGEST_PLAUSIBLE_STAY",
    "Problem",
    "UnreadableFile",
    "daily_from_episodes",
    "detect_kind",
    "implausible_episodes",
    "ingest",
    "ingest_file",
    "parse_local_dates",
    "current_beds",
    "read_guest_nights",
    "read_table",
    "read_units",
    "unit_summary",
    "validate_daily_counts",
    "validate_episodes",
]

EPISODE_COLUMNS = ("episode_id", "unit", "admitted_at", "discharged_at", "admission_type")
COUNT_COLUMNS = ("admissions", "census", "admissions_acute", "admissions_elective", "discharges")
ADMISSION_TYPES = ("acute", "elective")
DEFAULT_TIMEZONE = "Europe/Stockholm"
OPTIONAL_EPISODE_COLUMNS = ("hospital", "region")
# Stays longer than this are kept but reported: almost always a mistyped date or a discharge never recorded.
LONGEST_PLAUSIBLE_STAY = 365

Kind = Literal["episodes", "daily_counts"]

# An ISO timestamp that carries its own offset: "…Z", "…+01:00", "…-0500".
_TZ_SUFFIX = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, precise enough to find and fix."""

    row: int | None
    field: str
    message: str
    episode_id: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "input"
        who = f" (episode_id {self.episode_id})" if self.episode_id else ""
        return f"{where}, field {self.field}{who}: {self.message}"


class InputError(ValueError):
    """The input cannot be used as it is; `problems` says where and why, `source` names the file if any."""

    def __init__(self, problems: list[Problem], shown: int = 20, source: str | Path | None = None):
        self.problems = problems
        self.source = source
        lines = [str(p) for p in problems[:shown]]
        if len(problems) > shown:
            lines.append(f"… and {len(problems) - shown} more")
        where = f"{source}: " if source is not None else ""
        if len(problems) == 1 and problems[0].row is None:
            super().__init__(f"{where}{problems[0]}")
            return
        header = f"{where}{len(problems)} problem(s) in the input (rows are numbered from 1 after the header):"
        super().__init__("\n".join([header, *("  " + line for line in lines)]))


class UnreadableFile(ValueError):
    """A file that cannot be read as a table at all; the message names the file and what is wrong with it."""


@dataclass
class Ingested:
    """The result of ingestion: the daily frame, the rejected rows and a report of what was done."""

    kind: Kind
    daily: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    exact_duplicates: int = 0
    open_stays: int = 0
    filled_days: int = 0
    warmup: dict[str, int] = field(default_factory=dict)
    # Values kept but unlikely to be true (see `implausible_episodes`): row, field and episode_id only.
    warnings: list[Problem] = field(default_factory=list)
    # The validated episodes, kept in memory for the flow model's length of stay; never written out.
    episodes: pd.DataFrame | None = None

    @cached_property
    def last_day(self) -> pd.Timestamp:
        """The data's last day: the forecast origin, the end of the stays known, the bundle's last history day."""
        return pd.Timestamp(self.daily["date"].max())

    def report(self) -> list[str]:
        """Lines a person reads after an ingest run."""
        daily = self.daily
        lines = [
            f"read {self.rows_read} rows of {self.kind.replace('_', ' ')}",
            f"{daily['unit'].nunique()} unit(s), {daily['date'].min():%Y-%m-%d} .. {daily['date'].max():%Y-%m-%d}",
        ]
        if self.exact_duplicates:
            lines.append(f"dropped {self.exact_duplicates} exact duplicate row(s)")
        if len(self.rejects):
            lines.append(f"rejected {len(self.rejects)} row(s) (see the rejects file)")
        transfers = int(self.daily["transfers_in"].sum()) if "transfers_in" in self.daily.columns else 0
        if transfers:
            lines.append(f"{transfers} transfer(s) between units: counted where the patient lies each midnight")
        if self.open_stays:
            lines.append(f"{self.open_stays} stay(s) without a discharge counted as still in bed")
        if self.filled_days:
            lines.append(f"filled {self.filled_days} missing day(s) by linear interpolation")
        for unit, days in self.warmup.items():
            if days:
                lines.append(f"{unit}: census incomplete for the first {days} day(s) (stays begun before the extract)")
        if self.warnings:
            lines.append(f"{len(self.warnings)} implausible value(s) kept as they are: check the rows warned about")
        return lines

    def warning_lines(self, shown: int = 20) -> list[str]:
        """One line per implausible value (row, field, episode_id), at most `shown` and a count of the rest."""
        lines = [f"warning: {w}" for w in self.warnings[:shown]]
        if len(self.warnings) > shown:
            lines.append(f"warning: … and {len(self.warnings) - shown} more")
        return lines


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, with or without a byte-order mark) or Parquet file; CSV values stay text so that
    validation sees what was written.

    Raises:
        FileNotFoundError: no such file.
        UnreadableFile: a folder, an empty file, text that is not UTF-8, a malformed CSV or Parquet file; the
            message names the file and what is wrong (never its content: it may be patient data).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise UnreadableFile(f"{path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise UnreadableFile(f"{path}: the file is empty (expected a header row, then one row per record)")
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            return pd.read_parquet(path)
        except (ValueError, OSError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise UnreadableFile(f"{path}: not a readable Parquet file ({_first_line(error)})") from None
    try:
        # utf-8-sig: spreadsheet programs' "CSV UTF-8" starts with a byte-order mark, which is not a column name.
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(_not_utf8(path)) from None
    except pd.errors.EmptyDataError:
        raise UnreadableFile(f"{path}: no header row (the file holds only blank lines)") from None
    except pd.errors.ParserError as error:
        raise UnreadableFile(f"{path}: not a well-formed CSV file ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _not_utf8(path: Path) -> str:
    """Where a file stops being UTF-8 (line and byte value, nothing of the text) and how to fix it."""
    raw = path.read_bytes()
    if raw.startswith(b"PK\x03\x04"):
        return f"{path}: a zip archive (an Excel workbook?), not a CSV file; save it as CSV UTF-8"
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        byte = raw[error.start]
        return (
            f"{path}: not UTF-8 text (line {line} has the byte 0x{byte:02x}; a Latin-1 or Windows-1252 file?); "
            "save it as UTF-8 (e.g. CSV UTF-8) and try again"
        )
    return f"{path}: not UTF-8 text; save it as UTF-8 (e.g. CSV UTF-8) and try again"


def read_units(path: str | Path) -> pd.DataFrame:
    """A units file: `unit, beds` and optionally `hospital, region` and staffing-ratio columns."""
    units = read_table(path)
    if not {"unit", "beds"} <= set(units.columns):
        raise ValueError(f"{path}: a units file needs the columns unit, beds")
    return units


def read_guest_nights(path: str | Path) -> pd.DataFrame:
    """A guest-nights file: `date, guest_nights`, daily or monthly (values that are not numbers become missing).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a column missing.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"no such guest-nights file: {path}")
    frame = read_table(path)
    if not {"date", "guest_nights"} <= set(frame.columns):
        raise ValueError(f"{path}: a guest-nights file needs the columns date, guest_nights")
    frame["date"] = pd.to_datetime(frame["date"])
    frame["guest_nights"] = pd.to_numeric(frame["guest_nights"], errors="coerce")
    return frame


def current_beds(units: pd.DataFrame, source: str | Path = "units file") -> pd.Series:
    """Beds per unit; an empty cell means unknown, anything but a whole number ≥ 0 is an error naming the row."""
    text = units["beds"].astype("string").fillna("").str.strip()
    beds = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & (beds.isna() | (beds < 0) | (beds % 1 != 0))
    if bad.any():
        rows = ", ".join(f"row {i + 1} ({units['unit'].iloc[i]})" for i in bad.to_numpy().nonzero()[0][:10])
        raise ValueError(f"{source}: field beds must be a whole number of beds (or empty if unknown): {rows}")
    repeated = units["unit"][units["unit"].duplicated()]
    if len(repeated):
        raise ValueError(f"{source}: unit {repeated.iloc[0]} is listed more than once")
    return beds.set_axis(units["unit"]).dropna().astype(int)


def detect_kind(columns: Iterable[str]) -> Kind:
    """Tell episodes from daily counts by their columns."""
    cols = set(columns)
    if {"admitted_at", "episode_id"} & cols:
        return "episodes"
    if "date" in cols:
        return "daily_counts"
    raise InputError(
        [
            Problem(
                None,
                "columns",
                f"neither episodes (needs {', '.join(EPISODE_COLUMNS)}) nor daily counts (needs unit, date and "
                f"one of {', '.join(COUNT_COLUMNS)}); found: {', '.join(sorted(cols)) or 'no columns'}",
            )
        ]
    )


def _require_columns(raw: pd.DataFrame, required: Iterable[str]) -> None:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns))
        raise InputError([Problem(None, c, f"missing column (found: {found})") for c in missing])


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, empty where missing."""
    return values.where(values.notna(), "").astype(str).str.strip()


def parse_local_dates(values: pd.Series, timezone: str = DEFAULT_TIMEZONE) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse ISO dates or timestamps into local wall-clock timestamps.

    Timestamps with an offset (`Z`, `+01:00`) are converted to `timezone` first, so a stay logged at
    `2024-03-01T23:30:00Z` lands on 2 March in Stockholm.

    Returns:
        `(timestamps, missing, bad)`: tz-naive local timestamps (NaT where missing or bad), a mask of empty
        values and a mask of values that are not dates.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        local = values.dt.tz_convert(timezone).dt.tz_localize(None)
        return local, local.isna(), pd.Series(False, index=values.index)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values, values.isna(), pd.Series(False, index=values.index)
    text = _as_text(values)
    missing = text.eq("")
    aware = text.str.contains(_TZ_SUFFIX, regex=True) & ~missing
    local = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    naive_rows = ~aware & ~missing
    if naive_rows.any():
        local[naive_rows] = pd.to_datetime(text[naive_rows], format="ISO8601", errors="coerce")
    if aware.any():
        utc = pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True)
        local[aware] = utc.dt.tz_convert(timezone).dt.tz_localize(None)
    bad = local.isna() & ~missing
    return local, missing, bad


def _row_numbers(frame: pd.DataFrame) -> np.ndarray:
    return np.arange(1, len(frame) + 1)


def validate_episodes(raw: pd.DataFrame, timezone: str = DEFAULT_TIMEZONE) -> tuple[pd.DataFrame, list[Problem], int]:
    """Check episodes row by row.

    Returns:
        `(episodes, problems, exact_duplicates)`: the clean episodes (dates as local calendar dates, a `row`
        column with the input row number, bad rows and exact repeats left out), the problems found, and how many
        exact repeats were dropped.
    """
    _require_columns(raw, EPISODE_COLUMNS)
    # An optional column left empty in every row (stays from a feed that knows no hospital) is no column.
    extra = [c for c in OPTIONAL_EPISODE_COLUMNS if c in raw.columns and _as_text(raw[c]).ne("").any()]
    rows = _row_numbers(raw)
    text = pd.DataFrame({c: _as_text(raw[c]) for c in ("episode_id", "unit", "admission_type", *extra)})
    text["admission_type"] = text["admission_type"].str.lower()
    admitted, adm_missing, adm_bad = parse_local_dates(raw["admitted_at"], timezone)
    discharged, _, dis_bad = parse_local_dates(raw["discharged_at"], timezone)

    checks: list[tuple[str, pd.Series, str]] = [
        ("episode_id", text["episode_id"].eq(""), "missing episode_id"),
        ("unit", text["unit"].eq(""), "missing unit"),
        (
            "admission_type",
            ~text["admission_type"].isin(ADMISSION_TYPES),
            f"admission_type must be one of {', '.join(ADMISSION_TYPES)}",
        ),
        ("admitted_at", adm_missing, "missing admission date"),
        ("admitted_at", adm_bad, "not an ISO date or timestamp (YYYY-MM-DD[ HH:MM[:SS][+HH:MM]])"),
        (
            "discharged_at",
            dis_bad,
            "not an ISO date or timestamp (leave it empty for a patient still in bed)",
        ),
        ("discharged_at", discharged < admitted, "discharge is before admission"),
    ]
    ids = text["episode_id"].to_numpy()
    problems = [
        Problem(int(rows[i]), name, message, ids[i] or None)
        for name, mask, message in checks
        for i in np.flatnonzero(mask.to_numpy())
    ]

    # The same stay twice: an exact repeat is harmless and dropped; a repeat that differs is ambiguous. A stay is
    # an episode's time in one unit from one day: an episode may have several (ward stays, see forecast.stays).
    content = pd.concat(
        [
            text,
            admitted.rename("admitted_at"),
            discharged.rename("discharged_at"),
        ],
        axis=1,
    )
    exact_repeat = content.duplicated(keep="first") & text["episode_id"].ne("")
    distinct = content[~exact_repeat].assign(admitted_day=admitted.dt.normalize())
    stay_key = ["episode_id", "unit", "admitted_day"]
    clash = distinct.duplicated(stay_key, keep=False) & distinct["episode_id"].ne("") & distinct["admitted_day"].notna()
    for (episode_id, _, _), group in distinct[clash].groupby(stay_key, sort=False):
        positions = raw.index.get_indexer(group.index)
        where = ", ".join(str(rows[p]) for p in positions)
        problems.extend(
            Problem(
                int(rows[p]),
                "episode_id",
                f"the same stay (episode_id, unit, admission day) repeated with different content (rows {where})",
                str(episode_id),
            )
            for p in positions
        )

    bad_rows = [p.row for p in problems if p.row is not None]
    keep = ~exact_repeat.to_numpy() & ~np.isin(rows, bad_rows)
    episodes = pd.DataFrame(
        {
            "row": rows[keep],
            "episode_id": text["episode_id"].to_numpy()[keep],
            "unit": text["unit"].to_numpy()[keep],
            "admitted_at": admitted.dt.normalize().to_numpy()[keep],
            "discharged_at": discharged.dt.normalize().to_numpy()[keep],
            "admission_type": text["admission_type"].to_numpy()[keep],
            **{c: text[c].to_numpy()[keep] for c in extra},
        }
    )
    out_of_sequence = sequence_problems(episodes)
    problems.extend(Problem(row, "admitted_at", message, episode_id) for row, _, episode_id, message in out_of_sequence)
    episodes = episodes[~episodes["row"].isin([row for row, _, _, _ in out_of_sequence])]
    episodes = mark_transfers(episodes.reset_index(drop=True))
    problems.sort(key=lambda p: (p.row or 0, p.field))
    return episodes, problems, int(exact_repeat.sum())


def daily_from_episodes(episodes: pd.DataFrame, missing_share: float = 0.01) -> pd.DataFrame:
    """Daily admissions, transfers, discharges and midnight census per unit from validated episodes (ward stays).

    The census of day d counts stays with `admitted_at` ≤ d < `discharged_at`, in the unit of the stay: a patient
    transferred on day d lies in the new unit that midnight. Stays without a discharge are in bed through the
    last day of the extract (the last admission date in the file). A unit's admissions are the episodes' first
    stays; its transfers in are the later ones (see `forecast.stays`). Every day from a unit's first arrival to
    the end of the extract is present, zero-filled. `warmup` marks the first days, where the census misses
    patients admitted before the extract began (see `forecast.los.warmup_days`).

    Args:
        episodes: output of `validate_episodes`.
        missing_share: the share of the census that may be missing once warm-up is over.

    Returns:
        Columns `unit, date, admissions, admissions_acute, admissions_elective, transfers_in, discharges,
        transfers_out, census, warmup`, plus `hospital` and `region` when the episodes carry them.
    """
    if episodes.empty:
        raise InputError([Problem(None, "episode_id", "no valid episodes to count")])
    if not set(TRANSFER_COLUMNS) <= set(episodes.columns):
        episodes = mark_transfers(episodes)
    start = episodes["admitted_at"].min()
    end = episodes["admitted_at"].max()
    n_days = (end - start).days + 1
    codes, units = pd.factorize(episodes["unit"], sort=True)
    admit_day = (episodes["admitted_at"] - start).dt.days.to_numpy()
    discharge_day = (episodes["discharged_at"] - start).dt.days.to_numpy()  # NaN where open
    discharged_in_extract = ~np.isnan(discharge_day) & (discharge_day <= n_days - 1)

    def per_unit_day(mask: np.ndarray, day: np.ndarray) -> np.ndarray:
        slots = codes[mask] * n_days + day[mask].astype(np.int64)
        return np.bincount(slots, minlength=len(units) * n_days).reshape(len(units), n_days)

    moved_in = episodes["transfer_in"].to_numpy(bool)
    moved_out = episodes["transfer_out"].to_numpy(bool)
    acute = episodes["admission_type"].eq("acute").to_numpy()
    admissions = per_unit_day(~moved_in, admit_day)
    admissions_acute = per_unit_day(acute & ~moved_in, admit_day)
    transfers_in = per_unit_day(moved_in, admit_day)
    discharges = per_unit_day(discharged_in_extract & ~moved_out, discharge_day)
    transfers_out = per_unit_day(discharged_in_extract & moved_out, discharge_day)
    census = (admissions + transfers_in).cumsum(axis=1) - (discharges + transfers_out).cumsum(axis=1)

    days, closed = length_of_stay(episodes["admitted_at"], episodes["discharged_at"], end)
    frames = []
    for code, unit in enumerate(units):
        first = int(admit_day[codes == code].min())
        in_unit = codes == code
        warm = warmup_days(survival_curve(days[in_unit], closed[in_unit]), missing_share)
        span = slice(first, n_days)
        frames.append(
            pd.DataFrame(
                {
                    "unit": unit,
                    "date": pd.date_range(start + pd.Timedelta(days=first), end, freq="D"),
                    "admissions": admissions[code, span],
                    "admissions_acute": admissions_acute[code, span],
                    "admissions_elective": admissions[code, span] - admissions_acute[code, span],
                    "transfers_in": transfers_in[code, span],
                    "discharges": discharges[code, span],
                    "transfers_out": transfers_out[code, span],
                    "census": census[code, span],
                    # Warm-up counts from the start of the extract: a unit that opened later has none.
                    "warmup": np.arange(first, n_days) < warm,
                }
            )
        )
    daily = pd.concat(frames, ignore_index=True)
    for column in OPTIONAL_EPISODE_COLUMNS:
        if column in episodes.columns:
            first_value = episodes.groupby("unit")[column].first()
            daily.insert(1, column, daily["unit"].map(first_value))
    return daily


def implausible_episodes(
    episodes: pd.DataFrame, extract_end: pd.Timestamp | None = None, end_name: str = "the extract's end"
) -> list[Problem]:
    """Values that pass validation but are unlikely to be true: stays over a year, admissions after the
    extract's end.

    Only the row number, the field and the episode_id are named: never a date or anything else of the row.

    Args:
        episodes: output of `validate_episodes` (with its `row` column).
        extract_end: the last day the extract covers; default the last discharge in the episodes (discharges
            are recorded up to the day of the extract, so no admission comes after the last of them).
        end_name: what `extract_end` is, in the messages (e.g. "today" for episodes sent to the API).
    """
    if episodes.empty:
        return []
    admitted, discharged = episodes["admitted_at"], episodes["discharged_at"]
    end = extract_end if extract_end is not None else discharged.max()
    if pd.isna(end):  # no discharge at all: nothing tells where the extract ends
        end = admitted.max()
    end = pd.Timestamp(end).normalize()
    longest = pd.Timedelta(days=LONGEST_PLAUSIBLE_STAY)
    open_stay = discharged.isna()
    checks: list[tuple[str, pd.Series, str]] = [
        ("discharged_at", ~open_stay & (discharged - admitted > longest), "a stay of over a year: check the dates"),
        (
            "discharged_at",
            open_stay & (admitted <= end) & (end - admitted > longest),
            "still in bed over a year after admission at the extract's end: a discharge not recorded?",
        ),
        (
            "admitted_at",
            admitted > end,
            f"admitted after {end_name} ({end:%Y-%m-%d}"
            + (")" if extract_end is not None else ", the last discharge in the input)")
            + ": a mistyped date?",
        ),
    ]
    if episodes["episode_id"].duplicated().any():
        gap = stay_gaps(episodes)
        checks.append(
            (
                "admitted_at",
                gap > 0,
                "begins days after the previous stay of its episode ended: a leave, or a stay missing?",
            )
        )
    rows, ids = episodes["row"].to_numpy(), episodes["episode_id"].to_numpy()
    found = [
        Problem(int(rows[i]), name, message, str(ids[i]) or None)
        for name, mask, message in checks
        for i in np.flatnonzero(mask.to_numpy())
    ]
    return sorted(found, key=lambda p: (p.row or 0, p.field))


def _parse_count(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Counts as numbers and a mask of values that are missing, not numbers, negative or fractional."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        number = values.astype(float)
    else:
        number = pd.to_numeric(_as_text(values), errors="coerce")
    bad = number.isna() | (number < 0) | (number != np.floor(number))
    return number, bad


def validate_daily_counts(raw: pd.DataFrame, timezone: str = DEFAULT_TIMEZONE) -> tuple[pd.DataFrame, list[Problem]]:
    """Check daily counts row by row.

    Returns:
        `(daily, problems)`: the clean rows (counts as integers, other columns kept, numeric where they can be;
        a `row` column with the input row number) and the problems found.
    """
    _require_columns(raw, ("unit", "date"))
    counts = [c for c in COUNT_COLUMNS if c in raw.columns]
    labels = [c for c in OPTIONAL_EPISODE_COLUMNS if c in raw.columns]
    others = [c for c in raw.columns if c not in ("unit", "date", *counts, *labels)]
    if not counts and not others:
        raise InputError(
            [
                Problem(
                    None,
                    "columns",
                    f"daily counts need a column to forecast, e.g. one of: {', '.join(COUNT_COLUMNS)}",
                )
            ]
        )
    rows = _row_numbers(raw)
    unit = _as_text(raw["unit"])
    stamps, date_missing, date_bad = parse_local_dates(raw["date"], timezone)
    date = stamps.dt.normalize()
    problems: list[Problem] = []

    def add(mask: pd.Series | np.ndarray, name: str, message: str) -> None:
        problems.extend(Problem(int(rows[i]), name, message) for i in np.flatnonzero(np.asarray(mask)))

    add(unit.eq(""), "unit", "missing unit")
    add(date_missing, "date", "missing date")
    add(date_bad, "date", "not an ISO date (YYYY-MM-DD)")
    parsed = {}
    for column in counts:
        parsed[column], bad = _parse_count(raw[column])
        add(bad, column, "must be a whole number ≥ 0")
    # Other columns are series to forecast (`--column`) or regressors with known future values: numbers.
    for column in others:
        parsed[column] = pd.to_numeric(_as_text(raw[column]), errors="coerce")
        add(parsed[column].isna(), column, "must be a number")
    key = pd.DataFrame({"unit": unit, "date": date})
    repeated = key.duplicated(keep=False) & date.notna() & unit.ne("")
    for (u, d), group in key[repeated].groupby(["unit", "date"], sort=False):
        where = ", ".join(str(rows[p]) for p in raw.index.get_indexer(group.index))
        add(raw.index.isin(group.index), "date", f"({u}, {d:%Y-%m-%d}) appears more than once (rows {where})")

    bad_rows = np.isin(rows, [p.row for p in problems if p.row is not None])
    daily = pd.DataFrame({"row": rows, "unit": unit, "date": date})
    for column in labels:
        daily.insert(2, column, _as_text(raw[column]))
    for column in counts:
        daily[column] = parsed[column].fillna(0).astype(np.int64)
    for column in others:
        values = parsed[column]
        whole = values.dropna().eq(np.floor(values.dropna())).all()
        daily[column] = values.fillna(0).astype(np.int64) if whole else values
    problems.sort(key=lambda p: (p.row or 0, p.field))
    return daily[~bad_rows].reset_index(drop=True), problems


def _missing_days(daily: pd.DataFrame) -> list[Problem]:
    problems = []
    for unit, group in daily.groupby("unit", sort=True):
        expected = pd.date_range(group["date"].min(), group["date"].max(), freq="D")
        missing = expected.difference(pd.DatetimeIndex(group["date"]))
        if len(missing):
            shown = ", ".join(f"{d:%Y-%m-%d}" for d in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            problems.append(Problem(None, "date", f"unit {unit} has no row for {len(missing)} day(s): {shown}{more}"))
    return problems


def _fill_missing_days(daily: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Give every unit every day; counts on added days are interpolated between their neighbours."""
    numeric = [c for c in daily.columns if c not in ("unit", "date") and pd.api.types.is_numeric_dtype(daily[c])]
    frames, filled = [], 0
    for unit, group in daily.groupby("unit", sort=True):
        full = group.set_index("date").reindex(pd.date_range(group["date"].min(), group["date"].max(), freq="D"))
        filled += int(full["unit"].isna().sum())
        full["unit"] = unit
        labels = [c for c in full.columns if c not in numeric]
        full[labels] = full[labels].ffill()
        full[numeric] = full[numeric].interpolate(limit_direction="both").round()
        frames.append(full.rename_axis("date").reset_index())
    out = pd.concat(frames, ignore_index=True)[list(daily.columns)]
    for column in numeric:
        if pd.api.types.is_integer_dtype(daily[column].dtype):
            out[column] = out[column].astype(np.int64)
    return out, filled


def _rejects(raw: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """The rejected rows as they were read, with their row number and what was wrong."""
    by_row: dict[int, list[str]] = {}
    for p in problems:
        if p.row is not None:
            by_row.setdefault(p.row, []).append(f"{p.field}: {p.message}")
    positions = [r - 1 for r in sorted(by_row)]
    rejects = raw.iloc[positions].copy()
    rejects.insert(0, "problem", ["; ".join(by_row[r]) for r in sorted(by_row)])
    rejects.insert(0, "row", sorted(by_row))
    return rejects.reset_index(drop=True)


def ingest(raw: pd.DataFrame, *, lenient: bool = False, timezone: str = DEFAULT_TIMEZONE) -> Ingested:
    """Validate episodes or daily counts and build the daily frame per unit.

    Args:
        raw: the table as read (see `read_table`).
        lenient: set aside bad rows in `rejects` instead of failing; without it any problem raises.
        timezone: local time zone for timestamps that carry an offset.

    Raises:
        InputError: listing every bad row with its field, unless `lenient`; also, always, for problems that
            are not about single rows (missing columns, no usable rows).
    """
    kind = detect_kind(raw.columns)
    if kind == "episodes":
        episodes, problems, exact = validate_episodes(raw, timezone)
        if problems and not lenient:
            raise InputError(problems)
        warnings = implausible_episodes(episodes)
        daily = daily_from_episodes(episodes)
        warm = daily[daily["warmup"]].groupby("unit").size().reindex(daily["unit"].unique(), fill_value=0).to_dict()
        return Ingested(
            kind,
            daily,
            _rejects(raw, problems),
            rows_read=len(raw),
            exact_duplicates=exact,
            open_stays=int(episodes["discharged_at"].isna().sum()),
            warmup={str(k): int(v) for k, v in warm.items()},
            warnings=warnings,
            episodes=episodes.drop(columns="row"),
        )

    daily, problems = validate_daily_counts(raw, timezone)
    gaps = _missing_days(daily) if not daily.empty else []
    if (problems or gaps) and not lenient:
        raise InputError(problems + gaps)
    if daily.empty:
        raise InputError(problems or [Problem(None, "date", "no rows")])
    daily, filled = _fill_missing_days(daily.drop(columns="row"))
    daily["warmup"] = False
    return Ingested(kind, daily, _rejects(raw, problems), rows_read=len(raw), filled_days=filled)


def ingest_file(path: str | Path, *, lenient: bool = False, timezone: str = DEFAULT_TIMEZONE) -> Ingested:
    """`ingest` on a CSV or Parquet file; its problems name the file.

    Raises:
        FileNotFoundError, UnreadableFile: see `read_table`.
        InputError: see `ingest`.
    """
    raw = read_table(path)
    try:
        return ingest(raw, lenient=lenient, timezone=timezone)
    except InputError as error:
        raise InputError(error.problems, source=path) from None


def unit_summary(daily: pd.DataFrame, beds: pd.Series | None = None) -> pd.DataFrame:
    """One line per unit: the period, admissions a day and the census after warm-up (against beds if known).

    Args:
        daily: a daily frame from `ingest`.
        beds: current beds indexed by unit, if known.
    """
    settled = daily[~daily["warmup"]] if "warmup" in daily.columns else daily
    grouped = settled.groupby("unit", sort=True)
    summary = pd.DataFrame(
        {
            "first_day": daily.groupby("unit")["date"].min().dt.strftime("%Y-%m-%d"),
            "last_day": daily.groupby("unit")["date"].max().dt.strftime("%Y-%m-%d"),
            "days": grouped.size(),
        }
    )
    for column in ("admissions", "admissions_acute", "admissions_elective"):
        if column in daily.columns:
            summary[f"{column}_per_day"] = grouped[column].mean().round(1)
    if "census" in daily.columns:
        summary["mean_census"] = grouped["census"].mean().round(1)
        summary["p90_census"] = grouped["census"].quantile(0.9)
        summary["max_census"] = grouped["census"].max()
        if beds is not None:
            summary["beds"] = beds.reindex(summary.index).astype("Int64")
            summary["mean_occupancy"] = (summary["mean_census"] / summary["beds"]).round(2)
    return summary.rename_axis("unit").reset_index()
