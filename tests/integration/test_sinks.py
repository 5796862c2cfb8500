"""The sink fixture itself (sinks.py), proven with swaks and smtplib
before the delivery tests rely on it: plain recording, STARTTLS + AUTH
required, scripted replies, another loopback address, down and up."""
import smtplib
import socket
import ssl
import threading
import time

import pytest

from harness import swaks, swaks_replies
from smtpwire import build_message

FROM = "alice@client.test"


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(s, host=None):
    c = smtplib.SMTP(host or s.host, s.port, timeout=15)
    c.ehlo("client.test")
    return c


def refused(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_plain_sink_records_everything(sink):
    s = sink()
    msg = build_message("p1@test", FROM, ["bob@relay.test"], "plain",
                        [".leading dot", "..two", "8-bit caf\u00e9", "end"])
    t0 = time.monotonic()
    with connect(s) as c:
        assert c.sendmail(FROM, ["bob@relay.test", "carol@relay.test"], msg,
                          mail_options=["BODY=8BITMIME"]) == {}
    got = s.wait(1, 10)
    # the original interface: a 4-tuple
    (mail_from, rcpts, content, peer), = got
    assert mail_from == FROM and rcpts == ["bob@relay.test", "carol@relay.test"]
    assert content == msg        # dot-unstuffed, CRLF kept, 8-bit kept
    assert peer[0] == "127.0.0.1"
    m = got[0]
    assert m.mail_from == FROM and m.original_content == msg and m.content == msg
    assert m.tls is False and m.tls_version is None and m.auth_user is None
    assert m.helo == "client.test" and m.session == 1 and s.sessions == 1
    assert "BODY=8BITMIME" in m.mail_options
    assert t0 <= m.time <= time.monotonic()
    assert m.reply.startswith("250 ")
    assert [a for _, a, _ in s.rcpts] == ["bob@relay.test", "carol@relay.test"]


def test_no_auth_offered_without_auth(sink, tls_cert):
    s = sink(cert=tls_cert[0], key=tls_cert[1])
    with connect(s) as c:
        assert c.has_extn("starttls") and not c.has_extn("auth")
        c.starttls(context=client_tls())
        c.ehlo("client.test")
        assert not c.has_extn("auth")
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.tls and m.tls_version.startswith("TLS") and m.auth_user is None


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_tls_auth_good_credentials_smtplib(sink, tls_cert, mech):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1],
             auth={"relayuser": "s3cret pass"})
    with connect(s) as c:
        assert c.has_extn("starttls")
        assert not c.has_extn("auth"), "AUTH must wait for TLS"
        c.starttls(context=client_tls())
        c.ehlo("client.test")
        assert set(c.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        c.user, c.password = "relayuser", "s3cret pass"
        code, _ = c.auth(mech, getattr(c, "auth_" + mech.lower()), initial_response_ok=True)
        assert code == 235
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.tls is True and m.auth_user == "relayuser"
    assert s.auths == [(mech, "relayuser", True)]


def test_tls_auth_good_credentials_swaks(sink, tls_cert):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1], auth={"u1": "p1"})
    r = swaks(s.port, "--tls", "--auth", "LOGIN", "--auth-user", "u1",
              "--auth-password", "p1", "--from", FROM, "--to", "bob@relay.test")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    codes = [c for c, _ in swaks_replies(r.stdout)]
    assert 235 in codes and codes[-2] == 250      # ... end of DATA, QUIT 221
    m, = s.wait(1, 10)
    assert m.tls and m.auth_user == "u1" and m.mail_from == FROM


