"""The whole API fuzzed from its OpenAPI schema (schemathesis, every check): no server error, invalid requests
refused, every answer as documented, and no schema-valid request refused.

What the schema cannot state is set by the test, openly, before a valid request is sent: the rules that depend on
the loaded model (the forecast's days, quarters and weeks, its units and whether they have a hospital, a unit's
mean stay that a shorter stay must leave above a day) and the two rules that tie fields together (a discharge not
before its admission; one episode_id, one content in a batch). Everything else the server enforces is in the
schema, and a schema-valid request it refuses fails the test.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import zlib

import pandas as pd
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from forecast.api import create_app
from forecast.data import parse_local_dates
from forecast.registry import ServedModel
from tests.api.conftest import AUTH, Loader, settings_for
from tests.bundles import FIRST_DAY
from tests.scenario_bundles import flow_bundle

FORECAST_DAYS = 120  # make_bundle's
UNITS = ("medicine", "surgery")


def _pick(value: object, choices: int) -> int:
    """A stable choice from a generated value, so Hypothesis can still shrink a failing example."""
    return zlib.crc32(repr(value).encode()) % choices


def within_the_model(case: schemathesis.Case) -> schemathesis.Case:
    """A schema-valid request made to fit what the schema cannot state (see the module docstring)."""
    # Only values of the shape the schema allows are moved into the model's range: a value of another shape
    # would mean the schema is looser than the server, and is left for the checks to catch.
    query = case.query or {}
    begin = 0
    if isinstance(query.get("start"), str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", query["start"]):
        begin = _pick(query["start"], FORECAST_DAYS)
        query["start"] = (FIRST_DAY + pd.Timedelta(days=begin)).date().isoformat()
    if isinstance(query.get("days"), int) and 1 <= query["days"] <= 366:
        query["days"] = 1 + query["days"] % (FORECAST_DAYS - begin)
    if isinstance(query.get("quarter"), str) and re.fullmatch(r"(?i:next|[0-9]{4}q[1-4])", query["quarter"]):
        query["quarter"] = ("next", "2026Q1", "2026q1", "NEXT")[_pick(query["quarter"], 4)]
    if isinstance(query.get("period"), str) and re.fullmatch(r"(?i:next|year|[0-9]{4}q[1-4])", query["period"]):
        query["period"] = ("next", "2026Q1", "2026q1", "NEXT")[_pick(query["period"], 4)]  # the model has no year
    if query.get("level") in ("hospital", "region"):
        query["level"] = "unit"  # the test model's units have no hospital
    if case.path_parameters and "unit" in case.path_parameters:
        case.path_parameters["unit"] = UNITS[_pick(case.path_parameters["unit"], 2)]
    if isinstance(case.body, list):
        case.body = [_one_stay(episode, i) for i, episode in enumerate(case.body)]
    if isinstance(case.body, dict):
        case.body = _within_the_forecast(case.body)
    return case


def _within_the_forecast(scenario: dict) -> dict:
    # A scenario's units, weeks and days must be the model's, and a shorter stay must leave a day at least.
    def unit(name: object) -> object:
        return UNITS[_pick(name, 2)] if isinstance(name, str) else name

    def day(value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            return (FIRST_DAY + pd.Timedelta(days=_pick(value, FORECAST_DAYS))).date().isoformat()
        return value

    scenario = dict(scenario)
    if isinstance(scenario.get("quarter"), str):
        scenario["quarter"] = ("next", "2026Q1")[_pick(scenario["quarter"], 2)]
    for key in ("admissions", "length_of_stay"):
        changes = []
        for change in scenario.get(key) or []:
            change = dict(change)
            if isinstance(change.get("units"), list):
                change["units"] = [unit(u) for u in change["units"]]
            change["start"] = day(change.get("start"))
            if key == "length_of_stay" and isinstance(change.get("days"), int | float):
                change["days"] = max(change["days"], -0.5)
            if key == "length_of_stay" and isinstance(change.get("percent"), int | float):
                change["percent"] = max(change["percent"], -10.0)
            changes.append(change)
        if key in scenario:
            scenario[key] = changes
    if isinstance(scenario.get("planned_beds"), list):
        weeks = [f"2026-W{w:02d}" for w in range(1, 14)]  # the test model's quarter 2026Q1
        scenario["planned_beds"] = [
            {**b, "unit": unit(b.get("unit")), "week": weeks[_pick(b.get("week"), len(weeks))]}
            for b in scenario["planned_beds"]
        ]
    if isinstance(scenario.get("smooth_electives"), list):
        scenario["smooth_electives"] = [unit(u) for u in scenario["smooth_electives"]]
    if isinstance(scenario.get("unit_targets"), list):
        scenario["unit_targets"] = [
            {**t, "unit": unit(t.get("unit"))} if isinstance(t, dict) else t for t in scenario["unit_targets"]
        ]
    return scenario


def _one_stay(episode: dict, index: int) -> dict:
    # Unique ids in the batch, and a discharge never before its admission.
    episode = {**episode, "episode_id": f"{episode['episode_id'][:180]}~{index}"}
    if episode.get("discharged_at") is not None:
        admitted, _, _ = parse_local_dates(pd.Series([episode["admitted_at"]]))
        discharged, _, _ = parse_local_dates(pd.Series([episode["discharged_at"]]))
        if discharged.iloc[0] < admitted.iloc[0]:  # the server compares the local times, not only the days
            episode["discharged_at"] = None
    return episode


def test_api_conforms_to_its_schema(tmp_path):
    # A model with the flow structure, so that every lever of a scenario applies.
    served = ServedModel(flow_bundle(FORECAST_DAYS), "bed-demand", "1", "champion", "run1", {})
    app = create_app(settings_for(tmp_path), loader=Loader(served))
    with TestClient(app):  # runs the lifespan: the model is loaded for every generated call
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        # With GET /v1/history/{unit}, GET /v1/monitoring, DELETE a saved scenario, GET /v1/explain(/{unit}).
        assert len(operations) == 19
        for operation, mode in itertools.product(operations, GenerationMode):
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                strategy = strategy.map(within_the_model)

            @given(case=strategy)
            @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH)  # every check, positive_data_acceptance included

            # An operation without parameters or body (GET /health) has no invalid request to make.
            with contextlib.suppress(Unsatisfiable) if mode is GenerationMode.NEGATIVE else contextlib.nullcontext():
                check()


def test_the_schema_states_the_rules_that_do_not_depend_on_the_model(client):
    spec = client.get("/openapi.json").json()
    episode = spec["components"]["schemas"]["EpisodeIn"]["properties"]
    assert episode["admission_type"]["enum"] == ["acute", "elective"]
    assert episode["admitted_at"]["pattern"].startswith("^(?:(?:19|20|21)[0-9]{2}-")
    plan = {p["name"]: p["schema"] for p in spec["paths"]["/v1/plan"]["get"]["parameters"]}
    assert plan["quarter"]["pattern"] == "^([Nn][Ee][Xx][Tt]|[0-9]{4}[Qq][1-4])$"
    assert plan["overflow_risk"]["anyOf"][0] == {"type": "number", "maximum": 0.5, "exclusiveMinimum": 0}
    beds = {p["name"]: p["schema"] for p in spec["paths"]["/v1/beds/{unit}"]["get"]["parameters"]}
    assert beds["start"]["anyOf"][0] == {"type": "string", "format": "date"}
    day = spec["components"]["schemas"]["BedsDay"]["properties"]
    assert day["date"]["format"] == "date"  # answers' dates are documented as dates too
    assert day["p_over_capacity"]["anyOf"][0] == {"type": "number", "maximum": 1.0, "minimum": 0.0}
