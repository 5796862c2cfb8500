"""Issue 6, quota alerts: `notify 50% 100% to NOTIFIER...` against the real
daemon, with a recording webhook receiver (webhook.py) and the SMTP sink
for the mail notifier.

What an administrator relies on: one alert per quota, key, window and
threshold (the highest one when a message reaches several at once), every
documented field of the webhook body right and signed, alerts that survive
a receiver that is down or failing and a restart of sluiced, each delivered
once; a 4xx drops an alert at once and `sluicectl status` says so; the mail
alert is exempt from every quota and a hostile sender address cannot add a
header to it or a recipient; `sluicectl notify test`; and a burst of 1,000
alerts does not hold up SMTP.

Events are awaited (a log line, a request at the receiver, a message at the
sink); where a test must show that something did NOT happen, it asks the
daemon (`status --json`: outbox, in flight, sent) after the cause was
committed, instead of waiting a while.  Windows are aligned to the epoch:
a test that counts within one window waits for one to begin
(window_start, the clock is the event), the others use one message per key
under `limit messages 1`, which no window boundary can split.
"""
import calendar
import collections
import hashlib
import hmac
import json
import os
import re
import signal
import shlex
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import pytest

from harness import ROOT, chown_user, deliver_to
from smtpwire import build_message
from test_policy import window_start
from webhook import receiver  # noqa: F401  (the fixture)

SECRET = b"s3cret-hook-key"
HOSTNAME = "sluice.test"       # the harness's hostname
ALICE = "alice@example.com"
FIELDS = ["event", "threshold", "policy", "quota", "key", "used", "limit",
          "unit", "period", "window_start", "window_end", "deferred",
          "next_release", "hostname", "time"]
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- configuration -------------------------------------------------------

def secret_file(workdir):
    """The webhook secret as an administrator writes it: a line, mode 600,
    owned by the user sluiced runs as."""
    p = Path(workdir) / "hook.secret"
    p.write_bytes(SECRET + b"\n")
    os.chmod(p, 0o600)
    chown_user(p)
    return p


def config(workdir, rcv=None, *, secret=True, hook_opts="", mail=None,
           mail_opts="", period="1h", limit="messages 1", notify="100%",
           to="ops", verdict="defer", more=""):
    """Notifiers (ops: a webhook to rcv; admin: mail to `mail`) and one
    policy whose quota per-user notifies `to`."""
    lines = []
    if rcv is not None:
        sec = " secret-file %s" % secret_file(workdir) if secret else ""
        lines.append("notifier ops { webhook %s%s %s }" % (rcv.url(), sec, hook_opts))
    if mail:
        lines.append("notifier admin { mail %s %s }" % (mail, mail_opts))
    lines.append("""
policy outbound priority 10 {
    sender any
    quota per-user {
        track Sender:user@domain
        period %s
        limit %s
        verdict %s
        notify %s to %s
    }
    %s
}
""" % (period, limit, verdict, notify, to, more))
    return "\n".join(lines)


# -- helpers -------------------------------------------------------------

