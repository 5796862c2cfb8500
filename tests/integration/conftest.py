"""Fixtures of the integration suite: the real sluiced, a private Postfix
(mta1) and a recording SMTP sink, all on 127.0.0.1 with fresh ports and
fresh temp directories.  Every process a test starts is stopped by its
fixture's finalizer, whatever the outcome.

    sluice(extra="", **kw) -> harness.Sluiced, started (event=ready seen)
        kw: listen=("", "tls", ("::1", "")...), trusted=..., relay_domains=...,
            limits={...}, hostname=..., tls=True (adds the test certificate)
    mta1(relay_port=None, settings=None, name="mta1") -> mta1.Postfix, started
    sink(host="127.0.0.1", **opts) -> sinks.Sink, started: .port, .messages,
        .wait(n, timeout); opts: cert/key, tls_required, auth={user: pass},
        rcpt_replies={addr: reply}, mail_reply, data_reply; stop()/start_again()
    tls_cert -> (cert_path, key_path), session-wide, self-signed CN localhost
    workdir -> Path, 0755, removed after a passing test (kept on failure)
"""
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import Sluiced, make_cert, make_workdir  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    if getattr(request.node, "sluice_problems", False):
        return True
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture(scope="session")
def sluice_user():
    harness.ensure_user()
    return harness.SLUICE_USER


@pytest.fixture(scope="session")
def tls_cert():
    d = make_workdir("sluice-cert-")
    cert, key = make_cert(d)
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def workdir(request):
    d = make_workdir()
    yield d
    if _failed(request):
        print("\nkept the test's directory: %s" % d)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sluice(request, workdir, tls_cert, sluice_user):
    for path in (harness.SLUICED, harness.SLUICECTL):
        if not Path(path).is_file():
            pytest.fail("%s is not built (run make)" % path)
    started = []

    def start(extra="", tls=True, **kw):
        sub = workdir / ("sluice%d" % len(started) if started else "sluice")
        sub.mkdir(mode=0o755)
        cert, key = tls_cert if tls else (None, None)
        s = Sluiced(sub, cert=cert, key=key, extra=extra, **kw)
        started.append(s)
        s.start()
        return s

    yield start
    problems = []
    for s in started:
        try:
            problems += s.finish()
        except Exception as e:  # keep stopping the others
            problems.append("stopping sluiced: %r" % e)
        if _failed(request) or problems:
            print("\nsluiced log (%s), tail:\n%s" % (s.logfile, s.log_tail(60)))
    if problems:
        request.node.sluice_problems = True
        pytest.fail("sluiced: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def mta1(workdir):
    from mta1 import Postfix
    started = []

    def start(relay_port=None, settings=None, name="mta1", **kw):
        p = Postfix(workdir, name=name, relay_port=relay_port, settings=settings, **kw)
        started.append(p)
        p.start()
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def sink():
    """start(host="127.0.0.1", port=None, *, cert=None, key=None,
    tls_required=False, auth=None, rcpt_replies=None, mail_reply=None,
    data_reply=None, pipelining=False, ...) -> sinks.Sink, listening.
    sink.stop() / sink.start_again() take its next hop down and up on the
    same host:port; the fixture stops every sink at the end.  See sinks.py."""
    from sinks import Sink     # aiosmtpd: imported when a test uses a sink
    started = []

    def start(host="127.0.0.1", port=None, **kw):
        s = Sink(host, port, **kw)
        started.append(s)
        s.start()
        return s

    yield start
    for s in started:
        s.stop()
