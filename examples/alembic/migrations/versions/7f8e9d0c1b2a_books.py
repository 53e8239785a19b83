"""books

Revision ID: 7f8e9d0c1b2a
Revises: 1a2b3c4d5e6f
Create Date: 2024-03-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7f8e9d0c1b2a"
down_revision = "1a2b3c4d5e6f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "book",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("author.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
    )
    op.create_index("ix_book_author_id", "book", ["author_id"])


def downgrade():
    op.drop_table("book")