def rfc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def epoch(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def sent(s, sender=ALICE, rcpts=("bob@example.net",), params=""):
    """One message over its own session; returns its queue id."""
    msg = build_message("n%f@test" % time.time(), sender, list(rcpts), "q",
                        ["hello"])
    with s.smtp() as c:
        c.ehlo("client.test")
        qid = c.send_mail(sender, list(rcpts), msg, params)
        c.cmd("QUIT")
    return qid


def status(s):
    return json.loads(s.ctl_ok("status", "--json").stdout)


def notifier(s, name="ops"):
    st = status(s)
    assert isinstance(st.get("notifiers"), list), st
    found = [n for n in st["notifiers"] if n.get("name") == name]
    assert len(found) == 1, st["notifiers"]
    return found[0]


def status_line(s, name="ops"):
    out = s.ctl_ok("status").stdout.decode()
    found = [l for l in out.splitlines() if l.startswith("notifier %s:" % name)]
    assert len(found) == 1, out
    return found[0]


def settled(s, name="ops"):
    """The notifier's figures once nothing waits or is in flight: what a
    webhook could still receive is then nothing."""
    n = notifier(s, name)
    assert (n["outbox"], n["in_flight"]) == (0, 0), n
    return n


def wait_logs(s, regex, n, timeout=10, since=0):
    """Blocks until the current run logged n lines matching regex at or
    after index since (on the log collector's condition); returns them."""
    rx = re.compile(regex)
    lc = s.logs
    st = {"i": since, "got": []}

    def enough():
        while st["i"] < len(lc.lines):
            line = lc.lines[st["i"]]
            st["i"] += 1
            if rx.search(line):
                st["got"].append(line)
        return len(st["got"]) >= n or lc.eof

    with lc.cond:
        lc.cond.wait_for(enough, timeout)
    assert len(st["got"]) >= n, "%d of %d log lines /%s/ in %ss; tail:\n%s" % (
        len(st["got"]), n, regex, timeout, lc.tail())
    return st["got"]


def outbox_rows(s):
    """(notifier, payload) of the outbox table in the state directory's
    queue.db, read-only (sluiced stopped: its files stay its own)."""
    db = s.state_dir / "queue.db"
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return [(n, bytes(p)) for n, p in
                con.execute("SELECT notifier, payload FROM outbox ORDER BY id")]
    finally:
        con.close()


def event_of(req, secret=SECRET, test=False):
    """Checks what every webhook request must be (method, path, headers,
    signature, the body's keys in their order, their formats) and returns
    the body as a dict."""
    assert req.method == "POST" and req.path == "/hook", req
    assert req.headers.get_all("Content-Type") == ["application/json"], \
        req.headers.items()
    assert req.headers.get_all("X-Sluice-Event") == ["quota.threshold"], \
        req.headers.items()
    sig = req.headers.get_all("X-Sluice-Signature") or []
    if secret is None:
        assert sig == [], dict(req.headers)
    else:
        want = "sha256=" + hmac.new(secret, req.body, hashlib.sha256).hexdigest()
        assert sig == [want], "signature %r, HMAC of the body %r" % (sig, want)
    pairs = req.json_pairs()
    assert [k for k, _ in pairs] == FIELDS + (["test"] if test else []), pairs
    ev = dict(pairs)
    assert ev["event"] == "quota.threshold", ev
    assert type(ev["threshold"]) is int, ev
    for k in ("window_start", "window_end", "time"):
        assert RFC3339.match(ev[k]), (k, ev)
    assert ev["next_release"] is None or RFC3339.match(ev["next_release"]), ev
    assert ev["hostname"] == HOSTNAME, ev
    # when it happened: before the request (long before, for a retry);
    # a sample is made when asked for
    t = epoch(ev["time"])
    assert t <= req.wall + 1 and (not test or t >= req.wall - 3), \
        (ev["time"], rfc(req.wall))
    if test:
        assert ev["test"] is True, ev
    return ev


def sub(ev, *keys):
    return {k: ev[k] for k in keys}


def unique_events(reqs):
    seen = collections.Counter((e["policy"], e["quota"], e["key"], e["window_start"],
                                e["threshold"]) for e in (r.json() for r in reqs))
    dup = {k: n for k, n in seen.items() if n > 1}
    assert not dup, "an alert was sent twice: %r" % dup
    return seen


# -- 1. thresholds, once per window ------------------------------------------

def test_50_then_100_percent_once_per_window(sluice, receiver, workdir):
    """A 10-message quota over 8 s, one sender, one message at a time: the
    5th gives the 50 % alert, the 10th the 100 % alert, every field right
    and signed; the 11th (deferred) nothing; in the next window, 50 % again
    once the window holds 5 (the deferred one and 4 new)."""
    rcv = receiver()
    s = sluice(extra=config(workdir, rcv, period="8s", limit="messages 10",
                            notify="50% 100%"))
    end = window_start(8, need=6)
    start = end - 8
    for _ in range(4):
        sent(s)
    n = notifier(s)
    assert (n["outbox"], n["in_flight"], n["sent"]) == (0, 0, 0), \
        "an alert below 50%%: %r" % n
    mark = s.log_mark()
    q5 = sent(s)
    r1, = rcv.wait(1, 10)
    e1 = event_of(r1)
    assert e1 == dict(e1, **{
        "threshold": 50, "policy": "outbound", "quota": "per-user", "key": ALICE,
        "used": 5, "limit": 10, "unit": "messages", "period": "8s",
        "window_start": rfc(start), "window_end": rfc(end), "deferred": 0,
        "next_release": None}), e1
    assert type(e1["used"]) is int and type(e1["limit"]) is int, e1
    s.wait_log(r"queue_id=%s event=notify quota=outbound/per-user "
               r"key=alice@example\.com threshold=50 used=5 limit=10 "
               r"unit=messages deferred=0 notifiers=ops$" % q5, since=mark)
    s.wait_log(r"event=notify-sent notifier=ops outbox_id=\d+ status=200 "
               r"attempts=1 delay=\S+", since=mark)
    for _ in range(4):
        sent(s)
    n = notifier(s)
    assert n["sent"] + n["outbox"] == 1, "another alert from 6..9: %r" % n
    mark = s.log_mark()
    q10 = sent(s)
    rcv.wait(2, 10)
    e2 = event_of(rcv.requests[1])
    assert sub(e2, "threshold", "key", "used", "limit", "deferred",
               "next_release", "window_start", "window_end") == {
        "threshold": 100, "key": ALICE, "used": 10, "limit": 10, "deferred": 0,
        "next_release": None, "window_start": rfc(start),
        "window_end": rfc(end)}, e2
    s.wait_log(r"queue_id=%s event=notify .*threshold=100 used=10 limit=10 "
               r"unit=messages deferred=0 notifiers=ops$" % q10, since=mark)
    s.wait_log(r"event=notify-sent notifier=ops ", since=mark)
    # the 11th: deferred, nothing new in this window
    q11 = sent(s)
    s.wait_log(r"queue_id=%s event=quota .*verdict=defer" % q11)
    assert time.time() < end, "the test crossed its window"
    n = settled(s)
    assert n["sent"] == 2, n
    assert len(rcv.requests) == 2, rcv.requests
    assert not [l for l in s.lines if re.search(r"queue_id=%s event=notify\b" % q11, l)]
    # the next window: it holds the deferred one; 4 more make 5 = 50 %
    time.sleep(max(0.0, end - time.time()) + 0.05)
    for _ in range(4):
        q = sent(s)
    rcv.wait(3, 10)
    e3 = event_of(rcv.requests[2])
    assert sub(e3, "threshold", "used", "deferred", "window_start",
               "window_end") == {
        "threshold": 50, "used": 5, "deferred": 0, "window_start": rfc(end),
        "window_end": rfc(end + 8)}, e3
    s.wait_log(r"queue_id=%s event=notify .*threshold=50 used=5 " % q)
    assert time.time() < end + 8, "the test crossed its second window"
    settled(s)
    assert len(rcv.requests) == 3
    unique_events(rcv.requests)


# -- 2. the 100 % alert and the backlog ----------------------------------

def test_100_percent_alert_tells_the_backlog(sluice, receiver, workdir):
    """One message to 15 recipients under `limit recipients 10`: 10 leave in
    this window, 5 wait for the next: ONE alert (100 %, not 50 % too) that
    says used 10, deferred 5 and when they leave.  Then a sender who sends
    15 messages one at a time: 50 % at the 5th, 100 % at the 10th, when
    nothing waits yet (deferred 0), nothing for the 5 deferred after it."""
    rcv = receiver()
    s = sluice(limits={"recipients": 100},
               extra=config(workdir, rcv, period="1h", limit="recipients 10",
                            notify="50% 100%"))
    end = window_start(3600, need=20)
    mark = s.log_mark()
    qid = sent(s, rcpts=["r%02d@example.net" % i for i in range(15)])
    r, = rcv.wait(1, 10)
    e = event_of(r)
    assert sub(e, "threshold", "key", "used", "limit", "unit", "period",
               "deferred", "next_release", "window_start", "window_end") == {
        "threshold": 100, "key": ALICE, "used": 10, "limit": 10,
        "unit": "recipients", "period": "1h", "deferred": 5,
        "next_release": rfc(end), "window_start": rfc(end - 3600),
        "window_end": rfc(end)}, e
    s.wait_log(r"queue_id=%s event=notify quota=outbound/per-user "
               r"key=alice@example\.com threshold=100 used=10 limit=10 "
               r"unit=recipients deferred=5 notifiers=ops$" % qid, since=mark)
    s.wait_log(r"event=notify-sent notifier=ops ", since=mark)
    assert settled(s)["sent"] == 1
    assert len(rcv.requests) == 1, "50%% and 100%% for one message: %r" % rcv.events()

    bob = "bob@example.com"
    for _ in range(15):
        sent(s, bob)
    rcv.wait(3, 10)
    wait_logs(s, r"event=notify-sent notifier=ops ", 3, since=mark)
    assert settled(s)["sent"] == 3
    got = [event_of(x) for x in rcv.requests[1:]]
    assert [(x["key"], x["threshold"], x["used"], x["deferred"]) for x in got] == \
        [(bob, 50, 5, 0), (bob, 100, 10, 0)], got
    assert len(rcv.requests) == 3
    unique_events(rcv.requests)


# -- 3. the receiver down, then up -------------------------------------------

def test_receiver_down_then_up(sluice, receiver, workdir):
    rcv = receiver()
    rcv.stop()
    s = sluice(extra=config(workdir, rcv))
    mark = s.log_mark()
    sent(s, ALICE)
    sent(s, "bob@example.com")
    # the log names the alert: an admin sees whose alert waits
    s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=1 '
               r'error="[^"]*refused[^"]*" retry_in=1 quota=outbound/per-user '
               r'key=\S+ threshold=\d+', since=mark)
    s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=2 '
               r'error="[^"]*" retry_in=2\b', timeout=5, since=mark)
    n = notifier(s)
    assert (n["outbox"], n["sent"], n["dropped"]) == (2, 0, 0), n
    assert n["last_error"] and n["last_error_at"] and n["next_try"], n
    line = status_line(s)
    assert re.match(r"notifier ops: webhook %s, outbox 2, sent 0, retried \d+, "
                    r"dropped 0, next try \S.*, last error: .*refused.* \(.+\)$"
                    % re.escape(rcv.url()), line), line
    up = time.monotonic()
    rcv.start_again()
    reqs = rcv.wait(2, 15)
    assert all(r.time >= up for r in reqs)
    assert sorted(event_of(r)["key"] for r in reqs) == [ALICE, "bob@example.com"]
    wait_logs(s, r"event=notify-sent notifier=ops outbox_id=\d+ status=200 "
                 r"attempts=\d+ ", 2, since=mark)
    assert settled(s)["sent"] == 2
    assert len(rcv.requests) == 2, rcv.requests


