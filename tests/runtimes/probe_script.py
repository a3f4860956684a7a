"""A scoring script that does what each request asks, to probe the worker's HTTP behaviour.

Shared by the worker tests and the comparison against azmlinfsrv; it imports only the standard
library (werkzeug only when asked), so it runs under either server.
"""

SCRIPT = """
import json
import logging
import os
import sys
import time


def init():
    print("init-print-marker")
    logging.info("init-log-marker")


class Teapot:
    status_code = 418
    headers = {"X-Custom": "yes", "Content-Type": "text/plain"}

    def get_data(self):
        return b"short and stout"


def run(raw_data, request_headers):
    command = json.loads(raw_data) if raw_data.startswith("{") else {"op": raw_data}
    op = command.get("op")
    if op == "raise":
        raise ValueError("run-failed-marker")
    if op == "none":
        return None
    if op == "set":
        return {1, 2}
    if op == "teapot":
        return Teapot()
    if op in ("flask", "flask-503"):
        from flask import Response

        status = 503 if op == "flask-503" else 201
        return Response("from flask", status=status, headers={"X-Lib": "flask"})
    if op == "werkzeug":
        from werkzeug import Response

        return Response("from werkzeug", status=201, headers={"X-Lib": "werkzeug"})
    if op == "headers":
        return request_headers
    if op == "sleep":
        time.sleep(float(command["seconds"]))
        return "slept"
    if op == "print":
        print("run-print-marker")
        logging.getLogger("probe").warning("run-log-marker")
        return "printed"
    if op == "modules":
        heavy = ("numpy", "pydantic", "fastapi", "starlette", "epdev.specs", "epdev.devserver")
        heavy += ("inference_schema",)
        return [name for name in heavy if name in sys.modules]
    if op == "paths":
        root = os.environ["AML_APP_ROOT"]
        entry = os.path.join(root, os.environ["AZUREML_ENTRY_SCRIPT"])
        return {
            "entry_script_is_this_file": os.path.realpath(entry) == os.path.realpath(__file__),
            "app_root_is_the_code_folder": os.path.realpath(root)
            == os.path.dirname(os.path.realpath(__file__)),
            "app_root_on_sys_path": root in sys.path,
        }
    if op == "env":
        return {
            "AML_APP_ROOT": os.environ.get("AML_APP_ROOT"),
            "AZUREML_ENTRY_SCRIPT": os.environ.get("AZUREML_ENTRY_SCRIPT"),
            "AZUREML_MODEL_DIR": os.environ.get("AZUREML_MODEL_DIR"),
            "PROBE_VAR": os.environ.get("PROBE_VAR"),
            "cwd": os.getcwd(),
            "sys_path": sys.path,
            "module": __name__,
        }
    return {"echo": raw_data}
"""
