"""A full disk is a 4xx, never a crash and never a lost message.

The state directory is a 1 MiB tmpfs.  Messages are sent until the store
refuses one: that refusal must be a 4xx (the client keeps its copy), the
daemon must go on answering, and every message acknowledged before it must
still be in the queue, whole, also after a restart.
"""
import subprocess

import pytest

import harness
from harness import Sluiced
from smtpwire import SMTPClient, build_message


@pytest.fixture
def small_disk_sluice(workdir, tls_cert, sluice_user):
    s = Sluiced(workdir / "sluice", cert=tls_cert[0], key=tls_cert[1])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M,mode=0755",
                    "tmpfs", str(s.state_dir)], check=True)
    harness.chown_user(s.state_dir)
    try:
        yield s
    finally:
        problems = s.finish() if s.proc is not None else []
        subprocess.run(["umount", str(s.state_dir)], check=False)
    assert not problems, problems


def test_full_disk_is_a_4xx_and_loses_nothing(small_disk_sluice):
    s = small_disk_sluice
    s.start()
    body = ["%04d %s" % (i, "x" * 70) for i in range(500)]    # ~38 KiB
    acked = {}
    refusal = None
    with SMTPClient(s.port, timeout=15) as c:
        assert c.ehlo("full.test").code == 250
        for i in range(200):
            msg = build_message("full-%d@test" % i, "a@example.com",
                                ["b@example.org"], "full %d" % i, body)
            _, _, data = c.transaction("a@example.com", ["b@example.org"], msg)
            if data.code != 250:
                refusal = data
                break
            acked[data.queue_id] = msg
        assert refusal is not None, "1 MiB took 200 messages of 38 KiB?"
        assert refusal.code == 452 and "4.3.1" in str(refusal), refusal
        assert len(acked) >= 3, "the disk was full before any message"
        # the session and the daemon go on: the client may try again later
        assert c.cmd("NOOP").code == 250
    print("full disk: %d acknowledged, then %s" % (len(acked), refusal))
    s.wait_log(r"event=store-failed error=\".*full")

    def check_queue():
        listing = {m["id"]: m for m in s.queue_json()}
        for qid, msg in acked.items():
            assert qid in listing, "acknowledged %s is gone" % qid
            assert s.body(qid) == msg, "%s is not whole" % qid

    check_queue()
    s.restart()
    check_queue()