# -- 4. retries --------------------------------------------------------------

def test_500_three_times_then_200(sluice, receiver, workdir):
    """Delivered on the 4th attempt, the same body each time, 1, 2 and 4 s
    apart; the status counts it."""
    rcv = receiver(statuses=[500, 500, 500])
    s = sluice(extra=config(workdir, rcv))
    mark = s.log_mark()
    sent(s)
    reqs = rcv.wait(4, 20)
    reqs.sort(key=lambda r: r.time)
    assert [r.status for r in reqs] == [500, 500, 500, 200], reqs
    assert len({r.body for r in reqs}) == 1, [r.body for r in reqs]
    event_of(reqs[0])
    gaps = [b.time - a.time for a, b in zip(reqs, reqs[1:])]
    for gap, want in zip(gaps, (1, 2, 4)):
        assert want - 0.2 <= gap <= want + 1.5, gaps
    for k, wait in ((1, 1), (2, 2), (3, 4)):
        s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=%d '
                   r'error="HTTP 500" retry_in=%d\b' % (k, wait), since=mark)
    s.wait_log(r"event=notify-sent notifier=ops outbox_id=\d+ status=200 "
               r"attempts=4 delay=\S+", since=mark)
    n = settled(s)
    # retried counts the failed attempts
    assert (n["sent"], n["retried"], n["dropped"]) == (1, 3, 0), n
    assert n["last_error"] == "HTTP 500" and n["next_try"] is None, n
    assert len(rcv.requests) == 4


