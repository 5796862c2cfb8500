"""The delivery client (relay/mta_*), driven through build/tools/mta_probe
against real peers: aiosmtpd sinks (plain, STARTTLS + AUTH, refusing),
Postfix's smtp-sink, and small scripted servers for what no real server
does on request (withholding replies until DATA, hostile replies, closing
mid-DATA, silence).

MTA_PROBE=path runs the tests against another build of the probe (an
ASan+UBSan one); a sanitizer report on its stderr fails the test.
"""
import os
import re
import select
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from harness import ROOT, SANITIZER_RE, free_port, wait_for
from smtpwire import build_message

PROBE = os.environ.get("MTA_PROBE", str(ROOT / "build" / "tools" / "mta_probe"))
SENDER = "alice@example.com"

RCPT_RE = re.compile(r'^RCPT (\S+) status=(\w+) dsn=(\S+) code=(\d+) '
                     r'reply="((?:[^"\\]|\\.)*)"$')
SESSION_RE = re.compile(r'^session relay=(\S+) greeting=(\S+) '
                        r'tls="((?:[^"\\]|\\.)*)" verified=(\w+) auth=(\w+) '
                        r'closed="((?:[^"\\]|\\.)*)"$')


def unquote(s):
    return re.sub(r"\\(.)", r"\1", s)


class Outcome:
    """What mta_probe printed: .rcpts [(addr, status, dsn, code, reply)],
    .session {relay, greeting, tls, verified, auth, closed}."""

    def __init__(self, out, err):
        self.out, self.err = out, err
        self.rcpts = []
        self.session = None
        for line in out.splitlines():
            m = RCPT_RE.match(line)
            if m:
                self.rcpts.append((m.group(1), m.group(2), m.group(3),
                                   int(m.group(4)), unquote(m.group(5))))
                continue
            m = SESSION_RE.match(line)
            assert m, "unexpected probe output line: %r" % line
            self.session = dict(zip(
                ("relay", "greeting", "tls", "verified", "auth", "closed"),
                [unquote(g) for g in m.groups()]))
        assert self.session is not None, "no session line:\n" + out

    def status(self, addr=None):
        got = [r for r in self.rcpts if addr is None or r[0] == addr]
        assert len(got) == 1, "want one result for %s in:\n%s" % (addr, self.out)
        return got[0]

    def __repr__(self):
        return self.out + self.err


def probe(port, to, *args, message=None, host="localhost", sender=SENDER,
          timeout=60):
    """Runs mta_probe to 127.0.0.1:port; returns its Outcome."""
    if message is None:
        message = build_message("probe@test", sender, to, "probe", ["hello"])
    cmd = [PROBE, "--connect", "127.0.0.1:%d" % port, "--host", host,
           "--from", sender]
    for r in to:
        cmd += ["--to", r]
    cmd += [str(a) for a in args]
    r = subprocess.run(cmd, input=message, capture_output=True, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    assert not SANITIZER_RE.search(err), "sanitizer report:\n" + err
    assert r.returncode == 0, "mta_probe exit %d\n%s%s" % (r.returncode, out, err)
    return Outcome(out, err)


@pytest.fixture(scope="module", autouse=True)
def probe_built():
    if not Path(PROBE).is_file():
        pytest.fail("%s is not built (run make tools)" % PROBE)


# -- aiosmtpd servers with hooks ------------------------------------------

class Recorder:
    """An aiosmtpd handler that records every transaction and can refuse:
    refuse_rcpt {address: reply}, refuse_mail / refuse_data (a reply),
    pipelining (announce PIPELINING).  Waits are event-based."""

    def __init__(self, refuse_rcpt=None, refuse_mail=None, refuse_data=None,
                 pipelining=False):
        self.refuse_rcpt = refuse_rcpt or {}
        self.refuse_mail = refuse_mail
        self.refuse_data = refuse_data
        self.pipelining = pipelining
        self.messages = []      # (mail_from, rcpt_tos, mail_options, content, peer)
        self.mails = 0          # MAIL commands seen
        self.auth = []          # (mechanism, login, ok)
        self.cond = threading.Condition()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.mails += 1
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data
        with self.cond:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  list(envelope.mail_options),
                                  envelope.original_content, session.peer))
            self.cond.notify_all()
        return "250 2.0.0 Ok: stored"

    def authenticator(self, users):
        from aiosmtpd.smtp import AuthResult

        def check(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode()
            ok = users.get(login) == auth_data.password.decode()
            self.auth.append((mechanism, login, ok))
            return AuthResult(success=ok, handled=False)  # 535 on failure
        return check


@pytest.fixture
def smtpd():
    """start(handler=None, **SMTP kwargs) -> handler with .port."""
    from aiosmtpd.controller import Controller
    controllers = []

    def start(handler=None, **kw):
        h = handler or Recorder()
        h.port = free_port()
        c = Controller(h, hostname="127.0.0.1", port=h.port, ready_timeout=10,
                       decode_data=False, server_hostname="sink.test", **kw)
        c.start()
        controllers.append(c)
        return h

    yield start
    for c in controllers:
        c.stop()


def server_tls(tls_cert):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*[str(p) for p in tls_cert])
    return ctx


