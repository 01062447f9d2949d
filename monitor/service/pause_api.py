"""POST /api/watches/pause and /api/watches/resume, body `{"name": "hr-nightly"}`:
the HTTP side of `loadwatch pause` / `resume` (store/pausing.py). Answers
200 with `{"name", "paused", "changed"}`, 404 for no such watch."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from monitor.clock import Clock
from monitor.store.pausing import NoSuchWatch, pause_watch, resume_watch


def set_paused(engine: Engine, payload: dict[str, Any], paused: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer). ValueError when the body does not name a watch."""
    name = payload.get("name")
    if set(payload) != {"name"} or not isinstance(name, str) or not name.strip():
        raise ValueError('the body must be {"name": "<watch name>"}')
    change = pause_watch if paused else resume_watch
    try:
        changed = change(engine, name.strip(), Clock().now())
    except NoSuchWatch:
        return 404, {"error": f"no watch named '{name.strip()}'"}
    return 200, {"name": name.strip(), "paused": paused, "changed": changed}
