"""The policy engine in the real daemon: quotas at end of DATA (every
verdict), access rules at RCPT, the identity (XFORWARD client, the login
from a trusted peer's header), and counters that survive a restart.

Quota windows are aligned to the epoch (a period of 4s: [0,4), [4,8),
...), so a test that must fit in one window waits for a window to begin
(the clock is the event awaited)."""
import calendar
import json
import math
import time

from harness import swaks, swaks_replies, wait_for
from smtpwire import build_message


def window_start(period, need=2.0):
    """Waits until a window of period seconds has just begun, unless at
    least need seconds of the current one remain; returns its end."""
    now = time.time()
    end = math.floor(now / period) * period + period
    if end - now < need:
        time.sleep(end - now + 0.05)
        end += period
    return end


def quota(name="per-user", track="Sender:user@domain", period="4s",
          limit="messages 3", verdict="reject", more=""):
    return """
policy outbound priority 10 {
    sender any
    quota %s {
        track %s
        period %s
        limit %s
        verdict %s
        %s
    }
}
""" % (name, track, period, limit, verdict, more)


def send(s, sender, rcpts=("bob@example.net",), body="hello", headers=()):
    """One message over our own client; returns (rcpt replies, data reply)."""
    msg = build_message("m%f@test" % time.time(), sender, list(rcpts), "q",
                        [body])
    if headers:
        msg = "".join(h + "\r\n" for h in headers).encode() + msg
    with s.smtp() as c:
        c.ehlo("client.test")
        _, rr, data = c.transaction(sender, list(rcpts), msg)
        c.cmd("QUIT")
    return rr, data


def swaks_code(s, sender, rcpt="bob@example.net"):
    """The final reply code swaks saw for one message."""
    r = swaks(s.port, "--from", sender, "--to", rcpt, "--helo", "client.test")
    replies = swaks_replies(r.stdout)
    # the reply after DATA's 354 (or the first refusal)
    for i, (code, _) in enumerate(replies):
        if code == 354:
            return replies[i + 1][0]
    return [c for c, _ in replies if c >= 400][0]


def test_reject_quota_counts_each_sender_and_resets(sluice):
    s = sluice(extra=quota(period="6s", limit="messages 3", verdict="reject"))
    end = window_start(6, need=4)
    codes = [swaks_code(s, "alice@example.com") for _ in range(5)]
    other = swaks_code(s, "carol@example.com")
    assert time.time() < end, "the sends crossed a window boundary"
    assert codes == [250, 250, 250, 550, 550], codes
    assert other == 250
    s.wait_log(r"event=quota policy=outbound quota_name=per-user "
               r"track=Sender:user@domain key=alice@example.com "
               r"from=<alice@example.com> unit=messages "
               r"quota=3\.00/3 \(100\.0%\) verdict=within")
    s.wait_log(r"quota=4\.00/3 \(133\.3%\) verdict=reject")
    s.wait_log(r"event=reject stage=data .*from=<alice@example.com>.*"
               r"550 5\.7\.1 Quota exceeded \(outbound/per-user\)")
    status = json.loads(s.ctl_ok("status", "--json").stdout)
    assert status["policy_refusals"] == 2, status
    # the next window has room again
    time.sleep(max(0, end - time.time()) + 0.05)
    assert swaks_code(s, "alice@example.com") == 250
    msgs = s.queue_json()
    assert sorted(m["sender"] for m in msgs) == \
        ["alice@example.com"] * 4 + ["carol@example.com"]


def second_over(s, verdict):
    """Two messages from one sender under limit 1: the second's reply."""
    window_start(30, need=5)
    rr, first = send(s, "alice@example.com")
    assert first.code == 250, first
    rr, second = send(s, "alice@example.com")
    return second


def test_tempfail_quota(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1",
                           verdict="tempfail"))
    r = second_over(s, "tempfail")
    assert (r.code, r.enhanced) == (451, "4.7.1"), r
    assert len(s.queue_json()) == 1


