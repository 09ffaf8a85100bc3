"""Loading a model into a serving state: at start-up and on reload, always whole before it serves."""

from __future__ import annotations

from collections.abc import Callable

from forecast import registry
from forecast.api.answers import warm
from forecast.api.pages import warm_pages
from forecast.api.scenario_answers import warm_scenarios
from forecast.api.settings import Settings
from forecast.api.state import ServingState, build_state
from forecast.registry import ServedModel

__all__ = ["Loader", "default_loader", "describe", "load_state"]

Loader = Callable[[], ServedModel]


def default_loader(settings: Settings) -> Loader:
    """Load `models:/<name>@<alias>` from the tracking store MLflow is configured for."""

    def load() -> ServedModel:
        registry.configure_tracking()
        return registry.load_model(settings.model_name, settings.model_alias)

    return load


def load_state(loader: Loader) -> ServingState:
    """Load, cut per unit and render the common answers: the state is complete before anyone sees it."""
    state = build_state(loader())
    warm(state)
    warm_scenarios(state)
    warm_pages(state)
    return state


def describe(error: BaseException) -> str:
    """Why a load failed, in a line (our own errors already say what to do)."""
    text = str(error).strip().splitlines()[0][:500] if str(error).strip() else ""
    if isinstance(error, registry.ModelNotFound | registry.TrackingUnavailable | registry.ArtifactsUnavailable):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
