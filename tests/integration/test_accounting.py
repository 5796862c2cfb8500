"""Accounting in the real daemon (policy/accounting.h, README "Accounting"):
what each sender sent per calendar day, counted at end of DATA after the
quotas and stored with the message; `sluicectl accounting` (--key,
--history, --json) and GET /v1/accounting; limits with reject and hold;
`stop`; counters that survive SIGTERM and SIGKILL; explain.

Periods are local calendar days, the daemon's zone being the test's: a
test that must stay within one day waits when midnight is less than a
minute away (the clock is the event awaited)."""
import json
import re
import signal
import sqlite3
import time

from smtpwire import SMTPClient, build_message
from test_full_disk import small_disk_sluice  # noqa: F401 (a fixture)
from test_policy import send
from test_queue_ops import api, stored_rows, to_epoch


def acct(name="daily", track="Sender:user@domain", period="day", more=""):
    return """
    accounting %s {
        track %s
        period %s
        %s
    }
""" % (name, track, period, more)


def policy(*accts, name="outbound", priority=10, match="sender any",
           more=""):
    return "policy %s priority %d {\n    %s\n%s%s}\n" % (
        name, priority, match, "".join(accts), more)


def today():
    """Today's period key, in the local zone; waits past midnight when it
    is less than a minute away."""
    now = time.time()
    lt = time.localtime(now)
    left = 86400 - (lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec)
    if left < 60:
        time.sleep(left + 1)
    return time.strftime("%Y-%m-%d")


def report(s, *args):
    doc = json.loads(s.ctl_ok("accounting", "--json", *args).stdout)
    assert isinstance(doc.get("accounting"), list), doc
    assert doc["count"] == len(doc["accounting"]), doc
    return doc["accounting"]


def figures(e):
    """(messages, recipients, bytes) of one report entry."""
    return tuple(e[u]["used"] for u in ("messages", "recipients", "size"))


def sizes(s, sender):
    """The stored size of each of sender's messages (what is counted)."""
    return [m["size"] for m in s.queue_json("--sender", sender)]


def out(r):
    return r.stdout.decode()


def stored(s):
    """The acct_counter rows, read-only, sluiced stopped: (accounting,
    key, period, messages, recipients)."""
    con = sqlite3.connect("file:%s?mode=ro" % (s.state_dir / "queue.db"),
                          uri=True)
    try:
        return list(con.execute("SELECT acct, key, period, messages,"
                                " recipients FROM acct_counter"
                                " ORDER BY acct, key, period"))
    finally:
        con.close()


def test_counts_messages_recipients_and_size_per_sender(sluice):
    s = sluice(extra=policy(acct()))
    day = today()
    assert send(s, "alice@example.com", ["a@x.test"])[1].code == 250
    assert send(s, "Alice@Example.com", ["a@x.test", "b@x.test"],
                body="x" * 5000)[1].code == 250
    assert send(s, "carol@example.com", ["c@x.test"])[1].code == 250
    r = report(s)
    assert [e["key"] for e in r] == ["alice@example.com", "carol@example.com"]
    a = r[0]
    assert (a["policy"], a["accounting"], a["track"]) == \
        ("outbound", "daily", "Sender:user@domain"), a
    assert (a["period"], a["period_kind"], a["current"]) == (day, "day", True)
    assert to_epoch(a["period_end"]) - to_epoch(a["period_start"]) in \
        (82800, 86400, 90000), a        # a DST day is 23 or 25 hours
    # one message counts once, however many recipients; its stored size
    assert figures(a) == (2, 3, sum(sizes(s, "alice@example.com"))), a
    assert a["size"]["used"] > 5000
    assert a["messages"]["limit"] is None and a["verdict"] is None, a
    assert figures(r[1])[:2] == (1, 1)

    # the table, for people
    lines = out(s.ctl_ok("accounting")).splitlines()
    assert re.match(r"POLICY/ACCOUNTING\s+TRACK\s+KEY\s+PERIOD\s+MESSAGES\s+"
                    r"RECIPIENTS\s+SIZE$", lines[0]), lines
    assert re.match(r"outbound/daily\s+Sender:user@domain\s+"
                    r"alice@example\.com\s+%s\s+2\s+3\s+5\.\dK$" % day,
                    lines[1]), lines
    assert re.match(r"outbound/daily\s+.*carol@example\.com\s+%s\s+1\s+1\s+"
                    % day, lines[2]), lines
    assert len(lines) == 3, lines

    # --key, normalised as the engine writes keys; a key with nothing
    assert [e["key"] for e in report(s, "--key", "<CAROL@example.com>")] == \
        ["carol@example.com"]
    assert report(s, "--key", "nobody@example.com") == []
    assert out(s.ctl_ok("accounting", "--key", "nobody@example.com")) == \
        "nothing counted for nobody@example.com in the current periods\n"

    # the API sluicectl reads
    st, doc, _ = api(s, "GET", "/v1/accounting?key=alice@example.com")
    assert st == 200 and doc["count"] == 1, doc
    assert doc["accounting"][0] == a, doc
    assert doc["history"] is False and doc["key"] == "alice@example.com"
    st, doc, _ = api(s, "GET", "/v1/accounting?history=2")
    assert st == 400 and "history" in doc["error"], doc
    st, doc, _ = api(s, "GET", "/v1/accounting?bogus=1")
    assert st == 400, doc
    st, doc, _ = api(s, "POST", "/v1/accounting")
    assert st == 405, doc
    # usage errors
    for args in (("accounting", "extra"), ("accounting", "--history=1"),
                 ("quota", "--history")):
        r = s.ctl(*args)
        assert r.returncode == 2 and r.stdout == b"", (args, r)

    # one log line per accounting and key, with the figures after it
    s.wait_log(r"event=accounting policy=outbound accounting=daily "
               r"track=Sender:user@domain key=alice@example\.com "
               r"from=<Alice@Example\.com> period=%s messages=2 "
               r"recipients=3 size=\d+ verdict=counted" % day)


