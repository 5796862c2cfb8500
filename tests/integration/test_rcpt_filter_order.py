"""The order of the RCPT stage (DESIGN.md, "Data flow", step 3;
cbpolicyd's module order): access control, HELO checks, SPF, then
greylisting; the first refusal wins, so a bad HELO or an SPF failure is
refused (5xx) rather than greylisted (4xx), and greylisting records no
triplet for it; an access rule's reject wins over everything, and
`access ok` ends the stage (no filter runs for that recipient)."""
import re

from dnsmasq import dnsmasq, txt  # noqa: F401
from rcpt_filters import policy, rcpt_lines, swaks_session, xforward_session

RULES = (
    policy("deny", 5, "recipient blocked@relay.test",
           access='reject reply "550 5.7.1 No mail for this address"')
    + policy("vip", 6, "sender boss@partner.test", access="ok")
    + policy("inbound", 20, "recipient @relay.test",
             helo="reject-invalid yes", spf="reject-fail yes",
             greylisting="period 1h")
)


def order_sluice(sluice, dnsmasq):
    dns = dnsmasq([txt("fail.test", "v=spf1 ip4:192.0.2.200 -all"),
                   txt("pass.test", "v=spf1 ip4:192.0.2.9 -all"),
                   txt("partner.test", "v=spf1 -all")])
    return sluice(trusted="127.0.0.1/32", relay_domains="relay.test",
                  extra=RULES + "resolver %s\n" % dns.server)


def lines_for(s, rcpt):
    return [l for l in s.lines if "to=<%s>" % rcpt in l and
            re.search(r" event=(access|helo|spf|greylist) ", l)]


def test_a_bad_helo_is_refused_not_greylisted(sluice, dnsmasq):
    s = order_sluice(sluice, dnsmasq)
    to = "u@relay.test"
    t = swaks_session(s.port, "a@remote.test", to, helo="bad_name.remote.test",
                      source="127.0.0.2")
    assert t.rcpt[to][0] == 501, t.rcpt
    assert rcpt_lines(s, "greylist") == []
    # the same client with a good HELO: its first attempt (nothing was
    # recorded for the refused one)
    t = swaks_session(s.port, "a@remote.test", to, helo="mx.remote.test",
                      source="127.0.0.2")
    assert t.rcpt[to][0] == 451, t.rcpt
    g = rcpt_lines(s, "greylist")
    assert len(g) == 1 and "greylist=defer reason=greylisted" in g[0], g


def test_an_spf_failure_is_refused_not_greylisted(sluice, dnsmasq):
    s = order_sluice(sluice, dnsmasq)
    to = "u@relay.test"
    t = xforward_session(s.port, "192.0.2.9", "mx.remote.test", "a@fail.test", to)
    assert t.rcpt[to][0] == 550 and t.rcpt[to][1].startswith("5.7.23 "), t.rcpt
    assert rcpt_lines(s, "greylist") == []
    # a bad HELO and a failing SPF: HELO comes first, SPF is not asked
    t = xforward_session(s.port, "192.0.2.9", "bad_name", "b@fail.test", to)
    assert t.rcpt[to][0] == 501, t.rcpt
    spf = [l for l in s.lines if " event=spf " in l and "b@fail.test" in l]
    assert spf == [], spf
    # SPF passes: greylisting has its say
    t = xforward_session(s.port, "192.0.2.9", "mx.remote.test", "a@pass.test", to)
    assert t.rcpt[to][0] == 451, t.rcpt
    assert len(rcpt_lines(s, "greylist")) == 1


def test_access_control_wins_over_every_filter(sluice, dnsmasq):
    s = order_sluice(sluice, dnsmasq)
    # refused by access, whatever the HELO and SPF would have said
    for helo, sender in (("bad_name", "a@fail.test"), ("mx.remote.test", "a@pass.test")):
        t = xforward_session(s.port, "192.0.2.9", helo, sender, "blocked@relay.test")
        assert t.rcpt["blocked@relay.test"] == (550, "5.7.1 No mail for this address"), t.rcpt
    got = lines_for(s, "blocked@relay.test")
    assert got and all(" event=access " in l for l in got), "\n".join(got)
    # access ok: the stage ends there; no HELO check, SPF or greylisting
    t = xforward_session(s.port, "192.0.2.9", "bad_name", "boss@partner.test",
                         "u@relay.test")
    assert t.rcpt["u@relay.test"][0] == 250 and t.data[0] == 250, t.replies
    # no filter ran at all in this test (not even SPF's look-up)
    assert [l for l in s.lines if re.search(r" event=(helo|spf|greylist) ", l)] == []