# -- scripted servers ----------------------------------------------------

class Wire:
    """The server's end of one connection, line by line."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""
        conn.settimeout(30)

    def send(self, data):
        self.conn.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError("client closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def pending(self):
        """Has the client sent more than we have read (right now)?"""
        if self.buf:
            return True
        return bool(select.select([self.conn], [], [], 0)[0])

    def data(self):
        """The DATA payload up to the dot, as sent (still stuffed)."""
        lines = []
        while True:
            line = self.line()
            if line == ".":
                return "\r\n".join(lines)
            lines.append(line)

    def until_closed(self):
        while self.conn.recv(65536):
            pass


class Scripted:
    """Serves one connection with fn(wire) on a thread; result() returns
    fn's value or raises what it raised."""

    def __init__(self, fn):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.value = self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            conn, _ = self.sock.accept()
            with conn:
                self.value = fn(Wire(conn))
        except Exception as e:  # handed to result()
            self.error = e

    def result(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "scripted server still running"
        if self.error is not None:
            raise self.error
        return self.value

    def close(self):
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def scripted():
    servers = []

    def start(fn):
        s = Scripted(fn)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


EHLO_PLAIN = ["8BITMIME", "ENHANCEDSTATUSCODES"]


def ehlo_reply(exts, name="scripted.test"):
    lines = [name] + list(exts)
    return "".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                   for i, l in enumerate(lines))


def answer(w, line, exts=EHLO_PLAIN):
    """The reply of a plain, agreeable server to one command line; returns
    False after QUIT."""
    verb = line.split(" ", 1)[0].upper()
    if verb == "EHLO":
        w.send(ehlo_reply(exts))
    elif verb == "DATA":
        w.send("354 go ahead\r\n")
        w.data()
        w.send("250 2.0.0 Ok: queued\r\n")
    elif verb == "QUIT":
        w.send("221 2.0.0 Bye\r\n")
        return False
    else:
        w.send("250 2.0.0 Ok\r\n")
    return True


def serve_rest(w, exts=EHLO_PLAIN, seen=None):
    """Answers every command until QUIT or EOF; returns the lines seen."""
    seen = [] if seen is None else seen
    try:
        while True:
            line = w.line()
            seen.append(line)
            if not answer(w, line, exts):
                return seen
    except EOFError:
        return seen


# -- delivery ------------------------------------------------------------

DOTTY = build_message("dots@test", SENDER, ["bob@example.net"], "dots", [
    ".", "..", ".leading dot", "...three", "middle . dot", "",
    "8-bit: caf\u00e9 \u2603", ". ", "x" * 900, "end"])


