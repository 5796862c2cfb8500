"""SPF in the daemon (issue 7): the RCPT stage checks the original
client, HELO and sender against a private dnsmasq (`resolver`), refuses
or defers as the matched policies say, and prepends Received-SPF (above
sluice's own Received) to the message it delivers to the sink.

libspf2 passes any loopback client without DNS, so the original client
here is outside 127/8: our client plays mta1 (a trusted peer) and names
it with XFORWARD ADDR, as Postfix's smtp_send_xforward_command does
(test_rcpt_filters_mta1.py does the same through a real Postfix)."""
import re
import threading
import time

from dnsmasq import dnsmasq, txt  # noqa: F401
from harness import deliver_to, wait_for
from rcpt_filters import headers_of, policy, xforward_session
from test_dns import fake_server  # noqa: F401

CLIENT = "192.0.2.9"
HELO = "h.remote.test"

RECORDS = [
    txt("pass.test", "v=spf1 ip4:192.0.2.9 -all"),
    txt("fail.test", "v=spf1 ip4:192.0.2.200 -all"),
    txt("softfail.test", "v=spf1 ~all"),
    txt("neutral.test", "v=spf1 ?all"),
    txt("syntax.test", "v=spf1 foo"),
    txt("helo.remote.test", "v=spf1 ip4:192.0.2.9 -all"),
]

POLICIES = (
    # the DESIGN.md example: refuse failures, say what was found
    policy("inbound", 20, "recipient @relay.test",
           spf="reject-fail yes add-header yes")
    # only add the header (fail is accepted)
    + policy("lenient", 21, "recipient @lenient.test", spf="add-header yes")
    # refuse failures, no header
    + policy("quiet", 22, "recipient @quiet.test", spf="reject-fail yes")
)


def spf_sluice(sluice, sink, dnsmasq, fake_server, more="", **kw):
    """(sluiced, sink, silent DNS server) with RECORDS on a dnsmasq that
    forwards broken.test to a server answering SERVFAIL and slow.test to
    one that never answers."""
    servfail = fake_server(rcode=2)
    silent = fake_server()
    dns = dnsmasq(RECORDS + ["--server=/broken.test/127.0.0.1#%d" % servfail.port,
                             "--server=/slow.test/127.0.0.1#%d" % silent.port])
    snk = sink()
    s = sluice(trusted="127.0.0.1/32",
               relay_domains="relay.test lenient.test quiet.test",
               deliver=deliver_to(snk.port),
               extra=POLICIES + "resolver %s\n" % dns.server + more, **kw)
    return s, snk, silent


def delivered(snk, rcpt, timeout=15):
    """The one message the sink got for rcpt."""
    def mine():
        return [m for m in snk.messages if rcpt in m.rcpt_tos]
    deadline = time.monotonic() + timeout
    while not mine() and time.monotonic() < deadline:
        snk.wait(len(snk.messages) + 1, max(0.1, deadline - time.monotonic()))
    got = mine()
    assert len(got) == 1, "messages for %s: %r" % (rcpt, got)
    return got[0]


def spf_header(msg):
    """The Received-SPF values of a delivered message, and whether the
    first of them sits right above sluice's own Received header (the
    message's first two fields)."""
    hdrs = headers_of(msg.content)
    values = [v for n, v in hdrs if n.lower() == "received-spf"]
    on_top = (len(hdrs) >= 2 and hdrs[0][0] == "Received-SPF" and
              hdrs[1][0] == "Received" and "by sluice.test" in hdrs[1][1])
    return values, on_top


def expect_header(msg, result, sender, client=CLIENT, helo=HELO, identity="mailfrom"):
    values, on_top = spf_header(msg)
    assert len(values) == 1, values
    v = values[0]
    assert v.startswith(result + " (sluice.test: "), v
    tail = "client-ip=%s; envelope-from=%s; helo=%s; receiver=sluice.test; identity=%s;" % (
        client, sender, helo, identity)
    assert v.endswith(tail), "%r\ndoes not end with %r" % (v, tail)
    assert on_top, "Received-SPF is not just above sluice's Received:\n%s" % \
        msg.content[:600].decode(errors="replace")
    return v


