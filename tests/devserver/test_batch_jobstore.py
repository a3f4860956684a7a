"""Batch state on its own: job rows and their typed plan (the plans older releases stored
included), batch endpoint and deployment rows, and the settings and plan that invoke makes."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from epdev.devserver.batch.endpointstore import (
    BatchDeploymentRow,
    BatchEndpointRow,
    BatchEndpointStore,
)
from epdev.devserver.batch.inputs import ResolvedInput
from epdev.devserver.batch.jobstore import JobRow, JobState, JobStore
from epdev.devserver.batch.local import LocalSlots
from epdev.devserver.batch.output import JobFolder
from epdev.devserver.batch.plan import JobPlan, job_settings, make_plan
from epdev.devserver.batch.workers import Workers
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest
from epdev.devserver.store import Store
from epdev.runtimes.catalog import Runtimes
from epdev.specs import BatchDeployment, validate_spec

SETTINGS = {
    "mini_batch_size": 2,
    "max_concurrency_per_instance": 2,
    "error_threshold": 5,
    "retry_settings": {"max_retries": 4, "timeout": 45},
    "output_action": "append_row",
    "output_file_name": "predictions.csv",
    "logging_level": "info",
    "environment_variables": {"LABEL": "x"},
}

# A plan as the first batch release stored it: no runtime, conda file or environment reference.
FIRST_RELEASE_PLAN: dict[str, Any] = {
    "input": {"source": "/data", "path": "/data", "type": "uri_folder", "url": None},
    "output_dir": "/jobs/j/outputs",
    "output_file": "/jobs/j/outputs/predictions.csv",
    "settings": SETTINGS,
    "instance_count": 2,
    "slots": 4,
    "engine": "local",
    "script": {
        "app_root": "/code",
        "entry_script": "score.py",
        "model_path": None,
        "environment": {"LABEL": "x", "AZUREML_BI_OUTPUT_PATH": "/jobs/j/outputs"},
    },
    "job_dir": "/jobs/j",
}
# ... as the venv runtime's release stored it, and as registered environments' release does.
VENV_RELEASE_PLAN = {
    **FIRST_RELEASE_PLAN,
    "script": {
        **FIRST_RELEASE_PLAN["script"],
        "runtime": "venv",
        "builtin_mlflow": False,
        "conda_file": "/code/conda.yaml",
    },
}
ENVIRONMENTS_RELEASE_PLAN = {
    **VENV_RELEASE_PLAN,
    "script": {**VENV_RELEASE_PLAN["script"], "conda_file": None, "environment_ref": "azureml:e:1"},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = Store(tmp_path / "state.db")
    yield found
    found.close()


def _insert_job(store: Store, name: str, plan: object) -> None:
    # As an older epdev wrote the row: the plan is plain JSON.
    store.execute(
        "INSERT INTO batch_jobs (name, endpoint, deployment, state, plan, created_at) "
        "VALUES (?, 'e', 'd', 'Running', ?, 1.0)",
        (name, json.dumps(plan)),
    )


@pytest.mark.parametrize(
    "stored", [FIRST_RELEASE_PLAN, VENV_RELEASE_PLAN, ENVIRONMENTS_RELEASE_PLAN]
)
def test_plans_of_earlier_releases_load_typed(store: Store, stored: dict[str, Any]) -> None:
    _insert_job(store, "j", stored)
    row = JobStore(store).get("j")
    assert row is not None
    plan = row.plan
    assert plan.settings.retry_settings.max_retries == 4
    assert plan.settings.retry_settings.timeout == 45
    assert (plan.settings.mini_batch_size, plan.settings.error_threshold) == (2, 5)
    assert (plan.slots, plan.engine, plan.appends_rows) == (4, "local", True)
    assert plan.output_file == Path("/jobs/j/outputs/predictions.csv")
    assert plan.script.app_root == Path("/code")
    script = stored["script"]
    assert plan.script.runtime == script.get("runtime", "process")
    assert plan.script.conda_file == (
        Path(script["conda_file"]) if script.get("conda_file") else None
    )
    assert plan.script.environment_ref == script.get("environment_ref")
    assert plan.script.builtin_mlflow is False
    # What the job shows is what it showed when the plan was a plain mapping.
    view = row.view()
    assert view["settings"] == SETTINGS
    assert view["inputs"] == stored["input"]
    assert view["outputs"] == {"path": stored["output_dir"], "file": stored["output_file"]}
    assert (view["engine"], view["job_folder"]) == ("local", "/jobs/j")


def test_a_plan_is_stored_in_the_shape_earlier_releases_read(store: Store) -> None:
    jobs = JobStore(store)
    plan = JobPlan.model_validate(ENVIRONMENTS_RELEASE_PLAN)
    jobs.add(JobRow(name="j", endpoint="e", deployment="d", state=JobState.QUEUED, plan=plan))
    (stored,) = store.query("SELECT plan FROM batch_jobs WHERE name = 'j'")
    assert json.loads(stored["plan"]) == ENVIRONMENTS_RELEASE_PLAN


def test_an_unreadable_plan_names_its_job_and_field(store: Store) -> None:
    _insert_job(store, "broken", {**FIRST_RELEASE_PLAN, "slots": "many"})
    with pytest.raises(ValueError, match="job 'broken': its stored plan is unreadable: slots"):
        JobStore(store).get("broken")


def test_job_state_and_counts(store: Store) -> None:
    jobs = JobStore(store)
    plan = JobPlan.model_validate(FIRST_RELEASE_PLAN)
    jobs.add(JobRow(name="j", endpoint="e", deployment="d", state=JobState.QUEUED, plan=plan))
    jobs.set_items("j", 7, 4)
    jobs.set_state("j", JobState.RUNNING)
    first = jobs.get("j")
    assert first is not None and first.started_at is not None
    jobs.set_state("j", JobState.RUNNING)  # a resumed job keeps when it first started
    again = jobs.get("j")
    assert again is not None and again.started_at == first.started_at
    jobs.set_state("j", JobState.FAILED, "too many failures")
    row = jobs.get("j")
    assert row is not None
    assert (row.items_total, row.minibatches_total) == (7, 4)
    assert (row.state, row.error, row.ended_at is not None) == (
        JobState.FAILED,
        "too many failures",
        True,
    )
    assert [r.name for r in jobs.all("e")] == ["j"] and jobs.all("other") == []


def test_endpoint_and_deployment_rows(store: Store) -> None:
    rows = BatchEndpointStore(store)
    rows.add_endpoint(BatchEndpointRow("e", {"name": "e"}))
    rows.add_deployment(BatchDeploymentRow("e", "one", {"name": "one"}))
    rows.add_deployment(BatchDeploymentRow("e", "two", {"name": "two"}, "two.yml", "venv"), True)
    endpoint = rows.endpoint("e")
    assert endpoint is not None and endpoint.default_deployment == "two"
    assert rows.deployment_names("e") == ["one", "two"]
    two = rows.deployment("e", "two")
    assert two is not None
    assert (two.spec, two.source, two.runtime) == ({"name": "two"}, "two.yml", "venv")
    two.runtime, two.spec = "process", {"name": "two", "description": "d"}
    rows.save_deployment(two, make_default=False)
    saved = rows.deployment("e", "two")
    assert saved is not None and (saved.runtime, saved.spec["description"]) == ("process", "d")
    endpoint.default_deployment, endpoint.source = "one", "endpoint.yml"
    rows.save_endpoint(endpoint)
    assert rows.endpoint("e") == endpoint
    rows.delete_deployment("e", "one")
    assert rows.deployment_names("e") == ["two"]
    rows.delete_endpoint("e")
    assert (rows.endpoint_names(), rows.deployment_names("e")) == ([], [])


def test_a_deployment_that_cannot_be_added_leaves_the_default_alone(store: Store) -> None:
    rows = BatchEndpointStore(store)
    rows.add_endpoint(BatchEndpointRow("e", {"name": "e"}, default_deployment="one"))
    rows.add_deployment(BatchDeploymentRow("e", "one", {"name": "one"}))
    with pytest.raises(sqlite3.IntegrityError):
        rows.add_deployment(BatchDeploymentRow("e", "one", {"name": "one"}), make_default=True)
    rows.add_deployment(BatchDeploymentRow("e", "two", {}))
    with pytest.raises(sqlite3.IntegrityError):
        rows.add_deployment(BatchDeploymentRow("e", "two", {}), make_default=True)
    endpoint = rows.endpoint("e")
    assert endpoint is not None and endpoint.default_deployment == "one"


def test_deployments_of_a_home_older_than_runtimes_run_on_the_process_runtime(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state.db"
    with closing(sqlite3.connect(database)) as db:
        db.executescript(
            "CREATE TABLE batch_endpoints (name TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT,"
            " default_deployment TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);"
            "CREATE TABLE batch_deployments (endpoint TEXT NOT NULL, name TEXT NOT NULL,"
            " spec TEXT NOT NULL, source TEXT, created_at REAL NOT NULL,"
            " updated_at REAL NOT NULL, PRIMARY KEY (endpoint, name));"
            """INSERT INTO batch_endpoints VALUES ('e', '{"name": "e"}', NULL, NULL, 0, 0);"""
            """INSERT INTO batch_deployments VALUES ('e', 'd', '{"name": "d"}', NULL, 0, 0);"""
        )
    store = Store(database)
    try:
        row = BatchEndpointStore(store).deployment("e", "d")
        assert row is not None and (row.spec, row.runtime) == ({"name": "d"}, "process")
    finally:
        store.close()


def _deployment(tmp_path: Path, **fields: Any) -> BatchDeployment:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text("def init():\n    pass\n\ndef run(mini_batch):\n    return []\n")
    data = {
        "name": "dep",
        "endpoint_name": "batch-e",
        "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        "resources": {"instance_count": 2},
        "settings": {"mini_batch_size": 3, "retry_settings": {"max_retries": 1}},
        **fields,
    }
    spec = validate_spec("batch-deployment", data).spec
    assert isinstance(spec, BatchDeployment)
    return spec


def test_job_settings_take_the_invocation_on_top_of_the_deployment(tmp_path: Path) -> None:
    spec = _deployment(tmp_path)
    settings, instances, engine = job_settings(spec, None, None, {}, None)
    assert (settings.mini_batch_size, settings.retry_settings.max_retries) == (3, 1)
    assert (instances, engine) == (2, "local")
    overrides = {
        "settings.retry_settings.max_retries": 6,
        "error_threshold": 2,
        "instance_count": 3,
    }
    settings, instances, _ = job_settings(spec, 5, None, overrides, None)
    assert (settings.mini_batch_size, settings.retry_settings.max_retries) == (5, 6)
    assert (settings.error_threshold, instances) == (2, 3)
    assert job_settings(spec, None, 4, {"instance_count": 3}, None)[1] == 4  # the flag wins
    with pytest.raises(BadRequest, match=r"invalid job settings: retry_settings\.max_retries"):
        job_settings(spec, None, None, {"retry_settings.max_retries": -1}, None)
    with pytest.raises(BadRequest, match="instance_count must be a whole number"):
        job_settings(spec, None, None, {"instance_count": True}, None)
    with pytest.raises(BadRequest, match="engine 'spark' is not one of local, dask"):
        job_settings(spec, None, None, {}, "spark")


def test_a_plan_holds_what_invoke_decided(tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text("dependencies:\n  - pip:\n    - numpy\n")
    spec = _deployment(tmp_path, environment={"conda_file": str(tmp_path / "conda.yaml")})
    settings, instances, engine = job_settings(spec, None, None, {}, None)
    source = ResolvedInput(source="in", path=tmp_path / "in", type="uri_folder")
    plan_of = functools.partial(
        make_plan,
        spec,
        job_dir=tmp_path / "job",
        model=(None, False),
        settings=settings,
        instances=instances,
        engine=engine,
    )
    plan = plan_of(output_path=None, source=source, runtime="venv")
    assert plan.output_file == tmp_path / "job" / "outputs" / "predictions.csv"
    assert plan.slots == 2 and plan.input.path == str(tmp_path / "in")
    assert plan.script.environment["AZUREML_BI_OUTPUT_PATH"] == str(tmp_path / "job" / "outputs")
    assert (plan.script.runtime, plan.script.conda_file) == ("venv", tmp_path / "conda.yaml")
    assert plan.script.environment_ref is None
    url = "https://example.invalid/data.csv"
    remote = ResolvedInput(source=url, path=Path(), type="uri_file", url=url)
    elsewhere = plan_of(output_path=str(tmp_path / "out"), source=remote, runtime="process")
    assert elsewhere.output_file == tmp_path / "out" / "predictions.csv"
    assert (elsewhere.input.path, elsewhere.input.url) == (None, url)
    with pytest.raises(BadRequest, match="--output-path 'out' must be absolute"):
        plan_of(output_path="out", source=source, runtime="process")


def test_venv_jobs_resolve_their_environment_as_online_deployments_do(
    tmp_path: Path, store: Store
) -> None:
    (tmp_path / "conda.yaml").write_text("dependencies:\n  - pip:\n    - numpy==1.26.4\n")
    environments = Environments(store, tmp_path / "environments")
    workers = Workers(Runtimes("process"), environments, tmp_path / "cache")
    plan = JobPlan.model_validate(
        {
            **VENV_RELEASE_PLAN,
            "script": {
                **VENV_RELEASE_PLAN["script"],
                "app_root": str(tmp_path),
                "conda_file": str(tmp_path / "conda.yaml"),
            },
        }
    )
    environment = workers._environment(plan.script)
    assert "numpy==1.26.4" in environment.python.requirements
    row = JobRow(name="j", endpoint="e", deployment="d", state=JobState.RUNNING, plan=plan)
    slots = workers.slots(row, JobFolder(tmp_path / "job").ensure(), 2)
    # The venv is made when the job's workers start, not when its slots are.
    assert isinstance(slots, LocalSlots) and slots.size == 2
    assert not (tmp_path / "cache" / "venvs").exists()
    with pytest.raises(BadRequest, match="'azureml:nothing:1'"):
        workers._environment(
            plan.script.model_copy(update={"environment_ref": "azureml:nothing:1"})
        )
