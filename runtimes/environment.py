"""What a deployment's environment asks for, resolved into pip requirements and image inputs.

The cloud builds an image from `environment` (an image plus a conda file, or a Docker build
context). Locally the venv and Docker runtimes install the same dependencies with pip, so a
conda file is read for its pip section and for conda packages that PyPI also serves.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from epdev.runtimes.instance import InstanceFailed

# Azure's inference server, its meta-package and its raw-HTTP module (azureml.contrib.services):
# epdev's worker plays their part, and they pin versions (pydantic, flask) that would fight the
# user's own dependencies.
PROVIDED_BY_EPDEV = frozenset(
    {"azureml-inference-server-http", "azureml-defaults", "azureml-contrib-services"}
)

# Conda packages with no PyPI counterpart of the same name (native toolchains and libraries).
CONDA_ONLY = frozenset(
    {
        "_libgcc_mutex",
        "_openmp_mutex",
        "blas",
        "ca-certificates",
        "bzip2",
        "cpuonly",
        "cudatoolkit",
        "cuda-toolkit",
        "cudnn",
        "gcc",
        "git",
        "gxx",
        "icu",
        "libffi",
        "libprotobuf",
        "nccl",
        "ncurses",
        "nodejs",
        "pytorch-cuda",
        "pytorch-mutex",
        "r-base",
        "readline",
        "sqlite",
        "libblas",
        "libcblas",
        "libgcc-ng",
        "libgfortran-ng",
        "liblapack",
        "libstdcxx-ng",
        "mkl",
        "mkl-service",
        "openmpi",
        "openssl",
        "tk",
        "xz",
        "zlib",
    }
)

# Conda packages whose PyPI distribution has another name.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "matplotlib-base": "matplotlib",
    "numpy-base": "numpy",
    "python-graphviz": "graphviz",
    "tensorflow-gpu": "tensorflow",
    "pyqt": "PyQt5",
    "pyyaml": "PyYAML",
    "typing_extensions": "typing-extensions",
    "arrow-cpp": "pyarrow",
    "libopencv": "opencv-python",
    "google-cloud-storage": "google-cloud-storage",
}

# What the in-instance worker itself needs besides the standard library.
WORKER_PACKAGES = ("uvicorn", "httptools", "uvloop")

_CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9_.-]+)\s*(.*)$")


@dataclass(frozen=True)
class PythonEnvironment:
    """pip requirements for a deployment, plus what the user should be told about them."""

    requirements: tuple[str, ...] = ()
    python: str | None = None
    notes: tuple[str, ...] = ()
    source: str = "no environment dependencies"
    # Requirements taken from a conda file's conda section rather than its pip section: when pip
    # cannot find one, the likely cause is a conda-only package, and the error should say so.
    from_conda: tuple[str, ...] = ()

    @property
    def worker_requirements(self) -> tuple[str, ...]:
        """The worker's own packages, pinned to the versions this devserver runs."""
        return tuple(_pinned(name) for name in WORKER_PACKAGES)

    @property
    def digest(self) -> str:
        """A content hash: equal environments share one venv or image."""
        payload = {
            "requirements": list(self.requirements),
            "worker": list(self.worker_requirements),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            # The interpreter the environment asks for (epdev.runtimes.interpreters finds it).
            "asked_python": self.python,
            "files": _referenced_file_digests(self.requirements),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RuntimeEnvironment:
    """Everything an isolated runtime needs to rebuild the deployment's environment."""

    python: PythonEnvironment = field(default_factory=PythonEnvironment)
    image: str | None = None
    build_context: Path | None = None
    dockerfile: str = "Dockerfile"


def _pinned(name: str) -> str:
    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return name


def _referenced_file_digests(requirements: tuple[str, ...]) -> dict[str, str]:
    """Local wheels and requirement files change the environment when their content does."""
    found: dict[str, str] = {}
    for line in requirements:
        candidate = line.split(maxsplit=1)[-1] if line.startswith(("-r ", "-c ")) else line
        path = Path(candidate)
        if path.is_absolute() and path.is_file():
            found[candidate] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def from_conda_file(path: Path) -> PythonEnvironment:
    """pip requirements from a conda environment file: its pip section and pip-able packages."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InstanceFailed(f"cannot read conda file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
        raise InstanceFailed(f"conda file {path} has no 'dependencies' list")
    requirements: list[str] = []
    notes: list[str] = []
    conda_only: list[str] = []
    from_conda: list[str] = []
    python: str | None = None
    for item in data.get("dependencies") or []:
        if isinstance(item, dict):
            for line in item.get("pip") or []:
                requirement = _pip_line(str(line), path.parent)
                if requirement is not None:
                    requirements.append(requirement)
                elif _name(str(line)) in PROVIDED_BY_EPDEV:
                    notes.append(f"{line}: not installed, epdev's worker serves the script")
            continue
        match = _CONDA_SPEC.match(str(item).strip())
        if match is None:
            continue
        name, spec = match.group(1).lower(), match.group(2).strip()
        if name == "python":
            python = _conda_version(spec).lstrip("=") or None
        elif name == "pip":
            continue
        elif name in CONDA_ONLY:
            conda_only.append(str(item))
        else:
            requirement = CONDA_TO_PYPI.get(name, name) + _conda_version(spec)
            requirements.append(requirement)
            from_conda.append(requirement)
            notes.append(f"conda package {item} is installed from PyPI as {requirement}")
    if conda_only:
        notes.append(
            "conda-only packages skipped (pip cannot install them; the image or the host must "
            f"provide them): {', '.join(conda_only)}"
        )
    return PythonEnvironment(
        tuple(requirements), python, tuple(notes), f"conda file {path}", tuple(from_conda)
    )


def snapshot_conda_file(source: Path, target: Path) -> None:
    """Copy a conda file to `target` with the local paths of its pip section made absolute, so
    the copy (a registered environment's) installs what the original named."""
    try:
        data: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InstanceFailed(f"cannot read conda file {source}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
        raise InstanceFailed(f"conda file {source} has no 'dependencies' list")
    for item in data.get("dependencies") or []:
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            item["pip"] = [
                line
                if _name(str(line)) in PROVIDED_BY_EPDEV
                else _pip_line(str(line), source.parent)
                for line in item["pip"]
                if _name(str(line)) in PROVIDED_BY_EPDEV or _pip_line(str(line), source.parent)
            ]
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def from_requirements_file(path: Path) -> PythonEnvironment:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        requirement = _pip_line(raw, path.parent)
        if requirement is not None:
            lines.append(requirement)
    return PythonEnvironment(tuple(lines), source=f"requirements file {path}")


def _name(line: str) -> str:
    return re.split(r"[\s<>=!~\[;@]", line.strip(), maxsplit=1)[0].lower()


def _pip_line(line: str, base: Path) -> str | None:
    """One pip requirement with local paths made absolute; None for blanks, comments, ours."""
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith("#"):
        return None
    if _name(text) in PROVIDED_BY_EPDEV:
        return None
    for flag in ("-r ", "-c ", "--requirement ", "--constraint "):
        if text.startswith(flag):
            target = Path(text[len(flag) :].strip())
            return f"{flag.strip()} {target if target.is_absolute() else (base / target).resolve()}"
    if text.startswith(("./", "../")) or text.endswith((".whl", ".tar.gz", ".zip")):
        local = Path(text)
        return str(local if local.is_absolute() else (base / local).resolve())
    return text


def _conda_version(spec: str) -> str:
    """conda's `=1.26`, `==1.26.4`, `>=1.2`, `1.26` (with or without a build string) as pip's."""
    spec = spec.strip()
    if not spec:
        return ""
    if spec[0].isdigit():
        spec = "=" + spec.replace(" ", "=")
    if spec.startswith("=") and not spec.startswith("=="):
        number = spec[1:].split("=", 1)[0]
        return f"=={number}" if number.count(".") >= 2 or "*" in number else f"=={number}.*"
    return spec.split(" ", 1)[0]


def mlflow_conda_file(model: Path) -> Path | None:
    """The conda file an MLflow model's MLmodel names for its pyfunc flavor (`env: conda.yaml`
    in older models, `env: {conda: conda.yaml, virtualenv: python_env.yaml}` in newer ones),
    else a conda.yaml beside it; None when there is none."""
    try:
        data: Any = yaml.safe_load((model / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        data = None
    flavors = data.get("flavors") if isinstance(data, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    env = pyfunc.get("env") if isinstance(pyfunc, dict) else None
    named = env.get("conda") if isinstance(env, dict) else env
    candidate = model / str(named) if isinstance(named, str) and named else model / "conda.yaml"
    return candidate if candidate.is_file() else None


def from_mlflow_model(model: Path, serves_mlflow: bool = False) -> PythonEnvironment | None:
    """An MLflow model's own environment, as Azure builds it: the conda file its MLmodel names
    (Azure's image build reads conda.yaml); only without one, python_env.yaml (its
    `dependencies`, usually `-r requirements.txt`, and its Python version), else
    requirements.txt; None when the model has none of them.

    With `serves_mlflow` (no scoring script: epdev's worker loads the model with mlflow) a
    model whose requirements do not name mlflow gets the devserver's own version.
    """
    env_file = model / "python_env.yaml"
    requirements_file = model / "requirements.txt"
    conda_file = mlflow_conda_file(model)
    notes: list[str] = []
    python: str | None = None
    from_conda: tuple[str, ...] = ()
    if conda_file is not None:
        base = from_conda_file(conda_file)
        requirements, python, source = list(base.requirements), base.python, base.source
        notes, from_conda = list(base.notes), base.from_conda
        source = f"MLflow model's conda file {conda_file}"
        ignored = [p.name for p in (env_file, requirements_file) if p.is_file()]
        if ignored:
            notes.append(
                f"the model's {' and '.join(ignored)} are not used: Azure builds an MLflow "
                "model's environment from its conda file"
            )
    elif env_file.is_file():
        try:
            data: Any = yaml.safe_load(env_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InstanceFailed(f"cannot read {env_file}: {exc}") from None
        dependencies = data.get("dependencies") if isinstance(data, dict) else None
        if not isinstance(dependencies, list):
            raise InstanceFailed(f"{env_file} has no 'dependencies' list")
        found = (_pip_line(str(line), model) for line in dependencies)
        requirements = [line for line in found if line is not None]
        python = str(data.get("python") or "") or None
        source = f"MLflow environment {env_file}"
    elif requirements_file.is_file():
        base = from_requirements_file(requirements_file)
        requirements, source = list(base.requirements), base.source
    else:
        return None
    if serves_mlflow and not any(_mentions_mlflow(line, model) for line in requirements):
        requirements.append(_pinned("mlflow"))
        notes.append(
            f"the model's requirements do not name mlflow, which serves it: {requirements[-1]} "
            "is added"
        )
    return PythonEnvironment(tuple(requirements), python, tuple(notes), source, from_conda)


def _mentions_mlflow(line: str, base: Path) -> bool:
    """Whether a requirement line (or the file a `-r` line includes) names mlflow."""
    if line.startswith("-r "):
        try:
            text = Path(line[3:].strip()).read_text(encoding="utf-8")
        except OSError:
            return False
        return any(_mentions_mlflow(inner, base) for inner in text.splitlines())
    return _name(line) in ("mlflow", "mlflow-skinny")


def resolve(
    *,
    conda_file: Path | None,
    code_dir: Path | None,
    model_path: Path | None,
    image: str | None = None,
    build_context: Path | None = None,
    dockerfile: str = "Dockerfile",
    serves_mlflow: bool = False,
) -> RuntimeEnvironment:
    """The environment for a deployment, from the first source that has one.

    Order: the environment's conda file; an MLflow model's python_env.yaml or
    requirements.txt; a requirements.txt beside the scoring script. `serves_mlflow`: the
    worker itself serves the MLflow model (no scoring script), so mlflow must be there.
    """
    mlflow_env = None
    if conda_file is None and model_path is not None and (model_path / "MLmodel").is_file():
        mlflow_env = from_mlflow_model(model_path, serves_mlflow)
    if conda_file is not None:
        python = from_conda_file(conda_file)
    elif mlflow_env is not None:
        python = mlflow_env
    elif code_dir is not None and (code_dir / "requirements.txt").is_file():
        python = from_requirements_file(code_dir / "requirements.txt")
    elif serves_mlflow:
        python = PythonEnvironment(
            (_pinned("mlflow"),), notes=("the model names no requirements: mlflow only",)
        )
    else:
        python = PythonEnvironment()
    return RuntimeEnvironment(python, image, build_context, dockerfile)
