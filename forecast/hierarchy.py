"""Units, hospitals and regions: forecasts that add up, and the beds a pool of units needs.

A region plans beds for its hospitals, a hospital for its units. Forecast each level on its own and the unit
forecasts will not add up to the hospital's; `reconcile` makes them coherent (hierarchicalforecast's MinTrace
with non-negative forecasts, or bottom-up), using the backtest's out-of-sample errors to weigh the levels.

Beds are another matter: a hospital that may move patients between units (or open surge beds anywhere) needs the
(1 − risk) quantile of its *summed* census, which is smaller than the sum of its units' quantiles because their
peaks do not all fall on the same day. The summed census' distribution comes either from the total's own
forecast (the engine run on the total series: quantiles from the total's backtest errors, which carry whatever
the units have in common, winter peaks and tourism) or, with no such forecast, from the unit distributions taken
as independent (`independent_totals`; optimistic when units rise and fall together). `pooled_plan` shows the
difference: the pooling gain.

Ids: a unit keeps its id; a hospital's and a region's total take the hospital's and the region's name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.backtest import Backtest, choice_point
from forecast.beds import BedPolicy, Period, beds_at_overflow_risk, daily_bed_plan, period_plan
from forecast.calibration import apply_error_quantiles, error_quantiles
from forecast.quantiles import LEVELS, column, columns

__all__ = [
    "LEVELS_OF_CARE",
    "METHODS",
    "aggregate",
    "choose_method",
    "hierarchy_from",
    "independent_totals",
    "pool_period_plan",
    "pooled_plan",
    "pooled_totals",
    "reconcile",
    "reconciliation_backtest",
    "summing_matrix",
    "validate_hierarchy",
]

LEVELS_OF_CARE: tuple[str, ...] = ("region", "hospital", "unit")
# bottom_up keeps the unit forecasts; the MinTrace variants move every level, weighed by its errors.
METHODS: tuple[str, ...] = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")
_TAGS = {"region": "region", "hospital": "region/hospital", "unit": "region/hospital/unit"}


def validate_hierarchy(hierarchy: pd.DataFrame) -> pd.DataFrame:
    """The hierarchy as text columns `unit, hospital, region`, one row per unit, sorted.

    Raises:
        ValueError: a missing column, a unit listed twice, a hospital in two regions, or a name used at two levels
            (ids must say which total they are).
    """
    missing = [c for c in ("unit", "hospital", "region") if c not in hierarchy.columns]
    if missing:
        raise ValueError(f"the hierarchy needs the columns unit, hospital, region; missing {', '.join(missing)}")
    frame = hierarchy[["unit", "hospital", "region"]].astype(str)
    twice = frame["unit"][frame["unit"].duplicated()]
    if len(twice):
        raise ValueError(f"unit {twice.iloc[0]!r} is listed more than once in the hierarchy")
    regions = frame.groupby("hospital")["region"].nunique()
    if (regions > 1).any():
        raise ValueError(f"hospital {regions[regions > 1].index[0]!r} is in more than one region")
    names = [set(frame[level]) for level in LEVELS_OF_CARE]
    clash = (names[0] & names[1]) | (names[0] & names[2]) | (names[1] & names[2])
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} names two levels (unit, hospital, region); ids must be unique")
    return frame.sort_values(["region", "hospital", "unit"]).reset_index(drop=True)


def summing_matrix(hierarchy: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The summing matrix and tags in hierarchicalforecast's format.

    Returns:
        `S_df`: `unique_id` (regions, then hospitals, then units) and a 0/1 column per unit;
        `tags`: the ids of each level, keyed `region`, `region/hospital`, `region/hospital/unit`.
    """
    frame = validate_hierarchy(hierarchy)
    units = frame["unit"].to_numpy()
    rows: list[np.ndarray] = []
    tags: dict[str, np.ndarray] = {}
    for level in LEVELS_OF_CARE:
        ids = frame[level].drop_duplicates().to_numpy()
        tags[_TAGS[level]] = ids
        rows.append((frame[level].to_numpy()[None, :] == ids[:, None]).astype(float))
    matrix = np.vstack(rows)
    ids = np.concatenate(list(tags.values()))
    s_df = pd.DataFrame(matrix, columns=units)
    s_df.insert(0, "unique_id", ids)
    return s_df, tags


