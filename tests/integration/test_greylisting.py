"""Greylisting in the daemon (issue 7): sluice as an inbound gateway
(relay-domains) in front of a recording sink, real swaks clients on
127.0.0.0/8 source addresses (each one a client; 127.0.0.x share the
network 127.0.0.0/24 of the default track SenderIP:/24, 127.0.1.x is
another network).  trusted-networks is 127.0.0.1 alone: the clients are
strangers, so the identity greylisting keys on is the peer itself.

A greylisting period is a wait on the clock: the tests compute the
moment a triplet may pass (the deferral's reply time + the period) and
sleep until then, nothing more.  Periods are seconds long."""
import re
import signal
import time

from harness import deliver_to, wait_for
from rcpt_filters import policy, rcpt_lines, sleep_until, swaks_session

GREY_REPLY_RE = re.compile(r"^4\.7\.1 Greylisted, please try again in (\d+) seconds?$")
LOCAL = "relay.test"


def gateway(sluice, snk=None, grey="period 2s", more="", **kw):
    """sluiced as an inbound gateway for relay.test with greylisting."""
    extra = policy("inbound", 20, "recipient @%s" % LOCAL, greylisting=grey) + more
    deliver = deliver_to(snk.port) if snk is not None else kw.pop("deliver", None)
    args = dict(trusted="127.0.0.1/32", relay_domains=LOCAL, extra=extra)
    if deliver:
        args["deliver"] = deliver
    args.update(kw)
    return sluice(**args)


def assert_greylisted(t, rcpt, period):
    """The RCPT got the default deferral, and its wait is within the period."""
    code, text = t.rcpt[rcpt]
    m = GREY_REPLY_RE.match(text)
    assert code == 451 and m, "expected a greylisting deferral for %s: %r\n%s" % (
        rcpt, t.rcpt[rcpt], t.out)
    assert 0 < int(m.group(1)) <= period, text
    return int(m.group(1))


def assert_accepted(t, rcpt):
    assert t.rcpt.get(rcpt, (None,))[0] == 250, "%s not accepted: %r\n%s" % (rcpt, t.rcpt, t.out)
    assert t.data and t.data[0] == 250 and t.queue_id, "DATA: %r\n%s" % (t.data, t.out)


def test_greylisted_retried_too_soon_then_accepted_and_delivered(sluice, sink):
    snk = sink()
    s = gateway(sluice, snk, grey="period 3s")
    frm, to = "alice@remote.test", "user@%s" % LOCAL

    first = swaks_session(s.port, frm, to, helo="mx.remote.test", source="127.0.0.2")
    passes_at = time.time() + 3          # the triplet's first attempt + period
    assert_greylisted(first, to, 3)
    assert first.data is None and first.queue_id is None   # no DATA at all
    # a retry before the period: deferred again, with less to wait
    again = swaks_session(s.port, frm, to, helo="mx.remote.test", source="127.0.0.2")
    assert time.time() < passes_at - 1, "the retry came too late to be too soon"
    assert_greylisted(again, to, 3)
    # other senders and recipients from the same client are triplets of
    # their own
    other = swaks_session(s.port, "bob@remote.test", to, source="127.0.0.2")
    assert_greylisted(other, to, 3)
    # mail for a domain we do not relay is refused before greylisting
    out = swaks_session(s.port, frm, "x@elsewhere.test", source="127.0.0.2")
    assert out.rcpt["x@elsewhere.test"][0] == 554, out.rcpt
    assert snk.messages == [] and s.queue_json() == []

    sleep_until(passes_at)
    ok = swaks_session(s.port, frm, to, helo="mx.remote.test", source="127.0.0.2")
    assert_accepted(ok, to)
    (mail_from, rcpts, content, _), = snk.wait(1, 15)
    assert mail_from == frm and rcpts == [to]
    # a second message of a triplet that passed: at once
    again = swaks_session(s.port, frm, to, helo="mx.remote.test", source="127.0.0.2")
    assert_accepted(again, to)
    snk.wait(2, 15)
    # one transaction, a passed triplet and a new one: each RCPT its answer
    mixed = swaks_session(s.port, frm, [to, "new@%s" % LOCAL], source="127.0.0.2")
    assert mixed.rcpt[to][0] == 250
    assert_greylisted(mixed, "new@%s" % LOCAL, 3)
    assert mixed.data[0] == 250
    msgs = snk.wait(3, 15)
    assert msgs[2].rcpt_tos == [to]

    lines = rcpt_lines(s, "greylist")
    assert any(re.search(r"client=\[127\.0\.0\.2\] from=<alice@remote\.test> "
                         r"to=<user@relay\.test> greylist=defer reason=greylisted "
                         r"net=127\.0\.0\.0/24", l) for l in lines), "\n".join(lines)
    assert any("reason=too-soon" in l for l in lines), "\n".join(lines)
    assert any(re.search(r"from=<alice@remote\.test> to=<user@relay\.test> "
                         r"greylist=pass reason=passed", l) for l in lines), "\n".join(lines)


