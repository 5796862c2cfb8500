/*
 * test_dsn: delivery status notifications, read back with a small MIME
 * checker: CRLF everywhere, no line over 998 octets, the top-level header,
 * the boundary and the three parts, the report's per-message and
 * per-recipient fields; hostile addresses and replies make no header line
 * of their own; a large original comes back as headers only.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "relay/dsn.h"
#include "t.h"

#define NOW	1767225600	/* 2026-01-01 00:00:00 UTC */
#define HOST	"relay.example.com"
#define QID	"0ABCDEFGHIJ12345"

static const char original[] =
    "Return-Path: <alice@example.com>\r\n"
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "\r\n"
    "Hi Bob.\r\n"
    "THE-BODY-LINE\r\n";

/* A span of the output. */
struct span {
	const char	*p;
	size_t		 n;
};

struct part {
	struct span	 hdr;
	struct span	 body;
};

struct parsed {
	struct span	 hdr;
	char		 bnd[128];
	struct part	 part[8];
	size_t		 nparts;
	bool		 closed;	/* the close delimiter was seen */
};

/* CRLF line ends only, no NUL, no line over 998 octets. */
static bool
lines_ok(const char *m, size_t n, char *why, size_t whysz)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (m[i] == '\0') {
			snprintf(why, whysz, "NUL at %zu", i);
			return false;
		}
		if (m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n')) {
			snprintf(why, whysz, "bare CR at %zu", i);
			return false;
		}
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) {
			snprintf(why, whysz, "bare LF at %zu", i);
			return false;
		}
		if (m[i] == '\n')
			col = 0;
		else if (m[i] != '\r' && ++col > 998) {
			snprintf(why, whysz, "line over 998 at %zu", i);
			return false;
		}
	}
	if (n < 2 || m[n - 2] != '\r' || m[n - 1] != '\n') {
		snprintf(why, whysz, "no final CRLF");
		return false;
	}
	snprintf(why, whysz, "ok");
	return true;
}

static const char *
find(struct span s, const char *needle)
{
	return memmem(s.p, s.n, needle, strlen(needle));
}

/* The unfolded value of the first field called name in a header block,
 * or NULL; *count gets how many there are.  The caller frees. */
static char *
field(struct span h, const char *name, int *count)
{
	const char *p = h.p, *end = h.p + h.n, *eol;
	size_t nl = strlen(name);
	struct buf v = BUF_INIT;
	bool found = false;
	int cnt = 0;

	while (p < end) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			cnt++;
			if (!found) {
				found = true;
				buf_add(&v, p + nl + 1,
				    (size_t)(eol - p) - nl - 1);
				while (eol + 2 < end && (eol[2] == ' ' ||
				    eol[2] == '\t')) {
					p = eol + 2;
					eol = memmem(p, (size_t)(end - p),
					    "\r\n", 2);
					if (eol == NULL)
						eol = end;
					buf_add(&v, p, (size_t)(eol - p));
				}
			}
		}
		p = eol + 2;
	}
	if (count)
		*count = cnt;
	if (!found)
		return NULL;
	p = v.data;
	while (*p == ' ' || *p == '\t')
		p++;
	p = strdup(p);
	buf_free(&v);
	return (char *)p;
}

/* Whether field name's value is want (unfolded). */
static void
check_field(struct span h, const char *name, const char *want,
    const char *what)
{
	char *got = field(h, name, NULL);
	char label[256];

	snprintf(label, sizeof(label), "%s: %s", what, name);
	T_EQ_STR(got, want, label);
	free(got);
}

/* Splits a header block and a body at the first empty line. */
static void
split_entity(const char *p, size_t n, struct span *hdr, struct span *body)
{
	const char *e = memmem(p, n, "\r\n\r\n", 4);

	hdr->p = p;
	if (e == NULL) {
		hdr->n = n;
		body->p = p + n;
		body->n = 0;
		return;
	}
	hdr->n = (size_t)(e - p) + 2;
	body->p = e + 4;
	body->n = n - hdr->n - 2;
}

