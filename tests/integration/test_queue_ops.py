"""Queue operations as an administrator uses them: hold and release one
message or all of a sender's, delete several at once or by sender, flush
the retries; what `queue` and `queue show` then say; unknown ids named in
a clear error; the admin API's answers and refusals underneath.

Mail sent here is never delivered during a test: depending on the
harness's delivery settings it waits as ready, or as retry after a failed
attempt, so the assertions hold for both."""
import http.client
import json
import re
import socket
import sqlite3
import time
from datetime import datetime

import harness
from smtpwire import build_message

PENDING = ("ready", "retry")
UNKNOWN = "0000000000000000"


def to_epoch(v):
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def send(s, sender, rcpts, tag):
    msg = build_message("%s@test" % tag, sender or "mailer-daemon@test", rcpts, tag,
                        ["body of " + tag])
    with s.smtp() as c:
        c.ehlo("ops.client.test")
        return c.send_mail(sender, rcpts, msg)


def states(s, qid):
    """The states of a message's recipients, from `queue show --json`."""
    return [r["state"] for r in s.show(qid)["recipients"]]


def listed(s, *args):
    return [m["id"] for m in s.queue_json(*args)]


def out(r):
    return r.stdout.decode()


def err(r):
    return r.stderr.decode()


def going_out(rcpt, since):
    """Released: due now (ready), or already tried again since (retry)."""
    if rcpt["state"] == "ready":
        return to_epoch(rcpt["due"]) <= time.time() + 1
    return (rcpt["state"] == "retry" and rcpt["last_attempt"] is not None
            and to_epoch(rcpt["last_attempt"]) >= since - 1)


