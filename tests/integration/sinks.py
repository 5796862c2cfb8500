"""Recording SMTP sinks (aiosmtpd) for the delivery tests: the next hops
that sluiced delivers to.

    Sink(host="127.0.0.1", port=None, *, cert=None, key=None,
         tls_required=False, auth=None, auth_require_tls=None,
         rcpt_replies=None, mail_reply=None, data_reply=None,
         pipelining=False, hostname="sink.test", **smtp_kw)

A sink listens on host:port (port None: a free one, chosen once and kept
across stop()/start_again()).  cert+key offer STARTTLS; tls_required
refuses MAIL before it with `530 5.7.0`; auth {"user": "password"} offers
AUTH PLAIN and LOGIN and requires it before MAIL (`530 5.7.0
Authentication required`; wrong credentials get `535 5.7.8`).  AUTH is
offered only after STARTTLS when there is a certificate (auth_require_tls
None), in clear text otherwise; auth None offers no AUTH at all.

Scripted replies, changeable at any time from the test's thread:
rcpt_replies {address: reply} (the key "*" applies to every address not
listed), mail_reply and data_reply.  A reply is a string such as
"550 5.1.1 No such user", None (accept), or a callable returning either:
called with the address for MAIL and RCPT, with the Message about to be
stored for DATA (so `lambda m: "451 4.3.0 later" if ... else None`).

What it records (lists only ever grow; read them under no lock, or use
the waits, which are event-based):
    messages   every accepted message, a Message (below), in order
    refused    the messages refused at end of DATA, a Message with .reply
    rcpts      every RCPT: (time, address, reply sent)
    auths      every AUTH: (mechanism, login, ok)
    sessions   how many SMTP sessions (connections that sent HELO/EHLO)

Message unpacks as the 4-tuple (mail_from, rcpt_tos, content, peer) and
has the attributes mail_from, rcpt_tos, content (= original_content: the
bytes as received, dot-unstuffed, CRLF kept), peer, tls (bool),
tls_version, auth_user (None without AUTH), helo, mail_options,
rcpt_options, session (the number of its session, from 1), time
(time.monotonic() at the end of DATA), wall (time.time() at the same
moment: wall-clock, for epoch-aligned quota windows), reply.
"""
import asyncio
import collections
import functools
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from harness import free_port

OK_DATA = "250 2.0.0 Ok: stored"


class Message(tuple):
    """One message as the sink saw it; a 4-tuple (mail_from, rcpt_tos,
    content, peer) with more attributes."""

    def __new__(cls, mail_from, rcpt_tos, content, peer, **extra):
        m = tuple.__new__(cls, (mail_from, rcpt_tos, content, peer))
        m.__dict__.update(extra)
        return m

    mail_from = property(lambda self: self[0])
    rcpt_tos = property(lambda self: self[1])
    content = property(lambda self: self[2])
    original_content = content
    peer = property(lambda self: self[3])

    def __repr__(self):
        return "Message(from=%r, to=%r, %d bytes, peer=%r, tls=%r, auth=%r, session=%r)" % (
            self.mail_from, self.rcpt_tos, len(self.content or b""), self.peer,
            getattr(self, "tls", None), getattr(self, "auth_user", None),
            getattr(self, "session", None))


