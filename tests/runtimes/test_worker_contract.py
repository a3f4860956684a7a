"""The worker's side of Azure's server contract beyond run(raw_data), on real instances: a run()
decorated with inference-schema, @rawhttp, and the /swagger.json documents (the byte-for-byte
comparison with azmlinfsrv itself is test_azmlinfsrv_parity)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import contract_scripts
import httpx
import pytest
from runtime_helpers import LoopThread, Sink, create, make_spec, write_script

from epdev.runtimes import InstanceFailed

pytest.importorskip("inference_schema")
pytest.importorskip("pandas")


@contextmanager
def serving(
    loop_thread: LoopThread, tmp_path: Path, script: str, files: dict[str, str] | None = None
) -> Iterator[httpx.Client]:
    code_dir = write_script(tmp_path / "code", script)
    for name, text in (files or {}).items():
        (code_dir / name).write_text(text)
    instance = create(make_spec(tmp_path, code_dir), Sink())
    loop_thread.run(instance.start(30))
    try:
        with httpx.Client(base_url=instance.url, timeout=10) as client:
            yield client
    finally:
        loop_thread.run(instance.stop())


@pytest.fixture(scope="module")
def schema(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    with serving(loop_thread, tmp_path_factory.mktemp("schema"), contract_scripts.SCHEMA) as c:
        yield c


@pytest.fixture(scope="module")
def raw(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    with serving(loop_thread, tmp_path_factory.mktemp("raw"), contract_scripts.RAW) as client:
        yield client


def test_a_decorated_run_gets_typed_arguments_by_name(schema: httpx.Client) -> None:
    body = {
        "data": [[1, 2, 3]],
        "frame": [{"a": 1, "b": "x"}],
        "options": {"scale": 2.0, "label": "l"},
    }
    got = schema.post("/score", json=body, headers={"x-probe": "p"}).json()
    assert got["data"] == ["ndarray", "<f8", [1, 3], [[1.0, 2.0, 3.0]]]
    assert got["frame"][0] == "DataFrame"
    assert got["frame"][2] == [{"a": 1, "b": "x"}]
    assert got["options"] == ["dict", {"scale": 2.0, "label": "l"}]
    assert got["total"] == 12.0
    assert got["probe"] == "p"


def test_a_missing_argument_takes_its_default_or_is_refused(schema: httpx.Client) -> None:
    got = schema.post("/score", json={"data": [[1, 1, 1]], "frame": [{"a": 1, "b": "x"}]})
    assert got.json()["options"] == ["dict", {"scale": 1.0, "label": "default"}]
    refused = schema.post("/score", json={"data": [[1, 1, 1]]})
    assert refused.status_code == 400
    assert refused.json() == {"message": "A value is not provided for the 'frame' parameter."}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{}", "text/plain", 415, "Expects Content-Type to be application/json"),
        (b"", "application/json", 400, "POST body is empty. Expecting a JSON dictionary."),
        (b"[1]", "application/json", 400, "POST body should be a JSON dictionary."),
        (
            b"{x",
            "application/json",
            400,
            "POST body could not be decoded as JSON: Expecting property name enclosed in double"
            " quotes: line 1 column 2 (char 1)",
        ),
    ],
)
def test_a_decorated_run_refuses_bodies_as_azmlinfsrv_does(
    schema: httpx.Client, body: bytes, content_type: str, status: int, message: str
) -> None:
    got = schema.post("/score", content=body, headers={"content-type": content_type})
    assert (got.status_code, got.json()) == (status, {"message": message})


def test_a_value_inference_schema_cannot_convert_fails_the_run(schema: httpx.Client) -> None:
    got = schema.post("/score", json={"data": "abc", "frame": [{"a": 1, "b": "x"}]})
    assert got.status_code == 500
    assert got.headers["x-ms-run-function-failed"] == "True"


def test_a_decorated_run_takes_a_get_with_query_arguments(schema: httpx.Client) -> None:
    got = schema.get("/score", params={"data": "[[2,2,2]]", "frame": '[{"a":3,"b":"y"}]'})
    assert got.json()["total"] == 6.0


def test_the_swagger_documents_carry_inference_schemas_schemas(schema: httpx.Client) -> None:
    two = schema.get("/swagger.json").json()
    assert two["swagger"] == "2.0"
    assert two["info"]["title"] == "ML service"
    service_input = two["definitions"]["ServiceInput"]
    # inference-schema lists every parameter of run(), request_headers too, as in Azure.
    assert sorted(service_input["properties"]) == ["data", "frame", "options", "request_headers"]
    assert service_input["example"]["options"] == {"scale": 2.0, "label": "s"}
    assert two["definitions"]["ServiceOutput"]["example"] == {"total": 12.0}
    assert schema.get("/swagger.json?version=2.0").json() == two
    three = schema.get("/swagger.json", params={"version": "3"}).json()
    assert three["openapi"] == "3.0.3"
    assert "ServiceInput" in three["components"]["schemas"]
    assert schema.get("/swagger.json?version=3.1").json()["openapi"] == "3.1.0"
    wrong = schema.get("/swagger.json?version=4")
    assert wrong.status_code == 404
    assert wrong.json() == {
        "message": "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."
    }


def test_rawhttp_gives_run_the_request(raw: httpx.Client) -> None:
    got = raw.get(
        "/score", params=[("op", "info"), ("a", "1"), ("a", "2")], headers={"x-probe": "r"}
    )
    info = got.json()
    assert info["method"] == "GET"
    assert info["args"] == {"op": ["info"], "a": ["1", "2"]}
    assert info["full_path"] == "/score?op=info&a=1&a=2"
    assert (info["probe"], info["has_probe"]) == ("r", True)
    posted = raw.post("/score?op=info", json={"k": "é"}).json()
    assert (posted["method"], posted["json"], posted["is_json"]) == ("POST", {"k": "é"}, True)


def test_rawhttp_uploads_come_back_byte_for_byte(raw: httpx.Client) -> None:
    image = bytes(range(256)) * 16
    got = raw.post("/score?op=echo", files={"file": ("p.png", image, "image/png")})
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content == image


def test_an_amlresponse_is_sent_as_it_is(raw: httpx.Client) -> None:
    png = raw.get("/score?op=png")
    assert png.content == bytes(range(256)) * 4
    assert png.headers.get_list("x-multi") == ["a", "b"]
    assert png.headers["x-ms-run-function-failed"] == "False"
    made = raw.get("/score?op=json")
    assert (made.status_code, made.json()) == (201, {"made": [1, "two"]})
    failed = raw.get("/score?op=fail")
    assert (failed.status_code, failed.text) == (503, "it broke")
    assert failed.headers["x-ms-run-function-failed"] == "True"
    head = raw.head("/score?op=png")
    assert (head.status_code, head.content) == (200, b"")


def test_rawhttp_takes_every_method_the_route_has(raw: httpx.Client) -> None:
    assert raw.options("/score?op=info").json()["method"] == "OPTIONS"
    assert raw.put("/score?op=info").status_code == 405


SWAGGER2 = {"swagger": "2.0", "info": {"title": "by hand", "version": "9"}, "paths": {}}


def test_swagger_files_win_over_generated_documents(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    files = {"swagger2.json": json.dumps(SWAGGER2, indent=2)}
    with serving(loop_thread, tmp_path, contract_scripts.UNDECORATED, files) as client:
        assert client.get("/swagger.json").json() == SWAGGER2
        generated = client.get("/swagger.json?version=3").json()
        # An undecorated run() still has a document: its input and output are any object.
        assert generated["components"]["schemas"]["ServiceInput"] == {
            "type": "object",
            "example": {},
        }


@pytest.mark.parametrize(
    ("script", "files", "reason"),
    [
        (
            "from azureml.contrib.services.aml_request import rawhttp\n"
            "from inference_schema.schema_decorators import input_schema\n"
            "from inference_schema.parameter_types.standard_py_parameter_type import (\n"
            "    StandardPythonParameterType)\n"
            "def init():\n    pass\n"
            "@rawhttp\n@input_schema('data', StandardPythonParameterType(1))\n"
            "def run(data):\n    return data\n",
            {},
            "run() cannot be decorated with both @rawhttp and @input_schema",
        ),
        (contract_scripts.UNDECORATED, {"swagger3.json": "{not json"}, "is not valid JSON"),
    ],
    ids=["rawhttp-and-schema", "bad-swagger-file"],
)
def test_a_script_that_cannot_serve_fails_its_instance_saying_why(
    loop_thread: LoopThread, tmp_path: Path, script: str, files: dict[str, str], reason: str
) -> None:
    code_dir = write_script(tmp_path / "code", script)
    for name, text in files.items():
        (code_dir / name).write_text(text)
    instance = create(make_spec(tmp_path, code_dir), Sink())
    with pytest.raises(InstanceFailed, match=re.escape(reason)):
        loop_thread.run(instance.start(30))
    loop_thread.run(instance.stop())