static bool
parse(const char *m, size_t n, struct parsed *pm)
{
	struct span body, rest;
	char *ct, *b, *q;
	char delim[140];
	const char *d, *next;

	memset(pm, 0, sizeof(*pm));
	split_entity(m, n, &pm->hdr, &body);
	if ((ct = field(pm->hdr, "Content-Type", NULL)) == NULL)
		return false;
	b = strstr(ct, "boundary=\"");
	if (b == NULL || (q = strchr(b + 10, '"')) == NULL) {
		free(ct);
		return false;
	}
	*q = '\0';
	snprintf(pm->bnd, sizeof(pm->bnd), "%s", b + 10);
	free(ct);
	snprintf(delim, sizeof(delim), "\r\n--%s", pm->bnd);
	rest = body;
	d = memmem(rest.p, rest.n, delim, strlen(delim));
	while (d != NULL && pm->nparts < 8) {
		d += strlen(delim);
		if ((size_t)(body.p + body.n - d) >= 2 && d[0] == '-' &&
		    d[1] == '-') {
			pm->closed = true;
			break;
		}
		if (memcmp(d, "\r\n", 2) != 0)
			return false;
		d += 2;
		next = memmem(d, (size_t)(body.p + body.n - d), delim,
		    strlen(delim));
		if (next == NULL)
			return false;
		split_entity(d, (size_t)(next - d),
		    &pm->part[pm->nparts].hdr, &pm->part[pm->nparts].body);
		pm->nparts++;
		d = next;
	}
	return pm->closed;
}

/* The blocks of a delivery-status body, split at empty lines. */
static size_t
blocks(struct span body, struct span *out, size_t max)
{
	const char *p = body.p, *end = body.p + body.n, *e;
	size_t n = 0;

	while (p < end && n < max) {
		e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		out[n].p = p;
		out[n].n = e ? (size_t)(e - p) + 2 : (size_t)(end - p);
		if (out[n].n > 0)
			n++;
		p = e ? e + 4 : end;
	}
	return n;
}

/* Builds, checks the lines and the MIME shape; fills pm. */
static bool
build(const struct dsn_report *r, struct buf *out, struct parsed *pm,
    const char *what)
{
	const char *err = NULL;
	unsigned flags = 0;
	char why[64], label[200];
	bool ok;

	buf_reset(out);
	ok = dsn_build(r, out, &flags, &err) == 0;
	snprintf(label, sizeof(label), "%s: builds", what);
	T_EQ_STR(ok ? "built" : err, "built", label);
	if (!ok)
		return false;
	lines_ok(out->data, out->len, why, sizeof(why));
	snprintf(label, sizeof(label), "%s: CRLF lines of <= 998", what);
	T_EQ_STR(why, "ok", label);
	ok = parse(out->data, out->len, pm);
	snprintf(label, sizeof(label), "%s: MIME structure", what);
	T_OK(ok, label);
	return ok;
}

static struct dsn_report
base_report(const struct dsn_rcpt *rc, size_t n)
{
	struct dsn_report r;

	memset(&r, 0, sizeof(r));
	r.hostname = HOST;
	r.queue_id = QID;
	r.arrival = NOW - 3600;
	r.sender = "alice@example.com";
	r.msg = original;
	r.msg_len = sizeof(original) - 1;
	r.rcpts = rc;
	r.nrcpt = n;
	r.now = NOW;
	r.seed = 0x1234;
	return r;
}

