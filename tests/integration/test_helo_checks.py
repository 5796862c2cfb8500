"""HELO checks in the daemon (issue 7; cbpolicyd's CheckHelo, acting at
RCPT, never at HELO itself): reject-invalid, reject-ip,
reject-unresolvable against a private dnsmasq (the configuration's
`resolver`), the blacklist, the client whitelist and HELO randomisation
prevention (hrp N within D) with its window's edge awaited on the clock.
Clients are real swaks processes from 127.0.0.0/8 source addresses; the
replies are Postfix's (`Helo command rejected`)."""
import re
import time

from dnsmasq import dnsmasq, host, mx, txt  # noqa: F401
from rcpt_filters import policy, rcpt_lines, sleep_until, swaks_session
from test_dns import fake_server  # noqa: F401

LOCAL = "relay.test"
TO = "u@%s" % LOCAL


def helo_gateway(sluice, helo, more="", **kw):
    extra = policy("inbound", 20, "recipient @%s" % LOCAL, helo=helo) + more
    return sluice(trusted="127.0.0.1/32", relay_domains=LOCAL, extra=extra, **kw)


def rcpt_of(s, helo_name, source="127.0.0.2", sender="a@remote.test", rcpt=TO):
    """One swaks session with that HELO: asserts that EHLO and MAIL were
    accepted (the checks act at RCPT) and returns the RCPT's (code, text)."""
    t = swaks_session(s.port, sender, rcpt, helo=helo_name, source=source)
    assert t.ehlo and t.ehlo[0] == 250, t.out
    assert t.mail and t.mail[0] == 250, t.out
    return t.rcpt[rcpt]


def refused(reply, code, dsn, helo_name, text):
    want = "%s <%s>: Helo command rejected: %s" % (dsn, helo_name, text)
    assert reply == (code, want), "got %r, want %d %s" % (reply, code, want)


def test_invalid_and_single_label_helos_refused_at_rcpt(sluice):
    s = helo_gateway(sluice, "reject-invalid yes")
    refused(rcpt_of(s, "bad_name.remote.test"), 501, "5.5.2", "bad_name.remote.test",
            "Invalid name")
    refused(rcpt_of(s, "localhost"), 504, "5.5.2", "localhost",
            "need fully-qualified hostname")
    refused(rcpt_of(s, "dash-.remote.test"), 501, "5.5.2", "dash-.remote.test",
            "Invalid name")
    # host names, address literals and (without reject-ip) a bare address
    for ok in ("mx.remote.test", "MX.Remote.Test.", "[192.0.2.1]", "[IPv6:2001:db8::1]",
               "192.0.2.1"):
        assert rcpt_of(s, ok)[0] == 250, ok
    # mail for recipients no policy with HELO checks matches is not checked
    s2 = rcpt_of(s, "bad_name", rcpt="x@elsewhere.test", source="127.0.0.1")
    assert s2[0] == 250, s2                   # 127.0.0.1 is trusted: relays
    lines = rcpt_lines(s, "helo")
    assert any(re.search(r"client=\[127\.0\.0\.2\] helo=localhost to=<u@relay\.test> "
                         r"verdict=reject reason=not-fqdn", l) for l in lines), \
        "\n".join(lines)


def test_reject_ip_refuses_a_bare_address_but_not_a_literal(sluice):
    s = helo_gateway(sluice, "reject-invalid yes reject-ip yes")
    refused(rcpt_of(s, "192.0.2.1"), 504, "5.5.2", "192.0.2.1",
            "need fully-qualified hostname or address literal")
    assert rcpt_of(s, "[192.0.2.1]")[0] == 250
    assert rcpt_of(s, "mx.remote.test")[0] == 250


def test_custom_replies(sluice):
    s = helo_gateway(sluice, 'reject-invalid yes reply invalid "Go away" '
                             'reply not-fqdn "550 5.7.1 Say who you are"')
    # a text without a code keeps the default's code
    assert rcpt_of(s, "a_b.test") == (501, "5.5.2 Go away")
    code, text = rcpt_of(s, "box")
    assert code == 550 and text.startswith("5.7.1") and "Say who you are" in text, (code, text)