def aggregate(
    frame: pd.DataFrame, hierarchy: pd.DataFrame, values: Sequence[str] = ("y",), id_col: str = "unique_id"
) -> pd.DataFrame:
    """Unit rows plus hospital and region totals: `values` summed over the units of each, per key.

    The keys are every other column but `values` (e.g. `ds`, or `ds, fold, cutoff, step` for backtest rows), so
    this serves history (`y`) as well as forecasts and backtests (`mean`, `y`). Quantiles do not add up and must
    not be among `values`. Units not in the hierarchy are an error.
    """
    tree = validate_hierarchy(hierarchy).set_index("unit")
    unknown = sorted(set(frame[id_col].astype(str)) - set(tree.index))
    if unknown:
        raise ValueError(f"unit {unknown[0]!r} is not in the hierarchy ({len(unknown)} such units)")
    keys = [c for c in frame.columns if c not in (*values, id_col)]
    pieces = [frame[[id_col, *keys, *values]]]
    for level in ("hospital", "region"):
        owner = frame[id_col].astype(str).map(tree[level])
        total = frame.groupby([owner.rename(id_col), *[frame[k] for k in keys]], sort=True)[list(values)].sum()
        pieces.append(total.reset_index())
    return pd.concat(pieces[::-1], ignore_index=True)


def _time_index(errors: pd.DataFrame) -> pd.Series:
    # Backtest windows may overlap in calendar days; MinTrace only needs the errors of all series aligned, so
    # each (window, day) pair becomes one time step.
    keys = [c for c in ("fold", "ds") if c in errors.columns]
    return errors.groupby(keys, sort=True).ngroup()