static void
test_one_failed(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_FAILED,
		.status = "5.1.1", .remote_mta = "mx.example.net",
		.diag = "550 5.1.1 <bob@example.net>: user unknown",
		.diag_is_reply = true, .last_attempt = NOW - 10,
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT, again = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	const char *w = "one failed";
	char *ct;

	if (!build(&r, &out, &pm, w))
		goto done;
	check_field(pm.hdr, "From", "Mail Delivery System "
	    "<MAILER-DAEMON@relay.example.com>", w);
	check_field(pm.hdr, "To", "<alice@example.com>", w);
	check_field(pm.hdr, "Subject", "Undelivered Mail Returned to Sender",
	    w);
	check_field(pm.hdr, "Date", "Thu, 1 Jan 2026 00:00:00 +0000", w);
	check_field(pm.hdr, "Message-ID",
	    "<20260101000000." QID ".B.1234@relay.example.com>", w);
	check_field(pm.hdr, "Auto-Submitted", "auto-replied", w);
	check_field(pm.hdr, "MIME-Version", "1.0", w);
	check_field(pm.hdr, "Content-Transfer-Encoding", NULL, w);
	ct = field(pm.hdr, "Content-Type", NULL);
	T_OK(ct && strncmp(ct, "multipart/report; report-type=delivery-status;"
	    " boundary=\"", 57) == 0, "one failed: multipart/report");
	free(ct);
	T_EQ_STR(pm.bnd, "=_sluice_" QID "_0000000000001234",
	    "one failed: boundary from the seed");
	T_EQ_INT(pm.nparts, 3, "one failed: three parts");
	check_field(pm.part[0].hdr, "Content-Type",
	    "text/plain; charset=us-ascii", w);
	check_field(pm.part[1].hdr, "Content-Type", "message/delivery-status",
	    w);
	check_field(pm.part[2].hdr, "Content-Type", "message/rfc822", w);
	T_OK(find(pm.part[0].body, "\r\n\r\n<bob@example.net>: host "
	    "mx.example.net said: 550 5.1.1 <bob@example.net>: user\r\n"
	    "    unknown\r\n"),
	    "one failed: the text says who and why, wrapped");
	T_OK(find(pm.part[0].body, "Your message is attached"),
	    "one failed: the text says the message is attached");
	T_OK(find(pm.part[2].body, "THE-BODY-LINE\r\n"),
	    "one failed: the whole original is returned");
	T_EQ_INT(blocks(pm.part[1].body, bl, 8), 2, "one failed: two blocks");
	check_field(bl[0], "Reporting-MTA", "dns; relay.example.com", w);
	check_field(bl[0], "X-Sluice-Queue-ID", QID, w);
	check_field(bl[0], "X-Sluice-Sender", "rfc822; alice@example.com", w);
	check_field(bl[0], "Arrival-Date", "Wed, 31 Dec 2025 23:00:00 +0000",
	    w);
	check_field(bl[1], "Final-Recipient", "rfc822; bob@example.net", w);
	check_field(bl[1], "Original-Recipient", NULL, w);
	check_field(bl[1], "Action", "failed", w);
	check_field(bl[1], "Status", "5.1.1", w);
	check_field(bl[1], "Remote-MTA", "dns; mx.example.net", w);
	check_field(bl[1], "Diagnostic-Code",
	    "smtp; 550 5.1.1 <bob@example.net>: user unknown", w);
	check_field(bl[1], "Last-Attempt-Date",
	    "Wed, 31 Dec 2025 23:59:50 +0000", w);
	check_field(bl[1], "Will-Retry-Until", NULL, w);

	dsn_build(&r, &again, NULL, NULL);
	T_OK(again.len == out.len && memcmp(again.data, out.data,
	    out.len) == 0, "one failed: same input, same bytes");
	buf_reset(&again);
	r.seed = 99;
	dsn_build(&r, &again, NULL, NULL);
	T_OK(strstr(again.data, "=_sluice_" QID "_0000000000000063") != NULL,
	    "one failed: another seed, another boundary");
done:
	buf_free(&again);
	buf_free(&out);
}

