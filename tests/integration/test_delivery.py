"""Delivery end to end (issue 3): sluiced sends its queue on to a
relayhost or by MX, retries, bounces, and loses nothing.  Real peers:
aiosmtpd sinks, Postfix as mta1, dnsmasq for MX records."""
import re

import harness
import smtpwire
from dnsmasq import dnsmasq, host, mx, null_mx  # noqa: F401 (fixture)
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


def submit_many(port, n, prefix, sender="alice@client.test",
                rcpts=("bob@relay.test",)):
    """n messages over one session; returns {message-id: queue id}."""
    ids = {}
    with SMTPClient(port) as c:
        c.ehlo()
        for i in range(n):
            mid = "%s-%d@client.test" % (prefix, i)
            m = build_message(mid, sender, list(rcpts), body_lines=["n %d" % i])
            ids[mid.encode()] = c.send_mail(sender, list(rcpts), m)
    return ids


def message_ids(got):
    return [re.search(rb"Message-ID: <([^>]+)>", data).group(1)
            for _, _, data, _ in got]


def test_sigkill_during_deliveries_loses_nothing(sluice, sink):
    """SIGKILL while mail streams in and out, then a restart: every
    accepted message (250 seen by the client) arrives; a message may
    arrive twice only when its delivery had completed at the sink before
    the kill (its outcome was not yet on disk)."""
    import threading
    k = sink()
    s = sluice(deliver=harness.deliver_to(k.port))
    ids = {}

    def submit():
        try:
            with SMTPClient(s.port) as c:
                c.ehlo()
                for i in range(2000):
                    mid = "kill-%d@client.test" % i
                    m = build_message(mid, "alice@client.test",
                                      ["bob@relay.test"], body_lines=["n %d" % i])
                    ids[mid.encode()] = c.send_mail("alice@client.test",
                                                    ["bob@relay.test"], m)
        except (OSError, AssertionError, smtpwire.SMTPClosed):
            pass                            # the kill cut the session
    t = threading.Thread(target=submit)
    t.start()
    k.wait(300, timeout=30)
    s.kill()                                # SIGKILL, waits for the exit
    t.join(30)
    before = set(message_ids(k.messages))
    n = len(ids)
    assert 300 <= n < 2000, n
    s.start()
    # everything that was accepted arrives
    harness.wait_for(lambda: set(message_ids(k.messages)) >= set(ids), 60,
                     "every accepted message at the sink")
    mids = message_ids(k.messages)
    dups = [m for m in set(mids) if mids.count(m) > 1]
    print("\nsigkill: %d accepted, %d at the sink before the kill, %d "
          "received in all, %d duplicated" % (n, len(before), len(mids), len(dups)))
    for m in dups:
        assert m in before, "duplicate of a message not delivered before the kill"
    assert len(dups) <= 20, "more duplicates than deliveries at once"
    harness.wait_for(lambda: s.queue_json() == [], 30, "an empty queue")