def reconcile(
    base: pd.DataFrame,
    hierarchy: pd.DataFrame,
    method: str = "mint_shrink",
    errors: pd.DataFrame | None = None,
    nonnegative: bool = True,
) -> pd.DataFrame:
    """Forecasts of every level made to add up: each unit's, hospital's and region's mean, with its quantiles.

    The means are reconciled; each series' quantiles move with its mean (its calibrated error distribution
    around the reconciled point), so a total keeps the spread of its own forecast — the spread of the summed
    census, not the sum of the units' spreads.

    Args:
        base: `unique_id, ds, mean` and quantile columns for every unit, hospital and region (the engine's
            forecasts of the unit series and of the `aggregate`d totals).
        hierarchy: `unit, hospital, region`.
        method: one of `METHODS`; `bottom_up` keeps the unit means and sums them.
        errors: out-of-sample forecasts of every level, `unique_id, ds, y, mean` (and `fold` when windows
            overlap), e.g. a backtest's `selected` rows; needed by `wls_var` and `mint_shrink`.
        nonnegative: keep reconciled means ≥ 0 (a census cannot be negative).

    Returns:
        `base` with `mean` reconciled, quantiles shifted with it, and the base forecast in `mean_base`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}; known: {', '.join(METHODS)}")
    s_df, tags = summing_matrix(hierarchy)
    ids = set(s_df["unique_id"])
    missing = sorted(ids - set(base["unique_id"].astype(str)))
    if missing:
        raise ValueError(f"the base forecasts lack {len(missing)} series of the hierarchy, e.g. {missing[0]!r}")
    base = base[base["unique_id"].astype(str).isin(ids)].assign(unique_id=lambda f: f["unique_id"].astype(str))
    base = base.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    y_hat = base[["unique_id", "ds", "mean"]]
    if method == "bottom_up":
        units = s_df.columns[1:]
        bottom = y_hat.pivot(index="ds", columns="unique_id", values="mean")[units]
        totals = pd.DataFrame(
            bottom.to_numpy() @ s_df[units].to_numpy().T, index=bottom.index, columns=s_df["unique_id"]
        )
        reconciled = totals.stack().rename("reconciled").reset_index()
    else:
        reconciled = _min_trace(y_hat, s_df, tags, method, errors, nonnegative)
    out = base.merge(reconciled, on=["unique_id", "ds"], how="left", validate="one_to_one")
    shift = (out.pop("reconciled") - out["mean"]).to_numpy()
    out.insert(out.columns.get_loc("mean") + 1, "mean_base", out["mean"])
    out["mean"] = out["mean"] + shift
    grid = [c for c in columns(LEVELS) if c in out.columns]
    if grid:
        values = np.clip(out[grid].to_numpy(float) + shift[:, None], 0, None)
        out[grid] = np.sort(values, axis=1)
    return out


def _min_trace(
    y_hat: pd.DataFrame,
    s_df: pd.DataFrame,
    tags: dict[str, np.ndarray],
    method: str,
    errors: pd.DataFrame | None,
    nonnegative: bool,
) -> pd.DataFrame:
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import MinTrace

    insample = None
    if method in ("wls_var", "mint_shrink"):
        if errors is None:
            raise ValueError(f"{method} weighs the levels by their backtest errors: pass `errors`")
        known = errors[errors["unique_id"].astype(str).isin(s_df["unique_id"])]
        insample = pd.DataFrame(
            {
                "unique_id": known["unique_id"].astype(str).to_numpy(),
                "ds": _time_index(known).to_numpy(),
                "y": known["y"].to_numpy(float),
                "mean": known["mean"].to_numpy(float),
            }
        )
    # hierarchicalforecast wants the same time type in both frames; the forecast days become steps 0..h−1.
    days = np.sort(y_hat["ds"].unique())
    frame = y_hat.assign(ds=np.searchsorted(days, y_hat["ds"].to_numpy()))
    if insample is not None:
        frame = frame.assign(ds=frame["ds"] + int(insample["ds"].max()) + 1)
    engine = HierarchicalReconciliation([MinTrace(method=method, nonnegative=nonnegative)])
    with warnings.catch_warnings():
        # The non-negative MinTrace hands dense matrices to its QP solver, which notes that sparse would be faster.
        warnings.filterwarnings(
            "ignore", message="Converted matrix .* to scipy.sparse", category=UserWarning, module="qpsolvers"
        )
        result = engine.reconcile(Y_hat_df=frame, tags=tags, S_df=s_df, Y_df=insample)
    name = next(c for c in result.columns if c.startswith("mean/"))
    offset = int(frame["ds"].min())
    return pd.DataFrame(
        {
            "unique_id": result["unique_id"].astype(str).to_numpy(),
            "ds": days[result["ds"].to_numpy(int) - offset],
            "reconciled": result[name].to_numpy(float),
        }
    )


def independent_totals(
    forecasts: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital", samples: int = 4000, seed: int = 0
) -> pd.DataFrame:
    """The distribution of each hospital's (or region's) summed census, its units taken as independent.

    Each unit's census is drawn from its quantile grid (inverse distribution, linear between levels, flat beyond
    the outermost ones) and the draws are summed: a Monte Carlo convolution. Use it when the totals have no
    forecast of their own; where units share peaks (winter, tourism) it understates the spread.

    Returns:
        `unique_id` (the hospital or region), `ds`, `mean` and the quantile grid.
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    levels = np.array([q for q in LEVELS if column(q) in forecasts.columns])
    rng = np.random.default_rng(seed)
    owner = forecasts["unique_id"].astype(str).map(tree[level])
    pieces = []
    for (group, day), rows in forecasts.groupby([owner.rename("group"), forecasts["ds"]], sort=True):
        grid = np.maximum.accumulate(np.clip(rows[[column(q) for q in levels]].to_numpy(float), 0, None), axis=1)
        piece = {"unique_id": group, "ds": day, "mean": float(rows["mean"].sum())}
        if len(rows) == 1:  # a pool of one unit is that unit; sampling would only add noise
            piece.update(zip(columns(tuple(levels)), grid[0], strict=True))
            pieces.append(piece)
            continue
        u = np.clip(rng.random((len(rows), samples)), levels[0], levels[-1])
        upper = np.clip(np.searchsorted(levels, u), 1, len(levels) - 1)
        weight = (u - levels[upper - 1]) / (levels[upper] - levels[upper - 1])
        lower_value = np.take_along_axis(grid, upper - 1, axis=1)
        upper_value = np.take_along_axis(grid, upper, axis=1)
        total = (lower_value + weight * (upper_value - lower_value)).sum(axis=0)
        piece.update(zip(columns(tuple(levels)), np.quantile(total, levels), strict=True))
        pieces.append(piece)
    return pd.DataFrame(pieces)


