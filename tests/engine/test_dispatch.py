"""The dispatcher's claims against a real store on a fake clock, no polls
started: what it holds, and how much of a provider's budget that uses."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.clock import FakeClock
from monitor.engine.dispatch import Dispatcher
from monitor.engine.limits import ProviderLimiter
from monitor.engine.wiring import WatchIndex, Wiring
from monitor.store import claims
from monitor.store.records import JobRecord, PollWrite
from tests.notify.helpers import START, track


async def test_a_job_claimed_again_before_its_earlier_record_is_handed_back_counts_once(store):
    """A refused batch is recorded one write at a time, and a job recorded that
    way can be claimed again before the batch is handed back. It must use one
    place of its provider's budget, not two: else each such claim shrinks the
    budget for good, until nothing of that provider is claimed."""
    clock = FakeClock(START)
    # A budget of two jobs: one at a time, plus what 0.5 requests/s start in 2 s.
    limiter = ProviderLimiter("hr", max_rps=0.5, max_concurrency=1, clock=clock)
    first, second = track(store, "a", "j1", START), track(store, "b", "j2", START)
    later = track(store, "c", "j3", START)
    with store.writer.begin() as db:  # the third is due in 100 s
        claims.record_in(db, None, [schedule(later, START + timedelta(seconds=100))], START)
    wiring = Wiring(providers={}, watches={}, notifiers={}, limiters={"hr": limiter})
    names = {job.watch_id: job.watch for job in store.all_jobs()}
    dispatcher = Dispatcher(
        store,
        clock,
        "me",
        lambda: wiring,
        lambda: WatchIndex(names, {}),
        poller=None,  # type: ignore[arg-type]  # claims only: no poll is started
        lease_seconds=30.0,
    )

    await dispatcher._round()
    assert dispatcher.held() == 2
    # Both are recorded, the first due again at once; only the second is handed
    # back before the next claim.
    again, handed_back = schedule(first, START), schedule(second, START + timedelta(seconds=60))
    claims.record(store.writer, "me", [again, handed_back], START)
    dispatcher.released([handed_back])
    await dispatcher._round()  # takes the first again, before its batch is handed back
    dispatcher.released([again])
    assert dispatcher.held() == 0

    clock.advance(200)  # everything is due, and the first's new lease ran out
    await dispatcher._round()
    assert dispatcher.held() == 2  # the whole budget, not one place of it


def schedule(job: JobRecord, when: datetime) -> PollWrite:
    """The write of a poll that changed nothing: next due at `when`."""
    return PollWrite(job.id, {"next_poll_at": when, "due_at": when, "polls": job.polls + 1})
