"""The board's pure parts: escaping, the session cookie, CSRF tokens, the status chart's walk, the login throttle."""
from __future__ import annotations

import time

from web.charts import status_series
from web.html import Safe, h, join
from web.security import BoardSecurity, clean_name


def test_every_value_is_escaped_and_only_h_made_markup_passes():
    title = '<script>alert("x")</script>{0}&'
    out = h('<a title="{}">{}</a>', title, title)
    assert out == ('<a title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;{0}&amp;">'
                   '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;{0}&amp;</a>')
    assert h("<p>{}</p>", h("<b>{}</b>", "<i>")) == "<p><b>&lt;i&gt;</b></p>"
    assert join(["<x>", Safe("<y>")]) == "&lt;x&gt;<y>"
    assert h("{}", None) == ""


def security(**changes) -> BoardSecurity:
    values = dict(keys=(("alice", "alice-key-0123456789"), ("bob", "bob-key-0123456789ab")),
                  allowed_hosts=("127.0.0.1:8765", "tasks.example.com", "tasks.example.com:*"),
                  allowed_origins=("http://127.0.0.1:8765",), default_actor="board")
    values.update(changes)
    return BoardSecurity(**values)


def test_a_session_cookie_names_its_key_and_token_and_a_tampered_expired_or_revoked_one_names_nobody():
    s = security()
    cookie, token = s.session_cookie("alice")
    assert s.session_claim(cookie) == ("alice", token) and "alice-key" not in cookie
    name, expires, _, mac = cookie.split(".")
    bob_name = s.session_cookie("bob")[0].split(".")[0]
    assert s.session_claim(f"{bob_name}.{expires}.{token}.{mac}") is None  # alice's signature on bob's name
    assert s.session_claim(f"{name}.{int(expires) + 1}.{token}.{mac}") is None  # a longer life
    assert s.session_claim(f"{name}.{expires}.{s.session_cookie('alice')[1]}.{mac}") is None  # another session's token
    past = int(time.time()) - 1
    assert s.session_claim(f"{name}.{past}.{token}.{s._session_mac('alice', past, token)}") is None
    assert security(keys=(("alice", "a-new-key-for-alice-000"),)).session_claim(cookie) is None  # the key changed
    assert s.session_claim("garbage") is None and s.session_claim(None) is None
    assert s.session_claim(f"{name}.{expires.replace('1', '¹')}.{token}.{mac}") is None  # no int() of a non-ASCII digit


def test_keys_are_found_by_value_and_csrf_tokens_belong_to_their_cookie():
    s = security()
    assert s.key_name("bob-key-0123456789ab") == "bob" and s.key_name("bob-key") is None
    cookie = s.new_csrf_cookie()
    assert s.csrf_ok(cookie, s.csrf_token(cookie))
    assert not s.csrf_ok(s.new_csrf_cookie(), s.csrf_token(cookie)) and not s.csrf_ok(cookie, None)
    assert security().csrf_ok(cookie, s.csrf_token(cookie))  # another instance with the same keys agrees


def test_host_and_origin_rules_match_the_transports():
    s = security()
    assert s.host_allowed("127.0.0.1:8765") and s.host_allowed("tasks.example.com:443")
    assert not s.host_allowed("127.0.0.1:8766") and not s.host_allowed("evil.example") and not s.host_allowed(None)
    assert not s.host_allowed("tasks.example.com:443.evil.example")
    assert s.origin_allowed("http://127.0.0.1:8765")
    assert not s.origin_allowed("null") and not s.origin_allowed(None) and not s.origin_allowed("http://127.0.0.1:87650")


def test_names_people_give_are_checked():
    assert clean_name("  Dana Smith ") == "Dana Smith"
    assert clean_name("<script>") is None and clean_name("") is None and clean_name("x" * 101) is None


def test_the_status_chart_walks_back_from_todays_counts():
    history = {
        "now": "2026-01-01 12:00:00", "since": "2025-12-02 12:00:00", "capped": False,
        "created": ["2026-01-01 11:58:00", "2026-01-01 11:30:00"],
        "moves": [("2026-01-01 11:59:00", "in_progress", "completed"), ("2026-01-01 11:45:00", "pending", "in_progress")],
    }
    series = status_series(history, {"pending": 1, "completed": 1})
    assert series[-1][1] == {"pending": 1, "in_progress": 0, "completed": 1, "failed": 0, "cancelled": 0}
    by_minute = {at.strftime("%H:%M"): counts for at, counts in series}
    assert by_minute["11:58"]["in_progress"] == 1 and by_minute["11:58"]["pending"] == 1
    assert by_minute["11:50"] == {"pending": 0, "in_progress": 1, "completed": 0, "failed": 0, "cancelled": 0}
    assert by_minute["11:40"]["pending"] == 1


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_the_login_throttle_pauses_an_address_after_five_failures_in_a_minute_and_only_that_one():
    from web.login_throttle import LoginThrottle

    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        throttle.failed("10.0.0.1")
        clock.now += 10
    assert throttle.retry_after("10.0.0.1") == (0, False)  # four in the window: the fifth is still checked
    throttle.failed("10.0.0.1")  # at 540: five within 60 s, the oldest at 500
    assert throttle.retry_after("10.0.0.1") == (20, False)
    assert throttle.retry_after("10.0.0.2") == (0, False)
    clock.now = 560
    assert throttle.retry_after("10.0.0.1") == (0, False)  # the failure at 500 has left the window
    clock.now = 700
    assert throttle.retry_after("10.0.0.1") == (0, False) and "10.0.0.1" not in throttle._by_address  # all gone: forgotten


def test_the_login_throttle_pauses_everyone_past_the_overall_limit_and_keeps_a_bounded_number_of_addresses():
    from web.login_throttle import LoginThrottle

    clock = Clock()
    throttle = LoginThrottle(overall=10, addresses=3, clock=clock)
    for n in range(10):  # one failure each from ten addresses: none is over its own limit
        throttle.failed(f"10.0.1.{n}")
        clock.now += 1
    assert throttle.retry_after("10.9.9.9") == (50, True)  # everyone, until the first of the ten is a minute old
    assert len(throttle._by_address) == 3 and list(throttle._by_address) == ["10.0.1.7", "10.0.1.8", "10.0.1.9"]
    clock.now += 50
    assert throttle.retry_after("10.9.9.9") == (0, False)


def test_a_chart_of_5000_models_draws_the_11_largest_and_one_other_bar():
    from web.charts import bar_chart, ranked_bars

    bars = ranked_bars([(f"model-{n}", float(n)) for n in range(5000)], lambda v: f"{v:,.0f}")
    assert len(bars) == 12 and bars[0][0] == "model-4999" and bars[10][0] == "model-4989"
    assert bars[11] == ("other (4,989 models)", float(sum(range(4989))), f"{sum(range(4989)):,}")
    assert len(bar_chart(bars, "tokens", "#000")) < 10_000  # the stats page had one bar per model: 3.1 MB at 5,000
