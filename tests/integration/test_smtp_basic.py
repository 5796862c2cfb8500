"""What an administrator checks first on a new relay: mail from a trusted
client is accepted, stored byte for byte, and the dialogue is standard."""
import smtplib

from harness import strip_received, swaks, swaks_replies
from smtpwire import build_message, dot_stuff

SENDER = "sender@example.com"


def only_message(s):
    msgs = s.queue_json()
    assert len(msgs) == 1, "expected one queued message, got %r" % msgs
    return msgs[0]


def test_swaks_plain_is_queued_byte_exact(sluice, workdir):
    s = sluice()
    # swaks sends the file with CRLF line ends, dot-stuffs lines that
    # start with '.', and adds the final CRLF when the file lacks one
    content = ("From: <sender@example.com>\nTo: <rcpt@example.org>\n"
               "Subject: dots and spaces\nMessage-ID: <plain-1@test>\n\n"
               ".one leading dot\n..two leading dots\n.\n...\n"
               "  indented line  \n\nlast line")
    f = workdir / "data.txt"
    f.write_text(content)
    r = swaks(s.port, "--ehlo", "swaks.client.test", "--from", SENDER,
              "--to", "rcpt@example.org", "--data", "@%s" % f)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    replies = swaks_replies(r.stdout)
    final = [t for c, t in replies if c == 250 and "queued as" in t]
    assert final, replies
    qid = final[0].split("queued as")[1].split()[0]

    m = only_message(s)
    assert m["id"] == qid
    assert m["sender"] == SENDER
    assert m["recipients"] == 1 and m["pending"] == 1
    sent = content.replace("\n", "\r\n").encode() + b"\r\n"
    received, rest = strip_received(s.cat(qid))
    assert rest == sent
    assert b"swaks.client.test" in received    # the client's HELO
    assert b"sluice.test" in received          # our hostname
    assert qid.encode() in received            # the queue id, as Postfix does


def test_swaks_pipelining(sluice, workdir):
    s = sluice()
    r = swaks(s.port, "--pipeline", "--from", SENDER,
              "--to", "a@example.org,b@example.net", "--body", "pipelined")
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert "PIPELINING" in out
    m = only_message(s)
    assert m["recipients"] == 2
    det = s.show(m["id"])
    assert sorted(x["address"] for x in det["recipients"]) == ["a@example.org", "b@example.net"]


def test_pipelined_group_in_one_write(sluice):
    """RFC 2920: MAIL, RCPT, RCPT and DATA in one packet get their replies
    in order."""
    s = sluice()
    with s.smtp() as c:
        c.ehlo()
        assert "PIPELINING" in c.ext
        c.send(b"MAIL FROM:<p@example.com>\r\nRCPT TO:<x@example.org>\r\n"
               b"RCPT TO:<y@example.org>\r\nDATA\r\n")
        codes = [c.reply().code for _ in range(4)]
        assert codes == [250, 250, 250, 354]
        msg = build_message("pipe@test", "p@example.com", ["x@example.org"], "p", ["x"])
        c.send(dot_stuff(msg) + b"QUIT\r\n")
        final = c.reply()
        assert final.code == 250 and final.queue_id, final
        assert c.reply().code == 221
    assert s.body(final.queue_id) == msg


def test_8bitmime_body_stored_exactly(sluice):
    s = sluice()
    body = [bytes(range(0x80, 0xC0)), bytes(range(0xC0, 0x100)),
            "Grüße aus Köln, ça va ? naïve — “quotes”".encode("utf-8"),
            b"\x1b[0m control \x7f and tab\tend"]
    msg = build_message("8bit@test", SENDER, ["r@example.org"], "8bit", body,
                        extra_headers=["MIME-Version: 1.0",
                                       "Content-Type: text/plain; charset=utf-8",
                                       "Content-Transfer-Encoding: 8bit"])
    with s.smtp() as c:
        c.ehlo()
        assert "8BITMIME" in c.ext
        qid = c.send_mail(SENDER, ["r@example.org"], msg, "BODY=8BITMIME")
    assert s.body(qid) == msg


