/*
 * dsn: builds delivery status notifications (RFC 3464 in an RFC 6522
 * multipart/report; RFC 6533 for internationalised addresses).  dsn.h
 * describes the message and the choices; this file only assembles text.
 *
 * What an attacker controls: the sender and recipient addresses (SMTP
 * clients), the diagnostic (a remote server's reply) and the original
 * message.  They reach the output only through dsn_clean() (addresses,
 * diagnostics, the returned header lines) or, for a whole original, after
 * dsn_travels() has shown that its lines fit.  Invariants of the output:
 * CRLF line ends only, no line over DSN_LINE_MAX octets, and every header
 * line starts with a field name written here (folds start with a space).
 *
 * Memory: dsn_build() allocates its working copies in a struct dsn_ctx and
 * frees them before it returns; only the caller's buffer grows.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "dsn.h"

#define DSN_FOLD	78	/* fold a line that would pass this column */
#define DSN_ENVID_MAX	100	/* RFC 3461 4.4 */
#define DSN_NACTION	4

/* dsn_clean()'s treatment of the bytes it copies. */
#define CLEAN_CTL_SPACE	0x01	/* controls become spaces (else '?') */
#define CLEAN_COLLAPSE	0x02	/* runs of spaces become one; trimmed */
#define CLEAN_ASCII	0x04	/* non-ASCII characters become '?' */
#define CLEAN_TAB	0x08	/* a TAB is kept */

#define CLEAN_ADDR	(CLEAN_COLLAPSE)
#define CLEAN_DIAG	(CLEAN_CTL_SPACE | CLEAN_COLLAPSE)

enum dsn_return {
	RETURN_NONE,		/* no original given */
	RETURN_HEADERS,
	RETURN_FULL
};

/* Why only the headers go back (the text part says it). */
enum dsn_why {
	WHY_ASKED,		/* RET=HDRS */
	WHY_NO_FAILURE,		/* a delay or success report */
	WHY_TOO_BIG,
	WHY_UNFIT		/* NUL, bare CR or LF, a line over 998 */
};

struct dsn_ctx {
	const struct dsn_report	*r;
	bool			 global;	/* RFC 6533 types */
	bool			 any[DSN_NACTION];
	char			*sender;
	char			**addr, **orig, **remote;
	char			**diag_text;	/* for people: UTF-8 kept */
	char			**diag_field;	/* for the report */
	enum dsn_return		 ret;
	enum dsn_why		 why;
	bool			 hdr_cut;	/* returned headers shortened */
	bool			 ret8;		/* returned part has 8-bit */
	bool			 ret_global;	/* and a non-ASCII header */
	struct buf		 part[3];
};

static const char *const action_name[DSN_NACTION] = {
	"failed", "delayed", "delivered", "relayed"
};

/* Appends n bytes of s to b, cleaned as `how` says, at most max bytes of
 * whole characters; bytes that are not UTF-8 become '?'.  true: s was
 * cut. */
static bool
dsn_clean(struct buf *b, const char *s, size_t n, size_t max, unsigned how)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = b->len, k;
	bool space = true;	/* last put was a space, or nothing yet */
	char c;

	while (n > 0) {
		k = 1;
		if (*p == '\t' && (how & CLEAN_TAB))
			c = '\t';
		else if (*p < 0x20 || *p == 0x7f)
			c = (how & CLEAN_CTL_SPACE) ? ' ' : '?';
		else if (*p < 0x80)
			c = (char)*p;
		else if ((k = str_utf8_len(p, n)) == 0) {
			k = 1;
			c = '?';
		} else if (how & CLEAN_ASCII)
			c = '?';
		else
			c = '\0';	/* the k bytes of one character */
		if (c == ' ' && space && (how & CLEAN_COLLAPSE)) {
			p++;
			n--;
			continue;
		}
		if (b->len - start + (c ? 1 : k) > max)
			break;
		if (c)
			buf_addc(b, c);
		else
			buf_add(b, p, k);
		space = c == ' ';
		p += k;
		n -= k;
	}
	if ((how & CLEAN_COLLAPSE) && b->len > start &&
	    b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
	return n > 0;
}

/* A cleaned copy of s (NULL stays NULL); a cut diagnostic ends in "...". */
static char *
dsn_cleaned(const char *s, size_t max, unsigned how)
{
	struct buf b = BUF_INIT;

	if (s == NULL)
		return NULL;
	if (dsn_clean(&b, s, strlen(s), max, how) && (how & CLEAN_CTL_SPACE))
		buf_addstr(&b, "...");
	return buf_take(&b);
}

