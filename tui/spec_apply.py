"""Apply checked specs in turn, following each deployment's build and start until it settles:
the progress the deploy view shows while the user waits."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from epdev.specs import LoadedSpec
from epdev.tui.messages import Reachability
from epdev.tui.source import ClientError, NotRunning, Source
from epdev.tui.spec_check import payload

POLL_SECONDS = 0.5
READY_TIMEOUT = 900.0

_STEP = re.compile(r"\bstep (\d+)/(\d+)", re.IGNORECASE)

Post = Callable[[Message], object]


def phase_of(line: str, downloads: int) -> str | None:
    """The phase of a deployment a log line shows (uv's and Docker's build output, epdev's
    notes), or None when it shows none: what the user waits for during a long build."""
    text = line.split(" | ", 1)[-1].lower()
    step = _STEP.search(text)
    if step:
        return f"building the image: step {step.group(1)}/{step.group(2)}"
    if "resolv" in text:
        return "resolving dependencies"
    if "download" in text:
        return f"downloading packages ({downloads + 1} so far)"
    if "install" in text or "prepared" in text:
        return "installing packages"
    if "starting" in text and "instance" in text:
        return "starting instances"
    if "instance(s) ready" in text:
        return "ready"
    return None


@dataclass
class Progress(Message):
    line: str


@dataclass
class Landed(Message):
    endpoint: str
    text: str
    ok: bool
    deployment: str | None = None


async def apply_specs(
    source: Source,
    specs: list[tuple[LoadedSpec, bool]],
    runtime: str | None,
    all_traffic: bool,
    post: Post,
) -> None:
    """Each spec in turn (with whether it exists); a deployment is waited for before the next
    one starts. Tells `post` each Progress line and, at the end or the first failure, Landed."""
    for index, (loaded, exists) in enumerate(specs):
        last = index == len(specs) - 1
        if not await _apply(source, loaded, exists, runtime, all_traffic, last, post):
            return


async def _apply(
    source: Source,
    loaded: LoadedSpec,
    exists: bool,
    runtime: str | None,
    all_traffic: bool,
    last: bool,
    post: Post,
) -> bool:
    data = payload(loaded)
    origin = str(loaded.path) if loaded.path else None
    try:
        if loaded.kind == "online-endpoint":
            split = {k: data.pop(k) for k in ("traffic", "mirror_traffic") if k in data}
            if exists:
                await source.update_endpoint(loaded.name, spec=data, source=origin, **split)
            else:
                await source.create_endpoint(data, origin)
                if split:
                    await source.update_endpoint(loaded.name, **split)
            verb = "updated" if exists else "created"
            text = f"{verb} endpoint {loaded.name}"
            post(Landed(loaded.name, text, True) if last else Progress(text))
            return True
        endpoint = str(data["endpoint_name"])
        if exists:
            await source.update_deployment(
                endpoint,
                loaded.name,
                spec=data,
                source=origin,
                only_if_changed=True,
                runtime=runtime,
            )
        else:
            await source.create_deployment(
                endpoint, data, origin, all_traffic=all_traffic, runtime=runtime
            )
        post(Progress(f"{'updating' if exists else 'creating'} {endpoint}/{loaded.name}…"))
        ready = await _follow(source, endpoint, loaded.name, last, post)
        if ready and exists and all_traffic:
            names = [d.name for d in await source.list_deployments(endpoint)]
            traffic = {n: 100 if n == loaded.name else 0 for n in names}
            await source.update_endpoint(endpoint, traffic=traffic)
        return ready
    except NotRunning as exc:
        post(Reachability(str(exc)))
        post(Landed("", str(exc), False))
    except ClientError as exc:
        post(Landed("", str(exc), False))
    return False


async def _follow(source: Source, endpoint: str, name: str, last: bool, post: Post) -> bool:
    """Stream the deployment's logs (build lines included) until it settles."""

    async def stream() -> None:
        partial = ""
        async for chunk in source.follow_logs(endpoint, name, 50):
            *lines, partial = (partial + chunk).split("\n")
            for line in lines:
                post(Progress(line))

    logs = asyncio.create_task(stream())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while True:
            view = await source.get_deployment(endpoint, name)
            state = view.provisioning_state
            if state == "Succeeded":
                text = f"{endpoint}/{name} is ready"
                post(Landed(endpoint, text, True, name) if last else Progress(text))
                return True
            if state == "Failed":
                post(Landed("", f"{endpoint}/{name} failed: {view.error}", False))
                return False
            if loop.time() > deadline:
                post(Landed("", f"{endpoint}/{name} is still {state}", False))
                return False
            await asyncio.sleep(POLL_SECONDS)
    finally:
        logs.cancel()
        with contextlib.suppress(asyncio.CancelledError, ClientError):
            await logs
