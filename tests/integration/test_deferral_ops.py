"""Issue 5, the rest of deferral: one message split by recipients across
windows, `release smooth`, hold and release (through the quota again, or
bypassing it with --now), what `queue delete` gives back, max-defer's bounce
and tell-sender's delay notice.

Windows are aligned to the Unix epoch (window number = floor(t / period));
a test that must start early in a window waits for one to begin (the clock
is the event awaited, as in test_policy.py).  The sink's Message.wall is its
time.time() at the end of DATA.
"""
import calendar
import collections
import email
import json
import re
import signal
import time

from harness import deliver_to, wait_for
from smtpwire import build_message
from test_policy import quota, send, window_start

SENDER = "alice@example.com"


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def queue_id(data_reply):
    m = re.search(r"queued as (\w+)", data_reply.text)
    assert m, data_reply
    return m.group(1)


def sent(s, sender=SENDER, rcpts=("bob@example.net",)):
    rr, d = send(s, sender, rcpts)
    assert d.code == 250, d
    return queue_id(d)


def test_one_message_to_500_recipients_leaves_100_per_window(sluice, sink):
    """One message, 500 recipients, `limit recipients 100` per 3 s: every
    recipient gets it once, 100 per window over five windows, in the order
    they were given (RCPT order)."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               limits={"recipients": 1000},
               extra=quota(period="3s", limit="recipients 100",
                           verdict="defer"))
    rcpts = ["r%03d@example.net" % i for i in range(500)]
    # a To: naming 500 addresses would be one line over 998 octets
    msg = build_message("split@test", SENDER, ["list@example.net"], "split",
                        ["to 500"])
    window_start(3, need=2)
    with s.smtp() as c:
        c.ehlo("client.test")
        _, rr, d = c.transaction(SENDER, rcpts, msg)
        c.cmd("QUIT")
    assert d.code == 250, d
    assert all(r.code == 250 for r in rr)
    qid = queue_id(d)
    s.wait_log(r"queue_id=%s event=quota .*verdict=defer release=\S+ "
               r"last_release=\S+ deferred=400" % qid)
    snk.wait_until(lambda k: sum(len(m.rcpt_tos) for m in k.messages) >= 500,
                   timeout=25, what="500 recipients delivered")
    got = [(m.wall, r) for m in snk.messages for r in m.rcpt_tos]
    assert sorted(r for _, r in got) == rcpts, "each recipient exactly once"
    per = collections.Counter(int(t // 3) for t, _ in got)
    assert max(per.values()) <= 100, per
    windows = sorted(per)
    assert windows[-1] - windows[0] == 4, per
    assert [per[w] for w in windows] == [100] * 5, per
    order = [r for _, r in sorted(got, key=lambda x: (int(x[0] // 3),
                                                       rcpts.index(x[1])))]
    by_window = [sorted(r for t, r in got if int(t // 3) == w)
                 for w in windows]
    assert by_window == [rcpts[i * 100:(i + 1) * 100] for i in range(5)], \
        "portions leave in RCPT order"
    assert order == rcpts
    wait_for(lambda: s.queue_json() == [], 10, "the queue empties")


def test_release_smooth_spreads_a_window(sluice, sink):
    """`release smooth`, 3 messages per 6 s: the 3 over the limit leave in
    the next window 2 s apart, not all at its start."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="6s", limit="messages 3", verdict="defer",
                           more="release smooth"))
    end = window_start(6, need=3)
    for _ in range(6):
        sent(s)
    snk.wait(6, timeout=20)
    late = sorted(m.wall for m in snk.messages if m.wall >= end)
    assert len(late) == 3, [m.wall for m in snk.messages]
    gaps = [b - a for a, b in zip(late, late[1:])]
    # due times are whole seconds: end, end + 2, end + 4
    assert all(1.5 <= g <= 2.6 for g in gaps), gaps
    assert late[0] - end < 1.0, late[0] - end
    assert late[-1] < end + 6


