"""Production accuracy: the forecast made at training against the census of the days since, per unit.

The data scientist's question "is the one in production still good?" gets the backtest's own measures on the days
that have actuals: MASE (scaled by the unit's weekly seasonal-naive error in its recent history, as in the
backtest), coverage of the 80 % and 95 % intervals, the share of days the census exceeded the beds planned at the
overflow risk, and bias. A status sums them up in words:

- `drifted`: the census left the 95 % interval far more often than 5 % of days (binomial tail below 0.1 %), or
  the MASE so far is more than twice the backtest's after a week while the intervals are missed more than chance
  would give (a large MASE alone can be one unlucky stretch, which the intervals allow for);
- `watch`: the same tests at the 5 % level (also for the 80 % interval), or MASE above 1.5 × the backtest's;
- `ok`: none of these.

Each test runs on all days since training and on the last 14; the worse status counts (a shift weeks after
training would otherwise hide among the good days before it).

The MASE so far covers the first days of the forecast, which are its easiest; the backtest's averages the whole
horizon, so a ratio above 1 is already a sign. Only counts per unit and day enter; no episode row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import betainc

from forecast.beds import BedPolicy, beds_at_overflow_risk
from forecast.bundle import ForecastBundle

__all__ = ["STATUSES", "UnitMonitor", "monitor", "monitor_by_day"]

STATUSES = ("ok", "watch", "drifted")
DRIFTED_P, WATCH_P = 0.001, 0.05
DRIFTED_RATIO, WATCH_RATIO = 2.0, 1.5
RUN_DAYS = 3
RECENT_DAYS = 14
RATIO_AFTER_DAYS = 7  # a MASE of fewer days is too noisy to judge by


@dataclass(frozen=True)
class UnitMonitor:
    """One unit's production accuracy since training (see the module's docstring)."""

    unit: str
    days: int
    first_day: pd.Timestamp | None
    last_day: pd.Timestamp | None
    mase: float | None
    backtest_mase: float | None
    mae: float | None
    bias: float | None
    coverage_80: float | None
    coverage_95: float | None
    over_beds_at_risk: float | None
    overflow_risk: float
    status: str
    reason: str


def _scale(history: pd.DataFrame, unit: str) -> float:
    """The unit's in-sample weekly seasonal-naive MAE of its census (the MASE denominator)."""
    census = history.loc[history["unique_id"] == unit].sort_values("ds")["census"].to_numpy(float)
    diffs = np.abs(census[7:] - census[:-7])
    return float(diffs.mean()) if diffs.size and diffs.mean() > 0 else float("nan")


def _tail(outside: int, days: int, share: float) -> float:
    """P(at least `outside` of `days` days outside an interval that misses `share` of days), counting runs of
    `RUN_DAYS` days as one trial: a census above its band today mostly is tomorrow too (the same patients), so
    days are not independent trials and a plain binomial would cry wolf."""
    k, n = outside / RUN_DAYS, days / RUN_DAYS
    # The binomial tail P(X ≥ k) = I_share(k, n − k + 1), which the incomplete beta gives for whole or not.
    return float(betainc(k, n - k + 1, share)) if outside else 1.0


def _judge(m: dict[str, float], backtest: float | None, days: int) -> tuple[str, str]:
    out95, out80 = int(m["outside_95"]), int(m["outside_80"])
    p95, p80 = _tail(out95, days, 0.05), _tail(out80, days, 0.2)
    ratio = m["mase"] / backtest if backtest and np.isfinite(m["mase"]) else float("nan")
    judged_ratio = days >= RATIO_AFTER_DAYS and np.isfinite(ratio)
    direction = "above" if m["bias"] < 0 else "below"
    band = (
        f"the census was outside the 95 % interval on {out95} of {days} days (5 % expected), {direction} the forecast"
    )
    mase = f"MASE so far {m['mase']:.2f} against {backtest:.2f} in the backtest" if judged_ratio else ""
    if p95 < DRIFTED_P:
        return "drifted", f"{band}: the forecast no longer holds; retrain"
    # A large MASE alone may be one unlucky stretch that the intervals allow for: with misses beyond them too,
    # it is drift.
    if judged_ratio and ratio > DRIFTED_RATIO and min(p95, p80) < WATCH_P:
        return "drifted", f"{mase} (over {DRIFTED_RATIO:g}×) and {band}: the forecast no longer holds; retrain"
    if p95 < WATCH_P:
        return "watch", f"{band}: more than chance would give"
    if p80 < WATCH_P:
        return "watch", f"the census was outside the 80 % interval on {out80} of {days} days (20 % expected)"
    if judged_ratio and ratio > WATCH_RATIO:
        return "watch", f"{mase} (over {WATCH_RATIO:g}×)"
    return "ok", f"{days} day(s) since training: errors within what the backtest promised" + (
        f" ({mase})" if mase else ""
    )


