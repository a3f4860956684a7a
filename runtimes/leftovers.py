"""What an instance's script started: found by group and by a mark in the environment, killed
when the instance ends.

A worker runs in a session of its own, so killing its process group ends what the script
started directly. A process that called `setsid()` (a daemon, `nohup setsid ...`) leaves that
group; it still carries the worker's environment, where every instance gets a variable of its
own (`EPDEV_INSTANCE_MARK`), so it is found by that. On Linux the devserver is also a child
subreaper: such orphans are re-parented to it instead of to init, and it reaps them.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MARK_VAR = "EPDEV_INSTANCE_MARK"
_PR_SET_CHILD_SUBREAPER = 36
_REAP_SECONDS = 2.0

# Worker processes the runtimes spawned and their event loop reaps: never reaped here.
_spawned: set[int] = set()
_spawned_lock = threading.Lock()
# Children re-parented to this process (they carry a mark): reaped here once they exit.
_adopted: set[int] = set()
_subreaper = False


def scope_of(folder: Path) -> str:
    """A tag for the instances of one epdev home (given its cache folder), so that a devserver
    can find what instances of an earlier run of the same home left behind."""
    return hashlib.sha256(str(folder.absolute()).encode()).hexdigest()[:12]


def new_mark(scope: str) -> str:
    return f"{scope}.{secrets.token_hex(8)}"


def become_subreaper() -> bool:
    """Make orphaned descendants children of this process (Linux); False where unsupported."""
    global _subreaper
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
    return _subreaper


def is_subreaper() -> bool:
    return _subreaper


def spawned(pid: int) -> None:
    """`pid` is a worker that its starter reaps."""
    with _spawned_lock:
        _spawned.add(pid)


def reaped(pid: int) -> None:
    with _spawned_lock:
        _spawned.discard(pid)


@dataclass(frozen=True)
class Leftover:
    pid: int
    name: str
    own_session: bool

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}{', own session' if self.own_session else ''})"


def find(
    mark: str, group: int | None, *, spare: int | None = None, prefix: bool = False
) -> list[Leftover]:
    """The live processes in process group `group` or carrying `mark` (with `prefix`, any mark
    that starts with it), except `spare`."""
    wanted = f"{MARK_VAR}={mark}".encode()
    found = []
    me = os.getpid()
    for pid in psutil.pids():
        if pid in (me, spare):
            continue
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        in_group = group is not None and pgid == group
        if not in_group and not _carries(pid, wanted, prefix):
            continue
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                _adopt_if_child(proc)
                continue
            name = proc.name()
        except psutil.Error:
            continue
        found.append(Leftover(pid, name, own_session=group is not None and pgid != group))
    return found


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def _carries(pid: int, wanted: bytes, prefix: bool = False) -> bool:
    if prefix:
        return any(item.startswith(wanted) for item in _environ(pid))
    return wanted in _environ(pid)


def kill(
    mark: str, group: int | None, *, spare: int | None = None, prefix: bool = False
) -> list[Leftover]:
    """SIGKILL what `find` finds (more than once: a fork may race a pass) and reap the
    orphans that became this process's children; return what was killed."""
    killed: dict[int, Leftover] = {}
    for _ in range(3):
        found = find(mark, group, spare=spare, prefix=prefix)
        victims = [v for v in found if v.pid not in killed]
        if not victims:
            break
        for victim in victims:
            with contextlib.suppress(OSError):
                os.kill(victim.pid, signal.SIGKILL)
            killed[victim.pid] = victim
    if group is not None:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    _reap_killed(set(killed))
    return list(killed.values())


def _adopt_if_child(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        if proc.ppid() == os.getpid():
            with _spawned_lock:
                if proc.pid not in _spawned:
                    _adopted.add(proc.pid)


def _reap_killed(pids: set[int]) -> None:
    """Wait, briefly, until the killed processes are gone, reaping those re-parented here (a
    killed process whose parent dies with it becomes this subreaper's child a moment later)."""
    me = os.getpid()
    with _spawned_lock:
        pending = pids - _spawned
    deadline = time.monotonic() + _REAP_SECONDS
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                parent = psutil.Process(pid).ppid()
            except psutil.Error:
                pending.discard(pid)
                continue
            if parent == me:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    pending.discard(pid)
        if pending:
            time.sleep(0.01)
    _adopted.update(pending)  # still dying: reaped by the next `reap_adopted`


def kill_scope(scope: str) -> list[Leftover]:
    """Kill what any instance of `scope` left running: after a devserver was killed, its
    instances' detached processes outlive it (re-parented to init)."""
    return kill(f"{scope}.", None, prefix=True)


def _children() -> list[int]:
    """This process's children. Linux lists each thread's in /proc/self/task/*/children: a few
    small reads, where psutil would read the status of every process on the machine."""
    me = os.getpid()
    tasks = Path(f"/proc/{me}/task")
    if not (tasks / str(me) / "children").exists():
        with contextlib.suppress(psutil.Error):
            return [child.pid for child in psutil.Process(me).children()]
        return []
    pids: list[int] = []
    for task in tasks.iterdir():
        try:
            listing = (task / "children").read_bytes()
        except OSError:  # the thread has just ended: its children moved to another one
            continue
        pids.extend(int(pid) for pid in listing.split())
    return pids


def reap_adopted() -> int:
    """Reap the adopted orphans that have exited (a subreaper must, or they stay zombies);
    notice new ones. Returns how many were reaped."""
    prefix = MARK_VAR.encode() + b"="
    for pid in _children():
        with _spawned_lock:
            if pid in _spawned or pid in _adopted:
                continue
        if any(item.startswith(prefix) for item in _environ(pid)):
            _adopted.add(pid)
    count = 0
    for pid in list(_adopted):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            _adopted.discard(pid)
            continue
        if done:
            _adopted.discard(pid)
            count += 1
    return count
