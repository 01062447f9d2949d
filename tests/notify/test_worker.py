"""The outbox worker on a fake clock, a real store and real json:// receivers:
retries, giving up, grouping, and rows whose URL left the config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from monitor import report
from monitor.clock import Clock, FakeClock
from monitor.config import NotifierSettings
from monitor.domain import Event
from monitor.notify import worker as worker_module
from monitor.notify.worker import PARALLEL_DELIVERIES, OutboxWorker
from monitor.store.store import Store
from monitor.store.tables import notifications
from tests.notify.helpers import START, notifier, queue, track
from tests.receivers import JsonReceiver


def worker(store: Store, clock: FakeClock, notifiers: dict[str, NotifierSettings]) -> OutboxWorker:
    return OutboxWorker(store, clock, lambda: notifiers, owner="test")


async def test_a_failed_delivery_is_retried_with_backoff_and_then_sent_once(store, clock):
    receiver = JsonReceiver(fail_first=2)
    try:
        team = {"team": notifier(receiver.url)}
        queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
        outbox = worker(store, clock, team)
        tried = [await outbox.drain_once()]
        clock.advance(9.9)  # the first retry is due 10s after the failure
        tried.append(await outbox.drain_once())
        clock.advance(0.1)
        tried.append(await outbox.drain_once())
        clock.advance(20)  # then 20s (initial 10s × factor 2)
        tried.append(await outbox.drain_once())
    finally:
        receiver.close()
    assert tried == [1, 0, 1, 1]
    assert receiver.requests == 3 and len(receiver.messages) == 1
    (row,) = store.notifications_of()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)


async def test_a_retry_due_before_its_failed_delivery_has_ended_is_sent_in_time(store, clock):
    """The loop may look for due rows between a failed send's retry mark and
    the end of its task. If the retry is due by then, that round must leave
    the row alone, not lease it for two minutes as still being sent."""
    receiver = JsonReceiver(fail_first=1)
    retry_marked, round_done = asyncio.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    mark_retry, claim = store.mark_retry, store.claim_notifications

    def mark_retry_then_hold(*args):
        mark_retry(*args)
        loop.call_soon_threadsafe(retry_marked.set)
        assert round_done.wait(timeout=10)  # the failed delivery's task ends after that round

    def claim_then_let_go(*args):
        try:
            return claim(*args)
        finally:
            if retry_marked.is_set():
                round_done.set()

    store.mark_retry, store.claim_notifications = mark_retry_then_hold, claim_then_let_go
    try:
        team = {"team": notifier(receiver.url)}
        queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
        outbox = worker(store, clock, team)
        first = asyncio.create_task(outbox.drain_once())
        await asyncio.wait_for(retry_marked.wait(), timeout=10)
        clock.advance(10)  # the retry is due
        meanwhile = await outbox.drain_once()
        tried = [await first, meanwhile, await outbox.drain_once()]
    finally:
        receiver.close()
    assert tried == [1, 0, 1]
    (row,) = store.notifications_of()
    assert (row.status, row.attempts) == ("sent", 2) and len(receiver.messages) == 1


async def test_a_row_retried_thousands_of_times_still_backs_off_and_ends_dead(store, clock):
    """initial × factor^attempts overflows a float long before a day of retries
    every few seconds ends: the delay must stay at `max`, not crash the round."""
    receiver = JsonReceiver(fail_first=1_000)
    try:
        team = {"team": notifier(receiver.url, retry={"initial": 1, "factor": 1000, "max": 5})}
        queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
        with store.writer.begin() as db:
            db.execute(update(notifications).values(attempts=2_000))
        outbox = worker(store, clock, team)
        tried = [await outbox.drain_once()]
        (row,) = store.notifications_of()
        retry_at = store.next_notification_due()
        clock.advance(24 * 3600)  # past notify_retry_for
        tried.append(await outbox.drain_once())
    finally:
        receiver.close()
    assert tried == [1, 1] and receiver.requests == 2
    assert row.status == "pending" and retry_at == START + timedelta(seconds=5)
    (row,) = store.notifications_of()
    assert row.status == "dead" and "gave up after 2002 attempts" in row.last_error


async def fail_until_dead(store: Store, clock: FakeClock, outbox: OutboxWorker) -> None:
    """Try at every retry time until nothing is pending."""
    while store.notification_counts()["pending"]:
        await outbox.drain_once()
        due = store.next_notification_due()
        if due is not None:
            clock.advance((due - clock.now()).total_seconds())


async def test_a_delivery_failing_for_notify_retry_for_is_dead_and_the_log_says_so(
    store, clock, caplog
):
    receiver = JsonReceiver(fail_first=1_000)
    try:
        team = {"team": notifier(receiver.url, notify_retry_for=120)}
        queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
        with caplog.at_level(logging.ERROR, logger="monitor.notify.worker"):
            await fail_until_dead(store, clock, worker(store, clock, team))
    finally:
        receiver.close()
    (row,) = store.notifications_of()
    # Tried at 0s, 10s, 30s and 70s; the next try (70s + 60s) would be past 120s.
    assert row.status == "dead" and row.attempts == receiver.requests == 4
    assert clock.now() - START == timedelta(seconds=70)
    assert "gave up after 4 attempts in 2m 00s (notify_retry_for)" in row.last_error
    assert "hr/j1:failed to json://127.0.0.1:" in caplog.text and "is dead" in caplog.text


async def test_a_dead_notification_shows_in_history_and_in_status_counts(store, clock):
    receiver = JsonReceiver(fail_first=1_000)
    try:
        team = {"team": notifier(receiver.url, notify_retry_for=60)}
        queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
        await fail_until_dead(store, clock, worker(store, clock, team))
    finally:
        receiver.close()
    (shown,) = [row for row in report.history_rows(store, "hr") if row["kind"] == "notification"]
    assert shown["status"] == "dead" and "notify_retry_for" in shown["last_error"]
    (status,) = report.status_rows(store)
    assert status["notifications"] == {"sent": 0, "pending": 0, "dead": 1}
    assert report.status_table([status]).endswith(
        "notifications: 0 sent, 0 pending, 1 dead (see loadwatch history)"
    )


async def test_a_row_whose_url_left_the_config_waits_and_goes_if_the_url_returns(
    store, clock, json_receiver
):
    before = {"team": notifier(json_receiver.url)}
    queue(store, track(store, "hr", "j1", START), Event.FAILED, before, START)
    notifiers = {"team": notifier("json://127.0.0.1:9/elsewhere")}
    outbox = OutboxWorker(store, clock, lambda: notifiers, owner="test")
    await outbox.drain_once()
    (row,) = store.notifications_of()
    assert row.status == "pending" and "no longer in notifier 'team'" in row.last_error

    notifiers = before  # a reload puts the URL back
    clock.advance(10)
    await outbox.drain_once()
    assert store.notifications_of()[0].status == "sent"
    assert len(json_receiver.messages) == 1


async def test_a_row_whose_notifier_left_the_config_is_dead_after_notify_retry_for(store, clock):
    team = {"team": notifier("json://127.0.0.1:9/gone")}
    queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
    await fail_until_dead(store, clock, worker(store, clock, {}))
    (row,) = store.notifications_of()
    assert row.status == "dead" and "no longer in notifier 'team'" in row.last_error
    retry_for = NotifierSettings.model_fields["notify_retry_for"].default
    assert timedelta(seconds=retry_for) - timedelta(minutes=30) < clock.now() - START


async def test_the_idempotency_key_travels_as_a_header(store, clock, json_receiver):
    team = {"team": notifier(json_receiver.url)}
    queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
    await worker(store, clock, team).drain_once()
    assert json_receiver.headers[0]["Idempotency-Key"] == "hr/j1:failed"
    assert json_receiver.messages[0]["message"].endswith("key: hr/j1:failed")


async def test_events_within_group_wait_go_as_one_message_per_url(store, clock):
    first, second = JsonReceiver(), JsonReceiver()
    try:
        team = {"team": notifier(first.url, second.url, group_wait=30)}
        events = [Event.SUCCEEDED, Event.SUCCEEDED, Event.FAILED]
        for n, event in enumerate(events):
            queue(store, track(store, "nightly", f"j{n}", START), event, team, START)
            clock.advance(5)
        outbox = worker(store, clock, team)
        early = await outbox.drain_once()
        clock.advance(30)
        grouped = await outbox.drain_once()
    finally:
        first.close()
        second.close()
    assert (early, grouped) == (0, 6)
    for receiver in (first, second):
        (message,) = receiver.messages
        assert message["title"] == "nightly: 2 succeeded, 1 failed"
        assert message["type"] == "failure"
        assert message["message"].splitlines()[0].startswith("nightly/j2:failed")
    assert store.notification_counts() == {"sent": 6, "pending": 0, "dead": 0}


async def test_a_grouped_message_that_fails_is_retried_whole_and_sent_once(store, clock):
    receiver = JsonReceiver(fail_first=1)
    try:
        team = {"team": notifier(receiver.url, group_wait=10)}
        for n in range(3):
            queue(store, track(store, "nightly", f"j{n}", START), Event.SUCCEEDED, team, START)
        outbox = worker(store, clock, team)
        clock.advance(10)
        await outbox.drain_once()
        clock.advance(10)
        await outbox.drain_once()
    finally:
        receiver.close()
    assert receiver.requests == 2 and len(receiver.messages) == 1
    assert receiver.messages[0]["title"] == "nightly: 3 succeeded"
    assert {(row.status, row.attempts) for row in store.notifications_of()} == {("sent", 2)}


async def test_a_group_of_one_reads_like_a_single_message(store, clock, json_receiver):
    team = {"team": notifier(json_receiver.url, group_wait=10)}
    queue(store, track(store, "hr", "j1", START), Event.FAILED, team, START)
    clock.advance(10)
    await worker(store, clock, team).drain_once()
    assert json_receiver.messages[0]["title"] == "hr failed"


async def test_grouped_messages_use_the_notifiers_templates(store, clock, json_receiver):
    title = "{% if jobs %}{{ jobs | length }} loads: {{ summary }}{% else %}{{ watch }}{% endif %}"
    team = {"team": notifier(json_receiver.url, group_wait=10, title=title)}
    for n in range(2):
        queue(store, track(store, "nightly", f"j{n}", START), Event.SUCCEEDED, team, START)
    clock.advance(10)
    await worker(store, clock, team).drain_once()
    assert json_receiver.messages[0]["title"] == "2 loads: 2 succeeded"


# The running worker (`run`), on the real clock. Its idle look-again is made a
# minute long, longer than any wait below, so each test fails if what it checks
# is left to that look instead of done when it should be.


@pytest.fixture
def long_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "_IDLE_CHECK_SECONDS", 60.0)


@contextlib.asynccontextmanager
async def running(outbox: OutboxWorker) -> AsyncIterator[None]:
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)


async def test_the_running_worker_takes_one_claim_round_per_message(store, long_idle):
    """The round that claims a row also learns when the next one falls due (one
    thread hop); a message sent leaves nothing to look for, and a queued one
    wakes the worker. Before, each message cost three claims and two looks."""
    clock, receiver, loop = Clock(), JsonReceiver(), asyncio.get_running_loop()
    calls: Counter[str] = Counter()
    for name in ("claim_notifications", "next_notification_due"):
        original = getattr(store, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls[_name] += 1
            return _original(*args)

        setattr(store, name, counted)
    sent = asyncio.Event()
    mark_sent = store.mark_sent

    def mark_then_tell(*args: Any) -> None:
        mark_sent(*args)
        loop.call_soon_threadsafe(sent.set)

    store.mark_sent = mark_then_tell
    team = {"team": notifier(receiver.url)}
    queue(store, track(store, "hr", "j1", clock.now()), Event.SUCCEEDED, team, clock.now())
    outbox = worker(store, clock, team)
    try:
        async with running(outbox):
            await asyncio.wait_for(sent.wait(), 20)
            sent.clear()
            queue(store, track(store, "hr2", "j2", clock.now()), Event.FAILED, team, clock.now())
            outbox.wake()  # as the recorder does after committing a queued row
            await asyncio.wait_for(sent.wait(), 20)
            seen = dict(calls)
    finally:
        receiver.close()
    assert seen == {"claim_notifications": 2, "next_notification_due": 2}
    assert [m["type"] for m in receiver.messages] == ["success", "failure"]


async def test_the_running_worker_sends_a_burst_larger_than_it_sends_at_once(store, long_idle):
    """A claim that fills the worker's room looks again as soon as there is
    room: every row goes, none waits for the idle look."""
    clock, receiver = Clock(), JsonReceiver()
    team = {"team": notifier(receiver.url)}
    count = 2 * PARALLEL_DELIVERIES + 3
    for n in range(count):
        job = track(store, f"w{n}", f"j{n}", clock.now())
        queue(store, job, Event.SUCCEEDED, team, clock.now())
    try:
        async with running(worker(store, clock, team)):
            arrived = await asyncio.to_thread(receiver.wait_for, count, 20.0)
    finally:
        receiver.close()
    assert len(arrived) == count == receiver.requests
    assert store.notification_counts()["sent"] == count


async def test_the_running_worker_retries_when_the_retry_falls_due(store, long_idle):
    """A failed send marks its retry while its row is still held by that
    delivery; the worker looks again once the delivery has ended, so the retry
    goes at its time, not at the next idle look."""
    clock, receiver = Clock(), JsonReceiver(fail_first=1)
    team = {"team": notifier(receiver.url, retry={"initial": 0.2, "factor": 1, "max": 0.2})}
    queue(store, track(store, "hr", "j1", clock.now()), Event.FAILED, team, clock.now())
    try:
        async with running(worker(store, clock, team)):
            await asyncio.to_thread(receiver.wait_for, 1, 20.0)
    finally:
        receiver.close()
    assert receiver.requests == 2 and len(receiver.messages) == 1
    (row,) = store.notifications_of()
    assert (row.status, row.attempts) == ("sent", 2)
