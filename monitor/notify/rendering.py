"""A message in the notifier's chosen `format`: the wording of messages.py, or
with `format: json` a JSON document as the body (json_format.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.notify.json_format import json_body
from monitor.notify.messages import MessageContext, RenderedMessage, render

if TYPE_CHECKING:
    from monitor.config import NotifierSettings


def render_for(context: MessageContext, notifier: NotifierSettings) -> RenderedMessage:
    """The message as `notifier` wants it: its templates, or a JSON body."""
    if notifier.format != "json":
        return render(context, notifier.title, notifier.body)
    plain = render(context, notifier.title)
    return RenderedMessage(plain.title, json_body(context), plain.notify_type)
