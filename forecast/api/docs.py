"""The API's docs (Swagger UI) from assets installed with the package: they work with no internet.

FastAPI's own docs pages load Swagger UI from a CDN, which on a hospital intranet leaves a blank page. Following
FastAPI's self-hosting recipe, `/docs` points at the copy of Swagger UI that the `fastapi-offline` package ships.
ReDoc is not offered: even self-hosted it fetches its logo from its maker's CDN, so `/redoc` leads to `/docs`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_docs"]

DOCS_ASSETS = "/assets/docs"


def install_docs(app: FastAPI) -> None:
    """`/docs` for an app made with `docs_url=None, redoc_url=None`, its assets under `/assets/docs`."""
    assets = files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/assets/favicon.svg",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> RedirectResponse:
        return RedirectResponse("/docs")