def test_one_probe_at_a_time_while_failing(sluice, receiver, workdir):
    """While the receiver fails, sluiced sends one request at a time (a
    probe, backing off); an alert made meanwhile waits for the probe to get
    through, then both are delivered, each once."""
    rcv = receiver(statuses=[503, 503, 503], delay=0.2)
    s = sluice(extra=config(workdir, rcv))
    mark = s.log_mark()
    sent(s, ALICE)
    s.wait_log(r'event=notify-retry notifier=ops .*error="HTTP 503"', since=mark)
    sent(s, "bob@example.com")
    reqs = sorted(rcv.wait(5, 20), key=lambda r: r.time)
    assert rcv.max_concurrent == 1 or \
        all(b.time >= a.done for a, b in zip(reqs[:4], reqs[1:4])), reqs
    first_ok = [r.status for r in reqs].index(200)
    assert first_ok == 3, reqs
    probes = reqs[:4]
    assert len({r.body for r in probes}) == 1, "one probe, not one per alert"
    assert all(b.time >= a.done for a, b in zip(probes, probes[1:])), \
        "requests overlapped while failing"
    assert [r.status for r in reqs] == [503, 503, 503, 200, 200], reqs
    assert sorted(event_of(r)["key"] for r in reqs[3:]) == \
        [ALICE, "bob@example.com"]
    wait_logs(s, r"event=notify-sent notifier=ops ", 2, since=mark)
    assert settled(s)["sent"] == 2
    assert len(rcv.requests) == 5


def test_429_408_and_a_timeout_are_retried(sluice, receiver, workdir):
    """timeout 1s: an answer later than that is a failure; 429 and 408 are
    retried like a 5xx."""
    def respond(req):
        if req.n == 1:
            time.sleep(2.5)
            return 200
        return {2: 429, 3: 408}.get(req.n, 200)

    rcv = receiver(respond=respond)
    s = sluice(extra=config(workdir, rcv, hook_opts="timeout 1s"))
    mark = s.log_mark()
    sent(s)
    s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=1 '
               r'error="[^"]*time[^"]*" retry_in=1\b', since=mark)
    s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=2 '
               r'error="HTTP 429" retry_in=2\b', timeout=10, since=mark)
    s.wait_log(r'event=notify-retry notifier=ops outbox_id=\d+ attempts=3 '
               r'error="HTTP 408" retry_in=4\b', timeout=10, since=mark)
    s.wait_log(r"event=notify-sent notifier=ops outbox_id=\d+ status=200 "
               r"attempts=4 ", timeout=10, since=mark)
    assert settled(s)["sent"] == 1
    assert len(rcv.wait(4, 5)) == 4