def test_each_result_at_rcpt_and_in_the_delivered_message(sluice, sink, dnsmasq,
                                                          fake_server):
    s, snk, _ = spf_sluice(sluice, sink, dnsmasq, fake_server)
    cases = {
        # sender: (recipient, expected RCPT code, enhanced code or None)
        "a@pass.test": ("pass@relay.test", 250, None),
        "a@fail.test": ("fail@relay.test", 550, "5.7.23"),
        "b@fail.test": ("fail@lenient.test", 250, None),
        "a@softfail.test": ("softfail@relay.test", 250, None),
        "a@neutral.test": ("neutral@relay.test", 250, None),
        "a@none.test": ("none@relay.test", 250, None),
        "a@syntax.test": ("permerror@relay.test", 250, None),
        "a@x.broken.test": ("temperror@relay.test", 451, "4.7.24"),
        "c@fail.test": ("fail@quiet.test", 550, "5.7.23"),
        "b@pass.test": ("pass@quiet.test", 250, None),
    }
    for sender, (rcpt, code, dsn) in cases.items():
        t = xforward_session(s.port, CLIENT, HELO, sender, rcpt)
        got = t.rcpt[rcpt]
        assert got[0] == code, (sender, rcpt, got)
        if dsn:
            assert got[1].startswith(dsn + " "), (sender, got)
        else:
            assert t.data[0] == 250, (sender, t.data)
    # the refusals say why
    fail = xforward_session(s.port, CLIENT, HELO, "z@fail.test", "fail@relay.test")
    assert re.match(r"5\.7\.23 SPF check failed: ", fail.rcpt["fail@relay.test"][1]), fail

    expect_header(delivered(snk, "pass@relay.test"), "pass", "a@pass.test")
    expect_header(delivered(snk, "fail@lenient.test"), "fail", "b@fail.test")
    expect_header(delivered(snk, "softfail@relay.test"), "softfail", "a@softfail.test")
    expect_header(delivered(snk, "neutral@relay.test"), "neutral", "a@neutral.test")
    expect_header(delivered(snk, "none@relay.test"), "none", "a@none.test")
    expect_header(delivered(snk, "permerror@relay.test"), "permerror", "a@syntax.test")
    # add-header no: none added
    assert spf_header(delivered(snk, "pass@quiet.test"))[0] == []
    assert len(snk.messages) == 7, [m.rcpt_tos for m in snk.messages]
    lines = "\n".join(s.lines)
    assert re.search(r"event=spf client=\[192\.0\.2\.9\] helo=h\.remote\.test "
                     r"from=<a@fail\.test> result=fail", lines), lines


def test_one_check_per_transaction_one_header(sluice, sink, dnsmasq, fake_server):
    """Recipients of different policies in one transaction: each gets its
    policy's answer from one SPF result, and the message carries one
    Received-SPF however many recipients asked for it."""
    s, snk, _ = spf_sluice(sluice, sink, dnsmasq, fake_server)
    rcpts = ["u@relay.test", "v@lenient.test", "w@relay.test", "x@quiet.test"]
    t = xforward_session(s.port, CLIENT, HELO, "a@fail.test", rcpts)
    assert [t.rcpt[r][0] for r in rcpts] == [550, 250, 550, 550], t.rcpt
    assert t.data[0] == 250
    expect_header(delivered(snk, "v@lenient.test"), "fail", "a@fail.test")
    t = xforward_session(s.port, CLIENT, HELO, "a@softfail.test", rcpts)
    assert [t.rcpt[r][0] for r in rcpts] == [250] * 4, t.rcpt
    m = delivered(snk, "x@quiet.test")
    assert sorted(m.rcpt_tos) == sorted(rcpts)
    expect_header(m, "softfail", "a@softfail.test")
    lines = [l for l in s.lines if " event=spf client=" in l]
    assert len(lines) == 2, "\n".join(lines)


def test_the_null_sender_is_checked_by_its_helo(sluice, sink, dnsmasq, fake_server):
    s, snk, _ = spf_sluice(sluice, sink, dnsmasq, fake_server)
    t = xforward_session(s.port, CLIENT, "helo.remote.test", "", "bounce@relay.test")
    assert t.rcpt["bounce@relay.test"][0] == 250 and t.data[0] == 250, t
    v = expect_header(delivered(snk, "bounce@relay.test"), "pass",
                      "postmaster@helo.remote.test", helo="helo.remote.test",
                      identity="helo")
    assert "192.0.2.9" in v
    t = xforward_session(s.port, "192.0.2.10", "helo.remote.test", "", "bounce@relay.test")
    assert t.rcpt["bounce@relay.test"][0] == 550, t.rcpt


def test_a_silent_dns_server_is_a_temperror_without_holding_others(sluice, sink, dnsmasq,
                                                                    fake_server):
    """A DNS server that never answers: the check ends at spf-timeout
    (2s here; 20s by default) with 451 4.7.24, and other sessions are
    answered meanwhile.  The session's command timeout (2s here too)
    does not run while sluice itself is waiting."""
    s, snk, silent = spf_sluice(sluice, sink, dnsmasq, fake_server, more="spf-timeout 2s\n")
    out = {}

    def slow():
        t0 = time.monotonic()
        out["t"] = xforward_session(s.port, CLIENT, HELO, "a@x.slow.test",
                                    "slow@relay.test", timeout=30)
        out["secs"] = time.monotonic() - t0

    th = threading.Thread(target=slow, daemon=True)
    th.start()
    # POLLING: the silent server counts the queries it swallowed
    wait_for(lambda: silent.queries > 0, 10, "the silent server to be asked")
    t0 = time.monotonic()
    t = xforward_session(s.port, CLIENT, HELO, "a@pass.test", "pass@relay.test")
    assert t.rcpt["pass@relay.test"][0] == 250 and time.monotonic() - t0 < 1, t
    th.join(30)
    assert not th.is_alive(), "no answer to RCPT within 30s"
    t = out["t"]
    code, text = t.rcpt["slow@relay.test"]
    assert (code, text) == (451, "4.7.24 Temporary SPF error, try again later"), t.rcpt
    assert 1.8 <= out["secs"] <= 4, out["secs"]
    assert t.data is None