class SilentAtDot:
    """An SMTP server that accepts a transaction but never answers the
    end of DATA: a delivery that hangs until the client gives up."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.got_dot = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            f = conn.makefile("rb")
            conn.sendall(b"220 silent.test ESMTP\r\n")
            in_data = False
            for line in f:
                if in_data:
                    if line == b".\r\n":
                        self.got_dot.set()      # and never answer
                    continue
                verb = line[:4].upper()
                if verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 ok\r\n")

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_sigterm_abandons_a_hung_delivery_and_a_restart_sends_it(sluice, sink):
    """SIGTERM while a delivery waits for the next hop's final reply: sluiced
    exits within its grace period, the message stays queued (nothing was
    recorded), and the restarted daemon delivers it."""
    import signal
    import time
    hung = SilentAtDot()
    try:
        s = sluice(deliver=harness.deliver_to(hung.port))
        ids = submit_many(s.port, 1, "term")
        qid, = ids.values()
        assert hung.got_dot.wait(10)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        assert s.wait_exit(timeout=20) == 0
        took = time.monotonic() - t0
        assert took < 15, took
        s.wait_log(r"queue_id=%s event=delivery-abandoned reason=\"shutdown\"" % qid, 1)
    finally:
        hung.close()
    k = sink()
    s.conf.write_text(s.conf.read_text().replace(
        harness.deliver_to(hung.port), harness.deliver_to(k.port)))
    s.start()
    (mail_from, rr, data, peer), = k.wait(1, 20)
    assert rr == ["bob@relay.test"]
    s.wait_log(r"queue_id=%s event=removed" % qid, 10)


def write_auth(workdir, name, user, password):
    """An auth-file as an administrator writes it: not readable by others."""
    import os
    p = workdir / name
    p.write_text("%s %s\n" % (user, password))
    os.chmod(p, 0o640)
    return p


def test_relayhost_with_starttls_and_auth(sluice, sink, tls_cert, workdir):
    """A relayhost that demands STARTTLS and AUTH: the mail goes over TLS
    (the chain and name checked) as the configured user."""
    cert, key = tls_cert
    k = sink(cert=cert, key=key, tls_required=True, auth={"relayuser": "s3cret"})
    auth = write_auth(workdir, "relay.auth", "relayuser", "s3cret")
    s = sluice(deliver="deliver relayhost [127.0.0.1]:%d tls verify ca-file %s "
                       "auth-file %s" % (k.port, cert, auth))
    qid, = submit_many(s.port, 1, "tlsauth").values()
    m, = k.wait(1, 20)
    assert m.tls and m.auth_user == "relayuser"
    s.wait_log(r"queue_id=%s event=delivery .*status=sent" % qid, 10)
    s.wait_log(r"queue_id=%s event=removed" % qid, 10)


def test_wrong_credentials_keep_the_mail_queued_with_the_reply(sluice, sink,
                                                              tls_cert, workdir):
    cert, key = tls_cert
    k = sink(cert=cert, key=key, tls_required=True, auth={"relayuser": "s3cret"})
    auth = write_auth(workdir, "relay.auth", "relayuser", "wrong")
    s = sluice(deliver="deliver relayhost [127.0.0.1]:%d tls encrypt "
                       "auth-file %s" % (k.port, auth))
    qid, = submit_many(s.port, 1, "badauth").values()
    s.wait_log(r"queue_id=%s event=delivery .*status=deferred" % qid, 20)
    det = s.show(qid)
    r, = det["recipients"]
    assert r["state"] == "retry", r
    assert "535" in r["last_reply"] and "5.7.8" in r["last_reply"], r
    assert r["attempts"] == 1
    assert k.messages == []
    # the administrator fixes the password (read at start-up), restarts,
    # and flushes the queue: the mail goes at once
    write_auth(workdir, "relay.auth", "relayuser", "s3cret")
    s.restart()
    assert s.show(qid)["recipients"][0]["state"] == "retry"
    out = s.ctl("queue", "flush")
    assert out.returncode == 0, out
    m, = k.wait(1, 20)
    assert m.tls and m.auth_user == "relayuser"
    s.wait_log(r"queue_id=%s event=delivery .*attempts=2 .*status=sent" % qid, 10)


def test_one_recipient_refused_the_others_delivered_and_a_dsn(sluice, sink):
    """550 for one recipient: it bounces (a multipart/report DSN reaches the
    sender), the others are delivered, in one transaction."""
    k = sink(rcpt_replies={"nobody@relay.test": "550 5.1.1 <nobody@relay.test>: "
                                                "Recipient address rejected"})
    s = sluice(deliver=harness.deliver_to(k.port))
    rcpts = ["a@relay.test", "nobody@relay.test", "b@relay.test"]
    qid, = submit_many(s.port, 1, "partial", rcpts=rcpts).values()
    got = k.wait(2, 20)
    first = got[0]
    assert first.rcpt_tos == ["a@relay.test", "b@relay.test"]
    dsn = got[1]
    assert dsn.mail_from in ("", "<>") and dsn.rcpt_tos == ["alice@client.test"]
    msg, per = dsn_of(dsn.content)
    assert len(per) == 1
    assert per[0]["final-recipient"] == "rfc822; nobody@relay.test"
    assert per[0]["action"] == "failed" and per[0]["status"] == "5.1.1"
    assert per[0]["diagnostic-code"].startswith("smtp; 550 5.1.1")
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    s.wait_log(r"queue_id=%s event=delivery to=<nobody@relay.test> .*dsn=5\.1\.1 "
               r"status=bounced" % qid, 5)
    s.wait_log(r"queue_id=%s event=removed" % qid, 10)


def test_next_hop_down_then_up_delivers_once(sluice, sink):
    k = sink()
    k.stop()
    s = sluice(deliver=harness.deliver_to(k.port),
               extra="retry { initial 1s max 1s lifetime 1h }")
    ids = submit_many(s.port, 5, "downup")
    for qid in ids.values():
        s.wait_log(r"queue_id=%s event=delivery .*attempts=2 .*status=deferred"
                   % qid, 15)
    k.start_again()
    k.wait(5, 20)
    for qid in ids.values():
        s.wait_log(r"queue_id=%s event=removed" % qid, 10)
    mids = message_ids(k.messages)
    assert sorted(mids) == sorted(ids)


def test_mx_delivery_first_mx_down_second_gets_it(sluice, sink, dnsmasq):
    """deliver mx through a local dnsmasq: mx.test's best MX (127.0.0.2:25)
    is down, the second (127.0.0.3:25) gets the mail; a domain that does
    not exist and one with a null MX bounce, and the DSNs reach the
    sender's own MX."""
    dns = dnsmasq([mx("mx.test", "mx1.mx.test", 10), host("mx1.mx.test", "127.0.0.2"),
                   mx("mx.test", "mx2.mx.test", 20), host("mx2.mx.test", "127.0.0.3"),
                   null_mx("nomail.test"), host("nomail.test", "127.0.0.3"),
                   mx("client.test", "mx2.mx.test", 10)])
    k = sink(host="127.0.0.3", port=25)
    s = sluice(deliver="deliver mx tls none", extra="resolver " + dns.server)
    qid, = submit_many(s.port, 1, "mx", rcpts=["bob@mx.test"]).values()
    m, = k.wait(1, 20)
    assert m.rcpt_tos == ["bob@mx.test"]
    s.wait_log(r"queue_id=%s event=connect-failed relay=mx1\.mx\.test"
               r"\[127\.0\.0\.2\]:25 " % qid, 1)
    s.wait_log(r"queue_id=%s event=delivery to=<bob@mx.test> relay=mx2\.mx\.test"
               r"\[127\.0\.0\.3\]:25 .*status=sent" % qid, 5)
    qid2, = submit_many(s.port, 1, "nx", rcpts=["bob@nowhere.test",
                                                 "carol@nomail.test"]).values()
    s.wait_log(r"queue_id=%s event=delivery to=<bob@nowhere.test> relay=none "
               r".*dsn=5\.4\.4 status=bounced" % qid2, 20)
    s.wait_log(r"queue_id=%s event=delivery to=<carol@nomail.test> relay=none "
               r".*dsn=5\.1\.10 status=bounced" % qid2, 20)
    dsns = k.wait(3, 20)[1:]
    finals = sorted(dsn_of(d.content)[1][0]["final-recipient"] for d in dsns)
    assert finals == ["rfc822; bob@nowhere.test", "rfc822; carol@nomail.test"]


