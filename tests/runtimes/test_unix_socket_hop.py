"""The hop to an instance over its Unix socket: private folder, pooled connections, clean end."""

from __future__ import annotations

import asyncio
import stat
import tempfile
from pathlib import Path

import aiohttp
import pytest
from runtime_helpers import Sink, make_spec, write_script

from epdev.devserver.hop import HopConnector
from epdev.devserver.probes import check
from epdev.runtimes import ProcessRuntime, unix_hosts

ECHO = """
def init():
    pass

def run(raw_data):
    return raw_data
"""


def test_an_instance_on_a_unix_socket_serves_through_one_pooled_connection(
    tmp_path: Path,
) -> None:
    # A short folder, as a home's run folder usually is (a socket's path has a small limit).
    with tempfile.TemporaryDirectory(prefix="epdev-hop-") as short:
        sockets = Path(short) / "run"
        spec = make_spec(tmp_path, write_script(tmp_path / "code", ECHO))
        instance = ProcessRuntime(sockets=sockets).create_instance(spec, Sink())

        async def scenario() -> None:
            await instance.start(30)
            try:
                host = instance.url.removeprefix("http://")
                path = unix_hosts.path_for(host)
                assert path is not None and Path(path).parent == sockets
                assert stat.S_IMODE(sockets.stat().st_mode) == 0o700
                connector = HopConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as session:
                    for _ in range(3):
                        async with session.post(f"{instance.url}/score", data=b'"hi"') as reply:
                            assert reply.status == 200
                            assert b"hi" in await reply.read()
                    assert await check(session, f"{instance.url}/", 5.0) is None
                    # Keep-alive: the four calls went over one connection.
                    assert sum(len(c) for c in connector._conns.values()) == 1
            finally:
                await instance.stop()
            assert unix_hosts.path_for(host) is None
            assert not Path(path).exists()

        asyncio.run(scenario())


def test_a_home_too_deep_for_a_socket_path_gets_a_private_folder_in_tmp(tmp_path: Path) -> None:
    sockets = tmp_path / ("d" * 120)
    spec = make_spec(tmp_path, write_script(tmp_path / "code", ECHO))
    instance = ProcessRuntime(sockets=sockets).create_instance(spec, Sink())

    async def scenario() -> None:
        await instance.start(30)
        try:
            path = unix_hosts.path_for(instance.url.removeprefix("http://"))
            assert path is not None
            folder = Path(path).parent
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            async with aiohttp.ClientSession(connector=HopConnector()) as session:
                assert await check(session, f"{instance.url}/", 5.0) is None
        finally:
            await instance.stop()
        assert not folder.exists()

    asyncio.run(scenario())


def test_a_gone_socket_is_a_connect_error(tmp_path: Path) -> None:
    host = unix_hosts.register(str(tmp_path / "nothing.sock"))

    async def scenario() -> None:
        async with aiohttp.ClientSession(connector=HopConnector()) as session:
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://{host}/")

    try:
        asyncio.run(scenario())
    finally:
        unix_hosts.forget(host)
