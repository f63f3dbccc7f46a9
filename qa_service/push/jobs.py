"""Planning jobs: documents × profiles → outbox rows in the background, never inside an HTTP request.

An ingest notes its documents (durably, `push_documents`) and, with `push_plan_on_ingest`, submits a
job; `POST /api/admin/push/plan` submits one and answers 202 with its id. A job is a row of
`push_jobs` (`qa_service.push.job_store`): `PlanJobs` claims it under a lease and plans document by
document with `planner.plan` (the columnar matcher, bulk `enqueue`), recording progress and counts
after each one. A job names its documents, or none: then it drains every document noted and not
planned yet.

Killed anywhere, a job leaves the last good state: each document's rows and its "planned" mark are
one transaction, so a document is either fully planned or not at all; the job's lease runs out and
the next runner (this process's thread after a restart, another service, or `python -m
qa_service.push plan --once`) resumes it: a draining job re-reads what is still unplanned, a job
with named documents goes on after the last one recorded, and a document planned again adds no row
(the outbox's unique key). Tests run jobs with `run_pending()`, which returns once every job
claimable when it was called has ended, or `wait(job_id)`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from corpus.models import Document
from corpus.push.columnar import ColumnarMatcher
from qa_service.push.gate import ReviewPolicy
from qa_service.push.job_store import PlanJob
from qa_service.push.planner import DocVector, Labeller, pending_documents, plan
from qa_service.push.records import mask_error
from qa_service.push.store import PushStore

logger = logging.getLogger(__name__)

JOB_LEASE_SECONDS = 120.0  # renewed during and after each document; a dead runner's job resumes after it
POLL_SECONDS = 30.0  # the thread also looks for jobs of other processes, or ones whose runner died
GONE = "文件已不在政策库中"


@dataclass(frozen=True)
class Planning:
    """What a job plans with, resolved when it starts (the index and labeller of that moment)."""

    get_document: Callable[[str], Document | None]
    labeller: Labeller
    review: ReviewPolicy | None = None
    matcher: ColumnarMatcher | None = None
    doc_vector: DocVector | None = None


class PlanJobs:
    """Submit, run and watch planning jobs of one store; `start()` runs them in a background thread."""

    def __init__(
        self,
        store: PushStore,
        context: Callable[[], Planning],
        *,
        lease_seconds: float = JOB_LEASE_SECONDS,
        interval: float = POLL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.context = context
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.clock = clock
        self.owner = f"planner-{os.getpid()}-{secrets.token_hex(4)}"
        self._run_lock = threading.Lock()  # one runner per process: run_pending waits for the thread's job
        self._wake = threading.Event()
        self._ended = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- submitting and watching --------------------------------------------------------------------
    def submit(self, doc_ids: list[str] | None = None, source: str = "admin") -> int:
        """Queue a job (durably) and wake the runner; returns its id."""
        job_id = self.store.create_job(source, doc_ids)
        logger.info("push plan job %d queued (%s, %s)", job_id, source,
                    f"{len(doc_ids)} documents" if doc_ids else "every unplanned document")  # fmt: skip
        self._wake.set()
        return job_id

    def get(self, job_id: int) -> PlanJob | None:
        return self.store.get_job(job_id)

    def wait(self, job_id: int, timeout: float = 60.0) -> PlanJob | None:
        """The job once it has ended (done or failed), or as it is after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._ended:
            while True:
                job = self.store.get_job(job_id)
                left = deadline - time.monotonic()
                if job is None or job.status in ("done", "failed") or left <= 0:
                    return job
                self._ended.wait(min(left, 1.0))  # notified when a job of this process ends

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running (a client that only speaks HTTP: `GET /jobs?wait=`); False
        when some still are after `timeout` seconds. Without this process's planner thread nothing would
        end them here, so it does not wait."""
        deadline = time.monotonic() + timeout
        if self._thread is None or not self._thread.is_alive():
            return not self.store.active_jobs()
        with self._ended:
            while self.store.active_jobs():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ended.wait(min(left, 1.0))  # notified when a job of this process ends
        return True

    # -- running --------------------------------------------------------------------------------------
    def run_pending(self, stop: threading.Event | None = None) -> list[PlanJob]:
        """Run every claimable job here, one after the other; returns them as they ended."""
        stop = stop or threading.Event()
        ended: list[PlanJob] = []
        with self._run_lock:
            while not stop.is_set():
                job = self.store.claim_job(self.owner, self.clock(), self.lease_seconds)
                if job is None:
                    break
                ended.append(self._run(job, stop))
                with self._ended:
                    self._ended.notify_all()
        return ended

    def _run(self, job: PlanJob, stop: threading.Event) -> PlanJob:
        t0 = time.perf_counter()
        try:
            ctx = self.context()
        except Exception as exc:  # no labeller: the documents stay noted for a later job
            return self._end(job, "failed", getattr(exc, "message", None) or "推送规划暂不可用，请联系运维人员。")
        try:
            job = self._plan(job, ctx, stop)
        except _LeaseLost:
            logger.warning("push plan job %d: lease lost to another runner, left to it", job.id)
            return self.store.get_job(job.id) or job
        except Exception as exc:  # the database away, say: what was committed stays, the rest stays unplanned
            logger.exception("push plan job %d failed", job.id)
            return self._end(job, "failed", f"规划中断：{mask_error(type(exc).__name__)}；未完成的文件可重新规划。")
        if stop.is_set() and job.progress < job.documents:
            logger.info("push plan job %d stopped at %d/%d documents, queued again", job.id, job.progress,
                        job.documents)  # fmt: skip
            return self._end(job, "queued")
        logger.info("push plan job %d done: %d documents, %d rows in %.2f s", job.id, job.progress, job.enqueued,
                    time.perf_counter() - t0)  # fmt: skip
        return self._end(job, "done")

    def _plan(self, job: PlanJob, ctx: Planning, stop: threading.Event) -> PlanJob:
        if job.doc_ids is None:  # drain: what is still unplanned (a resumed job finds the rest)
            docs, gone = pending_documents(self.store, ctx.get_document)
            work: list[tuple[str, Document | None]] = [(d.id, d) for d in docs]
            job = replace(job, documents=job.progress + len(work), skipped={**job.skipped, **gone})
        else:  # named documents: on after the last one recorded
            work = [(i, ctx.get_document(i)) for i in job.doc_ids[job.progress :]]
            job = replace(job, documents=len(job.doc_ids))
        self._record(job)
        for doc_id, doc in work:
            if stop.is_set():
                break
            if doc is None:
                job = replace(job, skipped={**job.skipped, doc_id: GONE})
            else:
                with self._heartbeat(job):  # a city-wide document at a million profiles outlasts one lease
                    r = plan(self.store, [doc], ctx.labeller, None, ctx.get_document, review=ctx.review,
                             matcher=ctx.matcher, doc_vector=ctx.doc_vector)  # fmt: skip
                job = replace(
                    job, enqueued=job.enqueued + r.enqueued, revised=(*job.revised, *r.revised),
                    skipped={**job.skipped, **r.skipped}, errors={**job.errors, **r.errors}, held=(*job.held, *r.held),
                )  # fmt: skip
            job = replace(job, progress=job.progress + 1)
            self._record(job)
        return job

    @contextlib.contextmanager
    def _heartbeat(self, job: PlanJob) -> Iterator[None]:
        """Renew `job`'s lease every third of it while one document is planned; the lease lost meanwhile
        (this runner stalled past it and another took the job) ends the job here after that document."""
        if self.lease_seconds <= 0:  # a lease of 0 (tests' killed runners) is never renewed
            yield
            return
        done, lost = threading.Event(), threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_seconds / 3):
                if not self.store.job_progress(job, self.owner, self.clock(), self.lease_seconds):
                    lost.set()
                    return

        t = threading.Thread(target=beat, name=f"push-plan-lease-{job.id}", daemon=True)
        t.start()
        try:
            yield
        finally:
            done.set()
            t.join()
        if lost.is_set():
            raise _LeaseLost

    def _record(self, job: PlanJob) -> None:
        if not self.store.job_progress(job, self.owner, self.clock(), self.lease_seconds):
            raise _LeaseLost

    def _end(self, job: PlanJob, status: str, error: str | None = None) -> PlanJob:
        self.store.finish_job(job.id, self.owner, self.clock(), status, error)
        if error:
            logger.warning("push plan job %d failed: %s", job.id, error)
        return self.store.get_job(job.id) or job

    # -- the background thread ---------------------------------------------------------------------
    def start(self) -> Callable[[], None]:
        """Run jobs in a thread of this process as they are submitted; returns how to stop it."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="push-planner", daemon=True)
            self._thread.start()
        return self.stop

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the document in hand; an unfinished job is queued again, with its progress."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_pending(self._stop)
            except Exception:  # the database briefly away: the jobs wait in it
                logger.exception("push planner pass failed")
            self._wake.wait(self.interval)


class _LeaseLost(Exception):
    pass
