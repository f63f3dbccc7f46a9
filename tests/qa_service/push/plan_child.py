"""A planning runner the kill tests start as a subprocess and kill with SIGKILL at a chosen point.

`python -m tests.qa_service.push.plan_child URL WHERE N`: runs the store's planning jobs over the
tiny corpus (`plan_jobs` below, also used in-process by the tests) with three rows per insert batch,
and kills itself, SIGKILL, at the N-th `WHERE`: "label" (labelling a document), "batch" (inside a
document's insert transaction, after a batch) or "record" (after a document committed, before the
job's progress is recorded). Its lease is 0 s, so the next runner resumes at once. Exits 0 when
no job is left.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from corpus.push.columnar import ColumnarMatcher
from qa_service.push import store_outbox
from qa_service.push.jobs import PlanJobs, Planning
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push import tiny


def plan_jobs(store: PushStore, labeller: Callable = tiny.labeller, **options) -> PlanJobs:
    docs = {d.id: d for d in tiny_docs()}
    return PlanJobs(
        store, lambda: Planning(docs.get, labeller, matcher=ColumnarMatcher.build(store.profiles())), **options
    )


def _kill_at(n: int) -> Callable[[], None]:
    count = [0]

    def tick() -> None:
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    return tick


def main(url: str, where: str, n: int) -> None:
    store = PushStore(url=url)
    store_outbox.BATCH = 3
    tick = _kill_at(n)
    labeller = tiny.labeller
    if where == "label":

        def labeller(doc):  # noqa: F811 (the killing twin of tiny.labeller)
            tick()
            return tiny.labeller(doc)

    elif where == "batch":
        insert = store_outbox.OutboxTables._insert_batch

        def batch(self, *args):
            added = insert(self, *args)
            tick()  # mid-document: this batch is written, the transaction not committed
            return added

        store_outbox.OutboxTables._insert_batch = batch
    elif where == "record":
        record = PushStore.job_progress

        def progress(self, job, *args):
            if job.progress > 0:
                tick()  # a document committed, its progress not recorded yet
            return record(self, job, *args)

        PushStore.job_progress = progress
    plan_jobs(store, labeller, lease_seconds=0.0).run_pending()
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