def test_sessions_are_reused_within_the_per_destination_limit(sluice, sink):
    """30 messages to one relayhost with `per-destination 2`: at most two
    SMTP sessions reach the sink, each carrying many transactions."""
    k = sink()
    s = sluice(deliver=harness.deliver_to(k.port),
               extra="delivery { connections 3 per-destination 2 }")
    ids = submit_many(s.port, 30, "reuse")
    got = k.wait(30, 20)
    assert sorted(message_ids(got)) == sorted(ids)
    assert 1 <= k.sessions <= 2, k.sessions
    assert max(m.session for m in got) <= 2


def test_idle_sessions_quit_and_are_closed(sluice, sink):
    """A session left idle after its transaction QUITs after 2 s and its
    socket is closed: none lingers (CLOSE-WAIT), the count goes to 0."""
    import json
    import os
    k = sink()
    s = sluice(deliver=harness.deliver_to(k.port),
               extra="delivery { connections 2 per-destination 2 }")
    for i in range(3):
        ids = submit_many(s.port, 2, "idle%d" % i)
        for qid in ids.values():
            s.wait_log(r"queue_id=%s event=removed" % qid, 10)

        def closed():
            st = json.loads(s.ctl_ok("status", "--json").stdout)
            return st["delivery"]["connections"] == 0
        harness.wait_for(closed, 10, "idle sessions closed")
    # no socket of sluiced still points at the sink
    fds = os.listdir("/proc/%d/fd" % s.proc.pid)
    socks = [os.readlink("/proc/%d/fd/%s" % (s.proc.pid, f)) for f in fds]
    inodes = {l[8:-1] for l in socks if l.startswith("socket:[")}
    with open("/proc/net/tcp") as f:
        peers = [line.split() for line in f.readlines()[1:]]
    to_sink = [p for p in peers if p[9] in inodes and
               int(p[2].split(":")[1], 16) == k.port]
    assert to_sink == [], to_sink
    assert 3 <= k.sessions <= 6, k.sessions   # new sessions each round


