"""Adding episodes, and the key write endpoints need (routers/episodes.py, deps.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from forecast.api import create_app
from tests.api.conftest import AUTH, EPISODE, Loader, post, settings_for
from tests.bundles import make_served


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
def test_write_endpoints_need_the_key(client, headers):
    for path, body in (("/v1/episodes", [EPISODE]), ("/v1/reload", None)):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]


def test_write_endpoints_refused_without_a_configured_key(tmp_path):
    with TestClient(create_app(settings_for(tmp_path, api_key=None), loader=Loader(make_served()))) as client:
        response = client.post("/v1/episodes", json=[EPISODE], headers={"X-API-Key": ""})
        assert response.status_code == 401
        assert "set BEDCAST_API_KEY" in response.json()["detail"]


def test_episodes_are_idempotent(client):
    second = {**EPISODE, "episode_id": "e2", "discharged_at": "2026-01-04", "admission_type": "elective"}
    assert post(client, EPISODE, second).json() == {
        "added": 2,
        "unchanged": 0,
        "discharged": 0,
        "stored": 2,
        "warnings": [],
    }
    assert post(client, EPISODE, second, second).json() == {
        "added": 0,
        "unchanged": 3,
        "discharged": 0,
        "stored": 2,
        "warnings": [],
    }
    completed = post(client, {**EPISODE, "discharged_at": "2026-01-06"})
    assert completed.json()["discharged"] == 1


def test_episode_with_other_content_is_409_naming_the_id(client):
    post(client, {**EPISODE, "discharged_at": "2026-01-03"})
    response = post(client, {**EPISODE, "episode_id": "e9"}, {**EPISODE, "discharged_at": "2026-01-08"})
    assert response.status_code == 409
    assert "e1" in response.json()["detail"]
    assert post(client).json()["stored"] == 1  # e9 was not kept: all or nothing


def test_bad_episodes_are_422_naming_row_field_and_id_only(client):
    good = {**EPISODE, "episode_id": "ok", "unit": "SECRET-WARD"}
    bad = {**EPISODE, "episode_id": "b7", "unit": "SECRET-WARD", "admission_type": "urgent"}
    response = post(client, good, bad)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", 1, "admission_type"] and error["episode_id"] == "b7"
    assert "row 2" in error["msg"]
    assert "SECRET-WARD" not in response.text and "urgent" not in response.text
    assert post(client).json()["stored"] == 0  # the good row was not stored either


def test_malformed_episodes_do_not_echo_the_body(client):
    response = post(client, {"episode_id": "x", "unit": 12345678, "admitted_at": "2026-01-01", "admission_type": "a"})
    assert response.status_code == 422
    assert "12345678" not in response.text


def test_episodes_are_durable_across_app_instances(tmp_path):
    first = create_app(settings_for(tmp_path), loader=Loader(make_served()))
    with TestClient(first) as client:
        assert post(client, EPISODE).json()["added"] == 1
    second = create_app(settings_for(tmp_path), loader=Loader(make_served()))
    with TestClient(second) as client:
        assert post(client, EPISODE).json() == {
            "added": 0,
            "unchanged": 1,
            "discharged": 0,
            "stored": 1,
            "warnings": [],
        }


def test_implausible_episodes_are_stored_with_warnings_naming_row_field_and_id(client):
    century = {**EPISODE, "episode_id": "c1", "unit": "SECRET-WARD", "admitted_at": "1925-01-01"}
    century["discharged_at"] = "2025-01-01"
    future = {**EPISODE, "episode_id": "f2", "admitted_at": "2099-01-01"}
    answer = post(client, EPISODE, century, future)
    assert answer.status_code == 200
    body = answer.json()
    assert body["added"] == 3
    assert [(w["row"], w["field"], w["episode_id"]) for w in body["warnings"]] == [
        (2, "discharged_at", "c1"),
        (3, "admitted_at", "f2"),
    ]
    assert "after today" in body["warnings"][1]["message"]
    assert "SECRET-WARD" not in answer.text and "1925" not in answer.text and "2099" not in answer.text
    assert post(client, EPISODE).json()["warnings"] == []


@pytest.mark.parametrize("body", [b"not json", b'[{"episode_id": "e1",'])
def test_a_body_that_is_not_json_is_422_saying_so(client, body):
    response = client.post("/v1/episodes", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body"], "msg": "the body is not valid JSON: send a JSON list of episodes", "type": "json_invalid"}
    ]


def test_a_body_that_is_not_utf8_is_400_without_echoing_it(client):
    response = client.post(
        "/v1/episodes", content=b'[{"unit": "avdelning_\xe5"}]', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "avdelning" not in response.text and "detail" in response.json()
