"""Following the champion: every serving worker loads the version the alias names, by itself and on a reload.

`bedcast serve --workers N` runs N processes behind one port; a request reaches one of them. Two pieces keep
them serving the same version:

- `WorkerBoard`: a folder the workers of one `bedcast serve` share (`BEDCAST_WORKERS_DIR`). Each worker writes
  what it serves in `<pid>.json`; a reload is asked of all of them by raising the number in the file `reload`.
- `ChampionFollower`: a thread in each worker. Every `CHECK_SECONDS` it looks for a new reload number; every
  `follow_seconds` it asks the registry which version the alias names. On either, when there is something new,
  it loads the model whole (as at start) and swaps it in, then writes what it serves on the board.

So a new champion is served by every worker within `follow_seconds` plus the time one load takes, and a
`POST /v1/reload` answered by one worker waits until every live worker says it has reloaded, or says which has
not. A one-process service follows the alias the same way, without a board.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from forecast.api.settings import Settings
from forecast.serving.errors import Busy
from forecast.serving.slot import Loader, Slot, describe

__all__ = ["CHECK_SECONDS", "ChampionFollower", "WorkerBoard", "WorkerStatus", "alias_resolver", "start_follower"]

log = logging.getLogger("bedcast.api")

# How often a worker looks for a reload asked of all workers (a file read: cheap).
CHECK_SECONDS = 0.25

Resolver = Callable[[], str]


def alias_resolver(model_name: str, alias: str) -> Resolver:
    """The version the registry's alias names now (one registry call, no model download)."""
    configured = False

    def resolve() -> str:
        nonlocal configured
        from forecast import registry

        if not configured:  # when the first load failed, MLflow is not pointed at the store yet
            registry.configure_tracking()
            configured = True
        return registry.alias_version(model_name, alias)

    return resolve


def start_follower(
    slot: Slot, settings: Settings, loader: Loader, resolver: Resolver | None
) -> ChampionFollower | None:
    """The worker's follower, started; None when there is nothing to follow (a given loader, one worker)."""
    board = WorkerBoard(Path(settings.workers_dir), settings.workers) if settings.workers_dir else None
    if board is None and (resolver is None or settings.follow_seconds == 0):
        return None
    return ChampionFollower(slot, loader, resolver, settings.follow_seconds, board).start()


@dataclass(frozen=True)
class WorkerStatus:
    """What one worker serves, as it last wrote it."""

    pid: int
    version: str | None
    reloaded: int  # the last reload number it has carried out (or started after)
    error: str | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process by that number
        return True
    return True


