"""The push store: profiles round trip behind a hashed token, the outbox's UNIQUE key, cascades, the inbox."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from corpus.push.profiles import Profile
from corpus.push.taxonomy import Audience
from qa_service.push.records import Contact, ContactChannel, OutboxEntry, hash_token, outbox_key
from qa_service.push.store import PushStore

PHONE = "13812345678"


def graduate(profile_id: str = "p-graduate") -> Profile:
    return Profile(
        profile_id=profile_id,
        kind=Audience.RESIDENT,
        province="山东省",
        city="济南市",
        district="历城区",
        street="洪家楼街道",
        groups=("高校毕业生",),
        topics=("就业创业", "户籍与居住证"),
        description="我是山东大学大四学生，明年毕业后想留在济南工作。",
    )


def entry(profile_id: str, doc_id: str = "emp", version: str = "v1", **kw) -> OutboxEntry:
    return OutboxEntry(
        profile_id=profile_id,
        doc_id=doc_id,
        doc_version=version,
        title="历城区高校毕业生就业补贴办法",
        link=f"/api/documents/{doc_id}",
        reason="适用于济南市历城区，您属于高校毕业生。",
        doc_number="济历城政办字〔2025〕13号",
        evidence=("吸纳高校毕业生就业的小微企业",),
        **kw,
    )


@pytest.fixture
def store(tmp_path):
    s = PushStore(tmp_path / "push.sqlite3")
    yield s
    s.close()


def test_profile_round_trip_behind_a_token_whose_hash_alone_is_stored(store, tmp_path):
    token = store.create_profile(graduate(), Contact(ContactChannel.SMS, PHONE))
    sub = store.profile_by_token(token)
    assert sub is not None
    assert sub.profile == graduate()
    assert sub.contact == Contact(ContactChannel.SMS, PHONE)
    assert store.get_profile("p-graduate") == sub
    assert store.profile_by_token(token + "x") is None

    raw = sqlite3.connect(tmp_path / "push.sqlite3")
    row = raw.execute("SELECT * FROM profiles").fetchone()
    raw.close()
    assert token not in [str(v) for v in row] and hash_token(token) in row


def test_store_file_is_private_and_in_wal_mode(store, tmp_path):
    path = tmp_path / "push.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_contact_keeps_the_address_out_of_repr_and_masks_it():
    c = Contact(ContactChannel.SMS, PHONE)
    assert PHONE not in repr(c) and c.masked() == "138****5678"
    assert Contact(ContactChannel.EMAIL, "zhang.san@example.com").masked() == "z***@example.com"
    with pytest.raises(ValueError, match="needs an address"):
        Contact(ContactChannel.EMAIL)
    with pytest.raises(ValueError, match="takes no address"):
        Contact(ContactChannel.INBOX, PHONE)
    with pytest.raises(ValueError, match="inbox, sms, email"):
        Contact("pigeon")  # type: ignore[arg-type]


def test_update_replaces_the_profile(store):
    token = store.create_profile(graduate(), Contact())
    changed = Profile("p-graduate", Audience.RESIDENT, "山东省", "济南市", "历城区", None, (), ("教育",))
    assert store.update_profile(changed, Contact(ContactChannel.EMAIL, "a@example.com"))
    sub = store.profile_by_token(token)
    assert sub is not None and sub.profile == changed and sub.contact.address == "a@example.com"
    assert not store.update_profile(graduate("p-nobody"), Contact())


def test_outbox_key_is_unique_per_profile_document_and_version(store):
    store.create_profile(graduate("p-a"), Contact())
    store.create_profile(graduate("p-b"), Contact())
    assert store.enqueue("emp", "v1", [entry("p-a"), entry("p-b")]) == 2
    assert store.enqueue("emp", "v1", [entry("p-a"), entry("p-b")]) == 0  # INSERT OR IGNORE
    assert store.enqueue("emp", "v2", [entry("p-a", version="v2", revised=True)]) == 1
    assert store.status_counts() == {"held": 0, "pending": 3, "sent": 0, "failed": 0}
    assert store.is_planned("emp", "v1") and store.is_planned("emp", "v2")

    # The constraint itself is in the schema, not only in the INSERT OR IGNORE.
    raw = sqlite3.connect(store.path)
    row = raw.execute("SELECT key, profile_id, doc_id, doc_version FROM outbox WHERE profile_id = 'p-a'").fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        raw.execute(
            "INSERT INTO outbox (key, profile_id, doc_id, doc_version, revised, title, link, reason, evidence,"
            " created, updated) VALUES ('other-key', ?, ?, ?, 0, 't', 'l', 'r', '[]', 0, 0)",
            row[1:],
        )
    raw.close()
    assert row[0] == outbox_key("p-a", "emp", "v1") == entry("p-a").key


def test_enqueue_skips_a_profile_that_no_longer_exists(store):
    store.create_profile(graduate("p-a"), Contact())
    assert store.enqueue("emp", "v1", [entry("p-a"), entry("p-gone")]) == 1


def test_claim_send_and_inbox_then_delete_cascades(store):
    token = store.create_profile(graduate("p-a"), Contact())
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job-1", now=100.0, lease_seconds=60)
    assert msg is not None and msg.key == entry("p-a").key and msg.contact.channel is ContactChannel.INBOX
    assert msg.evidence == ("吸纳高校毕业生就业的小微企业",) and msg.doc_number == "济历城政办字〔2025〕13号"
    assert store.claim_next("job-2", now=110.0, lease_seconds=60) is None  # leased to job-1
    assert store.add_to_inbox(msg, 111.0) and not store.add_to_inbox(msg, 112.0)  # idempotent on the key
    assert store.mark_sent(msg.id, 112.0) and not store.mark_sent(msg.id, 113.0)
    total, items = store.inbox("p-a")
    assert total == 1 and items[0].reason == "适用于济南市历城区，您属于高校毕业生。"

    assert store.delete_profile("p-a")
    assert store.profile_by_token(token) is None
    assert store.inbox("p-a") == (0, []) and store.outbox_rows() == []


def test_failure_backs_off_then_fails_and_can_be_requeued(store):
    store.create_profile(graduate("p-a"), Contact())
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job", 0.0, 60)
    assert msg is not None
    assert store.record_failure(msg.id, f"gateway refused {PHONE}", 0.0, max_attempts=2, retry_seconds=10) == "pending"
    assert store.claim_next("job", 9.0, 60) is None  # back-off: not due before t=10
    msg = store.claim_next("job", 10.0, 60)
    assert msg is not None and msg.attempts == 1
    assert store.record_failure(msg.id, "timeout", 10.0, max_attempts=2, retry_seconds=10) == "failed"
    [failure] = store.failures()
    assert failure.attempts == 2 and failure.error == "timeout"
    assert store.requeue_failed() == 1 and store.status_counts()["pending"] == 1


def test_error_text_is_stored_masked(store):
    store.create_profile(graduate("p-a"), Contact())
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job", 0.0, 60)
    assert msg is not None
    store.record_failure(msg.id, f"gateway refused {PHONE} / a@example.com", 0.0, max_attempts=1, retry_seconds=0)
    [failure] = store.failures()
    assert PHONE not in (failure.error or "") and "a@example.com" not in (failure.error or "")
    assert "[手机号]" in (failure.error or "")


def test_noted_documents_wait_until_planned(store):
    store.note_documents([("emp", "v1", False), ("edu", "v1", False)])
    assert store.unplanned_documents() == [("edu", "v1"), ("emp", "v1")]
    store.mark_planned("emp", "v1")
    assert store.unplanned_documents() == [("edu", "v1")]
    assert not store.revision_noted("emp", "v1")
    store.note_documents([("emp", "v2", False)])
    assert store.revision_noted("emp", "v2")
