"""What a silence or quiet window decides for one notification, and quiet
windows on the fake clock, across both of Europe/Berlin's DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.clock import FakeClock
from monitor.config.quiet import QuietWindow, quiet_until
from monitor.notify.silencing import verdict
from monitor.store.records import NotificationRecord
from monitor.store.silences import SilenceRecord

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = QuietWindow.model_validate({"from": "01:00", "to": "03:00"})


def row(event: str, watch: str = "hr-nightly") -> NotificationRecord:
    return NotificationRecord(
        id=1, job_pk=1, watch=watch, event=event, dedupe_key=f"{watch}/J:{event}",
        notifier="team", url_key="k", url_display="json://x", title="t", body="b",
        notify_type="info", status="pending", attempts=0, created_at=NOW,
        next_attempt_at=NOW, sent_at=None, last_error=None,
    )  # fmt: skip


def silence(number: int, hours: float, watch=None, provider=None, reason=None) -> SilenceRecord:
    ends = NOW + timedelta(hours=hours)
    return SilenceRecord(number, watch, provider, reason, NOW, ends, None)


def test_a_jobs_end_is_held_until_the_last_covering_silence_ends():
    silences = [silence(1, 1, watch="hr-nightly"), silence(2, 3, provider="hr", reason="deploy")]
    decided = verdict(row("failed"), "hr", silences, None)
    assert decided is not None and decided.until == NOW + timedelta(hours=3)
    assert decided.note == "held by silence 1, silence 2 (deploy) until 2026-11-30 15:00Z"


@pytest.mark.parametrize("event", ["started", "stalled", "unreachable", "recovered", "overdue"])
def test_other_events_are_silenced_for_good(event):
    decided = verdict(row(event), "hr", [silence(4, 1)], None)
    assert decided is not None and decided.until is None
    assert decided.note == "silenced by silence 4"


def test_a_silence_of_another_watch_or_provider_lets_it_go():
    silences = [silence(1, 1, watch="other"), silence(2, 1, provider="crm")]
    assert verdict(row("failed"), "hr", silences, None) is None


def test_a_quiet_window_holds_a_jobs_end_until_it_ends():
    decided = verdict(row("succeeded"), "hr", [], NOW + timedelta(minutes=30))
    assert decided is not None and decided.until == NOW + timedelta(minutes=30)
    assert decided.note.startswith("held by quiet window until")


def test_quiet_window_on_a_weekday_only():
    window = QuietWindow.model_validate({"days": ["mon"], "from": "01:00", "to": "03:00"})
    monday = datetime(2026, 11, 30, 1, 30, tzinfo=BERLIN)  # a Monday
    assert quiet_until([window], monday.astimezone(UTC), BERLIN) == datetime(
        2026, 11, 30, 3, 0, tzinfo=BERLIN
    )
    tuesday = monday + timedelta(days=1)
    assert quiet_until([window], tuesday.astimezone(UTC), BERLIN) is None


def test_an_overnight_window_counts_from_the_day_it_starts():
    window = QuietWindow.model_validate({"days": ["sun"], "from": "22:00", "to": "02:00"})
    monday_small_hours = datetime(2026, 11, 30, 1, 0, tzinfo=BERLIN)
    end = quiet_until([window], monday_small_hours.astimezone(UTC), BERLIN)
    assert end == datetime(2026, 11, 30, 2, 0, tzinfo=BERLIN)


def test_quiet_window_when_clocks_go_forward_lasts_one_real_hour():
    # 2026-03-29, Berlin: 02:00 CET becomes 03:00 CEST; 01:00-03:00 is 00:00Z-01:00Z.
    assert quiet_until([NIGHTLY], datetime(2026, 3, 28, 23, 59, tzinfo=UTC), BERLIN) is None
    inside = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert quiet_until([NIGHTLY], inside, BERLIN) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert quiet_until([NIGHTLY], datetime(2026, 3, 29, 1, 0, tzinfo=UTC), BERLIN) is None


def test_quiet_window_when_clocks_go_back_lasts_three_real_hours():
    # 2026-10-25, Berlin: 03:00 CEST becomes 02:00 CET; 01:00-03:00 is 23:00Z-02:00Z.
    assert quiet_until([NIGHTLY], datetime(2026, 10, 24, 22, 59, tzinfo=UTC), BERLIN) is None
    for moment in (
        datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ):
        assert quiet_until([NIGHTLY], moment, BERLIN) == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)
    assert quiet_until([NIGHTLY], datetime(2026, 10, 25, 2, 0, tzinfo=UTC), BERLIN) is None


@pytest.mark.parametrize("written", [60, "1am", "25:00"])
def test_a_time_that_is_not_quoted_hh_mm_is_refused(written):
    with pytest.raises(ValueError, match="not a time of day"):
        QuietWindow.model_validate({"from": written, "to": "03:00"})


def test_times_are_read_as_written():
    assert (NIGHTLY.start, NIGHTLY.end) == (time(1, 0), time(3, 0))


def test_stepping_a_fake_clock_through_the_spring_change_finds_one_quiet_hour():
    clock = FakeClock(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    quiet = []
    for _ in range(12):  # 23:00Z to 01:45Z in quarter hours
        if quiet_until([NIGHTLY], clock.now(), BERLIN) is not None:
            quiet.append(clock.now().strftime("%H:%M"))
        clock.advance(15 * 60)
    assert quiet == ["00:00", "00:15", "00:30", "00:45"]
