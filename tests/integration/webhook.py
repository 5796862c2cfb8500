"""A recording HTTP receiver for sluiced's webhook notifiers, on 127.0.0.1.

    Receiver(host="127.0.0.1", port=None, *, status=200, statuses=None,
             respond=None, delay=0.0)

It listens on host:port (port None: a free one, chosen once and kept across
stop()/start_again(), so the notifier's URL stays right while the receiver
is down: a closed port, connections refused).  HTTP/1.1 with keep-alive,
as libcurl expects; stop() also cuts the connections kept open.

What it answers, decided per request in this order:
    respond     a callable(Request) -> status or (status, body): decides
                everything when set
    statuses    a list of status codes consumed one per request (a script:
                [500, 500, 500] then `status`)
    status      the answer once the script is used up (default 200)
    delay       seconds each answer waits (to see whether requests overlap)
Each may be changed from the test's thread at any time (set_script()).

What it records (the list only grows; waits are event-based, on a
Condition, never a fixed sleep):
    requests    every request, a Request (below), in the order they were
                answered (each is recorded once its answer is written)
    max_concurrent   the most requests it was answering at one moment

    Request: method, path, headers (a case-insensitive email.message
    Message), body (raw bytes), time (time.monotonic() at arrival), wall
    (time.time()), done (monotonic when answered), status (the answer),
    n (its number in arrival order, from 1: what a respond callable
    sees), seq (its place in requests, from 1); .json() parses the body;
    .json_pairs() keeps the key order.

    url(path="/hook")       http://127.0.0.1:PORT/hook
    wait(n, timeout)        blocks until n requests arrived; returns them
    wait_until(pred, timeout, what)  blocks until pred(receiver) is true
    events()                the JSON bodies of the requests so far

The fixture `receiver` (import it into a test module) starts receivers and
stops them all at the end: receiver(**kw) -> Receiver, listening.
"""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import free_port


class Request:
    def __init__(self, n, method, path, headers, body, t, wall):
        self.n = n
        self.seq = None
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.time = t
        self.wall = wall
        self.done = None
        self.status = None

    def json(self):
        return json.loads(self.body)

    def json_pairs(self):
        """The body's top-level object as a list of (key, value), in the
        order they were written (json would keep only the last of a
        repeated key)."""
        return json.loads(self.body, object_pairs_hook=list)

    def __repr__(self):
        return "Request(#%d %s %s, %d bytes, answered %s)" % (
            self.n, self.method, self.path, len(self.body), self.status)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, receiver):
        self.receiver = receiver
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address):
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def cut(self):
        """Resets every open connection (keep-alive ones included)."""
        with self.conns_lock:
            conns = list(self.conns)
            self.conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # the status line and headers, then the body, are two writes: with
    # Nagle's algorithm and the client's delayed ACK each answer on a
    # kept-alive connection would wait 40 ms
    disable_nagle_algorithm = True
    server_version = "webhook-receiver/1"

    def log_message(self, fmt, *args):     # quiet
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self):
        rcv = self.server.receiver
        t, wall = time.monotonic(), time.time()
        body = self._body()
        req = rcv._arrive(self.command, self.path, self.headers, body, t, wall)
        status, text = rcv._decide(req)
        if rcv.delay:
            time.sleep(rcv.delay)
        data = text.encode() if isinstance(text, str) else text
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        finally:
            rcv._answered(req, status)

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve


class Receiver:
    def __init__(self, host="127.0.0.1", port=None, *, status=200, statuses=None,
                 respond=None, delay=0.0):
        self.host = host
        self.port = port or free_port(host)
        self.status = status
        self.statuses = list(statuses or [])
        self.respond = respond
        self.delay = delay
        self.requests = []
        self.active = 0
        self.arrivals = 0
        self.max_concurrent = 0
        self.cond = threading.Condition()
        self.server = None
        self.thread = None

    # -- life cycle (test thread) ---------------------------------------
    def start(self):
        assert self.server is None, "receiver already running"
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = _Server((self.host, self.port), self)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Down: the port refuses connections and open ones are cut."""
        srv = self.server
        if srv is None:
            return
        self.server = None
        srv.shutdown()
        srv.server_close()
        srv.cut()
        self.thread.join(5)

    def start_again(self):
        """Up again, on the same host:port."""
        return self.start()

    @property
    def running(self):
        return self.server is not None

    def url(self, path="/hook"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    # -- script (any thread) ---------------------------------------------
    def set_script(self, statuses=None, status=None, respond=None):
        with self.cond:
            if statuses is not None:
                self.statuses = list(statuses)
            if status is not None:
                self.status = status
            self.respond = respond

    # -- waits and views (test thread) ----------------------------------
    def wait(self, n, timeout):
        """Blocks until at least n requests arrived; returns them all."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError("webhook receiver :%d got %d of %d requests "
                                     "in %ss: %r" % (self.port, len(self.requests),
                                                     n, timeout, self.requests))
            return list(self.requests)

    def wait_until(self, pred, timeout, what="condition"):
        with self.cond:
            v = self.cond.wait_for(lambda: pred(self), timeout)
            if not v:
                raise AssertionError("webhook receiver :%d: no %s within %ss "
                                     "(requests %d)" % (self.port, what, timeout,
                                                        len(self.requests)))
            return v

    def events(self):
        with self.cond:
            return [r.json() for r in self.requests]

    def ok(self):
        """The requests answered with a 2xx."""
        with self.cond:
            return [r for r in self.requests
                    if r.status is not None and 200 <= r.status < 300]

    # -- the server's threads --------------------------------------------
    def _arrive(self, method, path, headers, body, t, wall):
        with self.cond:
            self.arrivals += 1
            req = Request(self.arrivals, method, path, headers, body, t, wall)
            self.active += 1
            self.max_concurrent = max(self.max_concurrent, self.active)
            return req

    def _decide(self, req):
        with self.cond:
            respond = self.respond
            if respond is None:
                status = self.statuses.pop(0) if self.statuses else self.status
        if respond is not None:
            status = respond(req)
        if isinstance(status, tuple):
            return status
        return status, "%d\n" % status

    def _answered(self, req, status):
        with self.cond:
            req.status = status
            req.done = time.monotonic()
            self.active -= 1
            # recorded once answered: a waiter sees the status too
            self.requests.append(req)
            req.seq = len(self.requests)
            self.cond.notify_all()


@pytest.fixture
def receiver():
    """receiver(**kw) -> Receiver, listening; all stopped at the end."""
    started = []

    def start(**kw):
        r = Receiver(**kw)
        started.append(r)
        r.start()
        return r

    yield start
    for r in started:
        r.stop()