static void
test_mixed(void)
{
	struct dsn_rcpt rc[] = {
		{ .addr = "bob@example.net", .action = DSN_FAILED,
		  .status = "5.1.1", .remote_mta = "mx.example.net",
		  .diag = "550 5.1.1 user unknown", .diag_is_reply = true,
		  .last_attempt = NOW },
		{ .addr = "carol@example.org", .orig = "Carol@Example.ORG",
		  .action = DSN_FAILED, .status = "4.4.7",
		  .diag = "delivery time expired", .last_attempt = NOW },
		{ .addr = "dave@example.org", .action = DSN_DELAYED,
		  .status = "4.4.1", .diag = "connection timed out",
		  .last_attempt = NOW, .retry_until = NOW + 4 * 86400 },
		{ .addr = "erin@example.org", .action = DSN_FAILED,
		  .status = "bogus" },
	};
	struct dsn_report r = base_report(rc, 4);
	struct buf out = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	const char *w = "mixed";

	if (!build(&r, &out, &pm, w))
		goto done;
	check_field(pm.hdr, "Subject", "Undelivered Mail Returned to Sender",
	    w);
	T_EQ_INT(blocks(pm.part[1].body, bl, 8), 5, "mixed: five blocks");
	check_field(bl[1], "Action", "failed", w);
	check_field(bl[1], "Original-Recipient", NULL, w);
	check_field(bl[2], "Final-Recipient", "rfc822; carol@example.org", w);
	check_field(bl[2], "Original-Recipient", "rfc822; Carol@Example.ORG",
	    w);
	check_field(bl[2], "Status", "4.4.7", w);
	check_field(bl[2], "Diagnostic-Code", "X-Sluice; delivery time expired",
	    w);
	check_field(bl[2], "Remote-MTA", NULL, w);
	check_field(bl[3], "Action", "delayed", w);
	check_field(bl[3], "Status", "4.4.1", w);
	check_field(bl[3], "Will-Retry-Until", "Mon, 5 Jan 2026 00:00:00 +0000",
	    w);
	check_field(bl[4], "Status", "5.0.0", w);
	check_field(bl[4], "Diagnostic-Code", NULL, w);
	T_OK(find(pm.part[0].body, "<carol@example.org>: delivery time "
	    "expired"), "mixed: our own reason in the text");
	T_OK(find(pm.part[0].body, "<dave@example.org>: connection timed "
	    "out\r\n    Will be retried until: Mon, 5 Jan 2026"),
	    "mixed: the delayed one in the text with its deadline");
	T_OK(find(pm.part[0].body, "has not been delivered yet"),
	    "mixed: the text has a delayed section");
done:
	buf_free(&out);
}

static void
test_delayed(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_DELAYED,
		.status = "4.7.0",
		.diag = "held by quota per-user (100 recipients per hour)",
		.retry_until = NOW + 5 * 86400, .expected = NOW + 5400,
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	const char *w = "delayed";

	if (!build(&r, &out, &pm, w))
		goto done;
	check_field(pm.hdr, "Subject", "Delayed Mail (still being retried)",
	    w);
	check_field(pm.hdr, "Message-ID",
	    "<20260101000000." QID ".D.1234@relay.example.com>", w);
	T_EQ_INT(pm.nparts, 3, "delayed: three parts");
	check_field(pm.part[2].hdr, "Content-Type", "text/rfc822-headers", w);
	T_OK(find(pm.part[2].body, "Subject: hello\r\n") &&
	    !find(pm.part[2].body, "THE-BODY-LINE"),
	    "delayed: headers only, even for a small message");
	T_OK(find(pm.part[0].body, "only a warning"),
	    "delayed: the text says it is a warning");
	T_OK(find(pm.part[0].body, "Expected to be sent: Thu, 1 Jan 2026 "
	    "01:30:00 +0000"), "delayed: the text gives the expected time");
	T_EQ_INT(blocks(pm.part[1].body, bl, 8), 2, "delayed: two blocks");
	check_field(bl[1], "Action", "delayed", w);
	check_field(bl[1], "Status", "4.7.0", w);
	check_field(bl[1], "Will-Retry-Until", "Tue, 6 Jan 2026 00:00:00 +0000",
	    w);
	check_field(bl[1], "X-Sluice-Expected-Release",
	    "Thu, 1 Jan 2026 01:30:00 +0000", w);
	check_field(bl[1], "Diagnostic-Code", "X-Sluice; held by quota "
	    "per-user (100 recipients per hour)", w);
	check_field(bl[1], "Last-Attempt-Date", NULL, w);
done:
	buf_free(&out);
}

