"""Claims and recorded polls on both databases: a claimed job comes back as
the store reads it, and what a poll records (its schedule-only write, the
commonest, included) lands only while the job's lease is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.store import claims
from monitor.store.records import PollWrite
from monitor.store.store import Store
from tests.notify.helpers import track

NOW = datetime(2026, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)


def _claim(store: Store, owner: str, names: dict[int, str], now: datetime = NOW) -> list:
    request = claims.ClaimRequest(provider="hr", limit=10, due_by=now + timedelta(seconds=1))
    return claims.claim(store.writer, owner, request, now, LEASE, names)


def test_a_claimed_job_is_the_job_the_store_reads(store: Store) -> None:
    job = track(store, "nightly", "job-1", NOW)
    offset = timezone(timedelta(hours=-5))
    news = {  # a value of every kind a job's row holds
        "state": "running",
        "raw_status": "dataloading",
        "progress": 0.25,
        "processed": 12,
        "errors": 0,
        "total": 48,
        "message": "Zeile 12 von 48 \u2013 l\u00e4uft",
        "children": ["child-1", "child-2"],
        "details": {"rows": 3, "nested": {"x": [1, 2.5, None, True]}, "note": "\u00fc"},
        "started_at": datetime(2026, 3, 1, 1, 0, 0, 5, tzinfo=offset),
        "state_changed_at": NOW,
        "last_failure": "timeout",
        "backoff_step": 2,
    }
    with store.writer.begin() as db:
        claims.record_in(db, None, [PollWrite(job.id, news)], NOW)
    claimed = _claim(store, "me", {job.watch_id: job.watch}, NOW + timedelta(hours=1))
    assert len(claimed) == 1
    read = store.get_job(job.id)
    assert read is not None
    expected = {**read.__dict__, "lease_owner": "me", "lease_until": LEASE}
    assert claimed[0].__dict__ == expected
    assert claimed[0].next_poll_at is not None and claimed[0].next_poll_at.tzinfo is UTC
    assert claimed[0].started_at is not None and claimed[0].started_at.tzinfo is UTC
    assert claimed[0].details["nested"] == {"x": [1, 2.5, None, True]}


@pytest.mark.parametrize(
    "changes",
    [
        {},  # a job whose watch left the config: only the lease goes back
        {"polls": 7, "consecutive_failures": 0, "last_failure": None},
        {"last_poll_at": NOW, "next_poll_at": NOW + timedelta(seconds=10), "next_check_at": None},
    ],
)
def test_a_schedule_only_write_lands_while_the_lease_is_held(
    store: Store, changes: dict[str, object]
) -> None:
    job = track(store, "nightly", "job-1", NOW)
    names = {job.watch_id: job.watch}
    assert _claim(store, "me", names, NOW + timedelta(hours=1))
    claims.record(store.writer, "someone-else", [PollWrite(job.id, {"polls": 99})], NOW)
    claims.record(store.writer, "me", [PollWrite(job.id, dict(changes))], NOW)
    after = store.get_job(job.id)
    assert after is not None
    assert after.polls != 99  # not the lease holder: nothing written
    for name, value in changes.items():
        assert getattr(after, name) == value
    assert after.lease_until is None  # given back


def test_claimed_jobs_with_empty_details_do_not_share_them(store: Store) -> None:
    """Empty `details` and `children` are read without a JSON parser; each job
    still gets its own, so changing one job's changes no other's."""
    first = track(store, "nightly", "job-1", NOW)
    second = track(store, "nightly", "job-2", NOW)
    names = {first.watch_id: first.watch}
    claimed = _claim(store, "me", names, NOW + timedelta(hours=1))
    assert [job.details for job in claimed] == [{}, {}]
    assert [job.children for job in claimed] == [[], []]
    claimed[0].details["seen"] = True
    claimed[0].children.append("child")
    assert claimed[1].details == {} and claimed[1].children == []
    assert second.id in {job.id for job in claimed}


@pytest.mark.parametrize("text", ["{}", "[]", '{"a": [1, {}]}', "[{}, []]", '"{}"', "null", " {}"])
def test_json_columns_read_as_json_does(text: str) -> None:
    import json

    from monitor.store.database import load_json_column

    assert load_json_column(text) == json.loads(text)
