"""Patient data stays in: after an ADT stream (real sample messages with every PID field filled among them), a
refused message, a batch file (refused once, then loaded) with a leave of absence, a FHIR export and a training
run on what was stored, no identifier of the test messages (personal identity numbers, names, birth dates, visit
numbers, FHIR patient ids) is in the database, the listener's log, the commands' output or the MLflow store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import hl7
import pandas as pd
import pytest

from forecast.data import ingest
from forecast.demo import DEFAULT_UNITS, generate_demo_hospital
from forecast.feeds.batch import batch_file
from forecast.feeds.stream import adt_message, adt_messages, encounters, locations_of
from tests.feeds.mllp import Listener, send_all

FIXTURES = Path(__file__).parent / "fixtures"
UNITS = [u for u in DEFAULT_UNITS if u.unit in ("intensive_care", "internal_medicine")]


def identifiers_in_hl7(messages: list[str]) -> set[str]:
    """PID-3 ids, PID-5 family and given names, PID-7 birth dates (two spellings), PV1-19 visit numbers."""
    found: set[str] = set()
    for text in messages:
        message = hl7.parse(text.replace("\r\n", "\r").replace("\n", "\r"))
        pid, pv1 = message.segment("PID"), message.segment("PV1")
        for field, components in ((3, (1,)), (5, (1, 2))):
            for component in components:
                value = pid.extract_field(1, field, 1, component, 1) if len(pid) > field else ""
                found.add(str(value).split("&")[0])
        born = str(pid(7))[:8] if len(pid) > 7 else ""
        if born:
            found |= {born, f"{born[:4]}-{born[4:6]}-{born[6:]}"}
        found.add(str(pv1.extract_field(1, 19, 1, 1, 1)))
    return {f for f in found if len(f) >= 4}


def text_of(path: Path) -> bytes:
    """A file's bytes, with zip and Parquet members opened (compression would hide a leak)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return b"".join(archive.read(name) for name in archive.namelist())
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv().encode()
    return path.read_bytes()


