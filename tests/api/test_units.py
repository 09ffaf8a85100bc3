"""The units the model knows (routers/units.py)."""

from __future__ import annotations

import pandas as pd
from fastapi.testclient import TestClient

from forecast.api import create_app
from tests.api.conftest import Loader, csv_of, settings_for
from tests.bundles import make_served


def test_units_with_unknown_beds_as_null(client):
    answer = client.get("/v1/units").json()
    assert [(u["unit"], u["current_beds"]) for u in answer["units"]] == [("medicine", 20), ("surgery", None)]
    assert answer["units"][0]["last_date"] == "2025-12-31"
    table = csv_of(client.get("/v1/units?format=csv"))
    assert table["unit"].tolist() == ["medicine", "surgery"]
    assert table["current_beds"].iloc[0] == 20 and pd.isna(table["current_beds"].iloc[1])


def test_units_say_whose_stays_their_length_of_stay_curves_rest_on(tmp_path):
    served = make_served("1")
    curve = {"day": [0, 1, 2], "survival": [0.9, 0.5, 0.0]}
    served.bundle.length_of_stay = pd.concat(
        [
            pd.DataFrame({"unit": "medicine", "admission_type": "acute", **curve, "source": "unit"}),
            pd.DataFrame({"unit": "medicine", "admission_type": "elective", **curve, "source": "hospital"}),
            pd.DataFrame({"unit": "surgery", "admission_type": "acute", **curve, "source": "all"}),
        ],
        ignore_index=True,
    )
    with TestClient(create_app(settings_for(tmp_path), loader=Loader(served))) as client:
        units = {u["unit"]: u for u in client.get("/v1/units").json()["units"]}
        table = csv_of(client.get("/v1/units?format=csv")).set_index("unit")
    assert (units["medicine"]["length_of_stay_source_acute"], units["medicine"]["length_of_stay_source_elective"]) == (
        "unit",
        "hospital",
    )
    assert units["surgery"]["length_of_stay_source_acute"] == "all"
    assert units["surgery"]["length_of_stay_source_elective"] is None
    assert table.loc["medicine", "length_of_stay_source_elective"] == "hospital"


def test_units_of_a_model_without_curves_have_no_source(client):
    units = client.get("/v1/units").json()["units"]
    assert all(u["length_of_stay_source_acute"] is None for u in units)
