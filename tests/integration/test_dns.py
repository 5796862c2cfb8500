"""relay/dns.c, the resolver of delivery, through build/tools/dns_probe
against a private dnsmasq and against fake servers that never answer or
answer SERVFAIL.  DNS_PROBE=path runs another build of the probe (an
ASan+UBSan one); a sanitizer report fails the test.

dns_probe prints one block per request, in the order asked:
    ok NAME [implicit] | tempfail|permfail NAME DSN TEXT | cancelled NAME
    mx PREF HOST ADDR... | host HOST ADDR... | mx PREF HOST - STATUS TEXT
"""
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

from dnsmasq import cname, dnsmasq, host, mx, null_mx, reply_header, txt  # noqa: F401
from harness import ROOT, SANITIZER_RE

PROBE = os.environ.get("DNS_PROBE", str(ROOT / "build" / "tools" / "dns_probe"))

A_TEST = [
    mx("a.test", "mx30.a.test", 30),     # given out of order on purpose
    mx("a.test", "mx10.a.test", 10),
    mx("a.test", "mx20.a.test", 20),
    host("mx10.a.test", "127.0.0.10", "::10"),
    host("mx20.a.test", "127.0.0.20"),
    host("mx30.a.test", "::30"),
]
A_TEST_HOSTS = ["mx 10 mx10.a.test 127.0.0.10 ::10",
                "mx 20 mx20.a.test 127.0.0.20",
                "mx 30 mx30.a.test ::30"]


