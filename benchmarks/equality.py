"""Every table of the demo and HDHI, dumped by the code of one checkout and compared with another's dump.

    .venv/bin/python benchmarks/equality.py dump OUT [--only demo|hdhi]
    .venv/bin/python benchmarks/equality.py compare BEFORE AFTER

`dump` trains the demo hospital (as `make demo`) and HDHI (a few candidates) into a temporary MLflow store and
writes what a user gets: the run's tables (forecasts, metrics, the logged bed plan and staffing), and every
answer of the HTTP API that is a table (units, forecasts, beds, plans of every level and risk, staffing, history,
monitoring, and what-if scenarios from the empty one to all levers at once, JSON and CSV of each table) through
the app the checkout builds. Run it on the code before a refactor and after, then `compare`: it prints each
file that differs and the largest numeric difference, and exits 1 when any does. Known renamings of a field
(a sentence that became a record with its `text`) compare by that text.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDCAST_SHARED_DATA", ROOT.parent / "shared" / "data"))
VOLATILE = {"loaded_at", "trained_at", "run_id", "seconds", "git_commit", "saved_at"}


def train(name: str, folder: Path) -> Any:
    from forecast import registry
    from forecast.demo import generate_demo_hospital
    from training.pipeline import train as train_model
    from training.settings import TrainSettings

    folder.mkdir(parents=True, exist_ok=True)
    if name == "demo":
        hospital = generate_demo_hospital(seed=7, start="2021-01-01", end="2025-12-31")
        hospital.episodes.to_csv(folder / "episodes.csv", index=False)
        hospital.units.to_csv(folder / "units.csv", index=False)
        hospital.guest_nights.to_csv(folder / "guest_nights.csv", index=False)
        settings = TrainSettings(
            data=folder / "episodes.csv",
            units=folder / "units.csv",
            guest_nights=folder / "guest_nights.csv",
            root=folder,
        )
    else:
        settings = TrainSettings(
            data=SHARED / "hdhi" / "episodes.csv",
            candidates=("seasonal_naive", "ets", "flow", "gbm"),
            root=folder,
        )
    result = train_model(settings, say=lambda line: None)
    registry.configure_tracking(folder)
    return result


def dump_run(result: Any, out: Path) -> None:
    import mlflow

    tables = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="tables"))
    for path in sorted(tables.iterdir()):
        if path.suffix in (".csv", ".json"):
            shutil.copy(path, out / f"run_{path.name}")


def scenarios(units: list[str], weeks: list[str]) -> dict[str, dict[str, Any]]:
    first, last = units[0], units[-1]
    return {
        "empty": {},
        "acute_minus_1": {"admissions": [{"percent": -1, "admission_type": "acute"}]},
        "first_plus_10_later": {"admissions": [{"percent": 10, "units": [first], "start": None}]},
        "stays_minus_half_day": {"length_of_stay": [{"days": -0.5, "units": [first]}]},
        "elective_stays_plus_10": {"length_of_stay": [{"percent": 10, "admission_type": "elective"}]},
        "targets_and_risk": {"target_acute": 0.88, "target_elective": 0.9, "overflow_risk": 0.02},
        "planned_beds": {"planned_beds": [{"unit": last, "week": weeks[0], "beds": 5}]},
        "smooth": {"smooth_electives": True},
        "everything": {
            "admissions": [{"percent": -1, "admission_type": "acute"}, {"percent": 5, "units": [last]}],
            "length_of_stay": [{"days": -0.5, "units": [first]}, {"percent": -5, "admission_type": "elective"}],
            "target_acute": 0.88,
            "planned_beds": [{"unit": first, "week": weeks[-1], "beds": 3}],
            "smooth_electives": [last],
        },
    }


def dump_api(result: Any, folder: Path, out: Path) -> None:
    from fastapi.testclient import TestClient

    from forecast import registry
    from forecast.api import Settings, create_app

    served = registry.load_model(registry.DEFAULT_MODEL_NAME, registry.CHAMPION)
    settings = Settings(
        episodes_url=f"sqlite:///{folder / 'episodes.db'}", nowcast_interval=0, follow_seconds=0, api_key="k"
    )
    app = create_app(settings, loader=lambda: served)

    def get(client: TestClient, name: str, url: str, body: Any = None) -> Any:
        answer = client.post(url, json=body) if body is not None else client.get(url)
        text = answer.text
        suffix = "csv" if answer.headers.get("content-type", "").startswith("text/csv") else "json"
        (out / f"{name}.{suffix}").write_text(f"{answer.status_code}\n{text}")
        return answer.json() if suffix == "json" and answer.status_code == 200 else None

    with TestClient(app) as client:
        units_answer = get(client, "units", "/v1/units")
        get(client, "units_csv", "/v1/units?format=csv")
        model = get(client, "model", "/v1/model")
        units = [u["unit"] for u in units_answer["units"]]
        days = (
            __import__("datetime").date.fromisoformat(model["forecast_last_day"])
            - __import__("datetime").date.fromisoformat(model["forecast_first_day"])
        ).days + 1
        for unit in units:
            get(
                client,
                f"forecast_{unit}",
                f"/v1/forecast/{unit}?days={min(days, 366)}&start={model['forecast_first_day']}",
            )
            get(client, f"forecast_{unit}_fan_csv", f"/v1/forecast/{unit}?quantiles=0.025,0.1,0.5,0.9,0.975&format=csv")
            get(client, f"forecast_{unit}_default", f"/v1/forecast/{unit}")
            get(client, f"beds_{unit}", f"/v1/beds/{unit}")
            get(client, f"beds_{unit}_csv", f"/v1/beds/{unit}?format=csv&days=91")
            get(client, f"beds_{unit}_other", f"/v1/beds/{unit}?target_occupancy=0.9&overflow_risk=0.01&days=60")
            get(client, f"staffing_{unit}", f"/v1/staffing/{unit}?days=35")
            get(client, f"staffing_{unit}_csv", f"/v1/staffing/{unit}?format=csv")
            get(client, f"staffing_{unit}_fte_csv", f"/v1/staffing/{unit}?format=csv&table=fte&days=60")
            get(client, f"history_{unit}", f"/v1/history/{unit}")
        get(client, "monitoring", "/v1/monitoring")
        plan = None
        for level in ("unit", "hospital", "region"):
            for risk in ("", "&overflow_risk=0.01"):
                name = f"plan_{level}{'_1pct' if risk else ''}"
                found = get(client, name, f"/v1/plan?quarter=next&level={level}{risk}")
                get(client, f"{name}_csv", f"/v1/plan?quarter=next&level={level}{risk}&format=csv")
                plan = plan or found
        if plan is None:
            return
        weeks = sorted({w["week"] for w in plan["weeks"]})
        for name, body in scenarios(units, weeks).items():
            for change in body.get("admissions", []):
                if "start" in change:
                    change["start"] = plan["weeks"][3]["week_start"]
            get(client, f"scenario_{name}", "/v1/scenarios?tables=weeks,days,shifts,fte", body)
            for table in ("weeks", "days", "shifts", "fte"):
                get(client, f"scenario_{name}_{table}_csv", f"/v1/scenarios?format=csv&table={table}", body)


def dump(out: Path, only: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if only is None:  # each data set in a process of its own: MLflow keeps its first store's connection
        for name in ("demo", "hdhi"):
            subprocess.run([sys.executable, __file__, "dump", str(out), "--only", name], check=True)
        return
    for name in (only,):
        with tempfile.TemporaryDirectory(prefix=f"equality-{name}-") as tmp:
            folder = Path(tmp)
            result = train(name, folder)
            where = out / name
            where.mkdir(exist_ok=True)
            dump_run(result, where)
            dump_api(result, folder, where)
            print(f"{name}: {len(list(where.iterdir()))} files in {where}")


def _numbers_differ(a: Any, b: Any, path: str, found: list[tuple[str, float]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in VOLATILE:
                continue
            if key not in a or key not in b:
                found.append((f"{path}.{key} (only in {'after' if key in b else 'before'})", math.inf))
                continue
            _numbers_differ(a[key], b[key], f"{path}.{key}", found)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            found.append((f"{path} ({len(a)} rows before, {len(b)} after)", math.inf))
            return
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _numbers_differ(x, y, f"{path}[{k}]", found)
    elif isinstance(a, str) and isinstance(b, dict) and "text" in b:
        _numbers_differ(a, b["text"], f"{path}.text", found)  # a sentence that became a record
    elif isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        if a != b:
            found.append((f"{path}: {str(a)[:80]!r} -> {str(b)[:80]!r}", math.inf))
    elif a != b and not (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
        found.append((path, abs(a - b)))


def compare_file(before: Path, after: Path) -> list[tuple[str, float]]:
    import io

    import pandas as pd

    a, b = before.read_text(), after.read_text()
    if a == b:
        return []
    if before.suffix == ".json":
        status_a, _, body_a = a.partition("\n") if a[:3].isdigit() else ("", "", a)
        status_b, _, body_b = b.partition("\n") if b[:3].isdigit() else ("", "", b)
        found: list[tuple[str, float]] = []
        if status_a != status_b:
            found.append((f"status {status_a} -> {status_b}", math.inf))
        try:
            _numbers_differ(json.loads(body_a), json.loads(body_b), "", found)
        except json.JSONDecodeError:
            found.append(("not JSON", math.inf))
        return found
    body_a, body_b = (t.partition("\n")[2] if t[:3].isdigit() else t for t in (a, b))
    frame_a, frame_b = pd.read_csv(io.StringIO(body_a)), pd.read_csv(io.StringIO(body_b))
    drop = [c for c in frame_a.columns if c in VOLATILE]
    frame_a, frame_b = frame_a.drop(columns=drop), frame_b.drop(columns=[c for c in drop if c in frame_b])
    if list(frame_a.columns) != list(frame_b.columns) or len(frame_a) != len(frame_b):
        return [
            (
                f"columns or rows differ: {list(frame_a.columns)} ({len(frame_a)}) -> "
                f"{list(frame_b.columns)} ({len(frame_b)})",
                math.inf,
            )
        ]
    found = []
    for column in frame_a.columns:
        x, y = frame_a[column], frame_b[column]
        if x.equals(y):
            continue
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            diff = (x.astype(float) - y.astype(float)).abs().max()
            if diff > 0 or x.isna().ne(y.isna()).any():
                found.append((column, float(diff) if x.isna().eq(y.isna()).all() else math.inf))
        else:
            found.append((column, math.inf))
    return found


def compare(before: Path, after: Path) -> int:
    names = sorted({p.relative_to(before) for p in before.rglob("*") if p.is_file()})
    missing = [n for n in names if not (after / n).exists()]
    differing = 0
    for name in names:
        if name in missing:
            continue
        found = compare_file(before / name, after / name)
        if found:
            differing += 1
            worst = max(d for _, d in found)
            print(f"{name}: {len(found)} difference(s), largest {worst:g}; e.g. {found[0][0]}")
    for name in missing:
        print(f"{name}: missing after")
    print(
        f"{len(names)} files compared: {len(names) - differing - len(missing)} equal, {differing} differ, "
        f"{len(missing)} missing"
    )
    return 1 if differing or missing else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump")
    dumping.add_argument("out", type=Path)
    dumping.add_argument("--only", choices=("demo", "hdhi"))
    comparing = commands.add_parser("compare")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.only)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
