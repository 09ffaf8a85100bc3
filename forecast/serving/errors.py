"""The ways serving refuses a request, below HTTP: each error carries where the problem is and what to do.

`loc` names the field as a request has it (`("query", "quarter")`, `("body", "admissions", 0, "units", 1)`);
`kind` says what sort of refusal it is. The HTTP edge turns every `Refusal` into an answer in one handler
(`forecast.api.errors`); the pages show the same message; the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "Busy",
    "Conflict",
    "Invalid",
    "NoModel",
    "NotFound",
    "Problem",
    "Refusal",
    "Unauthorized",
    "UnknownUnit",
    "invalid",
]

Kind = Literal["invalid", "not_found", "conflict", "unavailable", "unauthorized"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (`loc`), what (`message`), its `type`, and any safe extras (e.g. an
    episode's id, never the rest of its row)."""

    loc: tuple[str | int, ...]
    message: str
    type: str = "value_error"
    extra: dict[str, Any] = field(default_factory=dict)


class Refusal(Exception):
    """A request serving will not answer. `problems` lists what is wrong, each with its location."""

    kind: ClassVar[Kind] = "invalid"

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []

    @property
    def loc(self) -> tuple[str | int, ...]:
        return self.problems[0].loc if self.problems else ()


class Invalid(Refusal):
    """A request outside what the model can answer (HTTP 422)."""

    kind = "invalid"


def invalid(loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> Invalid:
    """One problem at `loc` as an `Invalid` refusal."""
    return Invalid(message, [Problem(loc, message, kind)])


class NotFound(Refusal):
    """Something asked for by name or id that is not there (HTTP 404)."""

    kind = "not_found"


class UnknownUnit(NotFound):
    """A unit the model does not know; the message lists the known ones."""

    def __init__(self, unit: str, known: list[str]):
        super().__init__(f"unknown unit {unit!r}; known units: {', '.join(known)}")


class Conflict(Refusal):
    """A write that would change what is stored under a name or id already taken (HTTP 409)."""

    kind = "conflict"


class Busy(Conflict):
    """Another load of the model is running."""


class NoModel(Refusal):
    """No model is serving (HTTP 503); the message says how to get one."""

    kind = "unavailable"


class Unauthorized(Refusal):
    """A write without the right key (HTTP 401)."""

    kind = "unauthorized"
