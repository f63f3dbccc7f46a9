"""Personal data never leaves a request unmasked: the masking function, log lines, the SQLite files.

Formats that must be masked, policy text that must not be, file modes and retention; the end-to-end
check over a real process is tests/qa_service/test_privacy_process.py.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat

import pytest

from qa_service.privacy import MaskingFormatter, fold, mask_personal
from qa_service.push.store import PushStore
from qa_service.store import AnswerRecord, Store

# Every way residents were seen to write their contact details; the digits after folding must vanish.
PERSONAL = [
    "13312345678",
    "133 1234 5678",
    "133-1234-5678",
    "139.1234.5678",
    "+86 133 1234 5678",
    "+86-133-1234-5678",
    "(+86)13312345678",
    "0086 13312345678",
    "１３３１２３４５６７８",
    "１３３　１２３４　５６７８",
    "(0531)88575126",
    "（0531）88575126",
    "0531-88575126",
    "0531 8857 5126",
    "0531-8857-5126",
    "010-68551234",
    "+86 531 8857 5126",
    "０５３１－８８５７５１２６",
    "370112199001011234",
    "37011219900101123X",
    "370112 19900101 123X",
    "3701 1219 9001 0112 3X",
    "370112-19900101-1234",
    "３７０１１２１９９００１０１１２３Ｘ",
    "370112900101123",  # the old 15-digit card
    "6222 0212 3456 7890 123",  # a bank card
]
EMAILS = ["zhang.san@example.com", "li-si+tag@mail.gov.cn", "ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "Wang_Wu@163.COM"]
# Policy text that looks numeric but is not personal: it must come back unchanged.
POLICY_TEXT = [
    "济政发〔2019〕3号",
    "济历城政办字〔2025〕13号",
    "自2025-01-01起施行",
    "2019年5月10日发布",
    "2019-05-10至2025-01-01",
    "2019.05.10 2025.01.01",
    "最高额度为30万元，贷款期限最长不超过3年",
    "每人每月不低于100元，90周岁以上不低于200元",
    "请拨打12345政务服务便民热线",
    "咨询电话12345",
    "第十五条 公安派出所应当自受理之日起十五日内制作发放居住证",
    "1.5万元、2.5万元和3万元",
    "办理时限为20个工作日",
    "第1、2、3、4、5、6条",
]


def digits(text: str) -> str:
    return re.sub(r"\D", "", fold(text))


@pytest.mark.parametrize("value", PERSONAL)
def test_phone_id_and_card_numbers_are_masked_in_every_format(value):
    masked = mask_personal(f"我的号码是{value}，请回电。")
    assert digits(value) not in digits(masked), masked
    assert masked.startswith("我的号码是[") and masked.endswith("]，请回电。"), masked


@pytest.mark.parametrize("value", EMAILS)
def test_emails_are_masked_also_in_full_width(value):
    masked = mask_personal(f"邮箱{value}谢谢")
    assert masked == "邮箱[邮箱]谢谢"


def test_numbers_after_a_phone_number_are_left_alone_unless_marked_as_an_extension():
    assert mask_personal("0531-8857-5126 404 1ms") == "[电话] 404 1ms"
    assert mask_personal("0531-88575126-801，0531-88575126转801") == "[电话]，[电话]"


def test_local_numbers_are_masked_after_a_contact_word_only():
    assert mask_personal("我的电话：8857 5126") == "我的电话：[电话]"
    assert mask_personal("座机88575126，QQ 12345678") == "座机[电话]，QQ [电话]"
    assert mask_personal("编号88575126的文件") == "编号88575126的文件", "8 digits alone may be a file number"


@pytest.mark.parametrize("text", POLICY_TEXT)
def test_policy_text_is_not_over_masked(text):
    assert mask_personal(text) == text


def test_masking_keeps_the_rest_of_the_text_and_is_idempotent():
    text = "残疾人两项补贴怎么申请？电话13312345678，身份证370112199001011234，邮箱a.b@x.cn。"
    once = mask_personal(text)
    assert once == "残疾人两项补贴怎么申请？电话[手机号]，身份证[身份证号]，邮箱[邮箱]。"
    assert mask_personal(once) == once


def test_masking_formatter_masks_messages_arguments_and_tracebacks():
    fmt = MaskingFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ask q=%s", ("电话13312345678",), None)
    assert fmt.format(record) == "INFO ask q=电话[手机号]"
    try:
        raise ValueError("bad question 370112199001011234")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = fmt.format(record)
    assert "ValueError: bad question [身份证号]" in out and "370112199001011234" not in out


# -- the database files ------------------------------------------------------------------------
def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # what most services run with: new files 0644
    yield
    os.umask(old)


def test_qa_store_files_are_created_private(tmp_path, loose_umask):
    store = Store(tmp_path / "qa.sqlite3")
    store.record_answer(AnswerRecord("a1", None, "问题", "问题", False, 0.5, "extractive", ()))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["qa.sqlite3", "qa.sqlite3-shm", "qa.sqlite3-wal"]
    assert {f: _mode(tmp_path / f) for f in files} == dict.fromkeys(files, 0o600)
    store.close()


def test_an_existing_world_readable_qa_store_is_tightened(tmp_path, loose_umask):
    path = tmp_path / "qa.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    os.chmod(path, 0o644)
    Store(path).close()
    assert _mode(path) == 0o600


@pytest.mark.parametrize("kind", [Store, PushStore])
def test_world_readable_wal_and_shm_left_by_a_crash_are_tightened(tmp_path, loose_umask, kind):
    path = tmp_path / "x.sqlite3"
    other = sqlite3.connect(path)  # another process still has it open: -wal and -shm exist
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x)")
    for p in tmp_path.iterdir():
        os.chmod(p, 0o644)
    kind(path).close()
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {p.name: 0o600 for p in tmp_path.iterdir()}
    other.close()


def test_push_store_files_are_private(tmp_path, loose_umask):
    store = PushStore(tmp_path / "push.sqlite3")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["push.sqlite3", "push.sqlite3-shm", "push.sqlite3-wal"]
    assert {f: _mode(tmp_path / f) for f in files} == dict.fromkeys(files, 0o600)
    store.close()


# -- retention -----------------------------------------------------------------------------------
DAY = 86_400.0


def _answer(answer_id: str) -> AnswerRecord:
    return AnswerRecord(answer_id, None, f"问题{answer_id}", "问题", False, 0.5, "extractive", ("d1",))


def test_answers_past_retention_are_purged_with_their_feedback(tmp_path):
    now = [1_000 * DAY]
    store = Store(tmp_path / "qa.sqlite3", retention_days=30, clock=lambda: now[0])
    store.record_answer(_answer("old"))
    store.add_feedback("old", True, "很有用")
    now[0] += 20 * DAY
    store.record_answer(_answer("mid"))
    now[0] += 11 * DAY  # "old" is 31 days old now, "mid" 11
    store.record_answer(_answer("new"))  # purging happens as rows are added
    assert store.get_answer("old") is None and store.get_answer("mid") is not None
    assert list(store.export_feedback()) == []
    store.add_feedback("mid", False, None)
    store.close()

    now[0] += 20 * DAY  # "mid" is 31 days old: purged when the service starts again
    reopened = Store(tmp_path / "qa.sqlite3", retention_days=30, clock=lambda: now[0])
    assert reopened.get_answer("mid") is None and reopened.get_answer("new") is not None
    assert list(reopened.export_feedback()) == []
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    reopened.close()


def test_export_never_returns_rows_past_retention(tmp_path):
    now = [1_000 * DAY]
    store = Store(tmp_path / "qa.sqlite3", retention_days=7, clock=lambda: now[0])
    store.record_answer(_answer("a"))
    store.add_feedback("a", True, "电话13312345678")
    [row] = store.export_feedback()
    assert row["comment"] == "电话[手机号]"
    now[0] += 8 * DAY
    assert list(store.export_feedback()) == []
    store.close()


@pytest.mark.parametrize("days", [0, -1, 100_000])
def test_retention_must_be_sensible(tmp_path, days):
    with pytest.raises(ValueError, match="retention_days must be 1..36500"):
        Store(tmp_path / "qa.sqlite3", retention_days=days)


# -- a real process: every route, every file -------------------------------------------------------
