"""Residents' preferences (qa_service.push.preferences): quiet hours, digests, the daily cap, unsubscribe tokens.

Times are written as Asia/Shanghai wall-clock times; the expected results follow from the rules by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from qa_service.push.preferences import (
    TZ,
    DeliveryMode,
    QuietHours,
    TokenError,
    at_local,
    cap_reached,
    count_on_day,
    digest_day,
    digest_due,
    digest_key,
    format_clock,
    group_digests,
    local_day,
    make_unsubscribe_token,
    next_send_time,
    parse_clock,
    parse_digest_key,
    verify_unsubscribe_token,
)

SECRET = "unsubscribe-secret-for-tests-0123456789"
NIGHT = QuietHours(22 * 60, 7 * 60)  # 22:00-07:00, wraps past midnight
LUNCH = QuietHours(12 * 60, 13 * 60 + 30)  # 12:00-13:30, same day


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=TZ).timestamp()


def test_shanghai_is_utc_plus_8_all_year_with_no_daylight_saving():
    for month in (1, 4, 7, 10):  # summer and winter alike
        assert sh(2026, month, 15, 8) == datetime(2026, month, 15, 0, tzinfo=UTC).timestamp()
    # Local midnight is 16:00 UTC the day before: the local day changes there, not at UTC midnight.
    assert local_day(datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC).timestamp()) == date(2026, 12, 1)
    assert local_day(datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()) == date(2026, 12, 2)
    assert at_local(date(2026, 12, 2)) == datetime(2026, 12, 1, 16, 0, tzinfo=UTC).timestamp()


def test_china_kept_summer_time_until_1991_and_wall_clock_arithmetic_follows_it():
    # 1988-07-01 was in summer time (UTC+9): local midnight was 15:00 UTC.
    assert at_local(date(1988, 7, 1)) == datetime(1988, 6, 30, 15, 0, tzinfo=UTC).timestamp()
    assert NIGHT.next_allowed(sh(1988, 7, 1, 23)) == datetime(1988, 7, 1, 22, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ((2026, 12, 1, 21, 59, 59), (2026, 12, 1, 21, 59, 59)),  # just before: goes now
        ((2026, 12, 1, 22, 0, 0), (2026, 12, 2, 7, 0, 0)),  # start is inside
        ((2026, 12, 1, 23, 30, 0), (2026, 12, 2, 7, 0, 0)),  # evening: tomorrow morning
        ((2026, 12, 31, 23, 59, 59), (2027, 1, 1, 7, 0, 0)),  # across the year end
        ((2026, 12, 2, 0, 0, 0), (2026, 12, 2, 7, 0, 0)),  # midnight: this morning
        ((2026, 12, 2, 6, 59, 59), (2026, 12, 2, 7, 0, 0)),  # early morning: same day
        ((2026, 12, 2, 7, 0, 0), (2026, 12, 2, 7, 0, 0)),  # end is outside
        ((2026, 2, 28, 23, 0, 0), (2026, 3, 1, 7, 0, 0)),  # across a month end
    ],
)
def test_quiet_hours_across_midnight(when, expected):
    assert NIGHT.wraps
    assert NIGHT.next_allowed(sh(*when)) == sh(*expected)


def test_quiet_hours_keep_sub_second_precision_at_the_edges():
    just_before_start = sh(2026, 12, 1, 21, 59, 59, 999_000)
    assert not NIGHT.contains(just_before_start) and NIGHT.next_allowed(just_before_start) == just_before_start
    assert NIGHT.contains(sh(2026, 12, 2, 6, 59, 59, 999_000))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ((2026, 12, 1, 11, 59), (2026, 12, 1, 11, 59)),
        ((2026, 12, 1, 12, 0), (2026, 12, 1, 13, 30)),
        ((2026, 12, 1, 13, 29), (2026, 12, 1, 13, 30)),
        ((2026, 12, 1, 13, 30), (2026, 12, 1, 13, 30)),
        ((2026, 12, 1, 23, 0), (2026, 12, 1, 23, 0)),  # a same-day window never moves to tomorrow
    ],
)
def test_quiet_hours_within_one_day(when, expected):
    assert not LUNCH.wraps
    assert LUNCH.next_allowed(sh(*when)) == sh(*expected)


def test_quiet_hours_ending_at_midnight():
    late = QuietHours(23 * 60, 0)
    assert late.next_allowed(sh(2026, 12, 1, 23, 10)) == sh(2026, 12, 2, 0, 0)
    assert late.next_allowed(sh(2026, 12, 2, 0, 0)) == sh(2026, 12, 2, 0, 0)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (-1, 60, "quiet_start"),
        (0, 1440, "quiet_end"),
        (60, 60, "start != end"),
        (True, 60, "quiet_start"),
        (1.5, 60, "quiet_start"),
    ],
)
def test_quiet_hours_reject_bad_values(start, end, match):
    with pytest.raises(ValueError, match=match):
        QuietHours(start, end)


def test_quiet_hours_from_columns():
    assert QuietHours.of(None, None) is None
    assert QuietHours.of(1320, 420) == NIGHT
    with pytest.raises(ValueError, match="both start and end"):
        QuietHours.of(1320, None)


@pytest.mark.parametrize(("text", "minute"), [("22:00", 1320), ("7:05", 425), ("00:00", 0), (" 23：59 ", 1439)])
def test_clock_times_from_the_form(text, minute):
    assert parse_clock(text) == minute
    assert parse_clock(format_clock(minute)) == minute


@pytest.mark.parametrize("text", ["24:00", "7", "07:60", "7:5", "", "晚上十点", "-1:00"])
def test_clock_times_refuse_anything_else(text):
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock(text)


# -- the daily cap ---------------------------------------------------------------------------------
def test_cap_counts_the_local_day_only():
    sent = [sh(2026, 12, 1, 0, 0), sh(2026, 12, 1, 23, 59), sh(2026, 11, 30, 23, 59), sh(2026, 12, 2, 0, 0)]
    assert count_on_day(sent, date(2026, 12, 1)) == 2
    assert count_on_day(sent, date(2026, 11, 30)) == 1


def test_cap_moves_the_next_message_to_tomorrow_and_quiet_hours_then_apply():
    now = sh(2026, 12, 1, 15, 0)
    assert next_send_time(now, cap=3, sent_today=2) == now  # the third still goes today
    assert next_send_time(now, cap=3, sent_today=3) == sh(2026, 12, 2, 0, 0)
    assert next_send_time(now, cap=3, sent_today=3, quiet=NIGHT) == sh(2026, 12, 2, 7, 0)
    assert next_send_time(now, cap=None, sent_today=1000) == now  # no cap
    # Inside quiet hours with the cap not reached: the end of quiet hours, even when that is tomorrow.
    assert next_send_time(sh(2026, 12, 1, 22, 30), cap=3, sent_today=1, quiet=NIGHT) == sh(2026, 12, 2, 7, 0)
    # After midnight the counter is the new day's.
    assert next_send_time(sh(2026, 12, 2, 8, 0), cap=1, sent_today=0, quiet=NIGHT) == sh(2026, 12, 2, 8, 0)


@pytest.mark.parametrize("cap", [0, -1, True])
def test_cap_rejects_bad_values(cap):
    with pytest.raises(ValueError, match="daily_cap"):
        cap_reached(0, cap)


# -- digests ---------------------------------------------------------------------------------------
def test_digest_day_cuts_at_the_send_time():
    assert digest_day(sh(2026, 12, 1, 17, 59, 59), 18 * 60) == date(2026, 12, 1)
    assert digest_day(sh(2026, 12, 1, 18, 0), 18 * 60) == date(2026, 12, 2)  # too late for today's
    assert digest_day(sh(2026, 12, 1, 23, 59), 18 * 60) == date(2026, 12, 2)
    assert digest_day(sh(2026, 12, 31, 19, 0), 18 * 60) == date(2027, 1, 1)
    assert digest_day(sh(2026, 12, 1, 23, 59), 0) == date(2026, 12, 2)  # midnight digests: the next day's


def test_digest_due_waits_for_quiet_hours_to_end():
    assert digest_due(date(2026, 12, 1), 18 * 60) == sh(2026, 12, 1, 18, 0)
    assert digest_due(date(2026, 12, 1), 22 * 60 + 30, NIGHT) == sh(2026, 12, 2, 7, 0)
    assert digest_due(date(2026, 12, 1), 6 * 60, NIGHT) == sh(2026, 12, 1, 7, 0)


def test_digest_key_round_trips():
    key = digest_key("p-0123456789abcdef", date(2026, 12, 1), "email")
    assert key == "digest:p-0123456789abcdef:2026-12-01:email"
    assert parse_digest_key(key) == ("p-0123456789abcdef", date(2026, 12, 1), "email")
    for bad in ("digest:p-1:2026-13:email", "push-abc", "digest:p 1:2026-12-01:email"):
        with pytest.raises(ValueError, match="not a digest key"):
            parse_digest_key(bad)


def test_group_digests_one_per_profile_channel_and_day():
    rows = [
        ("p-a", "email", sh(2026, 12, 1, 9, 0), ("doc-1", "v1")),
        ("p-a", "email", sh(2026, 12, 1, 17, 0), ("doc-2", "v1")),
        ("p-a", "email", sh(2026, 12, 1, 19, 0), ("doc-3", "v1")),  # after 18:00: tomorrow's digest
        ("p-a", "sms", sh(2026, 12, 1, 9, 30), ("doc-1", "v1")),  # another channel: its own digest
        ("p-b", "email", sh(2026, 12, 1, 10, 0), ("doc-1", "v1")),
        ("p-a", "email", sh(2026, 12, 1, 11, 0), ("doc-1", "v2")),  # doc-1 revised the same day
    ]
    quiet = {"p-b": QuietHours(17 * 60, 20 * 60)}
    groups = group_digests(rows, send_minute=18 * 60, quiet_of=quiet.get, dedupe=lambda item: item[0])
    by_key = {g.key: g for g in groups}
    assert set(by_key) == {
        "digest:p-a:2026-12-01:email",
        "digest:p-a:2026-12-01:sms",
        "digest:p-b:2026-12-01:email",
        "digest:p-a:2026-12-02:email",
    }
    today = by_key["digest:p-a:2026-12-01:email"]
    assert today.items == (("doc-1", "v2"), ("doc-2", "v1"))  # doc-1 once, newest version, first position
    assert today.due == sh(2026, 12, 1, 18, 0) and today.profile_id == "p-a" and today.channel == "email"
    assert by_key["digest:p-b:2026-12-01:email"].due == sh(2026, 12, 1, 20, 0)  # after p-b's quiet hours
    assert by_key["digest:p-a:2026-12-02:email"].items == (("doc-3", "v1"),)
    assert [g.due for g in groups] == sorted(g.due for g in groups)


def test_delivery_mode_parses_with_a_clear_error():
    assert DeliveryMode.from_str(" Digest ") is DeliveryMode.DIGEST
    with pytest.raises(ValueError, match="immediate, digest"):
        DeliveryMode.from_str("weekly")


# -- unsubscribe tokens -----------------------------------------------------------------------------
def test_token_round_trip_without_and_with_expiry():
    now = sh(2026, 12, 1, 12)
    token = make_unsubscribe_token(SECRET, "p-0123456789abcdef")
    assert verify_unsubscribe_token(SECRET, token, now) == "p-0123456789abcdef"
    assert len(token) <= 40  # short enough for the SMS link
    expiring = make_unsubscribe_token(SECRET, "p-0123456789abcdef", expires_at=now + 3600)
    assert verify_unsubscribe_token(SECRET, expiring, now + 3599) == "p-0123456789abcdef"
    with pytest.raises(TokenError, match="expired") as e:
        verify_unsubscribe_token(SECRET, expiring, now + 3600)
    assert e.value.reason == "expired"


def _flip(c: str) -> str:
    return "A" if c != "A" else "B"


def test_token_refuses_forgery_and_tampering():
    now = sh(2026, 12, 1, 12)
    token = make_unsubscribe_token(SECRET, "p-0123456789abcdef", expires_at=now + 60)
    pid, exp, sig = token.split(".")
    forged = [
        f"p-fedcba9876543210.{exp}.{sig}",  # someone else's profile
        f"{pid}..{sig}",  # expiry removed
        f"{pid}.{exp}.{sig[:-1] + _flip(sig[-1])}",  # signature changed
        make_unsubscribe_token("another-secret-0123456789", pid, now + 60),
    ]
    for t in forged:
        with pytest.raises(TokenError, match="signature"):
            verify_unsubscribe_token(SECRET, t, now)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "p-1..short", "p 1..AAAAAAAAAAAAAAAA", "p-1.ZZ.AAAAAAAAAAAAAAAA", "x" * 200]
)
def test_token_refuses_malformed(token):
    with pytest.raises(TokenError, match="malformed"):
        verify_unsubscribe_token(SECRET, token, 0.0)


def test_token_refuses_non_ascii_signature_without_crashing():
    with pytest.raises(TokenError, match="malformed|signature"):
        verify_unsubscribe_token(SECRET, "p-1..退订退订退订退订退订退订退订退订退订退订退订退订退订退订退订退订", 0.0)


def test_token_needs_a_real_secret_and_id():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_unsubscribe_token("short", "p-1")
    with pytest.raises(ValueError, match="profile_id"):
        make_unsubscribe_token(SECRET, "p.1")
