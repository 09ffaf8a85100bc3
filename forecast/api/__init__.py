"""The HTTP API: forecasts, bed plans and staffing from the champion model (FastAPI)."""

from forecast.api.main import create_app
from forecast.api.settings import Settings

__all__ = ["Settings", "create_app"]