/* Appends s (cleaned, so single spaces and no controls) from column col,
 * breaking lines at spaces before DSN_FOLD columns; a continuation line
 * starts with cont (" " in a header: RFC 5322 2.2.3 folding).  A word too
 * long for DSN_LINE_MAX octets is split, at a character boundary. */
static void
dsn_fold(struct buf *b, size_t col, const char *s, const char *cont)
{
	size_t clen = strlen(cont), wl, room;
	bool first = true;	/* nothing on this line yet */

	while (*s != '\0') {
		wl = strcspn(s, " ");
		if (!first && col + 1 + wl > DSN_FOLD) {
			buf_addstr(b, "\r\n");
			buf_addstr(b, cont);
			col = clen;
		} else if (!first) {
			buf_addc(b, ' ');
			col++;
		}
		while (col + wl > DSN_LINE_MAX) {
			room = DSN_LINE_MAX - col;
			while (room > 0 &&
			    ((unsigned char)s[room] & 0xc0) == 0x80)
				room--;	/* not inside a UTF-8 sequence */
			buf_add(b, s, room);
			buf_addstr(b, "\r\n");
			buf_addstr(b, cont);
			col = clen;
			s += room;
			wl -= room;
		}
		buf_add(b, s, wl);
		col += wl;
		s += wl;
		first = false;
		if (*s == ' ')
			s++;
	}
}

/* "Name: value" folded, with its CRLF.  value is cleaned text. */
static void
dsn_field(struct buf *b, const char *name, const char *value)
{
	buf_addstr(b, name);
	buf_addstr(b, ": ");
	dsn_fold(b, strlen(name) + 2, value, " ");
	buf_addstr(b, "\r\n");
}

static void
dsn_fieldf(struct buf *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dsn_fieldf(struct buf *b, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("event=oom reason=dsn-field");
	va_end(ap);
	dsn_field(b, name, s);
	free(s);
}

static void
dsn_date_field(struct buf *b, const char *name, time_t t)
{
	char date[TIMEFMT_LEN];

	time_rfc5322(t, date, sizeof(date));
	dsn_field(b, name, date);
}

static bool
dsn_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static bool
dsn_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* RFC 6533 3: the address type for an address in this report. */
static const char *
dsn_addr_type(const char *addr)
{
	return dsn_is_ascii(addr) ? "rfc822" : "utf-8";
}

/* RFC 3463: class "." subject "." detail, 1-3 digits each. */
static bool
dsn_status_ok(const char *s)
{
	size_t i, n;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	s += 2;
	for (i = 0; i < 2; i++) {
		n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return false;
		s += n;
		if (i == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

static const char *
dsn_status(const struct dsn_rcpt *rc)
{
	static const char *const dflt[DSN_NACTION] = {
		"5.0.0", "4.0.0", "2.0.0", "2.0.0"
	};

	return dsn_status_ok(rc->status) ? rc->status : dflt[rc->action];
}

bool
dsn_should_bounce(const char *sender)
{
	static const char daemon[] = "MAILER-DAEMON";
	size_t n = sizeof(daemon) - 1;

	if (sender == NULL || *sender == '\0' || strcmp(sender, "<>") == 0)
		return false;
	if (*sender == '<')
		sender++;
	if (strncasecmp(sender, daemon, n) == 0 &&
	    (sender[n] == '\0' || sender[n] == '@' || sender[n] == '>'))
		return false;
	return true;
}

static bool
dsn_name_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	size_t i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(extra, ch) != NULL))
			return false;
	}
	return true;
}

static int
dsn_check(const struct dsn_report *r, const char **errstr)
{
	size_t i;

	if (r->hostname == NULL || !dsn_name_ok(r->hostname, 253, ".-") ||
	    r->hostname[0] == '.' || r->hostname[0] == '-')
		*errstr = "bad hostname";
	else if (r->queue_id == NULL || !dsn_name_ok(r->queue_id, 32, ""))
		*errstr = "bad queue id";
	else if (!dsn_should_bounce(r->sender))
		*errstr = "no notification to the null sender or MAILER-DAEMON";
	else if (r->rcpts == NULL || r->nrcpt == 0)
		*errstr = "no recipient";
	else {
		for (i = 0; i < r->nrcpt; i++) {
			if (r->rcpts[i].addr == NULL ||
			    r->rcpts[i].addr[0] == '\0') {
				*errstr = "recipient without an address";
				return -1;
			}
			if ((unsigned)r->rcpts[i].action >= DSN_NACTION) {
				*errstr = "unknown action";
				return -1;
			}
		}
		return 0;
	}
	return -1;
}

