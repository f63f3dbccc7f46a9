"""Planning jobs (`qa_service.push.jobs`), on SQLite and on PostgreSQL: a job plans what a direct plan
would, records its state and counts, and a job interrupted anywhere (between documents, inside a
document's insert batches, after a commit before its progress is recorded; in-process or a runner
killed with SIGKILL) resumes to the same outbox, each row once.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from qa_service.push import store_outbox
from qa_service.push.jobs import PlanJobs, Planning
from qa_service.push.planner import document_version, plan
from qa_service.push.records import Contact
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push import tiny
from tests.qa_service.push.plan_child import plan_jobs

REPO = Path(__file__).resolve().parents[3]
COPIES = 5  # 35 profiles, 30 rows: emp alone takes 7 insert batches of 3
DOC_IDS = ["emp", "edu", "new", "old", "tax"]


class Killed(BaseException):
    """A process dying here: not an Exception, so nothing on the way catches it; transactions roll back."""


def people_store(url: str) -> PushStore:
    store = PushStore(url=url)
    for c in range(COPIES):
        for p in tiny.PEOPLE:
            store.create_profile(p.__class__(**{**p.__dict__, "profile_id": f"{p.profile_id}-{c}"}), Contact())
    return store


@pytest.fixture
def reference(tmp_path) -> set[str]:
    """The outbox keys a plain, uninterrupted plan writes."""
    ref = people_store(f"sqlite:///{tmp_path / 'reference.sqlite3'}")
    assert plan(ref, tiny_docs(), tiny.labeller).enqueued == 6 * COPIES
    keys = tiny.all_keys(ref)
    ref.close()
    return keys


@pytest.fixture
def store(db_url):
    s = people_store(db_url)
    yield s
    s.close()


def assert_once(store: PushStore, reference: set[str]) -> None:
    rows = store.outbox_rows()
    assert len(rows) == len(reference) and {r["key"] for r in rows} == reference
    assert store.unplanned_documents() == []


def test_a_job_plans_what_a_direct_plan_does_and_records_its_counts(store, reference):
    jobs = plan_jobs(store)
    job_id = jobs.submit(DOC_IDS)
    assert store.get_job(job_id).status == "queued" and store.active_jobs() == 1
    assert tiny.all_keys(store) == set()  # nothing planned by submitting
    [job] = jobs.run_pending()
    assert (job.id, job.status, job.documents, job.progress, job.enqueued) == (job_id, "done", 5, 5, 6 * COPIES)
    assert set(job.skipped) == {"old", "tax"} and job.errors == {} and job.runs == 1 and job.finished is not None
    assert_once(store, reference)
    assert jobs.run_pending() == [] and store.active_jobs() == 0


def test_a_draining_job_plans_every_noted_document_and_reports_the_missing(store, reference):
    docs = tiny_docs()
    store.note_documents([(d.id, document_version(d), False) for d in docs] + [("gone", "v0", False)])
    jobs = plan_jobs(store)
    [job] = [jobs.get(jobs.submit(None, "ingest"))]
    assert job.doc_ids is None and job.source == "ingest"
    [done] = jobs.run_pending()
    assert done.documents == 5 and done.enqueued == 6 * COPIES and done.skipped["gone"] == "文件已不在政策库中"
    assert_once(store, reference)


@pytest.mark.parametrize("named", [True, False], ids=["named", "draining"])
def test_interrupted_between_documents_a_rerun_plans_the_rest_once(store, reference, named):
    seen: list[str] = []

    def dies_on_the_third(doc):
        seen.append(doc.id)
        if len(seen) == 3:
            raise Killed
        return tiny.labeller(doc)

    now = [1000.0]
    docs = tiny_docs()
    if not named:
        store.note_documents((d.id, document_version(d), False) for d in docs)
    job_id = plan_jobs(store).submit(DOC_IDS if named else None)
    first = plan_jobs(store, dies_on_the_third, clock=lambda: now[0])
    with pytest.raises(Killed):
        first.run_pending()
    job = store.get_job(job_id)
    assert job.status == "running" and 0 < job.progress < 5 and 0 < len(tiny.all_keys(store)) < len(reference)
    # Another runner: the dead one's lease holds it off, then the job is claimable again.
    second = plan_jobs(store, clock=lambda: now[0])
    assert second.run_pending() == []
    now[0] += first.lease_seconds + 1
    [resumed] = second.run_pending()
    assert resumed.status == "done" and resumed.runs == 2 and resumed.enqueued == len(reference)
    assert_once(store, reference)


def test_killed_mid_batch_the_document_is_all_or_nothing_and_a_rerun_completes(store, reference, monkeypatch):
    monkeypatch.setattr(store_outbox, "BATCH", 3)
    insert = store_outbox.OutboxTables._insert_batch
    calls = [0]

    def dies_after_two_batches(self, *args):
        added = insert(self, *args)
        calls[0] += 1
        if calls[0] == 2:
            raise Killed  # two batches of emp written inside its transaction
        return added

    monkeypatch.setattr(store_outbox.OutboxTables, "_insert_batch", dies_after_two_batches)
    now = [1000.0]
    job_id = plan_jobs(store).submit(DOC_IDS)
    with pytest.raises(Killed):
        plan_jobs(store, clock=lambda: now[0]).run_pending()
    assert tiny.all_keys(store) == set() and not store.is_planned("emp", document_version(tiny_docs()[0]))
    monkeypatch.setattr(store_outbox.OutboxTables, "_insert_batch", insert)
    now[0] += 1000
    [job] = plan_jobs(store, clock=lambda: now[0]).run_pending()
    assert job.id == job_id and job.status == "done"
    assert_once(store, reference)


def test_killed_after_a_commit_before_its_progress_the_document_is_planned_again_adding_nothing(
    store, reference, monkeypatch
):
    record = PushStore.job_progress
    calls = [0]

    def dies_on_the_second_record(self, job, *args):
        if job.progress == 2:
            calls[0] += 1
            raise Killed
        return record(self, job, *args)

    monkeypatch.setattr(PushStore, "job_progress", dies_on_the_second_record)
    now = [1000.0]
    plan_jobs(store).submit(DOC_IDS)
    with pytest.raises(Killed):
        plan_jobs(store, clock=lambda: now[0]).run_pending()
    monkeypatch.setattr(PushStore, "job_progress", record)
    written = tiny.all_keys(store)
    assert written and calls == [1]
    now[0] += 1000
    [job] = plan_jobs(store, clock=lambda: now[0]).run_pending()
    assert job.status == "done" and job.progress == 5
    assert_once(store, reference)


def test_runners_killed_with_sigkill_at_random_points_leave_the_reference_outbox(store, reference, db_url):
    rng = random.Random(11)
    for named in (True, False):
        store.engine.dispose()
        with store._tx() as db:  # start over: same profiles, empty outbox and planning state
            for table in ("outbox", "push_documents", "push_jobs"):
                db.execute(text(f"DELETE FROM {table}"))
        if not named:
            store.note_documents((d.id, document_version(d), False) for d in tiny_docs())
        job_id = store.create_job("cli", DOC_IDS if named else None)
        kills, rc = 0, None
        for _ in range(12):
            where = rng.choice(["label", "batch", "record"])
            n = rng.randint(1, 4)
            run = subprocess.run(
                [sys.executable, "-m", "tests.qa_service.push.plan_child", db_url, where, str(n)],
                cwd=REPO, capture_output=True, timeout=120,
            )  # fmt: skip
            rc = run.returncode
            assert rc in (0, -9), run.stderr.decode()[-2000:]
            kills += rc == -9
            if rc == 0 and store.get_job(job_id).status == "done":
                break
        job = store.get_job(job_id)
        assert job.status == "done" and kills >= 1 and job.runs == kills + 1, (job, kills)
        assert_once(store, reference)


def test_a_job_without_a_labeller_fails_in_chinese_and_leaves_the_documents_noted(store):
    def unavailable() -> Planning:
        raise ImportError("no labeller")

    docs = tiny_docs()
    store.note_documents((d.id, document_version(d), False) for d in docs)
    jobs = PlanJobs(store, unavailable)
    [job] = [jobs.get(jobs.submit())]
    [failed] = jobs.run_pending()
    assert failed.id == job.id and failed.status == "failed" and "推送规划暂不可用" in failed.error
    assert len(store.unplanned_documents()) == len(docs) and tiny.all_keys(store) == set()


def test_the_thread_runs_submitted_jobs_and_a_stop_mid_job_queues_it_again(store, reference):
    entered, release = threading.Event(), threading.Event()

    def slow(doc):
        if doc.id == "edu":
            entered.set()
            assert release.wait(30)
        return tiny.labeller(doc)

    jobs = plan_jobs(store, slow)
    stop = jobs.start()
    job_id = jobs.submit(DOC_IDS)
    assert entered.wait(30)  # the thread took the job and is inside its second document
    stopping = threading.Thread(target=stop)
    stopping.start()
    release.set()
    stopping.join(30)
    job = store.get_job(job_id)
    assert job.status == "queued" and job.progress == 2 and job.finished is None  # handed back, progress kept
    jobs.start()
    done = jobs.wait(job_id, timeout=60)
    jobs.stop()
    assert done.status == "done" and done.runs == 2
    assert_once(store, reference)


def test_the_cli_plans_the_noted_documents_once_and_exits(tmp_path, policy_index, monkeypatch, capsys):
    import json

    from corpus.push.profiles import Profile
    from corpus.push.taxonomy import Audience
    from qa_service import app as app_module
    from qa_service.push.__main__ import main
    from tests.qa_service.conftest import make_settings
    from tests.qa_service.push.library import fake_labeller

    st = app_module.build_state(make_settings(tmp_path), index=policy_index)
    st.push_labeller = fake_labeller
    person = Profile("p-cli", Audience.RESIDENT, "山东省", "济南市", "历城区", None, (), ("就业创业",))
    st.push_store.create_profile(person, Contact())
    doc = policy_index.get_document("lc-cydb-2023")
    st.push_store.note_documents([(doc.id, document_version(doc), False)])
    url = st.push_store.url
    monkeypatch.setattr(app_module, "build_state", lambda settings: st)
    with pytest.raises(SystemExit) as exit_:
        main(["plan", "--once"])
    assert exit_.value.code == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) | {"job": 0} == {"job": 0, "status": "done", "documents": 1, "enqueued": 1,
                                             "errors": 0, "error": None}  # fmt: skip
    after = PushStore(url=url)
    assert [r["profile_id"] for r in after.outbox_rows()] == ["p-cli"] and after.unplanned_documents() == []
    after.close()


def test_a_document_planned_longer_than_the_lease_keeps_the_job_from_other_runners(store, reference):
    """A city-wide document at a million profiles takes minutes: the lease is renewed while it is planned."""
    renewals = threading.Semaphore(0)
    progress = store.job_progress

    def counted(*args, **kwargs):
        renewals.release()
        return progress(*args, **kwargs)

    store.job_progress = counted  # type: ignore[method-assign]
    other = plan_jobs(store)
    taken: list[object] = []

    def slow(doc):
        if doc.id == "emp":  # outlasts its 0.3 s lease several times over, renewed meanwhile
            for _ in range(6):
                assert renewals.acquire(timeout=30)
            taken.append(store.claim_job("another-runner", time.time(), 0.3))
        return tiny.labeller(doc)

    jobs = plan_jobs(store, slow, lease_seconds=0.3)
    jobs.submit(DOC_IDS)
    [job] = jobs.run_pending()
    assert taken == [None]  # nobody could take the job while its document was planned
    assert job.status == "done" and job.runs == 1
    assert_once(store, reference)
    assert other.run_pending() == []
