"""STARTTLS with the configured certificate, and a listener that requires
it before any mail."""
import ssl

from harness import swaks, swaks_replies
from smtpwire import build_message

SENDER = "tls@example.com"


def test_swaks_starttls(sluice):
    s = sluice(listen=("tls",))
    r = swaks(s.port, "--tls", "--from", SENDER, "--to", "r@example.org",
              "--body", "over TLS")
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert "STARTTLS" in out
    # swaks marks replies read over TLS with "<~"
    assert any(l.lstrip().startswith("<~  250") and "queued as" in l
               for l in out.splitlines()), out
    msgs = s.queue_json()
    assert len(msgs) == 1 and msgs[0]["sender"] == SENDER
    received = s.cat(msgs[0]["id"]).split(b"\r\n\r\n")[0]
    assert b"ESMTPS" in received or b"TLS" in received, received


def test_listener_presents_the_configured_certificate(sluice, tls_cert):
    s = sluice(listen=("tls",))
    cert, _ = tls_cert
    want = ssl.PEM_cert_to_DER_cert(open(cert).read())
    with s.smtp() as c:
        c.ehlo()
        assert "STARTTLS" in c.ext
        # verified against the test certificate as CA, name "localhost"
        r = c.starttls(cafile=str(cert))
        assert (r.code, r.enhanced) == (220, "2.0.0"), r
        assert c.sock.getpeercert(binary_form=True) == want
        r = c.ehlo("after.tls.test")
        assert r.code == 250
        assert "STARTTLS" not in c.ext      # RFC 3207 4.2: not offered twice
        msg = build_message("tls-cert@test", SENDER, ["r@example.org"], "t", ["secret"])
        qid = c.send_mail(SENDER, ["r@example.org"], msg)
    assert s.body(qid) == msg


def test_tls_required_listener(sluice):
    s = sluice(listen=("tls tls-required",))
    msg = build_message("tls-req@test", SENDER, ["r@example.org"], "t", ["x"])
    with s.smtp() as c:
        c.ehlo()
        assert "STARTTLS" in c.ext
        r = c.cmd("MAIL FROM:<%s>" % SENDER)
        assert (r.code, r.enhanced) == (530, "5.7.0"), r
        r = c.cmd("RCPT TO:<r@example.org>")
        assert r.code in (503, 530), r
        assert c.starttls().code == 220
        # RFC 3207: the session starts over; EHLO again
        c.ehlo("after.tls.test")
        qid = c.send_mail(SENDER, ["r@example.org"], msg)
    msgs = s.queue_json()
    assert [m["id"] for m in msgs] == [qid]
    assert s.body(qid) == msg
    # and swaks without --tls gets nowhere, with --tls it gets through
    r = swaks(s.port, "--from", SENDER, "--to", "r@example.org")
    assert r.returncode != 0
    assert any(code == 530 for code, _ in swaks_replies(r.stdout)), r.stdout
    r = swaks(s.port, "--tls", "--from", SENDER, "--to", "r@example.org")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert len(s.queue_json()) == 2


def test_garbage_instead_of_tls_handshake_does_not_hurt(sluice):
    """A client that says STARTTLS and then sends plain text: that session
    fails, the daemon goes on serving."""
    s = sluice(listen=("tls",))
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        c.send(b"EHLO not-a-client-hello\r\n" * 4)
        assert c.is_closed(timeout=10)
    with s.smtp() as c:
        assert c.ehlo().code == 250
        assert c.starttls().code == 220
        assert c.ehlo().code == 250
