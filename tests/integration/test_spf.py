"""relay/spf.c, SPF checks with libspf2 on worker threads, through
build/tools/spf_probe against a private dnsmasq (records on its command
line), a dnsmasq that forwards one domain to a server that never answers,
and fake servers that answer what an attacker would.  SPF_PROBE=path runs
another build of the probe (an ASan+UBSan one); a sanitizer report fails
the test.

spf_probe prints one block per check, in the order asked:
    result STATUS / comment TEXT / [explanation TEXT] / [header VALUE] /
    action accept [header] | action REPLY / ms MILLISECONDS | cancelled
and, with -T, "ticks N" last.  Clients are never on 127/8: libspf2 passes
loopback without DNS.
"""
import os
import struct
import subprocess
import time

import pytest

from dnsmasq import dnsmasq, host, mx, txt  # noqa: F401
from harness import ROOT, SANITIZER_RE
from test_dns import QNAME, answer, fake_server, qtype_of, rr  # noqa: F401

PROBE = os.environ.get("SPF_PROBE", str(ROOT / "build" / "tools" / "spf_probe"))
RECEIVER = "relay.test"
T_TXT = 16

RECORDS = [
    txt("pass.test", "v=spf1 ip4:192.0.2.1 -all"),
    txt("fail.test", "v=spf1 -all"),
    txt("softfail.test", "v=spf1 ~all"),
    txt("neutral.test", "v=spf1 ?all"),
    txt("other.test", "site-verification=abc"),       # TXT, but no SPF
    txt("two.test", "v=spf1 -all"), txt("two.test", "v=spf1 +all"),
    txt("syntax.test", "v=spf1 foo"),
    txt("exp.test", "v=spf1 -all exp=why.exp.test"),
    txt("why.exp.test", "%{i} is not one of %{d}'s senders"),
    txt("helo.test", "v=spf1 ip4:192.0.2.7 -all"),
    txt("a.test", "v=spf1 a:mail.a.test -all"), host("mail.a.test", "192.0.2.20"),
    txt("mx.test", "v=spf1 mx -all"), mx("mx.test", "mx1.mx.test", 10),
    host("mx1.mx.test", "192.0.2.30", "2001:db8::30"),
    txt("ptr.test", "v=spf1 ptr -all"), host("h.ptr.test", "192.0.2.40"),
    txt("inc.test", "v=spf1 include:pass.test -all"),
    txt("slowinc.test", "v=spf1 include:x.slow.test -all"),
]


def header(result, comment, ip, sender, helo, identity="mailfrom"):
    return ("%s (%s: %s) client-ip=%s; envelope-from=%s; helo=%s; receiver=%s; "
            "identity=%s;" % (result, RECEIVER, comment, ip, sender, helo, RECEIVER,
                              identity))