def _wait_bindable(host, port, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise
        time.sleep(0.05)


def _reply(spec, arg):
    return spec(arg) if callable(spec) else spec


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with two changes: MAIL before STARTTLS is refused
    with an enhanced status code when TLS is required (aiosmtpd's own
    require_starttls says `530 Must issue...` to every command), and the
    socket of every connection is known to the sink, so stop() can cut
    them all."""

    def __init__(self, handler, *, sink_tls_required=False, **kw):
        super().__init__(handler, **kw)
        self.sink_tls_required = sink_tls_required
        self.sink_session = None     # the number of this session, set at HELO/EHLO

    def connection_made(self, transport):
        if self._original_transport is None and self.transport is None:
            self.event_handler._transports.add(transport)
            self.sink_raw_transport = transport
        super().connection_made(transport)

    def connection_lost(self, error):
        self.event_handler._transports.discard(getattr(self, "sink_raw_transport", None))
        super().connection_lost(error)

    async def smtp_MAIL(self, arg):
        if self.sink_tls_required and self._tls_protocol is None \
                and self.session.host_name:
            await self.push("530 5.7.0 Must issue a STARTTLS command first")
            return
        await SMTP.smtp_MAIL(self, arg)

    functools.update_wrapper(smtp_MAIL, SMTP.smtp_MAIL)


class _SinkController(Controller):
    def __init__(self, handler, tls_required, **kw):
        self.sink_tls_required = tls_required
        super().__init__(handler, **kw)

    def factory(self):
        return _SinkSMTP(self.handler, sink_tls_required=self.sink_tls_required,
                         **self.SMTP_kwargs)


class Sink:
    def __init__(self, host="127.0.0.1", port=None, *, cert=None, key=None,
                 tls_required=False, auth=None, auth_require_tls=None,
                 rcpt_replies=None, mail_reply=None, data_reply=None,
                 pipelining=False, hostname="sink.test", **smtp_kw):
        if tls_required and not cert:
            raise ValueError("tls_required needs cert and key")
        self.host = host
        self.port = port or free_port(host)
        self.cert, self.key = cert, key
        self.tls_required = tls_required
        self.auth = dict(auth) if auth else None
        # (no attribute may start with "auth_": aiosmtpd takes those of the
        # handler for AUTH mechanisms)
        self.tls_before_auth = bool(cert) if auth_require_tls is None else auth_require_tls
        self.rcpt_replies = dict(rcpt_replies or {})
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.pipelining = pipelining
        self.hostname = hostname
        self.smtp_kw = smtp_kw
        self.messages = []
        self.refused = []
        self.rcpts = []
        self.auths = []
        self.sessions = 0
        self.cond = threading.Condition()
        self.controller = None
        self._transports = set()     # touched on the sink's loop thread only

    # -- life cycle (test thread) ---------------------------------------
    def start(self):
        """Listens on host:port (the same port each time)."""
        assert self.controller is None, "sink already running"
        kw = dict(self.smtp_kw)
        if self.cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.cert), str(self.key))
            kw["tls_context"] = ctx
        if self.auth is not None:
            kw.update(authenticator=self._authenticate, auth_required=True)
        kw["auth_require_tls"] = self.tls_before_auth
        c = _SinkController(self, self.tls_required, hostname=self.host, port=self.port,
                            ready_timeout=10, decode_data=False,
                            server_hostname=self.hostname, **kw)
        # aiosmtpd reports a failed bind only after its ready_timeout:
        # wait here until the port is free (a sink just stopped)
        _wait_bindable(self.host, self.port, 10)
        c.start()
        self.controller = c
        return self

    def stop(self):
        """The next hop goes down: every open connection is cut (reset)
        and the port refuses connections until start_again()."""
        c = self.controller
        if c is None:
            return
        self.controller = None

        async def cut():
            for t in list(self._transports):
                t.abort()
            self._transports.clear()
            await asyncio.sleep(0.05)     # let the aborts close the sockets

        try:
            asyncio.run_coroutine_threadsafe(cut(), c.loop).result(10)
        finally:
            c.stop()

    def start_again(self):
        """The next hop comes back, on the same host:port."""
        return self.start()

    @property
    def running(self):
        return self.controller is not None

    # -- scripted replies (test thread, any time) -----------------------
    def set_rcpt_reply(self, address, reply):
        """reply None removes the address's scripted reply."""
        with self.cond:
            if reply is None:
                self.rcpt_replies.pop(address, None)
            else:
                self.rcpt_replies[address] = reply

    def set_mail_reply(self, reply):
        self.mail_reply = reply

    def set_data_reply(self, reply):
        self.data_reply = reply

    # -- waits and views (test thread) ----------------------------------
    def wait(self, n, timeout):
        """Blocks until at least n messages were accepted; returns them."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise AssertionError("sink %s:%d got %d of %d messages in %ss"
                                     % (self.host, self.port, len(self.messages), n, timeout))
            return list(self.messages)

    def wait_until(self, pred, timeout, what="condition"):
        """Blocks until pred(sink) is true (checked at every event the
        sink records); returns its value."""
        with self.cond:
            v = self.cond.wait_for(lambda: pred(self), timeout)
            if not v:
                raise AssertionError("sink %s:%d: no %s within %ss (messages %d, refused "
                                     "%d, rcpts %d)" % (self.host, self.port, what, timeout,
                                                       len(self.messages), len(self.refused),
                                                       len(self.rcpts)))
            return v

    def count_by_rcpt(self):
        """Counter: recipient -> how many accepted messages carried it."""
        with self.cond:
            return collections.Counter(r for m in self.messages for r in m.rcpt_tos)

    def duplicates(self):
        """{recipient: count} of the recipients delivered more than once."""
        return {r: n for r, n in self.count_by_rcpt().items() if n > 1}

    # -- aiosmtpd hooks (the sink's loop thread) ------------------------
    def _note(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = self.auth is not None and login in self.auth and self.auth[login] == password
        self._note(lambda: self.auths.append((mechanism, login, ok)))
        # failure: aiosmtpd answers 535 5.7.8
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def _greeted(self, server, hostname):
        if server.sink_session is None:
            with self.cond:
                self.sessions += 1
                server.sink_session = self.sessions
                self.cond.notify_all()

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self._greeted(server, hostname)
        return "250 %s" % self.hostname

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self._greeted(server, hostname)
        if self.auth is None:
            responses = [r for r in responses if not r.startswith("250-AUTH")]
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = _reply(self.mail_reply, address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        with self.cond:
            spec = self.rcpt_replies.get(address)
            if spec is None:
                spec = self.rcpt_replies.get(address.lower())
            if spec is None:
                spec = self.rcpt_replies.get("*")
        reply = _reply(spec, address)
        if not reply:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.append(list(options))
            reply = "250 2.1.5 Ok"
        self._note(lambda: self.rcpts.append((time.monotonic(), address, reply)))
        return reply

    async def handle_DATA(self, server, session, envelope):
        ssl_obj = server.transport.get_extra_info("ssl_object") if server.transport else None
        m = Message(envelope.mail_from, list(envelope.rcpt_tos),
                    envelope.original_content, session.peer,
                    tls=ssl_obj is not None,
                    tls_version=ssl_obj.version() if ssl_obj is not None else None,
                    auth_user=session.auth_data if session.authenticated else None,
                    helo=session.host_name,
                    mail_options=list(envelope.mail_options),
                    rcpt_options=list(envelope.rcpt_options),
                    session=server.sink_session,
                    time=time.monotonic(), wall=time.time(), reply=None)
        reply = _reply(self.data_reply, m)
        if reply:
            m.reply = reply
            self._note(lambda: self.refused.append(m))
            return reply
        m.reply = OK_DATA
        self._note(lambda: self.messages.append(m))
        return OK_DATA
