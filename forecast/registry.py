"""The MLflow edge: the tracking store, the pyfunc model of a trained bundle, the registry and its aliases.

Embedded default: tracking in `sqlite:///mlflow.db`, artifacts under `mlruns/`, both in the working folder;
`MLFLOW_TRACKING_URI` points at a server instead. Requests to a server are retried a bounded number of times
with short timeouts, so an unreachable server is an error within seconds, not a hang of minutes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from forecast.bundle import REQUEST_COLUMNS, ForecastBundle, answer_requests

__all__ = [
    "DEFAULT_MODEL_NAME",
    "CHAMPION",
    "CHALLENGER",
    "TrackingUnavailable",
    "ModelNotFound",
    "NoSuchModel",
    "AliasNotSet",
    "ArtifactsUnavailable",
    "BedDemandModel",
    "ServedModel",
    "Promotion",
    "configure_tracking",
    "decide_promotion",
    "save_bundle",
    "load_bundle",
    "log_bundle",
    "champion_tags",
    "set_alias",
    "resolve_alias",
    "load_version",
    "load_model",
    "alias_version",
    "shown_uri",
]

DEFAULT_MODEL_NAME = "bed-demand"
CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_EXPERIMENT = "bed-demand"
# Bounded retries against a tracking server (MLflow's own defaults retry for minutes).
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    # A progress bar per artifact download clutters the terminal of a service.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be reached or used."""


class ModelNotFound(LookupError):
    """No registered model version under the name and alias asked for (see the two cases below)."""


class NoSuchModel(ModelNotFound):
    """No registered model of that name: nothing was ever trained into this registry under it."""


class AliasNotSet(ModelNotFound):
    """The registered model exists but the alias points at none of its versions."""


class ArtifactsUnavailable(RuntimeError):
    """A registered version whose artifacts are missing or cannot be read as a bed-demand model."""


def configure_tracking(root: Path | None = None, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Point MLflow at the tracking store, check it answers, and select the experiment.

    Args:
        root: folder of the embedded store (`mlflow.db`, `mlruns/`); default the working folder. Ignored when
            `MLFLOW_TRACKING_URI` names a store.
        experiment: experiment name; created with its artifacts under `root/mlruns` on the embedded store.

    Returns:
        The tracking URI in use, with any password hidden (for showing).

    Raises:
        TrackingUnavailable: the store did not answer (after bounded retries).
    """
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    root = (root or Path.cwd()).resolve()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    # A database store (sqlite, postgresql, ...) keeps artifacts in a folder of ours; a server has its own.
    local_artifacts = not uri.startswith(("http:", "https:", "databricks"))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            location = (root / "mlruns" / experiment).as_uri() if local_artifacts else None
            client.create_experiment(experiment, artifact_location=location)
        mlflow.set_experiment(experiment)
    except Exception as error:  # MlflowException, or requests/urllib3 errors from a server
        raise TrackingUnavailable(
            f"the MLflow tracking store at {shown_uri(uri)} cannot be used: {_reason(error)}; "
            "check MLFLOW_TRACKING_URI, or unset it to use the embedded store (mlflow.db)"
        ) from None
    return shown_uri(uri)


def shown_uri(uri: str) -> str:
    """A store's URI with its password replaced by `***`, fit for messages and logs."""
    parsed = urlsplit(uri)
    if parsed.password is None:
        return uri
    user = f"{parsed.username}:***@" if parsed.username else ":***@"
    host = parsed.netloc.rsplit("@", 1)[1]
    return urlunsplit(parsed._replace(netloc=user + host))


def _reason(error: BaseException) -> str:
    text = str(error)
    if "Max retries exceeded" in text or "NewConnectionError" in text or "ConnectionError" in text:
        tries = (
            int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])) + 1
        )
        return f"no connection after {tries} tries"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:300]


# --- the bundle on disk --------------------------------------------------------------------------------------


