"""Issue 5: a quota with `verdict defer` keeps over-quota mail in the
queue and lets it trickle out, never more than the limit per window.

What a mail administrator checks, on the real daemon with real peers: the
clients get 250 for everything, the next hop (a recording sink) receives
every message exactly once, no quota window (fixed, aligned to the Unix
epoch: window number = floor(t / period)) holds more arrivals than the
limit, the backlog leaves in the order sluiced accepted it, in the windows
its logged release times promise and never before, and none of that is lost
to a restart or a SIGKILL.

Arrivals are bucketed by the sink's wall-clock time (Message.wall, taken
with time.time() at the end of DATA, on the same clock as sluiced's).
A test that needs to begin at the start of a window waits for it (the
clock is the event awaited, as in test_policy.py).
"""
import calendar
import collections
import re
import time

from harness import deliver_to, wait_for
from smtpwire import SMTPClient, build_message
from test_policy import quota, window_start

SENDER = "alice@example.com"
RCPT = "bob@example.net"

SEQ_RE = re.compile(rb"\nX-Seq: ([^\r\n]+)\r?\n")
# our Received header: "... by HOST (sluice) with ESMTP id QUEUEID"
SLUICE_ID_RE = re.compile(rb"\(sluice\) with \S+ id ([0-9A-Z]+)")
RELEASE_RE = re.compile(r"queue_id=(\w+) event=quota .*verdict=defer "
                        r"release=(\S+)")


# -- helpers -------------------------------------------------------------------

def numbered(seq, sender=SENDER, rcpt=RCPT):
    """Message number seq, carrying an X-Seq header."""
    return build_message("seq-%s@deferral.test" % seq, sender, [rcpt],
                         "deferral %s" % seq, ["message %s" % seq],
                         extra_headers=["X-Seq: %s" % seq])


def seq_of(m):
    """The X-Seq of a message the sink received (as a str)."""
    found = SEQ_RE.findall(m.content)
    assert len(found) == 1, "X-Seq header missing or repeated in %r" % m.content[:500]
    return found[0].decode()


def sluice_id_of(m):
    """The queue id sluiced gave a message the sink received (our Received
    header names it)."""
    found = SLUICE_ID_RE.findall(m.content)
    assert len(found) == 1, "no single sluice Received header in %r" % m.content[:500]
    return found[0].decode()


def window_of(t, period):
    return int(t // period)


def per_window(times, period):
    """{window number: arrivals} of wall-clock times."""
    return dict(sorted(collections.Counter(window_of(t, period)
                                           for t in times).items()))


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def releases(s):
    """{queue id: release time (epoch seconds)} from sluiced's quota lines
    (every run so far).  Under one quota its line's release= is the
    message's release time."""
    out = {}
    for line in s.log:
        m = RELEASE_RE.search(line)
        if m:
            out[m.group(1)] = epoch(m.group(2))
    return out


def queued_releases(s):
    """{queue id: next due time (epoch seconds)} of the deferred messages,
    from the queue itself: when each one is due to leave."""
    return {m["id"]: epoch(m["next_due"])
            for m in s.queue_json("--state", "deferred")}


def accepted_order(s, sender=SENDER):
    """Queue ids in the order sluiced accepted them (its event=queued
    lines, written when the 250 is sent)."""
    rx = re.compile(r"queue_id=(\w+) sid=\d+ event=queued from=<%s>" % re.escape(sender))
    return [m.group(1) for m in map(rx.search, s.log) if m]


def wait_removed(s, ids, timeout=10):
    """Waits until sluiced has logged event=removed for every id: the sink
    has a message as soon as it answers 250, sluiced records the outcome
    (and removes the message) just after."""
    rx = re.compile(r"queue_id=(\w+) event=removed")
    done = {m.group(1) for m in map(rx.search, s.log) if m}
    for qid in ids:
        if qid not in done:
            s.wait_log(r"queue_id=%s event=removed" % qid, timeout=timeout)


def send_numbered(port, seqs, sender=SENDER):
    """Sends one numbered message per seq over one SMTP session (our own
    client); every one must get 250.  Returns the queue ids."""
    ids = []
    with SMTPClient(port) as c:
        assert c.ehlo("client.test").code == 250
        for seq in seqs:
            snd = sender(seq) if callable(sender) else sender
            ids.append(c.send_mail(snd, [RCPT], numbered(seq, snd)))
        c.cmd("QUIT")
    return ids


def first_difference(got, want):
    """Where two sequences first differ, for a failure message."""
    i = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
             min(len(got), len(want)))
    return "at position %d: got %s..., want %s..." % (i, got[i:i + 5], want[i:i + 5])


