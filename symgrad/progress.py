"""Progress of long work: compiling a big graph, verifying many derivatives.

Work that has run longer than ``DELAY`` seconds reports each stage as it ends (the stages done
before are reported at once when the delay passes), with its time and what it made: on stderr
when stderr is a terminal, else as ``logging`` records (logger ``"symgrad"``, level INFO), which
Python prints nowhere unless the program configured logging. Quick work reports nothing.

    >>> import logging
    >>> logging.basicConfig(level=logging.INFO)     # doctest: +SKIP
    >>> # then a long sg.compile logs: INFO:symgrad:compile f: differentiate 3.1 s (...)

The work marks its stages with ``step``; outside ``tracking`` a step does nothing, so a pass that
reports costs nothing when it runs for something else.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator

DELAY = 2.0  # seconds of work before anything is reported (tests set it to 0)

logger = logging.getLogger("symgrad")
_clock = time.perf_counter


class _Tracker:
    """The stages of one piece of work, reported once it has run for ``delay`` seconds."""

    def __init__(self, task: str, delay: float) -> None:
        self.task = task
        self.delay = delay
        self.start = self.last = _clock()
        self.waiting: list[str] = []  # stages ended before the delay passed

    def step(self, stage: str, detail: str) -> None:
        now = _clock()
        line = f"{self.task}: {stage} {_seconds(now - self.last)}{f' ({detail})' if detail else ''}"
        self.last = now
        if now - self.start < self.delay:
            self.waiting.append(line)
            return
        for waited in self.waiting:
            _report(waited)
        self.waiting.clear()
        _report(f"{line}, {_seconds(now - self.start)} in all")


def _seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def _report(line: str) -> None:
    stream = sys.stderr
    try:
        terminal = stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        terminal = False
    if terminal:
        stream.write(f"symgrad: {line}\n")
        stream.flush()
    else:
        logger.info(line)


_current: contextvars.ContextVar[_Tracker | None] = contextvars.ContextVar("symgrad_progress", default=None)


@contextlib.contextmanager
def tracking(task: str) -> Iterator[None]:
    """Within the block, ``step`` reports the stages of ``task`` (once it has run ``DELAY`` s)."""
    token = _current.set(_Tracker(task, DELAY))
    try:
        yield
    finally:
        _current.reset(token)


def step(stage: str, detail: str = "") -> None:
    """``stage`` of the work being tracked has ended; ``detail`` says what it made (node counts)."""
    tracker = _current.get()
    if tracker is not None:
        tracker.step(stage, detail)