def save_bundle(bundle: ForecastBundle, folder: Path) -> Path:
    """Write a bundle as Parquet tables and a JSON file of metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    bundle.forecasts.to_parquet(folder / "forecasts.parquet", index=False)
    bundle.units.to_parquet(folder / "units.parquet", index=False)
    bundle.history.to_parquet(folder / "history.parquet", index=False)
    bundle.length_of_stay.to_parquet(folder / "length_of_stay.parquet", index=False)
    bundle.pools.to_parquet(folder / "pools.parquet", index=False)
    bundle.admissions_by_type.to_parquet(folder / "admissions_by_type.parquet", index=False)
    bundle.in_bed.to_parquet(folder / "in_bed.parquet", index=False)
    for name in ("year_ahead", "year_units", "counterfactuals", "drivers"):
        getattr(bundle, name).to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "meta.json").write_text(json.dumps(bundle.meta.to_dict(), indent=2, default=str))
    return folder


def load_bundle(folder: Path) -> ForecastBundle:
    return ForecastBundle(
        forecasts=pd.read_parquet(folder / "forecasts.parquet"),
        units=pd.read_parquet(folder / "units.parquet"),
        history=pd.read_parquet(folder / "history.parquet"),
        meta=json.loads((folder / "meta.json").read_text()),
        length_of_stay=_optional_table(folder / "length_of_stay.parquet"),
        pools=_optional_table(folder / "pools.parquet"),
        admissions_by_type=_optional_table(folder / "admissions_by_type.parquet"),
        in_bed=_optional_table(folder / "in_bed.parquet"),
        year_ahead=_optional_table(folder / "year_ahead.parquet"),
        year_units=_optional_table(folder / "year_units.parquet"),
        counterfactuals=_optional_table(folder / "counterfactuals.parquet"),
        drivers=_optional_table(folder / "drivers.parquet"),
    )


def _optional_table(path: Path) -> pd.DataFrame:
    # Versions registered before a table was added load without it.
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


class BedDemandModel(PythonModel):
    """The pyfunc model: per-unit forecast distributions made at training, answered per request row.

    Input: a frame with `unit, target, start, days` (see `forecast.bundle.answer_requests`); output: the
    forecast rows with their quantile grid.
    """

    def __init__(self) -> None:
        self.bundle: ForecastBundle | None = None

    def load_context(self, context: Any) -> None:
        self.bundle = load_bundle(Path(context.artifacts["bundle"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.bundle is None:
            raise RuntimeError("the model has no bundle loaded")
        return answer_requests(self.bundle, model_input)


def input_example(bundle: ForecastBundle) -> pd.DataFrame:
    """Every unit's census and admissions over the whole forecast: the request that reproduces the table."""
    rows = [
        {"unit": unit, "target": target, "start": "", "days": 0}
        for target in bundle.forecasts["target"].unique()
        for unit in bundle.unit_names
    ]
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS)


def log_bundle(bundle: ForecastBundle, model_name: str) -> Any:
    """Log the bundle as a pyfunc model in the active run and register a new version of `model_name`.

    Returns:
        MLflow's `ModelInfo` (with `registered_model_version`).
    """
    example = input_example(bundle)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; `days` never is missing.
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer column", category=UserWarning, module="mlflow"
        )
        signature = mlflow.models.infer_signature(example, answer_requests(bundle, example.head(1)))
    # MLflow warns that a Python object is pickled: it is our own class, from our own installed package.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_bundle(bundle, Path(tmp) / "bundle")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=BedDemandModel(),
            artifacts={"bundle": str(folder)},
            signature=signature,
            input_example=example.head(2),
            registered_model_name=model_name,
            # Our own package is the model's code: record its requirements, not a pinned environment guess.
            pip_requirements=["bedcast", f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}"],
        )


# --- the registry: who is champion ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """Which alias a new version gets, and why (recorded in the run)."""

    alias: str
    reason: str


def decide_promotion(
    score: float,
    champion_version: str | None,
    champion_score: float | None,
    refit: bool = False,
    force: bool = False,
) -> Promotion:
    """Champion when forced, when there is none, or when the score beats the champion's on the same window.

    Args:
        score: the new version's backtest score (mean MASE; lower is better).
        champion_version: the current champion's version, or None when there is none.
        champion_score: the champion's score on the new version's data window (its own when the window is the
            same, else its settings re-scored on this window).
        refit: the champion's settings, re-scored on a newer window, are the new version's own: the new version
            is the same method fitted on more data, and takes over.
        force: `--promote`.
    """
    if force:
        return Promotion(CHAMPION, "promoted by --promote")
    if champion_version is None or champion_score is None:
        return Promotion(CHAMPION, "no champion yet")
    if refit:
        return Promotion(
            CHAMPION, f"the champion's settings (version {champion_version}) refitted on newer data; score {score:.4f}"
        )
    if score < champion_score:
        return Promotion(
            CHAMPION,
            f"score {score:.4f} beats the champion's (version {champion_version}) {champion_score:.4f} "
            "on the same data window",
        )
    return Promotion(
        CHALLENGER,
        f"score {score:.4f} does not beat the champion's (version {champion_version}) {champion_score:.4f} "
        "on the same data window",
    )


def champion_tags(client: MlflowClient, model_name: str) -> dict[str, str] | None:
    """The current champion version's tags and version number, or None when there is no champion (no model of
    that name yet, or no version holds the alias).

    Raises:
        TrackingUnavailable: the registry did not answer or failed: that is not "no champion", and training
            must not promote a version as if there were none.
    """
    try:
        version = resolve_alias(client, model_name, CHAMPION)
    except ModelNotFound:
        return None
    return {**version.tags, "version": str(version.version), "run_id": str(version.run_id)}


