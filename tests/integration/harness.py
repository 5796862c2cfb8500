"""The integration harness: runs the real sluiced on 127.0.0.1 with a
fresh state directory, its own ports and its own configuration.

Readiness and events are awaited on sluiced's stderr (`event=ready`, ...).
Where no event exists to block on (a file another program appends to, a
queue that drains), `wait_for()` polls a condition against a deadline; its
callers say so.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLUICED = os.environ.get("SLUICED", str(ROOT / "build" / "sluiced"))
SLUICECTL = os.environ.get("SLUICECTL", str(ROOT / "build" / "sluicectl"))
SLUICE_USER = "sluice"

SANITIZER_RE = re.compile(
    r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
    r"ThreadSanitizer|MemorySanitizer|runtime error:")

DEFAULT_LIMITS = {
    "message-size": "1M", "recipients": 10, "connections": 100,
    "connections-per-ip": 20, "command-timeout": "2s", "data-timeout": "2s",
    "errors": 5,
}

# Where a test's sluiced delivers unless told otherwise: a closed port on
# 127.0.0.1 (port 9, discard, is not served here), so mail is tried at
# once, refused, and stays queued in state retry for the test to inspect.
DEFAULT_DELIVER = "deliver relayhost [127.0.0.1]:9 tls none"


def deliver_to(port, host="127.0.0.1", opts="tls none"):
    """A deliver statement for a relayhost on host:port (a sink)."""
    h = "[%s]" % host
    return ("deliver relayhost %s:%d %s" % (h, port, opts)).rstrip()


# -- small utilities ---------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A port the kernel reports free right now (bind to port 0)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what="condition", interval=0.05):
    """POLLING: calls cond() until it returns a true value or the deadline
    passes.  Only for conditions with no event to block on."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def make_workdir(prefix="sluice-it-"):
    """A temp directory the unprivileged daemon users (sluice, postfix) can
    traverse: pytest's own tmp dirs are 0700."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return Path(d)


def ensure_user(name=SLUICE_USER):
    """Creates the system user sluiced drops to, when missing."""
    try:
        import pwd
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", name], check=True)


def chown_user(path, name=SLUICE_USER):
    shutil.chown(path, user=name)


def make_cert(directory):
    """Self-signed certificate for CN localhost; returns (cert, key)."""
    directory = Path(directory)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    # readable by the user sluiced runs as, whenever it loads the key
    os.chmod(key, 0o644)
    return cert, key


def strip_received(stored):
    """Splits stored message bytes into (our Received header, the rest).
    The stored copy must start with a Received header (possibly folded)."""
    assert stored.startswith(b"Received:"), \
        "stored message does not start with a Received header: %r" % stored[:200]
    pos = stored.index(b"\r\n") + 2
    while stored[pos:pos + 1] in (b" ", b"\t"):
        pos = stored.index(b"\r\n", pos) + 2
    return stored[:pos], stored[pos:]


def swaks(port, *args, server="127.0.0.1", timeout=30):
    """Runs swaks against server:port; returns the CompletedProcess (text)."""
    cmd = ["swaks", "--server", "%s:%d" % (server, port), "--timeout", "15"]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def swaks_replies(out):
    """The server replies in swaks's transcript: [(code, text)]."""
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    res = []
    for line in text.splitlines():
        m = re.match(r"\s*<[-~*]+\s+(\d{3})[ -](.*)$", line)
        if m:
            res.append((int(m.group(1)), m.group(2)))
    return res


# -- the log of a running daemon ------------------------------------------