/* Whether the original can go back as it is (RFC 2045 2.8, 8bit data:
 * CRLF lines of at most 998 octets, no NUL).  Notes 8-bit bytes, and
 * those in the header section apart. */
static bool
dsn_travels(const char *m, size_t n, bool *any8, bool *hdr8)
{
	size_t i, col = 0;
	bool inhdr = true;

	*any8 = *hdr8 = false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)m[i];

		if (ch == '\0')
			return false;
		if (ch == '\r') {
			if (i + 1 == n || m[i + 1] != '\n')
				return false;
			continue;
		}
		if (ch == '\n') {
			if (i == 0 || m[i - 1] != '\r')
				return false;
			if (col == 0)
				inhdr = false;
			col = 0;
			continue;
		}
		if (++col > DSN_LINE_MAX)
			return false;
		if (ch >= 0x80) {
			*any8 = true;
			if (inhdr)
				*hdr8 = true;
		}
	}
	return true;
}

/* The header section of the original, up to its first empty line: each
 * line cleaned and cut to DSN_LINE_MAX, DSN_HEADERS_MAX bytes in all. */
static void
dsn_copy_headers(struct dsn_ctx *c, struct buf *b)
{
	const char *p = c->r->msg, *end = p + c->r->msg_len, *nl, *next;
	size_t ll, start = b->len;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = (size_t)((nl ? nl : end) - p);
		next = nl ? nl + 1 : end;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (b->len - start + (ll < DSN_LINE_MAX ? ll : DSN_LINE_MAX) +
		    2 > DSN_HEADERS_MAX) {
			c->hdr_cut = true;
			break;
		}
		if (dsn_clean(b, p, ll, DSN_LINE_MAX, CLEAN_TAB))
			c->hdr_cut = true;
		buf_addstr(b, "\r\n");
		p = next;
	}
}

/* Decides what goes back and writes the third part's content. */
static void
dsn_original(struct dsn_ctx *c, struct buf *b)
{
	const struct dsn_report *r = c->r;
	size_t max = r->full_max ? r->full_max : DSN_FULL_MAX;
	bool any8, hdr8;

	if (r->msg == NULL || r->msg_len == 0) {
		c->ret = RETURN_NONE;
		return;
	}
	c->ret = RETURN_HEADERS;
	if (!c->any[DSN_FAILED])
		c->why = WHY_NO_FAILURE;
	else if (r->ret == DSN_RET_HDRS)
		c->why = WHY_ASKED;
	else if (r->msg_len > max)
		c->why = WHY_TOO_BIG;
	else if (!dsn_travels(r->msg, r->msg_len, &any8, &hdr8))
		c->why = WHY_UNFIT;
	else {
		c->ret = RETURN_FULL;
		c->ret8 = any8;
		c->ret_global = hdr8;
		buf_add(b, r->msg, r->msg_len);
		if (r->msg_len > 0 && r->msg[r->msg_len - 1] != '\n')
			buf_addstr(b, "\r\n");
		return;
	}
	dsn_copy_headers(c, b);
	c->ret8 = c->ret_global = dsn_has_8bit(b->data ? b->data : "", b->len);
}

/* A paragraph of our own text, wrapped, and an empty line. */
static void
dsn_para(struct buf *b, const char *text)
{
	dsn_fold(b, 0, text, "");
	buf_addstr(b, "\r\n\r\n");
}

static void
dsn_human_rcpt(struct dsn_ctx *c, struct buf *b, size_t i)
{
	const struct dsn_rcpt *rc = &c->r->rcpts[i];
	struct buf line = BUF_INIT;
	char date[TIMEFMT_LEN];

	buf_printf(&line, "<%s>: ", c->addr[i]);
	if (c->diag_text[i] && c->diag_text[i][0] && rc->diag_is_reply &&
	    c->remote[i])
		buf_printf(&line, "host %s said: %s", c->remote[i],
		    c->diag_text[i]);
	else if (c->diag_text[i] && c->diag_text[i][0])
		buf_addstr(&line, c->diag_text[i]);
	else if (c->remote[i])
		buf_printf(&line, "%s (host %s)", action_name[rc->action],
		    c->remote[i]);
	else
		buf_addstr(&line, action_name[rc->action]);
	dsn_fold(b, 0, line.data, "    ");
	buf_addstr(b, "\r\n");
	buf_free(&line);
	if (rc->action == DSN_DELAYED && rc->expected) {
		time_rfc5322(rc->expected, date, sizeof(date));
		buf_printf(b, "    Expected to be sent: %s\r\n", date);
	}
	if (rc->action == DSN_DELAYED && rc->retry_until) {
		time_rfc5322(rc->retry_until, date, sizeof(date));
		buf_printf(b, "    Will be retried until: %s\r\n", date);
	}
	buf_addstr(b, "\r\n");
}

