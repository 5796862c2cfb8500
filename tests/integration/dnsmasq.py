"""A private DNS server for the tests: dnsmasq on 127.0.0.1 (or ::1) and a
fresh port, answering from records given on its command line.

    from dnsmasq import dnsmasq, mx, host   # the fixture, in a test module

    def test_x(dnsmasq):
        dns = dnsmasq([mx("a.test", "mx1.a.test", 10),
                       host("mx1.a.test", "127.0.0.2", "::2")])
        dns.server      # "127.0.0.1:PORT": for `resolver` and dns_probe -s

Names under the `local` domains (default: test) without any record are
NXDOMAIN; a name with records, but none of the type asked, is NODATA
(NOERROR, no answer); names elsewhere are REFUSED (no upstream).  An
answer too big for 512 bytes is truncated over UDP and served over TCP.
Readiness is awaited by querying the server, not by sleeping.  The
fixture stops every dnsmasq it started; its log (every query) is kept in
the test's workdir.
"""
import os
import random
import signal
import socket
import struct
import subprocess
import time

import pytest

from harness import free_port

DNSMASQ = "/usr/sbin/dnsmasq"


# -- records: each a dnsmasq option ------------------------------------------

def mx(domain, target, pref):
    return "--mx-host=%s,%s,%d" % (domain, target, pref)


def host(name, *addrs):
    """A and/or AAAA records (dnsmasq takes at most one of each)."""
    return "--host-record=%s,%s" % (name, ",".join(addrs))


def null_mx(domain):
    """RFC 7505: MX 0 "." (preference 0, the root as exchange)."""
    return "--dns-rr=%s,15,000000" % domain


def cname(alias, target):
    """dnsmasq answers a CNAME only for a target it has records for."""
    return "--cname=%s,%s" % (alias, target)


def txt(name, text):
    return "--txt-record=%s,%s" % (name, text)


# -- a minimal DNS client, for readiness and for fake servers ------------------

T_A, T_MX, T_AAAA = 1, 15, 28


def build_query(name, qtype, qid=None):
    qid = random.randrange(65536) if qid is None else qid
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode("ascii")
    return msg + b"\0" + struct.pack(">HH", qtype, 1)


def reply_header(query, rcode, flags=0x8180):
    """A reply to query with no records: its id and question, our rcode."""
    qid = struct.unpack(">H", query[:2])[0]
    return struct.pack(">HHHHHH", qid, flags | rcode, 1, 0, 0, 0) + query[12:]


def query(server_host, port, name, qtype=T_A, timeout=0.5):
    """One UDP query: (rcode, ancount), or None without an answer."""
    fam = socket.AF_INET6 if ":" in server_host else socket.AF_INET
    q = build_query(name, qtype)
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, (server_host, port))
            r = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
    if len(r) < 12 or r[:2] != q[:2]:
        return None
    flags, _, ancount = struct.unpack(">HHH", r[2:8])
    return flags & 0x0f, ancount


# -- dnsmasq ---------------------------------------------------------------------

class Dnsmasq:
    """One dnsmasq.  server: "ADDR:PORT" ("[::1]:PORT" for IPv6)."""

    def __init__(self, directory, records, listen="127.0.0.1", local=("test",)):
        self.dir = directory
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.listen = listen
        self.port = free_port(listen)
        self.logfile = self.dir / "dnsmasq.log"
        self.args = [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts",
                     "--conf-file=/dev/null", "--pid-file=",
                     "--port=%d" % self.port, "--listen-address=" + listen,
                     "--bind-interfaces", "--log-queries", "--log-facility=-"]
        self.args += ["--local=/%s/" % d for d in local]
        self.args += list(records)
        self.proc = None

    @property
    def server(self):
        if ":" in self.listen:
            return "[%s]:%d" % (self.listen, self.port)
        return "%s:%d" % (self.listen, self.port)

    def start(self, timeout=10):
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        # Readiness: the first answer to a query (each try blocks up to
        # 0.2 s on the socket).
        while query(self.listen, self.port, "ready.sluice-probe", T_A, 0.2) is None:
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dnsmasq did not answer within %ss:\n%s"
                                     % (timeout, self.log_tail()))
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:   # and any TCP child it forked
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self.proc = None

    def log_tail(self, n=30):
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])


@pytest.fixture
def dnsmasq(workdir):
    """dnsmasq(records, listen="127.0.0.1", local=("test",)) -> Dnsmasq,
    started and answering."""
    started = []

    def start(records, listen="127.0.0.1", local=("test",)):
        d = Dnsmasq(workdir / ("dnsmasq%d" % len(started)), records,
                    listen=listen, local=local)
        started.append(d)
        d.start()
        return d

    yield start
    for d in started:
        d.stop()
