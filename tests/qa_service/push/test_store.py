"""The push store, on SQLite and on PostgreSQL: profiles round trip behind a hashed token, the outbox's
UNIQUE key per channel, bulk planning, cascades, dead letters and requeue, the inbox's read receipts."""

from __future__ import annotations

import sqlite3
import stat
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

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
def store(db_url):
    s = PushStore(url=db_url)
    yield s
    s.close()


def raw_rows(store: PushStore, sql: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_profile_round_trip_behind_a_token_whose_hash_alone_is_stored(store):
    token = store.create_profile(graduate(), Contact(ContactChannel.SMS, PHONE))
    sub = store.profile_by_token(token)
    assert sub is not None
    assert sub.profile == graduate()
    assert sub.contact == Contact(ContactChannel.SMS, PHONE)
    assert store.get_profile("p-graduate") == sub
    assert store.profile_by_token(token + "x") is None

    [row] = raw_rows(store, "SELECT * FROM profiles")
    assert token not in [str(v) for v in row] and hash_token(token) in row


def test_store_file_is_private_and_in_wal_mode(tmp_path):
    PushStore(tmp_path / "push.sqlite3").close()
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
    assert store.status_counts() == {"held": 0, "pending": 3, "sent": 0, "failed": 0, "dead": 0}
    assert store.is_planned("emp", "v1") and store.is_planned("emp", "v2")

    # The constraint itself is in the schema, not only in the ON CONFLICT DO NOTHING.
    [row] = raw_rows(store, "SELECT key, profile_id, doc_id, doc_version FROM outbox WHERE profile_id = 'p-a'"
                            " AND doc_version = 'v1'")  # fmt: skip
    with pytest.raises(IntegrityError, match="(?i)unique|duplicate"), store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (key, profile_id, doc_id, doc_version, revised, title, link, reason, evidence,"
                " created, updated) VALUES ('other-key', :p, :d, :v, 0, 't', 'l', 'r', '[]', 0, 0)"
            ),
            {"p": row[1], "d": row[2], "v": row[3]},
        )
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


def test_failure_backs_off_then_is_dead_lettered_and_can_be_requeued(store):
    store.create_profile(graduate("p-a"), Contact())
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job", 0.0, 60)
    assert msg is not None
    assert store.record_failure(msg.id, f"gateway refused {PHONE}", 0.0, max_attempts=2, retry_seconds=10) == "pending"
    assert store.claim_next("job", 9.0, 60) is None  # back-off: not due before t=10
    msg = store.claim_next("job", 10.0, 60)
    assert msg is not None and msg.attempts == 1
    assert store.status_counts()["failed"] == 1  # pending, its last attempt failed
    assert store.record_failure(msg.id, "timeout", 10.0, max_attempts=2, retry_seconds=10) == "dead"
    [failure] = store.failures()
    assert failure.attempts == 2 and failure.error == "timeout" and failure.channel == "inbox"
    assert store.status_counts() == {"held": 0, "pending": 0, "sent": 0, "failed": 0, "dead": 1}
    assert store.claim_next("job", 1e9, 60) is None  # dead rows are never claimed
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


# -- channels, bulk planning, dead letters per channel, read receipts --------------------------------
EMAIL = "zhang.san@example.com"


def multi(profile_id: str = "p-multi") -> Contact:
    return Contact(channels=("webhook", "email"), email=EMAIL, webhook_url="https://hooks.example.com/lc")


def test_one_outbox_row_per_channel_each_with_its_own_key(store):
    store.create_profile(graduate("p-multi"), multi())
    sub = store.get_profile("p-multi")
    assert sub is not None and sub.contact.channels == ("inbox", "webhook", "email")
    secret = sub.contact.webhook_secret
    assert secret and secret.startswith("whsec-") and secret not in repr(sub) and EMAIL not in repr(sub)
    assert store.enqueue("emp", "v1", [entry("p-multi")]) == 3
    assert store.enqueue("emp", "v1", [entry("p-multi")]) == 0
    rows = store.outbox_rows()
    assert sorted(r["channel"] for r in rows) == ["email", "inbox", "webhook"]
    assert len({r["key"] for r in rows}) == 3
    assert {r["key"] for r in rows} == {outbox_key("p-multi", "emp", "v1", c) for c in ("inbox", "webhook", "email")}

    msg = store.claim_next("job", 0.0, 60, channels=["webhook"])
    assert msg is not None and msg.channel == "webhook" and msg.webhook_secret == secret
    assert msg.webhook_url == "https://hooks.example.com/lc" and msg.email == EMAIL
    assert store.claim_next("job", 0.0, 60, channels=["webhook"]) is None
    assert store.claim_next("job", 0.0, 60, channels=[]) is None

    # The secret survives an edit of the subscription; changing channels changes future rows only.
    assert store.update_profile(
        graduate("p-multi"), Contact(channels=("webhook",), webhook_url="https://h.example.com/2")
    )
    again = store.get_profile("p-multi")
    assert (
        again is not None and again.contact.webhook_secret == secret and again.contact.channels == ("inbox", "webhook")
    )


