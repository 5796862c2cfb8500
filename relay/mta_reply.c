/*
 * mta_reply: reads the next hop's replies (RFC 5321 4.2) and turns them
 * into results.
 *
 * What an attacker (the server) controls: every byte read.  A line is cut
 * at MTA_LINE_MAX and the rest of it dropped as it arrives; a reply keeps
 * at most MTA_REPLY_MAX bytes of text and MTA_REPLY_LINES lines.  Text
 * that reaches logs, DSNs and `queue show` is made printable: control
 * characters and bytes that are not UTF-8 become '?'.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/strutil.h"
#include "mta_priv.h"

void
mta_reader_init(struct mta_reader *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->reply.text);
}

void
mta_reader_free(struct mta_reader *r)
{
	buf_free(&r->reply.text);
}

/* Takes one line into r->line.  1: a line; 0: more input needed. */
static int
mta_take_line(struct mta_reader *r, struct evbuffer *in)
{
	struct evbuffer_ptr p;
	size_t len, eol_len;

	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos == -1) {
		len = evbuffer_get_length(in);
		if (len <= MTA_LINE_MAX)
			return 0;
		/* keep the head (the code is there), drop the rest */
		if (!r->skipping) {
			evbuffer_remove(in, r->line, MTA_LINE_MAX);
			r->len = MTA_LINE_MAX;
			r->skipping = true;
		}
		evbuffer_drain(in, evbuffer_get_length(in));
		return 0;
	}
	len = (size_t)p.pos;
	if (r->skipping) {
		evbuffer_drain(in, len + eol_len);
		r->skipping = false;
		return 1;
	}
	if (len > MTA_LINE_MAX) {
		evbuffer_remove(in, r->line, MTA_LINE_MAX);
		evbuffer_drain(in, len - MTA_LINE_MAX + eol_len);
		r->len = MTA_LINE_MAX;
		return 1;
	}
	evbuffer_remove(in, r->line, len);
	evbuffer_drain(in, eol_len);
	if (len > 0 && r->line[len - 1] == '\r')
		len--;
	r->len = len;
	return 1;
}

/* Appends n bytes of s as printable UTF-8, up to max bytes in all. */
static void
mta_add_printable(struct buf *b, const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	while (n > 0 && b->len < max) {
		k = str_utf8_len(p, n);
		if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f))) {
			buf_addc(b, '?');
			k = k ? k : 1;
		} else if (b->len + k <= max)
			buf_add(b, p, k);
		else
			break;
		p += k;
		n -= k;
	}
}

/* "X.Y.Z" (RFC 3463 2) at the start of the first line, of the reply's
 * class; else "X.0.0". */
static void
mta_reply_dsn(struct mta_reply *r)
{
	const char *t = r->text.data ? r->text.data : "";
	size_t i = 0, part, digits;
	int cls = r->code / 100;

	if (t[0] == '0' + cls && (cls == 2 || cls == 4 || cls == 5)) {
		for (i = 1, part = 0; part < 2; part++) {
			if (t[i++] != '.')
				break;
			for (digits = 0; t[i] >= '0' && t[i] <= '9'; i++)
				digits++;
			if (digits == 0 || digits > 3)
				break;
		}
		if (part == 2 && (t[i] == ' ' || t[i] == '\0' ||
		    t[i] == '\n') && i < sizeof(r->dsn)) {
			memcpy(r->dsn, t, i);
			r->dsn[i] = '\0';
			return;
		}
	}
	snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", cls);
}

/* One line of a reply.  0, or -1 when it is not "NNN[ -]text". */
static int
mta_add_line(struct mta_reader *r, const char **errstr)
{
	const char *l = r->line;
	struct mta_reply *rp = &r->reply;
	char sep;

	if (r->len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' ||
	    l[1] > '9' || l[2] < '0' || l[2] > '9') {
		*errstr = "malformed reply";
		return -1;
	}
	sep = r->len > 3 ? l[3] : ' ';
	if (sep != ' ' && sep != '-') {
		*errstr = "malformed reply";
		return -1;
	}
	if (++rp->nlines > MTA_REPLY_LINES) {
		*errstr = "reply has too many lines";
		return -1;
	}
	/* RFC 5321 4.2.1: the last line's code is the reply's */
	rp->code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (rp->nlines > 1 && rp->text.len < MTA_REPLY_MAX)
		buf_addc(&rp->text, '\n');
	if (r->len > 4)
		mta_add_printable(&rp->text, l + 4, r->len - 4, MTA_REPLY_MAX);
	if (sep == ' ') {
		mta_reply_dsn(rp);
		r->complete = true;
	}
	return 0;
}

int
mta_reader_take(struct mta_reader *r, struct evbuffer *in,
    const char **errstr)
{
	if (r->complete) {
		buf_reset(&r->reply.text);
		r->reply.code = 0;
		r->reply.nlines = 0;
		r->reply.dsn[0] = '\0';
		r->complete = false;
	}
	while (mta_take_line(r, in) == 1) {
		if (mta_add_line(r, errstr) == -1)
			return -1;
		if (r->complete)
			return 1;
	}
	return 0;
}

/* Is the line's keyword word?  *params: what follows it. */
static bool
mta_kw_is(const char *line, size_t len, const char *word,
    const char **params)
{
	size_t n = strlen(word);

	if (len < n || strncasecmp(line, word, n) != 0)
		return false;
	if (len > n && line[n] != ' ' && line[n] != '=')
		return false;
	*params = line + (len > n ? n + 1 : n);
	return true;
}

