"""The Python examples of docs/bfv_explained.md run and their assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "bfv_explained.md"


@pytest.mark.slow
def test_the_examples_of_bfv_explained_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for block in blocks:  # the blocks build on each other, like a reader's session
        exec(compile(block, str(PAGE), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "[10 17 26 37]" in printed and "41.33333333" in printed