def test_contact_checks_its_channels_and_preferences():
    with pytest.raises(ValueError, match="channels must be among"):
        Contact(channels=("pigeon",))
    with pytest.raises(ValueError, match="channel email needs its address"):
        Contact(channels=("email",))
    with pytest.raises(ValueError, match="both start and end"):
        Contact(quiet_start=22 * 60)
    with pytest.raises(ValueError, match="daily_cap"):
        Contact(daily_cap=0)
    with pytest.raises(ValueError, match="immediate, digest"):
        Contact(delivery_mode="weekly")
    c = Contact(ContactChannel.EMAIL, EMAIL, delivery_mode="digest", quiet_start=22 * 60, quiet_end=7 * 60, daily_cap=3)
    assert c.channels == ("inbox", "email") and c.email == EMAIL and c.quiet is not None and c.quiet.wraps


def test_preferences_round_trip(store):
    c = Contact(ContactChannel.SMS, PHONE, delivery_mode="digest", quiet_start=1320, quiet_end=420, daily_cap=2)
    store.create_profile(graduate("p-a"), c)
    sub = store.get_profile("p-a")
    assert sub is not None and sub.contact == c and sub.contact.phone == PHONE


def test_bulk_enqueue_of_one_document_for_many_profiles(store):
    """More profiles than one insert batch: every row is written once, in one transaction."""
    from qa_service.push import store as store_module

    n = store_module.BATCH + 1234
    with store.engine.begin() as conn:  # profiles written directly: the subject is the outbox insert
        conn.execute(
            text(
                "INSERT INTO profiles (id, token_hash, kind, groups, topics, channel, created, updated)"
                " VALUES (:id, :h, 'resident', '[]', '[]', 'inbox', 0, 0)"
            ),
            [{"id": f"p-{i:06d}", "h": f"h{i}"} for i in range(n)],
        )
    entries = [entry(f"p-{i:06d}") for i in range(n)] + [entry("p-gone")]
    assert store.enqueue("emp", "v1", entries) == n
    assert store.enqueue("emp", "v1", entries[:10]) == 0
    assert store.status_counts()["pending"] == n
    [row] = raw_rows(store, "SELECT enqueued FROM push_documents WHERE doc_id = 'emp'")
    assert row[0] == n


def test_status_per_document_and_channel_and_requeue_of_one_channel(store):
    store.create_profile(graduate("p-multi"), multi())
    store.create_profile(graduate("p-b"), Contact())
    store.enqueue("emp", "v1", [entry("p-multi"), entry("p-b")])
    store.enqueue("edu", "v1", [entry("p-b", doc_id="edu")])
    while (m := store.claim_next("job", 0.0, 60)) is not None:
        if m.channel == "webhook":
            assert (
                store.record_failure(m.id, "HTTP 410", 0.0, max_attempts=5, retry_seconds=1, permanent=True) == "dead"
            )
        elif m.channel == "email":
            assert store.record_failure(m.id, "SMTP 451", 0.0, max_attempts=5, retry_seconds=100) == "pending"
        else:
            store.mark_sent(m.id, 1.0)
    by = {(r["doc_id"], r["channel"]): r for r in store.status_by_document()}
    assert by["emp", "inbox"] == {"doc_id": "emp", "channel": "inbox", "held": 0, "pending": 0, "sent": 2,
                                  "failed": 0, "dead": 0}  # fmt: skip
    assert (by["emp", "webhook"]["dead"], by["emp", "email"]["failed"], by["emp", "email"]["pending"]) == (1, 1, 1)
    assert by["edu", "inbox"]["sent"] == 1 and len(by) == 4
    assert [r["channel"] for r in store.status_by_document("edu")] == ["inbox"]
    assert store.requeue_dead(doc_id="edu") == 0 and store.requeue_dead(doc_id="emp", channel="email") == 0
    assert store.requeue_dead(doc_id="emp", channel="webhook") == 1
    msg = store.claim_next("job", 0.0, 60, channels=["webhook"])
    assert msg is not None and msg.attempts == 0


def test_read_receipts_mark_an_item_once_and_only_for_its_owner(store):
    store.create_profile(graduate("p-a"), Contact())
    store.create_profile(graduate("p-b"), Contact())
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job", 0.0, 60)
    assert msg is not None and store.add_to_inbox(msg, 5.0)
    assert store.unread_count("p-a") == 1
    assert store.mark_read("p-b", msg.key, 6.0) is None  # not theirs
    item = store.mark_read("p-a", msg.key, 7.0)
    assert item is not None and item.read_at == 7.0
    assert store.mark_read("p-a", msg.key, 9.0).read_at == 7.0  # the first opening is kept
    assert store.unread_count("p-a") == 0 and store.inbox("p-a")[1][0].read_at == 7.0


def test_deleting_a_profile_deletes_its_digest_rows_and_inbox(store):
    store.create_profile(graduate("p-a"), Contact(ContactChannel.EMAIL, EMAIL, delivery_mode="digest"))
    store.enqueue("emp", "v1", [entry("p-a")])
    msg = store.claim_next("job", 0.0, 60, channels=["email"])
    assert msg is not None and store.defer(msg.id, 100.0, 0.0, digest="digest:p-a:2026-12-01:email")
    assert store.delete_profile("p-a")
    assert store.outbox_rows() == [] and store.inbox("p-a") == (0, [])


def test_concurrent_claimers_never_take_the_same_row(store):
    store.create_profile(graduate("p-a"), Contact())
    store.enqueue("emp", "v1", [entry("p-a", doc_id=f"d{i}") for i in range(60)])
    taken: list[list[int]] = [[] for _ in range(4)]

    def claim(i: int) -> None:
        while (m := store.claim_next(f"job-{i}", 0.0, 600)) is not None:
            taken[i].append(m.id)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [i for t in taken for i in t]
    assert len(ids) == 60 and len(set(ids)) == 60