def test_wrong_credentials_get_535(sink, tls_cert):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1], auth={"u1": "p1"})
    r = swaks(s.port, "--tls", "--auth", "PLAIN", "--auth-user", "u1",
              "--auth-password", "wrong", "--from", FROM, "--to", "bob@relay.test")
    assert r.returncode != 0
    replies = swaks_replies(r.stdout)
    assert (535, "5.7.8 Authentication credentials invalid") in replies, replies
    assert s.auths == [("PLAIN", "u1", False)]
    # an unknown user too; and MAIL after the failure is still refused
    with connect(s) as c:
        c.starttls(context=client_tls())
        c.ehlo("client.test")
        c.user, c.password = "nobody", "p1"
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.auth("LOGIN", c.auth_login)
        assert e.value.smtp_code == 535
        code, text = c.mail(FROM)
        assert (code, text) == (530, b"5.7.0 Authentication required")
    assert s.messages == []


def test_mail_without_tls_gets_530(sink, tls_cert):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1], auth={"u1": "p1"})
    with connect(s) as c:
        code, text = c.mail(FROM)
        assert code == 530 and text.startswith(b"5.7.0 "), (code, text)
        # AUTH in clear text is refused too (aiosmtpd: 538)
        code, _ = c.docmd("AUTH", "PLAIN AHUxAHAx")
        assert code == 538
    # swaks without --tls gets nowhere
    r = swaks(s.port, "--from", FROM, "--to", "bob@relay.test")
    assert r.returncode != 0
    assert any(c == 530 for c, _ in swaks_replies(r.stdout))
    assert s.messages == [] and s.auths == []


def test_tls_without_auth_gets_530_authentication_required(sink, tls_cert):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1], auth={"u1": "p1"})
    with connect(s) as c:
        c.starttls(context=client_tls())
        c.ehlo("client.test")
        assert c.mail(FROM) == (530, b"5.7.0 Authentication required")


def test_tls_required_without_auth(sink, tls_cert):
    s = sink(tls_required=True, cert=tls_cert[0], key=tls_cert[1])
    with connect(s) as c:
        assert c.mail(FROM)[0] == 530
        c.rset()
        c.starttls(context=client_tls())
        c.ehlo("client.test")
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.tls and m.auth_user is None


def test_scripted_rcpt_replies(sink):
    s = sink(rcpt_replies={"bad@relay.test": "550 5.1.1 No such user",
                           "later@relay.test": "451 4.2.0 Mailbox busy"})
    with connect(s) as c:
        assert c.mail(FROM)[0] == 250
        assert c.rcpt("bad@relay.test") == (550, b"5.1.1 No such user")
        assert c.rcpt("later@relay.test") == (451, b"4.2.0 Mailbox busy")
        assert c.rcpt("good@relay.test")[0] == 250
        assert c.data(b"Subject: t\r\n\r\nx\r\n")[0] == 250
    m, = s.wait(1, 10)
    assert m.rcpt_tos == ["good@relay.test"]
    assert [(a, r[:3]) for _, a, r in s.rcpts] == [
        ("bad@relay.test", "550"), ("later@relay.test", "451"), ("good@relay.test", "250")]
    # swaks sees the 550 too
    r = swaks(s.port, "--from", FROM, "--to", "bad@relay.test")
    assert (550, "5.1.1 No such user") in swaks_replies(r.stdout)


def test_replies_changed_at_runtime_and_data_reply(sink):
    s = sink(data_reply="451 4.3.0 try later")
    with connect(s) as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail(FROM, ["bob@relay.test"], b"Subject: 1\r\n\r\nx\r\n")
        assert (e.value.smtp_code, e.value.smtp_error) == (451, b"4.3.0 try later")
        assert len(s.refused) == 1 and s.refused[0].reply == "451 4.3.0 try later"
        assert s.messages == []
        c.rset()
        s.set_data_reply(None)
        s.set_rcpt_reply("bob@relay.test", "452 4.2.2 Over quota")
        c.mail(FROM)
        assert c.rcpt("bob@relay.test")[0] == 452
        c.rset()
        s.set_rcpt_reply("bob@relay.test", None)
        s.set_rcpt_reply("*", "550 5.7.1 Everyone refused")
        c.mail(FROM)
        assert c.rcpt("anyone@relay.test") == (550, b"5.7.1 Everyone refused")
        c.rset()
        s.set_rcpt_reply("*", None)
        s.set_mail_reply("421 4.3.2 Going away")
        assert c.mail(FROM)[0] == 421
    s.set_mail_reply(None)
    # a callable decides per message: refuse the first try, accept the next
    tries = []
    s.set_data_reply(lambda m: None if tries.append(m) or len(tries) > 1
                     else "450 4.7.1 first try refused")
    with connect(s) as c:
        with pytest.raises(smtplib.SMTPDataError):
            c.sendmail(FROM, ["bob@relay.test"], b"Subject: 2\r\n\r\nx\r\n")
        c.rset()
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: 2\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.content == b"Subject: 2\r\n\r\nx\r\n" and len(tries) == 2


