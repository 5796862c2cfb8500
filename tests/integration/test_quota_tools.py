"""The policy engine's reports and tools: `sluicectl quota` (the usage per
quota and key, GET /v1/quotas), the overrides (`quota set|exempt|clear`,
POST /v1/quotas/...) and `sluicectl explain` (GET /v1/explain), against
the real daemon.

Quotas here use 1h windows aligned to the epoch; window_start() (from
test_policy) waits when less than a minute of the current one is left,
so that a test's mail is counted in one window."""
import json
import re
import time

from test_policy import ACCESS, quota, send, window_start
from test_queue_ops import api, to_epoch

HOUR = quota(period="1h", limit="messages 5", verdict="reject")


def out(r):
    return r.stdout.decode()


def quotas(s, *args):
    doc = json.loads(s.ctl_ok("quota", "--json", *args).stdout)
    assert isinstance(doc.get("quotas"), list), doc
    assert doc["count"] == len(doc["quotas"]), doc
    return doc["quotas"]


def explain(s, *args):
    return json.loads(s.ctl_ok("explain", "--json", *args).stdout)


def usage(s, key):
    """The single report entry of key."""
    q = quotas(s, "--key", key)
    assert len(q) == 1, q
    return q[0]


def test_report_per_key(sluice):
    s = sluice(extra=HOUR)
    end = window_start(3600, need=60)
    for sender in ("carol@example.com", "alice@example.com",
                   "alice@example.com"):
        assert send(s, sender)[1].code == 250
    q = quotas(s)
    assert [e["key"] for e in q] == ["alice@example.com", "carol@example.com"]
    a = q[0]
    assert (a["policy"], a["quota"], a["track"]) == \
        ("outbound", "per-user", "Sender:user@domain"), a
    assert (a["period"], a["window"]) == ("1h", "fixed"), a
    assert to_epoch(a["window_end"]) == end, a
    assert to_epoch(a["window_end"]) - to_epoch(a["window_start"]) == 3600
    assert a["limits"] == [{"unit": "messages", "limit": 5, "configured": 5,
                            "overridden": False, "used": 2,
                            "reserved": 0}], a
    assert a["last_release"] is None and a["override"] is None, a
    assert q[1]["limits"][0]["used"] == 1

    # the table, for people
    lines = out(s.ctl_ok("quota")).splitlines()
    assert re.match(r"POLICY/QUOTA\s+KEY\s+UNIT\s+USED/LIMIT\s+RESERVED\s+"
                    r"RESETS\s+BACKLOG$", lines[0]), lines
    assert re.match(r"outbound/per-user\s+alice@example\.com\s+messages\s+"
                    r"2/5\s+0\s+in \d", lines[1]), lines
    assert re.match(r"outbound/per-user\s+carol@example\.com\s+messages\s+"
                    r"1/5\s+0\s+in \d", lines[2]), lines
    assert len(lines) == 3, lines

    # --key: that key only; a key with nothing counted is no error
    assert [e["key"] for e in quotas(s, "--key", "carol@example.com")] == \
        ["carol@example.com"]
    assert quotas(s, "--key", "nobody@example.com") == []
    r = s.ctl_ok("quota", "--key", "nobody@example.com")
    assert out(r) == "nothing counted for nobody@example.com in the " \
        "current windows\n", out(r)
    # keys are normalised as the engine writes them: the domain's case
    assert usage(s, "alice@EXAMPLE.com")["key"] == "alice@example.com"


