"""What `multilevel harvest` shows on a terminal: one live progress line per dataset, log warnings above it.

Per dataset: slices done of planned, rows staged, HTTP requests, retries, and Eurostat's asynchronous answers waited
for (how many, and the seconds spent waiting). The counts come from the same events the log already carries off a
terminal (one ``GET ...`` line per request, one ``retry ...`` warning per retry, one ``async ...`` warning per
wait), so a pod's log and the display cannot disagree. On a terminal the INFO lines are hidden (``-v`` shows them again,
above the display); warnings and errors always print above it. Off a terminal nothing here is used: the log keeps
one line per request and per step.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

# Loggers that write one INFO line per HTTP request (the display counts them even when INFO is hidden).
HTTP_LOGGERS = ("multilevel.httpclient", "multilevel.eurostat.client")
_ROWS = re.compile(r"(\d+) rows$")


class HarvestDisplay:
    """A rich live display of a harvest run; ``dataset(code)`` gives the progress callback of one dataset."""

    def __init__(self, console: Console | None = None, verbose: bool = False):
        self.console = console or Console(stderr=True)
        self.verbose = verbose
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("slices · {task.fields[rows]:,} rows · {task.fields[requests]} requests · "
                       "{task.fields[retries]} retries · {task.fields[async_waits]} async waits "
                       "({task.fields[async_seconds]:.0f}s)"),
            TimeElapsedColumn(),
            console=self.console,
            redirect_stdout=False,  # stdout keeps the JSON summaries (scripts read them)
            redirect_stderr=False,
        )
        self.current: TaskID | None = None

    def count(self, record: logging.LogRecord) -> None:
        """Count a request, a retry or an asynchronous wait for the dataset being harvested."""
        if self.current is None or not isinstance(record.msg, str):
            return
        if record.msg.startswith("GET "):
            self.progress.update(self.current, requests=self._field("requests") + 1)
        elif record.msg.startswith("retry "):
            self.progress.update(self.current, retries=self._field("retries") + 1)
        elif record.msg.startswith("async ") and hasattr(record, "async_pause"):  # eurostat/client.py
            self.progress.update(self.current, async_waits=self._field("async_waits") + 1,
                                 async_seconds=self._field("async_seconds") + float(record.async_pause))

    def _field(self, name: str) -> int:
        return self.progress.tasks[self.current].fields[name]

    def dataset(self, code: str) -> Callable[[int, int, str], None]:
        """Start the line of ``code``; the returned callback is harvest_dataset's ``progress``."""
        self.current = self.progress.add_task(code, total=None, rows=0, requests=0, retries=0, async_waits=0,
                                              async_seconds=0.0)
        task = self.current

        def progress(done: int, total: int, message: str) -> None:
            rows = _ROWS.search(message)
            added = int(rows.group(1)) if rows else 0
            self.progress.update(task, completed=done, total=total,
                                 rows=self.progress.tasks[task].fields["rows"] + added)

        return progress

    @contextmanager
    def running(self) -> Iterator[HarvestDisplay]:
        """Show the display; meanwhile log records print above it and INFO is hidden unless ``verbose``."""
        root, package = logging.getLogger(), logging.getLogger("multilevel")
        saved = (root.handlers[:], package.level, {n: logging.getLogger(n).level for n in HTTP_LOGGERS})
        level = logging.INFO if self.verbose else logging.WARNING
        shown = RichHandler(console=self.console, show_path=False, level=level)
        counter = _Counter(self)
        root.handlers = [shown]
        package.addHandler(counter)
        if not self.verbose:
            # Quiet the package (the slice worker processes take this level too) but keep the request lines coming.
            package.setLevel(logging.WARNING)
            for name in HTTP_LOGGERS:
                logging.getLogger(name).setLevel(logging.INFO)
        self.progress.start()
        try:
            yield self
        finally:
            self.progress.stop()
            package.removeHandler(counter)
            root.handlers, level, http_levels = saved
            package.setLevel(level)
            for name, old in http_levels.items():
                logging.getLogger(name).setLevel(old)


class _Counter(logging.Handler):
    def __init__(self, display: HarvestDisplay):
        super().__init__(logging.DEBUG)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        self.display.count(record)