def test_smtplib_several_recipients(sluice):
    s = sluice()
    rcpts = ["one@example.org", "two@example.net", "three@relay.test"]
    msg = build_message("multi@test", SENDER, rcpts, "several", ["to three people"])
    with smtplib.SMTP("127.0.0.1", s.port, local_hostname="py.client.test", timeout=10) as c:
        refused = c.sendmail(SENDER, rcpts, msg)
        assert refused == {}
    m = only_message(s)
    assert m["recipients"] == 3 and m["pending"] == 3
    det = s.show(m["id"])
    assert sorted(r["address"] for r in det["recipients"]) == sorted(rcpts)
    assert det["client_addr"] == "127.0.0.1"
    assert det["client_helo"] == "py.client.test"
    assert s.body(m["id"]) == msg


def test_ehlo_keywords(sluice):
    s = sluice(listen=("", "tls"))
    with s.smtp() as c:
        assert c.banner.code == 220 and "sluice.test" in c.banner.text
        r = c.ehlo("kw.test")
        assert r.code == 250
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
            assert kw in c.ext, (kw, r.lines)
        # message-size 1M, in either reading of "M"
        assert int(c.ext["SIZE"]) in (1000000, 1048576), c.ext["SIZE"]
        assert "STARTTLS" not in c.ext            # listener without tls
        assert c.ext.get("XFORWARD", "").split() == \
            ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"]
        st = c.cmd("STARTTLS")
        assert 500 <= st.code < 600, st
    with s.smtp(s.ports[1]) as c:
        c.ehlo("kw.test")
        assert "STARTTLS" in c.ext
    with s.smtp() as c:                            # plain HELO: no extensions
        r = c.cmd("HELO old.client.test")
        assert r.code == 250 and len(r.lines) == 1


def test_rset_noop_vrfy_help(sluice):
    s = sluice()
    with s.smtp() as c:
        c.ehlo()
        r = c.cmd("NOOP")
        assert (r.code, r.enhanced) == (250, "2.0.0"), r
        r = c.cmd("VRFY postmaster")
        assert r.code == 252, r
        r = c.cmd("HELP")
        assert r.code in (211, 214), r
        assert c.cmd("MAIL FROM:<reset@example.com>").code == 250
        assert c.cmd("RCPT TO:<r@example.org>").code == 250
        r = c.cmd("RSET")
        assert r.code == 250, r
        # the transaction is gone: DATA and RCPT need a new MAIL
        r = c.cmd("DATA")
        assert r.code == 503, r
        r = c.cmd("RCPT TO:<r@example.org>")
        assert r.code == 503, r
        # and a new one works in the same session
        msg = build_message("after-rset@test", SENDER, ["r@example.org"], "x", ["x"])
        qid = c.send_mail(SENDER, ["r@example.org"], msg)
        assert c.cmd("QUIT").code == 221
        assert c.is_closed()
    assert [m["id"] for m in s.queue_json()] == [qid]


def test_smtputf8_address(sluice):
    s = sluice()
    sender = "jürgen@exämple.com"
    rcpt = "почта@example.org"
    msg = build_message("utf8@test", sender, [rcpt], "Grüße", ["UTF-8 envelope"])
    with s.smtp() as c:
        c.ehlo()
        assert "SMTPUTF8" in c.ext
        # without SMTPUTF8 a non-ASCII address is refused...
        r = c.cmd("MAIL FROM:<%s>" % sender)
        assert 500 <= r.code < 600, r
        r = c.cmd("MAIL FROM:<ascii@example.com>")
        assert r.code == 250, r
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        assert 500 <= r.code < 600, r
        assert c.cmd("RSET").code == 250
        # ...and accepted with it
        qid = c.send_mail(sender, [rcpt], msg, "SMTPUTF8 BODY=8BITMIME")
    m = only_message(s)
    assert m["id"] == qid and m["sender"] == sender
    assert [r["address"] for r in s.show(qid)["recipients"]] == [rcpt]
    assert s.body(qid) == msg


def test_ipv6_listener(sluice):
    s = sluice(listen=("", ("::1", "")))
    msg = build_message("v6@test", SENDER, ["r@example.org"], "v6", ["over IPv6"])
    with s.smtp(s.ports[1], host="::1") as c:
        assert c.banner.code == 220
        c.ehlo("v6.client.test")
        assert "XFORWARD" in c.ext            # ::1/128 is trusted
        qid = c.send_mail(SENDER, ["r@example.org"], msg)
    det = s.show(qid)
    assert det["client_addr"] == "::1", det
    assert det["peer_addr"] == "::1", det
    assert s.body(qid) == msg