def probe(*args, timeout=60, expect_rc=0):
    """Runs spf_probe; returns (blocks, ticks, seconds).  Each block is a
    dict of its lines (key: first word)."""
    if not os.path.isfile(PROBE):
        pytest.fail("%s is not built (run make tools)" % PROBE)
    t0 = time.monotonic()
    r = subprocess.run([PROBE, "-r", RECEIVER] + [str(a) for a in args],
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    err = r.stderr.decode(errors="replace")
    assert not SANITIZER_RE.search(err), "sanitizer report:\n" + err
    assert r.returncode == expect_rc, "spf_probe %s: exit %d\n%s" % (args, r.returncode, err)
    blocks, ticks = [], None
    for line in r.stdout.decode().splitlines():
        key, _, value = line.partition(" ")
        if key == "ticks":
            ticks = int(value)
        elif key in ("result", "cancelled"):
            blocks.append({key: value})
        else:
            assert blocks, "output starts with %r" % line
            blocks[-1][key] = value
    return blocks, ticks, elapsed


def check(dns, *triples, **kw):
    """One probe run: CLIENT HELO SENDER triples against dns."""
    args = ["-s", dns.server]
    for k, v in kw.items():
        args += ["-" + k, v]
    for t in triples:
        args += list(t)
    return probe(*args)


@pytest.fixture
def silent(fake_server):
    """A UDP server that never answers."""
    return fake_server()


@pytest.fixture
def spf_dns(dnsmasq, silent):
    """dnsmasq with RECORDS; slow.test is forwarded to the silent server;
    192.0.2.0/24's reverse names are its own (no PTR: NXDOMAIN)."""
    return dnsmasq(RECORDS + ["--server=/slow.test/127.0.0.1#%d" % silent.port],
                   local=("test", "2.0.192.in-addr.arpa"))


# -- results -------------------------------------------------------------------

def test_each_result_with_its_received_spf_header(spf_dns):
    blocks, _, _ = check(spf_dns,
                         ("192.0.2.1", "h.test", "a@pass.test"),
                         ("192.0.2.9", "h.test", "a@fail.test"),
                         ("192.0.2.9", "h.test", "a@softfail.test"),
                         ("192.0.2.9", "h.test", "a@neutral.test"),
                         ("192.0.2.9", "h.test", "a@none.test"),
                         ("192.0.2.9", "h.test", "a@other.test"),
                         ("192.0.2.9", "h.test", "a@two.test"),
                         ("192.0.2.9", "h.test", "a@syntax.test"))
    got = [(b["result"], b.get("header"), b["action"]) for b in blocks]
    notme = "does not designate 192.0.2.9 as permitted sender"
    assert got == [
        ("pass", header("pass", "domain of pass.test designates 192.0.2.1 as permitted "
                        "sender", "192.0.2.1", "a@pass.test", "h.test"), "accept header"),
        ("fail", header("fail", "domain of fail.test " + notme, "192.0.2.9", "a@fail.test",
                        "h.test"),
         "550 5.7.23 SPF check failed: fail.test " + notme),
        ("softfail", header("softfail", "transitioning domain of softfail.test " + notme,
                            "192.0.2.9", "a@softfail.test", "h.test"), "accept header"),
        ("neutral", header("neutral", "192.0.2.9 is neither permitted nor denied by domain "
                           "of neutral.test", "192.0.2.9", "a@neutral.test", "h.test"),
         "accept header"),
        ("none", header("none", "domain of none.test does not provide an SPF record",
                        "192.0.2.9", "a@none.test", "h.test"), "accept header"),
        ("none", header("none", "domain of other.test does not provide an SPF record",
                        "192.0.2.9", "a@other.test", "h.test"), "accept header"),
        ("permerror", header("permerror", "error in processing during lookup of domain of "
                             "two.test: Multiple SPF or TXT records for domain.",
                             "192.0.2.9", "a@two.test", "h.test"), "accept header"),
        ("permerror", header("permerror", "error in processing during lookup of domain of "
                             "syntax.test: Unknown mechanism found", "192.0.2.9",
                             "a@syntax.test", "h.test"), "accept header"),
    ]
    # the explanation: ours, as the domain gave none
    assert blocks[1]["explanation"] == "fail.test " + notme
    assert blocks[1]["comment"] == "%s: domain of fail.test %s" % (RECEIVER, notme)
    assert "explanation" not in blocks[0]


def test_null_sender_is_checked_as_postmaster_at_the_helo(spf_dns):
    blocks, _, _ = check(spf_dns,
                         ("192.0.2.7", "helo.test", "<>"),
                         ("192.0.2.9", "helo.test", "<>"),
                         ("192.0.2.7", "[192.0.2.7]", "<>"),
                         ("192.0.2.7", "-", "<>"))
    assert [b["result"] for b in blocks] == ["pass", "fail", "none", "none"]
    assert blocks[0]["header"] == header(
        "pass", "domain of helo.test designates 192.0.2.7 as permitted sender",
        "192.0.2.7", "postmaster@helo.test", "helo.test", "helo")
    assert blocks[1]["action"].startswith("550 5.7.23 SPF check failed: helo.test does not")
    # an address literal is not a domain: "none" without a look-up (RFC 7208 2.3)
    assert "[192.0.2.7]" not in spf_dns.logfile.read_text()


def test_the_domains_explanation_is_expanded_into_the_reply(spf_dns):
    blocks, _, _ = check(spf_dns, ("192.0.2.9", "h.test", "a@exp.test"))
    assert blocks[0]["result"] == "fail"
    # spaces and macros intact (libspf2 alone would give "%{i}%is%not...")
    assert blocks[0]["explanation"] == "192.0.2.9 is not one of exp.test's senders"
    assert blocks[0]["action"] == ("550 5.7.23 SPF check failed: 192.0.2.9 is not one of "
                                   "exp.test's senders")


def test_mechanisms_that_look_up_names(spf_dns):
    blocks, _, _ = check(spf_dns,
                         ("192.0.2.20", "h.test", "a@a.test"),
                         ("192.0.2.21", "h.test", "a@a.test"),
                         ("192.0.2.30", "h.test", "a@mx.test"),
                         ("2001:db8::30", "h.test", "a@mx.test"),
                         ("2001:db8::31", "h.test", "a@mx.test"),
                         ("192.0.2.40", "h.test", "a@ptr.test"),
                         ("192.0.2.41", "h.test", "a@ptr.test"),
                         ("192.0.2.1", "h.test", "a@inc.test"),
                         ("192.0.2.2", "h.test", "a@inc.test"))
    assert [b["result"] for b in blocks] == ["pass", "fail", "pass", "pass", "fail",
                                             "pass", "fail", "pass", "fail"]
    assert "client-ip=2001:db8::30;" in blocks[3]["header"]


def test_an_answer_too_big_for_udp(dnsmasq):
    """30 TXT records of 200 bytes besides the SPF one: about 6 kB, truncated
    over UDP and asked again over TCP."""
    filler = [txt("big.test", "%02d" % i + "x" * 198) for i in range(30)]
    dns = dnsmasq(filler + [txt("big.test", "v=spf1 ip4:192.0.2.50 -all")])
    blocks, _, _ = check(dns, ("192.0.2.50", "h.test", "a@big.test"),
                         ("192.0.2.51", "h.test", "a@big.test"))
    assert [b["result"] for b in blocks] == ["pass", "fail"]


def test_loopback_and_malformed_identities_need_no_dns(spf_dns):
    long_sender = "a" * 300 + "@pass.test" + "x" * 20    # over 320 characters
    blocks, _, _ = check(spf_dns,
                         ("127.0.0.1", "h.test", "a@fail.test"),
                         ("192.0.2.1", "h.test", "a@single"),
                         ("192.0.2.1", "h.test", "a@192.0.2.1"),
                         ("192.0.2.1", "h.test", "a@bad..test"),
                         ("192.0.2.1", "h.test", long_sender))
    assert [b["result"] for b in blocks] == ["pass", "none", "none", "none", "none"]
    assert blocks[0]["comment"] == RECEIVER + ": localhost is always allowed."
    log = spf_dns.logfile.read_text()
    for name in ("fail.test", "single", "192.0.2.1", "bad..test", "pass.test"):
        assert "query[TXT] %s " % name not in log, name


def test_a_helo_adds_no_key_value_of_its_own(spf_dns):
    blocks, _, _ = check(spf_dns, ("192.0.2.1", "h.test; client-ip=10.0.0.1", "a@pass.test"))
    assert blocks[0]["result"] == "pass"
    assert blocks[0]["header"].endswith(
        "client-ip=192.0.2.1; envelope-from=a@pass.test; helo=h.test??client-ip?10.0.0.1; "
        "receiver=relay.test; identity=mailfrom;")


# -- where the queries go -----------------------------------------------------------

def test_queries_go_to_the_given_server(spf_dns, dnsmasq):
    blocks, _, _ = check(spf_dns, ("192.0.2.1", "h.test", "a@pass.test"))
    assert blocks[0]["result"] == "pass"
    assert "query[TXT] pass.test from 127.0.0.1" in spf_dns.logfile.read_text()
    # an IPv6 server
    v6 = dnsmasq([txt("pass.test", "v=spf1 ip4:192.0.2.1 -all")], listen="::1")
    blocks, _, _ = check(v6, ("192.0.2.1", "h.test", "a@pass.test"))
    assert blocks[0]["result"] == "pass"
    assert "query[TXT] pass.test from ::1" in v6.logfile.read_text()


def test_without_a_server_the_system_resolver_is_asked(spf_dns):
    """/etc/resolv.conf's servers do not know pass.test: whatever they
    answer (nothing, NXDOMAIN), it is not our dnsmasq's pass."""
    blocks, _, elapsed = probe("-t", 2, "192.0.2.1", "h.test", "a@pass.test")
    assert blocks[0]["result"] in ("temperror", "none"), blocks
    assert elapsed < 4.5
    assert "pass.test" not in spf_dns.logfile.read_text()


# -- time ----------------------------------------------------------------------------

def test_a_silent_server_is_a_temperror_and_checks_run_in_parallel(spf_dns):
    t = ("192.0.2.9", "h.test", "a@x.slow.test")
    blocks, ticks, elapsed = check(spf_dns, t, t, t, t, t="2", T="100")
    assert [b["result"] for b in blocks] == ["temperror"] * 4
    assert blocks[0]["header"] == header(
        "temperror", "encountered temporary error during SPF processing of domain of "
        "x.slow.test", "192.0.2.9", "a@x.slow.test", "h.test")
    assert blocks[0]["action"] == "451 4.7.24 Temporary SPF error, try again later"
    for b in blocks:
        assert 1800 <= int(b["ms"]) < 3200, b
    # one timeout for the four, not four in a row
    assert elapsed < 3.5, elapsed
    # and the loop kept turning meanwhile: a 100 ms timer ticked ~20 times
    assert ticks >= 15, ticks


def test_more_checks_than_workers_still_end_by_their_deadline(spf_dns):
    t = ("192.0.2.9", "h.test", "a@x.slow.test")
    blocks, _, elapsed = check(spf_dns, t, n="10", t="2")
    assert [b["result"] for b in blocks] == ["temperror"] * 10
    # those that waited for a worker ran out of time waiting, not after
    assert max(int(b["ms"]) for b in blocks) < 3200
    assert elapsed < 4


def test_a_slow_include_is_a_temperror(spf_dns):
    blocks, _, elapsed = check(spf_dns, ("192.0.2.9", "h.test", "a@slowinc.test"), t="2")
    assert blocks[0]["result"] == "temperror"
    assert elapsed < 3.5


def test_a_refusing_server_is_a_temperror_at_once(spf_dns):
    blocks, _, elapsed = check(spf_dns, ("192.0.2.9", "h.test", "a@elsewhere.example"),
                               t="10")
    assert blocks[0]["result"] == "temperror"
    assert blocks[0]["action"].startswith("451 4.7.24 ")
    assert elapsed < 3


@pytest.mark.parametrize("how", ["c", "x"])
def test_pending_checks_can_be_cancelled_or_freed(spf_dns, how):
    """-c: spf_cancel() each; -x: spf_free() with checks pending.  Neither
    waits for the workers, which are blocked on the silent server."""
    t = ("192.0.2.9", "h.test", "a@x.slow.test")
    fast = ("192.0.2.1", "h.test", "a@pass.test")
    blocks, _, elapsed = check(spf_dns, fast, t, t, t, t, t, t, **{how: "500", "t": "20"})
    assert blocks[0]["result"] == "pass"
    assert blocks[1:] == [{"cancelled": ""}] * 6
    assert elapsed < 3, elapsed


# -- what an attacker's server sends -----------------------------------------------

def question(q):
    """(name, the query without the OPT record glibc adds for EDNS0)."""
    labels, i = [], 12
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    bare = q[:10] + b"\0\0" + q[12:i + 5]
    return ".".join(labels).lower(), bare


def txt_rdata(*strings):
    return b"".join(bytes([len(s)]) + s for s in strings)


def hostile(q):
    name, q = question(q)
    if qtype_of(q) != T_TXT:
        return answer(q, [])
    records = {
        "evil.test": [txt_rdata(b"v=spf1 -all exp=e.evil.test")],
        "e.evil.test": [txt_rdata(b"Denied\r\nX-Injected: yes\t\x80\xff ",
                                  b"250 2.0.0 ok")],
        "long.test": [txt_rdata(b"v=spf1 -all exp=e.long.test")],
        "e.long.test": [txt_rdata(b"%{s} %{s} %{s}")],   # 3 x 210 bytes
        "nul.test": [txt_rdata(b"v=spf1 -all exp=e.nul.test")],
        "e.nul.test": [txt_rdata(b"before\0after")],
        # a character-string longer than the record holds
        "short.test": [b"\x30v=spf1 -all"],
    }
    rrs = [rr(QNAME, T_TXT, data) for data in records.get(name, [])]
    return answer(q, rrs)


def test_hostile_records_give_one_clean_bounded_line(fake_server):
    srv = fake_server(respond=hostile)
    sender = "x" * 200 + "@long.test"
    blocks, _, _ = probe("-s", srv.server, "-t", 5,
                         "192.0.2.9", "h.test", "a@evil.test",
                         "192.0.2.9", "h.test", sender,
                         "192.0.2.9", "h.test", "a@nul.test",
                         "192.0.2.9", "h.test", "a@short.test")
    evil, long_, nul, short = blocks
    assert evil["result"] == "fail"
    # CR, LF and TAB are spaces, 8-bit bytes "?": one line, printable
    assert evil["explanation"] == "Denied  X-Injected: yes ?? 250 2.0.0 ok"
    assert evil["action"] == "550 5.7.23 SPF check failed: " + evil["explanation"]
    assert long_["explanation"] == ((sender + " ") * 3)[:511]
    assert len(long_["action"]) == 510 and long_["action"].startswith("550 5.7.23 ")
    assert nul["explanation"] == "before"
    assert short["result"] == "temperror"


# -- setting up ------------------------------------------------------------------------

@pytest.mark.parametrize("args,error", [
    (["-t", "301"], "SPF timeout out of range (1..300 seconds)"),
    (["-s", "nonsense"], "invalid address"),
    (["-r", "not a name"], "SPF receiver: not a host name"),
])
def test_bad_setup_is_refused(args, error):
    r = subprocess.run([PROBE] + args + ["192.0.2.1", "h.test", "a@pass.test"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1
    assert error in r.stderr.decode()
