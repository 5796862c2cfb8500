"""Postfix as mta1 relaying into sluiced with XFORWARD: the deployment the
project exists for.  The original client submits to mta1 from 127.0.0.2;
mta1 relays from 127.0.0.1 (smtp_bind_address), so sluice must record the
XFORWARD client (127.0.0.2 and its HELO) apart from the peer (mta1)."""
import re

from harness import strip_received
from smtpwire import SMTPClient, build_message

ORIG_ADDR = "127.0.0.2"
ORIG_HELO = "orig-client.test"
SENDER = "alice@example.com"
RCPT = "bob@example.net"


def submit_to_mta1(mta, msgid, body_lines):
    msg = build_message(msgid, SENDER, [RCPT], "via mta1", body_lines)
    with SMTPClient(mta.port, source=ORIG_ADDR) as c:
        assert c.banner.code == 220, c.banner
        assert c.ehlo(ORIG_HELO).code == 250
        qid = c.send_mail(SENDER, [RCPT], msg)
        c.cmd("QUIT")
    return qid, msg


def strip_headers_named(message, name):
    """Drops the leading header fields called name (with their folded
    lines) from the top of a message."""
    prefix = name.encode() + b":"
    while message[:len(prefix)].lower() == prefix.lower():
        pos = message.index(b"\r\n") + 2
        while message[pos:pos + 1] in (b" ", b"\t"):
            pos = message.index(b"\r\n", pos) + 2
        message = message[pos:]
    return message


def test_mta1_fixture_relays_to_a_recording_sink(mta1, sink):
    """The harness itself: a private Postfix relays to its relayhost (an
    aiosmtpd sink), so a failure of the next test is sluice's, not the
    fixture's."""
    snk = sink()
    mta = mta1(relay_port=snk.port)
    qid, msg = submit_to_mta1(mta, "fixture-check@test", ["hello sink", ".dot line"])
    line = mta.wait_delivered(qid, timeout=30)
    assert "relay=127.0.0.1[127.0.0.1]:%d" % snk.port in line
    (mail_from, rcpts, content, peer), = snk.wait(1, 10)
    assert mail_from == SENDER and rcpts == [RCPT]
    assert peer[0] == "127.0.0.1"          # smtp_bind_address
    # aiosmtpd hands over LF-normalised content: compare the body lines
    assert content.replace(b"\r\n", b"\n").endswith(
        msg.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"))
    assert mta.queue_is_empty(), mta.queue_listing()


def test_mta1_relays_into_sluice_with_xforward(sluice, mta1):
    s = sluice(trusted="127.0.0.1/32")   # mta1's relay address only
    mta = mta1(relay_port=s.port)
    body = ["Relayed through mta1.", ".a line with a leading dot", "..two dots",
            "", "trailing spaces   ", "end."]
    qid, msg = submit_to_mta1(mta, "mta1-xforward@test", body)
    line = mta.wait_delivered(qid, timeout=30)
    m = re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent \(250 .*queued as (\w+)"
                  % s.port, line)
    assert m, "mta1 did not hand the message to sluice: " + line
    sid = m.group(1)

    det = s.show(sid)
    assert det["client_addr"] == ORIG_ADDR, det      # from XFORWARD ADDR
    assert det["client_helo"] == ORIG_HELO, det      # from XFORWARD HELO
    assert det["peer_addr"] == "127.0.0.1", det      # mta1 itself
    assert det["sender"] == SENDER, det
    assert [r["address"] for r in det["recipients"]] == [RCPT], det

    listed = [x for x in s.queue_json() if x["id"] == sid]
    assert len(listed) == 1 and listed[0]["recipients"] == 1, listed

    stored = s.cat(sid)
    ours, rest = strip_received(stored)
    assert b"mta1.test" in ours or b"127.0.0.1" in ours, ours
    assert rest.startswith(b"Received: from " + ORIG_HELO.encode()), rest[:300]
    original = strip_headers_named(rest, "Received")
    assert original == msg, "stored after mta1's Received:\n%r\nsent:\n%r" % (original, msg)

    assert mta.queue_is_empty(), mta.queue_listing()