static void
dsn_human_list(struct dsn_ctx *c, struct buf *b, enum dsn_action a)
{
	size_t i;

	for (i = 0; i < c->r->nrcpt; i++)
		if (c->r->rcpts[i].action == a)
			dsn_human_rcpt(c, b, i);
}

static void
dsn_human_returned(struct dsn_ctx *c, struct buf *b)
{
	struct buf t = BUF_INIT;
	size_t max = c->r->full_max ? c->r->full_max : DSN_FULL_MAX;

	if (c->ret == RETURN_NONE)
		buf_addstr(&t, "Your message could not be attached to this "
		    "report.");
	else if (c->ret == RETURN_FULL)
		buf_addstr(&t, "Your message is attached to this report.");
	else if (c->why == WHY_TOO_BIG)
		buf_printf(&t, "Only the headers of your message are attached: "
		    "at %zu bytes it is larger than the %zu bytes returned "
		    "in full.", c->r->msg_len, max);
	else if (c->why == WHY_UNFIT)
		buf_addstr(&t, "Only the headers of your message are "
		    "attached: it has lines too long or bytes that cannot "
		    "be sent back as they are.");
	else
		buf_addstr(&t, "The headers of your message are attached.");
	if (c->hdr_cut)
		buf_addstr(&t, " Its headers were shortened.");
	dsn_para(b, t.data);
	buf_free(&t);
}

/* Part 1: text/plain for the sender. */
static void
dsn_human(struct dsn_ctx *c, struct buf *b)
{
	const struct dsn_report *r = c->r;
	char date[TIMEFMT_LEN];

	buf_printf(b, "This is the mail system at %s.\r\n\r\n", r->hostname);
	if (c->any[DSN_FAILED]) {
		dsn_para(b, "Your message could not be delivered to the "
		    "recipients below; the reason is given after each "
		    "address. The mail system has stopped trying to "
		    "deliver it to them.");
		dsn_human_list(c, b, DSN_FAILED);
	}
	if (c->any[DSN_DELAYED]) {
		if (!c->any[DSN_FAILED])
			dsn_para(b, "This is only a warning: you do not need "
			    "to send your message again.");
		dsn_para(b, "Your message has not been delivered yet to the "
		    "recipients below. The mail system keeps trying, and "
		    "will tell you if it gives up.");
		dsn_human_list(c, b, DSN_DELAYED);
	}
	if (c->any[DSN_DELIVERED]) {
		dsn_para(b, "Your message was delivered to the recipients "
		    "below.");
		dsn_human_list(c, b, DSN_DELIVERED);
	}
	if (c->any[DSN_RELAYED]) {
		dsn_para(b, "Your message was passed on to the recipients "
		    "below, to a system that may not report on them "
		    "further.");
		dsn_human_list(c, b, DSN_RELAYED);
	}
	dsn_human_returned(c, b);
	dsn_para(b, "If you need help, forward this report to your mail "
	    "administrator.");
	buf_addstr(b, "Your message:\r\n");
	buf_printf(b, "    Queue ID: %s\r\n", r->queue_id);
	buf_printf(b, "    Sender:   <%s>\r\n", c->sender);
	if (r->arrival) {
		time_rfc5322(r->arrival, date, sizeof(date));
		buf_printf(b, "    Arrived:  %s\r\n", date);
	}
}