def test_reject_over_the_limit_counts_nothing(sluice):
    s = sluice(extra=policy(
        acct(more='limit messages 2  verdict reject reply '
                  '"550 5.7.1 Daily volume reached, see the helpdesk"'),
        more="""    quota hourly { track Sender:user@domain period 1h
                   limit messages 100 verdict reject }
"""))
    day = today()
    for _ in range(2):
        assert send(s, "alice@example.com")[1].code == 250
    rr, d = send(s, "alice@example.com", ["a@x.test", "b@x.test"])
    assert (d.code, d.enhanced) == (550, "5.7.1"), d
    assert "Daily volume reached, see the helpdesk" in d.text, d
    # nothing of the refused message is counted: not by the accounting,
    # not by the quota that had let it through
    e = report(s)[0]
    assert figures(e)[:2] == (2, 2), e
    assert e["messages"] == {"used": 2, "limit": 2, "percent": 100.0}, e
    assert e["verdict"] == "reject"
    q = json.loads(s.ctl_ok("quota", "--json").stdout)["quotas"][0]
    assert q["limits"][0]["used"] == 2, q
    assert len(s.queue_json("--sender", "alice@example.com")) == 2
    assert json.loads(s.ctl_ok("status", "--json").stdout)[
        "policy_refusals"] == 1
    s.wait_log(r"event=accounting policy=outbound accounting=daily .*"
               r"key=alice@example\.com .*period=%s messages=3/2 "
               r"recipients=4 .*verdict=reject" % day)
    s.wait_log(r"event=accounting-refused from=<alice@example\.com> "
               r"reply=\"550 5\.7\.1 Daily volume reached")
    assert re.search(r"\s2/2 \(100%\)\s", out(s.ctl_ok("accounting")))
    # another sender has its own figures
    assert send(s, "bob@example.com")[1].code == 250


def test_hold_and_discard_verdicts(sluice):
    s = sluice(extra=policy(
        acct(more="limit recipients 2 verdict hold"),
        acct("by-domain", track="Recipient:@domain",
             more="limit messages 1 verdict discard"),
        match="sender @example.com"))
    today()
    rr, d1 = send(s, "alice@example.com", ["a@x.test", "b@y.test"])
    assert d1.code == 250
    # over alice's recipients: held
    rr, d2 = send(s, "alice@example.com", ["c@z.test"])
    assert d2.code == 250 and d2.queue_id, d2
    held = s.queue_json("--state", "hold")
    assert [m["id"] for m in held] == [d2.queue_id], held
    assert [r["state"] for r in s.show(d2.queue_id)["recipients"]] == \
        ["hold"]
    s.wait_log(r"queue_id=%s event=accounting .*accounting=daily .*"
               r"recipients=3/2 .*verdict=hold" % d2.queue_id)
    # x.test had its message: bob's to it is discarded, w.test's goes
    rr, d3 = send(s, "bob@example.com", ["d@x.test", "e@w.test"])
    assert d3.code == 250
    assert [r["address"] for r in s.show(d3.queue_id)["recipients"]] == \
        ["e@w.test"]
    s.wait_log(r"queue_id=%s event=discarded from=<bob@example\.com> "
               r"to=<d@x\.test> reason=\"accounting\"" % d3.queue_id)
    # held and discarded recipients are not counted
    by = {(e["accounting"], e["key"]): figures(e)[:2] for e in report(s)}
    assert by == {("daily", "alice@example.com"): (1, 2),
                  ("daily", "bob@example.com"): (1, 1),
                  ("by-domain", "@w.test"): (1, 1),
                  ("by-domain", "@x.test"): (1, 1),
                  ("by-domain", "@y.test"): (1, 1)}, by


