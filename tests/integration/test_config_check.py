"""`sluiced -n`: what an administrator runs before a restart.  A valid
file passes silently; mistakes come back as file:line: message, all of
them, with exit 1, and nothing is started."""
import re
import subprocess

import harness


def check(path):
    return subprocess.run([harness.SLUICED, "-n", "-c", str(path)],
                          capture_output=True, text=True, timeout=20)


def test_generated_config_is_valid(sluice):
    s = sluice(listen=("", "tls tls-required"))
    r = check(s.conf)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_errors_are_reported_with_file_and_line(workdir):
    conf = workdir / "bad.conf"
    conf.write_text("hostname bad.test\n"
                    "state-dir %s\n"
                    "listen 127.0.0.1:notaport\n"
                    "trusted-networks 10.0.0.0/33\n"
                    "limits { message-size 1M }\n"
                    "no-such-keyword yes\n" % (workdir / "state"))
    r = check(conf)
    assert r.returncode == 1, r
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    for n in (3, 4, 6):
        assert any(l.startswith("%s:%d: " % (conf, n)) for l in lines), (n, lines)
    assert all(l.startswith("%s:" % conf) for l in lines), lines
    assert not (workdir / "state").exists()      # nothing was set up


def test_tls_key_that_does_not_match_is_found_before_a_restart(workdir, tls_cert):
    """-n loads the certificate and key the daemon would load: a key that
    belongs to another certificate is an error now, not at start-up."""
    other_key = workdir / "other.key"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"],
                   check=True, capture_output=True)
    conf = workdir / "tls.conf"
    conf.write_text("hostname tls.test\n"
                    "listen 127.0.0.1:%d tls\n"
                    "tls certificate %s key %s\n"
                    % (harness.free_port(), tls_cert[0], other_key))
    r = check(conf)
    assert r.returncode == 1, r
    assert r.stderr.startswith("%s: tls key %s: " % (conf, other_key)), r.stderr
    assert "mismatch" in r.stderr, r.stderr


def test_postfix_habits_are_explained(workdir):
    """An administrator coming from Postfix writes main.cf's names and
    `name = value`: each line gets one message saying how sluice writes
    it, and the file written as the messages say passes."""
    state = workdir / "state"
    conf = workdir / "postfix.conf"
    lines = ["hostname = relay.test",
             "state-dir = %s" % state,
             "relayhost = [127.0.0.1]:2626",
             "relay-domains = example.com example.org",
             "limits { message-size = 10M errors = 5 }",
             "admin socket=%s" % (workdir / "admin.sock"),
             "listen 1.2.3"]
    conf.write_text("\n".join(lines) + "\n")
    r = check(conf)
    assert (r.returncode, r.stdout) == (1, ""), r
    said = {}
    for l in r.stderr.splitlines():
        m = re.match(r"%s:(\d+): (.*)$" % re.escape(str(conf)), l)
        assert m, l
        said.setdefault(int(m.group(1)), []).append(m.group(2))
    assert sorted(said) == list(range(1, len(lines) + 1)), r.stderr
    assert all(len(v) == 1 for v in said.values()), r.stderr
    assert said[3] == ['unknown keyword "relayhost" (a Postfix setting; '
                       'sluice\'s is "deliver relayhost [host]:port")'], said
    assert said[7] == ["listen: 1.2.3: invalid address (a numeric IPv4 or "
                       "IPv6 address) and missing port"], said
    assert not state.exists()

    fixed = list(lines)
    for n, (msg,) in said.items():
        m = re.fullmatch(r'(\S+(?: \S+)?): no "=" in sluice\'s syntax: '
                         r'write "(.*)"', msg)
        if m:
            fixed[n - 1] = m.group(2)
    assert sum(f != l for f, l in zip(fixed, lines)) == 5, fixed
    fixed[2] = "deliver relayhost [127.0.0.1]:2626"
    fixed[6] = "listen 127.0.0.1:%d" % harness.free_port()
    conf.write_text("\n".join(fixed) + "\n")
    r = check(conf)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), (fixed, r)


def test_policies_loaded_are_counted_in_the_log(sluice):
    """Groups, policies and quotas load, and sluiced says at start-up how
    many it enforces, so an administrator sees the file was taken."""
    s = sluice(extra="group staff { @example.com }\n"
                     "policy outbound priority 10 { sender %staff\n"
                     "  quota q { track Sender:user@domain period 1h "
                     "limit messages 5 } }")
    s.wait_log(r"event=policies-loaded policies=1 groups=1 quotas=1 "
               r"counters=0", 5)
