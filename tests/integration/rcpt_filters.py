"""Helpers of the RCPT-stage filter tests (greylisting, HELO checks, SPF:
test_greylisting.py, test_helo_checks.py, test_spf_daemon.py,
test_rcpt_filters_mta1.py, test_rcpt_filter_order.py).

    swaks_session(port, sender, rcpts, ...) -> Transcript
        one real swaks process, optionally bound to a source address of
        127.0.0.0/8 (all of it is local on Linux), so each test can play
        several clients and networks; the replies per command
    xforward_session(port, client, helo, sender, rcpts, ...) -> Transcript
        our own client as a trusted peer (mta1) that names an original
        client with XFORWARD: the only way to show sluice a client outside
        127/8 (libspf2 passes any loopback client without DNS)
    policy(name, priority, match, **blocks) -> a policy's text
    sleep_until(t)       the clock is the event awaited (greylisting
                         periods, HELO windows): sleeps until time.time()
                         reaches t, never longer
"""
import re
import subprocess
import time

from smtpwire import SMTPClient, build_message

CMD_RE = re.compile(r"^ -> (EHLO|HELO|MAIL|RCPT|DATA|QUIT|XCLIENT|STARTTLS|\.$)(.*)$")
REPLY_RE = re.compile(r"^<[-~*]+\s+(\d{3})([ -])(.*)$")


class Transcript:
    """The replies of one SMTP session, per command.

    replies   [(command line, code, text)]   text: multi-line joined by \\n
    rcpt      {address: (code, text)}        in the order sent
    mail, data, ehlo                         (code, text) or None
    queue_id                                 from the reply to the final dot
    out                                      swaks's whole transcript (text)
    """

    def __init__(self, replies, out=""):
        self.replies = replies
        self.out = out
        self.rcpt = {}
        self.mail = self.data = self.ehlo = self.xclient = None
        for cmd, code, text in replies:
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "RCPT":
                m = re.search(r"<([^>]*)>", cmd)
                self.rcpt[m.group(1) if m else cmd] = (code, text)
            elif verb == "MAIL":
                self.mail = (code, text)
            elif verb == "." or (verb == "DATA" and code != 354):
                self.data = (code, text)
            elif verb in ("EHLO", "HELO") and self.ehlo is None:
                self.ehlo = (code, text)
            elif verb == "XCLIENT":
                self.xclient = (code, text)
        m = re.search(r"queued as ([0-9A-Za-z]+)", self.data[1]) if self.data else None
        self.queue_id = m.group(1) if m else None

    def code(self, rcpt):
        return self.rcpt[rcpt][0]

    def __repr__(self):
        return "<Transcript %r>" % (self.replies,)


def parse_swaks(out):
    """swaks's transcript -> [(command, code, text)]: each reply belongs to
    the last SMTP command sent (message lines after 354 are not commands;
    the final "." is)."""
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    replies, last, cur = [], None, None
    for line in text.splitlines():
        m = CMD_RE.match(line)
        if m:
            last = (m.group(1) + m.group(2)).strip()
            continue
        m = REPLY_RE.match(line)
        if not m:
            continue
        code, more, rest = int(m.group(1)), m.group(2) == "-", m.group(3)
        if cur is None:
            cur = [last or "<banner>", code, [rest]]
        else:
            cur[2].append(rest)
        if not more:
            replies.append((cur[0], cur[1], "\n".join(cur[2])))
            cur = None
    return replies