def test_report_of_several_limits_and_sizes(sluice):
    s = sluice(extra=quota(period="1h", limit="recipients 10",
                           verdict="reject", more="limit size 1M"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com", ["a@x.test", "b@x.test"],
                body="x" * 3000)[1].code == 250
    e = usage(s, "alice@example.com")
    units = {l["unit"]: l for l in e["limits"]}
    assert units["recipients"]["used"] == 2, e
    assert 3000 < units["size"]["used"] < 4000, e
    assert units["size"]["limit"] == 1048576, e
    lines = out(s.ctl_ok("quota")).splitlines()
    assert re.search(r"\srecipients\s+2/10\s", lines[1]), lines
    assert re.search(r"\ssize\s+\d\.\dK/1M\s", lines[2]), lines


def test_reserved_for_deferred_mail(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 1", verdict="defer"))
    end = window_start(3600, need=60)
    for _ in range(3):
        rr, d = send(s, "alice@example.com")
        assert d.code == 250, d
    e = usage(s, "alice@example.com")
    assert e["limits"][0]["used"] == 1, e
    assert e["limits"][0]["reserved"] == 2, e
    # one in each of the next two windows: the last leaves at the second
    assert to_epoch(e["last_release"]) == end + 3600, e
    r = s.ctl_ok("quota")
    assert re.search(r"1/1\s+2 \(last in 1h \d\dm \d\ds\)\s+in ", out(r)), \
        out(r)
    # explain: a fourth would wait behind them
    x = explain(s, "--sender", "alice@example.com",
                "--recipient", "bob@example.net")
    assert x["recipients"][0]["verdict"] == "defer", x
    assert to_epoch(x["recipients"][0]["release"]) == end + 2 * 3600, x
    assert x["quotas"][0]["verdict"] == "defer", x
    assert usage(s, "alice@example.com")["limits"][0]["reserved"] == 2


def test_set_raises_a_limit_and_survives_a_restart(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 1", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    r = s.ctl_ok("quota", "set", "alice@example.com", "3")
    assert out(r) == "quota override for alice@example.com: limit 3\n", out(r)
    s.wait_log(r"event=quota-override key=alice@example\.com action=set "
               r"limit=3")
    # the next message is counted against 3
    assert send(s, "alice@example.com")[1].code == 250
    e = usage(s, "alice@example.com")
    assert e["override"] == {"limit": 3}, e
    assert e["limits"][0]["limit"] == 3 and \
        e["limits"][0]["configured"] == 1, e
    assert re.search(r"2/3 \(override\)", out(s.ctl_ok("quota")))
    # others keep the configured limit
    assert send(s, "bob@example.com")[1].code == 250
    assert send(s, "bob@example.com")[1].code == 550

    s.restart()
    e = usage(s, "alice@example.com")
    assert e["override"] == {"limit": 3} and e["limits"][0]["used"] == 2, e
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    # --json gives the API's answer
    doc = json.loads(s.ctl_ok("quota", "set", "alice@example.com", "10",
                              "--json").stdout)
    assert doc == {"key": "alice@example.com", "action": "set",
                   "override": {"limit": 10}}, doc


def test_exempt_then_clear(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 1", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    r = s.ctl_ok("quota", "exempt", "alice@example.com")
    assert out(r) == "quota override for alice@example.com: exempt\n", out(r)
    s.wait_log(r"event=quota-override key=alice@example\.com action=exempt")
    for _ in range(2):
        assert send(s, "alice@example.com")[1].code == 250
    e = usage(s, "alice@example.com")
    assert e["override"] == "exempt", e
    assert e["limits"][0]["limit"] is None and e["limits"][0]["used"] == 3
    assert re.search(r"\s3/exempt\s", out(s.ctl_ok("quota")))
    x = explain(s, "--sender", "alice@example.com",
                "--recipient", "bob@example.net")
    assert x["quotas"][0]["exempt"] is True, x
    assert x["quotas"][0]["limit"] is None, x

    r = s.ctl_ok("quota", "clear", "alice@example.com")
    assert out(r) == "quota override for alice@example.com: cleared\n", out(r)
    s.wait_log(r"event=quota-override key=alice@example\.com action=clear$")
    assert send(s, "alice@example.com")[1].code == 550
    assert usage(s, "alice@example.com")["override"] is None
    r = s.ctl_ok("quota", "clear", "alice@example.com")
    assert out(r) == "no quota override for alice@example.com: nothing to " \
        "clear\n", out(r)
    # cleared for good: not back after a restart
    s.restart()
    assert usage(s, "alice@example.com")["override"] is None


def test_explain_shows_and_changes_nothing(sluice):
    s = sluice(extra=quota(period="1h", limit="messages 3", verdict="reject"))
    window_start(3600, need=60)
    assert send(s, "alice@example.com")[1].code == 250
    args = ("--sender", "alice@example.com", "--recipient", "bob@example.net",
            "--client-ip", "192.0.2.7", "--helo", "client.test",
            "--size", "10K")
    mark = s.log_mark()
    for _ in range(3):
        x = explain(s, *args)
    # explain logs no decision
    assert not [l for l in s.logs.lines[mark:] if "event=quota" in l], \
        s.logs.lines[mark:]
    assert x["refused"] is None, x
    assert x["recipients"] == [{"address": "bob@example.net", "access": None, "filter": None,
                                "verdict": "deliver", "release": None}], x
    u = x["quotas"][0]
    assert (u["policy"], u["quota"], u["key"], u["unit"]) == \
        ("outbound", "per-user", "alice@example.com", "messages"), u
    assert (u["used"], u["amount"], u["limit"], u["verdict"]) == \
        (1, 1, 3, "within"), u
    assert to_epoch(u["window_end"]) - to_epoch(u["window_start"]) == 3600
    assert "policy outbound (priority 10) matches" in x["trace"], x["trace"]
    assert "key alice@example.com: messages 1+1/3" in x["trace"], x["trace"]
    assert "client 192.0.2.7" in x["trace"] and "size 10240" in x["trace"]

    # explain counted nothing: the next real message is the second
    assert usage(s, "alice@example.com")["limits"][0]["used"] == 1
    rr, d = send(s, "alice@example.com")
    assert d.code == 250
    s.wait_log(r"queue_id=%s event=quota .*quota=2\.00/3 " % d.queue_id)

    # the human form: the trace, then each recipient's outcome
    r = s.ctl_ok("explain", *args)
    assert "quota outbound/per-user" in out(r), out(r)
    assert out(r).endswith("\nbob@example.net: deliver now\n"), out(r)

    # over the limit: refused, and said so
    assert send(s, "alice@example.com")[1].code == 250
    x = explain(s, *args)
    assert x["refused"] == {"verdict": "reject", "reply":
                            "550 5.7.1 Quota exceeded (outbound/per-user)"}, x
    assert x["quotas"][0]["verdict"] == "reject", x
    assert x["recipients"][0]["verdict"] == "reject", x
    r = s.ctl_ok("explain", *args)
    assert "message refused: 550 5.7.1 Quota exceeded" in out(r), out(r)
    # another sender is within
    x = explain(s, "--sender", "carol@example.com",
                "--recipient", "bob@example.net")
    assert x["quotas"][0]["used"] == 0 and \
        x["recipients"][0]["verdict"] == "deliver", x


def test_explain_with_access_rules(sluice):
    s = sluice(extra=ACCESS)
    window_start(3600, need=60)
    x = explain(s, "--sender", "user@example.com",
                "--recipient", "x@blocked.test", "--recipient", "y@fine.test",
                "--recipient", "z@quarantine.test")
    r = {e["address"]: e for e in x["recipients"]}
    assert r["x@blocked.test"]["access"] == {"policy": "deny",
                                             "verdict": "reject"}, x
    assert r["x@blocked.test"]["verdict"] == "reject"
    assert r["y@fine.test"]["access"] is None
    assert r["y@fine.test"]["verdict"] == "deliver"
    assert r["z@quarantine.test"]["access"] == {"policy": "quarantine",
                                                "verdict": "hold"}
    assert r["z@quarantine.test"]["verdict"] == "hold"
    # the refused recipient never reaches DATA: one message, two recipients
    assert [(u["key"], u["used"], u["amount"]) for u in x["quotas"]] == \
        [("user@example.com", 0, 1)], x
    assert "Mail to this domain is not allowed" in x["trace"], x["trace"]
    out_ = out(s.ctl_ok("explain", "--sender", "user@example.com",
                        "--recipient", "x@blocked.test"))
    assert out_.endswith("x@blocked.test: reject at RCPT (policy deny)\n"), \
        out_
    # access ok: no quota counts the ceo
    x = explain(s, "--sender", "ceo@example.com",
                "--recipient", "y@fine.test")
    assert x["recipients"][0]["access"] == {"policy": "vip", "verdict": "ok"}
    assert x["recipients"][0]["verdict"] == "deliver" and x["quotas"] == [], x
    assert "accepted, no quota counts it" in x["trace"], x["trace"]


def test_bad_arguments(sluice):
    s = sluice(extra=HOUR)
    usage_errors = [
        ("explain", "--recipient", "b@x.test"),
        ("explain", "--sender", "a@x.test"),
        ("explain", "--sender", "a@x.test", "--recipient", "b@x.test",
         "--client-ip", "not-an-ip"),
        ("explain", "--sender", "a@x.test", "--recipient", "b@x.test",
         "--size", "lots"),
        ("explain", "--sender", "a@x.test", "--recipient", "b@x.test", "x"),
        ("explain", "--sender", "a@x.test", "--recipient", "b@x.test",
         "--key", "k"),
        ("quota", "set", "alice@example.com"),
        ("quota", "set", "alice@example.com", "many"),
        ("quota", "exempt"),
        ("quota", "clear", "a", "b"),
        ("quota", "bogus"),
        ("quota", "set", "--key", "a", "b"),
        ("quota", "--recipient", "b@x.test"),
        ("status", "--key", "k"),
        ("queue", "--helo", "h"),
    ]
    for args in usage_errors:
        r = s.ctl(*args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith(b"sluicectl: "), (args, r.stderr)
    assert b"--client-ip" in s.ctl(*usage_errors[2]).stderr
    assert b"missing --sender" in s.ctl(*usage_errors[0]).stderr

    # the API refuses bad input itself, with a message
    bad = [
        ("GET", "/v1/explain?sender=a@x.test", "recipient= is required"),
        ("GET", "/v1/explain?recipient=b@x.test", "sender= is required"),
        ("GET", "/v1/explain?sender=a&recipient=b&client_ip=300.1.1.1",
         "client_ip: not an IPv4 or IPv6 address"),
        ("GET", "/v1/explain?sender=a&recipient=b&size=big",
         "size: not a number"),
        ("GET", "/v1/explain?sender=a&recipient=b&colour=red",
         "unknown query parameter: colour"),
        ("GET", "/v1/quotas?key=a&key=b", "key= given twice"),
        ("POST", "/v1/quotas/set?key=a@x.test", "limit= is required"),
        ("POST", "/v1/quotas/set?key=a@x.test&limit=-1", "limit: not a"),
        ("POST", "/v1/quotas/exempt", "key= is required"),
        ("POST", "/v1/quotas/exempt?key=a%0Ab", "control characters"),
        ("POST", "/v1/quotas/clear?key=a&limit=3", "limit= is for set only"),
    ]
    for method, path, msg in bad:
        status, doc, _ = api(s, method, path)
        assert status == 400 and msg in doc["error"], (path, status, doc)
    assert api(s, "POST", "/v1/quotas")[0] == 405
    assert api(s, "GET", "/v1/quotas/set?key=a&limit=1")[0] == 405
    assert api(s, "POST", "/v1/explain?sender=a&recipient=b")[0] == 405
    assert api(s, "POST", "/v1/quotas/raise?key=a")[0] == 404
    # nothing of that was stored
    assert not [l for l in s.log if "event=quota-override" in l]


def test_override_while_the_client_hangs_up(sluice):
    """The override is stored and applied even when nobody waits for the
    reply (api_ops.c's request lifetime, shared with the queue ops)."""
    import socket
    s = sluice(extra=quota(period="1h", limit="messages 1", verdict="reject"))
    window_start(3600, need=60)
    for _ in range(20):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(s.admin_socket))
        c.sendall(b"POST /v1/quotas/set?key=alice@example.com&limit=2 "
                  b"HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        c.close()
    s.wait_log(r"event=quota-override key=alice@example\.com action=set "
               r"limit=2")
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 250
    assert send(s, "alice@example.com")[1].code == 550
    status, doc, _ = api(s, "GET", "/v1/status")
    assert status == 200