@pytest.mark.slow
def test_no_identifier_of_the_test_messages_is_stored_logged_or_sent_to_mlflow(tmp_path):
    demo = generate_demo_hospital(start="2024-01-01", end="2024-03-15", units=UNITS, transfers=True)
    stays = ingest(demo.episodes).episodes
    messages = adt_messages(stays)
    samples = [
        (FIXTURES / "hl7" / f"ADT-{name}-02.hl7").read_text().replace("|MSG00001|", f"|SAMPLE{n}|")
        for n, name in enumerate(("A01", "A02", "A08", "A03"))
    ]
    patient = {"id": "194507091234", "name": "Lindqvist^Astrid", "born": "19450709", "sex": "F"}
    refused = adt_message(
        "A01",
        pd.Timestamp("2024-03-01 10:00"),
        patient,
        "POC-XRAY",
        None,
        "V-REFUSED",
        "E",
        pd.Timestamp("2024-03-01 10:00"),
        control_id="BAD1",
    )
    watched = identifiers_in_hl7([*messages[:200], *samples, refused])
    assert {"EVERYMAN", "PATID1234", "19880818", "Lindqvist", "194507091234", "40007716"} <= watched

    locations = tmp_path / "locations.csv"
    sample_ward = pd.DataFrame({"location": ["HUH AE OMU", "SPROOM", "OPD"], "unit": ["internal_medicine"] * 3})
    pd.concat([locations_of(sorted(stays["unit"].unique())), sample_ward]).to_csv(locations, index=False)
    url = f"sqlite:///{tmp_path / 'episodes.db'}"
    listener = Listener(url, tmp_path, locations).start()
    try:
        counts = send_all([*messages, *samples, refused], listener.port)
    finally:
        listener.stop()
    assert counts["AA"] == len(messages) + len(samples) and counts["AE"] == 1
    log = listener.log.read_text()
    assert "BAD1" in log and "PV1-3" in log  # the refusal is logged, by control id and field

    # A batch file into the same database (`bedcast adt --file`): two more samples and a leave of absence of
    # another made-up patient; first with a refused message in it (nothing stored, the refusal named), then not.
    batch_samples = [
        (FIXTURES / "hl7" / f"ADT-{name}-02.hl7").read_text().replace(f"|{old}|", f"|BATCH{n}|")
        for n, (name, old) in enumerate((("A06", "MSG00006"), ("A07", "MSG00007")))
    ]
    away = {"id": "196112241111", "name": "Sandberg^Gunnel", "born": "19611224", "sex": "F"}
    at = pd.Timestamp("2024-03-02 14:00")
    leave = adt_message("A21", at, away, locations_of(["internal_medicine"])["location"][0], None, "V-AWAY", "E", at)
    leave = leave.replace("{CONTROL_ID}", "LEAVE1")
    watched |= identifiers_in_hl7([*batch_samples, leave])
    assert {"Sandberg", "196112241111", "V-AWAY"} <= watched
    batch = tmp_path / "nightly.hl7"
    load = [sys.executable, "-m", "forecast.cli", "adt", "--file", str(batch), "--into", url]
    load += ["--secret-file", str(tmp_path / "secret"), "--locations", str(locations)]
    batch.write_bytes(batch_file([*batch_samples, leave, refused.replace("|BAD1|", "|BAD2|")]))
    batch_refused = subprocess.run(load, capture_output=True, text=True)
    assert batch_refused.returncode == 1 and "MSH-10 BAD2): AE PV1-3" in batch_refused.stderr
    batch.write_bytes(batch_file([*batch_samples, leave]))
    batch_loaded = subprocess.run(load, capture_output=True, text=True)
    assert batch_loaded.returncode == 0 and ": 3 stored" in batch_loaded.stdout, batch_loaded.stderr

    # A FHIR export into the same database: Synthea's sample and Encounters with made-up patients.
    exported = encounters(stays.head(50), seed=5)
    fhir = tmp_path / "Encounter.ndjson"
    fhir.write_text(
        (FIXTURES / "fhir" / "synthea-Encounter.ndjson").read_text() + "".join(json.dumps(e) + "\n" for e in exported)
    )
    for line in fhir.read_text().splitlines():
        resource = json.loads(line)
        watched.add(resource["subject"]["reference"].split("/")[-1])
        watched |= {i["value"] for i in resource.get("identifier", [])}
        if "display" in resource["subject"]:
            watched.add(resource["subject"]["display"].split()[-1])
    ingested = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecast.cli",
            "ingest",
            str(fhir),
            "--out",
            str(tmp_path / "fhir-daily.csv"),
            "--secret-file",
            str(tmp_path / "secret"),
            "--locations",
            str(locations),
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    # A training run on the stored stays, logged to its own MLflow store.
    mlflow_root = tmp_path / "mlflow"
    mlflow_root.mkdir()
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.train",
            "--episodes-db",
            url,
            "--horizon",
            "7",
            "--folds",
            "1",
            "--step",
            "7",
            "--models",
            "seasonal_naive,flow",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=mlflow_root,  # the embedded MLflow store is the working folder's
        env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
    )
    assert trained.returncode == 0, trained.stderr[-2000:]

    places = [tmp_path / "episodes.db", listener.log, tmp_path / "fhir-daily.csv", *mlflow_root.rglob("*")]
    places += list(tmp_path.glob("episodes.db-*"))
    files = [p for p in places if p.is_file()]
    assert any(p.name == "mlflow.db" for p in files) and len(files) > 10
    blobs = {p: text_of(p) for p in files}
    outputs = [ingested, trained, batch_refused, batch_loaded]
    blobs[Path("commands' output")] = "".join(run.stdout + run.stderr for run in outputs).encode()
    # Whole values only: the visit number G0000001 is not a leak inside the control id MSG000000012.
    patterns = {i: re.compile(rb"(?<![0-9A-Za-z])" + re.escape(i.encode()) + rb"(?![0-9A-Za-z])") for i in watched}
    leaks = [
        (str(p), i) for p, blob in blobs.items() for i, pattern in sorted(patterns.items()) if pattern.search(blob)
    ]
    assert not leaks
    # The stays are there under their keys: the scan looked at real content.
    assert re.search(rb"v:[0-9a-f]{40}", blobs[tmp_path / "episodes.db"])