def swaks_session(port, sender, rcpts, helo="client.test", source=None,
                  server="127.0.0.1", extra=(), timeout=30):
    """Runs swaks (the Debian package's real program): one session, one
    message.  rcpts: one address or a list (swaks sends them in order and
    goes on with DATA when any is accepted).  sender "" is the null
    sender.  source: the local address to connect from."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    cmd = ["swaks", "--server", "%s:%d" % (server, port), "--timeout", "15",
           "--from=" + (sender if sender else "<>"), "--to=" + ",".join(rcpts),
           "--helo=" + helo]
    if source:
        cmd += ["--local-interface", source]
    cmd += [str(a) for a in extra]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    t = Transcript(parse_swaks(out), out)
    assert t.replies and t.replies[0][1] == 220, "swaks did not get a banner:\n" + out
    return t


def xforward_session(port, client, helo, sender, rcpts, message=None,
                     source=None, ehlo="mta1.test", xforward_extra="", timeout=10.0):
    """Our client as a trusted peer naming the original client with
    XFORWARD (as Postfix's smtp_send_xforward_command does), then one
    transaction.  Returns a Transcript."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    if message is None:
        message = build_message("x%f@test" % time.time(), sender or "postmaster@x.test",
                                rcpts, "xforward", ["hello"])
    replies = []
    with SMTPClient(port, source=source, timeout=timeout) as c:
        replies.append(("<banner>", c.banner.code, c.banner.text))
        r = c.ehlo(ehlo)
        replies.append(("EHLO " + ehlo, r.code, r.text))
        assert "XFORWARD" in c.ext, "sluice offers no XFORWARD: %s" % r
        addr = client if ":" not in client else "IPV6:" + client
        xf = "XFORWARD NAME=[UNAVAILABLE] ADDR=%s PROTO=ESMTP" % addr
        r = c.cmd(xf)
        replies.append((xf, r.code, r.text))
        assert r.code == 250, r
        xf = "XFORWARD HELO=%s SOURCE=REMOTE%s" % (
            helo if helo is not None else "[UNAVAILABLE]", xforward_extra)
        r = c.cmd(xf)
        replies.append((xf, r.code, r.text))
        assert r.code == 250, r
        r = c.cmd("MAIL FROM:<%s>" % sender)
        replies.append(("MAIL FROM:<%s>" % sender, r.code, r.text))
        ok = False
        if r.code == 250:
            for a in rcpts:
                r = c.cmd("RCPT TO:<%s>" % a)
                replies.append(("RCPT TO:<%s>" % a, r.code, r.text))
                ok = ok or r.code == 250
        if ok:
            r = c.data(message)
            replies.append((".", r.code, r.text))
        c.cmd("QUIT")
    return Transcript(replies)


def policy(name, priority, match, **blocks):
    """A policy: match lines (a string), then blocks: greylisting="period
    2s" gives `greylisting { period 2s }`; access="reject reply ..." gives
    the statement `access reject reply ...`."""
    lines = ["policy %s priority %d {" % (name, priority), "    " + match]
    for kind, body in blocks.items():
        if kind == "access":
            lines.append("    access " + body)
        else:
            lines.append("    %s { %s }" % (kind, body))
    lines.append("}")
    return "\n".join(lines) + "\n"


def sleep_until(t):
    """The wall clock is what a greylisting period or a HELO window waits
    for: sleeps until time.time() >= t (no longer)."""
    left = t - time.time()
    if left > 0:
        time.sleep(left)


def rcpt_lines(sluice, event, since_all=0):
    """Every log line (all runs) of one event, e.g. "greylist"."""
    return [l for l in sluice.lines[since_all:] if " event=%s " % event in l]


def headers_of(content):
    """The header section of delivered bytes as a list of unfolded
    (name, value) pairs, in order."""
    text = content.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            out.append((name, value.strip()))
    return out


class SlowDNS:
    """A UDP DNS server on 127.0.0.1 that answers every query with rcode
    (3: NXDOMAIN) and no records, delay seconds after it came: a check
    that stays in flight that long, then ends.  close() stops it."""

    def __init__(self, delay, rcode=3):
        import socket
        import threading
        from dnsmasq import reply_header
        self.delay, self.rcode, self._reply = delay, rcode, reply_header
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.timers = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _answer(self, q, peer):
        if not self.done.is_set():
            try:
                self.sock.sendto(self._reply(q, self.rcode), peer)
            except OSError:
                pass

    def _run(self):
        import socket
        import threading
        while not self.done.is_set():
            try:
                q, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 12:
                continue
            self.queries += 1
            t = threading.Timer(self.delay, self._answer, (q, peer))
            t.daemon = True
            self.timers.append(t)
            t.start()

    def close(self):
        self.done.set()
        for t in self.timers:
            t.cancel()
        self.thread.join(5)
        self.sock.close()
