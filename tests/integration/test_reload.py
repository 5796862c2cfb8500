"""Reloading the configuration (SIGHUP, `sluicectl reload`) and checking a
file without a daemon (`sluicectl check`).

A valid file takes effect for new SMTP sessions and new delivery
attempts; what is under way finishes under the configuration it started
with.  A file with errors is refused as a whole: the errors are logged
with file:line, `sluicectl reload` prints them and exits 1, and the
daemon serves on as before.  Settings that need a restart (listen, ...)
are kept, with a log line saying so."""
import re
import signal
import ssl
import subprocess
import threading

import harness
from harness import Sluiced, deliver_to, free_port, make_cert
from smtpwire import build_message

UNTRUSTED = dict(trusted="192.0.2.1/32")    # 127.0.0.1 is not trusted


def edit(s, old, new):
    """Replaces old (a regex) by new in s's configuration file, once."""
    text = s.conf.read_text()
    changed, n = re.subn(old, new, text, count=1)
    assert n == 1, "no /%s/ in %s:\n%s" % (old, s.conf, text)
    s.conf.write_text(changed)


def reload_by_signal(s):
    mark = s.log_mark()
    s.send_signal(signal.SIGHUP)
    return s.wait_log(r"event=(reloaded|reload-failed)", 10, since=mark)


def rcpt_code(s, rcpt, sender="a@outside.test"):
    with s.smtp() as c:
        c.ehlo("client.test")
        assert c.cmd("MAIL FROM:<%s>" % sender).code == 250
        return c.cmd("RCPT TO:<%s>" % rcpt).code


def test_sighup_applies_relay_domains_and_limits(sluice):
    s = sluice(**UNTRUSTED)
    assert rcpt_code(s, "u@new.test") == 554
    edit(s, r"relay-domains relay\.test", "relay-domains relay.test new.test")
    edit(s, r"recipients 10 ", "recipients 2 ")
    assert reload_by_signal(s).group(1) == "reloaded"
    assert rcpt_code(s, "u@new.test") == 250
    with s.smtp() as c:
        c.ehlo("client.test")
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        assert [c.cmd("RCPT TO:<u%d@new.test>" % i).code for i in range(3)] \
            == [250, 250, 452]


def test_sluicectl_reload_keeps_sessions_under_way(sluice):
    """A session opened before the reload finishes its message under the
    configuration it started with; the next session sees the new one."""
    s = sluice(limits={"command-timeout": "30s"}, **UNTRUSTED)
    old = s.smtp()
    assert old.banner.text.startswith("sluice.test "), old.banner
    old.ehlo("early.test")
    assert old.cmd("MAIL FROM:<a@outside.test>").code == 250
    assert old.cmd("RCPT TO:<one@relay.test>").code == 250

    edit(s, r"hostname sluice\.test", "hostname reloaded.test")
    edit(s, r"relay-domains relay\.test", "relay-domains new.test")
    r = s.ctl("reload")
    assert r.returncode == 0, r
    assert r.stdout.decode() == "configuration reloaded\n", r
    s.wait_log(r"event=reloaded config=%s hostname=reloaded\.test" % re.escape(str(s.conf)))

    # the old session: still under the old relay-domains, completes its mail
    assert old.cmd("RCPT TO:<two@relay.test>").code == 250
    assert old.cmd("RCPT TO:<x@new.test>").code == 554
    msg = build_message("early@test", "a@outside.test", ["one@relay.test"], "early", ["x"])
    r = old.data(msg)
    assert r.code == 250 and r.queue_id, r
    assert old.cmd("QUIT").code == 221
    old.close()
    assert sorted(x["address"] for x in s.show(r.queue_id)["recipients"]) == \
        ["one@relay.test", "two@relay.test"]

    with s.smtp() as c:
        assert c.banner.text.startswith("reloaded.test "), c.banner
        c.ehlo("late.test")
        assert c.cmd("MAIL FROM:<a@outside.test>").code == 250
        assert c.cmd("RCPT TO:<one@relay.test>").code == 554
        assert c.cmd("RCPT TO:<x@new.test>").code == 250
    st = s.ctl_ok("status", "--json").stdout.decode()
    assert '"hostname":"reloaded.test"' in st, st


def test_delivery_under_way_finishes_and_new_attempts_follow(sluice, sink):
    """A delivery in the middle of DATA when the reload comes completes
    (with the HELO name it started with); the next message goes to the
    relayhost the new file names, with the new name."""
    entered, gate = threading.Event(), threading.Event()

    def slow(m):
        entered.set()
        gate.wait(20)
        return None

    a = sink(data_reply=slow)
    b = sink()
    s = sluice(deliver=lambda x: deliver_to(a.port))
    msg = build_message("m1@test", "a@example.com", ["r@elsewhere.test"], "one", ["1"])
    with s.smtp() as c:
        c.ehlo()
        c.send_mail("a@example.com", ["r@elsewhere.test"], msg)
    assert entered.wait(10), "the delivery did not reach DATA"
    edit(s, r"hostname sluice\.test", "hostname reloaded.test")
    edit(s, r"deliver relayhost \[127\.0\.0\.1\]:%d" % a.port,
         "deliver relayhost [127.0.0.1]:%d" % b.port)
    s.ctl_ok("reload")
    gate.set()
    a.wait(1, 10)
    s.wait_log(r"event=delivery to=<r@elsewhere\.test> relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d"
               r" .*status=sent" % a.port)
    assert a.messages[0].helo == "sluice.test"

    msg2 = build_message("m2@test", "a@example.com", ["r2@elsewhere.test"], "two", ["2"])
    with s.smtp() as c:
        c.ehlo()
        c.send_mail("a@example.com", ["r2@elsewhere.test"], msg2)
    b.wait(1, 10)
    assert b.messages[0].helo == "reloaded.test"
    assert len(a.messages) == 1
    harness.wait_for(lambda: s.queue_json() == [], 10, "an empty queue")