def test_hold_then_release_through_the_quota_or_now(sluice, sink):
    """`verdict hold`: the message over the limit is parked; `queue release`
    sends it through its quota again (still over: it stays held, and says
    why); `queue release --now` sends it bypassing the quota, and the log and
    `queue show` (while it waits for the next hop) say so."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="60s", limit="messages 1", verdict="hold"))
    window_start(60, need=20)
    first = sent(s)
    snk.wait(1, timeout=10)
    held = sent(s)
    assert [m["id"] for m in s.queue_json("--state", "hold")] == [held]
    shown = s.ctl_ok("queue", "show", held).stdout.decode()
    assert "held by quota outbound/per-user key alice@example.com" in shown, \
        shown
    r = s.ctl("queue", "release", held)
    assert r.returncode == 0, r
    assert r.stdout.decode() == "%s: still held: quota outbound/per-user " \
        "(key alice@example.com) is over: verdict hold\n" % held, r
    s.wait_log(r"queue_id=%s event=still-held by=admin-api" % held)
    assert s.show(held)["recipients"][0]["state"] == "hold"
    r = s.ctl("queue", "release", "--now", held)
    assert r.returncode == 0, r
    s.wait_log(r"queue_id=%s event=quota .*verdict=bypass by=admin" % held)
    s.wait_log(r"queue_id=%s event=released by=admin-api recipients=1 "
               r"deferred=0 bypass=yes" % held)
    snk.wait(2, timeout=10)
    assert first != held


def test_release_of_a_held_message_can_defer_it(sluice, sink):
    """`when-full hold` parks what is past the backlog; released while the
    backlog is still full it stays held and says why; once the deferred
    one is deleted (its window given back), released it is deferred to
    that window, not sent at once."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="30s", limit="messages 1", verdict="defer",
                           more="backlog 1 when-full hold"))
    end = window_start(30, need=10)
    sent(s)
    deferred = sent(s)
    held = sent(s)
    assert s.show(deferred)["recipients"][0]["state"] == "deferred"
    assert s.show(held)["recipients"][0]["state"] == "hold"
    r = s.ctl("queue", "release", held)
    assert r.returncode == 0, r
    s.wait_log(r"queue_id=%s event=still-held by=admin-api reason=\"quota "
               r"outbound/per-user \(key alice@example.com\) is over and "
               r"its backlog is full: verdict hold\"" % held)
    assert s.ctl("queue", "delete", deferred).returncode == 0
    r = s.ctl("queue", "release", held)
    assert r.returncode == 0, r
    s.wait_log(r"queue_id=%s event=released by=admin-api recipients=1 "
               r"deferred=1" % held)
    rc = s.show(held)["recipients"][0]
    assert rc["state"] == "deferred", rc
    assert epoch(rc["due"]) == end, (rc, end)
    snk.wait(2, timeout=40)
    assert snk.messages[1].wall >= end


