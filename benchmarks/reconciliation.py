"""Hierarchical reconciliation (MinTrace), measured against the unit forecasts production serves.

Forecast each level on its own and the unit forecasts will not add up to their hospital's; `reconcile` makes them
coherent (hierarchicalforecast's MinTrace with non-negative forecasts, or bottom-up), using the backtest's
out-of-sample errors to weigh the levels, and `choose_method` finds the method that serves the units best. On
synthetic countries MinTrace lowers the mean unit MASE by a few per cent but moves some single units by more than
2 % either way, so production does not reconcile; `benchmarks/scale.py` prints the figures. This module lives
here, beside the benchmark that uses it, and needs the `dev` extra (`hierarchicalforecast`).

Ids: a unit keeps its id; a hospital's and a region's total take the hospital's and the region's name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.hierarchy import LEVELS_OF_CARE, validate_hierarchy
from forecast.quantiles import LEVELS, columns

__all__ = ["METHODS", "aggregate", "choose_method", "reconcile", "reconciliation_backtest", "summing_matrix"]

# bottom_up keeps the unit forecasts; the MinTrace variants move every level, weighed by its errors.
METHODS: tuple[str, ...] = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")
_TAGS = {"region": "region", "hospital": "region/hospital", "unit": "region/hospital/unit"}


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
