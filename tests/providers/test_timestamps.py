"""Reading vendors' timestamps: any text or number gives an aware UTC time or
None, never an exception (a poll must not fail over a date it can do without)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from monitor.providers.timestamps import iso_or_epoch_time, iso_time


@given(
    moment=st.datetimes(timezones=st.just(UTC) | st.none()),
    offset_minutes=st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
def test_any_iso_timestamp_with_any_offset_reads_as_its_utc_time_or_none(moment, offset_minutes):
    zone = timezone(timedelta(minutes=offset_minutes))
    text = moment.replace(tzinfo=zone).isoformat()
    read = iso_time(text)
    if read is not None:
        assert read.tzinfo is UTC and read == moment.replace(tzinfo=zone)


@given(st.one_of(st.text(), st.floats(), st.integers(), st.none(), st.booleans()))
def test_anything_else_reads_as_a_utc_time_or_none(value):
    read = iso_or_epoch_time(value)
    assert read is None or read.tzinfo is UTC


def test_times_beyond_what_utc_can_hold_are_unknown():
    assert iso_time("0001-01-01T00:00:00+01:00") is None
    assert iso_time("9999-12-31T23:00:00-05:00") is None
    assert iso_time("9999-12-31T23:00:00+05:00") == datetime(9999, 12, 31, 18, tzinfo=UTC)