static void
dsn_status_rcpt(struct dsn_ctx *c, struct buf *b, size_t i)
{
	const struct dsn_rcpt *rc = &c->r->rcpts[i];

	buf_addstr(b, "\r\n");
	dsn_fieldf(b, "Final-Recipient", "%s; %s", dsn_addr_type(c->addr[i]),
	    c->addr[i]);
	if (c->orig[i] && c->orig[i][0])
		dsn_fieldf(b, "Original-Recipient", "%s; %s",
		    dsn_addr_type(c->orig[i]), c->orig[i]);
	dsn_field(b, "Action", action_name[rc->action]);
	dsn_field(b, "Status", dsn_status(rc));
	if (c->remote[i] && c->remote[i][0])
		dsn_fieldf(b, "Remote-MTA", "dns; %s", c->remote[i]);
	if (c->diag_field[i] && c->diag_field[i][0])
		dsn_fieldf(b, "Diagnostic-Code", "%s; %s",
		    rc->diag_is_reply ? "smtp" : "X-Sluice", c->diag_field[i]);
	if (rc->last_attempt)
		dsn_date_field(b, "Last-Attempt-Date", rc->last_attempt);
	if (rc->action == DSN_DELAYED && rc->retry_until)
		dsn_date_field(b, "Will-Retry-Until", rc->retry_until);
	if (rc->action == DSN_DELAYED && rc->expected)
		dsn_date_field(b, "X-Sluice-Expected-Release", rc->expected);
}

/* Part 2: message/delivery-status (RFC 3464 2.2, 2.3). */
static void
dsn_report_part(struct dsn_ctx *c, struct buf *b)
{
	const struct dsn_report *r = c->r;
	char *envid;
	size_t i;

	dsn_fieldf(b, "Reporting-MTA", "dns; %s", r->hostname);
	dsn_field(b, "X-Sluice-Queue-ID", r->queue_id);
	dsn_fieldf(b, "X-Sluice-Sender", "%s; %s", dsn_addr_type(c->sender),
	    c->sender);
	envid = dsn_cleaned(r->envid, DSN_ENVID_MAX, CLEAN_ADDR | CLEAN_ASCII);
	if (envid && envid[0])
		dsn_field(b, "Original-Envelope-Id", envid);
	free(envid);
	if (r->arrival)
		dsn_date_field(b, "Arrival-Date", r->arrival);
	for (i = 0; i < r->nrcpt; i++)
		dsn_status_rcpt(c, b, i);
}

static void
dsn_ctx_init(struct dsn_ctx *c, const struct dsn_report *r)
{
	size_t i, n = r->nrcpt;
	unsigned field;

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->sender = dsn_cleaned(r->sender, DSN_ADDR_MAX, CLEAN_ADDR);
	c->global = !dsn_is_ascii(c->sender);
	c->addr = xcalloc(n, sizeof(char *));
	c->orig = xcalloc(n, sizeof(char *));
	c->remote = xcalloc(n, sizeof(char *));
	c->diag_text = xcalloc(n, sizeof(char *));
	c->diag_field = xcalloc(n, sizeof(char *));
	for (i = 0; i < n; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		c->any[rc->action] = true;
		c->addr[i] = dsn_cleaned(rc->addr, DSN_ADDR_MAX, CLEAN_ADDR);
		c->orig[i] = dsn_cleaned(rc->orig, DSN_ADDR_MAX, CLEAN_ADDR);
		c->remote[i] = dsn_cleaned(rc->remote_mta, DSN_ADDR_MAX,
		    CLEAN_ADDR | CLEAN_ASCII);
		c->diag_text[i] = dsn_cleaned(rc->diag, DSN_DIAG_MAX,
		    CLEAN_DIAG);
		if (!dsn_is_ascii(c->addr[i]) ||
		    (c->orig[i] && !dsn_is_ascii(c->orig[i])))
			c->global = true;
	}
	/* the report part is ASCII unless RFC 6533 applies */
	field = CLEAN_DIAG | (c->global ? 0 : CLEAN_ASCII);
	for (i = 0; i < n; i++)
		c->diag_field[i] = dsn_cleaned(r->rcpts[i].diag, DSN_DIAG_MAX,
		    field);
	for (i = 0; i < 3; i++)
		buf_init(&c->part[i]);
}

static void
dsn_ctx_free(struct dsn_ctx *c)
{
	size_t i;

	for (i = 0; i < c->r->nrcpt; i++) {
		free(c->addr[i]);
		free(c->orig[i]);
		free(c->remote[i]);
		free(c->diag_text[i]);
		free(c->diag_field[i]);
	}
	free(c->addr);
	free(c->orig);
	free(c->remote);
	free(c->diag_text);
	free(c->diag_field);
	free(c->sender);
	for (i = 0; i < 3; i++)
		buf_free(&c->part[i]);
}