def test_plain_delivery_is_byte_exact(sink):
    s = sink()
    rcpts = ["bob@example.net", "carol@example.net"]
    o = probe(s.port, rcpts, "--8bit", message=DOTTY)
    for r in rcpts:
        assert o.status(r)[1:3] == ("sent", "2.0.0"), o
        assert "250" in o.status(r)[4]
    msgs = s.wait(1, 10)
    assert len(msgs) == 1
    mail_from, rcpt_tos, content, _ = msgs[0]
    assert mail_from == SENDER and rcpt_tos == rcpts
    assert content == DOTTY
    assert o.session["relay"] == "localhost[127.0.0.1]:%d" % s.port
    assert o.session["tls"] == "none" and o.session["closed"] == "ok"


def test_large_message_and_missing_final_crlf(smtpd):
    h = smtpd(Recorder(pipelining=True))
    body = ["line %06d %s" % (i, "." * (i % 7)) for i in range(30000)]
    msg = build_message("big@test", SENDER, ["bob@example.net"], "big", body)
    o = probe(h.port, ["bob@example.net"], message=msg[:-2])   # no last CRLF
    assert o.status()[1] == "sent", o
    assert h.messages[0][3] == msg
    assert "SIZE=%d" % len(msg) in h.messages[0][2]


@pytest.mark.parametrize("pipelining", [True, False])
def test_aiosmtpd_with_and_without_pipelining(smtpd, pipelining):
    h = smtpd(Recorder(pipelining=pipelining))
    o = probe(h.port, ["a@example.net", "b@example.net"], "--repeat", "3",
              message=DOTTY)
    assert [r[1] for r in o.rcpts] == ["sent"] * 6, o
    assert len(h.messages) == 3
    assert all(m[3] == DOTTY for m in h.messages)
    # one connection for the three transactions
    assert len({m[4] for m in h.messages}) == 1


def test_pipelining_sends_the_group_in_one_go(scripted):
    """The server withholds every reply until it has read DATA: a client
    that waits for the MAIL reply would hang."""
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        assert w.line().startswith("EHLO ")
        w.send(ehlo_reply(["PIPELINING"] + EHLO_PLAIN))
        groups = []
        for _ in range(2):
            group = []
            while not group or group[-1] != "DATA":
                group.append(w.line())
            groups.append(group)
            w.send("".join("250 2.0.0 Ok\r\n" for _ in group[:-1]))
            w.send("354 go ahead\r\n")
            w.data()
            w.send("250 2.0.0 Ok: queued\r\n")
        return groups, serve_rest(w)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net", "b@example.net"], "--repeat", "2",
              "--timeout", "10")
    assert [r[1] for r in o.rcpts] == ["sent"] * 4, o
    groups, rest = srv.result()
    assert groups[0] == ["MAIL FROM:<%s>" % SENDER, "RCPT TO:<a@example.net>", "RCPT TO:<b@example.net>",
                         "DATA"]
    # the next transaction on the same connection starts with RSET
    assert groups[1][0] == "RSET" and groups[1][1:] == groups[0]
    assert rest == ["QUIT"]