class WorkerBoard:
    """The shared folder of one `bedcast serve --workers N`.

    Args:
        folder: the folder (created by `bedcast serve`, removed when it ends).
        workers: how many workers there should be.
    """

    def __init__(self, folder: Path, workers: int):
        self.folder, self.workers = folder, workers
        self._reload_file = folder / "reload"

    def reload_number(self) -> int:
        """The number of the latest reload asked for (0: none yet)."""
        try:
            return int(self._reload_file.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def ask_reload(self) -> int:
        """Ask every worker to reload; returns this reload's number."""
        with open(self.folder / "reload.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two workers asking at once get two numbers
            number = self.reload_number() + 1
            self._write(self._reload_file, str(number))
        return number

    def report(self, status: WorkerStatus) -> None:
        self._write(self.folder / f"{status.pid}.json", json.dumps(vars(status)))

    def statuses(self) -> list[WorkerStatus]:
        """Every live worker's last status (files of workers that have ended are removed)."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                status = WorkerStatus(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # being replaced right now: the next look sees it
            if _alive(status.pid):
                found.append(status)
            else:
                path.unlink(missing_ok=True)
        return found

    def wait_for_reload(self, number: int, timeout: float) -> tuple[list[WorkerStatus], list[str]]:
        """Wait until every worker has carried out reload `number`.

        Returns:
            The live workers' statuses, and what keeps the reload from being complete (empty when every
            worker has reloaded).
        """
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses()
            missing = [
                f"worker {s.pid} could not load, still serving version {s.version}: {s.error}"
                if s.error
                else f"worker {s.pid} did not answer within {timeout:g} s (serving version {s.version})"
                for s in statuses
                if s.reloaded < number or s.error
            ]
            if len(statuses) < self.workers:
                missing.append(f"{self.workers - len(statuses)} of {self.workers} workers are not running")
            if not missing or time.monotonic() >= deadline:
                return statuses, missing
            time.sleep(CHECK_SECONDS / 2)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(text)
        os.replace(partial, path)  # readers see the old file or the new, never half of one


class ChampionFollower:
    """The thread that keeps one worker's served model the alias's (see the module's docstring).

    Args:
        slot: the worker's slot (`forecast.serving.slot`): loads go through it, one at a time.
        loader: loads the model the alias names.
        resolver: the version the alias names now; None: follow reloads only.
        follow_seconds: how often to ask the registry; 0: never.
        board: the workers' board, when there are several workers.
    """

    def __init__(
        self,
        slot: Slot,
        loader: Loader,
        resolver: Resolver | None,
        follow_seconds: float,
        board: WorkerBoard | None,
    ):
        self.slot, self.loader, self.resolver = slot, loader, resolver
        self.follow_seconds, self.board = follow_seconds, board
        # A worker that starts after a reload was asked has loaded the champion since.
        self.reloaded = board.reload_number() if board else 0
        self.lock = threading.Lock()  # guards `reloaded` between this thread and a reload this worker answers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="champion-follower", daemon=True)
        self._failing: str | None = None

    def start(self) -> ChampionFollower:
        self.report()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def report(self, error: str | None = None) -> None:
        if self.board is not None:
            serving = self.slot.state
            version = serving.served.version if serving is not None else None
            self.board.report(WorkerStatus(os.getpid(), version, self.reloaded, error))

    def asked_reload(self) -> int:
        """This worker has just reloaded for a `POST /v1/reload`: ask the other workers to, and say so."""
        assert self.board is not None
        with self.lock:
            self.reloaded = self.board.ask_reload()
        self.report()
        return self.reloaded

    def _run(self) -> None:
        next_look = time.monotonic() + self.follow_seconds
        while not self._stop.wait(CHECK_SECONDS if self.board else min(self.follow_seconds, 1.0)):
            if self.board is not None:
                with self.lock:
                    number = self.board.reload_number()
                    if number > self.reloaded:
                        self._reload(number)
            if self.resolver is not None and self.follow_seconds > 0 and time.monotonic() >= next_look:
                next_look = time.monotonic() + self.follow_seconds
                self._follow()

    def _reload(self, number: int) -> None:
        error = self._load("reload asked of every worker", wait=None)
        self.reloaded = number
        self.report(error)

    def _follow(self) -> None:
        try:
            version = self.resolver() if self.resolver else None
        except Exception as failure:  # the registry is away: keep serving, say so once
            self._warn("registry", f"cannot ask the registry which version is champion: {describe(failure)}")
            return
        serving = self.slot.state
        if serving is not None and serving.served.version == version:
            self._failing = None
            return
        # A load running in this worker (a reload) loads the champion anyway.
        error = self._load(f"the alias names version {version}", key=f"version {version}", wait=0)
        if error != "busy":
            self.report(error)

    def _load(self, why: str, key: str = "reload", wait: float | None = 0) -> str | None:
        """Load the alias's model and swap it in; on failure the current model keeps serving."""
        try:
            previous, state = self.slot.load(self.loader, wait=wait)
        except Busy:
            return "busy"
        except Exception as failure:
            reason = describe(failure)
            self._warn(key, f"following the champion ({why}): load failed, still serving the previous model: {reason}")
            return reason
        self._failing = None
        was = previous.served.version if previous else "none"
        log.info("following the champion (%s): serving version %s (was %s)", why, state.served.version, was)
        return None

    def _warn(self, key: str, message: str) -> None:
        if key != self._failing:  # once per failing version (or registry outage), not every few seconds
            log.warning(message)
            self._failing = key
