"""The RCPT stage waits for answers from outside (the HELO's DNS look-up,
SPF on a worker thread) while the session's input is paused: pipelined
commands are answered in order, a client that leaves or resets while a
check is in flight does not hurt the daemon, and greylisting's state
outlives a reload.  (Run against the ASan+UBSan build too: a freed
transaction answered later would show there.)"""
import socket
import struct
import time

from dnsmasq import dnsmasq, host, txt  # noqa: F401
from harness import deliver_to, wait_for
from rcpt_filters import SlowDNS, policy, sleep_until, swaks_session
from smtpwire import SMTPClient, build_message, dot_stuff

RULES = policy("inbound", 20, "recipient @relay.test",
               helo="reject-unresolvable yes", spf="reject-fail yes add-header yes")


def async_sluice(sluice, dnsmasq, snk=None, more_dns=()):
    dns = dnsmasq([txt("pass.test", "v=spf1 ip4:192.0.2.9 -all"),
                   txt("fail.test", "v=spf1 -all"),
                   host("mx.remote.test", "192.0.2.9")] + list(more_dns))
    kw = dict(trusted="127.0.0.1/32", relay_domains="relay.test",
              extra=RULES + "resolver %s\n" % dns.server)
    if snk is not None:
        kw["deliver"] = deliver_to(snk.port)
    return sluice(**kw)


def xforward(c, client="192.0.2.9", helo="mx.remote.test"):
    assert c.ehlo("mta1.test").code == 250
    assert c.cmd("XFORWARD ADDR=%s HELO=%s" % (client, helo)).code == 250


def test_pipelined_recipients_are_answered_in_order(sluice, sink, dnsmasq):
    snk = sink()
    s = async_sluice(sluice, dnsmasq, snk)
    rcpts = ["a@relay.test", "b@elsewhere.test", "c@relay.test"]
    msg = build_message("pipe@test", "x@fail.test", rcpts, "pipelined", ["hi"])
    with SMTPClient(s.port) as c:
        xforward(c)
        assert "PIPELINING" in c.ext
        # SPF fails for the relay.test recipients; elsewhere.test is not
        # filtered (no policy); one group, as a pipelining client sends it
        c.send(b"MAIL FROM:<x@fail.test>\r\n" +
               b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts) +
               b"DATA\r\n")
        replies = [c.reply() for _ in range(5)]
        assert [r.code for r in replies] == [250, 550, 250, 550, 354], replies
        c.send(dot_stuff(msg))
        end = c.reply()
        assert end.code == 250 and end.queue_id, end
        # the next transaction of the session, pipelined with RSET; the
        # XFORWARD attributes last one transaction (as Postfix's smtpd
        # has them), so mta1 sends them again
        c.send(b"RSET\r\nXFORWARD ADDR=192.0.2.9 HELO=mx.remote.test\r\n"
               b"MAIL FROM:<y@pass.test>\r\nRCPT TO:<d@relay.test>\r\n"
               b"RCPT TO:<e@relay.test>\r\nNOOP\r\n")
        replies = [c.reply() for _ in range(6)]
        assert [r.code for r in replies] == [250] * 6, replies
        c.cmd("QUIT")
    m, = snk.wait(1, 15)
    assert m.rcpt_tos == ["b@elsewhere.test"]


def test_a_client_that_leaves_or_resets_during_a_check(sluice, dnsmasq):
    """Checks in flight (SPF whose DNS answers NXDOMAIN after 2 s) when the
    client closes the connection, resets it, or queues RSET and QUIT
    behind the pending RCPT: those are answered after it, in order, other
    clients are served meanwhile, and the abandoned checks end quietly
    (the ASan run would show a transaction freed under a check)."""
    slow = SlowDNS(2.0)
    try:
        s = async_sluice(sluice, dnsmasq, more_dns=["--server=/delay.test/127.0.0.1#%d" % slow.port])
        c = SMTPClient(s.port)
        xforward(c)
        c.send(b"MAIL FROM:<a@x.delay.test>\r\nRCPT TO:<u@relay.test>\r\n")
        assert c.reply().code == 250
        c.close()                        # RCPT unanswered: gone
        # POLLING: the slow server counts the queries it holds
        wait_for(lambda: slow.queries >= 1, 10, "an SPF query to the slow server")
        # a connection reset (RST) with a check in flight
        c = SMTPClient(s.port)
        xforward(c)
        c.send(b"MAIL FROM:<a@y.delay.test>\r\nRCPT TO:<u@relay.test>\r\n")
        assert c.reply().code == 250
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # RSET and QUIT queued behind a pending RCPT
        c = SMTPClient(s.port, timeout=30)
        xforward(c)
        t0 = time.monotonic()
        c.send(b"MAIL FROM:<a@z.delay.test>\r\nRCPT TO:<u@relay.test>\r\nRSET\r\nQUIT\r\n")
        assert c.reply().code == 250
        # meanwhile another client is served at once
        t = swaks_session(s.port, "z@pass.test", "v@relay.test", helo="mx.remote.test",
                          source="127.0.0.2")
        assert t.rcpt.get("v@relay.test", (0,))[0] == 250, t.out
        assert time.monotonic() - t0 < 1.5, "served only after the slow checks"
        r = c.reply()                    # SPF none: accepted
        assert r.code == 250 and time.monotonic() - t0 >= 1.5, r
        assert [c.reply().code for _ in range(2)] == [250, 221]
        assert c.is_closed()
        c.close()
        # the daemon is healthy: status answers and a new session works
        s.ctl_ok("status")
        t = swaks_session(s.port, "z@pass.test", "w@relay.test", helo="mx.remote.test",
                          source="127.0.0.3")
        assert t.rcpt["w@relay.test"][0] == 250
    finally:
        slow.close()


def test_greylisting_state_outlives_a_reload(sluice):
    s = sluice(trusted="127.0.0.1/32", relay_domains="relay.test",
               extra=policy("inbound", 20, "recipient @relay.test",
                            greylisting="period 2s"))
    to = "u@relay.test"
    t = swaks_session(s.port, "a@remote.test", to, source="127.0.0.2")
    due = time.time() + 2
    assert t.rcpt[to][0] == 451, t.rcpt
    # the same period, another reply: the configuration changes, the
    # triplet stays
    s.conf.write_text(s.conf.read_text().replace(
        "greylisting { period 2s }",
        'greylisting { period 2s reply "Come back in a moment" }'))
    mark = s.log_mark()
    s.ctl_ok("reload")
    s.wait_log(r"event=policies-loaded", since=mark)
    t = swaks_session(s.port, "b@remote.test", to, source="127.0.0.2")
    assert t.rcpt[to] == (451, "4.7.1 Come back in a moment"), t.rcpt
    sleep_until(due)
    t = swaks_session(s.port, "a@remote.test", to, source="127.0.0.2")
    assert t.rcpt[to][0] == 250, t.rcpt
