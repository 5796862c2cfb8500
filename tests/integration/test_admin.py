"""sluicectl as an administrator uses it: status, the queue listing and
its filters, one message's details and bytes, deleting mail, and a clear
error when the daemon is not there; help, options in any order, typos in
a filter and queue ids typed in lower case."""
import json
import signal
import subprocess
import time
from datetime import datetime

import harness
from smtpwire import build_message


def rcpt_list(detail):
    """The per-recipient list of `queue show --json`."""
    assert isinstance(detail.get("recipients"), list), detail
    return detail["recipients"]


def to_epoch(v):
    """A time of the API: Unix seconds, or RFC 3339 text."""
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def send(s, sender, rcpts, tag, helo="admin.client.test"):
    msg = build_message("%s@test" % tag, sender, rcpts, tag, ["body of " + tag])
    with s.smtp() as c:
        c.ehlo(helo)
        return c.send_mail(sender, rcpts, msg), msg


def test_status(sluice):
    s = sluice()
    send(s, "a@example.com", ["x@example.org"], "st1")
    r = s.ctl_ok("status")
    out = r.stdout.decode()
    assert "sluice.test" in out, out           # which daemon this is
    assert out.strip(), "empty status"
    doc = json.loads(s.ctl_ok("status", "--json").stdout)
    assert doc["hostname"] == "sluice.test"
    assert doc["queue"]["messages"] == 1, doc
    assert doc["pid"] == s.pid


def test_queue_listing_and_filters(sluice):
    s = sluice()
    t0 = time.time()
    q1, m1 = send(s, "alice@example.com", ["x@example.org", "y@example.org"], "list1")
    q2, m2 = send(s, "bob@example.com", ["z@example.org"], "list2")
    t1 = time.time()

    msgs = {m["id"]: m for m in s.queue_json()}
    assert set(msgs) == {q1, q2}
    a, b = msgs[q1], msgs[q2]
    assert a["sender"] == "alice@example.com" and b["sender"] == "bob@example.com"
    assert (a["recipients"], a["pending"]) == (2, 2)
    assert (b["recipients"], b["pending"]) == (1, 1)
    for m, raw in ((a, m1), (b, m2)):
        assert m["state"] in ("ready", "deferred", "retry", "hold"), m
        assert m["size"] >= len(raw), (m["size"], len(raw))
        assert m["size"] <= len(s.cat(m["id"])), m
        assert m["next_due"] is not None, m
        assert t0 - 2 <= to_epoch(m["arrival"]) <= t1 + 2, m

    # the human listing shows both ids and senders
    out = s.ctl_ok("queue").stdout.decode()
    for needle in (q1, q2, "alice@example.com", "bob@example.com"):
        assert needle in out, (needle, out)

    only_bob = s.queue_json("--sender", "bob@example.com")
    assert [m["id"] for m in only_bob] == [q2]
    assert s.queue_json("--sender", "nobody@example.com") == []
    assert s.queue_json("--state", "hold") == []
    st = a["state"]
    assert q1 in [m["id"] for m in s.queue_json("--state", st)]


def test_queue_show_and_cat(sluice):
    s = sluice()
    qid, msg = send(s, "carol@example.com", ["p@example.org", "q@example.net"], "show1",
                    helo="carols-pc.test")
    det = s.show(qid)
    assert det["id"] == qid
    assert det["sender"] == "carol@example.com"
    assert det["client_addr"] == "127.0.0.1"
    assert det["client_helo"] == "carols-pc.test"
    assert det["peer_addr"] == "127.0.0.1"
    rl = rcpt_list(det)
    assert sorted(r["address"] for r in rl) == ["p@example.org", "q@example.net"]
    for r in rl:
        assert r["state"] in ("ready", "deferred", "retry", "hold"), r
    # human form mentions the essentials
    out = s.ctl_ok("queue", "show", qid).stdout.decode()
    for needle in (qid, "carol@example.com", "p@example.org", "127.0.0.1"):
        assert needle in out, (needle, out)
    # the stored bytes
    raw = s.cat(qid)
    assert raw.startswith(b"Received: ")
    assert raw.endswith(msg)
    # an unknown id is an error, not an empty success
    r = s.ctl("queue", "show", "0000000000000000")
    assert r.returncode != 0
    assert (r.stdout + r.stderr).strip()
    r = s.ctl("queue", "cat", "0000000000000000")
    assert r.returncode != 0