/* No line of the whole output may start with one of these. */
static bool
no_line_starts(const struct buf *out, const char *name)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "\r\n%s", name);
	return strncasecmp(out->data, name, strlen(name)) != 0 &&
	    memmem(out->data, out->len, pat, strlen(pat)) == NULL;
}

static void
test_injection(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net\r\nBcc: evil@example.org",
		.orig = "bob@example.net\nX-Injected: orig",
		.action = DSN_FAILED, .status = "5.1.1\r\nX-Injected: st",
		.remote_mta = "mx.example.net\r\nX-Injected: mta",
		.diag = "550 no\r\nBcc: evil@example.org\r\n\r\n"
		    "X-Injected: diag\r\n--=_sluice_x\r\n.\r\n",
		.diag_is_reply = true,
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	const char *w = "injection";

	r.sender = "alice@example.com\r\nBcc: evil@example.org";
	r.envid = "id\r\nX-Injected: envid";
	if (!build(&r, &out, &pm, w))
		goto done;
	T_OK(no_line_starts(&out, "Bcc:"), "injection: no Bcc line");
	T_OK(no_line_starts(&out, "X-Injected:"), "injection: no X-Injected "
	    "line");
	T_OK(no_line_starts(&out, "."), "injection: no line of a dot");
	T_EQ_INT(pm.nparts, 3, "injection: still three parts");
	T_EQ_INT(blocks(pm.part[1].body, bl, 8), 2,
	    "injection: still one recipient block");
	check_field(pm.hdr, "To", "<alice@example.com??Bcc: "
	    "evil@example.org>", w);
	check_field(bl[1], "Final-Recipient",
	    "rfc822; bob@example.net??Bcc: evil@example.org", w);
	check_field(bl[1], "Status", "5.0.0", w);
	check_field(bl[1], "Remote-MTA", "dns; mx.example.net??X-Injected: "
	    "mta", w);
	check_field(bl[1], "Diagnostic-Code", "smtp; 550 no Bcc: "
	    "evil@example.org X-Injected: diag --=_sluice_x .", w);
	check_field(bl[0], "Original-Envelope-Id", "id??X-Injected: envid", w);
done:
	buf_free(&out);
}

static void
test_huge(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_FAILED,
		.status = "5.2.2", .diag = "552 mailbox full",
		.diag_is_reply = true, .remote_mta = "mx.example.net",
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT, big = BUF_INIT;
	struct parsed pm;
	const char *w = "huge";
	size_t i;

	buf_addstr(&big, "From: alice@example.com\r\nSubject: big\r\n\r\n");
	for (i = 0; i < 4000; i++)
		buf_addstr(&big, "BIG-BODY 0123456789 0123456789 0123456789 "
		    "0123456789 0123456789\r\n");
	r.msg = big.data;
	r.msg_len = big.len;
	if (!build(&r, &out, &pm, w))
		goto done;
	check_field(pm.part[2].hdr, "Content-Type", "text/rfc822-headers", w);
	T_OK(find(pm.part[2].body, "Subject: big\r\n") &&
	    !find(pm.part[2].body, "BIG-BODY"), "huge: headers only");
	T_OK(out.len < 8192, "huge: the report stays small");
	T_OK(find(pm.part[0].body, "Only the headers of your message are "
	    "attached"), "huge: the text says only the headers");

	/* a header section past DSN_HEADERS_MAX is cut at a line */
	buf_reset(&big);
	for (i = 0; i < 2000; i++)
		buf_printf(&big, "X-Filler-%zu: 0123456789 0123456789 "
		    "0123456789 0123456789\r\n", i);
	buf_addstr(&big, "\r\nbody\r\n");
	r.msg = big.data;
	r.msg_len = big.len;
	if (build(&r, &out, &pm, "huge header")) {
		T_OK(pm.part[2].body.n <= DSN_HEADERS_MAX + 2 &&
		    pm.part[2].body.n > DSN_HEADERS_MAX - 100,
		    "huge header: cut to DSN_HEADERS_MAX");
		T_OK(find(pm.part[0].body, "headers were shortened"),
		    "huge header: the text says so");
	}

	/* RET=HDRS on a small one; a larger full_max returns it whole */
	buf_reset(&big);
	for (i = 0; i < 4000; i++)
		buf_addstr(&big, "BIG-BODY 0123456789 0123456789 0123456789 "
		    "0123456789 0123456789\r\n");
	r.msg = original;
	r.msg_len = sizeof(original) - 1;
	r.ret = DSN_RET_HDRS;
	if (build(&r, &out, &pm, "ret=hdrs"))
		check_field(pm.part[2].hdr, "Content-Type",
		    "text/rfc822-headers", "ret=hdrs");
	r.msg = big.data;
	r.msg_len = big.len;
	r.ret = DSN_RET_FULL;
	r.full_max = 1024 * 1024;
	if (build(&r, &out, &pm, "full_max"))
		T_OK(find(pm.part[2].body, "BIG-BODY"),
		    "full_max: the whole message under a larger limit");
	r.msg = NULL;
	r.msg_len = 0;
	if (build(&r, &out, &pm, "no original"))
		T_EQ_INT(pm.nparts, 2, "no original: two parts");
done:
	buf_free(&big);
	buf_free(&out);
}

