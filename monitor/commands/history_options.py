"""`loadwatch history`'s filters: `--since`, `--limit`, `--state`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from monitor.config.types import parse_duration
from monitor.domain import State
from monitor.store.history import DELIVERY_STATUSES, HistoryFilter

# `pending` is both; as a filter it means the delivery status (not yet delivered).
STATES = list(
    dict.fromkeys([s.value for s in State if s is not State.UNKNOWN] + list(DELIVERY_STATUSES))
)


def add_history_filters(history: argparse.ArgumentParser) -> None:
    """Add the filter options to the `history` command's parser."""
    history.add_argument(
        "--since",
        type=since,
        metavar="WHEN",
        help="only from then on: a time ago (2h, 7d) or a date/time (2026-11-30T06:00, UTC"
        " unless it says otherwise)",
    )
    history.add_argument("--limit", type=positive, metavar="N", help="only the newest N lines")
    history.add_argument(
        "--state",
        choices=STATES,
        metavar="STATE",
        help="a job state (transitions into it, notifications of it) or a delivery status"
        " (pending, sent, dead, silenced)",
    )


def history_filter(args: argparse.Namespace) -> HistoryFilter:
    return HistoryFilter(
        since=getattr(args, "since", None),
        limit=getattr(args, "limit", None),
        state=getattr(args, "state", None),
    )


def since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration ago, or an ISO date or date/time (UTC when it has no offset)."""
    now = now or datetime.now(UTC)
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is neither a time ago (2h, 7d) nor a date/time (2026-11-30T06:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of 1 or more")
    return number
