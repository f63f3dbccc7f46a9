"""Storage for precise push: subscriber profiles, the documents to plan, the outbox, the in-app inbox,
the review step's decisions and the planning jobs.

SQLAlchemy 2 Core over SQLite (default: its own file beside `qa.sqlite3`, mode 0600, WAL) or
PostgreSQL (`QA_PUSH_DATABASE_URL`); the tables come from the Alembic migrations run at open
(`qa_service.push.db`). The store holds personal data (contact details, self-descriptions) that
the Q&A data does not, so it can be backed up, erased or locked down on its own.

Every write is one transaction, so a process killed at any point leaves each row either fully
written or not at all. The outbox key (profile, document, version, channel) is UNIQUE, which
makes planning idempotent; the claim lease and the per-row "sent" commit make delivery resumable
(see `qa_service.push.delivery`). `PushStore` is one class made of one mixin per set of tables:

- `store_base.StoreBase`: engine, transactions, reads;
- `store_profiles.ProfileTables`: profiles, contact details, description vectors;
- `store_outbox.OutboxTables`: documents to plan, planning's bulk inserts, operators' counts, requeue;
- `store_claims.ClaimTables`: delivery's claims, digests, deferral, sent marks and failures;
- `store_inbox.InboxTables`: the in-app inbox and read receipts;
- `review_store.ReviewTables`: the review step (先审后发); `job_store.JobTables`: planning jobs.

Row dataclasses: `qa_service.push.records`.
"""

from __future__ import annotations

from qa_service.push.job_store import JobTables
from qa_service.push.store_base import Row
from qa_service.push.store_claims import ClaimTables
from qa_service.push.store_inbox import InboxTables
from qa_service.push.store_outbox import BATCH, OutboxTables
from qa_service.push.store_profiles import ProfileTables

__all__ = ["BATCH", "PushStore", "Row"]


class PushStore(ProfileTables, OutboxTables, ClaimTables, InboxTables, JobTables):
    """The push database (see the module docstring); `PushStore(path)` or `PushStore(url=...)`."""
