"""Azure's raw-HTTP modules, importable in every scoring script the worker loads.

Scripts import ``AMLRequest``, ``rawhttp`` and ``AMLResponse`` from
``azureml.contrib.services.aml_request`` / ``.aml_response`` (Azure's docs) or from
``azureml_inference_server_http.api.aml_request`` / ``.aml_response`` (Azure's server, always
present in Azure's images). Inside the worker those four names resolve to the worker's own
modules, whether or not an Azure package is installed: the worker, not flask, serves the
request, so ``@rawhttp`` must set the worker's flag and ``AMLResponse`` must be the class the
worker sends. Their parent packages stay the installed ones when they exist (``azureml`` is
shared by azureml-core, azureml-mlflow...), and are made up, empty, when they do not.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

_WORKER = "epdev.runtimes.worker"
ALIASES = {
    "azureml.contrib.services.aml_request": f"{_WORKER}.aml_request",
    "azureml.contrib.services.aml_response": f"{_WORKER}.aml_response",
    "azureml_inference_server_http.api.aml_request": f"{_WORKER}.aml_request",
    "azureml_inference_server_http.api.aml_response": f"{_WORKER}.aml_response",
}
PARENTS = frozenset(
    {
        "azureml",
        "azureml.contrib",
        "azureml.contrib.services",
        "azureml_inference_server_http",
        "azureml_inference_server_http.api",
    }
)


class _Alias(Loader):
    """Loads a name as one of the worker's modules: the very same module object."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.own_spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the module: give it its own back.
        module.__spec__ = self.own_spec


class _EmptyPackage(Loader):
    """A package with nothing in it but the aliased modules under it."""

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        pass


class AzureModules(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        aliased = ALIASES.get(fullname)
        if aliased is not None:
            return ModuleSpec(fullname, _Alias(aliased))
        if fullname not in PARENTS:
            return None
        installed = PathFinder.find_spec(fullname, path)
        if installed is not None:
            return installed
        spec = ModuleSpec(fullname, _EmptyPackage(), is_package=True)
        spec.submodule_search_locations = []
        return spec


def install() -> None:
    """Put the finder first on sys.meta_path (once)."""
    if not any(isinstance(finder, AzureModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, AzureModules())
