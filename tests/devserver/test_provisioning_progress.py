"""Which deployment log lines `online-deployment create/update` shows while it waits."""

from __future__ import annotations

from epdev.devserver.cli.provisioning import shown_text

SINCE = "2026-01-01T10:00:00.000Z"


def test_epdev_notes_and_build_lines_written_since_the_request_are_shown() -> None:
    note = "2026-01-01T10:00:01.000Z epdev info | starting 1 instance(s) with the docker runtime"
    build = "2026-01-01T10:00:02.000Z blue-0 build | Step 2/5 : COPY wheelhouse /tmp/w"
    warning = "2026-01-01T10:00:02.500Z blue-0 warning | mkl is conda-only"
    assert shown_text(note, SINCE) == "starting 1 instance(s) with the docker runtime"
    assert shown_text(build, SINCE) == "Step 2/5 : COPY wheelhouse /tmp/w"
    assert shown_text(warning, SINCE) == "mkl is conda-only"
    substitute = (
        "2026-01-01T10:00:03.000Z blue-0 epdev | the image mcr.microsoft.com/x cannot be pulled; "
        "using the local substitute epdev/python-base:bookworm in its place"
    )
    assert "using the local substitute" in (shown_text(substitute, SINCE) or "")


def test_the_scripts_output_older_lines_and_odd_lines_are_not() -> None:
    script = "2026-01-01T10:00:03.000Z blue-0 stderr INFO | Init complete"
    older = "2026-01-01T09:59:59.999Z epdev info | all 1 instance(s) ready"
    assert shown_text(script, SINCE) is None
    assert shown_text(older, SINCE) is None
    assert shown_text("not a log line", SINCE) is None
    assert shown_text("2026-01-01T10:00:04.000Z epdev | short head", SINCE) is None
