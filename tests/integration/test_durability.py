"""The promise behind every 250: a message acknowledged is stored, whole,
exactly once, even when the daemon is SIGKILLed at any moment.

Several clients send distinct messages (each attempt has its own
Message-ID) while sluiced is killed with SIGKILL and restarted a few times.
After a last kill and restart, every message that got a 250 must be in the
queue once, under the queue id of its 250, byte for byte; a message that
got no 250 may be there, but only whole.  (SIGKILL loses no page cache:
this proves atomicity and the reply-after-commit order, not power loss.)
"""
import os
import random
import re
import signal
import socket
import threading

from smtpwire import SMTPClient, SMTPClosed, build_message

N = 300
CLIENTS = 6
KILLS = 5
SENDER = "durable@example.com"


def test_acknowledged_mail_survives_sigkill(sluice):
    s = sluice()
    seed = int.from_bytes(os.urandom(4), "big")
    print("durability seed", seed)
    rnd = random.Random(seed)

    sizes = [rnd.choice((200, 2000, 20000, 120000)) + rnd.randrange(1000) for _ in range(N)]
    attempts = {}                  # msgid -> [message bytes, queue id or None]
    lock = threading.Lock()
    progress = threading.Condition(lock)
    state = {"next": 0, "acked": 0, "errors": []}
    up = threading.Event()
    up.set()

    def message(i):
        msgid = "dur-%03d-%d@test" % (i, seed)
        filler = []
        line_no = 0
        while sum(len(x) + 2 for x in filler) < sizes[i]:
            line_no += 1
            filler.append("%05d %s" % (line_no, ("%03d" % i) * 24))
        filler.append(".leading dot line of %d" % i)
        return msgid, build_message(msgid, SENDER, ["r%d@example.org" % i],
                                    "durability %d" % i, filler)

    def client():
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= N:
                return
            msgid, msg = message(i)
            with lock:
                attempts[msgid] = [msg, None]
            if not up.wait(60):
                state["errors"].append("daemon not back within 60s")
                return
            try:
                with SMTPClient(s.port, timeout=15) as c:
                    if c.banner.code != 220 or c.ehlo("dur.test").code != 250:
                        continue
                    _, _, data = c.transaction(SENDER, ["r%d@example.org" % i], msg)
                    if data is not None and data.code == 250:
                        assert data.queue_id, data
                        with progress:
                            attempts[msgid][1] = data.queue_id
                            state["acked"] += 1
                            progress.notify_all()
            except (OSError, SMTPClosed, socket.timeout):
                pass               # killed under us: not acknowledged

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for k in range(KILLS):
        # kill once a share of the traffic has gone through since the
        # last restart, at a random point inside the next few commits
        target = (k + 1) * N // (KILLS + 2) + rnd.randrange(10)
        with progress:
            ok = progress.wait_for(lambda: state["acked"] >= target
                                   or not any(t.is_alive() for t in threads), 60)
        assert ok, "no progress: %d acknowledged, target %d" % (state["acked"], target)
        if not any(t.is_alive() for t in threads):
            break
        up.clear()
        s.kill(signal.SIGKILL)
        s.start()
        up.set()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "clients still running"
    assert not state["errors"], state["errors"]
    kills_done = s.runs - 1
    assert kills_done == KILLS, "only %d kills happened" % kills_done

    # the last word: kill it once more, then look at what was kept
    s.kill(signal.SIGKILL)
    s.start()
    acked = {mid: qid for mid, (_, qid) in attempts.items() if qid}
    assert len(acked) >= N // 2, "too few acknowledged (%d) for a meaningful test" % len(acked)

    listing = s.queue_json()
    m = s.wait_log(r"event=queue-recovered messages=(\d+)")
    assert int(m.group(1)) == len(listing)
    found = {}
    for entry in listing:
        stored = s.body(entry["id"])
        mm = re.search(rb"^Message-ID: <([^>]+)>\r$", stored, re.M)
        assert mm, "queue %s holds a message that is not ours (or is cut): %r" % (
            entry["id"], stored[:300])
        mid = mm.group(1).decode()
        assert mid in attempts, "unknown message %s in the queue" % mid
        assert mid not in found, "%s stored twice (%s, %s)" % (mid, found[mid], entry["id"])
        found[mid] = entry["id"]
        assert stored == attempts[mid][0], "%s (queue %s) is not stored whole: %d of %d bytes" % (
            mid, entry["id"], len(stored), len(attempts[mid][0]))
        assert entry["sender"] == SENDER and entry["recipients"] == 1
    lost = sorted(mid for mid in acked if mid not in found)
    assert not lost, "acknowledged with 250 but not in the queue: %s" % lost[:20]
    moved = [(mid, acked[mid], found[mid]) for mid in acked if found[mid] != acked[mid]]
    assert not moved, "stored under another queue id than the 250 said: %s" % moved[:5]
    print("durability: %d attempts, %d acknowledged, %d unacknowledged kept, %d kills"
          % (len(attempts), len(acked), len(found) - len(acked), kills_done))