def test_invalid_file_keeps_the_running_configuration(sluice):
    s = sluice(**UNTRUSTED)
    good = s.conf.read_text()
    lines = good.splitlines()
    lines.append("no-such-keyword yes")
    lines.append("limits { recipients many }")
    s.conf.write_text("\n".join(lines) + "\n")
    n = len(lines)

    mark = s.log_mark()
    r = s.ctl("reload")
    assert r.returncode == 1, r
    assert r.stdout == b"", r
    err = r.stderr.decode()
    for line in (n - 1, n):
        assert re.search(r"^%s:%d: " % (re.escape(str(s.conf)), line), err, re.M), err
    assert "not reloaded" in err, err
    s.wait_log(r"event=config-error error=\"%s:%d: " % (re.escape(str(s.conf)), n - 1),
               since=mark)
    s.wait_log(r"event=reload-failed .*running one stays", since=mark)

    # SIGHUP: the same refusal, logged
    m = reload_by_signal(s)
    assert m.group(1) == "reload-failed"

    # still serving, on the old configuration
    assert rcpt_code(s, "u@relay.test") == 250
    assert rcpt_code(s, "u@new.test") == 554

    # fixed: the reload goes through
    s.conf.write_text(good.replace("relay-domains relay.test",
                                   "relay-domains relay.test new.test"))
    r = s.ctl("reload")
    assert r.returncode == 0, r
    assert rcpt_code(s, "u@new.test") == 250


def test_listen_change_needs_a_restart(sluice):
    """The listeners stay as bound, with a line saying a restart is
    needed; the rest of the file applies."""
    s = sluice(**UNTRUSTED)
    newport = free_port()
    edit(s, r"listen 127\.0\.0\.1:%d" % s.port, "listen 127.0.0.1:%d" % newport)
    edit(s, r"relay-domains relay\.test", "relay-domains new.test")
    mark = s.log_mark()
    r = s.ctl("reload")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert out.startswith("configuration reloaded\n"), out
    assert "listen: a restart is needed" in out, out
    s.wait_log(r'event=reload-restart-needed setting="listen" reason="a restart '
               r'is needed', since=mark)
    s.wait_log(r"event=reloaded", since=mark)
    assert rcpt_code(s, "u@new.test") == 250      # on the old listener
    import socket
    with socket.socket() as so:
        so.settimeout(2)
        assert so.connect_ex(("127.0.0.1", newport)) != 0
    # the status and dump describe what runs: the old listener
    assert s.ctl("reload").stdout.decode().count("listen:") == 1


def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def test_certificate_is_reloaded_for_new_sessions(sluice, workdir, tls_cert):
    s = sluice(listen=("tls",), limits={"command-timeout": "30s"})
    before = s.smtp()
    before.ehlo()
    new_cert, new_key = make_cert(workdir)
    edit(s, r"tls certificate \S+ key \S+",
         "tls certificate %s key %s" % (new_cert, new_key))
    s.ctl_ok("reload")
    assert before.starttls().code == 220
    assert before.sock.getpeercert(binary_form=True) == der(tls_cert[0])
    before.close()
    with s.smtp() as c:
        c.ehlo()
        assert c.starttls().code == 220
        assert c.sock.getpeercert(binary_form=True) == der(new_cert)


def ctl_check(*args):
    return subprocess.run([harness.SLUICECTL] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=20)


def test_check_without_a_daemon(workdir, tls_cert):
    good = Sluiced(workdir / "good", cert=tls_cert[0], key=tls_cert[1])
    assert not good.admin_socket.exists()
    for args in (("-c", good.conf, "check"), ("check", "-c", good.conf)):
        r = ctl_check(*args)
        assert (r.returncode, r.stdout, r.stderr) == (0, "%s: ok\n" % good.conf, ""), r

    bad = workdir / "bad.conf"
    bad.write_text("hostname bad.test\n"
                   "listen 127.0.0.1:notaport\n"
                   "deliver relayhost [127.0.0.1]:25 tls verify ca-file %s\n"
                   "no-such-keyword yes\n" % (workdir / "missing-ca.pem"))
    r = ctl_check("check", "-c", bad)
    assert (r.returncode, r.stdout) == (1, ""), r
    lines = r.stderr.splitlines()
    assert [int(l.split(":")[1]) for l in lines] == [2, 3, 4], lines
    assert all(l.startswith("%s:" % bad) for l in lines), lines

    # the files a configuration names are loaded, as sluiced -n does
    other_key = workdir / "other.key"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"],
                   check=True, capture_output=True)
    tls = workdir / "tls.conf"
    tls.write_text("hostname tls.test\nlisten 127.0.0.1:%d tls\n"
                   "tls certificate %s key %s\n" % (free_port(), tls_cert[0], other_key))
    r = ctl_check("-c", tls, "check")
    assert r.returncode == 1, r
    assert r.stderr.startswith("%s: tls key %s: " % (tls, other_key)), r.stderr
    n = subprocess.run([harness.SLUICED, "-n", "-c", str(tls)], capture_output=True,
                       text=True, timeout=20)
    assert (n.returncode, n.stderr) == (1, r.stderr)

    r = ctl_check("-c", workdir / "nonexistent.conf", "check")
    assert r.returncode == 1 and "cannot open" in r.stderr, r
