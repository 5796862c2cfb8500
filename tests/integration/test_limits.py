"""Limits a hostile or broken client runs into: size, recipients, idle
time, line length, malformed input, error count, connections.  Each is
answered with the documented reply and none takes the daemon down."""
import os
import socket
import subprocess
import threading
import time

from smtpwire import SMTPClosed, build_message

SENDER = "limits@example.com"
RCPT = "r@example.org"


def size_limit(s):
    with s.smtp() as c:
        c.ehlo()
        return int(c.ext["SIZE"])


def small_message(tag):
    return build_message("%s@test" % tag, SENDER, [RCPT], tag, ["small " + tag])


def test_oversize_declared_at_mail(sluice):
    s = sluice()
    limit = size_limit(s)
    with s.smtp() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, limit + 1))
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        assert r.code == 503, r                  # no transaction was opened
        # exactly at the limit is fine
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, limit))
        assert r.code == 250, r
    assert s.queue_json() == []
    # the administrator finds the refusal in the log
    s.wait_log(r"queue_id=NOQUEUE .*event=reject stage=mail .*"
               r"reply=\"552 5\.3\.4 ")


def test_oversize_found_at_end_of_data(sluice):
    s = sluice()
    limit = size_limit(s)
    line = b"x" * 998
    n = limit // 1000 + 50                       # comfortably over the limit
    big = build_message("big@test", SENDER, [RCPT], "big", [line] * n)
    assert len(big) > limit
    with s.smtp() as c:
        c.ehlo()
        mail, rr, data = c.transaction(SENDER, [RCPT], big)
        assert mail.code == 250 and rr[0].code == 250
        assert (data.code, data.enhanced) == (552, "5.3.4"), data
        # the session goes on: a normal message right after is accepted
        qid = c.send_mail(SENDER, [RCPT], small_message("after-big"))
    msgs = s.queue_json()
    assert [m["id"] for m in msgs] == [qid], msgs
    assert all(m["size"] < limit for m in msgs)
    s.wait_log(r"event=reject stage=data .*from=<%s> .*reply=\"552 5\.3\.4 "
               % SENDER)


def test_too_many_recipients(sluice):
    s = sluice()                                   # recipients 10
    rcpts = ["r%02d@example.org" % i for i in range(12)]
    msg = build_message("many@test", SENDER, rcpts[:10], "many", ["x"])
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        replies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        assert [r.code for r in replies[:10]] == [250] * 10
        for r in replies[10:]:
            assert (r.code, r.enhanced) == (452, "4.5.3"), r
        d = c.data(msg)
        assert d.code == 250, d
    det = s.show(d.queue_id)
    assert sorted(x["address"] for x in det["recipients"]) == rcpts[:10]
    s.wait_log(r"queue_id=%s .*event=reject stage=rcpt .*to=<r11@example.org> "
               r"reply=\"452 4\.5\.3 " % d.queue_id)


def test_stalled_clients_time_out_while_others_are_served(sluice):
    s = sluice()                                   # command/data timeout 2s
    idle = s.smtp()
    idle.ehlo("idle.test")
    t_idle = time.monotonic()
    in_data = s.smtp()
    in_data.ehlo("slow.test")
    assert in_data.cmd("MAIL FROM:<slow@example.com>").code == 250
    assert in_data.cmd("RCPT TO:<%s>" % RCPT).code == 250
    assert in_data.cmd("DATA").code == 354
    in_data.send(b"Subject: never finished\r\n\r\nhalf a body")
    t_data = time.monotonic()

    # meanwhile a well-behaved client gets a whole transaction through
    with s.smtp() as c:
        c.ehlo("busy.test")
        qid = c.send_mail(SENDER, [RCPT], small_message("concurrent"))
    served = time.monotonic() - t_idle
    assert served < 1.8, "the good session took %.1fs: not served beside the stalled ones" % served

    for c, t0 in ((idle, t_idle), (in_data, t_data)):
        r = c.reply(timeout=10)
        waited = time.monotonic() - t0
        assert (r.code, r.enhanced) == (421, "4.4.2"), r
        assert 1.5 <= waited <= 6, "421 after %.1fs, want ~2s" % waited
        assert c.is_closed(timeout=5)
        c.close()
    assert [m["id"] for m in s.queue_json()] == [qid]   # the half message is not kept


