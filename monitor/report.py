"""What `status` and `history` show: rows as plain dicts (for --json) and as
text tables for people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.providers.sanitize import escape_controls
from monitor.store.conditions import ConditionStore, OpenCondition
from monitor.store.store import Store


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def status_rows(store: Store) -> list[dict[str, Any]]:
    """Every tracked job (SPEC §5 `status --json`)."""
    rows: list[dict[str, Any]] = []
    notifications = store.notification_counts_by_job()
    held = ConditionStore(store.engine).open_by_job()
    for job in store.all_jobs():
        rows.append(
            {
                "watch": job.watch,
                "provider": job.provider,
                "job": job.job_id,
                "state": job.state.value,
                "raw_status": job.raw_status,
                "progress": job.progress,
                "processed": job.processed,
                "errors": job.errors,
                "total": job.total,
                "message": job.message,
                "last_poll": _time(job.last_poll_at),
                "next_poll": _time(job.next_poll_at),
                "polls": job.polls,
                "failed_polls": job.failed_polls,
                "last_failure": job.last_failure,
                "conditions": [_condition(c) for c in held.get(job.id, [])],
                "notifications": notifications.get(job.id) or dict(_NO_NOTIFICATIONS),
            }
        )
    return rows


_NO_NOTIFICATIONS = {"sent": 0, "pending": 0, "dead": 0}


def _condition(condition: OpenCondition) -> dict[str, Any]:
    """An open condition: `{kind, since, reason}`."""
    return {
        "kind": condition.kind.value,
        "since": _time(condition.opened_at),
        "reason": condition.reason,
    }


def notification_summary(rows: list[dict[str, Any]]) -> str:
    """`notifications: 12 sent, 1 pending, 1 dead (see loadwatch history)`."""
    totals = dict(_NO_NOTIFICATIONS)
    for row in rows:
        for status, count in row.get("notifications", {}).items():
            totals[status] = totals.get(status, 0) + count
    text = "notifications: " + ", ".join(f"{count} {status}" for status, count in totals.items())
    return text + (" (see loadwatch history)" if totals["dead"] else "")


def history_rows(store: Store, watch: str | None) -> list[dict[str, Any]]:
    """Transitions and notifications of one watch (or all), oldest first."""
    rows: list[dict[str, Any]] = []
    for t in store.transitions_of(watch):
        rows.append(
            {
                "kind": "transition",
                "at": _time(t["at"]),
                "watch": t["watch"],
                "job": t["job_id"],
                "from": t["from_state"],
                "to": t["to_state"],
                "raw_status": t["raw_status"],
                "progress": t["progress"],
            }
        )
    for n in store.notifications_of(watch):
        rows.append(
            {
                "kind": "notification",
                "at": _time(n.sent_at or n.created_at),
                "watch": n.watch,
                "event": n.event,
                "key": n.dedupe_key,
                "notifier": n.notifier,
                "url": n.url_display,
                "status": n.status,
                "attempts": n.attempts,
                "last_error": n.last_error,
            }
        )
    rows.sort(key=lambda row: row["at"] or "")
    return rows


def status_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no jobs tracked yet"
    header = (
        *("WATCH", "PROVIDER", "JOB", "STATE", "RAW", "PROGRESS", "LAST POLL", "NEXT POLL"),
        "CONDITIONS",
    )
    lines = [
        (
            row["watch"],
            row["provider"],
            row["job"],
            row["state"],
            row["raw_status"] or "-",
            f"{row['progress']:.0%}" if row["progress"] is not None else "-",
            row["last_poll"] or "-",
            row["next_poll"] or "-",
            ",".join(c["kind"] for c in row["conditions"]) or "-",
        )
        for row in rows
    ]
    return _table(header, lines) + "\n\n" + notification_summary(rows)


def history_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no history yet"
    lines = []
    for row in rows:
        if row["kind"] == "transition":
            what = f"{row['from']} -> {row['to']} ({row['raw_status'] or '-'})"
            lines.append((row["at"], row["watch"], row["job"], what))
        else:
            what = f"notify {row['event']} via {row['notifier']} {row['url']}: {row['status']}"
            if row["last_error"]:
                what += f" ({row['last_error']})"
            lines.append((row["at"], row["watch"], row["key"], what))
    return _table(("TIME", "WATCH", "JOB", "WHAT"), lines)


def _table(header: tuple[str, ...], lines: list[tuple[Any, ...]]) -> str:
    # Cells are escaped: a vendor's words must not break the table or steer the terminal.
    cells = [tuple(escape_controls(str(cell)) for cell in line) for line in [header, *lines]]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
