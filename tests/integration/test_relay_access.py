"""Open-relay checks from a client outside trusted-networks: only mail for
the relay-domains is accepted, and XFORWARD (which would let a client
claim any origin) is refused."""
from smtpwire import build_message

UNTRUSTED = dict(trusted="192.0.2.1/32", relay_domains="relay.test example.org")


def test_untrusted_client_cannot_relay(sluice):
    # refusals count as errors: room for all of them in one session
    s = sluice(limits={"errors": 20}, **UNTRUSTED)
    with s.smtp() as c:
        c.ehlo("outsider.test")
        assert c.cmd("MAIL FROM:<spam@outside.test>").code == 250
        for rcpt in ("victim@elsewhere.test", "x@relay.test.evil.test",
                     "x@sub.relay.test", "x%relay.test@elsewhere.test"):
            r = c.cmd("RCPT TO:<%s>" % rcpt)
            assert (r.code, r.enhanced) == (554, "5.7.1"), (rcpt, r)
        r = c.cmd("DATA")
        assert 500 <= r.code < 600, r        # no recipient: no DATA
        assert c.cmd("QUIT").code == 221
    assert s.queue_json() == []
    # each refusal is logged for the administrator
    for rcpt in ("victim@elsewhere.test", "x@sub.relay.test"):
        s.wait_log(r"to=<%s>.*554 5\.7\.1" % rcpt, timeout=5)


def test_untrusted_client_may_send_to_relay_domains(sluice):
    s = sluice(**UNTRUSTED)
    rcpts = ["user@relay.test", "Other@RELAY.Test", "third@example.org"]
    msg = build_message("inbound@test", "someone@outside.test", rcpts, "in", ["hello"])
    with s.smtp() as c:
        c.ehlo("outsider.test")
        assert c.cmd("MAIL FROM:<someone@outside.test>").code == 250
        for rcpt in rcpts:
            r = c.cmd("RCPT TO:<%s>" % rcpt)
            assert r.code == 250, (rcpt, r)
        r = c.cmd("RCPT TO:<victim@elsewhere.test>")
        assert (r.code, r.enhanced) == (554, "5.7.1"), r
        r = c.data(msg)
        assert r.code == 250 and r.queue_id, r
    msgs = s.queue_json()
    assert len(msgs) == 1 and msgs[0]["recipients"] == 3, msgs
    det = s.show(r.queue_id)
    assert sorted(x["address"].lower() for x in det["recipients"]) == \
        sorted(x.lower() for x in rcpts)
    assert det["client_addr"] == "127.0.0.1"
    assert det["client_helo"] == "outsider.test"
    assert s.body(r.queue_id) == msg


def test_xforward_refused_from_untrusted_client(sluice):
    s = sluice(**UNTRUSTED)
    msg = build_message("forged@test", "a@outside.test", ["u@relay.test"], "x", ["x"])
    with s.smtp() as c:
        c.ehlo("outsider.test")
        assert "XFORWARD" not in c.ext, c.ext
        r = c.cmd("XFORWARD ADDR=10.9.8.7 NAME=trusted.example HELO=forged.test")
        assert (r.code, r.enhanced) == (550, "5.7.0"), r
        qid = c.send_mail("a@outside.test", ["u@relay.test"], msg)
    det = s.show(qid)
    # the forged origin was not recorded
    assert det["client_addr"] == "127.0.0.1", det
    assert det["client_helo"] == "outsider.test", det
    assert det["peer_addr"] == "127.0.0.1", det
    s.wait_log(r"queue_id=NOQUEUE .*event=reject stage=xforward "
               r"client=\[127\.0\.0\.1\] .*reply=\"550 5\.7\.0 ")


def test_xforward_honoured_from_trusted_client(sluice):
    """The counterpart: from trusted-networks XFORWARD sets the original
    client, the peer stays recorded."""
    s = sluice(trusted="127.0.0.1/32")
    msg = build_message("fwd@test", "a@example.com", ["r@elsewhere.test"], "x", ["x"])
    with s.smtp() as c:
        c.ehlo("mta1.test")
        assert "XFORWARD" in c.ext
        r = c.cmd("XFORWARD NAME=client.example ADDR=198.51.100.7 PORT=4711 PROTO=ESMTP")
        assert r.code == 250, r
        r = c.cmd("XFORWARD HELO=orig.example IDENT=ABC123 SOURCE=REMOTE")
        assert r.code == 250, r
        qid = c.send_mail("a@example.com", ["r@elsewhere.test"], msg)
        # the attributes hold for one transaction: the next one, without
        # XFORWARD, is the peer's own
        qid2 = c.send_mail("a@example.com", ["r@elsewhere.test"], msg)
    det = s.show(qid)
    assert det["client_addr"] == "198.51.100.7", det
    assert det["client_helo"] == "orig.example", det
    assert det["peer_addr"] == "127.0.0.1", det
    det2 = s.show(qid2)
    assert det2["client_addr"] == "127.0.0.1", det2
    assert det2["client_helo"] == "mta1.test", det2