class LogCollector:
    """Collects a process's stderr lines (thread) and lets tests block on
    a line matching a regex."""

    def __init__(self, stream, path, proc):
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.proc = proc
        self.file = open(path, "ab")
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in iter(stream.readline, b""):
            self.file.write(raw)
            self.file.flush()
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()
        self.file.close()

    def wait(self, regex, timeout, since=0):
        """Blocks until a line at index >= since matches; returns the match.
        Fails early when the process ends without writing it."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.eof:
                    raise AssertionError(
                        "sluiced ended (exit %s) without logging /%s/; log tail:\n%s"
                        % (self.proc.poll(), regex, self.tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line /%s/ within %.1fs; log tail:\n%s"
                                         % (regex, timeout, self.tail()))
                self.cond.wait(left)

    def join(self, timeout=5):
        self.thread.join(timeout)

    def tail(self, n=40):
        return "\n".join(self.lines[-n:])


# -- sluiced -----------------------------------------------------------------

class Sluiced:
    """One sluiced instance under test.

    port / ports     the TCP ports of its listeners, in configuration order
    conf             the configuration file; state_dir, admin_socket
    log              all stderr lines so far (of every run), wait_log()
    ctl(*args)       runs sluicectl -c CONF ARGS -> CompletedProcess (bytes)
    queue_json()     the `queue --json` list of messages
    show(id)         `queue show ID --json` as a dict
    cat(id)          `queue cat ID` bytes
    kill(sig)        signals the daemon; SIGKILL/SIGTERM also wait for it
    send_signal(sig), wait_exit()   the same in two steps
    restart()        stops it if running (SIGTERM) and starts it again
    """

    def __init__(self, workdir, cert=None, key=None, listen=("",),
                 trusted="127.0.0.0/8 ::1/128", relay_domains="relay.test",
                 limits=None, extra="", hostname="sluice.test",
                 user=SLUICE_USER, deliver=DEFAULT_DELIVER):
        self.workdir = Path(workdir)
        self.workdir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.run_dir = self.workdir / "run"
        for d in (self.state_dir, self.run_dir):
            d.mkdir(mode=0o755, exist_ok=True)
            if user and user != "root":
                chown_user(d, user)
        self.admin_socket = self.run_dir / "admin.sock"
        self.conf = self.workdir / "sluice.conf"
        self.logfile = self.workdir / "sluiced.log"
        self.listeners = []
        for spec in listen:
            host, opts = (spec if isinstance(spec, tuple) else ("127.0.0.1", spec))
            self.listeners.append((host, free_port(host), opts))
        self.ports = [p for _, p, _ in self.listeners]
        self.port = self.ports[0]
        lim = dict(DEFAULT_LIMITS)
        lim.update(limits or {})
        lines = ["# written by tests/integration/harness.py",
                 "hostname " + hostname,
                 "state-dir " + str(self.state_dir)]
        if user:
            lines.append("user " + user)
        for host, port, opts in self.listeners:
            addr = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
            lines.append(("listen %s %s" % (addr, opts)).rstrip())
        if trusted:
            lines.append("trusted-networks " + trusted)
        if relay_domains:
            lines.append("relay-domains " + relay_domains)
        if cert:
            lines.append("tls certificate %s key %s" % (cert, key))
        lines.append("limits { %s }" % " ".join("%s %s" % kv for kv in lim.items()))
        lines.append("admin socket " + str(self.admin_socket))
        if callable(deliver):       # e.g. lambda s: deliver_to(s.port)
            deliver = deliver(self)
        if deliver:
            lines.append(deliver)
        if extra:
            lines.append(extra)
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None
        self.logs = None            # LogCollector of the current run
        self.all_lines = []         # lines of the runs before the current one
        self.problems = []          # unexpected exits found on the way
        self.runs = 0

    # -- life cycle ------------------------------------------------------
    def start(self, timeout=15):
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen([SLUICED, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._pgid = self.proc.pid
        self.logs = LogCollector(self.proc.stderr, self.logfile, self.proc)
        self.runs += 1
        self.logs.wait(r"event=ready", timeout)
        return self

    def _reap(self, timeout):
        """Waits for the current run to end; returns its exit status."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.problems.append("sluiced did not exit within %.0fs; killed" % timeout)
            self._killpg(signal.SIGKILL)
            rc = self.proc.wait(10)
        self.logs.join()
        self.all_lines.extend(self.logs.lines)
        self.proc.stderr.close()
        self.proc = None
        self._killpg(signal.SIGKILL)   # anything it left in its group
        return rc

    def _killpg(self, sig):
        if self.pgid is None:
            return
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def pgid(self):
        return getattr(self, "_pgid", None)

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status.  An exit before the signal is
        recorded as a problem."""
        if self.proc is None:
            return None
        early = self.proc.poll()
        if early is not None:
            self.problems.append("sluiced exited by itself with status %s" % early)
            return self._reap(timeout)
        self.proc.send_signal(signal.SIGTERM)
        rc = self._reap(timeout)
        if rc != 0:
            self.problems.append("sluiced exited with status %s after SIGTERM" % rc)
        return rc

    def kill(self, sig=signal.SIGKILL, timeout=10):
        """Sends sig.  For SIGKILL and SIGTERM also waits for the exit and
        returns the status (a SIGTERM exit other than 0 is a problem)."""
        assert self.proc is not None, "not running"
        if self.proc.poll() is not None:
            self.problems.append("sluiced had exited by itself with status %s"
                                 % self.proc.returncode)
            return self._reap(timeout)
        if sig == signal.SIGKILL:
            self._killpg(signal.SIGKILL)
            return self._reap(timeout)
        self.send_signal(sig)
        if sig == signal.SIGTERM:
            return self.wait_exit(timeout)
        return None

    def send_signal(self, sig):
        """Sends sig to the daemon and returns at once."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.last_signal = sig
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10):
        """After send_signal(): waits for the exit and returns its status.
        After SIGTERM or SIGINT anything but 0 is recorded as a problem."""
        assert self.proc is not None, "not running"
        rc = self._reap(timeout)
        if rc != 0 and getattr(self, "last_signal", None) in (signal.SIGTERM, signal.SIGINT):
            self.problems.append("sluiced exited with status %s after signal %d"
                                 % (rc, self.last_signal))
        return rc

    def restart(self, timeout=15):
        if self.proc is not None:
            self.stop()
        return self.start(timeout)

    def finish(self):
        """Teardown: stops the daemon; returns a list of problems (an
        unclean exit, a sanitizer report) that fail the test."""
        if self.proc is not None:
            self.stop()
        problems = list(self.problems)
        bad = [l for l in self.lines if SANITIZER_RE.search(l)]
        if bad:
            problems.append("sanitizer report in sluiced's log:\n" + "\n".join(bad[:20]))
        return problems

    # -- logs ------------------------------------------------------------
    @property
    def log(self):
        """Every stderr line so far, of every run (alias of lines)."""
        return self.lines

    @property
    def lines(self):
        cur = self.logs.lines if (self.logs and self.proc is not None) else []
        return self.all_lines + list(cur)

    def log_mark(self):
        """An index into the current run's log: wait_log(since=mark) only
        looks at lines written after it."""
        return len(self.logs.lines)

    def wait_log(self, regex, timeout=10, since=0):
        """Blocks until the current run logs a line matching regex."""
        return self.logs.wait(regex, timeout, since)

    def log_tail(self, n=40):
        return "\n".join(self.lines[-n:])

    # -- sluicectl -------------------------------------------------------
    def ctl(self, *args, timeout=20):
        return subprocess.run([SLUICECTL, "-c", str(self.conf)] + [str(a) for a in args],
                              capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ctl_ok(self, *args):
        r = self.ctl(*args)
        assert r.returncode == 0, "sluicectl %s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, args)), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))
        return r

    def queue_json(self, *args):
        r = self.ctl_ok("queue", "--json", *args)
        doc = json.loads(r.stdout)
        assert isinstance(doc.get("messages"), list), "queue --json: %r" % doc
        assert not doc.get("truncated"), "the listing was truncated"
        return doc["messages"]

    def show(self, qid):
        return json.loads(self.ctl_ok("queue", "show", qid, "--json").stdout)

    def cat(self, qid):
        return self.ctl_ok("queue", "cat", qid).stdout

    def body(self, qid):
        """The stored message without our Received header."""
        return strip_received(self.cat(qid))[1]

    def smtp(self, port=None, **kw):
        """A smtpwire.SMTPClient connected to a listener (default the first)."""
        from smtpwire import SMTPClient
        return SMTPClient(port or self.port, **kw)
