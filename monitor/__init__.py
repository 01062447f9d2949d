"""loadwatch: watches asynchronous import and data-load jobs and notifies when they end."""

__version__ = "0.1.0"