def test_overlong_command_line(sluice):
    s = sluice()
    with s.smtp() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s@example.com>" % ("a" * 10000))
        assert (r.code, r.enhanced) == (500, "5.5.2"), r
        # nothing of the long line was taken as a command
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        assert r.code == 503, r
        assert c.cmd("NOOP").code == 250
        # a line far beyond any buffer, sent in pieces, is refused once
        c.send(b"NOOP " + b"y" * 300000 + b"\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (500, "5.5.2"), r
        assert c.cmd("NOOP").code == 250
    assert s.queue_json() == []


def test_nul_bytes_in_commands(sluice):
    """Observed: a command line with a NUL is refused with
    `500 5.5.2 Error: NUL character in command` and not executed."""
    s = sluice()
    with s.smtp() as c:
        c.ehlo()
        r = c.cmd(b"MAIL FROM:<nul@example.com>\x00 SIZE=10")
        assert (r.code, r.enhanced) == (500, "5.5.2"), r
        r = c.cmd("RCPT TO:<%s>" % RCPT)
        assert r.code == 503, r                      # the MAIL did not count
        r = c.cmd(b"\x00\x00\x00")
        assert r.code == 500, r
        assert c.cmd("NOOP").code == 250
    assert s.queue_json() == []


def test_bare_lf_in_commands(sluice):
    """Observed: a bare LF ends a command line as CRLF does (RFC 5321
    4.1.1 asks for CRLF; like Postfix, sluice tolerates LF in commands).
    Two commands joined by a bare LF are two commands, never one MAIL
    with a sender that swallowed the next command."""
    s = sluice()
    msg = small_message("bare-lf")
    with s.smtp() as c:
        c.send(b"EHLO lf.test\n")
        assert c.reply().code == 250
        c.send(b"MAIL FROM:<lf@example.com>\nRCPT TO:<%s>\r\n" % RCPT.encode())
        r1, r2 = c.reply(), c.reply()
        assert (r1.code, r2.code) == (250, 250), (r1, r2)
        d = c.data(msg)
        assert d.code == 250, d
    det = s.show(d.queue_id)
    assert det["sender"] == "lf@example.com"
    assert [x["address"] for x in det["recipients"]] == [RCPT]


def smuggle(s, fake_end):
    """Sends a message whose body holds fake_end followed by a second,
    smuggled transaction, then the real <CRLF>.<CRLF>."""
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT).code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: outer\r\n\r\nouter body" + fake_end +
               b"MAIL FROM:<smuggled@example.com>\r\nRCPT TO:<x@example.org>\r\n"
               b"DATA\r\nSubject: inner\r\n\r\ninner\r\n"
               b"tail\r\n.\r\n")
        r = c.reply()
        assert r.code == 250 and r.queue_id, r
        # nothing else comes back: the smuggled commands were body text.
        # (HELP's 214 cannot be mistaken for a stray 250 or 354.)
        after = c.cmd("HELP")
        assert after.code in (211, 214), "DATA ended early at %r: then %s" % (fake_end, after)
    msgs = s.queue_json()
    assert len(msgs) == 1, msgs
    assert msgs[0]["sender"] == SENDER
    body = s.body(msgs[0]["id"])
    assert b"smuggled@example.com" in body and b"tail" in body, body


def test_no_smtp_smuggling_lf_dot_lf(sluice):
    """<LF>.<LF> inside DATA is not the end of the message (RFC 5321
    4.1.1.4: only <CRLF>.<CRLF> is)."""
    smuggle(sluice(), b"\n.\n")


def test_no_smtp_smuggling_lf_dot_crlf(sluice):
    """<LF>.<CRLF> is not the end either (the 2023 SMTP smuggling
    variant): a peer like mta1 may pass it on unchanged."""
    smuggle(sluice(), b"\n.\r\n")


def test_no_smtp_smuggling_cr_dot_cr(sluice):
    """Nor is <CR>.<CR><LF>."""
    smuggle(sluice(), b"\r.\r\n")