/* A boundary that occurs in no part (RFC 2046 5.1.1), from the seed. */
static void
dsn_boundary(struct dsn_ctx *c, char *bnd, size_t sz)
{
	uint64_t v = c->r->seed;
	size_t i;
	bool clash;

	do {
		snprintf(bnd, sz, "=_sluice_%s_%016llx", c->r->queue_id,
		    (unsigned long long)v++);
		clash = false;
		for (i = 0; i < 3 && !clash; i++)
			clash = c->part[i].len > 0 &&
			    memmem(c->part[i].data, c->part[i].len, bnd,
			    strlen(bnd)) != NULL;
	} while (clash);
}

static void
dsn_header(struct dsn_ctx *c, struct buf *out, const char *bnd, bool eight)
{
	const struct dsn_report *r = c->r;
	const char *subject;
	char kind;
	struct tm tm;

	if (c->any[DSN_FAILED]) {
		subject = "Undelivered Mail Returned to Sender";
		kind = 'B';
	} else if (c->any[DSN_DELAYED]) {
		subject = "Delayed Mail (still being retried)";
		kind = 'D';
	} else {
		subject = "Successful Mail Delivery Report";
		kind = 'S';
	}
	gmtime_r(&r->now, &tm);
	dsn_date_field(out, "Date", r->now);
	dsn_fieldf(out, "From", "Mail Delivery System <MAILER-DAEMON@%s>",
	    r->hostname);
	dsn_fieldf(out, "To", "<%s>", c->sender);
	dsn_field(out, "Subject", subject);
	dsn_fieldf(out, "Message-ID",
	    "<%04d%02d%02d%02d%02d%02d.%s.%c.%llx@%s>", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    r->queue_id, kind, (unsigned long long)r->seed, r->hostname);
	dsn_field(out, "Auto-Submitted", "auto-replied");
	dsn_field(out, "MIME-Version", "1.0");
	dsn_fieldf(out, "Content-Type", "multipart/report; report-type=%s; "
	    "boundary=\"%s\"", c->global ? "global-delivery-status" :
	    "delivery-status", bnd);
	if (eight)
		dsn_field(out, "Content-Transfer-Encoding", "8bit");
	buf_addstr(out, "\r\nThis is a MIME-encapsulated message.\r\n");
}

/* One body part: delimiter, its header, its content (which ends in CRLF:
 * the delimiter's CRLF comes on top, RFC 2046 5.1.1). */
static void
dsn_part(struct buf *out, const char *bnd, const char *desc,
    const char *type, bool eight, const struct buf *content)
{
	buf_printf(out, "\r\n--%s\r\n", bnd);
	dsn_field(out, "Content-Description", desc);
	dsn_field(out, "Content-Type", type);
	if (eight)
		dsn_field(out, "Content-Transfer-Encoding", "8bit");
	buf_addstr(out, "\r\n");
	if (content->len > 0)
		buf_add(out, content->data, content->len);
}

int
dsn_build(const struct dsn_report *r, struct buf *out, unsigned *flags,
    const char **errstr)
{
	struct dsn_ctx c;
	char bnd[80];
	bool h8, eight;
	const char *type;

	if (dsn_check(r, errstr) == -1)
		return -1;
	dsn_ctx_init(&c, r);
	dsn_original(&c, &c.part[2]);	/* first: the text tells what it is */
	dsn_human(&c, &c.part[0]);
	dsn_report_part(&c, &c.part[1]);
	dsn_boundary(&c, bnd, sizeof(bnd));

	h8 = dsn_has_8bit(c.part[0].data, c.part[0].len);
	eight = h8 || c.global || c.ret8;
	dsn_header(&c, out, bnd, eight);
	dsn_part(out, bnd, "Notification", h8 ? "text/plain; charset=utf-8" :
	    "text/plain; charset=us-ascii", h8, &c.part[0]);
	dsn_part(out, bnd, "Delivery report", c.global ?
	    "message/global-delivery-status" : "message/delivery-status",
	    c.global, &c.part[1]);
	if (c.ret == RETURN_FULL) {
		type = c.ret_global ? "message/global" : "message/rfc822";
		dsn_part(out, bnd, "Your message", type, c.ret8, &c.part[2]);
	} else if (c.ret == RETURN_HEADERS) {
		type = c.ret_global ? "message/global-headers" :
		    "text/rfc822-headers";
		dsn_part(out, bnd, "Headers of your message", type, c.ret8,
		    &c.part[2]);
	}
	buf_printf(out, "\r\n--%s--\r\n", bnd);
	if (flags)
		*flags = (eight ? DSN_F_8BITMIME : 0) |
		    (dsn_is_ascii(c.sender) ? 0 : DSN_F_SMTPUTF8);
	dsn_ctx_free(&c);
	return 0;
}
