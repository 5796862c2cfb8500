"""The RCPT filters behind a real Postfix mta1 that relays to sluice with
XFORWARD: greylisting, SPF and the HELO checks act on the original
client (XFORWARD ADDR and HELO), never on mta1's own 127.0.0.1 and
mta1.test.  The original clients are real swaks processes talking to
mta1 from another 127/8 source address (127.0.5.2: another /24 than
mta1's) or, for SPF (libspf2 passes loopback without DNS), naming an
address outside 127/8 with XCLIENT, which mta1 is told to believe from
127/8 and then forwards with XFORWARD.

Postfix queues a message whose RCPT got a 4xx from its relayhost and
retries it: mta1.py sets queue_run_delay and the backoff times to 1-2 s,
so the retry after the greylisting period comes seconds later."""
import re
import time

from dnsmasq import dnsmasq, txt  # noqa: F401
from harness import deliver_to
from rcpt_filters import headers_of, policy, rcpt_lines, swaks_session

MTA1_SETTINGS = {
    # the original clients: 127/8 and the documentation network, which
    # the test clients claim with XCLIENT
    "mynetworks": "127.0.0.0/8 192.0.2.0/24",
    "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
}


def submit(mta, sender, rcpt, helo, source="127.0.5.2", xclient_addr=None):
    """swaks -> mta1: returns mta1's queue id."""
    extra = []
    if xclient_addr:
        extra = ["--xclient-addr", xclient_addr, "--xclient-helo", helo,
                 "--xclient-name", "[UNAVAILABLE]"]
    t = swaks_session(mta.port, sender, rcpt, helo=helo, source=source, extra=extra)
    if xclient_addr:
        assert t.xclient and t.xclient[0] == 220, t.out
    assert t.data and t.data[0] == 250 and t.queue_id, "mta1 refused:\n" + t.out
    return t.queue_id


def sluice_reply(mta, qid, timeout=30):
    """mta1's maillog: the first answer sluice gave for qid (status and
    the reply text)."""
    m = mta.wait_maillog(r"\b%s: to=<[^>]*>.*status=(\w+) \((.*)\)$" % qid, timeout)
    return m.group(1), m.group(2)


def test_greylisting_keys_on_the_original_client_behind_mta1(sluice, mta1, sink):
    snk = sink()
    s = sluice(trusted="127.0.0.1/32", relay_domains="relay.test",
               deliver=deliver_to(snk.port),
               extra=policy("inbound", 20, "recipient @relay.test",
                            greylisting="period 3s"))
    mta = mta1(relay_port=s.port, settings=MTA1_SETTINGS)
    frm, to = "alice@remote.test", "user@relay.test"
    t0 = time.time()
    qid = submit(mta, frm, to, "orig.remote.test", source="127.0.5.2")
    status, reply = sluice_reply(mta, qid)
    assert status == "deferred", (status, reply)
    assert re.search(r"said: 451 4\.7\.1 Greylisted, please try again in [1-3] seconds? "
                     r"\(in reply to RCPT TO command\)", reply), reply
    # mta1 retries on its own; the period passes; the message arrives
    line = mta.wait_delivered(qid, timeout=30)
    assert "relay=127.0.0.1[127.0.0.1]:%d" % s.port in line, line
    (mail_from, rcpts, content, _), = snk.wait(1, 15)
    assert (mail_from, rcpts) == (frm, [to])
    assert time.time() - t0 >= 3
    lines = rcpt_lines(s, "greylist")
    assert lines and all("client=[127.0.5.2]" in l and "net=127.0.5.0/24" in l
                         for l in lines), "\n".join(lines)
    assert re.search(r"greylist=defer reason=greylisted net=127\.0\.5\.0/24", lines[0]), lines
    assert "greylist=pass reason=passed" in lines[-1], lines
    # the same sender and recipient from another original client (and
    # network), through the same mta1: a triplet of its own, greylisted,
    # although mta1's address and HELO have not changed
    qid2 = submit(mta, frm, to, "other.remote.test", source="127.0.6.2")
    status, reply = sluice_reply(mta, qid2)
    assert status == "deferred" and "451 4.7.1 Greylisted" in reply, (status, reply)
    mta.wait_delivered(qid2, timeout=30)
    snk.wait(2, 15)
    assert not any("127.0.0.1" in l.split(" reply=")[0] for l in rcpt_lines(s, "greylist"))
    assert mta.queue_is_empty(), mta.queue_listing()


def test_spf_and_helo_of_the_original_client_behind_mta1(sluice, mta1, sink, dnsmasq):
    dns = dnsmasq([txt("only77.test", "v=spf1 ip4:192.0.2.77 -all"),
                   txt("not77.test", "v=spf1 ip4:192.0.2.78 -all")])
    snk = sink()
    s = sluice(trusted="127.0.0.1/32", relay_domains="relay.test",
               deliver=deliver_to(snk.port),
               extra=policy("inbound", 20, "recipient @relay.test",
                            spf="reject-fail yes add-header yes",
                            helo="reject-invalid yes blacklist mta1.test")
               + "resolver %s\n" % dns.server)
    mta = mta1(relay_port=s.port, settings=MTA1_SETTINGS)
    # SPF passes for the original client 192.0.2.77 only; mta1's own
    # 127.0.0.1 would pass any record (loopback), and its HELO mta1.test
    # is blacklisted here
    ok = submit(mta, "a@only77.test", "pass@relay.test", "orig.remote.test",
                xclient_addr="192.0.2.77")
    mta.wait_delivered(ok, timeout=30)
    msg, = snk.wait(1, 15)
    hdrs = headers_of(msg.content)
    assert hdrs[0][0] == "Received-SPF", hdrs[:3]
    assert hdrs[0][1].startswith("pass ") and "client-ip=192.0.2.77;" in hdrs[0][1] and \
        "helo=orig.remote.test;" in hdrs[0][1], hdrs[0]
    assert hdrs[1][0] == "Received" and "by sluice.test" in hdrs[1][1], hdrs[:3]
    # a record that passes another address: refused, and mta1 bounces
    bad = submit(mta, "b@not77.test", "fail@relay.test", "orig.remote.test",
                 xclient_addr="192.0.2.77")
    status, reply = sluice_reply(mta, bad)
    assert status == "bounced" and re.search(
        r"said: 550 5\.7\.23 SPF check failed: .*\(in reply to RCPT TO command\)",
        reply), (status, reply)
    # the original HELO is checked, not mta1's
    badhelo = submit(mta, "c@remote.test", "helo@relay.test", "localhost",
                     source="127.0.5.2")
    status, reply = sluice_reply(mta, badhelo)
    assert status == "bounced" and \
        "said: 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified " \
        "hostname (in reply to RCPT TO command)" in reply, (status, reply)
    spf = [l for l in s.lines if " event=spf client=" in l]
    assert spf and all("client=[192.0.2.77] helo=orig.remote.test" in l for l in spf), \
        "\n".join(spf)
    helo = rcpt_lines(s, "helo")
    assert len(helo) == 1 and "client=[127.0.5.2] helo=localhost " in helo[0], helo
    # mta1's bounces went to the senders (not relay.test): no filters
    assert not any("fail@relay.test" in m.rcpt_tos or "helo@relay.test" in m.rcpt_tos
                   for m in snk.messages)
