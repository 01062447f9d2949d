"""The outbox's queries on SQLite and PostgreSQL: queueing once, leases,
grouped claims, guarded marks and the counts status shows."""

from __future__ import annotations

import threading
from datetime import timedelta

from monitor.domain import Event
from monitor.store.store import Store
from tests.notify.helpers import START, notifier, queue, track

LEASE = timedelta(seconds=30)
TEAM = {"team": notifier("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")}


def test_the_same_event_is_queued_once_per_url_however_often_it_is_addressed(store: Store):
    job = track(store, "hr", "j1", START)
    assert queue(store, job, Event.FAILED, TEAM, START) == 2
    assert queue(store, job, Event.FAILED, TEAM, START + timedelta(hours=1)) == 0
    assert store.notification_counts() == {"sent": 0, "pending": 2, "dead": 0}


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    first = store.claim_notifications("a", START, START + LEASE)
    during = store.claim_notifications("b", START + LEASE / 2, START + LEASE)
    after = store.claim_notifications("b", START + LEASE * 1.1, START + LEASE * 3)
    assert len(first) == 2 and during == [] and len(after) == 2


def test_a_lapsed_claim_cannot_undo_a_send_by_the_next_owner(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    ids = [row.id for row in store.claim_notifications("a", START, START + LEASE)]
    later = START + LEASE * 2
    store.claim_notifications("b", later, later + LEASE)
    store.mark_sent(ids, later)
    store.mark_retry(ids, "a", "timeout", later + LEASE)
    store.mark_dead(ids, "a", "gave up")
    assert {row.status for row in store.notifications_of()} == {"sent"}


def test_marks_from_an_owner_that_lost_its_claim_change_nothing(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    ids = [row.id for row in store.claim_notifications("a", START, START + LEASE)]
    store.claim_notifications("b", START + LEASE * 2, START + LEASE * 3)
    store.mark_dead(ids, "a", "gave up")
    assert {(row.status, row.attempts) for row in store.notifications_of()} == {("pending", 0)}


def test_next_due_waits_for_the_lease_on_a_claimed_row(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    assert store.next_notification_due() == START
    store.claim_notifications("a", START, START + LEASE)
    assert store.next_notification_due() == START + LEASE


def test_grouped_rows_wait_out_group_wait_then_leave_together(store: Store):
    grouped = {"team": notifier("json://127.0.0.1:9/a", group_wait=60)}
    for n in range(3):
        job = track(store, "nightly", f"j{n}", START)
        queue(store, job, Event.SUCCEEDED, grouped, START + timedelta(seconds=20 * n))
    windows = {"team": 60.0}
    early = store.claim_notifications(
        "a", START + timedelta(seconds=59), START + LEASE, 50, windows
    )
    due = START + timedelta(seconds=60)
    claimed = store.claim_notifications("a", due, due + LEASE, 50, windows)
    assert early == []
    assert sorted(row.dedupe_key for row in claimed) == [
        f"nightly/j{n}:succeeded" for n in range(3)
    ]


def test_a_group_claim_leaves_rows_beyond_the_window(store: Store):
    grouped = {"team": notifier("json://127.0.0.1:9/a", group_wait=60)}
    queue(store, track(store, "nightly", "j0", START), Event.SUCCEEDED, grouped, START)
    late = START + timedelta(seconds=121)
    queue(store, track(store, "nightly", "j1", late), Event.SUCCEEDED, grouped, late)
    due = START + timedelta(seconds=60)
    claimed = store.claim_notifications("a", due, due + LEASE, 50, {"team": 60.0})
    assert [row.dedupe_key for row in claimed] == ["nightly/j0:succeeded"]


def test_released_claims_are_claimable_at_once(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    ids = [row.id for row in store.claim_notifications("a", START, START + LEASE)]
    store.release_notifications(ids, "a")
    assert len(store.claim_notifications("b", START, START + LEASE)) == 2


def test_counts_by_job_show_every_status(store: Store):
    first = track(store, "hr", "j1", START)
    second = track(store, "hr2", "j2", START)
    queue(store, first, Event.FAILED, TEAM, START)
    rows = store.claim_notifications("a", START, START + LEASE)
    store.mark_sent([rows[0].id], START)
    store.mark_dead([rows[1].id], "a", "gave up")
    queue(store, second, Event.SUCCEEDED, TEAM, START)
    assert store.notification_counts_by_job() == {
        first.id: {"sent": 1, "pending": 0, "dead": 1},
        second.id: {"sent": 0, "pending": 2, "dead": 0},
    }


def test_stored_rows_keep_the_message_context(store: Store):
    queue(store, track(store, "hr", "j1", START), Event.FAILED, TEAM, START)
    row = store.notifications_of()[0]
    assert row.context is not None
    assert (row.context["watch"], row.context["job"], row.context["event"]) == (
        "hr", "j1", "failed",
    )  # fmt: skip


def test_concurrent_claimers_never_share_a_row(store: Store):
    many = {"team": notifier(*(f"json://127.0.0.1:9/{n}" for n in range(40)))}
    for n in range(5):
        queue(store, track(store, "hr", f"j{n}", START), Event.FAILED, many, START)
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        while rows := store.claim_notifications(owner, START, START + LEASE, limit=7):
            with lock:
                claimed.extend(row.id for row in rows)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(claimed) == 200 and len(set(claimed)) == 200
