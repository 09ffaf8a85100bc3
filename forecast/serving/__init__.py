"""Serving, below HTTP: the state a loaded model is served from, the one slot that swaps it, and every answer as
a typed object built once and rendered many ways. Nothing here imports FastAPI; `forecast.api` is a thin edge
over it, and the CLI uses it directly.

    state.py     ServingState: a loaded model, its forecasts cut per unit, caches of answers and renderings
    slot.py      Slot: the state serving now; `prepare` builds and warms a state (start, reload, following the
                 champion and the nowcast all use it) and `Slot.swap` hands it over whole
    answers.py   the answers (units, forecast, beds, plan, staffing, history, monitoring, model): `*_answer`
                 checks a request and returns an `Ask`; `answer(state, ask)` builds the typed answer once
    schemas.py   the typed answers (pydantic models; a `TableAnswer` is also a table)
    scenario.py  what-if scenarios: checked, computed by `forecast.scenarios`, typed as `ScenarioTables`
    render.py    a typed answer as JSON or CSV bytes, cached per state, request and format
    pages.py     the planner's pages: HTML renderings of the same typed answers; whatif.py the what-if form
    errors.py    domain errors (`Refusal`): each names the field's location; the HTTP edge maps them in one place

Adding an answer: (1) a build function in `answers.py` (or a module of its own) that checks its request at once
(raise `errors.invalid(loc, message)` or `errors.UnknownUnit`) and returns `Ask(key, build, table)`, where
`build` returns (2) a typed answer, a `schemas.TableAnswer` subclass with `table()`; then (3) the renderers: a
router that calls `forecast.api.responses.respond(state, ask, fmt)` (JSON and CSV come from `render.py`), a
page that reads `answers.answer(state, ask)`, a CLI command that prints its `table()`. Answers a page shows on
first load go into `answers.warm` or `pages.warm_pages`, so a new state is served warm.
"""
