"""The az-style samples of Azure's scoring contract (inference-schema, a custom swagger, raw HTTP),
each deploy.sh run with bash against a real devserver, `az` on PATH and curl with the key.

Until the CLI speaks az's `--query` and `-o tsv` itself, the `az` here applies them to epdev's
JSON output (with jmespath, as az does); everything else goes to epdev unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.devserver import RunningServer

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the samples call curl"),
]

SAMPLES = Path(__file__).parent / "az_samples"

AZ = textwrap.dedent(
    """\
    #!{python}
    import json, os, subprocess, sys

    import jmespath

    EPDEV = [sys.executable, "-m", "epdev.devserver.cli.main"]
    args = sys.argv[1:]
    if args[:1] == ["ml"]:
        args = args[1:]
    query = output = None
    rest = []
    given = iter(args)
    for arg in given:
        if arg == "--query":
            query = next(given)
        elif arg in ("-o", "--output"):
            output = next(given)
        else:
            rest.append(arg)
    if query is None and output in (None, "json", "yaml", "table"):
        extra = ["-o", output] if output else []
        os.execv(sys.executable, [*EPDEV, *rest, *extra])
    done = subprocess.run([*EPDEV, *rest, "-o", "json"], capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode:
        sys.stdout.write(done.stdout)
        sys.exit(done.returncode)
    value = json.loads(done.stdout)
    if query is not None:
        value = jmespath.search(query, value)
    if output == "tsv":
        values = value if isinstance(value, list) else [value]
        print("\\t".join("" if v is None else str(v) for v in values))
    else:
        print(json.dumps(value, indent=2))
    """
)


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    return RunningServer.of(epdev_server)


@pytest.fixture(scope="module")
def az_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    bin_dir = tmp_path_factory.mktemp("az-bin")
    az = bin_dir / "az"
    az.write_text(AZ.format(python=sys.executable))
    az.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("sample", ["inference-schema", "custom-swagger", "raw-http"])
def test_sample_script_runs_as_written(
    server: RunningServer, az_path: str, tmp_path: Path, sample: str
) -> None:
    folder = shutil.copytree(SAMPLES / sample, tmp_path / sample)
    subprocess.run([sys.executable, "make_model.py"], cwd=folder, check=True, timeout=60)
    env = {
        **server.env(),
        "PATH": az_path,
        "ENDPOINT_NAME": f"{sample}-{os.getpid()}",
        "CURL_CA_BUNDLE": server.ca_bundle or "",
    }
    done = subprocess.run(
        ["bash", "deploy.sh"], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{sample}/deploy.sh failed:\n{done.stdout}\n{done.stderr}"
    shown = server.cli("online-endpoint", "list", "-o", "json").stdout
    assert env["ENDPOINT_NAME"] not in shown