def test_errors_limit_disconnects(sluice):
    s = sluice()                                   # errors 5
    with s.smtp() as c:
        c.ehlo()
        replies, sent = [], 0
        try:
            for i in range(10):
                c.send(b"BOGUS%d\r\n" % i)
                sent += 1
                r = c.reply()
                replies.append(r)
                if r.code == 421:
                    break
                assert 500 <= r.code < 600, r
                # the 421 may follow the error reply of the same command
                try:
                    more = c.reply(timeout=0.3)
                    replies.append(more)
                    break
                except socket.timeout:
                    pass
        except SMTPClosed:
            pass
        last = replies[-1]
        assert (last.code, last.enhanced) == (421, "4.7.0"), replies
        assert 5 <= sent <= 6, "disconnected after %d bad commands" % sent
        assert c.is_closed()
    # the daemon itself is fine
    with s.smtp() as c:
        assert c.ehlo().code == 250


def test_connection_limit_is_spent_at_mail_not_at_banner(sluice):
    """DESIGN: never refuse at connect/banner/EHLO (Postfix would mark the
    relay dead); over the limit, MAIL gets a 4xx."""
    s = sluice(limits={"connections-per-ip": 3})
    held = [s.smtp() for _ in range(3)]
    for c in held:
        assert c.ehlo().code == 250
    extra = s.smtp()
    assert extra.banner.code == 220
    assert extra.ehlo().code == 250
    r = extra.cmd("MAIL FROM:<%s>" % SENDER)
    assert r.code // 100 == 4, r
    extra.close()
    # the held sessions work
    qid = held[0].send_mail(SENDER, [RCPT], small_message("held"))
    for c in held:
        c.cmd("QUIT")
        c.close()
    # POLLING: the daemon notices the closes asynchronously; a new session
    # must be able to send once they are gone
    from harness import wait_for

    def can_send():
        with s.smtp() as c:
            c.ehlo()
            return c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
    wait_for(can_send, 5, "a free connection slot")
    assert [m["id"] for m in s.queue_json()] == [qid]


def test_many_concurrent_sessions(sluice):
    """20 clients at once, one message each: all accepted, none lost."""
    s = sluice()
    results, errors = {}, []

    def client(i):
        try:
            with s.smtp() as c:
                c.ehlo("c%d.test" % i)
                msg = build_message("conc-%d@test" % i, SENDER, [RCPT], "c", ["n %d" % i])
                results[i] = (c.send_mail(SENDER, [RCPT], msg), msg)
        except Exception as e:  # reported below
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    queued = {m["id"] for m in s.queue_json()}
    assert queued == {qid for qid, _ in results.values()}
    for qid, msg in results.values():
        assert s.body(qid) == msg


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_is_a_delay_not_a_spin(sluice, workdir, monkeypatch):
    """When accept(2) fails for want of file descriptors, sluiced neither
    dies nor spins on the listener: it rests, and serves again once
    descriptors are free."""
    import harness
    wrapper = workdir / "sluiced-64-fds"
    wrapper.write_text('#!/bin/sh\nexec prlimit --nofile=64:64 -- %s "$@"\n'
                       % harness.SLUICED)
    wrapper.chmod(0o755)
    monkeypatch.setattr(harness, "SLUICED", str(wrapper))
    s = sluice(limits={"connections": 500, "connections-per-ip": 500,
                       "command-timeout": "30s"})
    socks = []
    try:
        for _ in range(80):
            socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
        s.wait_log(r"event=accept-failed .*Too many open files")
        mark = s.log_mark()
        cpu0 = cpu_seconds(s.pid)
        # two more rounds of failing accepts, a second apart
        s.wait_log(r"event=accept-failed", timeout=5, since=mark)
        s.wait_log(r"event=accept-failed", timeout=5, since=s.log_mark())
        assert cpu_seconds(s.pid) - cpu0 < 0.5, "sluiced spins on accept"
    finally:
        for c in socks:
            c.close()
    # the backlog drains and a new client is served as usual
    with s.smtp(timeout=15) as c:
        assert c.banner.code == 220, c.banner
        assert c.ehlo().code == 250
        qid = c.send_mail(SENDER, [RCPT], small_message("after-emfile"))
    assert qid in {m["id"] for m in s.queue_json()}
