"""The app as built (main.py): answers warmed at load, the OpenAPI document, the serve command."""

from __future__ import annotations


def test_common_answers_are_ready_before_the_first_request(client):
    state = client.app.state.slot.state
    assert len(state.cache) >= 4 + 3 * 2  # units and plan (JSON, CSV), each unit's forecast, beds, staffing


def test_openapi_documents_every_route(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {"/v1/units", "/v1/forecast/{unit}", "/v1/beds/{unit}", "/v1/plan", "/v1/staffing/{unit}"}
    for path, methods in paths.items():
        for method, operation in methods.items():
            success = next(code for code in operation["responses"] if code.startswith("2"))  # 201 when saving
            if success == "204":  # deleting a saved scenario answers nothing
                continue
            ok = operation["responses"][success]["content"]
            assert "application/json" in ok, (method, path)
            if path.startswith(("/v1/units", "/v1/forecast", "/v1/beds", "/v1/plan", "/v1/staffing")):
                assert "text/csv" in ok, path
    assert paths["/v1/episodes"]["post"]["security"] == [{"APIKeyHeader": []}]


def test_serve_command_is_there():
    from typer.testing import CliRunner

    from forecast.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--host" in result.output
