"""The job engine's parts on their own: rows from run()'s answers, committed output, splitting,
inputs, the registry, and which script a deployment runs."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
from support.mlflow_models import pinned

from epdev.devserver.assets import Registry, parse_reference
from epdev.devserver.batch.inputs import list_files, resolve_input, split
from epdev.devserver.batch.jobstore import Checkpoint, JobRow, JobState, JobStore
from epdev.devserver.batch.output import OutputFile
from epdev.devserver.batch.plan import InputPlan, JobPlan, ScriptPlan
from epdev.devserver.batch.script import MLFLOW_BATCH_MODULE, scoring_entry
from epdev.devserver.errors import BadRequest, NotFound
from epdev.devserver.store import Store
from epdev.runtimes.worker.batchrows import BadResult, to_rows
from epdev.specs import BatchSettings, validate_spec


def test_dataframe_rows_are_csv_without_header_or_index() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"file": ["a.csv", "b,c.csv"], "score": [0.5, 1.0]})
    result = to_rows(frame, keep_rows=True)
    assert result.rows == 2
    assert result.text == 'a.csv,0.5\n"b,c.csv",1.0\n'
    assert to_rows(frame, keep_rows=False).text == ""


def test_list_rows_one_line_per_element() -> None:
    result = to_rows(["plain", ("a", 1), {"k": "v", "n": 2}, "two\nlines"], keep_rows=True)
    assert result.rows == 4
    assert result.text == "plain\na,1\nv,2\ntwo lines\n"


@pytest.mark.parametrize("answer", [None, "text", 3])
def test_other_answers_are_refused(answer: object) -> None:
    with pytest.raises(BadResult, match="return a list or a DataFrame"):
        to_rows(answer, keep_rows=True)


def test_output_file_drops_what_was_not_committed(tmp_path: Path) -> None:
    path = tmp_path / "out" / "predictions.csv"
    first = OutputFile(path, 0)
    committed = first.append(b"a\nb\n")
    first.append(b"uncommitted\n")  # the devserver dies before the checkpoint
    first.close()
    again = OutputFile(path, committed)
    again.append(b"c\n")
    again.close()
    assert path.read_bytes() == b"a\nb\nc\n"


def test_checkpoint_and_counts_commit_together(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    jobs = JobStore(store)
    plan = JobPlan(
        input=InputPlan(source="in", path=str(tmp_path / "in"), type="uri_folder"),
        output_dir=tmp_path / "out",
        output_file=tmp_path / "out" / "predictions.csv",
        settings=BatchSettings(),
        instance_count=1,
        slots=1,
        script=ScriptPlan(app_root=tmp_path, entry_script="score.py"),
        job_dir=tmp_path / "job",
    )
    jobs.add(JobRow(name="j", endpoint="e", deployment="d", state=JobState.QUEUED, plan=plan))
    jobs.commit("j", Checkpoint(0, items=4, failed_items=1, rows=3, attempts=2, error=None), 30)
    with pytest.raises(Exception, match="UNIQUE"):
        jobs.commit("j", Checkpoint(0, 4, 0, 4, 1, None), 60)  # the same mini-batch twice
    row = jobs.get("j")
    assert row is not None
    assert (row.items_done, row.items_failed, row.rows_written) == (3, 1, 3)
    assert (row.minibatches_done, row.output_offset) == (1, 30)
    assert list(jobs.checkpoints("j")) == [0]
    store.close()


def test_split_and_list_files(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "sub/c.txt", ".hidden/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    files = [str(p.relative_to(tmp_path)) for p in list_files(tmp_path)]
    assert files == ["a.txt", "b.txt", "sub/c.txt"]
    assert split(files, 2) == [["a.txt", "b.txt"], ["sub/c.txt"]]


def test_registry_versions_and_references(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    registry = Registry(store)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x.csv").write_text("1\n")
    assert registry.create("data", "d", None, str(folder), "uri_folder", None)["version"] == "1"
    registry.create("data", "d", None, str(folder / "x.csv"), "uri_file", None)
    assert registry.resolve("data", "azureml:d@latest").version == "2"
    assert registry.resolve("data", "azureml:d:1").type == "uri_folder"
    with pytest.raises(NotFound, match="has no version '9'"):
        registry.resolve("data", "azureml:d:9")
    with pytest.raises(BadRequest, match="uri_file needs a file"):
        registry.create("data", "e", None, str(folder), "uri_file", None)
    assert parse_reference("azureml:m:3") == ("m", "3")
    resolved = resolve_input(registry, "azureml:d:1", None)
    assert (resolved.path, resolved.type) == (folder, "uri_folder")
    with pytest.raises(BadRequest, match="is a folder, not uri_file"):
        resolve_input(registry, str(folder), "uri_file")
    store.close()


@pytest.mark.parametrize("given", ["~0", "~nosuchuser/data"])
def test_a_home_folder_nobody_has_is_a_bad_request(tmp_path: Path, given: str) -> None:
    # Path.expanduser raises a bare RuntimeError for these, which once answered 500.
    store = Store(tmp_path / "state.db")
    registry = Registry(store)
    with pytest.raises(BadRequest, match="there is no user"):
        registry.create("model", "m", None, given, None, None)
    with pytest.raises(BadRequest, match="there is no user"):
        resolve_input(registry, given, None)
    store.close()


def test_mlflow_model_without_code_picks_the_built_in_script(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    data = {"name": "mlflow", "endpoint_name": "e-1", "model": {"path": str(tmp_path / "model")}}
    spec = validate_spec("batch-deployment", data).spec
    assert spec.code_configuration is None  # type: ignore[attr-defined]
    if importlib.util.find_spec(MLFLOW_BATCH_MODULE) is None:
        with pytest.raises(BadRequest, match=MLFLOW_BATCH_MODULE):
            scoring_entry(spec, True)  # type: ignore[arg-type]
    else:
        root, script = scoring_entry(spec, True)  # type: ignore[arg-type]
        assert (root / script).is_file()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec(MLFLOW_BATCH_MODULE) is None,
    reason=f"{MLFLOW_BATCH_MODULE} is not in this install (it comes with MLflow support)",
)
def test_mlflow_model_scores_csv_files_with_the_built_in_script(tmp_path: Path) -> None:
    import asyncio

    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import LinearRegression

    from epdev.devserver.batch.local import LocalSlots
    from epdev.devserver.batch.slots import ScriptSetup

    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"x1": [0.0, 1.0, 2.0], "x2": [1.0, 0.0, 1.0]})
    model = LinearRegression().fit(frame, frame["x1"] * 2)
    with warnings.catch_warnings():  # MLflow's own deprecation notes are not under test
        warnings.simplefilter("ignore")
        mlflow_sklearn.save_model(
            model,
            str(tmp_path / "models" / "linear"),
            serialization_format=mlflow_sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=pinned("cloudpickle", "numpy", "pandas", "scikit-learn", "scipy"),
        )
    for name in ("a.csv", "b.csv"):
        frame.to_csv(tmp_path / name, index=False)
    data = {
        "name": "mlflow",
        "endpoint_name": "e-1",
        "model": {"path": str(tmp_path / "models/linear")},
    }
    spec = validate_spec("batch-deployment", data).spec
    root, script = scoring_entry(spec, True)  # type: ignore[arg-type]
    slots = LocalSlots(
        ScriptSetup(app_root=root, entry_script=script, model_dir=tmp_path / "models"),
        1,
        lambda slot: tmp_path / f"worker-{slot}.log",
    )

    async def score() -> bytes:
        await slots.start()
        try:
            answer = await slots.run(0, 0, [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], 120)
        finally:
            await slots.stop()
        assert answer.rows == 6
        return answer.data

    lines = asyncio.run(score()).decode().splitlines()
    assert len(lines) == 6
    assert any("a.csv" in line for line in lines) and any("b.csv" in line for line in lines)
