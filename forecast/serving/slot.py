"""The one place the served state is replaced: build it whole, warm what requests and pages need, then swap.

Four things bring a new state: the service starting, `POST /v1/reload`, each worker following the champion
alias (`forecast.api.follow`) and the nowcast re-anchoring the forecast on new episodes
(`forecast.api.nowcasting`). All of them make it with `prepare` (build, then warm the common answers, the
scenario inputs and the pages) and hand it over with `Slot.swap`, so whatever brought it, the first request
after the swap finds its answers ready. Loads of a model (`Slot.load`) run one at a time; a nowcast swaps only
if the state it started from is still the one serving (`replacing`), else it starts again from the new one.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from datetime import datetime

from forecast import registry
from forecast.monitoring import UnitMonitor
from forecast.nowcast import Nowcast
from forecast.registry import ServedModel
from forecast.serving import answers, pages, render
from forecast.serving.errors import Busy
from forecast.serving.explain_answers import warm_explanations
from forecast.serving.scenario import warm_scenarios
from forecast.serving.state import ServingState, build_state

__all__ = ["Loader", "Slot", "describe", "prepare"]

Loader = Callable[[], ServedModel]
_ANY = object()


def prepare(
    served: ServedModel,
    nowcast: Nowcast | None = None,
    monitoring: list[UnitMonitor] | None = None,
    loaded_at: datetime | None = None,
) -> ServingState:
    """A whole serving state of `served` (re-anchored on `nowcast` when given), its common answers rendered, its
    scenario inputs cut and its pages drawn: complete before anyone sees it."""
    state = build_state(served, nowcast, monitoring)
    if loaded_at is not None:
        state.loaded_at = loaded_at
    answers.warm(state, render.body)
    warm_explanations(state, render.body)
    warm_scenarios(state)
    pages.warm_pages(state)
    return state


class Slot:
    """Holds the state being served; `state` is read once per request.

    Attributes:
        state: the state serving now (None: no model yet).
        load_error: why the last load failed while nothing serves (for `/ready` and the pages).
        loading: a load is running.
    """

    def __init__(self) -> None:
        self.state: ServingState | None = None
        self.load_error: str | None = None
        self.loading = False
        self._swap = threading.Lock()
        self._load = threading.Lock()

    def swap(self, new: ServingState, replacing: object = _ANY) -> bool:
        """Serve `new` from the next request on; with `replacing`, only if that state is still the one serving.

        Returns:
            Whether `new` now serves.
        """
        with self._swap:
            if replacing is not _ANY and self.state is not replacing:
                return False
            self.state = new
            self.load_error = None
        # The new state lives as long as it serves: moved out of the collector's way, so that full collections
        # (which walk every tracked object) stay short while requests come in; the state it replaced becomes
        # collectable again first.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return True

    def load(self, loader: Loader, wait: float | None = 0) -> tuple[ServingState | None, ServingState]:
        """Load the model `loader` gives, prepare it and swap it in; on failure the current state keeps serving.

        Args:
            loader: returns the model to serve.
            wait: seconds to wait for a load already running (None: as long as it takes; 0: not at all).

        Returns:
            The state served before, and the new one.

        Raises:
            Busy: another load is running and did not end within `wait`.
            Exception: whatever the loader or the preparation raised (nothing was swapped).
        """
        got = (
            self._load.acquire()
            if wait is None
            else self._load.acquire(timeout=wait)
            if wait > 0
            else self._load.acquire(False)
        )
        if not got:
            raise Busy("a reload is already running; try again when it ends")
        self.loading = True
        try:
            previous = self.state
            new = prepare(loader())
            self.swap(new)
            return previous, new
        finally:
            self.loading = False
            self._load.release()


def describe(error: BaseException) -> str:
    """Why a load failed, in a line (our own errors already say what to do)."""
    text = str(error).strip().splitlines()[0][:500] if str(error).strip() else ""
    if isinstance(error, registry.ModelNotFound | registry.TrackingUnavailable | registry.ArtifactsUnavailable):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
