"""The planner's pages in a browser: the hospital overview, a page per unit and what-ifs (HTML, no key needed)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from forecast.api.deps import NO_MODEL
from forecast.serving import pages, whatif
from forecast.serving.errors import UnknownUnit
from forecast.serving.state import Body, ServingState
from forecast.store import ScenarioStore

router = APIRouter(include_in_schema=False)

# The pages load nothing from anywhere but this service: the browser itself refuses any other source.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _send(body: Body, status_code: int = 200) -> Response:
    return Response(body.content, status_code=status_code, media_type=body.media_type, headers=SECURITY_HEADERS)


def _problem(title: str, message: str, status_code: int) -> Response:
    return _send(pages.render_page("problem.html", title=title, message=message), status_code)


def _state(request: Request) -> ServingState | Response:
    slot = request.app.state.slot
    if slot.state is None:
        return _problem("No model yet", slot.load_error or NO_MODEL, 503)
    return slot.state


async def _page(request: Request, key: tuple, render: Callable[[ServingState], Body]) -> Response:
    state = _state(request)
    if isinstance(state, Response):
        return state
    body = state.cache.peek(key)  # a rendered page costs a look-up; a new one is rendered off the event loop
    if body is None:
        body = await run_in_threadpool(render, state)
    return _send(body)


@router.get("/")
async def overview(request: Request) -> Response:
    """The hospital overview: per unit and week of the next quarter (`?period=year`: the year ahead), beds needed
    against beds open, and what drives them."""
    period = request.query_params.get("period", "next").strip().lower()
    if period not in ("next", "year"):
        return _problem("No such period", "period must be next (the next quarter) or year (the year ahead)", 400)
    return await _page(request, ("page", "overview", period), lambda state: pages.overview_page(state, period))


@router.get("/units/{unit}")
async def unit(request: Request, unit: str) -> Response:
    """A unit: its last year and forecast, weekly plan, nurses per shift and model."""
    try:
        return await _page(request, ("page", "unit", unit), lambda state: pages.unit_page(state, unit))
    except UnknownUnit as error:
        return _problem("Unknown unit", str(error), 404)


@router.get("/what-if")
async def what_if(request: Request) -> Response:
    """The scenario levers as a form, the result beside the served plan, and the saved scenarios."""
    state = _state(request)
    if isinstance(state, Response):
        return state
    store = ScenarioStore(request.app.state.store.engine)
    form = dict(request.query_params)
    loaded = None
    if "saved" in form:
        number = form.pop("saved")
        # Ids are database integers: anything longer than 18 digits is no id (and would overflow the query).
        loaded = await run_in_threadpool(store.get, int(number)) if number.isdigit() and len(number) <= 18 else None
        if loaded is None:
            return _problem("No such saved scenario", f"no saved scenario {number!r}: see the list on /what-if", 404)
    saved = await run_in_threadpool(store.list)
    body, status = await run_in_threadpool(whatif.whatif_page, state, form, saved, loaded)
    return _send(body, status)