static void
test_long_lines(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_FAILED,
		.status = "5.0.0", .diag_is_reply = true,
		.remote_mta = "mx.example.net",
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT, diag = BUF_INIT, msg = BUF_INIT;
	struct buf want = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	char *got;
	size_t i;

	buf_addstr(&diag, "550");
	for (i = 0; i < 300; i++)
		buf_printf(&diag, " word%zu", i);
	T_OK(diag.len > 998, "long diag: longer than 998");
	rc.diag = diag.data;
	if (build(&r, &out, &pm, "long diag") &&
	    blocks(pm.part[1].body, bl, 8) == 2) {
		buf_printf(&want, "smtp; %s", diag.data);
		check_field(bl[1], "Diagnostic-Code", want.data,
		    "long diag folded");
	}

	buf_reset(&diag);
	for (i = 0; i < 3000; i++)
		buf_addc(&diag, (char)('a' + i % 26));
	rc.diag = diag.data;
	if (build(&r, &out, &pm, "long word") &&
	    blocks(pm.part[1].body, bl, 8) == 2) {
		got = field(bl[1], "Diagnostic-Code", NULL);
		T_OK(got && strlen(got) > 3000 && strncmp(got, "smtp; abc",
		    9) == 0, "long word: kept, split by folds");
		free(got);
	}

	/* an original with a 1500-octet line: headers only, the long
	 * header line cut */
	buf_addstr(&msg, "Subject: ");
	for (i = 0; i < 1500; i++)
		buf_addc(&msg, 'x');
	buf_addstr(&msg, "\r\nFrom: alice@example.com\r\n\r\nbody\r\n");
	rc.diag = "550 no";
	r.msg = msg.data;
	r.msg_len = msg.len;
	if (build(&r, &out, &pm, "long header line")) {
		check_field(pm.part[2].hdr, "Content-Type",
		    "text/rfc822-headers", "long header line");
		T_OK(find(pm.part[2].body, "\r\nFrom: alice@example.com\r\n"),
		    "long header line: the next header survives");
		T_OK(find(pm.part[0].body, "lines too long"),
		    "long header line: the text says why");
	}
	buf_free(&want);
	buf_free(&msg);
	buf_free(&diag);
	buf_free(&out);
}

static void
test_boundary_clash(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_FAILED,
		.status = "5.1.1",
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT, msg = BUF_INIT;
	struct parsed pm;

	buf_addstr(&msg, "Subject: x\r\n\r\n--=_sluice_" QID
	    "_0000000000001234\r\nContent-Type: text/plain\r\n\r\nevil\r\n"
	    "--=_sluice_" QID "_0000000000001234--\r\n");
	r.msg = msg.data;
	r.msg_len = msg.len;
	if (build(&r, &out, &pm, "boundary clash")) {
		T_EQ_STR(pm.bnd, "=_sluice_" QID "_0000000000001235",
		    "boundary clash: the next seed value");
		T_EQ_INT(pm.nparts, 3, "boundary clash: three parts");
		T_OK(find(pm.part[2].body, "evil"),
		    "boundary clash: the original is intact");
	}
	buf_free(&msg);
	buf_free(&out);
}

