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
