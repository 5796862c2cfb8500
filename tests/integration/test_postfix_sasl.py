"""A quota keyed on the SASL login, with a real Postfix mta1 in front.

The user authenticates to mta1 (Cyrus SASL, PLAIN, against mta1's private
sasldb); mta1 writes the login into its Received header
(smtpd_sasl_authenticated_header = yes) and relays into sluiced with
XFORWARD.  The SASL login is never in XFORWARD: sluiced must take it from
that header, because mta1 is a trusted peer, and count the user's
messages whatever envelope sender each one carries.  The message over
the limit is refused at end of DATA, so mta1 bounces it to its sender
(through sluiced, as all of mta1's mail goes)."""
import re

from harness import swaks, swaks_replies
from test_policy import window_start

DOMAIN = "example.com"
USERS = {"alice@" + DOMAIN: "alice-secret", "bob@" + DOMAIN: "bob-secret"}
ORIG_ADDR = "127.0.0.2"          # the user's client; mta1 relays from 127.0.0.1
ORIG_HELO = "laptop.test"
RCPT = "carol@example.net"

QUOTA = """
policy submission priority 10 {
    sender any
    quota per-login {
        track SASLUsername
        period 1h
        limit messages 2
        verdict reject
    }
}
"""


def submit(mta, sender, login=None, password=None):
    """One message from the user's client to mta1, authenticated as login
    (PLAIN, no TLS) when given; returns swaks's replies [(code, text)]."""
    args = ["--from", sender, "--to", RCPT, "--helo", ORIG_HELO,
            "--local-interface", ORIG_ADDR,
            "--header", "Subject: from %s as %s" % (login, sender)]
    if login:
        args += ["--auth", "PLAIN", "--auth-user", login,
                 "--auth-password", password or USERS[login]]
    return swaks_replies(swaks(mta.port, *args).stdout)


def queued_at_mta1(replies):
    """mta1's queue id from the reply to the end of DATA."""
    m = re.match(r"2\.0\.0 Ok: queued as (\w+)", replies[-2][1])
    assert replies[-2][0] == 250 and m, replies
    return m.group(1)


def relayed(mta, sluice, qid):
    """Waits for mta1 to hand qid to sluiced; returns sluiced's queue id."""
    line = mta.wait_delivered(qid, timeout=30)
    m = re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent "
                  r"\(250 .*queued as (\w+)" % sluice.port, line)
    assert m, "mta1 did not hand %s to sluiced: %s" % (qid, line)
    return m.group(1)


def test_quota_on_the_login_mta1_authenticated(sluice, mta1):
    s = sluice(trusted="127.0.0.1/32", extra=QUOTA)   # mta1's relay address only
    # only mta1 itself is in mynetworks: the user's client must authenticate
    mta = mta1(relay_port=s.port, sasl_users=USERS,
               settings={"mynetworks": "127.0.0.1/32"})
    window_start(3600, need=60)

    # the SASL set-up is real: no login, no relaying; a wrong password fails
    r = submit(mta, "anon@" + DOMAIN)
    assert [c for c, _ in r if c >= 400][:1] == [454], r
    assert "Relay access denied" in dict(r)[454], r
    r = submit(mta, "a0@" + DOMAIN, "alice@" + DOMAIN, "wrong")
    assert 535 in [c for c, _ in r] and 354 not in [c for c, _ in r], r

    # alice, twice, with different envelope senders: both relayed.  One at
    # a time, so that the third is the one over the limit.
    ids = {}
    for sender in ("a1@" + DOMAIN, "a2@" + DOMAIN):
        qid = queued_at_mta1(submit(mta, sender, "alice@" + DOMAIN))
        ids[sender] = relayed(mta, s, qid)
    s.wait_log(r"queue_id=%s event=quota policy=submission quota_name=per-login "
               r"track=SASLUsername key=alice@example\.com from=<a2@example\.com> "
               r"unit=messages quota=2\.00/2 \(100\.0%%\) verdict=within"
               % ids["a2@" + DOMAIN])
    for sender, sid in ids.items():
        det = s.show(sid)
        assert det["sasl_user"] == "alice@" + DOMAIN, det
        assert det["sender"] == sender, det
        assert det["client_addr"] == ORIG_ADDR, det       # XFORWARD ADDR
        assert det["client_helo"] == ORIG_HELO, det       # XFORWARD HELO
        assert det["peer_addr"] == "127.0.0.1", det       # mta1

    # the third of alice's: refused at end of DATA, bounced by mta1
    mark = s.log_mark()
    qid3 = queued_at_mta1(submit(mta, "a3@" + DOMAIN, "alice@" + DOMAIN))
    m = mta.wait_maillog(r"\b%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*"
                         r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: "
                         r"(550 5\.7\.1 .*) \(in reply to end of DATA command\)\)$"
                         % (qid3, re.escape(RCPT), s.port))
    assert "Quota exceeded (submission/per-login)" in m.group(1), m.group(0)
    s.wait_log(r"event=quota policy=submission quota_name=per-login "
               r"track=SASLUsername key=alice@example\.com from=<a3@example\.com> "
               r"unit=messages quota=3\.00/2 \(150\.0%\) verdict=reject", since=mark)
    s.wait_log(r"event=reject stage=data .*from=<a3@example\.com>.*"
               r"550 5\.7\.1 Quota exceeded \(submission/per-login\)", since=mark)
    # the non-delivery notice goes to a3 by mta1's relayhost: sluiced takes
    # it (null sender, no login of its own: the quota does not apply,
    # although the bounced message's headers quoted in its body name alice)
    ndr = mta.wait_maillog(r"\b%s: sender non-delivery notification: (\w+)"
                           % qid3).group(1)
    ndr_id = relayed(mta, s, ndr)
    det = s.show(ndr_id)
    assert det["sender"] == "" and det.get("sasl_user") is None, det
    assert [x["address"] for x in det["recipients"]] == ["a3@" + DOMAIN], det
    assert b"Quota exceeded (submission/per-login)" in s.cat(ndr_id)

    # another login has its own count
    qid4 = queued_at_mta1(submit(mta, "b1@" + DOMAIN, "bob@" + DOMAIN))
    ids["b1@" + DOMAIN] = relayed(mta, s, qid4)
    s.wait_log(r"queue_id=%s event=quota policy=submission quota_name=per-login "
               r"track=SASLUsername key=bob@example\.com from=<b1@example\.com> "
               r"unit=messages quota=1\.00/2 \(50\.0%%\) verdict=within"
               % ids["b1@" + DOMAIN])
    assert s.show(ids["b1@" + DOMAIN])["sasl_user"] == "bob@" + DOMAIN

    # sluiced holds alice's first two, the notice and bob's: nothing of a3
    queued = {m["id"]: m["sender"] for m in s.queue_json()}
    assert queued == {ids["a1@" + DOMAIN]: "a1@" + DOMAIN,
                      ids["a2@" + DOMAIN]: "a2@" + DOMAIN,
                      ndr_id: "",
                      ids["b1@" + DOMAIN]: "b1@" + DOMAIN}, queued
    logins = [s.show(i).get("sasl_user") for i in queued]
    assert logins.count("alice@" + DOMAIN) == 2, logins
    assert mta.queue_is_empty(), mta.queue_listing()