def test_no_pipelining_waits_for_each_reply(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        early = []
        seen = []
        while True:
            line = w.line()
            seen.append(line)
            if w.pending():
                early.append(line)
            if not answer(w, line):
                return seen, early

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net", "b@example.net"], "--timeout", "10")
    assert [r[1] for r in o.rcpts] == ["sent"] * 2, o
    seen, early = srv.result()
    assert early == [], "sent before the previous reply: %r" % early
    assert [l.split(":")[0].split(" ")[0] for l in seen] == [
        "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]


def test_smtp_sink_as_a_second_real_peer(workdir):
    port = free_port()
    dump = workdir / "dump"
    sink = subprocess.Popen(["smtp-sink", "-u", "root", "-d", str(dump) + "/msg.",
                             "127.0.0.1:%d" % port, "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # POLLING: smtp-sink says nothing when it is listening
        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_for(listening, 10, "smtp-sink to listen")
        rcpts = ["bob@example.net", "carol@example.net"]
        o = probe(port, rcpts, message=DOTTY)
        assert [r[1] for r in o.rcpts] == ["sent", "sent"], o
        assert o.session["greeting"] == "smtp-sink"
        # POLLING: the dump file is written by another process
        files = wait_for(lambda: [f for f in dump.glob("msg.*")
                                  if f.read_bytes().endswith(b"\nend\n\n")],
                         10, "smtp-sink's dump")
        text = files[0].read_bytes()
        assert b"X-Mail-Args: <%s>" % SENDER.encode() in text
        for r in rcpts:
            assert b"X-Rcpt-Args: <%s>" % r.encode() in text
        # after smtp-sink's own headers (ending with its 3-line Received),
        # the message as sent, with LF line ends and a blank line added
        body = text.split(b"(UTC)\n", 1)[1] if b"(UTC)\n" in text else None
        assert body is not None, text
        assert body == DOTTY.replace(b"\r\n", b"\n") + b"\n"
    finally:
        sink.kill()
        sink.wait(10)
        sink.stderr.close()


# -- STARTTLS and AUTH ---------------------------------------------------

USERS = {"relayuser": "s3cret pass"}


def tls_auth_server(smtpd, tls_cert, **kw):
    h = Recorder()
    kw.setdefault("authenticator", h.authenticator(USERS))
    return smtpd(h, tls_context=server_tls(tls_cert), require_starttls=True,
                 auth_require_tls=True, auth_required=True, **kw)


def test_starttls_and_auth_plain(smtpd, tls_cert):
    h = tls_auth_server(smtpd, tls_cert)
    o = probe(h.port, ["bob@example.net"], "--tls", "encrypt",
              "--auth", "relayuser:s3cret pass", message=DOTTY)
    assert o.status()[1] == "sent", o
    assert o.session["tls"].startswith("TLSv1."), o
    assert o.session["auth"] == "yes"
    assert h.auth == [("PLAIN", "relayuser", True)]
    assert h.messages[0][3] == DOTTY


def test_auth_login_when_only_login_is_offered(smtpd, tls_cert):
    h = tls_auth_server(smtpd, tls_cert, auth_exclude_mechanism=["PLAIN"])
    o = probe(h.port, ["bob@example.net"], "--tls", "may",
              "--auth", "relayuser:s3cret pass")
    assert o.status()[1] == "sent", o
    assert h.auth == [("LOGIN", "relayuser", True)]


def test_wrong_credentials_defer_with_the_servers_reply(smtpd, tls_cert):
    h = tls_auth_server(smtpd, tls_cert)
    o = probe(h.port, ["bob@example.net", "carol@example.net"], "--tls",
              "encrypt", "--auth", "relayuser:wrong")
    for r in o.rcpts:
        _, status, dsn, code, reply = r
        assert (status, dsn, code) == ("deferred", "4.7.8", 535), o
        assert "535 5.7.8" in reply and "SASL authentication failed" in reply
    assert h.auth == [("PLAIN", "relayuser", False)]
    assert h.mails == 0 and h.messages == []


def test_no_credentials_in_clear_unless_policy_none(smtpd):
    h = Recorder()
    h = smtpd(h, auth_require_tls=False,
              authenticator=h.authenticator(USERS))
    o = probe(h.port, ["bob@example.net"], "--tls", "may",
              "--auth", "relayuser:s3cret pass")
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.7.0"), o
    assert "without TLS" in reply
    assert h.auth == []
    # tls none is the administrator's explicit choice: in clear
    o = probe(h.port, ["bob@example.net"], "--tls", "none",
              "--auth", "relayuser:s3cret pass")
    assert o.status()[1] == "sent", o
    assert h.auth == [("PLAIN", "relayuser", True)]


def test_verify_with_the_test_ca(smtpd, tls_cert):
    h = smtpd(Recorder(), tls_context=server_tls(tls_cert))
    o = probe(h.port, ["bob@example.net"], "--tls", "verify",
              "--ca-file", tls_cert[0], host="localhost")
    assert o.status()[1] == "sent", o
    assert o.session["verified"] == "yes"
    # an IP literal as the name: checked against the IP SAN
    o = probe(h.port, ["bob@example.net"], "--tls", "verify",
              "--ca-file", tls_cert[0], host="[127.0.0.1]")
    assert o.status()[1] == "sent", o


def test_verify_refuses_a_wrong_name_and_an_unknown_ca(smtpd, tls_cert):
    h = smtpd(Recorder(), tls_context=server_tls(tls_cert))
    o = probe(h.port, ["bob@example.net"], "--tls", "verify",
              "--ca-file", tls_cert[0], host="mx.wrong.example")
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.7.5"), o
    assert "not verified" in reply and "hostname mismatch" in reply
    # the system's CAs do not know the self-signed test certificate
    o = probe(h.port, ["bob@example.net"], "--tls", "verify")
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.7.5"), o
    assert "self-signed" in reply or "issuer" in reply, reply
    assert h.mails == 0
    # may and encrypt take the same server, unverified
    o = probe(h.port, ["bob@example.net"], "--tls", "encrypt",
              host="mx.wrong.example")
    assert o.status()[1] == "sent", o
    assert o.session["verified"] == "no" and o.session["tls"] != "none"


def test_encrypt_without_starttls_defers(smtpd):
    h = smtpd(Recorder())
    o = probe(h.port, ["bob@example.net"], "--tls", "encrypt")
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.7.4"), o
    assert "TLS is required, but was not offered" in reply
    assert h.mails == 0
    # may goes on in clear
    o = probe(h.port, ["bob@example.net"], "--tls", "may")
    assert o.status()[1] == "sent" and o.session["tls"] == "none", o


@pytest.mark.parametrize("policy", ["may", "encrypt"])
def test_starttls_refused(scripted, policy):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        seen = []
        while True:
            line = w.line()
            seen.append(line)
            if line == "STARTTLS":
                w.send("454 4.7.0 TLS not available due to local problem\r\n")
            elif not answer(w, line, ["STARTTLS"] + EHLO_PLAIN):
                return seen

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"], "--tls", policy)
    seen = srv.result() if policy == "may" else None
    if policy == "may":
        assert o.status()[1] == "sent" and o.session["tls"] == "none", o
        assert seen[1] == "STARTTLS" and seen[2].startswith("MAIL FROM:")
    else:
        _, status, dsn, code, reply = o.status()
        assert (status, dsn, code) == ("deferred", "4.7.4", 454), o
        assert "refused to start TLS: 454 4.7.0 TLS not available" in reply


def test_starttls_response_injection_is_dropped(scripted, tls_cert):
    """Replies a man in the middle pipelines after the 220 to STARTTLS
    must not be taken as replies inside TLS (the client side of
    CVE-2011-0411)."""
    ctx = server_tls(tls_cert)

    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        assert w.line().startswith("EHLO ")
        w.send(ehlo_reply(["STARTTLS"] + EHLO_PLAIN))
        assert w.line() == "STARTTLS"
        w.send("220 2.0.0 go ahead\r\n250-injected\r\n250 injected\r\n"
               "550 5.7.1 injected\r\n")
        tls = Wire(ctx.wrap_socket(w.conn, server_side=True))
        return serve_rest(tls)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"], "--tls", "encrypt")
    assert o.status()[1:3] == ("sent", "2.0.0"), o
    assert o.session["tls"].startswith("TLSv1."), o
    assert "event=mta-starttls-junk" in o.err
    seen = srv.result()
    assert seen[0].startswith("EHLO ") and seen[1].startswith("MAIL FROM:")


# -- replies and classification ---------------------------------------

def test_one_recipient_refused_others_delivered(smtpd):
    h = smtpd(Recorder(refuse_rcpt={
        "nobody@example.net": "550 5.1.1 <nobody@example.net>: User unknown",
        "later@example.net": "451 4.3.0 try again later"}))
    rcpts = ["bob@example.net", "nobody@example.net", "later@example.net",
             "carol@example.net"]
    o = probe(h.port, rcpts, message=DOTTY)
    assert o.status("bob@example.net")[1] == "sent"
    assert o.status("carol@example.net")[1] == "sent"
    _, status, dsn, code, reply = o.status("nobody@example.net")
    assert (status, dsn, code) == ("bounced", "5.1.1", 550), o
    assert reply == ("host localhost[127.0.0.1] said: 550 5.1.1 "
                     "<nobody@example.net>: User unknown "
                     "(in reply to RCPT TO command)")
    _, status, dsn, code, reply = o.status("later@example.net")
    assert (status, dsn, code) == ("deferred", "4.3.0", 451), o
    assert len(h.messages) == 1
    assert h.messages[0][1] == ["bob@example.net", "carol@example.net"]
    assert h.messages[0][3] == DOTTY


def test_every_recipient_refused_sends_no_data(smtpd):
    h = smtpd(Recorder(refuse_rcpt={"x@example.net": "451 4.7.1 greylisted"}))
    o = probe(h.port, ["x@example.net"])
    assert o.status()[1:4] == ("deferred", "4.7.1", 451), o
    assert h.messages == []


def test_mail_refused_applies_to_all(smtpd):
    h = smtpd(Recorder(refuse_mail="553 5.7.1 sender rejected"))
    o = probe(h.port, ["a@example.net", "b@example.net"])
    for r in o.rcpts:
        assert r[1:4] == ("bounced", "5.7.1", 553), o
        assert "(in reply to MAIL FROM command)" in r[4]


def test_data_refused_applies_to_accepted(smtpd):
    h = smtpd(Recorder(refuse_data="554 5.6.0 content rejected",
                       refuse_rcpt={"b@example.net": "550 5.1.1 unknown"}))
    o = probe(h.port, ["a@example.net", "b@example.net"])
    assert o.status("a@example.net")[1:4] == ("bounced", "5.6.0", 554), o
    assert "(in reply to end of DATA command)" in o.status("a@example.net")[4]
    assert o.status("b@example.net")[1:4] == ("bounced", "5.1.1", 550)


def test_421_at_rcpt_defers_all_open_recipients(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        seen = []
        while True:
            line = w.line()
            seen.append(line)
            if line == "RCPT TO:<b@example.net>":
                w.send("421 4.3.2 shutting down\r\n")
                return seen
            answer(w, line)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net", "b@example.net"])
    for r in o.rcpts:
        assert r[1:4] == ("deferred", "4.3.2", 421), o
        assert "421 4.3.2 shutting down" in r[4]
    srv.result()


def test_server_closing_mid_data_defers_all(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        while True:
            line = w.line()
            if line == "DATA":
                w.send("354 go ahead\r\n")
                w.line()                # a little of the body, then gone
                return
            answer(w, line)

    srv = scripted(fn)
    body = ["line %d" % i for i in range(50000)]
    msg = build_message("cut@test", SENDER, ["a@example.net"], "cut", body)
    o = probe(srv.port, ["a@example.net", "b@example.net"], message=msg)
    srv.result()
    for r in o.rcpts:
        assert r[1] == "deferred" and r[2] == "4.4.2" and r[3] == 0, o
        assert "lost connection with host localhost[127.0.0.1]" in r[4]


def test_no_final_reply_after_the_dot_defers(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        while True:
            line = w.line()
            if line == "DATA":
                w.send("354 go ahead\r\n")
                w.data()
                return          # closes without the final reply
            answer(w, line)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"])
    srv.result()
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.4.2"), o
    assert "may be sent more than once" in reply


def test_smtputf8_needed_but_not_offered_bounces(smtpd):
    h = smtpd(Recorder(), enable_SMTPUTF8=False)
    rcpt = "j\u00f6rg@b\u00fccher.example"
    o = probe(h.port, [rcpt], "--smtputf8")
    assert o.status()[1:3] == ("bounced", "5.6.7"), o
    assert "SMTPUTF8" in o.status()[4]
    assert h.mails == 0
    # offered: sent, with the SMTPUTF8 parameter
    h2 = smtpd(Recorder())
    o = probe(h2.port, [rcpt], "--smtputf8")
    assert o.status()[1] == "sent", o
    assert "SMTPUTF8" in h2.messages[0][2]
    assert h2.messages[0][1] == [rcpt]


def test_size_limit_below_the_message_bounces(smtpd):
    h = smtpd(Recorder(), data_size_limit=200)
    msg = build_message("size@test", SENDER, ["a@example.net"], "s", ["x" * 500])
    o = probe(h.port, ["a@example.net"], message=msg)
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("bounced", "5.3.4"), o
    assert "exceeds size limit 200" in reply
    assert h.mails == 0


def test_ehlo_refused_falls_back_to_helo(scripted):
    def fn(w):
        w.send("220 old.test SMTP\r\n")
        first = w.line()
        w.send("500 5.5.1 command unrecognized\r\n")
        return [first] + serve_rest(w)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"], "--8bit", "--tls", "may")
    assert o.status()[1] == "sent", o
    seen = srv.result()
    assert seen[0].startswith("EHLO ") and seen[1] == "HELO mta-probe.test"
    assert seen[2] == "MAIL FROM:<%s>" % SENDER      # no BODY= without EHLO


@pytest.mark.parametrize("banner,dsn", [
    ("421 4.3.2 busy", "4.3.2"),
    ("554 5.7.1 go away", "4.7.1"),     # a 5xx banner defers (skip_5xx)
])
def test_refusing_banner_fails_the_session(scripted, banner, dsn):
    def fn(w):
        w.send(banner + "\r\n")
        w.until_closed()

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"])
    assert o.status()[1:3] == ("deferred", dsn), o
    assert banner in o.status()[4]
    srv.result()


def test_silent_server_times_out(scripted):
    srv = scripted(lambda w: w.until_closed())
    o = probe(srv.port, ["a@example.net"], "--timeout", "1")
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.4.2"), o
    assert "timed out while receiving the initial server greeting" in reply
    srv.result()


def test_idle_timeout_quits(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        return serve_rest(w)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"], "--keep-open", "--idle-timeout", "1")
    assert o.status()[1] == "sent", o
    assert o.session["closed"] == "ok"
    assert srv.result()[-1] == "QUIT"


def test_server_closing_an_idle_session(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        while True:
            line = w.line()
            answer(w, line)
            if line == "DATA":
                return          # delivered; now hang up

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"], "--keep-open")
    assert o.status()[1] == "sent", o
    assert "closed by host localhost[127.0.0.1] while idle" in o.session["closed"]
    srv.result()


def test_null_sender(smtpd):
    h = smtpd(Recorder())
    o = probe(h.port, ["a@example.net"], sender="")
    assert o.status()[1] == "sent", o
    assert h.messages[0][0] in ("", "<>")     # aiosmtpd keeps the brackets


def test_connection_refused():
    port = free_port()          # nothing listens there
    o = probe(port, ["a@example.net"])
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.4.1"), o
    assert "Connection refused" in reply


def test_hostile_replies_are_bounded(scripted):
    """A megabyte-long banner line is cut; an endless multi-line reply is
    a protocol error, not an allocation without bound."""
    def fn(w):
        w.send("220 " + "x" * (1 << 20) + "\r\n")
        assert w.line().startswith("EHLO ")
        w.send("250-hostile.test\r\n")
        line = ("250-" + "y" * 200 + "\r\n").encode()
        try:
            for _ in range(20000):
                w.send(line)
        except OSError:
            pass                # the client gave up on us: good
        w.until_closed()

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"])
    _, status, dsn, _, reply = o.status()
    assert (status, dsn) == ("deferred", "4.5.0"), o
    assert "too many lines" in reply
    assert len(o.session["greeting"]) < 4096
    srv.result()


def test_multiline_and_unprintable_replies(scripted):
    def fn(w):
        w.send("220 scripted.test ESMTP\r\n")
        while True:
            line = w.line()
            if line.startswith("RCPT"):
                w.send("550-5.7.1 first line\r\n550-5.7.1 second\x01line\r\n"
                       "550 5.7.1 last \xff line\r\n".encode("latin-1"))
                return serve_rest(w)
            answer(w, line)

    srv = scripted(fn)
    o = probe(srv.port, ["a@example.net"])
    _, status, dsn, code, reply = o.status()
    assert (status, dsn, code) == ("bounced", "5.7.1", 550), o
    assert "550 5.7.1 first line second?line last ? line" in reply
    srv.result()