static void
test_utf8(void)
{
	struct dsn_rcpt rc[] = {
		{ .addr = "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
		  .action = DSN_FAILED, .status = "5.1.1",
		  .diag = "550 unbekannt: j\xc3\xb6rg", .diag_is_reply = true,
		  .remote_mta = "mx.example.net" },
		{ .addr = "bob@example.net", .action = DSN_FAILED,
		  .diag = "550 bad byte \xff here", .diag_is_reply = true },
	};
	struct dsn_report r = base_report(rc, 2);
	struct buf out = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	unsigned flags = 0;
	const char *w = "utf8";
	char *ct;

	if (!build(&r, &out, &pm, w))
		goto done;
	ct = field(pm.hdr, "Content-Type", NULL);
	T_OK(ct && strstr(ct, "report-type=global-delivery-status"),
	    "utf8: report-type global-delivery-status");
	free(ct);
	check_field(pm.hdr, "Content-Transfer-Encoding", "8bit", w);
	check_field(pm.part[1].hdr, "Content-Type",
	    "message/global-delivery-status", w);
	check_field(pm.part[0].hdr, "Content-Type", "text/plain; charset=utf-8",
	    w);
	T_EQ_INT(blocks(pm.part[1].body, bl, 8), 3, "utf8: three blocks");
	check_field(bl[1], "Final-Recipient", "utf-8; j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example", w);
	check_field(bl[1], "Diagnostic-Code", "smtp; 550 unbekannt: "
	    "j\xc3\xb6rg", w);
	check_field(bl[2], "Final-Recipient", "rfc822; bob@example.net", w);
	check_field(bl[2], "Diagnostic-Code", "smtp; 550 bad byte ? here", w);
	dsn_build(&r, &out, &flags, NULL);
	T_EQ_INT(flags, DSN_F_8BITMIME, "utf8: 8BITMIME, no SMTPUTF8");

	/* an ASCII report keeps the text's UTF-8 out of the report part */
	r.rcpts = &rc[1];
	r.nrcpt = 1;
	rc[1].diag = "550 f\xc3\xbcr dich";
	if (build(&r, &out, &pm, "ascii report") &&
	    blocks(pm.part[1].body, bl, 8) == 2) {
		check_field(pm.part[1].hdr, "Content-Type",
		    "message/delivery-status", "ascii report");
		check_field(bl[1], "Diagnostic-Code", "smtp; 550 f?r dich",
		    "ascii report");
		T_OK(find(pm.part[0].body, "f\xc3\xbcr dich"),
		    "ascii report: the text keeps UTF-8");
	}

	/* 8-bit originals: UTF-8 headers go back as message/global(-headers),
	 * an 8-bit body as message/rfc822 in 8bit */
	rc[1].diag = "550 no";
	r.msg = "Subject: gr\xc3\xbc\xc3\x9f\r\n\r\nbody\r\n";
	r.msg_len = strlen(r.msg);
	if (build(&r, &out, &pm, "utf8 headers")) {
		check_field(pm.part[2].hdr, "Content-Type", "message/global",
		    "utf8 headers");
		check_field(pm.part[2].hdr, "Content-Transfer-Encoding",
		    "8bit", "utf8 headers");
	}
	r.ret = DSN_RET_HDRS;
	if (build(&r, &out, &pm, "utf8 headers only"))
		check_field(pm.part[2].hdr, "Content-Type",
		    "message/global-headers", "utf8 headers only");
	r.ret = DSN_RET_DEFAULT;
	r.msg = "Subject: plain\r\n\r\nbody gr\xc3\xbc\xc3\x9f\r\n";
	r.msg_len = strlen(r.msg);
	if (build(&r, &out, &pm, "8bit body")) {
		check_field(pm.part[2].hdr, "Content-Type", "message/rfc822",
		    "8bit body");
		check_field(pm.part[2].hdr, "Content-Transfer-Encoding",
		    "8bit", "8bit body");
		check_field(pm.hdr, "Content-Transfer-Encoding", "8bit",
		    "8bit body");
		check_field(pm.part[0].hdr, "Content-Type",
		    "text/plain; charset=us-ascii", "8bit body");
	}

	r.sender = "\xc3\xa4lice@example.com";
	buf_reset(&out);
	dsn_build(&r, &out, &flags, NULL);
	T_EQ_INT(flags, DSN_F_8BITMIME | DSN_F_SMTPUTF8,
	    "utf8 sender: SMTPUTF8");
done:
	buf_free(&out);
}