def assert_arrivals_keep_releases(msgs, rel, period):
    """Every deferred message (rel: queue id -> release time) reached the
    sink in the window of its release time, and not before that time."""
    early, late = [], []
    for m in msgs:
        qid = sluice_id_of(m)
        if qid not in rel:
            continue
        if m.wall < rel[qid]:
            early.append((seq_of(m), qid, rel[qid], round(m.wall, 3)))
        elif window_of(m.wall, period) != window_of(rel[qid], period):
            late.append((seq_of(m), qid, rel[qid], round(m.wall, 3)))
    assert not early, "delivered before its release time (seq, id, release, " \
        "arrival): %s" % early[:10]
    assert not late, "delivered after its release window (seq, id, release, " \
        "arrival): %s" % late[:10]


def trickle_conf(period, limit, more=""):
    """One quota per sender, verdict defer; one session at a time to the
    next hop, so the sink sees messages in the order sluiced sends them
    (with parallel sessions a window's burst would arrive shuffled)."""
    return quota(period=period, limit="messages %d" % limit,
                 verdict="defer", more=more) + \
        "delivery { per-destination 1 }\n"


# -- 1. the 500-mail trickle through Postfix ---------------------------------

def test_500_mails_through_postfix_trickle_out_100_per_window(sluice, mta1, sink):
    """The headline: a user sends 500 mails through mta1 (Postfix) with a
    quota of 100 per 3 s.  mta1 accepts them all and hands them all to
    sluiced at once; sluiced sends 100 per window, over five windows."""
    period, limit, total = 3, 100, 500
    snk = sink()
    s = sluice(trusted="127.0.0.1/32", deliver=deliver_to(snk.port),
               extra=trickle_conf("%ds" % period, limit))
    mta = mta1(relay_port=s.port)

    # the first window must hold the first 100: start as one begins
    # (a trial run took 0.7 s to submit all 500 and 0.2 s to send 100)
    window_start(period, need=2.5)
    pf_ids = {}
    with SMTPClient(mta.port) as c:
        assert c.ehlo("client.test").code == 250
        for seq in range(total):
            mail, rr, data = c.transaction(SENDER, [RCPT], numbered(seq))
            assert (mail.code, [r.code for r in rr], data and data.code) == \
                (250, [250], 250), "mta1 refused message %d: %s %s %s" % (
                    seq, mail, rr, data)
            pf_ids[data.queue_id] = seq
        c.cmd("QUIT")
    assert len(pf_ids) == total, "mta1 gave %d distinct queue ids" % len(pf_ids)

    msgs = snk.wait(total, timeout=40)

    # mta1 handed every message to sluiced, once, and is empty
    # POLLING mta1's maillog (no other event says it is done)
    sent_rx = re.compile(r"\b(\w+): to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d,"
                         r".* status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)"
                         % (re.escape(RCPT), s.port))

    def all_relayed():
        found = sent_rx.findall(mta.maillog_text())
        return found if len(found) >= total else None
    relayed = wait_for(all_relayed, 30, "mta1 to log all %d as sent" % total,
                       interval=0.2)
    assert len(relayed) == total, "mta1 logged %d deliveries for %d messages" % (
        len(relayed), total)
    assert sorted(p for p, _ in relayed) == sorted(pf_ids), \
        "mta1's sent lines do not match the messages it accepted"
    assert mta.queue_is_empty(), "mta1's queue is not empty:\n" + mta.queue_listing()

    # the sink got each message exactly once, nothing more
    seqs = [int(seq_of(m)) for m in msgs]
    dup = {q: n for q, n in collections.Counter(seqs).items() if n > 1}
    assert not dup, "delivered more than once (X-Seq: times): %s" % dup
    assert sorted(seqs) == list(range(total)), "X-Seq received: %s" % sorted(seqs)
    assert len(snk.messages) == total, "the sink got %d messages" % len(snk.messages)
    assert all(m.rcpt_tos == [RCPT] and m.mail_from == SENDER for m in msgs)

    # no epoch-aligned window holds more than the limit; five full windows
    counts = per_window([m.wall for m in msgs], period)
    over = {w: n for w, n in counts.items() if n > limit}
    assert not over, "windows over %d arrivals (window: arrivals): %s; all: %s" % (
        limit, over, counts)
    first = window_of(msgs[0].wall, period)
    last = window_of(max(m.wall for m in msgs), period)
    assert last - first == 4, "the last message arrived in window %d, the " \
        "first in %d (want 4 windows later); arrivals per window: %s" % (
            last, first, counts)
    assert counts == {first + k: limit for k in range(5)}, \
        "arrivals per window: %s" % counts

    # mta1 relays over several sessions at once (Postfix's destination
    # concurrency), so it may hand the messages to sluiced slightly out of
    # submission order (a trial run: 13 neighbours swapped in 500).  What
    # sluice promises is FIFO from the moment it accepts a message: the
    # sink sees them in the order of sluiced's event=queued lines.
    accepted = accepted_order(s)
    assert len(accepted) == total, "sluiced logged %d event=queued lines" % len(accepted)
    arrived = [sluice_id_of(m) for m in msgs]
    assert sorted(arrived) == sorted(accepted) == sorted(q for _, q in relayed), \
        "the queue ids at the sink, in sluiced's log and in mta1's log differ"
    assert arrived == accepted, "arrival order differs from sluiced's " \
        "acceptance order " + first_difference(arrived, accepted)
    # and each is the message mta1 handed over under that queue id
    seq_via_mta1 = {q: pf_ids[p] for p, q in relayed}
    mixed = [(sluice_id_of(m), seq_of(m)) for m in msgs
             if seq_via_mta1[sluice_id_of(m)] != int(seq_of(m))]
    assert not mixed, "not the message mta1 relayed under that id: %s" % mixed[:5]

    # 100 went at once, 400 waited for the release times sluiced logged,
    # and each left in its own window, not before
    rel = releases(s)
    assert len(rel) == total - limit, "%d deferred (verdict=defer lines)" % len(rel)
    assert sorted(collections.Counter(rel.values()).items()) == \
        [((first + k) * period, limit) for k in range(1, 5)], \
        "release times logged: %s" % sorted(collections.Counter(rel.values()).items())
    assert_arrivals_keep_releases(msgs, rel, period)
    wait_removed(s, accepted)
    assert s.queue_json() == [], "sluiced's queue is not empty"
    assert len(snk.messages) == total, "the sink got %d messages" % len(snk.messages)


