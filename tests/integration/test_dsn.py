"""Delivery status notifications read back by another implementation:
build/tools/dsn_make prints what relay/dsn builds, and Python's email
package (policy default) must see a multipart/report whose
message/delivery-status part has the per-message and per-recipient fields
we wrote, with no parser defects, no smuggled header and no long line."""
import email
import email.policy
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DSN_MAKE = ROOT / "build" / "tools" / "dsn_make"
NOW = 1767225600  # 2026-01-01 00:00:00 UTC

ORIGINAL = (b"From: Alice <alice@example.com>\r\n"
            b"To: Bob <bob@example.net>\r\n"
            b"Subject: hello\r\n"
            b"Message-ID: <m1@example.com>\r\n"
            b"\r\n"
            b"Hi Bob.\r\n")


def make(tmp_path, *args, original=ORIGINAL):
    assert DSN_MAKE.exists(), "run `make tools` first"
    path = tmp_path / "original.eml"
    path.write_bytes(original)
    env = dict(os.environ, TZ="UTC")
    p = subprocess.run([str(DSN_MAKE), "-m", str(path), *args],
                       capture_output=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    raw = p.stdout
    for line in raw.split(b"\r\n")[:-1]:
        assert b"\n" not in line and b"\r" not in line
        assert len(line) <= 998
    assert raw.endswith(b"\r\n")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    return raw, msg


def report_parts(msg, report_type="delivery-status"):
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == report_type
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    return parts


def status_blocks(part):
    assert part.get_content_type() == "message/delivery-status"
    blocks = part.get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2
    return blocks[0], blocks[1:]


def test_one_failed_recipient(tmp_path):
    _, msg = make(tmp_path, "-r", "failed:5.1.1:bob@example.net",
                  "-M", "mx.example.net",
                  "-d", "550 5.1.1 <bob@example.net>: user unknown",
                  "-t", str(NOW - 10))
    assert msg["From"] == ("Mail Delivery System "
                           "<MAILER-DAEMON@relay.example.com>")
    assert msg["To"].addresses[0].addr_spec == "alice@example.com"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"].startswith("<20260101000000.")
    parts = report_parts(msg)
    assert len(parts) == 3
    text = parts[0].get_content()
    assert "<bob@example.net>: host mx.example.net said: 550 5.1.1" in text
    per_msg, rcpts = status_blocks(parts[1])
    assert per_msg["Reporting-MTA"] == "dns; relay.example.com"
    assert per_msg["X-Sluice-Queue-ID"] == "0ABCDEFGHIJ12345"
    assert per_msg["Arrival-Date"] == "Wed, 31 Dec 2025 23:00:00 +0000"
    (r,) = rcpts
    assert r["Final-Recipient"] == "rfc822; bob@example.net"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; mx.example.net"
    assert r["Diagnostic-Code"] == ("smtp; 550 5.1.1 <bob@example.net>: "
                                    "user unknown")
    assert r["Last-Attempt-Date"] == "Wed, 31 Dec 2025 23:59:50 +0000"
    assert parts[2].get_content_type() == "message/rfc822"
    returned = parts[2].get_payload()[0]
    assert returned["Subject"] == "hello"
    assert "Hi Bob." in returned.get_content()


def test_mixed_and_delayed(tmp_path):
    _, msg = make(tmp_path,
                  "-r", "failed:5.1.1:bob@example.net", "-M", "mx.example.net",
                  "-d", "550 5.1.1 user unknown",
                  "-r", "failed:5.7.1:carol@example.org",
                  "-o", "Carol@Example.ORG", "-M", "mx.example.org",
                  "-d", "554 5.7.1 relay denied",
                  "-r", "delayed:4.4.1:dave@example.org", "-L",
                  "-d", "connection timed out", "-t", str(NOW),
                  "-u", str(NOW + 4 * 86400))
    _, rcpts = status_blocks(report_parts(msg)[1])
    assert [r["Action"] for r in rcpts] == ["failed", "failed", "delayed"]
    assert [r["Status"] for r in rcpts] == ["5.1.1", "5.7.1", "4.4.1"]
    assert rcpts[0]["Original-Recipient"] is None
    assert rcpts[1]["Original-Recipient"] == "rfc822; Carol@Example.ORG"
    assert rcpts[2]["Diagnostic-Code"] == "X-Sluice; connection timed out"
    assert rcpts[2]["Will-Retry-Until"] == "Mon, 5 Jan 2026 00:00:00 +0000"
    assert rcpts[0]["Will-Retry-Until"] is None


def test_delay_notification(tmp_path):
    _, msg = make(tmp_path, "-r", "delayed:4.7.0:bob@example.net", "-L",
                  "-d", "held by quota per-user", "-u", str(NOW + 86400),
                  "-e", str(NOW + 1800))
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    parts = report_parts(msg)
    assert "Expected to be sent: Thu, 1 Jan 2026 00:30:00 +0000" in \
        parts[0].get_content()
    _, (r,) = status_blocks(parts[1])
    assert r["Action"] == "delayed"
    assert r["Will-Retry-Until"] == "Fri, 2 Jan 2026 00:00:00 +0000"
    assert r["X-Sluice-Expected-Release"] == "Thu, 1 Jan 2026 00:30:00 +0000"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"Hi Bob." not in parts[2].get_payload(decode=True)


def test_injection(tmp_path):
    raw, msg = make(tmp_path, "-s", "alice@example.com\r\nBcc: x@evil.test",
                    "-r", "failed:5.1.1:bob@example.net\r\nBcc: y@evil.test",
                    "-M", "mx.example.net\r\nX-Injected: 1",
                    "-d", "550 no\r\nX-Injected: 2\r\n\r\nX-Injected: 3")
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert sorted(msg.keys()) == sorted([
        "Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted",
        "MIME-Version", "Content-Type"])
    _, (r,) = status_blocks(report_parts(msg)[1])
    assert r["X-Injected"] is None and r["Bcc"] is None
    assert r["Diagnostic-Code"] == ("smtp; 550 no X-Injected: 2 "
                                    "X-Injected: 3")
    assert b"\r\nBcc:" not in raw and b"\r\nX-Injected:" not in raw


def test_huge_original_headers_only(tmp_path):
    big = ORIGINAL + b"0123456789abcdef " * 60 + b"\r\n"
    big += (b"x" * 70 + b"\r\n") * 3000
    _, msg = make(tmp_path, "-r", "failed:5.2.2:bob@example.net",
                  "-d", "552 mailbox full", original=big)
    parts = report_parts(msg)
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert b"Subject: hello" in parts[2].get_payload(decode=True)
    assert "Only the headers" in parts[0].get_content()


def test_long_diagnostic(tmp_path):
    diag = "550 " + " ".join("word%d" % i for i in range(400))
    raw, msg = make(tmp_path, "-r", "failed:5.0.0:bob@example.net",
                    "-d", diag)
    assert len(diag) > 998
    _, (r,) = status_blocks(report_parts(msg)[1])
    assert r["Diagnostic-Code"] == "smtp; " + diag


def test_utf8_recipient(tmp_path):
    _, msg = make(tmp_path, "-r", "failed:5.1.1:jörg@bücher.example",
                  "-d", "550 unknown")
    parts = report_parts(msg, "global-delivery-status")
    assert parts[1].get_content_type() == "message/global-delivery-status"
    raw = parts[1].as_bytes(policy=email.policy.SMTPUTF8)
    assert "Final-Recipient: utf-8; jörg@bücher.example".encode() in raw


def test_null_sender_refused(tmp_path):
    p = subprocess.run([str(DSN_MAKE), "-s", "", "-r",
                        "failed:5.1.1:bob@example.net"], capture_output=True)
    assert p.returncode == 1 and p.stdout == b""
