"""Initial schema: watches, jobs, transitions, conditions, notifications.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("job", sa.String(500)),
        sa.Column("discover", sa.JSON),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("settings", sa.JSON),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("removed_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_watches"),
        sa.UniqueConstraint("name", name="uq_watches_name"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("watch_id", sa.Integer, nullable=False),
        sa.Column("job_id", sa.String(500), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raw_status", sa.String(500)),
        sa.Column("progress", sa.Float),
        sa.Column("processed", sa.Integer),
        sa.Column("errors", sa.Integer),
        sa.Column("total", sa.Integer),
        sa.Column("message", sa.Text),
        sa.Column("children", sa.JSON),
        sa.Column("details", sa.JSON),
        sa.Column("started_at", UTC_TIME),
        sa.Column("finished_at", UTC_TIME),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("state_changed_at", UTC_TIME),
        sa.Column("progress_changed_at", UTC_TIME),
        sa.Column("terminal_at", UTC_TIME),
        sa.Column("last_poll_at", UTC_TIME),
        sa.Column("next_poll_at", UTC_TIME),
        sa.Column("polls", sa.Integer, nullable=False),
        sa.Column("failed_polls", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_failure", sa.Text),
        sa.Column("backoff_step", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", UTC_TIME),
        sa.Column("retired_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["watch_id"], ["watches.id"], name="fk_jobs_watch_id_watches", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("watch_id", "job_id", name="uq_jobs_watch_id_job_id"),
    )
    op.create_index("ix_jobs_next_poll_at", "jobs", ["next_poll_at"])
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_pk", sa.Integer, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("raw_status", sa.String(500)),
        sa.Column("progress", sa.Float),
        sa.Column("message", sa.Text),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transitions"),
        sa.ForeignKeyConstraint(
            ["job_pk"], ["jobs.id"], name="fk_transitions_job_pk_jobs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_transitions_job_pk", "transitions", ["job_pk"])
    op.create_table(
        "conditions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_pk", sa.Integer),
        sa.Column("provider", sa.String(200)),
        sa.Column("parent_id", sa.Integer),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("opened_at", UTC_TIME, nullable=False),
        sa.Column("last_notified_at", UTC_TIME),
        sa.Column("reminders", sa.Integer, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("cleared_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_conditions"),
        sa.ForeignKeyConstraint(
            ["job_pk"], ["jobs.id"], name="fk_conditions_job_pk_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["conditions.id"],
            name="fk_conditions_parent_id_conditions",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_conditions_job_pk", "conditions", ["job_pk"])
    op.create_index("ix_conditions_provider", "conditions", ["provider"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_pk", sa.Integer),
        sa.Column("watch", sa.String(200), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("notifier", sa.String(200), nullable=False),
        sa.Column("url_key", sa.String(32), nullable=False),
        sa.Column("url_display", sa.String(500), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("notify_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", UTC_TIME),
        sa.Column("sent_at", UTC_TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("context", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["job_pk"], ["jobs.id"], name="fk_notifications_job_pk_jobs", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("dedupe_key", "url_key", name="uq_notifications_dedupe_key_url_key"),
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("conditions")
    op.drop_table("transitions")
    op.drop_table("jobs")
    op.drop_table("watches")
