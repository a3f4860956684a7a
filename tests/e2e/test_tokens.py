"""`auth_mode: aml_token` endpoints: expiring tokens from get-credentials, and nothing else."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import jwt
import pytest
import requests
from support.devserver import running_server
from support.sample_project import SAMPLE_REQUEST, SampleProject

pytestmark = pytest.mark.slow


def test_tokens_admit_calls_until_they_expire(
    tmp_path: Path, sample_project: SampleProject
) -> None:
    endpoint_yml = sample_project.endpoint_yml
    endpoint_yml.write_text(
        endpoint_yml.read_text().replace("auth_mode: key", "auth_mode: aml_token")
    )
    with running_server(tmp_path / "home", "--token-lifetime", "3") as server:
        server.cli("online-endpoint", "create", "-f", str(endpoint_yml))
        server.cli(
            "online-deployment", "create", "-f", str(sample_project.blue_yml), "--all-traffic"
        )
        uri = server.cli_json("online-endpoint", "show", "-n", "my-endpoint")["scoring_uri"]
        creds = server.cli_json("online-endpoint", "get-credentials", "-n", "my-endpoint")
        assert set(creds) == {"accessToken", "tokenType", "expiryTimeUtc", "refreshAfterTimeUtc"}
        expiry = dt.datetime.fromisoformat(creds["expiryTimeUtc"].replace("Z", "+00:00"))
        assert dt.timedelta(0) < expiry - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=4)

        def call(token: str) -> requests.Response:
            return requests.post(
                uri,
                json=SAMPLE_REQUEST,
                headers={"Authorization": f"Bearer {token}"},
                verify=server.ca_bundle,
                timeout=30,
            )

        assert call(creds["accessToken"]).status_code == 200
        # The CLI's invoke fetches a token for itself.
        server.cli(
            "online-endpoint", "invoke", "-n", "my-endpoint", "-r", str(sample_project.request_file)
        )

        claims = jwt.decode(creds["accessToken"], options={"verify_signature": False})
        forged = jwt.encode(claims, "some other secret of 32 bytes or more!", algorithm="HS256")
        r = call(forged)
        assert r.status_code == 401 and "signature is not valid" in r.json()["message"]
        r = call("not-a-token")
        assert r.status_code == 401 and "not a token issued by epdev" in r.json()["message"]

        time.sleep(4)
        r = call(creds["accessToken"])
        assert r.status_code == 401 and "expired" in r.json()["message"]
        fresh = server.cli_json("online-endpoint", "get-credentials", "-n", "my-endpoint")
        assert call(fresh["accessToken"]).status_code == 200
