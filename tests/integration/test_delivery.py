"""Delivery end to end (issue 3): sluiced sends its queue on to a
relayhost or by MX, retries, bounces, and loses nothing.  Real peers:
aiosmtpd sinks, Postfix as mta1, dnsmasq for MX records."""
import re

import harness
import smtpwire
from smtpwire import SMTPClient, build_message


def strip_received(data):
    """The message as the client sent it: sluiced's Received header (the
    first field, with its continuation lines) removed."""
    assert data.startswith(b"Received: "), data[:80]
    lines = data.split(b"\r\n")
    i = 1
    while lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def test_relayhost_byte_exact_once(sluice, sink):
    k = sink()
    s = sluice(deliver=harness.deliver_to(k.port))
    msgs = []
    with SMTPClient(s.port) as c:
        c.ehlo()
        for i in range(5):
            m = build_message("d%d@client.test" % i, "alice@client.test",
                              ["bob@relay.test"], body_lines=[
                                  "line %d" % i, ".leading dot", "", "end"])
            qid = c.send_mail("alice@client.test", ["bob@relay.test"], m)
            msgs.append((qid, m))
    got = k.wait(5, timeout=20)
    assert len(got) == 5
    by_id = {}
    for mail_from, rcpts, data, peer in got:
        assert mail_from == "alice@client.test"
        assert rcpts == ["bob@relay.test"]
        mid = re.search(rb"Message-ID: <([^>]+)>", data).group(1)
        assert mid not in by_id, "delivered twice"
        by_id[mid] = data
    for qid, m in msgs:
        mid = re.search(rb"Message-ID: <([^>]+)>", m).group(1)
        assert strip_received(by_id[mid]) == m
        s.wait_log(r"queue_id=%s event=delivery to=<bob@relay.test> "
                   r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d .*status=sent"
                   % (qid, k.port), timeout=10)
    # the queue is empty once everything is delivered
    for qid, _ in msgs:
        s.wait_log(r"queue_id=%s event=removed" % qid, 10)
    assert s.queue_json() == []


def dsn_of(data):
    """Parses a DSN as the sender's mail reader would; returns (message,
    [per-recipient field blocks as dicts])."""
    import email
    import email.policy
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    per_rcpt = [dict((k.lower(), v) for k, v in b.items()) for b in blocks[1:]]
    return msg, per_rcpt


def test_mta1_to_sluiced_to_sink_every_recipient_once(sluice, mta1, sink):
    """Postfix (mta1) -> sluiced -> sink: every message arrives byte-exact
    (below the Received fields the relays add), every recipient once."""
    from test_postfix_mta1 import strip_headers_named
    k = sink()
    s = sluice(trusted="127.0.0.1/32", deliver=harness.deliver_to(k.port))
    mta = mta1(relay_port=s.port)
    sent = {}
    rcpts = ["r%d@relay.test" % i for i in range(3)]
    with SMTPClient(mta.port) as c:
        c.ehlo("submitter.test")
        for i in range(20):
            m = build_message("e2e-%d@test" % i, "alice@example.com", rcpts,
                              body_lines=["message %d" % i, ".dot", "..two"])
            c.send_mail("alice@example.com", rcpts, m)
            sent[b"e2e-%d@test" % i] = m
    got = k.wait(20, timeout=60)
    seen = {}
    for mail_from, rr, data, peer in got:
        mid = re.search(rb"Message-ID: <([^>]+)>", data).group(1)
        for r in rr:
            seen[(mid, r)] = seen.get((mid, r), 0) + 1
        assert strip_headers_named(data, "Received") == sent[mid]
    assert sorted(seen) == sorted((m, r) for m in sent for r in rcpts)
    assert set(seen.values()) == {1}, "a recipient got a message twice"
    mta_empty = mta.queue_is_empty()
    assert mta_empty, mta.queue_listing()


def test_lifetime_bounce_reaches_the_sender(sluice, sink):
    """A next hop that stays down: retried, then bounced once the lifetime
    has passed; the DSN reaches the sender (here through a route)."""
    k = sink()
    s = sluice(extra="retry { initial 1s max 1s lifetime 3s }\n"
                     "route client.test [127.0.0.1]:%d tls none" % k.port)
    with SMTPClient(s.port) as c:
        c.ehlo()
        m = build_message("life@client.test", "alice@client.test",
                          ["bob@relay.test"], body_lines=["hello"])
        qid = c.send_mail("alice@client.test", ["bob@relay.test"], m)
    s.wait_log(r"queue_id=%s event=delivery to=<bob@relay.test> relay=none "
               r".*attempts=1 .*status=deferred .*retry_in=1" % qid, 10)
    s.wait_log(r"queue_id=%s event=delivery to=<bob@relay.test> .*status=bounced "
               r"reply=\"delivery time expired" % qid, 15)
    (mail_from, rr, data, peer), = k.wait(1, 15)
    assert mail_from in ("", "<>") and rr == ["alice@client.test"]
    msg, per = dsn_of(data)
    assert per[0]["final-recipient"] == "rfc822; bob@relay.test"
    assert per[0]["action"] == "failed"
    assert per[0]["status"].startswith("4.")
    assert "Message-ID: <life@client.test>" in msg.as_string()
    s.wait_log(r"queue_id=%s event=removed" % qid, 10)


def test_null_sender_is_never_bounced(sluice):
    s = sluice(extra="retry { initial 1s max 1s lifetime 2s }")
    with SMTPClient(s.port) as c:
        c.ehlo()
        m = build_message("null@test", "", ["bob@relay.test"], body_lines=["x"])
        qid = c.send_mail("", ["bob@relay.test"], m)
    s.wait_log(r"queue_id=%s event=bounce-dropped" % qid, 15)
    s.wait_log(r"queue_id=%s event=removed" % qid, 5)
    assert s.queue_json() == []
    assert "notification=" not in "\n".join(s.log)


def test_mail_to_ourselves_bounces_as_a_loop(sluice, sink):
    """deliver relayhost pointing at sluiced itself: bounced with 5.4.6
    ("loops back to myself") instead of going round in circles."""
    k = sink()
    s = sluice(deliver=lambda me: harness.deliver_to(me.port),
               extra="route client.test [127.0.0.1]:%d tls none" % k.port)
    with SMTPClient(s.port) as c:
        c.ehlo()
        m = build_message("loop@client.test", "alice@client.test",
                          ["bob@relay.test"], body_lines=["x"])
        qid = c.send_mail("alice@client.test", ["bob@relay.test"], m)
    s.wait_log(r"queue_id=%s event=delivery to=<bob@relay.test> .*dsn=5\.4\.6 "
               r"status=bounced reply=\"mail for relay\.test loops back to "
               r"myself\"" % qid, 10)
    (mail_from, rr, data, peer), = k.wait(1, 10)
    msg, per = dsn_of(data)
    assert per[0]["status"] == "5.4.6"