def pooled_totals(
    result: Backtest, forecasts: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital"
) -> pd.DataFrame:
    """The distribution of each pool's summed census from the backtest errors of the sum of its units' forecasts.

    The pool's point forecast is the sum of its units' (coherent by construction); its quantiles are that sum
    plus the quantiles, by horizon step, of the errors the summed forecasts of the units' chosen models made in
    every backtest window — the same windows and choices the unit quantiles come from. Errors that units share
    (a winter peak all of them missed) stay in the sum; errors that cancel out cancel. This is what a pool's
    beds should be sized from.

    Args:
        result: the units' backtest (`forecasts` and `choice`).
        forecasts: the units' forecasts (`unique_id, ds, mean`), e.g. `engine.forecast_units` or reconciled ones.
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`.

    Returns:
        Per pool and day: `unique_id` (the pool), `ds`, `mean` and the quantile grid.
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    windows = []
    for unit, rows in result.forecasts.groupby("unique_id", sort=True):
        if str(unit) not in tree.index:
            continue
        point = choice_point(rows, str(result.choice[unit]))
        windows.append(rows[["fold", "ds", "step", "y"]].assign(point=point, pool=tree.loc[str(unit), level]))
    errors_by_window = pd.concat(windows).groupby(["pool", "fold", "ds", "step"], as_index=False)[["y", "point"]].sum()
    errors_by_window["error"] = errors_by_window["y"] - errors_by_window["point"]
    own = forecasts[forecasts["unique_id"].astype(str).isin(tree.index)]
    summed = own.groupby([own["unique_id"].astype(str).map(tree[level]).rename("unique_id"), own["ds"]], sort=True)[
        "mean"
    ].sum()
    pieces = []
    for pool, rows in summed.reset_index().groupby("unique_id", sort=True):
        point = rows["mean"].to_numpy(float)
        errors = errors_by_window[errors_by_window["pool"] == pool][["step", "error"]]
        grid = apply_error_quantiles(point, error_quantiles(errors, len(point)))
        pieces.append(pd.concat([rows.reset_index(drop=True), grid], axis=1))
    return pd.concat(pieces, ignore_index=True)


def pooled_plan(
    units: pd.DataFrame, totals: pd.DataFrame, hierarchy: pd.DataFrame, level: str = "hospital", risk: float = 0.05
) -> pd.DataFrame:
    """Beds at an overflow risk for each unit on its own, against the same risk for the pool of them.

    Args:
        units: unit forecasts (`unique_id, ds` and the quantile grid).
        totals: the pools' census distributions at `level` (`pooled_totals`, or `independent_totals`, or the
            totals' own reconciled forecasts from `reconcile`).
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`: which units pool their beds.
        risk: the accepted P(census > beds) on a day.

    Returns:
        Per pool and day: `unique_id` (the pool), `ds`, `units`, `beds_units` (the sum of each unit's beds at
        the risk), `beds_pooled` (beds for the summed census at the risk) and `pooling_gain` (their difference:
        beds the pool saves by sharing).
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    own = units[units["unique_id"].astype(str).isin(tree.index)]
    per_unit = own[["unique_id", "ds"]].assign(
        pool=own["unique_id"].astype(str).map(tree[level]).to_numpy(), beds=beds_at_overflow_risk(own, risk)
    )
    summed = per_unit.groupby(["pool", "ds"]).agg(units=("unique_id", "nunique"), beds_units=("beds", "sum"))
    pools = totals[totals["unique_id"].astype(str).isin(set(tree[level]))]
    pooled = pools[["unique_id", "ds"]].assign(beds_pooled=beds_at_overflow_risk(pools, risk))
    plan = summed.reset_index().rename(columns={"pool": "unique_id"})
    plan = plan.merge(pooled.assign(unique_id=pooled["unique_id"].astype(str)), on=["unique_id", "ds"], how="inner")
    plan["pooling_gain"] = plan["beds_units"] - plan["beds_pooled"]
    return plan.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def reconciliation_backtest(
    selected: pd.DataFrame, scale: pd.Series, hierarchy: pd.DataFrame, method: str = "mint_shrink"
) -> pd.DataFrame:
    """What reconciliation does to each unit's accuracy in a backtest of every level.

    Each scored window's forecasts are reconciled with the errors of the *other* windows (cross-fitted: a
    window's own errors never weigh its reconciliation), then scored against the same actuals.

    Args:
        selected: a backtest's `selected` rows for units and totals (`unique_id, ds, fold, y, mean`, quantiles).
        scale: the MASE denominator by `unique_id, fold` (the backtest's seasonal-naive scale).
        hierarchy: `unit, hospital, region`.
        method: one of `METHODS`.

    Returns:
        Per unit: `mase_base`, `mase_reconciled` and `change` (relative; positive is worse).
    """
    tree = validate_hierarchy(hierarchy)
    rows = []
    for fold, window in selected.groupby("fold", sort=True):
        others = selected[selected["fold"] != fold]
        errors = others if len(others) else None
        keep = [c for c in window.columns if c not in ("cutoff", "step", "model")]
        done = reconcile(window[keep].drop(columns="fold"), tree, method, errors)
        done = done[done["unique_id"].isin(set(tree["unit"]))]
        mae = (
            done.assign(base=(done["mean_base"] - done["y"]).abs(), reconciled=(done["mean"] - done["y"]).abs())
            .groupby("unique_id")[["base", "reconciled"]]
            .mean()
        )
        mae = mae.div(scale.xs(fold, level="fold").reindex(mae.index), axis=0)
        rows.append(mae.assign(fold=fold))
    mase = pd.concat(rows).groupby(level=0)[["base", "reconciled"]].mean()
    mase.columns = ["mase_base", "mase_reconciled"]
    mase["change"] = mase["mase_reconciled"] / mase["mase_base"] - 1
    return mase.rename_axis("unique_id").reset_index()


def choose_method(
    selected: pd.DataFrame,
    scale: pd.Series,
    hierarchy: pd.DataFrame,
    methods: Sequence[str] = METHODS,
    tolerance: float = 0.02,
    every_unit: bool = True,
) -> tuple[str, pd.DataFrame]:
    """The reconciliation that serves the units best in the backtest, never one that costs a unit accuracy.

    A method qualifies when no unit's MASE worsens by more than `tolerance` (2 %) — or, with `every_unit` off,
    when the mean unit MASE does not; of those, the lowest mean unit MASE wins, ties to the earlier in
    `methods`. Bottom-up leaves the units as they are, so it always qualifies. (On synthetic countries MinTrace
    lowers the mean unit MASE by a few per cent but moves some single units by more than 2 % either way; see
    `benchmarks/scale.py`.)

    Returns:
        The method, and per method the mean and worst relative change of unit MASE (`mean_change`,
        `worst_change`) with `qualifies`.
    """
    rows = []
    for method in methods:
        per_unit = reconciliation_backtest(selected, scale, hierarchy, method)
        rows.append(
            {
                "method": method,
                "mase": float(per_unit["mase_reconciled"].mean()),
                "mean_change": float(per_unit["mase_reconciled"].mean() / per_unit["mase_base"].mean() - 1),
                "worst_change": float(per_unit["change"].max()),
            }
        )
    table = pd.DataFrame(rows)
    change = table["worst_change"] if every_unit else table["mean_change"]
    table["qualifies"] = (change <= tolerance) | (table["method"] == "bottom_up")
    best = table[table["qualifies"]].sort_values("mase", kind="stable")
    return (str(best["method"].iloc[0]) if len(best) else "bottom_up"), table


def pool_period_plan(
    units: pd.DataFrame,
    pools: pd.DataFrame,
    hierarchy: pd.DataFrame,
    level: str,
    current_beds: pd.Series | None = None,
    policy: BedPolicy | None = None,
    period: Period = "week",
) -> pd.DataFrame:
    """The planner's table for pools of units (hospitals or regions) that share their beds, with the pooling gain.

    Args:
        units: unit census forecasts (`unique_id, ds, mean` and the quantile grid) over the planned days.
        pools: the pools' summed-census distributions over the same days (`pooled_totals`).
        hierarchy: `unit, hospital, region`.
        level: `hospital` or `region`.
        current_beds: today's beds per unit; a pool's are their sum when every unit's are known.
        policy: occupancy targets and the overflow risk (default: DESIGN.md's).
        period: week, month or quarter.

    Returns:
        `period_plan`'s columns per pool (`unique_id` is the pool) plus `beds_units_apart` (the sum of each
        unit's beds at the overflow risk in the period) and `pooling_gain` (those minus the pool's beds).
    """
    if level not in ("hospital", "region"):
        raise ValueError(f"level must be hospital or region, got {level!r}")
    tree = validate_hierarchy(hierarchy).set_index("unit")
    own = units[units["unique_id"].astype(str).isin(tree.index)]
    pool_beds = None
    if current_beds is not None:
        beds_by_unit = pd.Series(current_beds).reindex(tree.index)
        known = beds_by_unit.notna().groupby(tree[level]).all()
        pool_beds = beds_by_unit.groupby(tree[level]).sum()[known]
    policy = policy or BedPolicy()
    table = period_plan(daily_bed_plan(pools.reset_index(drop=True), pool_beds, policy), period)
    apart = period_plan(daily_bed_plan(own.reset_index(drop=True), None, policy), period)
    apart["pool"] = apart["unique_id"].astype(str).map(tree[level])
    summed = apart.groupby(["pool", "period_start"])["beds_risk"].sum().rename("beds_units_apart")
    table = table.merge(summed, left_on=["unique_id", "period_start"], right_index=True, how="left")
    table["pooling_gain"] = table["beds_units_apart"] - table["beds_risk"]
    return table


def hierarchy_from(tables: Sequence[pd.DataFrame | None], units: Sequence[str]) -> pd.DataFrame | None:
    """`unit, hospital, region` for `units` from the first table (units file, daily frame) that has all three.

    None when no table names a hospital and a region for every unit: pools are then unknown.
    """
    wanted = set(units)
    for frame in tables:
        if frame is None or not {"unit", "hospital", "region"} <= set(frame.columns):
            continue
        tree = frame[["unit", "hospital", "region"]].drop_duplicates("unit")
        tree = tree[tree["unit"].isin(wanted)]
        if set(tree["unit"]) == wanted and not tree.isna().any().any():
            return tree.astype(str).sort_values("unit").reset_index(drop=True)
    return None
