"""The geometry of a watch's run-duration chart: one bar per past run, coloured
by how it ended, and the line `deadline: auto` learned from them. The page's
template draws it as inline SVG, so it shows with JavaScript off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.notify.formatting import format_duration
from monitor.store.views import RunView

WIDTH = 720
HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 14, 24
_GRID_LINES = 4
_BAR_MAX = 36  # px: a few runs still look like bars, not walls
# Steps for the time axis, in seconds: a person reads 5m, 10m, 15m easily.
_NICE_STEPS = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    state: str
    label: str  # the tooltip: which job, how it ended, how long it took


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: float  # y of the time axis
    right: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    deadline_y: float | None
    deadline_label: str | None


def duration_chart(
    runs: Sequence[RunView], learned: float | None, runs_learned: int, *, auto: bool = True
) -> Chart:
    """The chart for `runs` (oldest first) and the learned deadline, if any;
    `auto`: the watch's deadline is `auto` (else the line says what it would learn)."""
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    longest = max([run.seconds for run in runs] + [learned or 0.0, 1.0])
    step = next((s for s in _NICE_STEPS if s * _GRID_LINES >= longest * 1.05), None)
    step = step or _NICE_STEPS[-1] * (int(longest * 1.05 / (_NICE_STEPS[-1] * _GRID_LINES)) + 1)
    top = float(step * _GRID_LINES)

    def y_of(seconds: float) -> float:
        return round(_TOP + plot_height * (1 - seconds / top), 1)

    slot = plot_width / max(len(runs), 1)
    bars = tuple(
        Bar(
            x=round(_LEFT + slot * index + (slot - _bar_width(slot)) / 2, 1),
            y=y_of(run.seconds),
            width=_bar_width(slot),
            height=round(max(HEIGHT - _BOTTOM - y_of(run.seconds), 1.0), 1),
            state=run.state.value,
            label=(
                f"{run.job_id}: {run.state.value} after {format_duration(run.seconds)}, "
                f"ended {run.ended:%Y-%m-%d %H:%M} UTC"
            ),
        )
        for index, run in enumerate(runs)
    )
    ticks = tuple(
        Tick(y_of(step * line), format_duration(step * line)) for line in range(_GRID_LINES + 1)
    )
    label = None
    if learned is not None:
        p90 = f"p90 of last {runs_learned} runs"
        label = (
            f"deadline: auto {format_duration(learned)} ({p90})"
            if auto
            else f"{p90}: {format_duration(learned)} (what deadline: auto would learn)"
        )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=_LEFT,
        bottom=HEIGHT - _BOTTOM,
        right=WIDTH - _RIGHT,
        bars=bars,
        ticks=ticks,
        deadline_y=None if learned is None else y_of(learned),
        deadline_label=label,
    )


def _bar_width(slot: float) -> float:
    return round(min(max(slot * 0.8, 1.0), _BAR_MAX), 1)