class UnixHTTP(http.client.HTTPConnection):
    """http.client over the admin socket (what curl --unix-socket does)."""

    def __init__(self, path):
        super().__init__("localhost", timeout=20)
        self.path = str(path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(self.path)


def api(s, method, path):
    """(status, JSON document, headers) of one admin API request."""
    c = UnixHTTP(s.admin_socket)
    try:
        c.request(method, path, body=b"" if method == "POST" else None)
        r = c.getresponse()
        body = r.read()
        return r.status, json.loads(body), dict(r.getheaders())
    finally:
        c.close()


def test_hold_and_release_one_message(sluice):
    s = sluice()
    q1 = send(s, "alice@example.com", ["x@example.org", "y@example.org"], "hr1")
    q2 = send(s, "bob@example.com", ["z@example.org"], "hr2")
    for q in (q1, q2):
        assert all(st in PENDING for st in states(s, q)), s.show(q)

    r = s.ctl_ok("queue", "hold", q1)
    assert out(r) == "%s: held (2 recipients)\n" % q1, out(r)
    det = s.show(q1)
    assert det["state"] == "hold" and states(s, q1) == ["hold", "hold"], det
    assert det["next_due"] is None, det          # held mail is not due
    assert listed(s, "--state", "hold") == [q1]
    assert all(st in PENDING for st in states(s, q2))
    # the listing and the detail say so to a person too
    table = out(s.ctl_ok("queue")).splitlines()
    assert table[0].split()[:3] == ["ID", "STATE", "NEXT"], table
    row = [l for l in table if l.startswith(q1)]
    assert row and row[0].split()[1:3] == ["hold", "-"], table
    text = out(s.ctl_ok("queue", "show", q1))
    assert "state:      hold" in text and "on hold until released" in text, text

    # holding again changes nothing and says why; lower case ids work
    r = s.ctl_ok("queue", "hold", q1.lower())
    assert out(r) == "%s: already on hold\n" % q1, out(r)

    # a hold survives a restart
    s.restart()
    assert states(s, q1) == ["hold", "hold"]

    t0 = time.time()
    r = s.ctl_ok("queue", "release", q1)
    assert out(r) == "%s: released (2 recipients)\n" % q1, out(r)
    det = s.show(q1)
    assert det["state"] != "hold", det
    for rc in det["recipients"]:
        assert going_out(rc, t0), rc
    assert listed(s, "--state", "hold") == []
    # releasing what is not held changes nothing and says so
    r = s.ctl_ok("queue", "release", q2)
    assert re.fullmatch(r"%s: not on hold \(state (ready|retry)\)\n" % q2, out(r)), out(r)


def test_hold_release_by_sender(sluice):
    s = sluice()
    a1 = send(s, "alice@example.com", ["x@example.org", "y@example.org"], "bs1")
    b1 = send(s, "bob@example.com", ["x@example.org"], "bs2")
    a2 = send(s, "Alice@Example.com", ["z@example.org"], "bs3")
    n1 = send(s, "", ["postmaster@relay.test"], "bs4")

    # the sender is matched without regard to case, as the listing does
    r = s.ctl_ok("queue", "hold", "--sender", "ALICE@example.com")
    assert out(r) == ("%s: held (2 recipients)\n%s: held (1 recipient)\n"
                      "held 2 messages (3 recipients) from <ALICE@example.com>\n"
                      % (a1, a2)), out(r)
    assert listed(s, "--state", "hold") == [a1, a2]
    for q in (b1, n1):
        assert "hold" not in states(s, q), q
    assert {m["state"] for m in s.queue_json("--sender", "alice@example.com")} == {"hold"}

    # again: nothing left to hold
    r = s.ctl_ok("queue", "hold", "--sender", "alice@example.com")
    assert out(r) == "nothing to hold: no pending messages from <alice@example.com>\n", out(r)

    # the null sender, spelled '<>' or ''
    r = s.ctl_ok("queue", "hold", "--sender", "<>")
    assert out(r).endswith("held 1 message (1 recipient) from <>\n"), out(r)
    assert states(s, n1) == ["hold"]
    assert listed(s, "--state", "hold") == [a1, a2, n1]
    doc = json.loads(s.ctl_ok("queue", "release", "--sender", "", "--json").stdout)
    assert doc["action"] == "release" and doc["sender"] == "", doc
    assert (doc["messages"], doc["recipients"]) == (1, 1), doc
    assert [c["id"] for c in doc["changed"]] == [n1], doc

    t0 = time.time()
    r = s.ctl_ok("queue", "release", "--sender", "alice@example.com")
    assert out(r).endswith("released 2 messages (3 recipients) from <alice@example.com>\n"), out(r)
    assert listed(s, "--state", "hold") == []
    for q in (a1, a2):
        for rc in s.show(q)["recipients"]:
            assert going_out(rc, t0), (q, rc)
    r = s.ctl_ok("queue", "release", "--sender", "alice@example.com")
    assert out(r) == "nothing to release: no held messages from <alice@example.com>\n", out(r)


def test_delete_by_sender_and_several_ids(sluice):
    s = sluice()
    a1 = send(s, "alice@example.com", ["x@example.org"], "del1")
    a2 = send(s, "alice@example.com", ["y@example.org"], "del2")
    b1 = send(s, "bob@example.com", ["x@example.org"], "del3")
    b2 = send(s, "bob@example.com", ["y@example.org"], "del4")
    c1 = send(s, "carol@example.com", ["z@example.org"], "del5")

    r = s.ctl_ok("queue", "delete", "--sender", "alice@example.com")
    assert out(r) == ("%s: deleted\n%s: deleted\ndeleted 2 messages from <alice@example.com>\n"
                      % (a1, a2)), out(r)
    assert listed(s) == [b1, b2, c1]
    r = s.ctl_ok("queue", "delete", "--sender", "alice@example.com")
    assert out(r) == "nothing to delete: no messages from <alice@example.com>\n", out(r)

    # several ids in one command, each reported
    r = s.ctl_ok("queue", "delete", b1, b2.lower())
    assert out(r) == "%s: deleted\n%s: deleted\n" % (b1, b2), out(r)
    assert listed(s) == [c1]
    # held mail can be deleted too
    s.ctl_ok("queue", "hold", c1)
    s.ctl_ok("queue", "delete", c1)
    assert out(s.ctl_ok("queue")) == "queue is empty\n"

    # each deleted message left the queue, and the log says so as it does
    # for delivered mail: "event=removed" once, after "event=deleted"
    for q in (a1, a2, b1, b2, c1):
        s.wait_log(r"queue_id=%s event=removed$" % q)
        mine = [l.split(": ", 1)[1] for l in s.lines if "queue_id=%s " % q in l]
        ev = [l for l in mine if re.search(r" event=(deleted|removed)\b", l)]
        assert ev == ["queue_id=%s event=deleted by=admin-api" % q,
                      "queue_id=%s event=removed" % q], mine
    # a delete that found nothing removed nothing
    assert sum("event=removed" in l for l in s.lines) == 5, s.log_tail()


def test_unknown_ids_are_named(sluice):
    s = sluice()
    q1 = send(s, "dave@example.com", ["x@example.org"], "unk1")
    for op in ("hold", "release", "delete"):
        r = s.ctl("queue", op, UNKNOWN)
        assert r.returncode == 1, (op, r)
        assert err(r) == "sluicectl: no such message: %s\n" % UNKNOWN, (op, err(r))
        assert r.stdout == b"", (op, r.stdout)
    # a mix: the known one is done and reported, the unknown one named,
    # and the exit status says that not everything went through
    r = s.ctl("queue", "hold", UNKNOWN, q1)
    assert r.returncode == 1, r
    assert out(r) == "%s: held (1 recipient)\n" % q1, out(r)
    assert UNKNOWN in err(r), err(r)
    assert states(s, q1) == ["hold"]
    r = s.ctl("queue", "release", "not-an-id", q1)
    assert r.returncode == 1, r
    assert "NOT-AN-ID" in err(r) and "invalid queue id" in err(r), err(r)
    assert out(r) == "%s: released (1 recipient)\n" % q1, out(r)
    # usage errors: exit 2 with a pointer to help
    for args in (("queue", "hold"), ("queue", "release", q1, "--sender", "a@b"),
                 ("queue", "flush", q1), ("queue", "flush", "--sender", "a@b"),
                 ("queue", "delete", "--state", "hold")):
        r = s.ctl(*args)
        assert r.returncode == 2, (args, r)
        assert err(r).startswith("sluicectl: ") and r.stdout == b"", (args, r)


def stored_rows(s, sql, *params):
    """Changes the store directly while sluiced is stopped: the only way
    to have a recipient in retry or deferred before delivery or quotas
    put one there.  The files stay the daemon user's."""
    db = s.state_dir / "queue.db"
    con = sqlite3.connect(str(db))
    try:
        with con:
            con.execute(sql, params)
    finally:
        con.close()
    for p in s.state_dir.iterdir():
        harness.chown_user(p)


def test_flush_and_show_of_retries(sluice):
    s = sluice()
    r1 = send(s, "erin@example.com", ["late@example.org"], "fl1")
    d1 = send(s, "erin@example.com", ["quota@example.org"], "fl2")
    later = int(time.time()) + 1800
    s.stop()
    stored_rows(s, "UPDATE recipients SET state = 2, due = ?, attempts = 1,"
                " first_attempt = ?, last_attempt = ?,"
                " last_reply = '451 4.3.0 try again later', dsn_status = '4.3.0'"
                " WHERE msg_id = ?", later, later - 1900, later - 1900, r1)
    stored_rows(s, "UPDATE recipients SET state = 1, due = ? WHERE msg_id = ?",
                later, d1)
    s.start()

    # what an admin looks at: state, attempts, last reply, next attempt
    det = s.show(r1)
    rc = det["recipients"][0]
    assert (rc["state"], rc["attempts"], rc["last_reply"]) == \
        ("retry", 1, "451 4.3.0 try again later"), rc
    assert rc["dsn_status"] == "4.3.0" and rc["last_attempt"] is not None, rc
    assert abs(to_epoch(rc["due"]) - later) < 1, rc
    text = out(s.ctl_ok("queue", "show", r1))
    line = [l for l in text.splitlines() if l.startswith("recipient:")][0]
    assert re.search(r"late@example\.org  retry  next attempt \S+ \(in (29m \d\ds|30m 00s)\)"
                     r"  attempts 1$", line), text
    assert "451 4.3.0 try again later" in text, text
    row = [l for l in out(s.ctl_ok("queue")).splitlines() if l.startswith(r1)][0]
    assert re.search(r"retry +in (29|30)m", row), row

    doc = json.loads(s.ctl_ok("queue", "flush", "--json").stdout)
    assert doc["action"] == "flush", doc
    changed = {c["id"]: c["recipients"] for c in doc["changed"]}
    assert changed.get(r1) == 1, doc             # the retry is due now
    assert d1 not in changed, doc                # a quota deferral is not
    assert doc["messages"] == len(changed), doc
    assert doc["recipients"] == sum(changed.values()), doc
    rc = s.show(d1)["recipients"][0]
    assert rc["state"] == "deferred" and abs(to_epoch(rc["due"]) - later) < 1, rc

    r = s.ctl_ok("queue", "flush")
    assert re.fullmatch(r"flushed: \d+ recipients? of \d+ messages? due now\n|"
                        r"nothing to flush: no recipient is waiting for a retry\n",
                        out(r)), out(r)


def test_json_outputs(sluice):
    s = sluice()
    q1 = send(s, "fay@example.com", ["x@example.org", "y@example.org"], "js1")
    q2 = send(s, "fay@example.com", ["z@example.org"], "js2")
    docs = json.loads(s.ctl_ok("queue", "hold", q1, q2, "--json").stdout)
    assert [d["id"] for d in docs] == [q1, q2], docs
    assert [(d["state"], d["messages"], d["recipients"]) for d in docs] == \
        [("hold", 1, 2), ("hold", 1, 1)], docs
    doc = json.loads(s.ctl_ok("queue", "release", "--sender", "fay@example.com",
                              "--json").stdout)
    assert (doc["messages"], doc["recipients"]) == (2, 3), doc
    assert doc["changed"] == [{"id": q1, "recipients": 2}, {"id": q2, "recipients": 1}]
    rc = s.show(q1)["recipients"][0]
    for key in ("address", "state", "due", "attempts", "first_attempt",
                "last_attempt", "last_reply", "dsn_status"):
        assert key in rc, (key, rc)
    for m in s.queue_json("--state", "ready") + s.queue_json("--state", "retry"):
        assert m["next_due"] is not None, m
    doc = json.loads(s.ctl_ok("queue", "delete", "--sender", "FAY@example.com",
                              "--json").stdout)
    assert doc["messages"] == 2 and [c["id"] for c in doc["changed"]] == [q1, q2], doc
    # an unknown id is on stderr, the rest still parses
    r = s.ctl("queue", "delete", UNKNOWN, "--json")
    assert r.returncode == 1 and json.loads(r.stdout) == [], r


def test_admin_api_operations(sluice):
    s = sluice()
    q1 = send(s, "gus@example.com", ["x@example.org"], "api1")
    code, doc, _ = api(s, "POST", "/v1/queue/%s/hold" % q1)
    assert code == 200, doc
    assert doc == {"action": "hold", "id": q1, "state": "hold", "messages": 1,
                   "recipients": 1, "changed": [{"id": q1, "recipients": 1}]}, doc
    code, doc, _ = api(s, "POST", "/v1/queue/hold?sender=gus%40example.com")
    assert code == 200 and doc["messages"] == 0 and doc["sender"] == "gus@example.com", doc
    code, doc, _ = api(s, "POST", "/v1/queue/release?sender=GUS%40example.com")
    assert code == 200 and doc["changed"] == [{"id": q1, "recipients": 1}], doc
    code, doc, _ = api(s, "POST", "/v1/queue/flush")
    assert code == 200 and doc["action"] == "flush", doc

    bad = [("POST", "/v1/queue/%s/hold" % UNKNOWN, 404),
           ("POST", "/v1/queue/%s/release" % UNKNOWN, 404),
           ("POST", "/v1/queue/%s/delete" % UNKNOWN, 404),
           ("POST", "/v1/queue/nope/hold", 400),
           ("POST", "/v1/queue/%s/hold?now=1" % q1, 400),
           ("POST", "/v1/queue/hold", 400),
           ("POST", "/v1/queue/delete?sender=a%40b&state=hold", 400),
           ("POST", "/v1/queue/flush?sender=a%40b", 400),
           ("POST", "/v1/queue/%s/flush" % q1, 404),
           ("GET", "/v1/queue/%s/hold" % q1, 405),
           ("GET", "/v1/queue/flush", 405),
           ("DELETE", "/v1/queue/release?sender=", 405)]
    for method, path, want in bad:
        code, doc, headers = api(s, method, path)
        assert code == want, (method, path, code, doc)
        assert isinstance(doc.get("error"), str) and doc["error"], (path, doc)
        if want == 405:
            assert headers.get("Allow") == "POST", (path, headers)
    # none of that touched the message
    assert states(s, q1) != ["hold"] and listed(s) == [q1]
    # the operations are logged with the queue id
    assert any("queue_id=%s event=held by=admin-api" % q1 in l for l in s.lines)


def test_deferred_recipients_show_their_quota(sluice):
    """A recipient a quota defers carries in the store the quota and key
    that hold it, when it gives up and what it reserves; `queue show` and
    `queue --state deferred` say so, per recipient.  (Written into the
    store directly, as a quota would: the quota side has its own tests.)"""
    s = sluice()
    d1 = send(s, "hal@example.com", ["a@example.org", "b@example.org"], "dq1")
    d2 = send(s, "ida@example.com", ["c@example.org"], "dq2")
    later = int(time.time()) + 1800
    gives_up = later + 5 * 86400
    # one reservation, as queue_resv.c encodes it: R 1, count 1,
    # "q\0", "k\0", start 0, kinds 0 (all zero)
    resv = b"R\x01\x01q\x00k\x00\x00\x00"
    s.stop()
    stored_rows(s, "UPDATE recipients SET state = 1, due = ?,"
                " quota = 'outbound/per-user', qkey = 'hal@example.com',"
                " expire = ?, resv = ? WHERE msg_id = ? AND rcpt = 1",
                later, gives_up, resv, d1)
    stored_rows(s, "UPDATE recipients SET rflags = 1 WHERE msg_id = ?", d2)
    s.start()

    rcpts = s.show(d1)["recipients"]
    assert [r["state"] for r in rcpts] == [rcpts[0]["state"], "deferred"], rcpts
    assert rcpts[0]["quota"] is None and rcpts[0]["key"] is None, rcpts
    assert (rcpts[0]["expire"], rcpts[0]["bypass"], rcpts[0]["reservations"]) \
        == (None, False, 0), rcpts
    r = rcpts[1]
    assert (r["quota"], r["key"], r["reservations"], r["bypass"]) == \
        ("outbound/per-user", "hal@example.com", 1, False), r
    assert to_epoch(r["expire"]) == gives_up and to_epoch(r["due"]) == later, r
    text = out(s.ctl_ok("queue", "show", d1))
    line = "            deferred until %s by quota outbound/per-user key " \
        "hal@example.com (gives up %s)" % (r["due"], r["expire"])
    assert line in text.splitlines(), text
    assert "bypassing" not in text, text
    assert s.show(d2)["recipients"][0]["bypass"] is True
    text = out(s.ctl_ok("queue", "show", d2))
    assert "            released by an administrator, bypassing its quota" \
        in text.splitlines(), text

    # the listing: messages as ever, and one row per deferred recipient
    doc = json.loads(s.ctl_ok("queue", "--state", "deferred", "--json").stdout)
    assert [m["id"] for m in doc["messages"]] == [d1], doc
    assert doc["recipient_count"] == 1 and len(doc["recipients"]) == 1, doc
    row = doc["recipients"][0]
    assert (row["id"], row["sender"], row["rcpt"], row["recipient"]) == \
        (d1, "hal@example.com", 1, "b@example.org"), row
    assert (row["quota"], row["key"], row["release"], row["expire"]) == \
        ("outbound/per-user", "hal@example.com", r["due"], r["expire"]), row
    assert row["arrival"] == s.show(d1)["arrival"], row
    lines = out(s.ctl_ok("queue", "--state", "deferred")).splitlines()
    assert lines[0].split() == ["ID", "RELEASE", "IN", "ARRIVAL", "SENDER",
                                "RECIPIENT", "QUOTA", "KEY"], lines
    cols = lines[1].split()
    assert cols[:2] == [d1, r["due"]] and cols[-4:] == \
        ["hal@example.com", "b@example.org", "outbound/per-user",
         "hal@example.com"], lines
    assert re.fullmatch(r"in (29m \d\ds|30m 00s)", " ".join(cols[2:5])), lines
    assert lines[2] == "-- 1 deferred recipient of 1 message", lines
    out_ida = out(s.ctl_ok("queue", "--state", "deferred", "--sender",
                           "ida@example.com"))
    assert out_ida == "no messages match\n", out_ida
    # other states list messages as before
    assert listed(s, "--state", "deferred", "--sender", "HAL@example.com") == [d1]
    assert "recipients" not in json.loads(
        s.ctl_ok("queue", "--json").stdout), "only a deferred listing has them"

    # --now is release's alone
    r2 = s.ctl("queue", "hold", "--now", d1)
    assert r2.returncode == 2 and "queue hold does not take --now" in err(r2), r2
