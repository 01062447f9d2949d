"""Operations: silences, paused watches, held and silenced notifications, an
index for pruning old jobs, and expected runs of discovery watches (issue 14).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("watch", sa.String(200)),
        sa.Column("provider", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("ends_at", UTC_TIME, nullable=False),
        sa.Column("removed_at", UTC_TIME),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.add_column("watches", sa.Column("paused_at", UTC_TIME))
    op.add_column("notifications", sa.Column("silence_note", sa.Text))
    op.create_index("ix_jobs_terminal_at", "jobs", ["terminal_at"])
    op.create_index("ix_notifications_job_pk", "notifications", ["job_pk"])
    op.create_table(
        "expectations",
        sa.Column("watch_id", sa.Integer, primary_key=True),
        sa.Column("spec", sa.String(300), nullable=False),
        sa.Column("next_due_at", UTC_TIME, nullable=False),
        sa.Column("counted_after", UTC_TIME, nullable=False),
        sa.Column("missing_since", UTC_TIME),
        sa.Column("last_notified_at", UTC_TIME),
        sa.Column("reminders", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("watch_id", name="pk_expectations"),
        sa.ForeignKeyConstraint(
            ["watch_id"],
            ["watches.id"],
            name="fk_expectations_watch_id_watches",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("expectations")
    op.drop_index("ix_notifications_job_pk", table_name="notifications")
    op.drop_index("ix_jobs_terminal_at", table_name="jobs")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("silence_note")
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("paused_at")
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
