"""What a Docker instance's container holds and runs, in Azure's layout:

    /var/azureml-app/<code folder>                      code, AML_APP_ROOT, working directory
    /var/azureml-app/azureml-models/<deployment>/1      AZUREML_MODEL_DIR
    /var/azureml-app/azureml-models/<deployment>/1/<model file or folder name>
    /opt/epdev/worker                                   the worker bundle, on PYTHONPATH
    /opt/epdev-env                                      the environment's venv (in the image)

Code, model and the worker's own code are bind-mounted read-only rather than baked in, so an
edited `score.py` needs a restart, not a build. The worker listens on port 5001 in the container,
published on 127.0.0.1 at a port the engine picks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from docker.models.containers import Container
from docker.types import Mount

from epdev.runtimes.bundle import worker_bundle
from epdev.runtimes.imagebuild import VENV
from epdev.runtimes.instance import InstanceFailed, InstanceSpec
from epdev.runtimes.staging import worker_environment

CONTAINER_PORT = 5001
APP_ROOT = PurePosixPath("/var/azureml-app")
MODELS_ROOT = APP_ROOT / "azureml-models"
WORKER_ROOT = PurePosixPath("/opt/epdev/worker")
STATUS_FILE = "/tmp/epdev-worker-status"  # noqa: S108 - inside the container, ours alone


@dataclass(frozen=True)
class Layout:
    """Where the instance's folders go in the container."""

    mounts: list[Mount]
    tmpfs: dict[str, str]
    app_root: PurePosixPath
    model_dir: PurePosixPath


def layout(spec: InstanceSpec) -> Layout:
    """The bind mounts (and the empty model folder) of an instance; checks its folders exist."""
    code = Path(os.path.realpath(spec.code_dir.absolute()))
    if not code.is_dir():
        raise InstanceFailed(f"the code folder {code} does not exist")
    app_root = APP_ROOT / (code.name or "code")
    model_dir = MODELS_ROOT / spec.deployment / "1"
    bundle = worker_bundle(spec.cache_dir)
    mounts = [
        Mount(str(app_root), str(code), type="bind", read_only=True),
        Mount(str(WORKER_ROOT), str(bundle), type="bind", read_only=True),
    ]
    tmpfs: dict[str, str] = {}
    if spec.model_path is None:
        tmpfs[str(model_dir)] = "ro,size=64k"  # AZUREML_MODEL_DIR exists, empty, as in Azure
    else:
        model = Path(os.path.realpath(spec.model_path.absolute()))
        if not model.exists():
            raise InstanceFailed(f"the model path {model} does not exist")
        name = Path(os.path.normpath(spec.model_path.absolute())).name or "model"
        mounts.append(Mount(str(model_dir / name), str(model), type="bind", read_only=True))
    return Layout(mounts, tmpfs, app_root, model_dir)


def container_environment(spec: InstanceSpec, where: Layout) -> dict[str, str]:
    """The worker's environment variables, with the container's paths."""
    env = worker_environment(spec, Path(str(where.model_dir)), base={})
    env["AML_APP_ROOT"] = str(where.app_root)
    user_path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{WORKER_ROOT}:{user_path}" if user_path else str(WORKER_ROOT)
    return env


def worker_command(spec: InstanceSpec) -> list[str]:
    """The container's command: the worker, its ready fd written to STATUS_FILE."""
    return [
        "/bin/sh",
        "-c",
        # The worker reports `error <reason>` on its ready fd; a file is what crosses the
        # container boundary, read back after an early exit.
        f'exec "$@" 3>{STATUS_FILE}',
        "sh",
        f"{VENV}/bin/python",
        "-P",
        "-m",
        "epdev.runtimes.worker",
        "--bind",
        f"0.0.0.0:{CONTAINER_PORT}",
        "--parent-pid",
        "0",  # no parent to watch across the container boundary: the engine owns it
        "--max-concurrent-requests",
        str(spec.max_concurrent_requests),
        "--ready-fd",
        "3",
    ]


def container_name(spec: InstanceSpec, run_id: str) -> str:
    """A readable name unique to one start of one instance."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"epdev-{spec.endpoint}-{spec.name}")
    return f"{name}-{run_id[:8]}"


def host_port(container: Container) -> int:
    """The loopback port the engine published the worker's port on."""
    bindings = container.ports.get(f"{CONTAINER_PORT}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", "", None) and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise InstanceFailed(f"the engine published no port for container {container.name}")
