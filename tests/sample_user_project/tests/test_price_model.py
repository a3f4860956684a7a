"""Integration tests against a real local HTTPS endpoint, started by epdev's pytest plugin."""

from pathlib import Path

import pytest
import requests

DEPLOY = Path(__file__).parent.parent / "deploy"


@pytest.fixture
def ep(epdev_endpoint):
    return epdev_endpoint(DEPLOY)


def test_prices_a_house(ep):
    payload = {"data": [[3, 2, 10], [1, 1, 0]]}
    r = requests.post(ep.scoring_uri, json=payload, headers=ep.headers, verify=ep.ca_bundle)
    assert r.status_code == 200
    assert r.json() == [1000 + 361.5 + 160.5 - 30, 1000 + 120.5 + 80.25]


def test_rejects_callers_without_the_key(ep, epdev_server):
    print(f"epdev server: {epdev_server.url}")
    r = requests.post(ep.scoring_uri, json={"data": []}, verify=ep.ca_bundle)
    assert r.status_code == 401
    assert ep.invoke({"data": []}).json() == []
