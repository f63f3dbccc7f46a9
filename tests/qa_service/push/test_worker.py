"""The delivery worker process: `python -m qa_service.push worker`, its settings, and the service
starting and stopping it in its lifespan (`push_worker = "process"`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from qa_service.app import build_state, create_app
from qa_service.push.planner import plan
from qa_service.push.records import Contact
from qa_service.push.worker import WorkerConfig, settings_env
from qa_service.settings import Settings
from tests.conftest import tiny_docs
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.conftest import filled_store
from tests.qa_service.push.tiny import PEOPLE, all_keys, labeller

REPO = Path(__file__).resolve().parents[3]


def worker(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "qa_service.push", "worker", "--database-url", url, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_worker_delivers_everything_due_and_exits_with_once(db_url):
    store = filled_store(db_url)
    plan(store, tiny_docs(), labeller)
    done = worker(db_url, "--once", "--workers", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert store.status_counts()["sent"] == 6 and store.status_counts()["pending"] == 0
    assert sorted(i.key for p in {r["profile_id"] for r in store.outbox_rows()} for i in store.inbox(p)[1]) == sorted(
        all_keys(store)
    )
    store.close()


def test_the_worker_refuses_bad_options_in_one_line(tmp_path):
    done = worker(f"sqlite:///{tmp_path / 'p.sqlite3'}", "--workers", "0")
    assert done.returncode == 2 and "workers and batch must be >= 1" in done.stderr


def test_the_worker_gets_the_services_settings_secrets_included(tmp_path, monkeypatch):
    s = make_settings(tmp_path, push_smtp_password=SecretStr("smtp-secret"), push_workers=3, push_webhook_enabled=True)
    env = settings_env(s)
    assert env["QA_PUSH_SMTP_PASSWORD"] == "smtp-secret" and env["QA_PUSH_WORKERS"] == "3"
    for k in [k for k in os.environ if k.startswith("QA_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        if k.startswith("QA_"):
            monkeypatch.setenv(k, v)
    again = Settings()  # what the worker process reads
    assert again.model_dump() == s.model_dump()
    assert again.push_smtp_password is not None and again.push_smtp_password.get_secret_value() == "smtp-secret"
    assert WorkerConfig.of(again).workers == 3


def test_the_service_starts_the_worker_process_and_stops_it(tmp_path, policy_index):
    settings = make_settings(tmp_path, push_deliver_interval_seconds=0.05, push_worker="process")
    state = build_state(settings, index=policy_index)
    store = state.push_store
    for p in PEOPLE:
        store.create_profile(p, Contact())
    plan(store, tiny_docs(), labeller)
    assert store.status_counts()["pending"] == 6
    with TestClient(create_app(state=state)):
        deadline = time.monotonic() + 60
        while store.status_counts()["sent"] < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.status_counts()["sent"] == 6  # only the worker process sends: no thread in this process
    store.close()
    state.store.close()