# -- 2. two quotas at once ---------------------------------------------------

TWO_QUOTAS = """
policy outbound priority 10 {
    sender @example.com
    quota per-user {
        track Sender:user@domain
        period 2s
        limit messages 50
        verdict defer
    }
    quota per-domain {
        track Sender:@domain
        period 6s
        limit messages 120
        verdict defer
    }
}
"""


def test_two_quotas_each_message_waits_for_both(sluice, sink):
    """Per user 50 per 2 s and per domain 120 per 6 s: two users of one
    domain send 150 each.  Each deferred message waits for the earliest
    time both quotas have room, so neither limit is ever exceeded."""
    users = ("carol@example.com", "dave@example.com")
    per_user = 150
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port), extra=TWO_QUOTAS)

    def numbers(lo, hi):
        return ["%s-%d" % (u.split("@")[0], i) for i in range(lo, hi) for u in users]

    def user(seq):
        return "%s@example.com" % seq.split("-")[0]

    # start as a 6 s window (and so a 2 s one) begins; the two users
    # alternate, and all 300 are decided before the first release, 2 s on
    # (trial runs: 0.2 s)
    end6 = window_start(6, need=5.7)
    start = end6 - 6
    t0 = time.time()
    send_numbered(s.port, numbers(0, per_user), sender=user)
    # the release times as stored (when each message is due to leave);
    # both quotas' log lines for a deferred message say the same time
    rel = queued_releases(s)
    assert time.time() < start + 2, "the sends and the listing crossed a 2 s " \
        "window boundary (they took %.1fs)" % (time.time() - t0)
    assert len(rel) == 2 * (per_user - 50), "%d deferred" % len(rel)
    logged = collections.defaultdict(set)
    for line in s.log:
        m = RELEASE_RE.search(line)
        if m:
            logged[m.group(1)].add(epoch(m.group(2)))
    wrong = {q: (sorted(logged[q]), t) for q, t in rel.items() if logged[q] != {t}}
    assert not wrong, "logged release= differs from the queue's due time " \
        "(id: logged, due): %s" % dict(list(wrong.items())[:5])

    msgs = snk.wait(2 * per_user, timeout=30)

    seqs = [seq_of(m) for m in msgs]
    dup = {q: n for q, n in collections.Counter(seqs).items() if n > 1}
    assert not dup, "delivered more than once (X-Seq: times): %s" % dup
    want = sorted("%s-%d" % (u.split("@")[0], i) for u in users for i in range(per_user))
    assert sorted(seqs) == want, "missing: %s" % sorted(set(want) - set(seqs))
    for m in msgs:
        assert m.mail_from == "%s@example.com" % seq_of(m).split("-")[0], m

    # no 2 s window over 50 for one user, no 6 s window over 120 for the domain
    by_user = {u: per_window([m.wall for m in msgs if m.mail_from == u], 2)
               for u in users}
    domain = per_window([m.wall for m in msgs], 6)
    for u, counts in by_user.items():
        over = {w: n for w, n in counts.items() if n > 50}
        assert not over, "%s: 2 s windows over 50: %s (all %s)" % (u, over, counts)
    over = {w: n for w, n in domain.items() if n > 120}
    assert not over, "@example.com: 6 s windows over 120: %s (all %s)" % (over, domain)

    # and none waited longer than both quotas required: in the first 6 s
    # window 50 + 10 per user (the domain's 120), in the second the same,
    # the remaining 30 per user in the third
    d0, u0 = start // 6, start // 2
    assert domain == {d0: 120, d0 + 1: 120, d0 + 2: 60}, \
        "domain arrivals per 6 s window: %s" % domain
    for u, counts in by_user.items():
        assert counts == {u0: 50, u0 + 1: 10, u0 + 3: 50, u0 + 4: 10, u0 + 6: 30}, \
            "%s: arrivals per 2 s window (from %d): %s" % (u, u0, counts)
    assert_arrivals_keep_releases(msgs, rel, 2)