def _registry_failed(error: BaseException, doing: str) -> TrackingUnavailable:
    return TrackingUnavailable(
        f"the MLflow registry at {shown_uri(mlflow.get_registry_uri())} failed while {doing}: {_reason(error)}; "
        "check MLFLOW_TRACKING_URI and that the server is up"
    )


def resolve_alias(client: MlflowClient, model_name: str, alias: str) -> Any:
    """The model version `<name>@<alias>` points at now (MLflow's `ModelVersion`).

    Raises:
        NoSuchModel: no registered model of that name.
        AliasNotSet: the model exists, the alias is on none of its versions (the message lists the aliases).
        TrackingUnavailable: the registry could not be asked.
    """
    try:
        model = client.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NoSuchModel(
                f"no registered model {model_name!r} in the registry at {shown_uri(mlflow.get_registry_uri())}; "
                "train one with `bedcast train` (or `make demo`)"
            ) from None
        raise _registry_failed(error, f"looking up the model {model_name!r}") from None
    except Exception as error:  # requests/urllib3 errors from a server
        raise _registry_failed(error, f"looking up the model {model_name!r}") from None
    aliases = dict(getattr(model, "aliases", None) or {})
    if alias not in aliases:
        others = ", ".join(f"{name} → version {v}" for name, v in sorted(aliases.items())) or "none"
        raise AliasNotSet(
            f"no version of {model_name!r} is {alias!r} (aliases set: {others}); train with `bedcast train` "
            f"(a first version becomes champion), or point the alias at a version in the MLflow UI"
        )
    try:
        return client.get_model_version(model_name, str(aliases[alias]))
    except Exception as error:
        raise _registry_failed(error, f"reading version {aliases[alias]} of {model_name!r}") from None


def set_alias(client: MlflowClient, model_name: str, version: str | int, promotion: Promotion) -> None:
    client.set_registered_model_alias(model_name, promotion.alias, str(version))


# --- serving: load by alias ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedModel:
    """A loaded model version and where it came from."""

    bundle: ForecastBundle
    name: str
    version: str
    alias: str
    run_id: str
    tags: dict[str, str]


def load_version(model_name: str, version: Any, alias: str) -> ServedModel:
    """Load one registered version (`models:/<name>/<version>`): the bundle served is the version reported.

    Args:
        model_name: registered model name.
        version: MLflow's `ModelVersion`, as `resolve_alias` found it.
        alias: the alias it was found under (reported with it).

    Raises:
        ArtifactsUnavailable: its artifacts are missing, unreadable, or not a bed-demand model.
        TrackingUnavailable: the registry or artifact store could not be reached.
    """
    number = str(version.version)
    where = f"version {number} of {model_name!r} (artifacts at {version.source})"
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name}/{number}")
        python_model = model.unwrap_python_model()
    except Exception as error:
        reason = _reason(error)
        if reason.startswith("no connection"):
            raise TrackingUnavailable(f"the artifact store of {where} cannot be reached: {reason}") from None
        state = "missing" if _missing(error) else "damaged"
        raise ArtifactsUnavailable(
            f"{where} cannot be loaded: its artifacts are {state} ({type(error).__name__}: {reason}); "
            "train a new version, or point the alias at another"
        ) from None
    if not isinstance(python_model, BedDemandModel) or python_model.bundle is None:
        raise ArtifactsUnavailable(f"{where} is not a bed-demand model (no forecast bundle in it)")
    return ServedModel(
        bundle=python_model.bundle,
        name=model_name,
        version=number,
        alias=alias,
        run_id=str(version.run_id),
        tags=dict(version.tags),
    )


def _missing(error: BaseException) -> bool:
    """A file or artifact that is not there (as against one that is there but cannot be read)."""
    if isinstance(error, FileNotFoundError):
        return True
    if isinstance(error, MlflowException) and error.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return "No such file or directory" in str(error) or "No such artifact" in str(error)


def load_model(model_name: str = DEFAULT_MODEL_NAME, alias: str = CHAMPION) -> ServedModel:
    """Load what `models:/<name>@<alias>` points at, from the configured registry.

    The alias is resolved once and that version loaded, so the version reported is the one served even when
    the alias moves while the artifacts download.

    Raises:
        NoSuchModel, AliasNotSet: nothing to serve (the message says how to train one).
        ArtifactsUnavailable: the version's artifacts are missing or damaged.
        TrackingUnavailable: the registry or artifact store could not be reached.
    """
    version = resolve_alias(MlflowClient(), model_name, alias)
    return load_version(model_name, version, alias)


def alias_version(model_name: str = DEFAULT_MODEL_NAME, alias: str = CHAMPION) -> str:
    """The version the alias names now: registry calls only, no download (serving workers poll it).

    Raises:
        NoSuchModel, AliasNotSet: nothing to serve.
        TrackingUnavailable: the registry did not answer.
    """
    return str(resolve_alias(MlflowClient(), model_name, alias).version)