def monitor(bundle: ForecastBundle, census: pd.DataFrame, policy: BedPolicy | None = None) -> list[UnitMonitor]:
    """Per unit, the training forecast against the actual census of the days since training.

    Args:
        bundle: the trained bundle (its forecast as made at training).
        census: `unit, ds, census`: the actual midnight census of days after training.
        policy: the bed policy whose overflow risk the beds are planned at (default: the bundle's).
    """
    policy = policy or bundle.meta.policy
    forecast = bundle.forecasts[bundle.forecasts["target"] == "census"]
    out = []
    for unit in bundle.unit_names:
        actual = census[census["unit"] == unit][["ds", "census"]].rename(columns={"census": "y"})
        rows = forecast[forecast["unique_id"] == unit].merge(actual, on="ds").sort_values("ds")
        backtest = bundle.meta.backtest_mase(unit)
        if rows.empty:
            reason = "no days with actuals since training yet: post the episodes of the days after it"
            out.append(
                UnitMonitor(
                    unit,
                    0,
                    None,
                    None,
                    None,
                    backtest,
                    None,
                    None,
                    None,
                    None,
                    None,
                    policy.overflow_risk,
                    "ok",
                    reason,
                )
            )
            continue
        scale = _scale(bundle.history, unit)
        measures = _measures(rows, scale, policy)
        status, reason = _judge(measures, backtest, len(rows))
        if len(rows) > RECENT_DAYS:
            # A shift weeks after training is diluted by the good weeks before it: judge the recent ones too.
            recent_status, recent_reason = _judge(
                _measures(rows.tail(RECENT_DAYS), scale, policy), backtest, RECENT_DAYS
            )
            if STATUSES.index(recent_status) > STATUSES.index(status):
                status, reason = recent_status, f"in the last {RECENT_DAYS} days: {recent_reason}"
        out.append(
            UnitMonitor(
                unit=unit,
                days=len(rows),
                first_day=pd.Timestamp(rows["ds"].iloc[0]),
                last_day=pd.Timestamp(rows["ds"].iloc[-1]),
                mase=_finite(measures["mase"]),
                backtest_mase=backtest,
                mae=measures["mae"],
                bias=measures["bias"],
                coverage_80=measures["coverage_80"],
                coverage_95=measures["coverage_95"],
                over_beds_at_risk=measures["over_beds_at_risk"],
                overflow_risk=policy.overflow_risk,
                status=status,
                reason=reason,
            )
        )
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _measures(rows: pd.DataFrame, scale: float, policy: BedPolicy) -> dict[str, float]:
    y, mean = rows["y"].to_numpy(float), rows["mean"].to_numpy(float)
    error = mean - y
    beds = np.asarray(beds_at_overflow_risk(rows, policy.overflow_risk), dtype=float)
    inside_80 = ((y >= rows["q0.1"]) & (y <= rows["q0.9"])).to_numpy()
    inside_95 = ((y >= rows["q0.025"]) & (y <= rows["q0.975"])).to_numpy()
    return {
        "outside_80": float((~inside_80).sum()),
        "outside_95": float((~inside_95).sum()),
        "mae": float(np.abs(error).mean()),
        "mase": float(np.abs(error).mean() / scale) if np.isfinite(scale) else float("nan"),
        "bias": float(error.mean()),
        "coverage_80": float(inside_80.mean()),
        "coverage_95": float(inside_95.mean()),
        "over_beds_at_risk": float((y > beds).mean()),
    }


def monitor_by_day(bundle: ForecastBundle, census: pd.DataFrame, policy: BedPolicy | None = None) -> pd.DataFrame:
    """The monitoring as it stood at the end of each day since training: `day, step` (days since training) and
    the `UnitMonitor` fields per unit; what a monitoring run logs as metrics by step."""
    end = bundle.first_forecast_day - pd.Timedelta(days=1)
    frames = []
    for day in sorted(pd.to_datetime(census["ds"]).unique()):
        so_far = census[census["ds"] <= day]
        rows = pd.DataFrame([vars(m) for m in monitor(bundle, so_far, policy)])
        rows.insert(0, "day", pd.Timestamp(day))
        rows.insert(1, "step", (pd.Timestamp(day) - end).days)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
