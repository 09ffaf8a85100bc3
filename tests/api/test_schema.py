"""The whole API fuzzed from its OpenAPI schema (schemathesis)."""

from __future__ import annotations

import contextlib
import itertools

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from forecast.api import create_app
from tests.api.conftest import AUTH, Loader, settings_for
from tests.bundles import make_served


def test_api_conforms_to_its_schema(tmp_path):
    """Calls generated from the OpenAPI schema, valid and invalid, per operation: no 5xx, invalid requests
    refused, and every answer (status, content type, body) is what the schema documents.

    Not checked: that every schema-valid request is accepted, because the forecast's date range depends on the
    loaded model and JSON Schema cannot state it (a `start` years away is valid in the schema and answered 422).
    schemathesis' pytest fixture loader does not run on pytest 9, so the operations are driven with Hypothesis.
    """
    app = create_app(settings_for(tmp_path), loader=Loader(make_served("1")))
    with TestClient(app):  # runs the lifespan: the model is loaded for every generated call
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 10
        for operation, mode in itertools.product(operations, GenerationMode):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])

            # An operation without parameters or body (GET /health) has no invalid request to make.
            with contextlib.suppress(Unsatisfiable) if mode is GenerationMode.NEGATIVE else contextlib.nullcontext():
                check()