# -- 3. the backlog cap ------------------------------------------------------

def backlog_policy(name, sender, when_full):
    return """
policy %s priority 10 {
    sender %s
    quota per-user {
        track Sender:user@domain
        period 1m
        limit messages 1
        verdict defer
        backlog 5
        when-full %s
    }
}
""" % (name, sender, when_full)


def one(s, sender):
    """One message over our own client: the reply to its DATA."""
    with s.smtp() as c:
        assert c.ehlo("client.test").code == 250
        mail, rr, data = c.transaction(sender, [RCPT], numbered("x", sender))
        c.cmd("QUIT")
    assert mail.code == 250 and [r.code for r in rr] == [250], (mail, rr)
    return data


def test_backlog_cap_answers_with_when_full(sluice):
    """backlog 5: one message goes, five wait, and the seventh gets the
    when-full answer: tempfail 451 (nothing kept), reject 550, hold 250
    into the hold state."""
    senders = {"tempfail": "tf@example.com", "reject": "rj@example.com",
               "hold": "hd@example.com"}
    s = sluice(extra="".join(backlog_policy("p-" + w, a, w)
                             for w, a in senders.items()))
    end = window_start(60, need=10)

    last = {}
    for when, sender in senders.items():
        first = [one(s, sender) for _ in range(6)]
        assert [r.code for r in first] == [250] * 6, \
            "%s: the first six (one now, five deferred): %s" % (when, first)
        assert len(s.queue_json("--state", "deferred", "--sender", sender)) == 5
        last[when] = one(s, sender)
    assert time.time() < end, "the sends crossed a window boundary"

    r = last["tempfail"]
    assert (r.code, r.enhanced) == (451, "4.7.1"), r
    assert "Too much mail waiting for quota p-tempfail/per-user (backlog 5)" in r.text, r
    r = last["reject"]
    assert (r.code, r.enhanced) == (550, "5.7.1"), r
    assert "Too much mail waiting for quota p-reject/per-user (backlog 5)" in r.text, r
    r = last["hold"]
    assert r.code == 250 and r.queue_id, r

    # tempfail and reject kept nothing: six messages each, five deferred
    for when in ("tempfail", "reject"):
        sender = senders[when]
        listed = s.queue_json("--sender", sender)
        assert len(listed) == 6, "%s: %d messages queued for %s" % (when, len(listed), sender)
        assert len(s.queue_json("--state", "deferred", "--sender", sender)) == 5
        s.wait_log(r"event=quota policy=p-%s quota_name=per-user .*key=%s .*"
                   r"verdict=backlog-full-%s" % (when, re.escape(sender), when))
    # hold kept it, in the hold state, and the backlog is still five
    held = s.queue_json("--state", "hold")
    assert [m["id"] for m in held] == [last["hold"].queue_id], held
    assert held[0]["sender"] == senders["hold"], held
    assert [x["state"] for x in s.show(last["hold"].queue_id)["recipients"]] == ["hold"]
    assert len(s.queue_json("--state", "deferred", "--sender", senders["hold"])) == 5
    s.wait_log(r"queue_id=%s event=quota .*verdict=backlog-full-hold"
               % last["hold"].queue_id)
    r = s.ctl_ok("queue", "--state", "hold")
    assert last["hold"].queue_id in r.stdout.decode(), r.stdout