def test_another_client_of_the_same_network_shares_the_triplet(sluice):
    """track SenderIP:/24 (the default): the triplet is the network's, so
    a retry from another address of the /24 passes; /32 keys on the
    address alone."""
    s = gateway(sluice, grey="period 2s")
    t0 = swaks_session(s.port, "a@remote.test", "u@%s" % LOCAL, source="127.0.0.2")
    passes_at = time.time() + 2
    assert_greylisted(t0, "u@%s" % LOCAL, 2)
    # another network: its own triplet
    t1 = swaks_session(s.port, "a@remote.test", "u@%s" % LOCAL, source="127.0.1.2")
    assert_greylisted(t1, "u@%s" % LOCAL, 2)
    sleep_until(passes_at)
    t2 = swaks_session(s.port, "a@remote.test", "u@%s" % LOCAL, source="127.0.0.3")
    assert_accepted(t2, "u@%s" % LOCAL)


def test_the_null_sender_is_greylisted_per_recipient(sluice):
    s = gateway(sluice, grey="period 2s")
    r1, r2 = "one@%s" % LOCAL, "two@%s" % LOCAL
    t = swaks_session(s.port, "", r1, helo="mx.remote.test", source="127.0.0.2")
    passes_at = time.time() + 2
    assert t.mail[0] == 250
    assert_greylisted(t, r1, 2)
    sleep_until(passes_at)
    t = swaks_session(s.port, "", [r1, r2], helo="mx.remote.test", source="127.0.0.2")
    assert t.rcpt[r1][0] == 250, t.rcpt
    assert_greylisted(t, r2, 2)            # a bounce to another recipient
    assert t.data[0] == 250
    # a real sender to r1 is another triplet
    t = swaks_session(s.port, "someone@remote.test", r1, source="127.0.0.2")
    assert_greylisted(t, r1, 2)
    assert any(re.search(r"from=<> to=<two@relay\.test> greylist=defer", l)
               for l in rcpt_lines(s, "greylist"))


def test_static_whitelists_by_client_and_by_sender_domain(sluice):
    s = gateway(sluice, grey="period 1h whitelist 127.0.0.3/32 127.0.2.0/24 "
                           "@partner.test @*.friends.test")
    to = "u@%s" % LOCAL
    # whitelisted clients: at once, whoever sends
    for src in ("127.0.0.3", "127.0.2.9"):
        assert_accepted(swaks_session(s.port, "x@random.test", to, source=src), to)
    # whitelisted sender domains, from any client
    for frm in ("a@partner.test", "b@mx.friends.test", "c@deep.mx.friends.test"):
        assert_accepted(swaks_session(s.port, frm, to, source="127.0.0.2"), to)
    # not whitelisted: a neighbour of the client, a subdomain of @partner,
    # the parent of @*.friends
    for src, frm in (("127.0.0.4", "x@random.test"), ("127.0.0.2", "a@sub.partner.test"),
                     ("127.0.0.2", "a@friends.test")):
        assert_greylisted(swaks_session(s.port, frm, to, source=src), to, 3600)
    lines = rcpt_lines(s, "greylist")
    assert any("greylist=pass reason=whitelisted matched=127.0.0.3/32" in l for l in lines), \
        "\n".join(lines)
    assert any("greylist=pass reason=whitelisted matched=@partner.test" in l for l in lines), \
        "\n".join(lines)


def test_training_mode_never_defers_but_records(sluice):
    s = gateway(sluice, grey="period 1h training yes")
    to = "u@%s" % LOCAL
    for _ in range(2):
        assert_accepted(swaks_session(s.port, "a@remote.test", to, source="127.0.0.2"), to)
    assert_accepted(swaks_session(s.port, "b@remote.test", to, source="127.0.1.2"), to)
    lines = rcpt_lines(s, "greylist")
    # what it would have done: the first a greylisting, the retry too soon
    assert re.search(r"from=<a@remote\.test> to=<u@relay\.test> greylist=pass "
                     r"reason=training would=greylisted", "\n".join(lines)), "\n".join(lines)
    assert re.search(r"from=<a@remote\.test> to=<u@relay\.test> greylist=pass "
                     r"reason=training would=too-soon", "\n".join(lines)), "\n".join(lines)


