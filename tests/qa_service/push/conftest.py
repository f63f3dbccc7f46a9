"""Fixtures of the push tests: a push store holding the tiny corpus's subscribers, and one planned."""

from __future__ import annotations

import pytest

from qa_service.push.planner import plan
from qa_service.push.records import Contact
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push.tiny import PEOPLE, labeller


@pytest.fixture
def store(tmp_path):
    s = PushStore(tmp_path / "push.sqlite3")
    for p in PEOPLE:
        s.create_profile(p, Contact())
    yield s
    s.close()


@pytest.fixture
def planned(store):
    result = plan(store, tiny_docs(), labeller)
    assert result.enqueued == 6
    return store