def test_check_loads_the_delivery_ca_file(workdir):
    """sluiced -n loads every CA file a deliver or route names, so a file
    that is not PEM is found before a restart, with its line."""
    import subprocess
    conf = workdir / "ca.conf"
    conf.write_text("hostname sluice.test\nstate-dir %s/state\n"
                    "listen 127.0.0.1:2525\n"
                    "deliver relayhost [127.0.0.1]:25 tls verify ca-file %s\n"
                    % (workdir, conf))
    r = subprocess.run([harness.SLUICED, "-n", "-c", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith("%s:4: cannot load the CA file %s" % (conf, conf)), r.stderr


def test_a_dead_next_hop_is_suspended_then_flush_resumes(sluice, sink):
    """A relayhost that refuses connections costs one attempt, not one per
    message: the others are deferred as "delivery temporarily suspended"
    until retry.initial has passed; `queue flush` lifts that at once."""
    k = sink()
    k.stop()
    s = sluice(deliver=harness.deliver_to(k.port),
               extra="retry { initial 1h max 1h lifetime 5d }")
    ids = submit_many(s.port, 10, "dead")
    for qid in ids.values():
        s.wait_log(r"queue_id=%s event=delivery .*status=deferred" % qid, 10)
    log = "\n".join(s.log)
    assert log.count("event=destination-suspended destination=[relayhost]") == 1
    tried = len(re.findall(r"event=connect-failed", log))
    suspended = len(re.findall(r"status=deferred reply=\"delivery temporarily "
                               r"suspended: connect to", log))
    assert tried + suspended == 10 and tried <= 3, (tried, suspended)
    det = s.show(list(ids.values())[-1])
    assert det["recipients"][0]["state"] == "retry"
    k.start_again()
    assert s.ctl("queue", "flush").returncode == 0
    got = k.wait(10, 20)
    assert sorted(message_ids(got)) == sorted(ids)
    s.wait_log(r"event=destination-resumed destination=\[relayhost\]", 5)


def test_hold_during_a_delivery_keeps_the_recipient_held(sluice):
    """An administrator holds a message while its delivery is under way:
    the delivery's temporary failure is recorded, the recipient stays on
    hold and out of the schedule, until released."""
    import json
    hung = SilentAtDot()
    try:
        s = sluice(deliver=harness.deliver_to(hung.port),
                   extra="delivery { timeout-data 1s }\n"
                         "retry { initial 1s max 1s lifetime 1h }")
        qid, = submit_many(s.port, 1, "holdmid").values()
        assert hung.got_dot.wait(10)
        assert s.ctl("queue", "hold", qid).returncode == 0
        s.wait_log(r"queue_id=%s event=delivery .*attempts=1 .*status=deferred"
                   % qid, 10)
        r, = s.show(qid)["recipients"]
        assert r["state"] == "hold" and r["attempts"] == 1, r
        st = json.loads(s.ctl_ok("status", "--json").stdout)
        assert st["delivery"]["waiting"] == 0 and st["delivery"]["active"] == 0, st
    finally:
        hung.close()