def test_held_deferred_mail_gives_back_its_reservation(sluice):
    """A quota defers the second message (capacity reserved in the next
    hour); the accounting holds it: the reservation goes back, as an
    administrator's hold gives it back."""
    s = sluice(extra=policy(
        acct(more="limit messages 1 verdict hold"),
        more="""    quota hourly { track Sender:user@domain period 1h
                   limit messages 1 verdict defer }
"""))
    today()
    assert send(s, "alice@example.com")[1].code == 250
    rr, d = send(s, "alice@example.com")
    assert d.code == 250
    assert [r["state"] for r in s.show(d.queue_id)["recipients"]] == ["hold"]
    s.wait_log(r"queue_id=%s event=quota .*verdict=defer" % d.queue_id)
    q = json.loads(s.ctl_ok("quota", "--json").stdout)["quotas"][0]
    assert (q["limits"][0]["used"], q["limits"][0]["reserved"]) == (1, 0), q
    assert figures(report(s)[0])[:2] == (1, 1)


def test_stop_ends_the_accountings(sluice):
    s = sluice(extra=policy(acct("staff", more="stop"), name="staff",
                            match="sender @example.com") +
               policy(acct("everyone", track="Sender:@domain"),
                      name="all", priority=20))
    today()
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "bob@other.test")[1].code == 250
    got = [(e["policy"], e["accounting"], e["key"]) for e in report(s)]
    assert got == [("staff", "staff", "alice@example.com"),
                   ("all", "everyone", "@other.test")], got


def test_counters_survive_sigterm_and_sigkill(sluice):
    s = sluice(extra=policy(acct(more="limit messages 3 verdict reject")))
    today()
    for _ in range(2):
        assert send(s, "alice@example.com", ["a@x.test", "b@x.test"])[1] \
            .code == 250
    before = report(s)
    s.restart()
    assert report(s) == before
    assert figures(before[0])[:2] == (2, 4)
    # the 250 means stored: a SIGKILL right after it loses nothing
    assert send(s, "alice@example.com")[1].code == 250
    s.kill(signal.SIGKILL)
    s.start()
    e = report(s)[0]
    assert figures(e)[:2] == (3, 5), e
    assert figures(e)[2] == sum(sizes(s, "alice@example.com"))
    s.wait_log(r"event=accounting-loaded accountings=1 periods=1 skipped=0 "
               r"keys=1")
    # and the limit goes on from there, refused with the default reply
    d = send(s, "alice@example.com")[1]
    assert (d.code, d.enhanced) == (550, "5.7.1"), d
    assert "Accounting limit reached (outbound/daily: messages 3 per day)" \
        in d.text, d


def test_history_shows_the_periods_kept(sluice):
    s = sluice(extra=policy(acct(more="keep 2")))
    day = today()
    s.stop()
    start = int(time.mktime(time.strptime(day, "%Y-%m-%d")))
    prev = time.strftime("%Y-%m-%d", time.localtime(start - 3600))
    prev_start = int(time.mktime(time.strptime(prev, "%Y-%m-%d")))
    stored_rows(s, "INSERT INTO acct_counter (acct, key, period, start,"
                " messages, recipients, bytes) VALUES"
                " ('outbound/daily', 'alice@example.com', ?, ?, 7, 9, 12345)",
                prev, prev_start)
    # three days ago: past keep 2, forgotten at start-up
    old = time.strftime("%Y-%m-%d", time.localtime(prev_start - 86400 - 3600))
    old_start = int(time.mktime(time.strptime(old, "%Y-%m-%d")))
    stored_rows(s, "INSERT INTO acct_counter (acct, key, period, start,"
                " messages, recipients, bytes) VALUES"
                " ('outbound/daily', 'alice@example.com', ?, ?, 1, 1, 1)",
                old, old_start)
    # a row that is not one (a hand-edited database) is skipped, logged
    stored_rows(s, "INSERT INTO acct_counter (acct, key, period, start,"
                " messages, recipients, bytes) VALUES"
                " ('outbound/daily', 'bob@example.com', '2026-13-45', 0,"
                " 1, 1, 1)")
    s.start()
    s.wait_log(r"event=accounting-load-skipped accounting=outbound/daily "
               r"key=bob@example\.com period=\"2026-13-45\"")
    s.wait_log(r"event=accounting-prune dropped=1 left=1")
    # nothing today yet: the current period has nothing for alice
    assert report(s) == []
    assert out(s.ctl_ok("accounting")) == \
        "nothing counted in the current periods\n"
    assert send(s, "alice@example.com")[1].code == 250
    assert [e["period"] for e in report(s)] == [day]
    h = report(s, "--history")
    assert [(e["period"], e["current"]) for e in h] == \
        [(day, True), (prev, False)], h
    assert figures(h[1]) == (7, 9, 12345), h
    assert to_epoch(h[1]["period_start"]) == prev_start
    lines = out(s.ctl_ok("accounting", "--history")).splitlines()
    assert re.search(r"alice@example\.com\s+%s\s+1\s+1\s" % day, lines[1])
    assert re.search(r"alice@example\.com\s+%s\s+7\s+9\s+12\.1K$" % prev,
                     lines[2]), lines
    st, doc, _ = api(s, "GET", "/v1/accounting?history=1&key=alice@example.com")
    assert st == 200 and doc["count"] == 2 and doc["history"] is True, doc
    s.stop()
    assert stored(s) == [
        ("outbound/daily", "alice@example.com", prev, 7, 9),
        ("outbound/daily", "alice@example.com", day, 1, 1),
        ("outbound/daily", "bob@example.com", "2026-13-45", 1, 1)]


