"""Claims and leases for polling from several instances: jobs.next_check_at
and jobs.due_at, instances, provider_pauses, leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("next_check_at", UTC_TIME))
        batch.add_column(sa.Column("due_at", UTC_TIME))
        batch.create_index("ix_jobs_due_at", ["due_at"])
        # Claims read due_at; an index on next_poll_at only slowed every poll's write.
        batch.drop_index("ix_jobs_next_poll_at")
    # Jobs tracked before this revision have their conditions judged at their next poll.
    op.execute(
        "UPDATE jobs SET next_check_at = next_poll_at, due_at = next_poll_at"
        " WHERE next_poll_at IS NOT NULL"
    )
    op.create_table(
        "instances",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("heartbeat_at", UTC_TIME, nullable=False),
        sa.Column("watches", sa.JSON),
        sa.PrimaryKeyConstraint("name", name="pk_instances"),
    )
    op.create_table(
        "provider_pauses",
        sa.Column("provider", sa.String(200), primary_key=True),
        sa.Column("paused_until", UTC_TIME, nullable=False),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("provider", name="pk_provider_pauses"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("until", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("provider_pauses")
    op.drop_table("instances")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_due_at")
        batch.create_index("ix_jobs_next_poll_at", ["next_poll_at"])
        batch.drop_column("due_at")
        batch.drop_column("next_check_at")