def test_auto_whitelist_by_count_lets_the_network_through(sluice):
    """auto-whitelist 2: once two triplets of a network have passed, any
    sender from that network (the /24) passes at once; one is not
    enough, and another network is not concerned."""
    s = gateway(sluice, grey="period 2s auto-whitelist 2 within 1h")
    to = "u@%s" % LOCAL
    for frm in ("a@remote.test", "b@remote.test"):
        assert_greylisted(swaks_session(s.port, frm, to, source="127.0.0.2"), to, 2)
    passes_at = time.time() + 2
    sleep_until(passes_at)
    assert_accepted(swaks_session(s.port, "a@remote.test", to, source="127.0.0.2"), to)
    # one passed triplet: not yet
    assert_greylisted(swaks_session(s.port, "c@remote.test", to, source="127.0.0.3"), to, 2)
    assert_accepted(swaks_session(s.port, "b@remote.test", to, source="127.0.0.2"), to)
    # two: the network is whitelisted, a new sender and recipient pass
    assert_accepted(swaks_session(s.port, "d@other.test", "v@%s" % LOCAL,
                                  source="127.0.0.4"), "v@%s" % LOCAL)
    # another network is not
    assert_greylisted(swaks_session(s.port, "d@other.test", to, source="127.0.1.4"), to, 2)
    assert any("greylist=pass reason=auto-whitelisted net=127.0.0.0/24" in l
               for l in rcpt_lines(s, "greylist")), s.log_tail(30)


def greylisted_then_due(s, frm, to, src, period):
    t = swaks_session(s.port, frm, to, source=src)
    due = time.time() + period
    assert_greylisted(t, to, period)
    return due


def test_triplets_survive_a_restart(sluice):
    """SIGTERM: the state is written when sluiced stops; the retry after
    the restart is the triplet's second attempt, not a first one."""
    s = gateway(sluice, grey="period 2s")
    to = "u@%s" % LOCAL
    due = greylisted_then_due(s, "a@remote.test", to, "127.0.0.2", 2)
    # and one that has passed before the restart
    sleep_until(due)
    assert_accepted(swaks_session(s.port, "a@remote.test", to, source="127.0.0.2"), to)
    due2 = greylisted_then_due(s, "b@remote.test", to, "127.0.0.2", 2)
    s.kill(signal.SIGTERM)
    s.start()
    assert_accepted(swaks_session(s.port, "a@remote.test", to, source="127.0.0.2"), to)
    sleep_until(due2)
    assert_accepted(swaks_session(s.port, "b@remote.test", to, source="127.0.0.2"), to)
    # a triplet never seen is still new after the restart
    assert_greylisted(swaks_session(s.port, "c@remote.test", to, source="127.0.0.2"), to, 2)


def grey_rows(s):
    """The greylisting triplets in the state database, read as a second
    reader (SQLite allows it while sluiced writes): {(net, sender, rcpt)}."""
    import sqlite3
    rows = set()
    for db in s.state_dir.glob("*.db"):
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            have = con.execute("SELECT name FROM sqlite_master WHERE type='table' "
                               "AND name='grey_triplet'").fetchall()
            if have:
                rows |= set(con.execute("SELECT net, sender, rcpt FROM grey_triplet"))
        finally:
            con.close()
    return rows


def test_triplets_survive_sigkill_once_written_behind(sluice):
    """SIGKILL: the triplets are written behind the decisions by the
    writer thread; once a triplet is in the database (awaited: the
    write-behind has no event to block on), a kill does not lose it."""
    s = gateway(sluice, grey="period 2s")
    to = "u@%s" % LOCAL
    t0 = time.monotonic()
    due = greylisted_then_due(s, "a@remote.test", to, "127.0.0.2", 2)
    # POLLING the database: how long the write-behind takes is what this
    # measures (the bound is generous; the figure is printed)
    wait_for(lambda: ("127.0.0.0/24", "a@remote.test", to) in grey_rows(s), 3,
             "the triplet to be written behind")
    print("triplet durable %.2fs after its deferral" % (time.monotonic() - t0))
    s.kill(signal.SIGKILL)
    s.start()
    sleep_until(due)
    assert_accepted(swaks_session(s.port, "a@remote.test", to, source="127.0.0.2"), to)