def test_reload_forgets_a_removed_accounting(sluice):
    s = sluice(extra=policy(acct(), acct("volume", track="Sender:@domain",
                                         period="month")))
    month = today()[:7]
    assert send(s, "alice@example.com")[1].code == 250
    assert [e["accounting"] for e in report(s)] == ["daily", "volume"]
    assert [e["period"] for e in report(s)] == [month + today()[7:], month]
    s.conf.write_text(s.conf.read_text().replace(
        acct("volume", track="Sender:@domain", period="month"), ""))
    s.ctl_ok("reload")
    s.wait_log(r"event=accounting-prune dropped=1 left=1")
    assert [e["accounting"] for e in report(s)] == ["daily"]
    s.stop()
    assert [r[0] for r in stored(s)] == ["outbound/daily"]


def test_explain_shows_the_accountings(sluice):
    s = sluice(extra=policy(acct(more="limit messages 1 verdict reject")))
    day = today()
    x = json.loads(s.ctl_ok("explain", "--json", "--sender",
                            "alice@example.com", "--recipient",
                            "bob@example.net").stdout)
    assert x["recipients"][0]["verdict"] == "deliver", x
    assert x["accountings"] == [{
        "policy": "outbound", "accounting": "daily",
        "track": "Sender:user@domain", "key": "alice@example.com",
        "period": day,
        "messages": {"used": 0, "amount": 1, "limit": 1},
        "recipients": {"used": 0, "amount": 1, "limit": None},
        "size": {"used": 0, "amount": 0, "limit": None},
        "verdict": "within"}], x
    assert send(s, "alice@example.com")[1].code == 250
    r = s.ctl_ok("explain", "--sender", "alice@example.com", "--recipient",
                 "bob@example.net", "--size", "2K")
    text = out(r)
    assert "accounting outbound/daily applies: key alice@example.com" in text
    assert re.search(r"accounting outbound/daily: key alice@example\.com "
                     r"period %s: messages 1\+1/1, recipients 1\+1, size "
                     r"\d+\+2048: over the messages limit: reject" % day,
                     text), text
    assert "message refused: 550" in text, text
    assert re.search(r"bob@example\.net: reject \(the whole message", text)
    # explain counts nothing
    assert figures(report(s)[0])[:2] == (1, 1)


def test_a_failed_store_counts_nothing(small_disk_sluice):
    """The store fails (a full disk, as test_full_disk makes one): the
    message's counting is taken back."""
    s = small_disk_sluice
    s.conf.write_text(s.conf.read_text() + policy(acct()))
    s.start()
    today()
    body = ["%04d %s" % (i, "x" * 70) for i in range(500)]    # ~38 KiB
    acked, refusal = 0, None
    with SMTPClient(s.port, timeout=15) as c:
        assert c.ehlo("full.test").code == 250
        while refusal is None and acked < 200:
            msg = build_message("acct-%d@test" % acked, "a@example.com",
                                ["b@example.org"], "full", body)
            _, _, data = c.transaction("a@example.com", ["b@example.org"],
                                       msg)
            if data.code == 250:
                acked += 1
            else:
                refusal = data
    assert refusal is not None and refusal.code == 452, refusal
    assert acked >= 3
    s.wait_log(r"event=store-failed error=\".*full")
    # what was counted is what was acknowledged, in memory and on disk
    assert figures(report(s)[0])[:2] == (acked, acked)
    s.restart()
    assert figures(report(s)[0])[:2] == (acked, acked)
