"""AMLRequest and AMLResponse, the worker's own raw-HTTP API, in-process; and the imports that
reach them from a Python that has nothing but the worker bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from epdev.runtimes.bundle import worker_bundle
from epdev.runtimes.worker.aml_request import AMLRequest, BadRequest, UnsupportedMediaType
from epdev.runtimes.worker.aml_response import AMLResponse
from epdev.runtimes.worker.datastructures import Headers


def request(
    method: str = "POST", query: bytes = b"", body: bytes = b"", **headers: str
) -> AMLRequest:
    pairs = Headers((name.replace("_", "-").title(), value) for name, value in headers.items())
    return AMLRequest(method, "/score", query, pairs, body)


def multipart(files: object, data: object = None) -> tuple[bytes, str]:
    built = httpx.Request("POST", "http://x/score", files=files, data=data)
    return built.read(), built.headers["content-type"]


def test_query_arguments_keep_every_value_of_a_repeated_key() -> None:
    got = request("GET", b"a=1&a=2&b=&c=%C3%A9+x")
    assert got.args["a"] == "1"
    assert got.args.getlist("a") == ["1", "2"]
    assert got.args.get("a", type=int) == 1
    assert got.args.get("c") == "é x"
    assert got.args.get("missing", "dflt") == "dflt"
    assert got.args.to_dict(flat=False) == {"a": ["1", "2"], "b": [""], "c": ["é x"]}
    assert got.full_path == "/score?a=1&a=2&b=&c=%C3%A9+x"
    assert request("GET").full_path == "/score?"


def test_headers_match_in_any_case_and_iterate_as_pairs() -> None:
    got = request(content_type="application/json; charset=utf-8", x_probe="v")
    assert got.headers["X-PROBE"] == "v"
    assert "x-probe" in got.headers
    assert dict(got.headers.items()) == {
        "Content-Type": "application/json; charset=utf-8",
        "X-Probe": "v",
    }
    assert list(got.headers)[1] == ("X-Probe", "v")
    assert got.mimetype == "application/json"
    assert got.mimetype_params == {"charset": "utf-8"}


def test_json_is_parsed_only_for_a_json_content_type_unless_forced() -> None:
    assert request(body=b'{"a": 1}', content_type="application/json").json == {"a": 1}
    assert request(body=b"[1]", content_type="application/geo+json").get_json() == [1]
    plain = request(body=b'{"a": 1}', content_type="text/plain")
    with pytest.raises(UnsupportedMediaType):
        plain.get_json()
    assert plain.get_json(silent=True) is None
    assert plain.get_json(force=True) == {"a": 1}
    with pytest.raises(BadRequest):
        request(body=b"{bad", content_type="application/json").get_json()


def test_multipart_files_keep_their_bytes_and_fields_their_text() -> None:
    image = bytes(range(256)) * 8 + b"\r\n--boundary-lookalike\r\n\r\n"
    body, content_type = multipart(
        [
            ("file", ("photo one.png", image, "image/png")),
            ("file", ("empty.bin", b"", "application/octet-stream")),
        ],
        {"label": "chat noir", "n": ["1", "2"]},
    )
    got = request(body=body, content_type=content_type)
    first = got.files["file"]
    assert (first.filename, first.name, first.mimetype) == ("photo one.png", "file", "image/png")
    assert first.read() == image
    first.seek(0)
    assert first.stream.read(4) == image[:4]
    assert [f.filename for f in got.files.getlist("file")] == ["photo one.png", "empty.bin"]
    assert got.files.getlist("file")[1].read() == b""
    assert got.form["label"] == "chat noir"
    assert got.form.getlist("n") == ["1", "2"]
    # As with flask: the parsed body is no longer `data`, but get_data() still has it.
    assert got.data == b""
    assert got.get_data() == body


def test_an_uploaded_file_saves_to_a_path(tmp_path: Path) -> None:
    body, content_type = multipart({"file": ("a.bin", b"\x00\x01\x02", "application/x")})
    request(body=body, content_type=content_type).files["file"].save(tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == b"\x00\x01\x02"


def test_an_urlencoded_form_is_parsed() -> None:
    got = request(body=b"a=1&a=2&b=%C3%A9", content_type="application/x-www-form-urlencoded")
    assert got.form.getlist("a") == ["1", "2"]
    assert got.form["b"] == "é"
    assert got.values.getlist("a") == ["1", "2"]
    assert got.files == {}


def test_a_response_is_text_json_or_bytes_as_azures_class_makes_it() -> None:
    text = AMLResponse("hello", 200)
    assert (text.status_code, text.get_data(), text.content_type) == (
        200,
        b"hello",
        "text/html; charset=utf-8",
    )
    assert text.headers["x-ms-run-function-failed"] == "False"
    as_json = AMLResponse({"a": [1, "b"]}, 201, json_str=True)
    assert as_json.get_data() == b'{"a": [1, "b"]}'
    assert as_json.content_type == "application/json"
    assert AMLResponse(None, 202).get_data() == b"{}"
    image = AMLResponse(b"\x89PNG", 200, {"Content-Type": "image/png"})
    assert image.headers.getlist("content-type") == ["image/png"]
    assert image.get_data() == b"\x89PNG"
    failed = AMLResponse("no", 500, run_function_failed=True)
    assert failed.headers["x-ms-run-function-failed"] == "True"
    assert failed.status == "500 INTERNAL SERVER ERROR"


def test_a_header_value_with_commas_becomes_one_header_per_value() -> None:
    response = AMLResponse("x", 200, {"X-Multi": "a, b,c"})
    assert response.headers.getlist("x-multi") == ["a", "b", "c"]
    response.headers["X-Multi"] = "one"
    assert response.headers.getlist("X-MULTI") == ["one"]


def test_a_response_refuses_a_message_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="json_str=True"):
        AMLResponse(42, 200)


def test_azures_module_names_resolve_in_a_python_with_only_the_worker_bundle(
    tmp_path: Path,
) -> None:
    """What venv and docker instances have: the bundle on PYTHONPATH, no epdev, no Azure."""
    bundle = worker_bundle(tmp_path / "cache")
    fake_azureml = tmp_path / "site" / "azureml"
    fake_azureml.mkdir(parents=True)
    # A namespace such as azureml-core or azureml-mlflow installs: its modules stay reachable.
    (fake_azureml / "__init__.py").write_text(
        "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    )
    (fake_azureml / "core.py").write_text("NAME = 'azureml.core'\n")
    code = """
import json
import sys
from epdev.runtimes.worker import aliases
aliases.install()
import azureml.core
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse
import azureml_inference_server_http.api.aml_request as server_request
from azureml_inference_server_http.api.aml_response import AMLResponse as ServerResponse
from epdev.runtimes.worker import aml_request
rawhttp(lambda r: r)
print(json.dumps({
    "core": azureml.core.NAME,
    "same_request": server_request.AMLRequest is AMLRequest,
    "same_response": ServerResponse is AMLResponse,
    "flag": aml_request.raw_requested(),
    "own_spec": aml_request.__spec__.name,
    "flask": "flask" in sys.modules,
}))
"""
    env = {**os.environ, "PYTHONPATH": f"{bundle}{os.pathsep}{tmp_path / 'site'}"}
    done = subprocess.run(
        [sys.executable, "-S", "-P", "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "core": "azureml.core",
        "same_request": True,
        "same_response": True,
        "flag": True,
        "own_spec": "epdev.runtimes.worker.aml_request",
        "flask": False,
    }