# -- 4. queue delete --sender ------------------------------------------------

def test_delete_by_sender_empties_a_deferred_backlog(sluice, sink):
    """alice has nine messages waiting for her quota, bob one: deleting
    alice's leaves bob's as it was, and none of alice's is ever sent."""
    period = 4
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=trickle_conf("%ds" % period, 1))
    bob = "bob@example.com"
    end = window_start(period, need=3)
    a_ids = send_numbered(s.port, ["a%d" % i for i in range(10)])
    b_ids = send_numbered(s.port, ["b%d" % i for i in range(2)], sender=bob)
    # the first of each went at once
    snk.wait(2, timeout=10)
    a_waiting = [m["id"] for m in s.queue_json("--state", "deferred", "--sender", SENDER)]
    assert sorted(a_waiting) == sorted(a_ids[1:]), a_waiting
    b_before = s.queue_json("--state", "deferred", "--sender", bob)
    assert [m["id"] for m in b_before] == b_ids[1:], b_before
    # alice's second message and bob's are due at the same time, the
    # next window's start
    rel = releases(s)
    assert (rel[a_ids[1]], rel[b_ids[1]], epoch(b_before[0]["next_due"])) == \
        (end, end, end), "release times %s, window end %d" % (rel, end)

    r = s.ctl_ok("queue", "delete", "--sender", SENDER)
    assert time.time() < end, "the delete came after the first release"
    out = r.stdout.decode()
    for qid in a_ids[1:]:
        assert "%s: deleted" % qid in out, out
    s.wait_log(r"event=admin-delete by=admin-api sender=\"%s\" messages=9"
               % re.escape(SENDER))
    assert s.queue_json("--sender", SENDER) == [], "alice's mail is still queued"
    assert s.queue_json("--state", "deferred", "--sender", bob) == b_before, \
        "bob's deferred mail changed"

    # alice's second message was due at the same second as bob's, and
    # ahead of it (one session to the sink, FIFO): once bob's has been
    # sent and removed, alice's would have reached the sink first
    snk.wait(3, timeout=period + 5)
    wait_removed(s, [a_ids[0]] + b_ids)
    got = [seq_of(m) for m in snk.messages]
    assert sorted(got) == ["a0", "b0", "b1"], "the sink got %s" % got
    assert snk.messages[2].wall >= end, "bob's deferred mail left early"
    for qid in a_ids[1:]:
        bad = [l for l in s.log if qid in l and "event=delivery" in l]
        assert not bad, "a deleted message was delivered: %s" % bad
    assert s.queue_json() == [], "the queue is not empty"
    assert len(snk.messages) == 3, snk.messages


# -- 5. SIGKILL in the middle of the trickle ---------------------------------

