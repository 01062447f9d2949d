"""Notifications: what a message says (messages), sending it to one Apprise URL
(delivery), the outbox that queues and retries it, and the demo's terminal
notifier (console)."""