def test_lifetime_drops_a_failing_alert(sluice, receiver, workdir):
    rcv = receiver(status=500)
    s = sluice(extra=config(workdir, rcv, hook_opts="lifetime 10s"))
    mark = s.log_mark()
    sent(s)
    t0 = time.monotonic()
    s.wait_log(r'event=notify-dropped notifier=ops outbox_id=\d+ .*reason="not '
               r'delivered within 10 s \(lifetime\); last error: HTTP 500" '
               r'quota=outbound/per-user key=alice@example.com threshold=\d+',
               timeout=30, since=mark)
    assert time.monotonic() - t0 >= 9.5
    n = settled(s)
    assert (n["sent"], n["dropped"]) == (0, 1), n
    assert 4 <= len(rcv.requests) <= 5, rcv.requests


# -- 5. restarts -------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL],
                         ids=["sigterm", "sigkill"])
def test_alerts_in_the_outbox_survive_a_restart(sluice, receiver, workdir, sig):
    rcv = receiver()
    rcv.stop()
    s = sluice(extra=config(workdir, rcv))
    mark = s.log_mark()
    sent(s, ALICE)
    sent(s, "bob@example.com")
    wait_logs(s, r"event=notify-retry notifier=ops ", 2, since=mark)
    assert notifier(s)["outbox"] == 2
    rc = s.kill(sig)
    assert rc == (0 if sig == signal.SIGTERM else -signal.SIGKILL), rc
    rows = outbox_rows(s)
    assert sorted((n, json.loads(p)["key"]) for n, p in rows) == \
        [("ops", ALICE), ("ops", "bob@example.com")], rows
    rcv.start_again()
    s.start()
    reqs = rcv.wait(2, 15)
    assert sorted(event_of(r)["key"] for r in reqs) == [ALICE, "bob@example.com"]
    wait_logs(s, r"event=notify-sent notifier=ops ", 2)
    assert settled(s)["sent"] == 2
    # and not again after one more restart
    s.restart()
    settled(s)
    assert len(rcv.requests) == 2, rcv.requests


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL],
                         ids=["sigterm", "sigkill"])
def test_no_alert_twice_after_a_restart(sluice, receiver, workdir, sig):
    """What a window announced survives a restart: 50 % is not sent again
    after it, 100 % still comes."""
    rcv = receiver()
    s = sluice(extra=config(workdir, rcv, limit="messages 4", notify="50% 100%"))
    window_start(3600, need=30)
    sent(s)
    sent(s)
    rcv.wait(1, 10)
    s.wait_log(r"event=notify-sent notifier=ops ")
    # the sent alert's row is deleted by a writer job a few ms after the
    # 2xx: a SIGKILL before that commit sends it again (at least once).
    # Another sender's message, committed after it, is the barrier.
    sent(s, "bob@example.com")
    s.kill(sig)
    assert outbox_rows(s) == []
    s.start()
    q3 = sent(s)
    s.wait_log(r"queue_id=%s event=quota " % q3)
    n = settled(s)
    assert n["sent"] == 0 and len(rcv.requests) == 1, (n, rcv.events())
    sent(s)
    rcv.wait(2, 10)
    assert [(e["threshold"], e["used"]) for e in rcv.events()] == [(50, 2), (100, 4)]
    s.wait_log(r"event=notify-sent notifier=ops ")
    settled(s)
    assert len(rcv.requests) == 2


# -- 6. a 4xx drops the alert ----------------------------------------------

def test_404_drops_the_alert_at_once(sluice, receiver, workdir):
    """(and without a secret-file the request carries no signature)"""
    rcv = receiver(statuses=[404])
    s = sluice(extra=config(workdir, rcv, secret=False))
    mark = s.log_mark()
    sent(s)
    s.wait_log(r'event=notify-dropped notifier=ops outbox_id=\d+ .*'
               r'reason="HTTP 404"', since=mark)
    n = settled(s)
    assert (n["sent"], n["dropped"], n["last_error"]) == (0, 1, "HTTP 404"), n
    assert RFC3339.match(n["last_error_at"] or ""), n
    line = status_line(s)
    assert re.match(r"notifier ops: webhook %s, outbox 0, sent 0, retried 0, "
                    r"dropped 1, last error: HTTP 404 \(.+\)$"
                    % re.escape(rcv.url()), line), line
    assert len(rcv.requests) == 1, rcv.requests
    assert event_of(rcv.requests[0], secret=None)["key"] == ALICE