def test_hold_quota_parks_the_message(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1", verdict="hold"))
    r = second_over(s, "hold")
    assert r.code == 250 and r.queue_id, r
    held = s.queue_json("--state", "hold")
    assert [m["id"] for m in held] == [r.queue_id], held
    det = s.show(r.queue_id)
    assert [x["state"] for x in det["recipients"]] == ["hold"]
    s.wait_log(r"queue_id=%s event=quota .*verdict=hold" % r.queue_id)


def test_discard_quota_drops_with_a_log_line(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1",
                           verdict="discard"))
    r = second_over(s, "discard")
    assert r.code == 250 and r.queue_id, r
    s.wait_log(r"queue_id=%s event=discarded from=<alice@example.com> "
               r"to=<bob@example.net> reason=\"quota\"" % r.queue_id)
    assert r.queue_id not in [m["id"] for m in s.queue_json()]
    assert len(s.queue_json()) == 1


def test_pass_quota_accepts_and_logs_over(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1", verdict="pass"))
    r = second_over(s, "pass")
    assert r.code == 250 and r.queue_id, r
    s.wait_log(r"queue_id=%s event=quota .*quota=2\.00/1 \(200\.0%%\) "
               r"verdict=pass" % r.queue_id)
    assert r.queue_id in [m["id"] for m in s.queue_json()]


def test_defer_quota_stores_the_release_time(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1", verdict="defer"))
    r = second_over(s, "defer")
    assert r.code == 250 and r.queue_id, r
    det = s.show(r.queue_id)
    rc = det["recipients"][0]
    assert rc["state"] == "deferred", det
    release = s.wait_log(r"queue_id=%s event=quota .*verdict=defer "
                         r"release=(\S+)" % r.queue_id)
    due = calendar.timegm(time.strptime(release.group(1),
                                        "%Y-%m-%dT%H:%M:%SZ"))
    assert due % 30 == 0 and 0 < due - time.time() <= 30, due
    deferred = s.queue_json("--state", "deferred")
    assert [m["id"] for m in deferred] == [r.queue_id]


def test_recipients_and_size_limits(sluice):
    s = sluice(extra=quota(period="30s", limit="recipients 3",
                           verdict="reject",
                           more="limit size 5K"))
    window_start(30, need=5)
    rr, d = send(s, "alice@example.com", ["a@x.test", "b@x.test"])
    assert d.code == 250, d
    rr, d = send(s, "alice@example.com", ["c@x.test", "d@x.test"])
    assert d.code == 550, "3 recipients of 3 used, 2 more: %s" % d
    rr, d = send(s, "alice@example.com", ["c@x.test"])
    assert d.code == 250, d
    rr, d = send(s, "bob@example.com", ["c@x.test"], body="x" * 6000)
    assert (d.code, d.enhanced) == (552, "5.3.4"), d
    assert "can never be sent" in d.text, d


def test_counters_survive_a_restart(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 2", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 250
    s.restart()
    s.wait_log(r"event=policies-loaded policies=1 groups=0 quotas=1 "
               r"counters=1")
    r = send(s, "alice@example.com")[1]
    assert r.code == 550, r
    assert send(s, "bob@example.com")[1].code == 250


def test_counters_survive_sigkill(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 2", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 250
    s.kill()
    s.start()
    assert send(s, "alice@example.com")[1].code == 550


ACCESS = """
group blocked { @blocked.test }
policy deny priority 5 {
    recipient %blocked
    access reject reply "Mail to this domain is not allowed"
}
policy vip priority 6 {
    sender ceo@example.com
    access ok
}
policy quarantine priority 7 {
    recipient @quarantine.test
    access hold
}
""" + quota(period="1h", limit="messages 1", verdict="reject")


def test_access_rules_at_rcpt(sluice):
    s = sluice(extra=ACCESS)
    window_start(3600, need=60)
    rr, d = send(s, "user@example.com", ["x@blocked.test", "y@fine.test"])
    assert (rr[0].code, rr[0].enhanced) == (550, "5.7.1"), rr[0]
    assert "Mail to this domain is not allowed" in rr[0].text
    assert rr[1].code == 250 and d.code == 250, (rr, d)
    s.wait_log(r"event=access policy=deny from=<user@example.com> "
               r"to=<x@blocked.test> verdict=reject")
    # access ok: no quota counts the ceo, however much mail
    for _ in range(3):
        assert send(s, "ceo@example.com")[1].code == 250
    # access hold: the recipient waits in the hold state
    rr, d = send(s, "other@example.com", ["z@quarantine.test"])
    assert d.code == 250
    det = s.show(d.queue_id)
    assert [x["state"] for x in det["recipients"]] == ["hold"]


def test_sasl_login_from_a_trusted_peers_header(sluice):
    extra = quota(track="SASLUsername", period="1h", limit="messages 1",
                  verdict="reject")
    s = sluice(extra=extra)
    window_start(3600, need=60)
    hdr = ["Received: from client (client [192.0.2.9])\r\n"
           "\t(Authenticated sender: alice)\r\n"
           "\tby mta1.test (Postfix) with ESMTPSA id 4X; now"]
    # two different envelope senders, one login: the second is over
    assert send(s, "a1@example.com", headers=hdr)[1].code == 250
    r = send(s, "a2@example.com", headers=hdr)[1]
    assert r.code == 550, r
    # X-Authenticated-User names a login too
    xau = ["X-Authenticated-User: bob"]
    assert send(s, "b1@example.com", headers=xau)[1].code == 250
    assert send(s, "b2@example.com", headers=xau)[1].code == 550
    # no login: the quota does not apply
    assert send(s, "c@example.com")[1].code == 250
    assert send(s, "c@example.com")[1].code == 250
    msgs = {m["sender"]: m["id"] for m in s.queue_json()}
    assert s.show(msgs["a1@example.com"])["sasl_user"] == "alice"


def test_login_found_past_a_content_filter_but_not_past_a_stranger(sluice):
    """mta1 with a content filter (amavis on Zimbra): the newest Received
    header is the filter's re-injection from a trusted address, the login
    is one header further down.  A header below a hop from an untrusted
    address is the client's own text, and is not believed."""
    extra = quota(track="SASLUsername", period="1h", limit="messages 1",
                  verdict="reject")
    s = sluice(extra=extra)
    window_start(3600, need=60)
    filtered = ["Received: from mta1.test (localhost [127.0.0.1])\r\n"
                "\tby mta1.test (Postfix) with ESMTP id 5A; now",
                "Received: from client (client [192.0.2.9])\r\n"
                "\t(Authenticated sender: alice)\r\n"
                "\tby mta1.test (Postfix) with ESMTPSA id 4X; now"]
    assert send(s, "a1@example.com", headers=filtered)[1].code == 250
    assert send(s, "a2@example.com", headers=filtered)[1].code == 550
    forged = ["Received: from client (client [192.0.2.9])\r\n"
              "\tby mta1.test (Postfix) with ESMTP id 6B; now",
              "Received: from x (x [192.0.2.10])\r\n"
              "\t(Authenticated sender: bob)\r\n\tby y; now"]
    r1 = send(s, "f1@example.com", headers=forged)[1]
    r2 = send(s, "f2@example.com", headers=forged)[1]
    assert (r1.code, r2.code) == (250, 250), (r1, r2)
    assert s.show(r1.queue_id)["sasl_user"] is None


def test_untrusted_peer_cannot_claim_a_login(sluice):
    extra = quota(track="SASLUsername", period="1h", limit="messages 1",
                  verdict="reject")
    s = sluice(extra=extra, trusted="192.0.2.1/32",
               relay_domains="example.net")
    window_start(3600, need=60)
    xau = ["X-Authenticated-User: mallory"]
    assert send(s, "m1@example.com", headers=xau)[1].code == 250
    assert send(s, "m2@example.com", headers=xau)[1].code == 250


def test_reload_keeps_counters_and_applies_new_limits(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 2", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    text = s.conf.read_text()
    s.conf.write_text(text.replace("limit messages 2", "limit messages 3"))
    s.ctl_ok("reload")
    s.wait_log(r"event=policies-loaded policies=1 groups=0 quotas=1 "
               r"counters=1")
    # the two counted before the reload still count: one more, then no
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    # a quota renamed is a new counter
    s.conf.write_text(s.conf.read_text().replace("quota per-user",
                                                 "quota per-sender"))
    s.ctl_ok("reload")
    assert send(s, "alice@example.com")[1].code == 250


def test_max_defer_past_the_backlog_warns_and_refuses(sluice):
    """A max-defer shorter than the period is a warning (log, sluicectl
    check); mail that would wait past it gets when-full's answer at end
    of DATA instead of a bounce days later."""
    s = sluice(extra=quota(period="30s", limit="messages 1", verdict="defer",
                           more="max-defer 20s when-full reject"))
    s.wait_log(r"event=config-warning line=\d+ reason=\"quota "
               r"outbound/per-user: max-defer 20s is shorter than its "
               r"period \(30s\): mail that would wait longer is refused "
               r"\(when-full\) instead")
    r = s.ctl("check")
    assert r.returncode == 0 and b": warning: quota outbound/per-user: " \
        b"max-defer 20s is shorter than its period (30s)" in r.stderr, r
    window_start(30, need=25)
    assert send(s, "alice@example.com")[1].code == 250
    r = send(s, "alice@example.com")[1]
    assert (r.code, r.enhanced) == (550, "5.7.1"), r
    assert "would wait longer than its max-defer (20s)" in r.text, r


def test_backlog_full_gets_the_when_full_answer(sluice):
    s = sluice(extra=quota(period="30s", limit="messages 1", verdict="defer",
                           more="backlog 2 when-full reject"))
    window_start(30, need=5)
    codes = [send(s, "alice@example.com")[1] for _ in range(4)]
    assert [r.code for r in codes] == [250, 250, 250, 550], codes
    assert "Too much mail waiting for quota outbound/per-user (backlog 2)" \
        in codes[3].text
    s.wait_log(r"event=quota .*key=alice@example.com .*"
               r"verdict=backlog-full-reject")
    assert len(s.queue_json("--state", "deferred")) == 2
    # another sender is not behind alice's backlog
    assert send(s, "bob@example.com")[1].code == 250


def test_rule_on_sasl_waits_for_the_login_of_a_trusted_peer(sluice):
    """`sasl -` (no login) cannot be decided at RCPT for mail from mta1:
    the login is in the header.  The end of DATA decides."""
    s = sluice(extra="""
policy anon priority 5 {
    sasl -
    recipient @restricted.test
    access reject reply "login required"
}
""")
    rr, d = send(s, "m@example.com", ["x@restricted.test"],
                 headers=["X-Authenticated-User: mary"])
    assert rr[0].code == 250 and d.code == 250, (rr, d)
    assert s.show(d.queue_id)["sasl_user"] == "mary"
    rr, d = send(s, "n@example.com", ["x@restricted.test"])
    assert rr[0].code == 250, rr
    assert (d.code, d.enhanced) == (550, "5.7.1") and \
        "login required" in d.text, d
    # explain agrees with both
    ok = json.loads(s.ctl_ok("explain", "--sender", "m@example.com",
                             "--recipient", "x@restricted.test", "--sasl",
                             "mary", "--json").stdout)
    assert ok["recipients"][0]["access"] is None, ok
    no = json.loads(s.ctl_ok("explain", "--sender", "n@example.com",
                             "--recipient", "x@restricted.test",
                             "--json").stdout)
    assert no["recipients"][0]["access"]["verdict"] == "reject", no