def probe(*args, timeout=60):
    """Runs dns_probe; returns (blocks, seconds).  Each block is a list of
    lines, starting with its status line."""
    if not os.path.isfile(PROBE):
        pytest.fail("%s is not built (run make tools)" % PROBE)
    t0 = time.monotonic()
    r = subprocess.run([PROBE] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    err = r.stderr.decode(errors="replace")
    assert not SANITIZER_RE.search(err), "sanitizer report:\n" + err
    assert r.returncode == 0, "dns_probe %s: exit %d\n%s" % (args, r.returncode, err)
    blocks = []
    for line in r.stdout.decode().splitlines():
        if line.split(" ", 1)[0] in ("ok", "tempfail", "permfail", "cancelled"):
            blocks.append([line])
        else:
            assert blocks, "output starts with %r" % line
            blocks[-1].append(line)
    return blocks, elapsed


class FakeServer:
    """A UDP socket on 127.0.0.1 that never answers (rcode None), answers
    every query with rcode and no records, or answers respond(query) (bytes,
    or None for silence).  Stopped by close()."""

    def __init__(self, rcode=None, respond=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.server = "127.0.0.1:%d" % self.port
        if rcode is not None:
            respond = lambda q: reply_header(q, rcode)  # noqa: E731
        self.respond = respond
        self.queries = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            try:
                q, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.queries += 1
            if self.respond is not None and len(q) >= 12:
                r = self.respond(q)
                if r is not None:
                    self.sock.sendto(r, peer)

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def fake_server():
    servers = []

    def start(rcode=None, respond=None):
        s = FakeServer(rcode, respond)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


# -- crafting answers (RFC 1035 4.1) -----------------------------------------

T_A, T_CNAME, T_MX, T_AAAA = 1, 5, 15, 28
QNAME = b"\xc0\x0c"       # a pointer to the question's name


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, rdlen=None):
    """owner: wire bytes.  rdlen: a lie about the data's length."""
    return owner + struct.pack(">HHIH", rtype, 1, 60,
                               len(rdata) if rdlen is None else rdlen) + rdata


def answer(query, rrs, ancount=None, qid=None):
    """A NOERROR reply to query carrying rrs (ancount: a lie about how
    many); qid: another id."""
    hdr = struct.pack(">HHHHHH",
                      struct.unpack(">H", query[:2])[0] if qid is None else qid,
                      0x8180, 1, len(rrs) if ancount is None else ancount, 0, 0)
    return hdr + query[12:] + b"".join(rrs)


def qtype_of(query):
    return struct.unpack(">H", query[-4:-2])[0]


def closed_udp_port():
    """A UDP port with nothing bound: queries get ICMP port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- MX ------------------------------------------------------------------------

def test_mx_hosts_in_preference_order_with_a_then_aaaa(dnsmasq):
    dns = dnsmasq(A_TEST)
    blocks, _ = probe("-s", dns.server, "mx", "a.test", "mx", "a.test.")
    assert blocks == [["ok a.test"] + A_TEST_HOSTS, ["ok a.test."] + A_TEST_HOSTS]


def test_equal_preferences_are_shuffled_within_their_level(dnsmasq):
    dns = dnsmasq([mx("eq.test", "x1.eq.test", 10), mx("eq.test", "x2.eq.test", 10),
                   mx("eq.test", "x3.eq.test", 20),
                   host("x1.eq.test", "127.0.0.1"), host("x2.eq.test", "127.0.0.2"),
                   host("x3.eq.test", "127.0.0.3")])
    blocks, _ = probe("-s", dns.server, "-n", 40, "mx", "eq.test")
    orders = set()
    for b in blocks:
        assert b[0] == "ok eq.test"
        assert b[3] == "mx 20 x3.eq.test 127.0.0.3"
        assert sorted(b[1:3]) == ["mx 10 x1.eq.test 127.0.0.1", "mx 10 x2.eq.test 127.0.0.2"]
        orders.add(tuple(b[1:3]))
    # 40 look-ups all in one order: probability 2^-39
    assert len(orders) == 2, orders


def test_no_mx_falls_back_to_the_domain_itself(dnsmasq):
    dns = dnsmasq([host("implicit.test", "127.0.0.9", "::9"),
                   host("v4only.test", "127.0.0.8")])
    blocks, _ = probe("-s", dns.server, "mx", "implicit.test", "mx", "v4only.test")
    assert blocks == [["ok implicit.test implicit", "mx 0 implicit.test 127.0.0.9 ::9"],
                      ["ok v4only.test implicit", "mx 0 v4only.test 127.0.0.8"]]


def test_no_mx_and_no_address_is_permanent(dnsmasq):
    dns = dnsmasq([txt("txtonly.test", "no mail here")])
    blocks, _ = probe("-s", dns.server, "mx", "txtonly.test")
    assert blocks[0][0].startswith("permfail txtonly.test 5.4.4 Host or domain name not found.")
    assert "Host found but no data record of requested type" in blocks[0][0]


def test_null_mx_is_permanent(dnsmasq):
    dns = dnsmasq([null_mx("nullmx.test"), host("nullmx.test", "127.0.0.7"),
                   null_mx("mixed.test"), mx("mixed.test", "real.mixed.test", 10),
                   host("real.mixed.test", "127.0.0.6")])
    blocks, _ = probe("-s", dns.server, "mx", "nullmx.test", "mx", "mixed.test")
    assert blocks[0] == ["permfail nullmx.test 5.1.10 "
                         "Domain nullmx.test does not accept mail (nullMX)"]
    # a null MX among real ones is ignored (RFC 7505 forbids the mix)
    assert blocks[1] == ["ok mixed.test", "mx 10 real.mixed.test 127.0.0.6"]


def test_nxdomain_is_permanent(dnsmasq):
    dns = dnsmasq(A_TEST)
    blocks, _ = probe("-s", dns.server, "mx", "nope.test", "host", "nope.test")
    assert blocks[0] == ["permfail nope.test 5.4.4 Host or domain name not found. "
                         "Name service error for name=nope.test type=MX: Host not found"]
    assert blocks[1][0] == ("permfail nope.test 5.4.4 Host or domain name not found. "
                            "Name service error for name=nope.test type=A: Host not found")
    assert blocks[1][1].startswith("host nope.test - permfail ")


def test_mx_hosts_without_address_are_listed_and_skipped(dnsmasq):
    dns = dnsmasq([mx("part.test", "ghost.part.test", 5), mx("part.test", "good.part.test", 10),
                   host("good.part.test", "127.0.0.5"),
                   mx("none.test", "ghost1.none.test", 10), mx("none.test", "ghost2.none.test", 20)])
    blocks, _ = probe("-s", dns.server, "mx", "part.test", "mx", "none.test")
    assert blocks[0][0] == "ok part.test"
    assert blocks[0][1].startswith("mx 5 ghost.part.test - permfail Host or domain name "
                                   "not found. Name service error for name=ghost.part.test")
    assert blocks[0][2] == "mx 10 good.part.test 127.0.0.5"
    # no MX host has an address and every look-up answered: permanent
    assert blocks[1][0].startswith("permfail none.test 5.4.4 Host or domain name not found. "
                                   "Name service error for name=ghost1.none.test type=A")
    assert len(blocks[1]) == 3


def test_cname_is_followed(dnsmasq):
    dns = dnsmasq(A_TEST + [cname("alias.test", "a.test"), cname("www.test", "mx10.a.test")])
    blocks, _ = probe("-s", dns.server, "mx", "alias.test", "host", "www.test")
    assert blocks == [["ok alias.test"] + A_TEST_HOSTS,
                      ["ok www.test", "host www.test 127.0.0.10 ::10"]]


def test_truncated_answer_is_asked_again_over_tcp(dnsmasq):
    recs = []
    for i in range(1, 21):
        name = "a-rather-long-mail-exchanger-name-number-%02d.big.test" % i
        recs += [mx("big.test", name, i), host(name, "127.0.1.%d" % i)]
    dns = dnsmasq(recs)
    blocks, _ = probe("-s", dns.server, "mx", "big.test")
    # 20 such records are over 512 bytes: UDP is truncated (TC); the best
    # 16 (DNS_MX_MAX) come in order, so every record was read over TCP
    assert blocks[0][0] == "ok big.test"
    assert blocks[0][1:] == ["mx %d a-rather-long-mail-exchanger-name-number-%02d.big.test "
                             "127.0.1.%d" % (i, i, i) for i in range(1, 17)]


def test_a_silent_tcp_server_is_bounded_by_the_timeout(fake_server):
    """UDP answers are truncated (TC); the TCP port accepts (the kernel's
    backlog) but never answers: a temporary failure at the deadline."""
    srv = fake_server(respond=lambda q: reply_header(q, 0, flags=0x8380))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", srv.port))
        tcp.listen(16)
        blocks, elapsed = probe("-s", srv.server, "-t", 2, "mx", "a.test")
    assert blocks[0][0].startswith("tempfail a.test 4.4.3 ")
    assert blocks[0][0].endswith("(timed out)")
    assert 1.8 <= elapsed < 3.5, elapsed


# -- host look-ups and literals --------------------------------------------------

def test_host_lookup_gives_a_then_aaaa(dnsmasq):
    dns = dnsmasq(A_TEST)
    blocks, _ = probe("-s", dns.server, "host", "mx10.a.test", "host", "mx30.a.test",
                      "host", "MX20.A.TEST")
    assert blocks == [["ok mx10.a.test", "host mx10.a.test 127.0.0.10 ::10"],
                      ["ok mx30.a.test", "host mx30.a.test ::30"],
                      ["ok MX20.A.TEST", "host MX20.A.TEST 127.0.0.20"]]


def test_address_literals_need_no_dns(fake_server):
    silent = fake_server()
    blocks, elapsed = probe("-s", silent.server, "-t", 10,
                            "host", "192.0.2.1", "host", "2001:db8::1",
                            "host", "[192.0.2.7]", "mx", "[192.0.2.8]",
                            "mx", "[IPv6:2001:DB8::2]")
    assert blocks == [["ok 192.0.2.1", "host 192.0.2.1 192.0.2.1"],
                      ["ok 2001:db8::1", "host 2001:db8::1 2001:db8::1"],
                      ["ok [192.0.2.7]", "host 192.0.2.7 192.0.2.7"],
                      ["ok [192.0.2.8]", "mx 0 192.0.2.8 192.0.2.8"],
                      ["ok [IPv6:2001:DB8::2]", "mx 0 2001:DB8::2 2001:db8::2"]]
    assert silent.queries == 0
    assert elapsed < 5


def test_invalid_names_are_permanent_without_a_query(fake_server):
    silent = fake_server()
    names = ["bad..test", "sp ace.test", "\u00fcnicode.test", "x" * 64 + ".test",
             "[192.0.2.300]", "[IPv6:nonsense]", "a." * 127 + "test", ".", ""]
    args = []
    for n in names:
        args += ["mx", n]
    args += ["host", "under_score ok?"]
    blocks, elapsed = probe("-s", silent.server, "-t", 10, *args)
    assert len(blocks) == len(names) + 1
    for b in blocks[:-1]:
        assert b[0].startswith("permfail ") and b[0].endswith(" 5.1.2 invalid domain name"), b
    assert blocks[-1][0].endswith(" 5.1.2 invalid host name")
    assert silent.queries == 0
    assert elapsed < 5


# -- failures of the servers --------------------------------------------------------

def test_silent_server_is_a_temporary_failure_within_the_timeout(fake_server):
    silent = fake_server()
    blocks, elapsed = probe("-s", silent.server, "-t", 2, "mx", "a.test", "host", "h.test")
    assert blocks[0] == ["tempfail a.test 4.4.3 Host or domain name not found. Name service "
                         "error for name=a.test type=MX: Host not found, try again (timed out)"]
    assert blocks[1][0] == ("tempfail h.test 4.4.3 Host or domain name not found. Name "
                            "service error for name=h.test type=A: Host not found, try "
                            "again (timed out)")
    # retried within the time (1 s, then the rest), and not a second longer
    assert silent.queries >= 3
    assert 1.8 <= elapsed < 3.5, elapsed


def test_refused_servfail_and_unreachable_are_temporary(dnsmasq, fake_server):
    dns = dnsmasq(A_TEST)
    failing = fake_server(rcode=2)
    blocks, elapsed = probe("-s", dns.server, "-t", 10, "mx", "elsewhere.example")
    assert blocks[0][0].startswith("tempfail elsewhere.example 4.4.3 ")
    assert blocks[0][0].endswith("try again (refused)")
    blocks, elapsed2 = probe("-s", failing.server, "-t", 10, "mx", "a.test")
    assert blocks[0][0].endswith("try again (server failure)")
    port = closed_udp_port()
    blocks, elapsed3 = probe("-s", "127.0.0.1:%d" % port, "-t", 10, "mx", "a.test")
    assert blocks[0][0].endswith("try again (connection refused)")
    # an answer, even a failure, ends the wait: no timeout was spent
    assert max(elapsed, elapsed2, elapsed3) < 5


def test_a_silent_first_server_hands_over_to_the_second(dnsmasq, fake_server):
    dns = dnsmasq(A_TEST)
    silent = fake_server()
    blocks, elapsed = probe("-s", "%s, %s" % (silent.server, dns.server), "-t", 8,
                            "mx", "a.test")
    assert blocks == [["ok a.test"] + A_TEST_HOSTS]
    # one wait (1 s) on the silent one for the MX; the host look-ups go to
    # the server that answered
    assert elapsed < 4, elapsed


def test_ipv6_server(dnsmasq):
    dns = dnsmasq(A_TEST, listen="::1")
    assert dns.server.startswith("[::1]:")
    blocks, _ = probe("-s", dns.server, "mx", "a.test")
    assert blocks == [["ok a.test"] + A_TEST_HOSTS]


def test_many_requests_at_once(dnsmasq):
    dns = dnsmasq(A_TEST)
    blocks, _ = probe("-s", dns.server, "-n", 50, "mx", "a.test", "host", "mx20.a.test",
                      "mx", "nope.test", "host", "10.0.0.1")
    assert len(blocks) == 200
    for i, b in enumerate(blocks):
        if i < 50:
            assert b == ["ok a.test"] + A_TEST_HOSTS
        elif i < 100:
            assert b == ["ok mx20.a.test", "host mx20.a.test 127.0.0.20"]
        elif i < 150:
            assert b[0].startswith("permfail nope.test 5.4.4 ")
        else:
            assert b == ["ok 10.0.0.1", "host 10.0.0.1 10.0.0.1"]


# -- hostile answers: the parser reads what an attacker's server sends -----------

def _loop_owner(q):
    """An owner name that is a compression pointer to itself."""
    off = len(q)
    return answer(q, [rr(bytes([0xc0 | off >> 8, off & 0xff]), T_MX, b"\0\x0a\0")])


HOSTILE = [
    ("pointer loop", _loop_owner, "(malformed answer)"),
    ("more records than sent",
     lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a" + wire_name("m.h.test"))], ancount=50),
     "(malformed answer)"),
    ("rdlength past the end",
     lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a\0", rdlen=200)]), "(malformed answer)"),
    ("MX data too short", lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a")]),
     "(malformed answer)"),
    ("MX name beyond its data",
     lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a" + wire_name("mx.h.test"), rdlen=4)]),
     "(malformed answer)"),
    ("CNAME loop",
     lambda q: answer(q, [rr(QNAME, T_CNAME, wire_name("x.h.test")),
                          rr(wire_name("x.h.test"), T_CNAME, QNAME)]),
     "(malformed answer)"),
    ("A record of 5 bytes",
     lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a" + QNAME)] if qtype_of(q) == T_MX
                      else [rr(QNAME, qtype_of(q), b"\x7f\0\0\x01\x01")]),
     "(malformed answer)"),
    ("MX to an unprintable name",
     lambda q: answer(q, [rr(QNAME, T_MX, b"\0\x0a\x05a b\0c\0")]), "invalid host name"),
    ("another id", lambda q: answer(q, [], qid=struct.unpack(">H", q[:2])[0] ^ 1),
     "(timed out)"),
    ("another question",
     lambda q: answer(q[:12] + wire_name("other.test") + q[-4:], []), "(timed out)"),
]


@pytest.mark.parametrize("name,respond,why", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_answers_are_failures_not_crashes(fake_server, name, respond, why):
    srv = fake_server(respond=respond)
    blocks, elapsed = probe("-s", srv.server, "-t", 1, "mx", "h.test")
    assert blocks[0][0].endswith(why), blocks
    assert blocks[0][0].split(" ")[0] in ("tempfail", "permfail")
    assert elapsed < 3


def test_mutated_answers_are_survived(fake_server):
    """A small fuzz run through the real sockets: valid MX, A and AAAA
    answers with random bytes changed (counts, records, names; the id and
    the question kept, so every answer is read)."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    lock = threading.Lock()

    def respond(q):
        t = qtype_of(q)
        if t == T_MX:
            rrs = [rr(QNAME, T_MX, b"\0\x0a" + wire_name("mx1.f.test")),
                   rr(QNAME, T_MX, b"\0\x14\x03mx2" + QNAME),
                   rr(QNAME, T_CNAME, wire_name("f.test"))]
        elif t == T_A:
            rrs = [rr(QNAME, T_A, b"\x7f\0\0\x02"), rr(QNAME, T_A, b"\x7f\0\0\x03")]
        else:
            rrs = [rr(QNAME, T_AAAA, b"\0" * 15 + b"\x02")]
        msg = bytearray(answer(q, rrs))
        keep = len(q)          # header flags and question stay
        with lock:
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.2:
                    i = rng.randrange(6, 12)
                else:
                    i = rng.randrange(keep, len(msg))
                msg[i] = rng.choice([0, 0xff, 0xc0, 0x3f, rng.randrange(256)])
            if rng.random() < 0.1:
                del msg[rng.randrange(keep, len(msg)):]
        return bytes(msg)

    srv = fake_server(respond=respond)
    blocks, _ = probe("-s", srv.server, "-t", 5, "-n", 300, "mx", "f.test",
                      timeout=120)
    assert len(blocks) == 300, "seed %d" % seed
    for b in blocks:
        assert b[0].split(" ")[0] in ("ok", "tempfail", "permfail"), "seed %d: %r" % (seed, b)


# -- cancelling, freeing, setting up -------------------------------------------------

@pytest.mark.parametrize("how", ["-c", "-x"])
def test_pending_requests_can_be_cancelled_or_freed(fake_server, how):
    """-c: dns_cancel() each; -x: dns_free() with requests pending.  Neither
    waits for the workers (each is blocked on a silent server)."""
    silent = fake_server()
    blocks, elapsed = probe("-s", silent.server, "-t", 30, how, 300, "-n", 6,
                            "mx", "a.test", "host", "b.test", "host", "192.0.2.1")
    assert len(blocks) == 18
    for i, b in enumerate(blocks):
        if i < 12:
            assert b == ["cancelled " + ("a.test" if i < 6 else "b.test")]
        else:
            assert b == ["ok 192.0.2.1", "host 192.0.2.1 192.0.2.1"]
    assert elapsed < 5, elapsed


def test_resolver_freed_inside_a_callback(dnsmasq):
    """-F: dns_free() inside the first callback; the others, queued or
    running, are taken away without a callback.  The first is usually the
    literal's (answered without DNS), but under load a worker's answer
    may come first: exactly one request is answered, whichever it is."""
    dns = dnsmasq(A_TEST)
    blocks, _ = probe("-s", dns.server, "-F", "host", "192.0.2.1",
                      "mx", "a.test", "mx", "a.test", "mx", "a.test", "mx", "a.test",
                      "mx", "a.test")
    answered = [b for b in blocks if not b[0].startswith("cancelled ")]
    assert len(answered) == 1, blocks
    assert answered[0][0] in ("ok 192.0.2.1", "ok a.test"), blocks
    if answered[0][0] == "ok 192.0.2.1":
        assert answered[0] == ["ok 192.0.2.1", "host 192.0.2.1 192.0.2.1"]
    assert len(blocks) == 6


def test_system_resolver_is_used_without_a_server():
    """The nameservers of /etc/resolv.conf, whatever they answer here: a
    literal works, and a look-up ends within its timeout."""
    blocks, elapsed = probe("-t", 2, "host", "127.0.0.1", "mx", "sluice-probe.invalid")
    assert blocks[0] == ["ok 127.0.0.1", "host 127.0.0.1 127.0.0.1"]
    assert blocks[1][0].split(" ")[0] in ("ok", "tempfail", "permfail")
    assert elapsed < 4.5, elapsed


@pytest.mark.parametrize("server,error", [
    ("nonsense", "invalid address"),
    ("127.0.0.1:0", "invalid port"),
    ("1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4", "more than 3 resolver addresses"),
    (",", "no resolver address"),
])
def test_bad_server_is_refused(server, error):
    r = subprocess.run([PROBE, "-s", server, "mx", "a.test"], capture_output=True,
                       timeout=30)
    assert r.returncode == 1
    assert error in r.stderr.decode()
