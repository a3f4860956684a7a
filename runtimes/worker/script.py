"""Loading a scoring script the way Azure's inference server (azmlinfsrv) does.

The script is executed from its file as a module named ``entry_module``; it must define
``init()`` and ``run()``. ``run()`` may not take positional-only arguments, ``*args`` or
``**kwargs``; ``request_headers`` (a dict of the request's headers) is passed only when declared.
What the other parameters receive is decided once, at load, as azmlinfsrv decides it:

- ``@rawhttp`` anywhere in the script (RAW): the first one gets the request itself;
- ``run()`` decorated with inference-schema's ``@input_schema`` (SCHEMA): each one gets the
  value of the same name in the JSON body (or its default), which inference-schema's wrapper
  then converts to the declared type;
- otherwise (TEXT): the first one gets the request body as text.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

TEXT = "text"
SCHEMA = "schema"
RAW = "raw"


class ScriptError(Exception):
    """The script cannot serve: the message says why in one line (Azure's wording)."""


class ScriptImportError(ScriptError):
    """Executing the script's module raised; `__cause__` is the user's exception."""


def describe(exc: BaseException) -> str:
    """`ValueError: boom` for an exception, on one line."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    text = " ".join(str(exc).split("\n")).strip()
    return f"{name}: {text}" if text else name


def format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip("\n")


class UserScript:
    """A loaded scoring script: its `init`, and a `call_run(data, headers)` that calls `run`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.module: ModuleType | None = None
        self.init: Callable[[], Any] = _not_loaded
        self._run: Callable[..., Any] = _not_loaded
        self.data_param = ""
        self.wants_headers = False
        self.mode = TEXT
        # SCHEMA: each parameter's name and default (inspect.Parameter.empty when it has none).
        self.params: list[tuple[str, Any]] = []

    def load(self) -> None:
        """Execute the script and check its functions; raises ScriptError."""
        try:
            spec = importlib.util.spec_from_file_location("entry_module", self.path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load a Python module from {self.path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except BaseException as exc:
            raise ScriptImportError(
                "Failed to import user script because it raised an unhandled exception"
            ) from exc
        self.module = module
        if not hasattr(module, "init"):
            raise ScriptError(
                f"User script at {self.path} does not have a init() function defined."
            )
        if not hasattr(module, "run"):
            raise ScriptError(f"User script at {self.path} does not have a run() function defined.")
        run = module.run
        # Some Azure SDKs generate a driver module that forwards run() to the real script.
        driver = getattr(module, "driver_module", None)
        if isinstance(driver, ModuleType) and hasattr(driver, "run"):
            run = driver.run
        self.init = module.init
        self._run = run
        self._analyze_run()

    def _analyze_run(self) -> None:
        try:
            params = list(inspect.signature(self._run).parameters.values())
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"run() cannot be inspected: {describe(exc)}") from exc
        allowed = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if any(p.kind not in allowed for p in params):
            raise ScriptError("run() cannot accept positional-only arguments, *args, or **kwargs.")
        self.wants_headers = any(p.name == "request_headers" for p in params)
        others = [p for p in params if p.name != "request_headers"]
        if not others:
            if self.wants_headers:
                raise ScriptError('run() needs to accept an argument other than "request_headers".')
            raise ScriptError("run() needs to accept an argument for input data.")
        self.data_param = others[0].name
        self.params = [(p.name, p.default) for p in others]
        raw = raw_requested()
        decorated = is_schema_decorated(self._run)
        if raw and decorated:
            raise ScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
        self.mode = RAW if raw else SCHEMA if decorated else TEXT

    @property
    def run_function(self) -> Callable[..., Any]:
        return self._run

    def call_run(self, data: Any, headers: dict[str, str] | None) -> Any:
        """run() with `data` for its first parameter (TEXT and RAW)."""
        if self.wants_headers:
            return self._run(**{self.data_param: data, "request_headers": headers or {}})
        return self._run(**{self.data_param: data})

    def call_run_with(self, arguments: dict[str, Any], headers: dict[str, str] | None) -> Any:
        """run() with keyword arguments (SCHEMA)."""
        if self.wants_headers:
            return self._run(**arguments, request_headers=headers or {})
        return self._run(**arguments)


def raw_requested() -> bool:
    """Whether the script used @rawhttp (the module is imported only by scripts that use it)."""
    module = sys.modules.get("epdev.runtimes.worker.aml_request")
    return module is not None and bool(module.raw_requested())


def is_schema_decorated(run: Callable[..., Any]) -> bool:
    """Whether inference-schema decorated `run`; False when the script did not import it."""
    schema_util = sys.modules.get("inference_schema.schema_util")
    return schema_util is not None and bool(schema_util.is_schema_decorated(run))


def _not_loaded(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("the scoring script is not loaded")