# -- 7. the mail notifier ----------------------------------------------------

ALERT_HEADERS = ["from", "to", "subject", "date", "message-id", "auto-submitted",
                 "precedence", "mime-version", "content-type",
                 "content-transfer-encoding", "x-sluice-event"]

# Sender addresses sluiced's SMTP server accepts that try to reach the
# alert's header: quoted CR LF spelled with backslashes, a quoted "Bcc:",
# an encoded word that decodes to CR LF Bcc:, quotes and backslashes, UTF-8
# line separators (SMTPUTF8), a key longer than a subject should hold.
HOSTILE = [
    r'"a\r\nBcc: evil@example.org"@example.com',
    r'"x\"y Bcc: evil@example.org"@example.com',
    "=?utf-8?q?=0D=0ABcc=3A_evil=40example.org?=@example.com",
    '"=?utf-8?q?=0D=0ABcc:_evil@example.org?="@example.com',
    r'"\\\"\\"@example.com',
    '"a\u2028Bcc: evil@example.org"@example.com',
    "j\u00f6s\u00e9@ex\u00e4mple.com",
    "x" * 64 + "@" + "y" * 60 + "." + "z" * 60 + "." + "w" * 54 + ".example.com",
]


def split_header(raw):
    """The header fields [(name, value)] (unfolded) and the body; fails on a
    bare CR or LF or a line that is neither a field nor a continuation."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:500]
    fields = []
    for line in head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line, line
        assert len(line) <= 998, line[:100]
        if line[:1] in (b" ", b"\t"):
            assert fields, head[:300]
            fields[-1][1] += b" " + line.strip()
            continue
        m = re.match(rb"([!-9;-~]+):(.*)$", line)
        assert m, "not a header field: %r" % line
        fields.append([m.group(1).decode().lower(), m.group(2).strip()])
    return [(k, v) for k, v in fields], body


def check_alert(m):
    """An alert as the sink got it: from <>, to the notifier's address
    only, exactly the documented header fields once each (sluiced's own
    Received above them allowed).  Returns (fields dict, body)."""
    assert m.mail_from in ("", "<>"), m
    assert m.rcpt_tos == ["postmaster@example.com"], m
    fields, body = split_header(m.content)
    names = [k for k, _ in fields]
    if names and names[0] == "received":
        names = names[1:]
    assert sorted(names) == sorted(ALERT_HEADERS), names
    f = dict(fields)
    assert re.fullmatch(rb"<?postmaster@example\.com>?", f["to"]), f["to"]
    assert f["auto-submitted"] == b"auto-generated", f
    assert f["precedence"] == b"bulk", f
    assert f["x-sluice-event"] == b"quota.threshold", f
    assert f["content-type"].lower().startswith(b"text/plain"), f
    assert b"evil" not in b"".join(v for k, v in fields
                                   if k not in ("subject",)), fields
    return f, body


def test_mail_alert_exempt_and_not_injectable(sluice, sink, receiver, workdir):
    snk = sink(enable_SMTPUTF8=True)
    rcv = receiver()
    more = """
    quota all { track Policy period 1h limit messages 1000 verdict pass }
    quota per-domain { track Recipient:@domain period 1h limit messages 1000 verdict pass }