def test_unresolvable_names_against_the_resolver(sluice, dnsmasq, fake_server):
    failing = fake_server(rcode=2)                   # SERVFAIL to anything
    dns = dnsmasq([host("mail.remote.test", "192.0.2.20"),
                   mx("mxonly.remote.test", "mail.remote.test", 10),
                   host("v6.remote.test", "2001:db8::20"),
                   txt("txtonly.remote.test", "not an address"),
                   "--server=/broken.test/127.0.0.1#%d" % failing.port],
                  local=("remote.test",))
    s = helo_gateway(sluice, "reject-invalid yes reject-unresolvable yes",
                     more="resolver %s\n" % dns.server)
    for ok in ("mail.remote.test", "mxonly.remote.test", "v6.remote.test",
               "[192.0.2.99]"):
        assert rcpt_of(s, ok)[0] == 250, ok
    refused(rcpt_of(s, "nx.remote.test"), 550, "5.7.1", "nx.remote.test", "Host not found")
    refused(rcpt_of(s, "txtonly.remote.test"), 550, "5.7.1", "txtonly.remote.test",
            "No address or MX record found")
    refused(rcpt_of(s, "x.broken.test"), 450, "4.7.1", "x.broken.test",
            "Host not found: temporary DNS failure")
    assert failing.queries > 0, "the failing server was never asked"
    # a name outside the server's domains: REFUSED, a failure, never a 5xx
    assert rcpt_of(s, "mx.elsewhere.example")[0] == 450
    # invalid names are refused for their form without a look-up
    t0 = failing.queries
    refused(rcpt_of(s, "x_y.broken.test"), 501, "5.5.2", "x_y.broken.test", "Invalid name")
    assert failing.queries == t0
    # one look-up serves every recipient of a transaction
    t = swaks_session(s.port, "a@remote.test", ["p@%s" % LOCAL, "q@%s" % LOCAL],
                      helo="nx.remote.test", source="127.0.0.2")
    assert [c for c, _ in t.rcpt.values()] == [550, 550], t.rcpt


def test_blacklist_and_its_memory(sluice):
    """A blacklisted name is refused (554), and with `within` the client
    that used it stays refused under another name; other clients are
    not concerned."""
    s = helo_gateway(sluice, "blacklist evil.remote.test localhost within 1h")
    refused(rcpt_of(s, "Evil.Remote.Test.", source="127.0.0.2"), 554, "5.7.1",
            "Evil.Remote.Test.", "Access denied")
    refused(rcpt_of(s, "good.remote.test", source="127.0.0.2"), 554, "5.7.1",
            "good.remote.test", "Access denied")
    assert rcpt_of(s, "good.remote.test", source="127.0.0.3")[0] == 250
    refused(rcpt_of(s, "localhost", source="127.0.0.4"), 554, "5.7.1", "localhost",
            "Access denied")


def test_client_whitelist_skips_every_check(sluice):
    s = helo_gateway(sluice, "reject-invalid yes blacklist evil.remote.test "
                             "whitelist 127.0.0.3/32 127.0.2.0/24")
    for src in ("127.0.0.3", "127.0.2.7"):
        assert rcpt_of(s, "bad_name", source=src)[0] == 250, src
        assert rcpt_of(s, "evil.remote.test", source=src)[0] == 250, src
    refused(rcpt_of(s, "bad_name", source="127.0.0.2"), 501, "5.5.2", "bad_name",
            "Invalid name")


def test_hrp_limit_and_its_window_edge(sluice):
    """hrp 2 within 3s: a third distinct HELO from one client within 3s is
    refused (and so is any HELO while three are in the window); once the
    window has passed them, the client is welcome again.  Other clients
    count apart."""
    s = helo_gateway(sluice, "hrp 2 within 3s")
    # start right after a second begins: the daemon's clock counts seconds
    sleep_until(int(time.time()) + 1.02)
    first = time.time()
    assert rcpt_of(s, "a.remote.test")[0] == 250
    assert rcpt_of(s, "b.remote.test")[0] == 250
    assert rcpt_of(s, "a.remote.test")[0] == 250      # not a new name
    refused(rcpt_of(s, "c.remote.test"), 550, "5.7.1", "c.remote.test",
            "Too many different HELO names")
    refused(rcpt_of(s, "a.remote.test"), 550, "5.7.1", "a.remote.test",
            "Too many different HELO names")
    last = time.time()
    assert rcpt_of(s, "c.remote.test", source="127.0.0.3")[0] == 250
    # just before the edge of the window of the first ones: still refused
    sleep_until(int(first) + 3 - 0.6)
    refused(rcpt_of(s, "d.remote.test"), 550, "5.7.1", "d.remote.test",
            "Too many different HELO names")
    assert time.time() < int(first) + 3, "the check came after the edge"
    # every name of the burst (d too, given then) has left the window
    edge = time.time()
    sleep_until(max(last, edge) + 3 + 0.05)
    assert rcpt_of(s, "e.remote.test")[0] == 250
    lines = rcpt_lines(s, "helo")
    assert any(re.search(r"helo=c\.remote\.test to=<u@relay\.test> verdict=reject "
                         r"reason=hrp-exceeded", l) for l in lines), \
        "\n".join(lines)
