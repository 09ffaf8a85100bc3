"""The year-ahead protocol: as many scored windows as the history allows, and lead windows that fit in it."""

from __future__ import annotations

import pandas as pd

from forecast import backtest
from forecast.year_ahead import YEAR_HORIZON, year_protocol


def test_lead_windows_fit_the_history_and_give_the_first_choice_three_matured_windows():
    start = pd.Timestamp("2020-01-01")
    assert year_protocol(2 * YEAR_HORIZON) is None  # two years and no slack: nothing to score
    seen = set()
    for days in range(2 * YEAR_HORIZON + 15, 6 * 365, 7):
        folds, step, leads = year_protocol(days)
        last = start + pd.Timedelta(days=days - 1)
        scored = backtest.cutoffs(last, YEAR_HORIZON, folds, step)
        assert scored[0] - start >= pd.Timedelta(days=YEAR_HORIZON)  # the first scored origin has a year behind it
        lead = backtest.lead_cutoffs(scored[0], YEAR_HORIZON, leads)
        # Every lead ends by the first scored origin (so its choice learns from it) ...
        assert all(c + pd.Timedelta(days=YEAR_HORIZON) <= scored[0] for c in lead)
        # ... and beyond the one the protocol always asks for, each has the history a lead window needs.
        if leads > 1:
            assert (lead[0] - start).days >= backtest.MIN_HISTORY_LEAD
        seen.add(leads)
        if days >= 4 * 365:  # four years: three scored windows and three leads, enough to rank every candidate
            assert (folds, leads) == (3, backtest.WINDOWS_FOR_ALL)
    assert seen == {1, 2, 3}
