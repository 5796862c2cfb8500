"""A small SMTP client that speaks the protocol byte by byte.

The tests need to send exactly the bytes they mean (malformed lines, NUL
bytes, bare LF, pipelined groups, 8-bit bodies) and to read every reply
line as the server wrote it, so this client does not use smtplib.  Every
read has a timeout; nothing here sleeps.
"""
import re
import socket
import ssl

CRLF = b"\r\n"
QUEUED_RE = re.compile(r"queued as ([0-9A-Za-z]+)")


class SMTPClosed(Exception):
    """The server closed the connection."""


class Reply:
    """One (possibly multi-line) SMTP reply."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines          # texts after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        """The RFC 3463 enhanced status code of the first line, or None."""
        m = re.match(r"(\d\.\d{1,3}\.\d{1,3})\b", self.lines[0] if self.lines else "")
        return m.group(1) if m else None

    @property
    def queue_id(self):
        m = QUEUED_RE.search(self.text)
        return m.group(1) if m else None

    def __repr__(self):
        return "<Reply %d %r>" % (self.code, self.text)

    def __str__(self):
        return "%d %s" % (self.code, self.text)


def dot_stuff(message):
    """Message bytes (CRLF lines) -> the DATA payload, with the final dot."""
    if message and not message.endswith(CRLF):
        message += CRLF
    out = []
    for line in message.split(CRLF)[:-1] if message else []:
        if line.startswith(b"."):
            line = b"." + line
        out.append(line + CRLF)
    return b"".join(out) + b".\r\n"


def build_message(msgid, sender, rcpts, subject="test", body_lines=(),
                  extra_headers=()):
    """A simple RFC 5322 message with CRLF line ends, as bytes."""
    def b(x):
        return x if isinstance(x, bytes) else x.encode("utf-8")
    head = [b"From: <" + b(sender) + b">",
            b"To: " + b", ".join(b"<" + b(r) + b">" for r in rcpts),
            b"Subject: " + b(subject),
            b"Message-ID: <" + b(msgid) + b">",
            b"Date: Mon, 24 Nov 2025 10:00:00 +0000"]
    head += [b(h) for h in extra_headers]
    return CRLF.join(head + [b""] + [b(x) for x in body_lines]) + CRLF


class SMTPClient:
    """One SMTP session over TCP (optionally bound to a source address)."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10.0):
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=src)
        self.timeout = timeout
        self.buf = b""
        self.ext = {}
        self.banner = self.reply()

    # -- raw I/O -------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SMTPClosed("connection closed by server; unread %r" % self.buf)
        self.buf += chunk

    def readline(self, timeout=None):
        while b"\n" not in self.buf:
            self._fill(timeout)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self, timeout=None):
        """Reads one reply; raises SMTPClosed at EOF, socket.timeout on stall."""
        lines = []
        while True:
            raw = self.readline(timeout).decode("utf-8", "replace")
            m = re.match(r"(\d{3})([ -])(.*)$", raw) or re.match(r"(\d{3})()()$", raw)
            if not m:
                raise AssertionError("malformed reply line %r" % raw)
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(int(m.group(1)), lines)

    def cmd(self, line, timeout=None):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + CRLF)
        return self.reply(timeout)

    def is_closed(self, timeout=5.0):
        """True when the server closes the connection (EOF or reset) within
        timeout with nothing more to read; False on timeout."""
        try:
            self.sock.settimeout(timeout)
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data:
            self.buf += data
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- commands ------------------------------------------------------
    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        self.ext = {}
        if r.code == 250:
            for line in r.lines[1:]:
                parts = line.split(None, 1)
                if parts:
                    self.ext[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
        return r

    def starttls(self, cafile=None, server_hostname="localhost"):
        r = self.cmd("STARTTLS")
        if r.code != 220:
            return r
        if self.buf:
            raise AssertionError("data after 220 to STARTTLS: %r" % self.buf)
        ctx = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return r

    def data(self, message, timeout=None):
        """DATA; on 354 sends the dot-stuffed message.  Returns the final
        reply (or the refusal of DATA itself)."""
        r = self.cmd("DATA")
        if r.code != 354:
            return r
        self.send(dot_stuff(message))
        return self.reply(timeout)

    def transaction(self, sender, rcpts, message, mail_params=""):
        """MAIL, RCPT..., DATA one step at a time.  Returns (mail, [rcpt],
        data) replies; data is None when no recipient was accepted."""
        p = (" " + mail_params) if mail_params else ""
        mail = self.cmd("MAIL FROM:<%s>%s" % (sender, p))
        rcpt_replies = []
        if mail.code != 250:
            return mail, rcpt_replies, None
        for r in rcpts:
            rcpt_replies.append(self.cmd("RCPT TO:<%s>" % r))
        if not any(x.code == 250 for x in rcpt_replies):
            return mail, rcpt_replies, None
        return mail, rcpt_replies, self.data(message)

    def send_mail(self, sender, rcpts, message, mail_params=""):
        """A whole transaction that must succeed; returns the queue id."""
        mail, rr, data = self.transaction(sender, rcpts, message, mail_params)
        assert mail.code == 250, "MAIL: %s" % mail
        for r in rr:
            assert r.code == 250, "RCPT: %s" % r
        assert data is not None and data.code == 250, "DATA: %s" % data
        assert data.queue_id, "no queue id in %s" % data
        return data.queue_id