def test_delete_gives_the_window_back(sluice, sink):
    """Deleting deferred mail frees what it reserved: the next message takes
    its place instead of queueing behind it."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="20s", limit="messages 1", verdict="defer"))
    end = window_start(20, need=8)
    sent(s)
    a = sent(s)
    b = sent(s)
    assert epoch(s.show(a)["recipients"][0]["due"]) == end
    assert epoch(s.show(b)["recipients"][0]["due"]) == end + 20
    # sluicectl quota: two waiting, of a backlog of 10 (10 x the limit)
    q, = json.loads(s.ctl_ok("quota", "--json").stdout)["quotas"]
    assert (q["key"], q["backlog"], q["backlog_max"]) == \
        ("alice@example.com", 2, 10), q
    table = s.ctl_ok("quota").stdout.decode().splitlines()
    assert table[1].split()[-1] == "2/10", table
    r = s.ctl("queue", "delete", a)
    assert r.returncode == 0, r
    c = sent(s)
    assert epoch(s.show(c)["recipients"][0]["due"]) == end, \
        "the deleted message's window is free again"
    r = s.ctl("queue", "delete", "--sender", SENDER)
    assert r.returncode == 0, r
    d = sent(s)
    assert epoch(s.show(d)["recipients"][0]["due"]) == end


def dsn_of(m):
    msg = email.message_from_bytes(m.content)
    parts = {p.get_content_type(): p for p in msg.walk()}
    return msg, parts


def test_max_defer_bounces_naming_the_quota(sluice, sink):
    """max-defer 25s under 1 per 10 s: accepted mail is due within it (the
    next two windows), but sluiced is down while the first of them passes.
    At start-up that one is placed again through its quota: the current
    window is taken, the next is past its max-defer, so it bounces with a
    DSN (5.4.7) that names the quota; the other leaves in its window."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="10s", limit="messages 1", verdict="defer",
                           more="max-defer 25s"))
    end = window_start(10, need=9)
    sent(s)
    t0 = time.time()
    late = sent(s)
    kept = sent(s)
    assert epoch(s.show(late)["recipients"][0]["due"]) == end
    assert epoch(s.show(kept)["recipients"][0]["due"]) == end + 10
    snk.wait(1, timeout=10)
    assert s.kill(signal.SIGTERM) == 0
    # the clock is the event: the first window passes, then its max-defer
    time.sleep(max(0.0, t0 + 25.5 - time.time()))
    assert time.time() < end + 20, "restarted too late for this test"
    s.start()
    s.wait_log(r"event=deferral-resumed late=1 messages=1 placed=1 "
               r"deferred=1")
    snk.wait(3, timeout=15)
    bounce = [m for m in snk.messages if m.mail_from in ("", "<>")]
    assert len(bounce) == 1 and bounce[0].rcpt_tos == [SENDER], snk.messages
    msg, parts = dsn_of(bounce[0])
    status = parts["message/delivery-status"].as_string()
    assert "Action: failed" in status and "5.4.7" in status, status
    assert "outbound/per-user" in msg.as_string(), msg.as_string()[:2000]
    s.wait_log(r"queue_id=%s event=delivery to=<bob@example.net> relay=none "
               r".*dsn=5\.4\.7 status=bounced reply=\"waited \d+s "
               r"\(max-defer\) for quota outbound/per-user "
               r"\(key alice@example.com\)" % late)
    real = [m for m in snk.messages if m.mail_from == SENDER]
    assert len(real) == 2 and end + 10 <= real[1].wall < end + 20, \
        [m.wall - end for m in real]
    wait_for(lambda: s.queue_json() == [], 10, "the queue empties")


def test_restart_after_windows_passed_keeps_the_limit(sluice, sink):
    """sluiced down while two windows of a backlog pass: at start-up the
    mail of the passed windows is placed again, so it does not all leave
    at once: still at most 1 per window (the trial saw 6 in one)."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="4s", limit="messages 1", verdict="defer"))
    end = window_start(4, need=3)
    ids = [sent(s) for _ in range(5)]
    snk.wait(1, timeout=10)
    assert s.kill(signal.SIGTERM) == 0
    time.sleep(max(0.0, end + 8.5 - time.time()))	# two windows pass
    s.start()
    s.wait_log(r"event=deferral-resumed late=2 messages=2 placed=2 "
               r"deferred=")
    snk.wait(5, timeout=30)
    per = collections.Counter(int(m.wall // 4) for m in snk.messages)
    assert max(per.values()) == 1, sorted(per.items())
    assert len(snk.messages) == 5 and len(ids) == 5


def test_tell_sender_delay_notice(sluice, sink):
    """tell-sender delay: the sender of deferred mail gets a delay notice
    (RFC 3464 action=delayed) at once, saying when it is expected to leave;
    the mail itself leaves then."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=quota(period="6s", limit="messages 1", verdict="defer",
                           more="tell-sender delay"))
    end = window_start(6, need=3)
    sent(s)
    late = sent(s)
    snk.wait(2, timeout=5)
    notice = [m for m in snk.messages if m.mail_from in ("", "<>")]
    assert len(notice) == 1 and notice[0].rcpt_tos == [SENDER], snk.messages
    assert notice[0].wall < end, "the notice comes at once"
    msg, parts = dsn_of(notice[0])
    status = parts["message/delivery-status"].as_string()
    assert "Action: delayed" in status, status
    m = re.search(r"X-Sluice-Expected-Release: (.+)", status)
    assert m, status
    expected = email.utils.parsedate_to_datetime(m.group(1)).timestamp()
    assert expected == end, (m.group(1), end)
    assert "Delayed Mail" in msg["Subject"], msg["Subject"]
    s.wait_log(r"queue_id=%s event=delay-notice notification=\w+ "
               r"to=<%s>" % (late, SENDER))
    snk.wait(3, timeout=10)
    real = [m for m in snk.messages if m.mail_from == SENDER]
    assert len(real) == 2 and real[1].wall >= end
