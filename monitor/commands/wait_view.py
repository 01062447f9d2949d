"""What `loadwatch wait` shows while it waits: a progress bar on a terminal
(state, progress, elapsed, estimated end), one line per change otherwise,
and the final status as a line or, with `--json`, as a JSON document.

With `--json` standard output carries the document alone; the bar or the
change lines go to standard error, so a script can parse the one and a
person still sees the other.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from monitor.engine.policy import estimated_end

if TYPE_CHECKING:
    from monitor.engine.waiting import WaitResult
    from monitor.store.records import JobRecord


def describe(job: JobRecord) -> str:
    """The job's state in a few words: state, progress, raw status, counts, failure."""
    parts = [job.state.value]
    if job.progress is not None:
        parts.append(f"{job.progress:.0%}")
    if job.raw_status:
        parts.append(f"({job.raw_status})")
    if job.processed is not None:
        parts.append(f"{job.processed}" + (f"/{job.total}" if job.total is not None else ""))
    if job.errors:
        parts.append(f"{job.errors} errors")
    if job.consecutive_failures and job.last_failure:
        parts.append(f"- poll failed: {job.last_failure}")
    return " ".join(parts)


class WaitView:
    """Shows a wait as it goes; `finish` prints how it ended."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self._stream = stream
        self._as_json = as_json
        self._began = time.monotonic()
        self._first_progress: tuple[datetime, float] | None = None
        self.label = ""

    def start(self, provider: str, job_id: str) -> None:
        self.label = f"{provider} job {job_id}"

    def update(self, job: JobRecord) -> None:
        """After each poll (or each change read from the database)."""

    def close(self) -> None:
        """Stop drawing (also when the wait ends early)."""

    def eta(self, job: JobRecord) -> datetime | None:
        if job.progress is None or job.last_poll_at is None:
            return None
        reading = (job.last_poll_at, job.progress)
        if self._first_progress is None:
            self._first_progress = reading
        return estimated_end(self._first_progress, reading)

    def finish(self, result: WaitResult, code: int) -> None:
        self.close()
        elapsed = time.monotonic() - self._began
        if self._as_json:
            print_document(result_document(result, code, elapsed))
            return
        how = f"gave up: {result.gave_up}" if result.gave_up else "ended"
        line = f"{self.label or 'job'} {how} - {describe(result.job)} after {elapsed:.0f}s"
        if result.job.message:
            line += f": {result.job.message}"
        print(line, file=sys.stdout, flush=True)


class LineView(WaitView):
    """One line per change, for logs and pipes."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        super().__init__(stream, as_json)
        self._last = ""

    def update(self, job: JobRecord) -> None:
        text = describe(job)
        if text == self._last:
            return
        self._last = text
        eta = self.eta(job)
        stamp = time.strftime("%H:%M:%S")
        suffix = f", ends ~{_local(eta)}" if eta is not None and not job.state.terminal else ""
        print(f"{stamp} {self.label}: {text}{suffix}", file=self._stream, flush=True)


class BarView(WaitView):
    """A live progress bar, for a person at a terminal."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        super().__init__(stream, as_json)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[percent]:>4}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[state]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, provider: str, job_id: str) -> None:
        super().start(provider, job_id)
        self._task = self._progress.add_task(
            self.label, total=None, percent="", eta="", state="waiting for the first poll"
        )
        self._progress.start()

    def update(self, job: JobRecord) -> None:
        if self._task is None:
            return
        eta = self.eta(job)
        fields: dict[str, Any] = {
            "state": describe(job),
            "percent": "" if job.progress is None else f"{job.progress:.0%}",
            "eta": f"ends ~{_local(eta)}" if eta is not None and not job.state.terminal else "",
        }
        if job.progress is not None:
            self._progress.update(self._task, total=1.0, completed=job.progress, **fields)
        elif job.state.terminal:
            self._progress.update(self._task, total=1.0, completed=1.0, **fields)
        else:
            self._progress.update(self._task, **fields)

    def close(self) -> None:
        self._progress.stop()


def make_view(as_json: bool) -> WaitView:
    """A bar when the view's stream is a terminal, lines otherwise."""
    stream = sys.stderr if as_json else sys.stdout
    if stream.isatty():
        return BarView(stream, as_json)
    return LineView(stream, as_json)


def _local(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%H:%M:%S")


def result_document(result: WaitResult, code: int, elapsed: float) -> dict[str, Any]:
    """The final status as `--json` prints it."""
    job = result.job
    return {
        "provider": job.provider,
        "job": job.job_id,
        "state": job.state.value,
        "raw_status": job.raw_status,
        "progress": job.progress,
        "counts": {
            k: v
            for k, v in (("processed", job.processed), ("errors", job.errors), ("total", job.total))
            if v is not None
        },
        "message": job.message,
        "children": list(job.children),
        "polls": job.polls,
        "failed_polls": job.failed_polls,
        "last_failure": job.last_failure,
        "gave_up": result.gave_up,
        "elapsed": round(elapsed, 3),
        "exit_code": code,
    }


def print_document(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2))
