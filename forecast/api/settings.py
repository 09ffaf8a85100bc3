"""The service's settings, read from `BEDCAST_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from forecast.registry import CHAMPION, DEFAULT_MODEL_NAME
from forecast.store import data_folder

__all__ = ["Settings", "default_episodes_url"]


def default_episodes_url() -> str:
    """`sqlite:///` in the user's data folder (`forecast.store.data_folder`)."""
    return f"sqlite:///{data_folder() / 'episodes.db'}"


class Settings(BaseSettings):
    """Where the model and the episodes live, and the key that guards the write endpoints.

    Attributes:
        model_name: registered model to serve (`BEDCAST_MODEL_NAME`).
        model_alias: its alias (`BEDCAST_MODEL_ALIAS`); serving follows `champion`.
        api_key: the key write endpoints expect in the `X-API-Key` header (`BEDCAST_API_KEY`); without one
            they are refused.
        episodes_url: SQLAlchemy URL of the episodes database (`BEDCAST_EPISODES_URL`); default an SQLite
            file in the user's data folder (see `default_episodes_url`).
        timezone: where timestamps with an offset are converted to local calendar dates.
        nowcast_interval: seconds between looks at the episodes database for episodes stored from outside the
            service (`BEDCAST_NOWCAST_INTERVAL`); 0 turns the nowcast off (the forecast stays as trained).
        follow_seconds: how often each worker asks the registry which version the alias names, and loads it
            when it is new (`BEDCAST_FOLLOW_SECONDS`; 0: only at start and on `POST /v1/reload`).
        reload_wait_seconds: how long `POST /v1/reload` waits for every worker to reload
            (`BEDCAST_RELOAD_WAIT_SECONDS`).
        workers: how many workers serve together (`BEDCAST_WORKERS`; set by `bedcast serve --workers`).
        workers_dir: the folder they share (`BEDCAST_WORKERS_DIR`; set by `bedcast serve --workers`).
    """

    model_config = SettingsConfigDict(env_prefix="BEDCAST_", env_file=".env", extra="ignore")

    model_name: str = DEFAULT_MODEL_NAME
    model_alias: str = CHAMPION
    api_key: SecretStr | None = None
    episodes_url: str = Field(default_factory=default_episodes_url)
    timezone: str = "Europe/Stockholm"
    nowcast_interval: float = 2.0
    follow_seconds: float = Field(default=30.0, ge=0)
    reload_wait_seconds: float = Field(default=60.0, gt=0)
    workers: int = Field(default=1, ge=1)
    workers_dir: str | None = None