/* AUTH mechanisms: "AUTH PLAIN LOGIN" or the old "AUTH=LOGIN". */
static void
mta_ext_auth(struct mta_ext *e, const char *p, size_t len)
{
	const char *end = p + len, *w;
	size_t n, used;

	e->auth = true;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		for (w = p; p < end && *p != ' '; p++)
			;
		if ((n = (size_t)(p - w)) == 0)
			break;
		if (n == 5 && strncasecmp(w, "PLAIN", 5) == 0)
			e->auth_plain = true;
		else if (n == 5 && strncasecmp(w, "LOGIN", 5) == 0)
			e->auth_login = true;
		used = strlen(e->auth_mechs);
		if (used + n + 2 < sizeof(e->auth_mechs))
			snprintf(e->auth_mechs + used,
			    sizeof(e->auth_mechs) - used, "%s%.*s",
			    used ? " " : "", (int)n, w);
	}
}

void
mta_ext_parse(const struct mta_reply *r, struct mta_ext *e)
{
	const char *t = r->text.data ? r->text.data : "", *nl, *p;
	char num[24];
	uint64_t v;
	size_t len;
	const char *err;

	memset(e, 0, sizeof(*e));
	if ((t = strchr(t, '\n')) == NULL)
		return;		/* the first line is the server's name */
	for (t++; *t != '\0'; t = *nl ? nl + 1 : nl) {
		if ((nl = strchr(t, '\n')) == NULL)
			nl = t + strlen(t);
		len = (size_t)(nl - t);
		if (mta_kw_is(t, len, "PIPELINING", &p))
			e->pipelining = true;
		else if (mta_kw_is(t, len, "STARTTLS", &p))
			e->starttls = true;
		else if (mta_kw_is(t, len, "8BITMIME", &p))
			e->eightbitmime = true;
		else if (mta_kw_is(t, len, "SMTPUTF8", &p))
			e->smtputf8 = true;
		else if (mta_kw_is(t, len, "ENHANCEDSTATUSCODES", &p))
			e->enhanced = true;
		else if (mta_kw_is(t, len, "AUTH", &p))
			mta_ext_auth(e, p, (size_t)(nl - p));
		else if (mta_kw_is(t, len, "SIZE", &p)) {
			/* RFC 1870: no number, or 0, means no fixed limit */
			e->size_ok = true;
			len = (size_t)(nl - p);
			if (len > 0 && len < sizeof(num)) {
				memcpy(num, p, len);
				num[len] = '\0';
				if (str_to_u64(num, 0, UINT64_MAX, &v,
				    &err) == 0)
					e->size = v;
			}
		}
	}
}

void
mta_reply_format(const struct mta_reply *r, char *out, size_t outsz)
{
	const char *t = r->text.data ? r->text.data : "", *nl;
	size_t dlen = strlen(r->dsn), len;
	struct buf b = BUF_INIT;
	bool first = true;

	buf_printf(&b, "%d", r->code);
	for (; *t != '\0' || first; t = *nl ? nl + 1 : nl) {
		if ((nl = strchr(t, '\n')) == NULL)
			nl = t + strlen(t);
		len = (size_t)(nl - t);
		/* continuation lines repeat the enhanced code: once is
		 * enough */
		if (!first && len > dlen && strncmp(t, r->dsn, dlen) == 0 &&
		    t[dlen] == ' ') {
			t += dlen + 1;
			len -= dlen + 1;
		}
		if (len > 0) {
			buf_addc(&b, ' ');
			buf_add(&b, t, len);
		}
		first = false;
	}
	if (str_copy(out, b.data, outsz) >= outsz && outsz > 4)
		memcpy(out + outsz - 4, "...", 4);
	buf_free(&b);
}

enum mta_status
mta_status_of(int code)
{
	switch (code / 100) {
	case 2:
		return MTA_SENT;
	case 5:
		return MTA_BOUNCED;
	default:
		return MTA_DEFERRED;
	}
}

void
mta_result_reply(struct mta_result *res, const char *hostip,
    const struct mta_reply *r, const char *cmd, bool soft)
{
	char reply[MTA_TEXT_SIZE];
	size_t room = MTA_TEXT_SIZE - 64 - strlen(hostip);
	struct buf b = BUF_INIT;
	int cls = r->code / 100;

	if (room < 128)
		room = 128;
	mta_reply_format(r, reply, room);
	res->status = mta_status_of(r->code);
	res->code = r->code;
	str_copy(res->dsn, r->dsn, sizeof(res->dsn));
	if (cls != 2 && cls != 4 && cls != 5)	/* 354 to MAIL, ... */
		str_copy(res->dsn, "4.5.0", sizeof(res->dsn));
	if (soft && res->status == MTA_BOUNCED) {
		res->status = MTA_DEFERRED;
		res->dsn[0] = '4';
	}
	if (res->status == MTA_SENT) {
		str_copy(res->text, reply, sizeof(res->text));
		return;
	}
	buf_printf(&b, "host %s said: %s", hostip, reply);
	if (cmd != NULL)
		buf_printf(&b, " (in reply to %s command)", cmd);
	str_copy(res->text, b.data, sizeof(res->text));
	buf_free(&b);
}

void
mta_result_set(struct mta_result *res, enum mta_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	res->status = st;
	res->code = 0;
	str_copy(res->dsn, dsn, sizeof(res->dsn));
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}
