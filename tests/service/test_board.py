"""The status board's figures, as pure functions of records and a fixed time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.domain import State
from monitor.service import board
from monitor.service.chart import duration_chart
from monitor.store.views import ConditionView, JobView, RunView

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def job(**changes) -> JobView:
    base = JobView(
        id=1,
        watch="hr-nightly",
        provider="hr",
        job_id="42",
        state=State.RUNNING,
        raw_status="processing",
        progress=None,
        processed=None,
        errors=None,
        total=None,
        message=None,
        started_at=None,
        first_seen_at=NOW - timedelta(minutes=10),
        state_changed_at=None,
        progress_changed_at=None,
        terminal_at=None,
        last_poll_at=NOW,
        next_poll_at=NOW + timedelta(seconds=30),
        polls=3,
        failed_polls=0,
        last_failure=None,
        lease_owner=None,
        lease_until=None,
    )
    return replace(base, **changes)


def run(seconds: float, state: State = State.SUCCEEDED) -> RunView:
    return RunView(1, "42", state, NOW, NOW + timedelta(seconds=seconds))


def test_a_job_a_quarter_done_after_ten_minutes_ends_thirty_minutes_later():
    quarter = job(progress=0.25, progress_changed_at=NOW)
    assert board.estimated_end(quarter) == NOW + timedelta(minutes=30)


def test_the_provider_start_time_counts_over_the_first_sighting():
    began_earlier = job(progress=0.5, progress_changed_at=NOW, started_at=NOW - timedelta(hours=1))
    assert board.estimated_end(began_earlier) == NOW + timedelta(hours=1)


def test_no_estimate_when_progress_has_barely_moved():
    """A job ten minutes in at 0.0000001 % would end in 190,000 years: no
    estimate, rather than a time no calendar holds (it broke the whole board)."""
    assert board.estimated_end(job(progress=1e-9, progress_changed_at=NOW)) is None
    assert board.estimated_end(job(progress=1e-6, progress_changed_at=NOW)) is None  # 19 years
    began_long_ago = job(
        progress=0.5, progress_changed_at=NOW, started_at=datetime(1, 1, 1, tzinfo=UTC)
    )
    assert board.estimated_end(began_long_ago) is None


def test_no_estimate_without_progress_or_once_ended():
    assert board.estimated_end(job()) is None
    assert board.estimated_end(job(progress=0.0, progress_changed_at=NOW)) is None
    assert board.estimated_end(job(state=State.SUCCEEDED, progress=0.5)) is None


def test_ran_for_counts_to_the_end_of_an_ended_job():
    ended = job(state=State.FAILED, terminal_at=NOW - timedelta(minutes=4))
    assert board.ran_for(ended, NOW) == 6 * 60
    assert board.ran_for(job(), NOW) == 10 * 60


def test_worst_first_puts_open_conditions_then_failures_before_running_and_succeeded():
    stalled = job(id=1, watch="d", conditions=(ConditionView("stalled", "no change", NOW),))
    failed = job(id=2, watch="c", state=State.FAILED)
    running = job(id=3, watch="a")
    succeeded = job(id=4, watch="b", state=State.SUCCEEDED)
    ordered = board.worst_first([succeeded, running, failed, stalled])
    assert [j.id for j in ordered] == [1, 2, 3, 4]
    assert board.state_counts(ordered) == {"failed": 1, "running": 2, "succeeded": 1}


def test_the_learned_deadline_needs_five_runs_and_uses_the_latest_twenty():
    assert board.learned_deadline([run(60)] * 4) is None
    old_slow = [run(3600)] * 10
    recent = [run(60 * minutes) for minutes in range(1, 21)]
    assert board.learned_deadline(old_slow + recent) == 18 * 60  # p90 of the latest 20


def test_chart_draws_one_bar_per_run_and_the_learned_line_above_most_of_them():
    runs = [run(60), run(120, State.FAILED), run(90), run(100, State.PARTIAL), run(80)]
    learned = board.learned_deadline(runs)
    chart = duration_chart(runs, learned, len(runs))
    assert [bar.state for bar in chart.bars] == [
        "succeeded",
        "failed",
        "succeeded",
        "partial",
        "succeeded",
    ]
    tallest = min(chart.bars, key=lambda bar: bar.y)  # SVG y grows downwards
    assert tallest.state == "failed" and chart.deadline_y == tallest.y
    assert chart.deadline_label == "deadline: auto 2m 00s (p90 of last 5 runs)"
    assert [tick.label for tick in chart.ticks] == ["0s", "1m 00s", "2m 00s", "3m 00s", "4m 00s"]
    assert all(chart.left <= bar.x and bar.x + bar.width <= chart.right for bar in chart.bars)
    fixed = duration_chart(runs, learned, len(runs), auto=False)
    assert fixed.deadline_label == "p90 of last 5 runs: 2m 00s (what deadline: auto would learn)"


def test_deadline_text_says_the_setting_as_the_config_would():
    assert board.duration_words(86400) == "1d"
    assert board.duration_words(5400) == "90m"