"""
    s = sluice(deliver=deliver_to(snk.port),
               extra=config(workdir, rcv, mail="postmaster@example.com",
                            limit="messages 2", to="admin ops", more=more))
    window_start(3600, need=30)
    senders = [ALICE] + HOSTILE
    mark = s.log_mark()
    for a in senders:
        params = "SMTPUTF8" if any(ord(ch) > 127 for ch in a) else ""
        for _ in range(2):
            sent(s, a, params=params)
    users = 2 * len(senders)
    snk.wait_until(lambda k: len(k.messages) >= users + len(senders), 30,
                   "%d messages and %d alerts" % (users, len(senders)))
    wait_logs(s, r"event=notify-mail notifier=admin notification=\w+ "
                 r"to=<postmaster@example\.com>", len(senders), since=mark)
    alerts = [m for m in snk.messages if m.mail_from in ("", "<>")]
    assert len(alerts) == len(senders), [m.rcpt_tos for m in alerts]
    assert len(snk.messages) == users + len(senders)
    assert all(r == "bob@example.net" for m in snk.messages
               if m not in alerts for r in m.rcpt_tos)
    subjects = []
    for m in alerts:
        f, body = check_alert(m)
        subjects.append(f["subject"])
        assert b"MAILER-DAEMON@sluice.test" in f["from"], f["from"]
    want = ("[sluice] alice@example.com reached 100% of per-user "
            "(2 messages per 1h)").encode()
    mine = [m for m, x in zip(alerts, subjects) if x == want]
    assert len(mine) == 1, subjects
    f, body = check_alert(mine[0])
    text = body.decode("utf-8", "replace")
    for bit in ("alice@example.com", "100%", "per-user", "sluicectl"):
        assert bit in text, text
    assert all(len(x) < 400 for x in subjects), subjects
    # the webhook got the same alerts, as JSON that parses, keys intact
    rcv.wait(len(senders), 15)
    keys = [event_of(r)["key"] for r in rcv.requests]
    assert len(set(keys)) == len(senders), keys
    assert ALICE in keys
    # exempt: no quota counted an alert (Policy counts 2 per sender; no
    # recipient domain but the users' one; no key for the null sender)
    got = json.loads(s.ctl_ok("quota", "--json").stdout)["quotas"]
    by = collections.defaultdict(list)
    for q in got:
        by[q["quota"]].append(q)
    assert [q["limits"][0]["used"] for q in by["all"]] == [users], by["all"]
    assert [q["key"] for q in by["per-domain"]] == ["@example.net"], by["per-domain"]
    assert len(by["per-user"]) == len(senders), [q["key"] for q in by["per-user"]]
    assert all(q["key"] and "MAILER-DAEMON" not in q["key"] for q in by["per-user"])
    # another sender is not affected: sent at once
    n = len(snk.messages)
    qid = sent(s, "carol@example.com")
    snk.wait(n + 1, 10)
    s.wait_log(r"queue_id=%s event=quota .*verdict=within" % qid)


def test_mail_alert_commands_work_when_pasted(sluice, sink, workdir):
    """The sluicectl lines of an alert, pasted into a shell, give the key as
    one argument whatever it holds (quotes, `;`), and they find the
    sender's deferred mail, in whatever case the sender wrote it."""
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=config(workdir, None, mail="postmaster@example.com",
                            limit="messages 2", to="admin"))
    window_start(3600, need=30)
    senders = ["Carol.Smith@Example.COM", "o'brien@example.com",
               '"x\'; touch /tmp/sluice-pwned; echo \'"@example.com']
    deferred = {}
    for a in senders:
        sent(s, a)
        sent(s, a)
        deferred[a] = sent(s, a)
    snk.wait_until(lambda k: sum(m.mail_from in ("", "<>") for m in k.messages)
                   >= len(senders), 20, "the alerts")
    alerts = [m for m in snk.messages if m.mail_from in ("", "<>")]
    found = {}
    for m in alerts:
        f, body = check_alert(m)
        lines = [l.strip() for l in body.decode().splitlines()
                 if l.strip().startswith("sluicectl ")]
        assert len(lines) >= 3, body
        keys = set()
        for l in lines:
            argv = shlex.split(l)
            assert argv[0] == "sluicectl" and \
                ("--sender" in argv or "--key" in argv), argv
            opt = "--sender" if "--sender" in argv else "--key"
            assert argv.index(opt) == len(argv) - 2, argv
            keys.add(argv[-1])
        assert len(keys) == 1, lines
        key = keys.pop()
        listing = [l for l in lines if "--state deferred" in l]
        assert listing, lines
        r = s.ctl_ok(*shlex.split(listing[0])[1:], "--json")
        found[key] = [x["id"] for x in json.loads(r.stdout)["messages"]]
    assert sorted(found.values()) == sorted([q] for q in deferred.values()), \
        (found, deferred)


# -- 8. sluicectl notify test and status -----------------------------------

