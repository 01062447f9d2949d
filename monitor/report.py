"""What `status` and `history` show: rows as plain dicts (for --json) and as
text tables for people."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from monitor.providers.sanitize import escape_controls
from monitor.store import history
from monitor.store.conditions import ConditionStore, OpenCondition
from monitor.store.expectations import missing_watches
from monitor.store.history import HistoryFilter
from monitor.store.pausing import paused_watches
from monitor.store.store import Store


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def current_watches(store: Store, config_watches: set[str] | None = None) -> set[str]:
    """The watches being polled: active in the database, and for a config
    watch, still in the config file when `config_watches` names those (a
    removal the daemon has not reloaded yet counts as done)."""
    return {
        watch.name
        for watch in store.active_watches()
        if config_watches is None or watch.source != "config" or watch.name in config_watches
    }


def status_rows(store: Store, current: set[str] | None = None) -> list[dict[str, Any]]:
    """Every tracked job (SPEC §5 `status --json`). A job is `retired` when
    its watch is gone (removed from the config, `unwatch`ed) or no longer
    names it; `current` is the set of `current_watches`, read if not given."""
    rows: list[dict[str, Any]] = []
    notifications = store.notification_counts_by_job()
    held = ConditionStore(store.engine).open_by_job()
    current = current_watches(store) if current is None else current
    paused = paused_watches(store.engine)
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
                # The instance polling it right now, and the one that polled it last.
                "held_by": (
                    {"instance": job.lease_owner, "until": _time(job.lease_until)}
                    if job.lease_owner and job.lease_until is not None
                    else None
                ),
                "polled_by": job.lease_owner,
                "retired": job.watch not in current or job.retired_at is not None,
                "paused": job.watch in paused,
                "paused_at": _time(paused.get(job.watch)),
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


def missing_runs_text(store: Store) -> str:
    """A line per discovery watch whose expected run is missing (`expect:`);
    "" when none is. They have no job to show in the table above."""
    missing = missing_watches(store.engine)
    if not missing:
        return ""
    names = {watch.id: watch.name for watch in store.active_watches()}
    lines = [
        f"missing: {names[watch_id]} (no new job by {_time(since)})"
        for watch_id, since in sorted(missing.items(), key=lambda item: item[1])
        if watch_id in names
    ]
    return "".join(line + "\n" for line in lines)


def notification_summary(rows: list[dict[str, Any]]) -> str:
    """`notifications: 12 sent, 1 pending, 1 dead (see loadwatch history)`."""
    totals = dict(_NO_NOTIFICATIONS)
    for row in rows:
        for status, count in row.get("notifications", {}).items():
            totals[status] = totals.get(status, 0) + count
    text = "notifications: " + ", ".join(f"{count} {status}" for status, count in totals.items())
    return text + (" (see loadwatch history)" if totals["dead"] else "")


def history_rows(
    store: Store, watch: str | None, wanted: HistoryFilter | None = None
) -> list[dict[str, Any]]:
    """Transitions and notifications of one watch (or all), oldest first;
    with `wanted`, only those it asks for (the newest `limit` of them)."""
    wanted = replace(wanted or HistoryFilter(), watch=watch)
    rows: list[dict[str, Any]] = []
    job_ids = {job.id: job.job_id for job in store.all_jobs(watch)}
    for t in history.transitions_of(store.engine, wanted):
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
    for n in history.notifications_of(store.engine, wanted):
        rows.append(
            {
                "kind": "notification",
                "at": _time(n.sent_at or n.created_at),
                "watch": n.watch,
                "job": job_ids.get(n.job_pk) if n.job_pk is not None else None,
                "event": n.event,
                "key": n.dedupe_key,
                "notifier": n.notifier,
                "url": n.url_display,
                "status": n.status,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "silence": n.silence_note,
            }
        )
    rows.sort(key=lambda row: row["at"] or "")
    return rows[-wanted.limit :] if wanted.limit else rows


def status_table(rows: list[dict[str, Any]], hidden: int = 0) -> str:
    """`rows` as a table; `hidden` retired jobs were left out (`status --all`)."""
    if not rows:
        return "no jobs tracked yet" + _hidden_note(hidden)
    header: tuple[str, ...] = (
        *("WATCH", "PROVIDER", "JOB", "STATE", "RAW", "PROGRESS", "LAST POLL", "NEXT POLL"),
        "CONDITIONS",
    )
    lines: list[tuple[Any, ...]] = [
        (
            row["watch"],
            row["provider"],
            row["job"],
            row["state"] + (" (paused)" if row.get("paused") else ""),
            row["raw_status"] or "-",
            f"{row['progress']:.0%}" if row["progress"] is not None else "-",
            row["last_poll"] or "-",
            "retired" if row.get("retired") else row["next_poll"] or "-",
            ",".join(c["kind"] for c in row["conditions"]) or "-",
        )
        for row in rows
    ]
    instances = [row.get("polled_by") for row in rows]
    if len(set(instances) - {None}) > 1:  # several daemons share the database
        header = (*header, "INSTANCE")
        lines = [(*line, name or "-") for line, name in zip(lines, instances, strict=True)]
    return _table(header, lines) + "\n\n" + notification_summary(rows) + _hidden_note(hidden)


def _hidden_note(hidden: int) -> str:
    if not hidden:
        return ""
    jobs = "job" if hidden == 1 else "jobs"
    return f"\n{hidden} {jobs} of retired watches not shown (`loadwatch status --all` lists them)"


def history_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no history yet"
    lines = []
    for row in rows:
        if row["kind"] == "transition":
            change = f"{row['from']} -> {row['to']}"
            raw = f"provider said {row['raw_status']}" if row["raw_status"] else ""
            lines.append((row["at"], row["watch"], row["job"], change, raw))
        else:
            tries = f", {row['attempts']} tries" if row["attempts"] > 1 else ""
            detail = f"to {row['notifier']} {row['url']}: {row['status']}{tries}"
            if row["last_error"]:
                detail += f" ({row['last_error']})"
            if row.get("silence"):
                detail += f" [{row['silence']}]"
            what = f"notify {row['event']}"
            lines.append((row["at"], row["watch"], row["job"] or "-", what, detail))
    return _table(("TIME", "WATCH", "JOB", "WHAT", "DETAIL"), lines)


def _table(header: tuple[str, ...], lines: list[tuple[Any, ...]]) -> str:
    # Cells are escaped: a vendor's words must not break the table or steer the terminal.
    cells = [tuple(escape_controls(str(cell)) for cell in line) for line in [header, *lines]]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
