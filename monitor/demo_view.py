"""What `loadwatch demo` shows while it runs: on a terminal, a table of the
jobs (state, progress bar, open conditions) redrawn in place under the
messages as they arrive; elsewhere (a pipe, a file, CI), one plain line per
change, so the output reads well as a log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from monitor import report
from monitor.store.store import Store

REDRAW_SECONDS = 0.25
_STYLES = {
    "succeeded": "bold green",
    "partial": "bold yellow",
    "failed": "bold red",
    "canceled": "magenta",
    "running": "cyan",
    "waiting": "blue",
    "pending": "dim",
    "unknown": "dim",
}
_CONDITION_STYLES = {"unreachable": "red", "stalled": "yellow", "overdue": "yellow"}


class View:
    """The plain view, and the interface the terminal view shares."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._shown: dict[tuple[str, str], tuple[Any, ...]] = {}

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        yield

    async def follow(self, store: Store) -> None:
        """Show the jobs as they change, until cancelled."""
        while True:
            rows = await asyncio.to_thread(report.status_rows, store)
            self.update(rows)
            await asyncio.sleep(REDRAW_SECONDS)

    def update(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            seen = _progress_text(row["progress"]), row["state"], _conditions(row)
            key = (row["watch"], row["job"])
            if row["state"] == "unknown" and key not in self._shown:
                continue  # not polled yet: nothing to say
            if self._shown.get(key) != seen:
                self._shown[key] = seen
                elapsed = time.monotonic() - self.started
                extra = " ".join(part for part in (seen[0], seen[2]) if part)
                self.say(f"{elapsed:5.1f}s  {row['watch']:<18} {row['state']:<9} {extra}".rstrip())

    def final(self, rows: list[dict[str, Any]]) -> None:
        self.say("\n" + report.status_table(rows))


class TerminalView(View):
    """A live table under the scrolling messages (rich)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.console = Console(file=stream)
        self._live: Live | None = None

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        with Live(
            self._table([]),
            console=self.console,
            refresh_per_second=1 / REDRAW_SECONDS,
            transient=True,  # the final table replaces it
            redirect_stdout=True,  # console:// messages scroll above the table
            redirect_stderr=True,
        ) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def update(self, rows: list[dict[str, Any]]) -> None:
        if self._live is not None:
            self._live.update(self._table(rows))

    def final(self, rows: list[dict[str, Any]]) -> None:
        self.console.print(self._table(rows, final=True))

    def _table(self, rows: list[dict[str, Any]], final: bool = False) -> Table:
        elapsed = time.monotonic() - self.started
        title = "the jobs at the end" if final else f"watching · {elapsed:4.1f} s"
        caption = report.notification_summary(rows) if rows else None
        table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
        for column in ("watch", "provider", "state", "progress", "conditions", "polls"):
            table.add_column(column, no_wrap=True)
        for row in rows:
            state = Text(row["state"], style=_STYLES.get(row["state"], ""))
            table.add_row(
                row["watch"],
                row["provider"],
                state,
                _bar(row["progress"], row["state"]),
                _condition_text(row),
                str(row["polls"]),
            )
        return table


def make_view(stream: TextIO) -> View:
    """The live table on a terminal, plain lines anywhere else."""
    isatty = getattr(stream, "isatty", None)
    return TerminalView(stream) if isatty and isatty() else View(stream)


def _progress_text(progress: float | None) -> str:
    return f"{progress:.0%}" if progress is not None else ""


def _conditions(row: dict[str, Any]) -> str:
    return ",".join(condition["kind"] for condition in row["conditions"])


def _condition_text(row: dict[str, Any]) -> Text:
    text = Text()
    for index, condition in enumerate(row["conditions"]):
        if index:
            text.append(", ")
        text.append(condition["kind"], style=_CONDITION_STYLES.get(condition["kind"], ""))
    return text


def _bar(progress: float | None, state: str) -> Any:
    if progress is None:
        if state in ("running", "waiting"):  # moving, but the provider tells no fraction
            return ProgressBar(total=None, width=16, pulse=True)
        return Text("")
    table = Table.grid(padding=(0, 1))
    table.add_row(ProgressBar(total=1.0, completed=progress, width=16), f"{progress:4.0%}")
    return table
