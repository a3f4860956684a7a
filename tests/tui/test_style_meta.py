"""Style metadata: the same bytes, kept out of the C heap where they fragmented it."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import rich.style
import textual.style

from epdev.tui import textual_workarounds
from epdev.tui.textual_workarounds import compact_style_meta


@pytest.fixture
def compact(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # Set through monkeypatch first so the originals come back after the test.
    monkeypatch.setattr(rich.style, "dumps", rich.style.dumps)
    monkeypatch.setattr(textual.style, "dumps", textual.style.dumps)
    return compact_style_meta()


def _c_heap() -> range:
    """The C heap grown with brk (glibc's main arena), from this process's memory map."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith("[heap]"):
            start, end = (int(bound, 16) for bound in line.split()[0].split("-"))
            return range(start, end)
    pytest.skip("this process has no brk heap")


def test_both_libraries_still_pickle_their_style_meta(compact: list[str]) -> None:
    # If an upgrade of Rich or Textual stops pickling through `dumps`, look again at
    # whether its metadata still fragments the heap (and drop the module if not).
    assert compact == ["rich.style", "textual.style"]
    assert compact_style_meta() == compact  # a second call changes nothing more


@pytest.mark.usefixtures("compact")
def test_style_meta_reads_back_unchanged() -> None:
    offset = rich.style.Style.from_meta({"offset": (3, 4)})
    assert offset.meta == {"offset": (3, 4)}
    cell = rich.style.Style(bold=True) + rich.style.Style.from_meta({"row": 1, "column": 2})
    assert (cell + offset).meta == {"row": 1, "column": 2, "offset": (3, 4)}
    assert pickle.loads(offset._meta or b"") == {"offset": (3, 4)}

    link = textual.style.Style.from_meta({"@click": "app.bell"})
    assert link.meta == {"@click": "app.bell"}
    assert link.rich_style_with_offset(5, 6).meta == {"@click": "app.bell", "offset": (5, 6)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.skipif("PYTHONMALLOC" in os.environ, reason="needs CPython's default allocators")
def test_style_meta_stays_out_of_the_c_heap(compact: list[str]) -> None:
    heap = _c_heap()
    # The mechanism: pickle shrinks its 4 KiB buffer in place, so even a tiny blob is left in
    # the C heap rather than with the other small objects.
    assert id(pickle.dumps({"offset": (1, 2)})) in heap
    rich_styles = [rich.style.Style.from_meta({"offset": (x, 7)}) for x in range(100)]
    rich_styles.append(rich_styles[0] + rich.style.Style.from_meta({"row": 1}))
    textual_styles = [textual.style.Style.from_meta({"offset": (x, 8)}) for x in range(100)]
    blobs = [style._meta for style in rich_styles] + [style._meta for style in textual_styles]
    in_heap = [blob for blob in blobs if id(blob) in heap]
    assert not in_heap, f"{len(in_heap)} of {len(blobs)} metadata blobs are in the C heap"
    assert textual_workarounds._exact_dumps({"offset": (1, 2)}) == pickle.dumps({"offset": (1, 2)})
