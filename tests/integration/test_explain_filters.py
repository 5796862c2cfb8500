"""`sluicectl explain` and the RCPT filters: each module's decision for a
message, as at RCPT, with no side effect (greylisting's triplet is not
touched, no HELO is recorded), the refusing module in the outcome and in
the JSON."""
import json

from rcpt_filters import policy, xforward_session

INBOUND = policy("inbound", 10, "recipient @example.net",
                 greylisting="period 1h",
                 helo="reject-invalid yes hrp 1 within 1h",
                 spf="reject-fail yes")


def explain(s, *args):
    r = s.ctl("explain", "--sender", "a@example.org", "--client-ip",
              "192.0.2.9", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_explain_shows_each_module_and_the_refusing_one(sluice):
    s = sluice(extra=INBOUND, relay_domains="example.net")
    out = explain(s, "--recipient", "bob@example.net", "--recipient",
                  "x@other.test", "--helo", "mx.example.org")
    assert "helo, spf and greylisting (at RCPT):" in out
    assert 'helo: "mx.example.org" is fqdn' in out
    assert "spf: on (reject-fail yes" in out
    assert "the domain example.org would be checked" in out
    assert "greylist=defer reason=greylisted net=192.0.2.0/24" in out
    assert ("bob@example.net: tempfail at RCPT (greylisting: 451 4.7.1 "
            "Greylisted, please try again in 3600 seconds)") in out
    assert "x@other.test: deliver now" in out
    out = explain(s, "--recipient", "bob@example.net", "--helo", "bad_helo")
    assert ("bob@example.net: reject at RCPT (helo: 501 5.5.2 <bad_helo>: "
            "Helo command rejected: Invalid name)") in out
    assert "greylist=" not in out, "greylisting after a refusal"
    r = s.ctl("explain", "--json", "--sender", "a@example.org",
              "--client-ip", "192.0.2.9", "--helo", "bad_helo",
              "--recipient", "bob@example.net")
    j = json.loads(r.stdout)
    assert j["recipients"][0]["filter"] == {
        "module": "helo", "verdict": "reject",
        "reply": "501 5.5.2 <bad_helo>: Helo command rejected: Invalid name"}
    assert j["recipients"][0]["verdict"] == "reject"


def test_explain_changes_nothing(sluice):
    """Explained three times, the triplet is still new and the HELOs
    explained are not counted by hrp: the first real message is deferred
    as a first attempt (tries=1) and its HELO is the client's first."""
    s = sluice(extra=INBOUND, relay_domains="example.net")
    for helo in ("one.example.org", "two.example.org", "three.example.org"):
        assert "tries=1 " in explain(s, "--recipient", "bob@example.net",
                                     "--helo", helo)
    status = json.loads(s.ctl("status", "--json").stdout)
    assert status["greylisting"]["triplets"] == 0
    assert status["helo"]["names"] == 0
    t = xforward_session(s.port, "192.0.2.9", "one.example.org",
                         "a@example.org", "bob@example.net")
    assert t.code("bob@example.net") == 451, t.replies
    s.wait_log(r"event=greylist client=\[192\.0\.2\.9\] from=<a@example\.org> "
               r"to=<bob@example\.net> greylist=defer reason=greylisted "
               r"net=192\.0\.2\.0/24 tries=1 ")
    status = json.loads(s.ctl("status", "--json").stdout)
    assert status["greylisting"]["triplets"] == 1
    assert status["helo"]["names"] == 1


def test_xforward_helo_unavailable_is_unknown_not_empty(sluice):
    """XFORWARD HELO=[UNAVAILABLE] says the original HELO is not known:
    nothing to check (as when no HELO attribute comes), never an empty
    name refused as invalid, never the peer's own HELO."""
    s = sluice(extra=policy("inbound", 10, "recipient @example.net",
                            helo="reject-invalid yes"),
               relay_domains="example.net")
    t = xforward_session(s.port, "192.0.2.10", None, "a@example.org",
                         "bob@example.net", ehlo="localhost")
    assert t.code("bob@example.net") == 250, t.replies
    assert t.data[0] == 250, t.replies
    t = xforward_session(s.port, "192.0.2.10", "bad_helo", "a@example.org",
                         "bob@example.net", ehlo="localhost")
    assert t.rcpt["bob@example.net"] == (
        501, "5.5.2 <bad_helo>: Helo command rejected: Invalid name"), t.replies


def test_explain_says_relay_access(sluice):
    s = sluice(extra=INBOUND, relay_domains="example.net",
               trusted="127.0.0.1/32")
    out = explain(s, "--recipient", "bob@example.net", "--recipient",
                  "x@other.test", "--helo", "mx.example.org")
    assert "relay access (at RCPT):" in out
    assert "recipient bob@example.net: in relay-domains" in out
    assert ("recipient x@other.test: not in relay-domains: relayed only for "
            "a trusted peer (mta1); a client outside trusted-networks that "
            "connects itself gets \"554 5.7.1 Relay access denied\"") in out
    r = s.ctl("explain", "--sender", "a@example.org", "--client-ip",
              "127.0.0.1", "--recipient", "x@other.test")
    assert "the client is in trusted-networks: relayed" in r.stdout.decode()