def test_queue_delete(sluice):
    s = sluice()
    q1, _ = send(s, "d@example.com", ["x@example.org"], "del1")
    q2, _ = send(s, "d@example.com", ["x@example.org"], "del2")
    q3, _ = send(s, "d@example.com", ["x@example.org"], "del3")
    s.ctl_ok("queue", "delete", q1, q3)
    assert [m["id"] for m in s.queue_json()] == [q2]
    assert s.ctl("queue", "show", q1).returncode != 0
    # deleting what is not there is reported
    r = s.ctl("queue", "delete", q1)
    assert r.returncode != 0, r
    # deletion is durable: still gone after a restart
    s.restart()
    assert [m["id"] for m in s.queue_json()] == [q2]


def test_sluicectl_without_daemon(sluice):
    s = sluice()
    assert s.kill(signal.SIGTERM) == 0
    for args in (("status",), ("queue",), ("queue", "--json")):
        r = s.ctl(*args)
        assert r.returncode != 0, args
        err = (r.stderr + r.stdout).decode(errors="replace")
        assert str(s.admin_socket) in err, err
        assert "Traceback" not in err and len(err) < 2000


BAD_STATE = 'sluicectl: unknown state "bogus" (one of: ready, deferred, retry, hold)'


def test_help(sluice):
    s = sluice()
    for args in (("--help",), ("-h",), ("help",), ("queue", "--help")):
        r = s.ctl(*args)
        assert r.returncode == 0, (args, r)
        out = r.stdout.decode()
        assert out.startswith("usage: sluicectl"), (args, out)
        assert "queue show ID" in out and "--state" in out, (args, out)
        assert r.stderr == b"", (args, r.stderr)
    # exactly as typed: no configuration, no daemon needed
    r = subprocess.run([harness.SLUICECTL, "--help"], capture_output=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.startswith(b"usage: sluicectl"), r


def test_options_in_any_order(sluice):
    s = sluice()
    q1, _ = send(s, "alice@example.com", ["x@example.org"], "ord1")
    q2, _ = send(s, "bob@example.com", ["y@example.org"], "ord2")
    for args in (("--json", "status"), ("status", "--json")):
        doc = json.loads(s.ctl_ok(*args).stdout)
        assert doc["queue"]["messages"] == 2, (args, doc)
    for args in (("--json", "queue", "show", q1), ("queue", "--json", "show", q1),
                 ("queue", "show", "--json", q1), ("queue", "show", q1, "--json")):
        assert json.loads(s.ctl_ok(*args).stdout)["id"] == q1, args
    st = {m["id"]: m["state"] for m in s.queue_json()}[q2]
    for args in (("queue", "--sender", "bob@example.com", "--state", st, "--json"),
                 ("queue", "--json", "--state", st, "--sender", "bob@example.com"),
                 ("--json", "queue", "--state=" + st, "--sender=bob@example.com")):
        doc = json.loads(s.ctl_ok(*args).stdout)
        assert [m["id"] for m in doc["messages"]] == [q2], (args, doc)
    out = s.ctl_ok("queue", "--state", st, "--sender", "bob@example.com").stdout.decode()
    assert q2 in out and q1 not in out, out


def test_unknown_state(sluice):
    s = sluice()
    send(s, "a@example.com", ["x@example.org"], "bad1")
    for args in (("queue", "--state", "bogus"), ("queue", "--state=bogus"),
                 ("queue", "--json", "--state", "bogus")):
        r = s.ctl(*args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.decode().splitlines()[0] == BAD_STATE, (args, r.stderr)
        assert r.stdout == b"", (args, r.stdout)


def test_empty_listings(sluice):
    s = sluice()
    assert s.ctl_ok("queue").stdout.decode() == "queue is empty\n"
    assert s.ctl_ok("queue", "--state", "hold").stdout.decode() == "no messages match\n"
    qid, _ = send(s, "alice@example.com", ["x@example.org"], "empty1")
    out = s.ctl_ok("queue", "--sender", "nobody@example.com").stdout.decode()
    assert out == "no messages match\n", out
    out = s.ctl_ok("queue", "--sender", "alice@example.com").stdout.decode()
    assert qid in out, out


def test_queue_ids_any_case(sluice):
    s = sluice()
    q1, msg = send(s, "erin@example.com", ["x@example.org"], "case1")
    q2, _ = send(s, "erin@example.com", ["x@example.org"], "case2")
    low = q1.lower()
    out = s.ctl_ok("queue", "show", low).stdout.decode()
    assert q1 in out and "erin@example.com" in out, out
    assert json.loads(s.ctl_ok("queue", "show", low, "--json").stdout)["id"] == q1
    mixed = q1[:8].lower() + q1[8:]
    assert s.ctl_ok("queue", "cat", mixed).stdout.endswith(msg)
    r = s.ctl_ok("queue", "delete", low)
    assert r.stdout.decode() == "%s: deleted\n" % q1, r.stdout
    assert [m["id"] for m in s.queue_json()] == [q2]