static void
test_delivered(void)
{
	struct dsn_rcpt rc = {
		.addr = "bob@example.net", .action = DSN_DELIVERED,
		.status = "2.0.0", .remote_mta = "mx.example.net",
		.diag = "250 2.0.0 Ok: queued as 12345", .diag_is_reply = true,
	};
	struct dsn_report r = base_report(&rc, 1);
	struct buf out = BUF_INIT;
	struct parsed pm;
	struct span bl[8];
	const char *w = "delivered";

	if (!build(&r, &out, &pm, w))
		goto done;
	check_field(pm.hdr, "Subject", "Successful Mail Delivery Report", w);
	check_field(pm.hdr, "Message-ID",
	    "<20260101000000." QID ".S.1234@relay.example.com>", w);
	check_field(pm.part[2].hdr, "Content-Type", "text/rfc822-headers", w);
	T_OK(find(pm.part[0].body, "was delivered to the recipients"),
	    "delivered: the text says so");
	if (blocks(pm.part[1].body, bl, 8) == 2)
		check_field(bl[1], "Action", "delivered", w);
done:
	buf_free(&out);
}

static void
test_refusals(void)
{
	static const struct {
		const char	*sender;
		bool		 want;
	} senders[] = {
		{ NULL, false }, { "", false }, { "<>", false },
		{ "MAILER-DAEMON@example.com", false },
		{ "mailer-daemon@Example.ORG", false },
		{ "MAILER-DAEMON", false }, { "<MAILER-DAEMON@x.org>", false },
		{ "alice@example.com", true },
		{ "mailer-daemon-fan@example.com", true },
		{ "postmaster@example.com", true },
	};
	struct dsn_rcpt rc = { .addr = "bob@example.net",
		.action = DSN_FAILED };
	struct dsn_report r;
	struct buf out = BUF_INIT;
	const char *err;
	char label[128];
	size_t i;

	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		snprintf(label, sizeof(label), "should_bounce(%s)",
		    senders[i].sender ? senders[i].sender : "NULL");
		T_EQ_INT(dsn_should_bounce(senders[i].sender), senders[i].want,
		    label);
	}
	r = base_report(&rc, 1);
	r.sender = "";
	err = NULL;
	T_EQ_INT(dsn_build(&r, &out, NULL, &err), -1, "null sender refused");
	T_OK(err != NULL && out.len == 0, "null sender: errstr, no output");
	r = base_report(&rc, 1);
	r.hostname = "bad host\r\n";
	T_EQ_INT(dsn_build(&r, &out, NULL, &err), -1, "bad hostname refused");
	r = base_report(&rc, 1);
	r.queue_id = "A B";
	T_EQ_INT(dsn_build(&r, &out, NULL, &err), -1, "bad queue id refused");
	r = base_report(&rc, 0);
	T_EQ_INT(dsn_build(&r, &out, NULL, &err), -1, "no recipient refused");
	rc.addr = "";
	r = base_report(&rc, 1);
	T_EQ_INT(dsn_build(&r, &out, NULL, &err), -1, "empty address refused");
	buf_free(&out);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_one_failed();
	test_mixed();
	test_delayed();
	test_injection();
	test_huge();
	test_long_lines();
	test_boundary_clash();
	test_utf8();
	test_delivered();
	test_refusals();
	return t_done();
}