def test_other_loopback_address(sink):
    s = sink(host="127.0.0.2")
    assert s.host == "127.0.0.2"
    assert refused("127.0.0.1", s.port), "listens on 127.0.0.2 only"
    with smtplib.SMTP("127.0.0.2", s.port, timeout=15,
                      source_address=("127.0.0.1", 0)) as c:
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.peer[0] == "127.0.0.1"
    # two sinks, one port number each, side by side
    s3 = sink(host="127.0.0.3", port=s.port)
    assert s3.port == s.port
    with smtplib.SMTP("127.0.0.3", s3.port, timeout=15) as c:
        c.sendmail(FROM, ["carol@relay.test"], b"Subject: t\r\n\r\ny\r\n")
    assert s3.wait(1, 10)[0].rcpt_tos == ["carol@relay.test"]
    assert len(s.messages) == 1


def test_down_and_up_on_the_same_port(sink):
    s = sink(host="127.0.0.2")
    port = s.port
    c = connect(s)
    c.sendmail(FROM, ["bob@relay.test"], b"Subject: 1\r\n\r\nx\r\n")
    s.stop()
    assert not s.running
    # the open connection was cut, and new ones are refused
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
        c.mail(FROM)
    c.close()
    assert refused("127.0.0.2", port)
    s.start_again()
    assert s.running and s.port == port
    with connect(s) as c:
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: 2\r\n\r\nx\r\n")
    got = s.wait(2, 10)
    assert [m.content[:10] for m in got] == [b"Subject: 1", b"Subject: 2"]
    assert s.count_by_rcpt() == {"bob@relay.test": 2}
    assert s.duplicates() == {"bob@relay.test": 2}
    assert got[1].session == 2 and s.sessions == 2
    # stop twice is harmless; the fixture's final stop too
    s.stop()
    s.stop()


def test_wait_is_event_based(sink):
    s = sink()

    def later():
        time.sleep(0.3)
        with connect(s) as c:
            c.sendmail(FROM, ["x@relay.test", "y@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    t = threading.Thread(target=later)
    t.start()
    t0 = time.monotonic()
    s.wait(1, 10)
    assert time.monotonic() - t0 < 5
    t.join()
    assert s.count_by_rcpt() == {"x@relay.test": 1, "y@relay.test": 1}
    assert s.duplicates() == {}
    assert s.wait_until(lambda k: len(k.rcpts) == 2, 1, "two RCPTs")
    with pytest.raises(AssertionError, match="got 1 of 2 messages"):
        s.wait(2, 0.2)


def test_pipelining_is_announced_on_request(sink):
    s = sink(pipelining=True)
    with connect(s) as c:
        assert c.has_extn("pipelining")
    plain = sink()
    with connect(plain) as c:
        assert not c.has_extn("pipelining")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_in_clear_text_without_a_certificate(sink):
    s = sink(auth={"u1": "p1"})
    with connect(s) as c:
        assert not c.has_extn("starttls") and c.has_extn("auth")
        assert c.mail(FROM) == (530, b"5.7.0 Authentication required")
        c.rset()
        c.login("u1", "p1")
        c.sendmail(FROM, ["bob@relay.test"], b"Subject: t\r\n\r\nx\r\n")
    m, = s.wait(1, 10)
    assert m.tls is False and m.auth_user == "u1"
