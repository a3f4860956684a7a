"""Small online deployment specs for in-process tests, with a scoring script written on the fly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from epdev.specs import OnlineDeployment


def echo_deployment(folder: Path, endpoint: str = "epx", **fields: Any) -> OnlineDeployment:
    """Deployment `blue` of `endpoint`, its script (`folder`/code/score.py) echoing the body."""
    code = folder / "code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text("def init():\n    pass\n\ndef run(d):\n    return d\n")
    data = {
        "name": "blue",
        "endpoint_name": endpoint,
        "code_configuration": {"code": str(code), "scoring_script": "score.py"},
        **fields,
    }
    return OnlineDeployment.model_validate(data)