def test_sigkill_mid_trickle_loses_and_repeats_nothing(sluice, sink):
    """300 messages at 100 per 3 s: after the second window's 100 are
    recorded as sent (nothing in flight until the third window), sluiced is
    SIGKILLed and started again.  The third window's 100 still go, at
    their time, and nothing twice."""
    period, limit, total = 3, 100, 300
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=trickle_conf("%ds" % period, limit))
    end = window_start(period, need=2.5)
    ids = send_numbered(s.port, range(total))
    assert time.time() < end, "the sends crossed a window boundary"
    rel = releases(s)
    assert len(rel) == total - limit, "%d deferred of %d" % (len(rel), total)
    first = min(rel.values()) // period - 1
    second = [q for q in ids if rel.get(q) == (first + 1) * period]
    third = [q for q in ids if rel.get(q) == (first + 2) * period]
    assert (len(second), len(third)) == (limit, limit), \
        "deferred to the second / third window: %d / %d" % (len(second), len(third))

    # the first two windows' deliveries are on disk (the delivery line is
    # written once the outcome is), and the third's are not due yet
    snk.wait(2 * limit, timeout=2 * period + 5)
    for qid in ids[:2 * limit]:
        s.wait_log(r"queue_id=%s event=delivery .*status=sent" % qid, timeout=5)
    assert time.time() < (first + 2) * period, \
        "the third window began before the kill (deliveries may be in flight)"
    assert len(snk.messages) == 2 * limit, len(snk.messages)
    s.kill()
    s.start()

    msgs = snk.wait(total, timeout=2 * period + 10)
    seqs = [int(seq_of(m)) for m in msgs]
    dup = {q: n for q, n in collections.Counter(seqs).items() if n > 1}
    assert not dup, "delivered more than once (X-Seq: times): %s" % dup
    assert seqs == list(range(total)), "arrival order (X-Seq) is not the " \
        "sending order " + first_difference(seqs, list(range(total)))
    counts = per_window([m.wall for m in msgs], period)
    assert counts == {first: limit, first + 1: limit, first + 2: limit}, \
        "arrivals per window (from %d): %s" % (first, counts)
    assert_arrivals_keep_releases(msgs, rel, period)
    wait_removed(s, ids)
    assert s.queue_json() == [], "sluiced's queue is not empty"
    assert len(snk.messages) == total, "the sink got %d messages" % len(snk.messages)


# -- 6. a restart keeps the release times ------------------------------------

def test_restart_keeps_release_times_and_reservations(sluice, sink):
    """Deferred mail waits for its window across a clean restart, and mail
    sent after the restart queues behind it (the reservations were kept)."""
    period, limit = 3, 2
    snk = sink()
    s = sluice(deliver=deliver_to(snk.port),
               extra=trickle_conf("%ds" % period, limit))
    end = window_start(period, need=2.5)
    w0 = end // period - 1
    ids = send_numbered(s.port, range(6))
    rel = releases(s)
    assert sorted(rel.values()) == [(w0 + 1) * period] * 2 + [(w0 + 2) * period] * 2, \
        "release times: %s" % rel
    for qid in ids[:2]:
        s.wait_log(r"queue_id=%s event=delivery .*status=sent" % qid)
    due = {qid: s.show(qid)["recipients"][0]["due"] for qid in ids[2:]}
    assert {q: epoch(t) for q, t in due.items()} == {q: rel[q] for q in ids[2:]}, \
        "the queue's due times %s differ from the logged release times %s" % (due, rel)

    s.restart()
    after = {qid: s.show(qid)["recipients"][0]["due"] for qid in ids[2:]}
    listed = [m["id"] for m in s.queue_json("--state", "deferred")]
    assert time.time() < end, "the restart took the test past the first window"
    assert after == due, "due times before the restart %s, after %s" % (due, after)
    assert listed == ids[2:], "deferred after the restart: %s" % listed
    ids += send_numbered(s.port, [6])
    rel = releases(s)
    assert rel[ids[6]] == (w0 + 3) * period, \
        "mail sent after the restart is released at %s, not behind the " \
        "backlog (%s)" % (rel[ids[6]], (w0 + 3) * period)

    msgs = snk.wait(7, timeout=4 * period + 5)
    assert [int(seq_of(m)) for m in msgs] == list(range(7))
    counts = per_window([m.wall for m in msgs], period)
    assert counts == {w0: 2, w0 + 1: 2, w0 + 2: 2, w0 + 3: 1}, \
        "arrivals per window (from %d): %s" % (w0, counts)
    assert_arrivals_keep_releases(msgs, rel, period)
    wait_removed(s, ids)
    assert s.queue_json() == [], "sluiced's queue is not empty"
    assert len(snk.messages) == 7, "the sink got %d messages" % len(snk.messages)
