"""Rendering the library's ``progress(done, total)`` callbacks on the terminal.

The library never prints; long operations accept a callback. The command line turns it into a
tqdm bar when tqdm is installed (the ``cli`` extra) and the output is an interactive terminal,
and otherwise into a few plain lines (at every quarter of the work), which stay readable in logs
and in CI.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

__all__ = ["ProgressCallback", "Reporter"]

ProgressCallback = Callable[[int, int], None]


def _tqdm_class() -> Any:
    """tqdm's bar class, or ``None`` when the ``cli`` extra is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Reporter:
    """Writes a command's report and renders progress for it.

    Args:
        out: the stream the report goes to.
        bars: ``True`` for tqdm bars, ``False`` for plain lines, ``None`` (default) to decide:
            bars when tqdm is importable and ``out`` is a terminal.
    """

    def __init__(self, out: TextIO, *, bars: bool | None = None) -> None:
        self.out = out
        tqdm = _tqdm_class()
        if bars is None:
            isatty = getattr(out, "isatty", None)
            bars = tqdm is not None and callable(isatty) and bool(isatty())
        self._tqdm = tqdm if bars else None

    def line(self, text: str = "") -> None:
        """Write one line of the report."""
        print(text, file=self.out, flush=True)

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[ProgressCallback]:
        """A ``progress(done, total)`` callback for one long operation, rendered as it runs."""
        tqdm = self._tqdm
        if tqdm is not None:
            bar: Any = None

            def update_bar(done: int, total: int) -> None:
                nonlocal bar
                if bar is None:
                    bar = tqdm(total=total, desc=f"  {label}", file=self.out, leave=False)
                bar.update(done - bar.n)

            try:
                yield update_bar
            finally:
                if bar is not None:
                    bar.close()
            return

        next_quarter = 1
        start = time.perf_counter()

        def update_lines(done: int, total: int) -> None:
            nonlocal next_quarter
            # One line per quarter crossed, however finely (or coarsely) the library calls back.
            quarter = min(4 * done // total, 4) if total > 0 else 4
            if quarter >= next_quarter:
                elapsed = time.perf_counter() - start
                percent = 100 * done // total if total > 0 else 100
                self.line(f"    {label}: {done:,}/{total:,} ({percent}%, {elapsed:.1f} s)")
                next_quarter = quarter + 1

        yield update_lines
