"""Builds the app: settings, the model loaded in `lifespan`, the episodes store, and one router per resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from forecast import registry
from forecast.api.docs import install_docs
from forecast.api.errors import install_handlers
from forecast.api.follow import Resolver, alias_resolver, start_follower
from forecast.api.nowcasting import Nowcaster
from forecast.api.routers import (
    beds,
    episodes,
    explain,
    forecast,
    health,
    history,
    model,
    monitoring,
    pages,
    plan,
    staffing,
    units,
)
from forecast.api.routers import scenarios as scenario_routes
from forecast.api.settings import Settings
from forecast.serving.slot import Loader, Slot, describe
from forecast.store import EpisodeStore

__all__ = ["create_app", "default_loader"]

log = logging.getLogger("bedcast.api")

DESCRIPTION = """
Bed demand per hospital unit: daily forecasts of census and admissions with their uncertainty, the beds to open
(at a target occupancy and at an accepted overflow risk), the weekly plan of a quarter, and nurses per shift.
Every table answers CSV with `?format=csv`. Write endpoints need the `X-API-Key` header (`BEDCAST_API_KEY`).
"""


def default_loader(settings: Settings) -> Loader:
    """Load `models:/<name>@<alias>` from the tracking store MLflow is configured for."""

    def load() -> registry.ServedModel:
        registry.configure_tracking()
        return registry.load_model(settings.model_name, settings.model_alias)

    return load


def create_app(
    settings: Settings | None = None, loader: Loader | None = None, resolver: Resolver | None = None
) -> FastAPI:
    """The service.

    Args:
        settings: default: read from `BEDCAST_*` environment variables.
        loader: returns the model to serve; default: the registry's `<model_name>@<model_alias>`.
        resolver: the version the alias names now, for following it (`forecast.api.follow`); default: the
            registry's, when the loader is the default one.
    """
    settings = settings or Settings()
    if loader is None:
        loader = default_loader(settings)
        resolver = resolver or alias_resolver(settings.model_name, settings.model_alias)

    slot = Slot()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = EpisodeStore(settings.episodes_url)
        await to_thread.run_sync(store.create)
        app.state.store = store
        try:
            _, state = await to_thread.run_sync(lambda: slot.load(loader, wait=None))
            served = state.served
            log.info("serving %s version %s (%s)", served.name, served.version, served.alias)
        except Exception as error:  # the service still starts: /ready says why, POST /v1/reload retries
            slot.load_error = (
                f"no model loaded: {describe(error)}; once there is one, POST /v1/reload or restart the service"
            )
            log.warning("no model loaded: %s", describe(error))
        # Each worker follows the alias, and reloads asked of all workers (forecast.api.follow).
        app.state.follower = start_follower(slot, settings, loader, resolver)
        # Each worker re-anchors its answers on new episodes in the background (forecast.api.nowcasting).
        nowcaster = Nowcaster(slot, store, settings.nowcast_interval) if settings.nowcast_interval > 0 else None
        app.state.nowcaster = nowcaster
        if nowcaster is not None:
            nowcaster.start()
            nowcaster.poke()
        yield
        if nowcaster is not None:
            await to_thread.run_sync(nowcaster.stop)
        if app.state.follower is not None:
            await to_thread.run_sync(app.state.follower.stop)
        store.dispose()

    # The docs are served from installed assets (install_docs), not FastAPI's CDN defaults.
    app = FastAPI(
        title="bedcast", version="1", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.loader = loader
    app.state.slot = slot
    app.state.nowcaster = None
    app.state.follower = None
    install_handlers(app)
    for router in (health, units, forecast, beds, plan, staffing, model, episodes, monitoring):
        app.include_router(router.router)
    app.include_router(history.router)
    app.include_router(explain.router)
    app.include_router(scenario_routes.router)
    # The planner's pages and their assets, all from installed packages (no internet needed).
    app.include_router(pages.router)
    install_docs(app)  # before /assets, which would otherwise take /assets/docs
    app.mount("/assets", StaticFiles(packages=[("forecast.api", "static")]), name="assets")
    return app