def test_sluicectl_notify_test_and_status(sluice, sink, receiver, workdir):
    snk = sink()
    rcv = receiver()
    s = sluice(deliver=deliver_to(snk.port),
               extra=config(workdir, rcv, mail="postmaster@example.com",
                            mail_opts="from alerts@example.com",
                            to="ops admin"))
    r = s.ctl("notify", "test", "ops")
    out = r.stdout.decode()
    assert r.returncode == 0, (r, out, r.stderr)
    assert re.fullmatch(r"notify test ops: delivered \(HTTP 200 in \d+\.\d+ s\)\n",
                        out), out
    req, = rcv.wait(1, 5)
    ev = event_of(req, test=True)
    assert ev["hostname"] == HOSTNAME and ev["threshold"] in range(1, 101), ev

    rcv.set_script(status=500)
    r = s.ctl("notify", "test", "ops")
    out = r.stdout.decode()
    assert r.returncode == 1, (r, out)
    assert out == "notify test ops: not delivered: HTTP 500\n", out
    assert rcv.requests[-1].status == 500

    r = s.ctl("notify", "test", "admin")
    out = r.stdout.decode()
    assert r.returncode == 0, (r, out, r.stderr)
    m = re.fullmatch(r"notify test admin: alert queued as (\w+) to "
                     r"postmaster@example\.com\n", out)
    assert m, out
    s.wait_log(r"event=notify-mail notifier=admin notification=%s "
               r"to=<postmaster@example\.com>" % m.group(1))
    msg, = snk.wait(1, 10)
    f, body = check_alert(msg)
    assert b"alerts@example.com" in f["from"], f["from"]
    assert f["subject"].startswith(b"[sluice] "), f["subject"]

    r = s.ctl("notify", "test", "nosuch")
    assert r.returncode == 1, r
    assert r.stdout == b"" and b"nosuch" in r.stderr, r

    st = status(s)
    names = {n["name"]: n for n in st["notifiers"]}
    assert set(names) == {"ops", "admin"}, st["notifiers"]
    for n in names.values():
        assert set(n) >= {"name", "kind", "target", "outbox", "in_flight", "sent",
                          "retried", "dropped", "mails", "next_try", "last_error",
                          "last_error_at"}, n
    assert (names["ops"]["kind"], names["ops"]["target"]) == ("webhook", rcv.url())
    assert names["admin"]["kind"] == "mail", names["admin"]
    assert "postmaster@example.com" in names["admin"]["target"], names["admin"]
    line = status_line(s, "ops")
    assert re.match(r"notifier ops: webhook %s, outbox 0, sent \d+, retried \d+, "
                    r"dropped \d+(, last sent \S+)?, last error: (none|.+ \(.+\))$"
                    % re.escape(rcv.url()), line), line
    assert status_line(s, "admin").startswith(
        "notifier admin: mail postmaster@example.com")
    # a sample is not an alert: the real outbox is untouched
    assert (names["ops"]["outbox"], names["ops"]["dropped"]) == (0, 0), names["ops"]


# -- 9. 1,000 keys, and SMTP not held up ---------------------------------

def test_a_thousand_alerts_do_not_hold_up_smtp(sluice, receiver, workdir):
    nkeys, nconn = 1000, 4
    rcv = receiver()
    s = sluice(extra=config(workdir, rcv))
    senders = ["u%04d@example.com" % i for i in range(nkeys)]
    lat = []
    stop = threading.Event()
    errors = []

    def probe():
        try:
            with s.smtp() as c:
                c.ehlo("probe.test")
                while not stop.is_set():
                    for line in ("NOOP", "RSET", "MAIL FROM:<probe@example.org>",
                                 "RCPT TO:<x@example.net>"):
                        t = time.monotonic()
                        r = c.cmd(line, timeout=10)
                        lat.append(time.monotonic() - t)
                        assert r.code == 250, (line, r)
                    stop.wait(0.002)
                c.cmd("QUIT")
        except Exception as e:     # reported by the test thread
            errors.append("probe: %r" % e)

    def client(chunk):
        try:
            with s.smtp() as c:
                c.ehlo("burst.test")
                for a in chunk:
                    c.send_mail(a, ["bob@example.net"],
                                build_message(a + ".m@test", a, ["bob@example.net"]))
                c.cmd("QUIT")
        except Exception as e:
            errors.append("client: %r" % e)

    p = threading.Thread(target=probe, daemon=True)
    p.start()
    t0 = time.monotonic()
    workers = [threading.Thread(target=client, args=(senders[i::nconn],), daemon=True)
               for i in range(nconn)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    accepted = time.monotonic() - t0
    try:
        reqs = rcv.wait(nkeys, 45)
    finally:
        stop.set()
        p.join(15)
    alerted = time.monotonic() - t0
    assert not errors, errors
    keys = collections.Counter(r.json()["key"] for r in reqs)
    assert set(keys) == set(senders) and max(keys.values()) == 1, \
        [k for k, n in keys.items() if n > 1][:10]
    assert {(r.json()["threshold"], r.json()["used"]) for r in reqs[:20]} == {(100, 1)}
    wait_logs(s, r"event=notify-sent notifier=ops ", nkeys, timeout=20)
    assert settled(s)["sent"] == nkeys
    assert len(rcv.requests) == nkeys
    med, worst = statistics.median(lat), max(lat)
    result = {"alerts": nkeys, "smtp_connections": nconn,
              "accepted_s": round(accepted, 3), "alerted_s": round(alerted, 3),
              "probe_replies": len(lat), "median_ms": round(med * 1000, 3),
              "worst_ms": round(worst * 1000, 3),
              "receiver_max_concurrent": rcv.max_concurrent}
    print("\nnotify burst: %s" % json.dumps(result))
    out = ROOT / "build" / "test-logs"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "notify-smtp-latency.json").write_text(json.dumps(result) + "\n")
    except OSError:
        pass
    assert len(lat) >= 20, "the probe hardly ran: %d replies" % len(lat)
    assert worst < 1.0, "an SMTP reply took %.3f s during the burst" % worst
