"""SIGTERM (systemctl stop): a prompt, clean exit; idle clients are told
421; a transaction in progress is finished, not lost."""
import signal
import time

from smtpwire import build_message, dot_stuff

SENDER = "stop@example.com"
RCPT = "r@example.org"


def test_sigterm_exits_zero_promptly(sluice):
    s = sluice()
    t0 = time.monotonic()
    rc = s.kill(signal.SIGTERM)
    took = time.monotonic() - t0
    assert rc == 0, "exit status %s\n%s" % (rc, s.log_tail())
    assert took < 5, "SIGTERM took %.1fs" % took
    assert any("event=stopped" in l for l in s.lines[-5:]), s.log_tail()


def test_connected_clients_get_421(sluice):
    s = sluice()
    greeted = s.smtp()
    greeted.ehlo("waiting.test")
    fresh = s.smtp()                      # connected, has not said EHLO yet
    in_tx = s.smtp()
    in_tx.ehlo("tx.test")
    assert in_tx.cmd("MAIL FROM:<%s>" % SENDER).code == 250
    assert in_tx.cmd("RCPT TO:<%s>" % RCPT).code == 250

    t0 = time.monotonic()
    s.send_signal(signal.SIGTERM)
    s.wait_log(r"event=shutdown", timeout=5)
    for c in (greeted, fresh):
        r = c.reply(timeout=5)
        assert (r.code, r.enhanced) == (421, "4.3.2"), r
        assert c.is_closed(timeout=5)
    # the one inside a transaction is not cut off mid-way: RSET ends the
    # transaction, and the next reply says the service is going away
    r = in_tx.cmd("RSET", timeout=5)
    if r.code == 250:
        r = in_tx.reply(timeout=5)
    assert (r.code, r.enhanced) == (421, "4.3.2"), r
    assert in_tx.is_closed(timeout=5)
    for c in (greeted, fresh, in_tx):
        c.close()
    rc = s.wait_exit(10)
    took = time.monotonic() - t0
    assert rc == 0, rc
    assert took < 5, "took %.1fs to stop with clients connected" % took


def test_transaction_in_data_is_finished_at_shutdown(sluice):
    s = sluice()
    msg = build_message("in-flight@test", SENDER, [RCPT], "in flight", ["x" * 70] * 100)
    payload = dot_stuff(msg)
    c = s.smtp()
    c.ehlo("inflight.test")
    assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
    assert c.cmd("RCPT TO:<%s>" % RCPT).code == 250
    assert c.cmd("DATA").code == 354
    c.send(payload[:3000])
    s.send_signal(signal.SIGTERM)
    s.wait_log(r"event=shutdown", timeout=5)
    c.send(payload[3000:])
    r = c.reply(timeout=10)
    assert r.code == 250 and r.queue_id, r
    qid = r.queue_id
    r = c.reply(timeout=5)                # then the session is closed
    assert (r.code, r.enhanced) == (421, "4.3.2"), r
    assert c.is_closed(timeout=5)
    c.close()
    assert s.wait_exit(10) == 0
    s.start()
    assert [m["id"] for m in s.queue_json()] == [qid]
    assert s.body(qid) == msg
