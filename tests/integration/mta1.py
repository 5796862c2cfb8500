"""A private Postfix instance (mta1, or the benchmark's reference MTA).

Everything lives under one directory: etc/ (main.cf, master.cf), spool/
(queue_directory), data/ (data_directory) and maillog.  master runs in the
foreground (`postfix start-fg`) in its own process group, so the fixture
owns it and can always kill what it started.  Several instances run side
by side: each has its own directories, ports and multi_instance_name.

With sasl_users, smtpd offers SMTP AUTH through Cyrus SASL against a
private sasldb (etc/sasl/; no saslauthd, no dovecot) and writes
the login into its Received header ("(Authenticated sender: LOGIN)").
"""
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from harness import wait_for

SMTPD = "smtpd"


def _pc(etc, *args):
    subprocess.run(["postconf", "-c", str(etc)] + list(args), check=True,
                   capture_output=True, timeout=30)


class Postfix:
    """port: its smtpd listener on 127.0.0.1.  relay_port: where it relays
    all mail (relayhost [127.0.0.1]:relay_port), or None.  settings: more
    main.cf parameters (name -> value), applied last.  sasl_users:
    {"user@realm": password} turns SMTP AUTH on (PLAIN and LOGIN, also
    without TLS) with smtpd_sasl_authenticated_header = yes."""

    def __init__(self, workdir, name="mta1", port=None, relay_port=None,
                 settings=None, hostname="mta1.test", sasl_users=None):
        from harness import free_port
        self.dir = Path(workdir) / name
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.maillog = self.dir / "maillog"
        self.name = name
        self.port = port or free_port()
        self.proc = None
        self.master_pid = None
        for d in (self.dir, self.etc, self.spool, self.data):
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.chown(self.data, user="postfix")
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        (self.etc / "main.cf").write_text("# private test instance\n")
        params = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.spool),
            "data_directory": str(self.data),
            "meta_directory": "/etc/postfix",
            "multi_instance_name": "postfix-%s-%d" % (name, self.port),
            "multi_instance_enable": "yes",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.dir),
            "myhostname": hostname,
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
        }
        if relay_port:
            params.update({
                "relayhost": "[127.0.0.1]:%d" % relay_port,
                "smtp_send_xforward_command": "yes",
                "smtp_bind_address": "127.0.0.1",
            })
        if sasl_users:
            params.update(self._sasl(sasl_users))
        params.update(settings or {})
        _pc(self.etc, "-e", *["%s=%s" % kv for kv in params.items()])
        # the smtpd listener on our port only; no chroot (the spool is
        # not prepared as a chroot jail)
        _pc(self.etc, "-M#", "smtp/inet")
        _pc(self.etc, "-M", "127.0.0.1:%d/inet=127.0.0.1:%d inet n - n - - smtpd"
            % (self.port, self.port))
        _pc(self.etc, "-F", "*/*/chroot = n")

    def _sasl(self, users):
        """Cyrus SASL for smtpd: auxprop sasldb in a private file, named
        in etc/sasl/smtpd.conf.  Debian's Postfix looks for smtpd.conf in
        $config_directory/sasl (then /usr/lib/sasl) and ignores
        cyrus_sasl_config_path; upstream's uses that parameter: both find
        etc/sasl.  smtpd runs unchrooted, as the postfix user, so it
        reads both files in place.  Returns the main.cf parameters."""
        d = self.etc / "sasl"
        d.mkdir(mode=0o755, exist_ok=True)
        db = d / "sasldb2"
        (d / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\n"
            "auxprop_plugin: sasldb\n"
            "mech_list: PLAIN LOGIN\n"
            "sasldb_path: %s\n" % db)
        for login, password in users.items():
            user, at, realm = login.rpartition("@")
            assert at and user and realm, "a SASL login is user@realm: %r" % login
            subprocess.run(["saslpasswd2", "-f", str(db), "-c", "-p", "-u", realm, user],
                           input=password.encode(), check=True,
                           capture_output=True, timeout=30)
        # root-owned under config_directory (postfix check warns about
        # anything else), readable by smtpd through the postfix group
        shutil.chown(db, user="root", group="postfix")
        os.chmod(db, 0o640)
        return {
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": str(d),
            "smtpd_sasl_authenticated_header": "yes",
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_tls_auth_only": "no",
        }

    def postconf(self, *args):
        _pc(self.etc, *args)

    def _postfix(self, *args, check=True, timeout=60):
        r = subprocess.run(["postfix", "-c", str(self.etc)] + list(args),
                           capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("postfix %s failed (%d): %s%s\nmaillog:\n%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace"), self.maillog_text()[-3000:]))
        return r

    def maillog_text(self):
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout=30):
        self._postfix("check")
        self.out = open(self.dir / "master.out", "wb")
        self.proc = subprocess.Popen(["postfix", "-c", str(self.etc), "start-fg"],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        # POLLING: master announces itself only in the maillog file, and
        # then the listener must accept connections.
        wait_for(lambda: self.proc.poll() is not None or
                 "daemon started" in self.maillog_text(),
                 timeout, "Postfix %s master to start" % self.name)
        assert self.proc.poll() is None, "Postfix %s master exited (%s):\n%s" % (
            self.name, self.proc.returncode, self.maillog_text()[-3000:])
        wait_for(self._accepts, timeout, "Postfix %s smtpd on port %d" % (self.name, self.port))
        # master made itself a session leader: its group holds every
        # Postfix process of this instance
        self.master_pid = int((self.spool / "pid" / "master.pid").read_text().split()[0])
        return self

    def _accepts(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def stop(self, timeout=20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._postfix("stop", check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for pgid in (self.proc.pid, self.master_pid):
            if pgid is None:
                continue
            try:
                os.killpg(pgid, signal.SIGKILL)   # leftovers of its groups
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self.out.close()

    # -- queue and log --------------------------------------------------
    def queue_listing(self):
        """postqueue -p output (text)."""
        r = subprocess.run(["postqueue", "-c", str(self.etc), "-p"],
                           capture_output=True, timeout=60)
        return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")

    def queue_is_empty(self):
        return "Mail queue is empty" in self.queue_listing()

    def queue_count(self):
        """Messages in every queue (postqueue -j: one JSON object a line)."""
        r = subprocess.run(["postqueue", "-c", str(self.etc), "-j"],
                           capture_output=True, timeout=300, check=True)
        return sum(1 for l in r.stdout.splitlines() if l.strip())

    def wait_delivered(self, queue_id, timeout=30):
        """POLLING the maillog: waits for `QUEUEID: to=..., status=sent` and
        returns the whole line."""
        rx = re.compile(r"\b%s: to=<[^>]*>.*status=(\w+) (.*)$" % re.escape(queue_id), re.M)

        def sent():
            for m in rx.finditer(self.maillog_text()):
                if m.group(1) == "sent":
                    return m.group(0)
            return None
        try:
            return wait_for(sent, timeout, "mta1 to deliver %s" % queue_id, interval=0.1)
        except AssertionError:
            raise AssertionError("mta1 did not deliver %s within %ss; maillog tail:\n%s" % (
                queue_id, timeout, "\n".join(self.maillog_text().splitlines()[-20:])))

    def wait_maillog(self, regex, timeout=30):
        """POLLING the maillog: waits for a line matching regex (re.M)
        and returns the match."""
        rx = re.compile(regex, re.M)
        try:
            return wait_for(lambda: rx.search(self.maillog_text()), timeout,
                            "mta1 to log /%s/" % regex, interval=0.1)
        except AssertionError:
            raise AssertionError("mta1 did not log /%s/ within %ss; maillog tail:\n%s" % (
                regex, timeout, "\n".join(self.maillog_text().splitlines()[-20:])))

    def pids(self):
        """The instance's processes (master's group), for RSS accounting."""
        if self.master_pid is None:
            return []
        out = subprocess.run(["pgrep", "-g", str(self.master_pid)],
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
