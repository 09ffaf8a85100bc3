"""The HTTP edge: `create_app` builds the FastAPI service (see `forecast.api`)."""

from forecast.api import Settings, create_app

__all__ = ["Settings", "create_app"]
