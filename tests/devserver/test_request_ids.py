"""The scoring router's own request ids: UUIDs (version 4) as Azure's, one per call."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from epdev.devserver.routing import RouteTable, ScoringRouter


def test_each_call_without_an_id_gets_a_new_version_4_uuid() -> None:
    async def ids() -> list[str]:
        transport = httpx.ASGITransport(app=ScoringRouter(RouteTable()))
        async with httpx.AsyncClient(transport=transport, base_url="http://router") as client:
            replies = [await client.post("/endpoints/nope/score") for _ in range(50)]
            given = await client.post("/endpoints/nope/score", headers={"x-request-id": "mine"})
        assert given.headers["x-request-id"] == "mine"
        assert {reply.status_code for reply in replies} == {404}
        return [reply.headers["x-request-id"] for reply in replies]

    found = asyncio.run(ids())
    assert len(set(found)) == len(found)
    assert all(uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value for value in found)
    # Another router (a restarted devserver) does not repeat them.
    assert asyncio.run(ids())[0] not in found
