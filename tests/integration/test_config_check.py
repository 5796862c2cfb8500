"""`sluiced -n`: what an administrator runs before a restart.  A valid
file passes silently; mistakes come back as file:line: message, all of
them, with exit 1, and nothing is started."""
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
