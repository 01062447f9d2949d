"""Notifications: events become outbox rows (outbox), worded by default or by
the notifier's sandboxed templates (messages, templates, formatting) or as
JSON (json_format), in the notifier's format (rendering), claimed
and sent one URL at a time (worker, grouping, delivery), tried by hand
(test: `notify-test`), and printed by the demo's terminal notifier (console).
halt holds test-only crash hooks."""
