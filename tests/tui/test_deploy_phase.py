"""What the deploy view says a long build is doing, read from the deployment's log lines."""

from __future__ import annotations

from epdev.tui.spec_apply import phase_of


def test_a_long_builds_phase_is_read_from_its_log_lines() -> None:
    stamp = "2026-01-01T10:00:00.000Z"
    assert phase_of(f"{stamp} blue-0 build | Resolved 12 packages in 40ms", 0) == (
        "resolving dependencies"
    )
    assert phase_of(f"{stamp} blue-0 build | Downloading numpy (15.6MiB)", 2) == (
        "downloading packages (3 so far)"
    )
    assert phase_of(f"{stamp} blue-0 build | Installed 12 packages in 1.2s", 0) == (
        "installing packages"
    )
    assert phase_of(f"{stamp} blue-0 build | Step 2/5 : COPY wheelhouse /tmp/w", 0) == (
        "building the image: step 2/5"
    )
    assert phase_of(f"{stamp} epdev info | starting 2 instance(s) with the venv runtime", 0) == (
        "starting instances"
    )
    assert phase_of(f"{stamp} blue-0 stderr INFO | Init complete", 0) is None
