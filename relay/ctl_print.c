/*
 * ctl_print: sluicectl's human output of the admin API's JSON: the status
 * as key: value lines, the queue as a compact table in the spirit of
 * Postfix's mailq (one line per message, with when it is next due), one
 * message as key: value lines with a line per recipient, and what a hold,
 * release, delete or flush did (a line per message changed, as postsuper
 * reports).  Due times are shown relative to the caller's now, so the
 * output is testable.  `--json` bypasses all of this.
 *
 * What an attacker controls: senders, recipients, HELO names and replies
 * came from SMTP peers and go to an administrator's terminal; ctl_put()
 * escapes every control character (C0, DEL and C1, which some terminals
 * obey as CSI) so none of them can move the cursor or retitle the window.
 * The JSON itself was validated by ctl_json (UTF-8 included).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_priv.h"

#define CTL_SENDER_COLS	40	/* wider senders are not padded */

/* The bytes of the next unit ctl_put() writes: n, and in esc its escape
 * when it needs one. */
static size_t
ctl_unit(const unsigned char *p, char *esc, size_t escsz)
{
	esc[0] = '\0';
	if (*p < 0x20 || *p == 0x7f) {
		snprintf(esc, escsz, "\\x%02x", *p);
		return 1;
	}
	if (*p == '\\') {
		snprintf(esc, escsz, "\\\\");
		return 1;
	}
	if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
		snprintf(esc, escsz, "\\u%04x", p[1]);
		return 2;
	}
	return 1;
}

void
ctl_put(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t n;

	for (; *p; p += n) {
		n = ctl_unit(p, esc, sizeof(esc));
		if (esc[0] != '\0')
			fputs(esc, f);
		else
			fputc(*p, f);
	}
}

size_t
ctl_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t n, w = 0;

	for (; *p; p += n) {
		n = ctl_unit(p, esc, sizeof(esc));
		if (esc[0] != '\0')
			w += strlen(esc);
		else if ((*p & 0xc0) != 0x80)
			w++;
	}
	return w;
}

void
ctl_put_pad(FILE *f, const char *s, size_t cols)
{
	size_t w = ctl_width(s);

	ctl_put(f, s);
	for (; w < cols; w++)
		fputc(' ', f);
}

/* A scalar for a key: value line. */
static void
ctl_put_scalar(FILE *f, const struct ctl_json *v)
{
	switch (v->type) {
	case CTL_JSON_STRING:
		ctl_put(f, v->str);
		break;
	case CTL_JSON_NUMBER:
		fputs(v->str, f);
		break;
	case CTL_JSON_TRUE:
		fputs("yes", f);
		break;
	case CTL_JSON_FALSE:
		fputs("no", f);
		break;
	case CTL_JSON_NULL:
		fputs("-", f);
		break;
	default:
		fputs(v->type == CTL_JSON_ARRAY ? "[...]" : "{...}", f);
	}
}

/* "key:" or, for a key of a nested object, "obj.key:". */
static const char *
ctl_status_key(char *buf, size_t bufsz, const char *prefix, const char *key)
{
	snprintf(buf, bufsz, "%s%s%s:", prefix ? prefix : "",
	    prefix ? "." : "", key);
	return buf;
}

static void
ctl_put_key(FILE *f, const char *prefix, const char *key, size_t cols)
{
	char k[64];

	ctl_put_pad(f, ctl_status_key(k, sizeof(k), prefix, key), cols);
}

static uint64_t
ctl_u64(const struct ctl_json *o, const char *key)
{
	uint64_t v = 0;

	(void)ctl_json_u64(o, key, &v);
	return v;
}

/* A duration in seconds, its unit always shown and the larger units
 * spelled out once they help: 87s, 12m 05s, 1h 02m 03s, 3d 04h. */
void
ctl_fmt_duration(char *b, size_t n, uint64_t s)
{
	if (s < 120)
		snprintf(b, n, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(b, n, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(b, n, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s",
		    s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(b, n, "%" PRIu64 "d %02" PRIu64 "h", s / 86400,
		    s / 3600 % 24);
}

/* Reads n digits; -1 when they are not. */
static int
ctl_digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
ctl_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	time_t t;

	if (s == NULL || strlen(s) != 20 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = ctl_digits(s, 4) - 1900;
	tm.tm_mon = ctl_digits(s + 5, 2) - 1;
	tm.tm_mday = ctl_digits(s + 8, 2);
	tm.tm_hour = ctl_digits(s + 11, 2);
	tm.tm_min = ctl_digits(s + 14, 2);
	tm.tm_sec = ctl_digits(s + 17, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
	    tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* "-" when there is none: held mail waits for an admin. */
void
ctl_fmt_due(char *b, size_t n, const char *due, int64_t now)
{
	char d[32];
	int64_t t;

	if (due == NULL || ctl_time_parse(due, &t) == -1)
		snprintf(b, n, "-");
	else if (t <= now)
		snprintf(b, n, "now");
	else {
		ctl_fmt_duration(d, sizeof(d), (uint64_t)(t - now));
		snprintf(b, n, "in %s", d);
	}
}

/* cols, or wider when "key: " needs more. */
static size_t
ctl_cols_fit(size_t cols, const char *key)
{
	size_t w = ctl_width(key) + 1;

	return w > cols ? w : cols;
}

/* The width of the status's key column: its longest key, a colon and a
 * space, so the values line up whatever objects the daemon adds
 * ("delivery.connections_total:").  q and w are printed by name. */
static size_t
ctl_status_cols(const struct ctl_json *j, const struct ctl_json *q,
    const struct ctl_json *w)
{
	const struct ctl_json *v;
	size_t i, k, cols = sizeof("recipients:");	/* its NUL: the space */
	char key[64];

	for (i = 0; i < j->n; i++) {
		v = j->items[i];
		if (v == q || v == w || v->type == CTL_JSON_ARRAY)
			continue;
		if (v->type != CTL_JSON_OBJECT)
			cols = ctl_cols_fit(cols, ctl_status_key(key,
			    sizeof(key), NULL, v->key));
		for (k = 0; v->type == CTL_JSON_OBJECT && k < v->n; k++)
			cols = ctl_cols_fit(cols, ctl_status_key(key,
			    sizeof(key), v->key, v->items[k]->key));
	}
	return cols;
}

/* notifier NAME: KIND TARGET, outbox N, sent N, ..., last error: E (T) */
static void
ctl_print_notifier(FILE *f, const struct ctl_json *n)
{
	const char *kind = ctl_json_str(n, "kind");
	const char *err = ctl_json_str(n, "last_error");
	const char *at = ctl_json_str(n, "last_error_at");
	const char *next = ctl_json_str(n, "next_try");
	const char *sent = ctl_json_str(n, "last_sent_at");

	fputs("notifier ", f);
	ctl_put(f, ctl_json_str(n, "name") ? ctl_json_str(n, "name") : "?");
	fputs(": ", f);
	if (kind == NULL)
		fputs("(no longer configured)", f);
	else {
		fprintf(f, "%s ", kind);
		ctl_put(f, ctl_json_str(n, "target") ? ctl_json_str(n,
		    "target") : "?");
	}
	if (kind != NULL && strcmp(kind, "mail") == 0)
		fprintf(f, ", %" PRIu64 " alert%s queued since start-up (as "
		    "mail from <>)", ctl_u64(n, "mails"),
		    ctl_u64(n, "mails") == 1 ? "" : "s");
	else
		fprintf(f, ", outbox %" PRIu64 ", sent %" PRIu64 ", retried %"
		    PRIu64 ", dropped %" PRIu64, ctl_u64(n, "outbox"),
		    ctl_u64(n, "sent"), ctl_u64(n, "retried"),
		    ctl_u64(n, "dropped"));
	if (next != NULL)
		fprintf(f, ", next try %s", next);
	if (sent != NULL)
		fprintf(f, ", last sent %s", sent);
	fputs(", last error: ", f);
	if (err == NULL)
		fputs("none", f);
	else {
		ctl_put(f, err);
		if (at != NULL)
			fprintf(f, " (%s)", at);
	}
	fputc('\n', f);
}

int
ctl_print_status(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *v, *q = ctl_json_get(j, "queue");
	const struct ctl_json *w = ctl_json_get(j, "writer");
	char dur[32];
	uint64_t secs;
	size_t i, k, cols;

	(void)now;
	if (j == NULL || j->type != CTL_JSON_OBJECT || q == NULL || w == NULL) {
		*errstr = "unexpected status JSON";
		return -1;
	}
	cols = ctl_status_cols(j, q, w);
	for (i = 0; i < j->n; i++) {
		v = j->items[i];
		if (v == q || v == w || v->type == CTL_JSON_ARRAY)
			continue;
		if (v->type != CTL_JSON_OBJECT) {
			ctl_put_key(f, NULL, v->key, cols);
			if (strcmp(v->key, "uptime") != 0)
				ctl_put_scalar(f, v);
			else if (ctl_json_u64(j, "uptime", &secs) == 0) {
				ctl_fmt_duration(dur, sizeof(dur), secs);
				fputs(dur, f);
			}
			else	/* negative after the clock stepped back */
				fprintf(f, "%ss", v->str ? v->str : "?");
			fputc('\n', f);
			continue;
		}
		for (k = 0; k < v->n; k++) {
			ctl_put_key(f, v->key, v->items[k]->key, cols);
			ctl_put_scalar(f, v->items[k]);
			fputc('\n', f);
		}
	}
	fprintf(f, "%-*s%" PRIu64 " message%s, %" PRIu64 " bytes\n",
	    (int)cols, "queue:", ctl_u64(q, "messages"),
	    ctl_u64(q, "messages") == 1 ? "" : "s", ctl_u64(q, "bytes"));
	fprintf(f, "%-*s%" PRIu64 " ready, %" PRIu64 " deferred, %" PRIu64
	    " retry, %" PRIu64 " hold\n", (int)cols, "recipients:",
	    ctl_u64(q, "ready"), ctl_u64(q, "deferred"), ctl_u64(q, "retry"),
	    ctl_u64(q, "hold"));
	fprintf(f, "%-*s%" PRIu64 " commits, %" PRIu64 " jobs\n", (int)cols,
	    "writer:", ctl_u64(w, "commits"), ctl_u64(w, "jobs"));
	v = ctl_json_get(j, "notifiers");
	for (i = 0; v != NULL && v->type == CTL_JSON_ARRAY && i < v->n; i++)
		ctl_print_notifier(f, v->items[i]);
	return 0;
}

static const char *
ctl_sender(const struct ctl_json *m)
{
	const char *s = ctl_json_str(m, "sender");

	return s == NULL || *s == '\0' ? "<>" : s;
}

static int
ctl_print_list(FILE *f, const struct ctl_json *j, bool filtered,
    int64_t now, const char **errstr)
{
	const struct ctl_json *list = ctl_json_get(j, "messages"), *m;
	size_t i, sw = 6, w;
	int szw = 4, nw = 4;
	char num[32], next[48];

	if (list == NULL || list->type != CTL_JSON_ARRAY) {
		*errstr = "unexpected queue JSON";
		return -1;
	}
	/* deferred mail: a line per recipient, with the quota that holds it */
	if (filtered && ctl_json_get(j, "recipients") != NULL)
		return ctl_print_rcpts(f, j, now, errstr);
	/* as mailq, but an empty answer to a filter is not an empty queue */
	if (list->n == 0 && ctl_u64(j, "count") == 0) {
		fputs(filtered ? "no messages match\n" :
		    "queue is empty\n", f);
		return 0;
	}
	for (i = 0; i < list->n; i++) {
		m = list->items[i];
		if ((w = ctl_width(ctl_sender(m))) > sw)
			sw = w > CTL_SENDER_COLS ? CTL_SENDER_COLS : w;
		w = (size_t)snprintf(num, sizeof(num), "%" PRIu64,
		    ctl_u64(m, "size"));
		if ((int)w > szw)
			szw = (int)w;
		ctl_fmt_due(next, sizeof(next), ctl_json_str(m, "next_due"),
		    now);
		if ((int)strlen(next) > nw)
			nw = (int)strlen(next);
	}
	fprintf(f, "%-16s  %-8s  %-*s  %*s  %-20s  ", "ID", "STATE", nw,
	    "NEXT", szw, "SIZE", "ARRIVAL");
	ctl_put_pad(f, "SENDER", sw);
	fputs("  RCPTS\n", f);
	for (i = 0; i < list->n; i++) {
		m = list->items[i];
		ctl_put_pad(f, ctl_json_str(m, "id") ? ctl_json_str(m, "id") :
		    "?", 16);
		fputs("  ", f);
		ctl_put_pad(f, ctl_json_str(m, "state") ?
		    ctl_json_str(m, "state") : "?", 8);
		ctl_fmt_due(next, sizeof(next), ctl_json_str(m, "next_due"),
		    now);
		fprintf(f, "  %-*s  %*" PRIu64 "  ", nw, next, szw,
		    ctl_u64(m, "size"));
		ctl_put_pad(f, ctl_json_str(m, "arrival") ?
		    ctl_json_str(m, "arrival") : "?", 20);
		fputs("  ", f);
		ctl_put_pad(f, ctl_sender(m), sw);
		fprintf(f, "  %" PRIu64 "/%" PRIu64 "\n", ctl_u64(m, "pending"),
		    ctl_u64(m, "recipients"));
	}
	fprintf(f, "-- %" PRIu64 " message%s, %" PRIu64 " bytes",
	    ctl_u64(j, "count"), ctl_u64(j, "count") == 1 ? "" : "s",
	    ctl_u64(j, "bytes"));
	if (ctl_json_bool(j, "truncated"))
		fprintf(f, " (the first %zu listed)", list->n);
	fputc('\n', f);
	return 0;
}

/* "key: value" when the member is a non-empty string. */
static void
ctl_show_line(FILE *f, const struct ctl_json *j, const char *label,
    const char *key)
{
	const char *v = ctl_json_str(j, key);

	if (v == NULL || *v == '\0')
		return;
	fprintf(f, "%-12s", label);
	ctl_put(f, v);
	fputc('\n', f);
}

/* The SMTP client: "name [addr] helo=H proto=P", leaving out what is
 * unknown. */
static void
ctl_show_client(FILE *f, const struct ctl_json *j, const char *label,
    const char *pfx)
{
	const char *parts[] = { "name", "addr", "helo", "proto" };
	const char *v;
	char key[32];
	size_t i;
	bool any = false;

	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "%s_%s", pfx, parts[i]);
		if ((v = ctl_json_str(j, key)) == NULL || *v == '\0')
			continue;
		fprintf(f, "%s", any ? " " : "");
		if (!any)
			fprintf(f, "%-12s", label);
		any = true;
		if (i == 1)
			fputc('[', f);
		else if (i > 1)
			fprintf(f, "%s=", parts[i]);
		ctl_put(f, v);
		if (i == 1)
			fputc(']', f);
	}
	if (any)
		fputc('\n', f);
}

/* t, and how far off it is when it is still to come. */
static void
ctl_put_when(FILE *f, const char *t, int64_t now)
{
	char rel[48];

	ctl_put(f, t);
	ctl_fmt_due(rel, sizeof(rel), t, now);
	if (strncmp(rel, "in ", 3) == 0)
		fprintf(f, " (%s)", rel);
}

/* What the due time of a recipient in state means, or NULL. */
static const char *
ctl_due_label(const char *state)
{
	if (state == NULL)
		return NULL;
	if (strcmp(state, "retry") == 0)
		return "next attempt";
	if (strcmp(state, "deferred") == 0)
		return "until";
	if (strcmp(state, "ready") == 0)
		return "due";
	return NULL;	/* hold: until released; done: never */
}

/* What a quota did to a recipient: the quota and key that defer it and
 * when it gives up, or that an administrator sent it past its quota. */
static void
ctl_show_quota(FILE *f, const struct ctl_json *r, const char *state)
{
	const char *due = ctl_json_str(r, "due"), *quota, *key, *expire;

	if (ctl_json_bool(r, "bypass"))
		fprintf(f, "%-12sreleased by an administrator, bypassing its "
		    "quota\n", "");
	quota = ctl_json_str(r, "quota");
	key = ctl_json_str(r, "key");
	expire = ctl_json_str(r, "expire");
	if (state != NULL && strcmp(state, "hold") == 0 && quota != NULL) {
		fprintf(f, "%-12sheld by quota ", "");
		ctl_put(f, quota);
		if (key != NULL) {
			fputs(" key ", f);
			ctl_put(f, key);
		}
		fputs(" (queue release sends it through the quota again)\n",
		    f);
		return;
	}
	if (state == NULL || strcmp(state, "deferred") != 0 || due == NULL ||
	    (quota == NULL && expire == NULL))
		return;
	fprintf(f, "%-12sdeferred until ", "");
	ctl_put(f, due);
	if (quota != NULL) {
		fputs(" by quota ", f);
		ctl_put(f, quota);
	}
	if (key != NULL) {
		fputs(" key ", f);
		ctl_put(f, key);
	}
	if (expire != NULL) {
		fputs(" (gives up ", f);
		ctl_put(f, expire);
		fputc(')', f);
	}
	fputc('\n', f);
}

/* One line per recipient: address, state, when it is due, attempts; what
 * a quota did to it; and a line with the last attempt and its reply, once
 * there was one. */
static void
ctl_show_rcpt(FILE *f, const struct ctl_json *r, int64_t now)
{
	const char *state = ctl_json_str(r, "state"), *due;
	const char *label = ctl_due_label(state), *reply, *last, *dsn;
	char rel[48];

	fputs("recipient:  ", f);
	ctl_put(f, ctl_json_str(r, "address") ? ctl_json_str(r, "address") :
	    "?");
	fputs("  ", f);
	ctl_put(f, state ? state : "?");
	if (label != NULL && (due = ctl_json_str(r, "due")) != NULL) {
		ctl_fmt_due(rel, sizeof(rel), due, now);
		if (strcmp(rel, "now") == 0)
			fprintf(f, "  %s now", strcmp(label, "until") == 0 ?
			    "due" : label);
		else {
			fprintf(f, "  %s ", label);
			ctl_put_when(f, due, now);
		}
	}
	fprintf(f, "  attempts %" PRIu64 "\n", ctl_u64(r, "attempts"));
	ctl_show_quota(f, r, state);
	last = ctl_json_str(r, "last_attempt");
	reply = ctl_json_str(r, "last_reply");
	dsn = ctl_json_str(r, "dsn_status");
	if (last == NULL && reply == NULL && dsn == NULL)
		return;
	fprintf(f, "%-12s", "");
	if (last != NULL) {
		fputs("last attempt ", f);
		ctl_put(f, last);
		fputs(reply || dsn ? ": " : "", f);
	} else
		fputs("last reply: ", f);
	if (reply != NULL)
		ctl_put(f, reply);
	else if (dsn != NULL) {
		fputs("status ", f);
		ctl_put(f, dsn);
	}
	fputc('\n', f);
}

int
ctl_print_queue(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	return ctl_print_list(f, j, false, now, errstr);
}

int
ctl_print_queue_filtered(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	return ctl_print_list(f, j, true, now, errstr);
}

/* "next due: T (in X)", or why there is none. */
static void
ctl_show_next(FILE *f, const struct ctl_json *j, int64_t now)
{
	const char *next = ctl_json_str(j, "next_due");
	const char *state = ctl_json_str(j, "state");

	if (next != NULL) {
		fprintf(f, "%-12s", "next due:");
		ctl_put_when(f, next, now);
		fputc('\n', f);
	} else if (state != NULL && strcmp(state, "hold") == 0)
		fprintf(f, "%-12s%s\n", "next due:",
		    "none: on hold until released");
}

int
ctl_print_show(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *rcpts = ctl_json_get(j, "recipients");
	size_t i;

	if (ctl_json_str(j, "id") == NULL || rcpts == NULL ||
	    rcpts->type != CTL_JSON_ARRAY) {
		*errstr = "unexpected message JSON";
		return -1;
	}
	ctl_show_line(f, j, "id:", "id");
	fprintf(f, "%-12s", "state:");
	ctl_put(f, ctl_json_str(j, "state") ? ctl_json_str(j, "state") : "?");
	fprintf(f, " (%" PRIu64 " of %zu recipients pending)\n",
	    ctl_u64(j, "pending"), rcpts->n);
	ctl_show_next(f, j, now);
	ctl_show_line(f, j, "arrival:", "arrival");
	fprintf(f, "%-12s%" PRIu64 " bytes\n", "size:", ctl_u64(j, "size"));
	fprintf(f, "%-12s", "sender:");
	ctl_put(f, ctl_sender(j));
	fputc('\n', f);
	ctl_show_client(f, j, "client:", "client");
	ctl_show_client(f, j, "peer:", "peer");
	ctl_show_line(f, j, "sasl user:", "sasl_user");
	if (ctl_json_bool(j, "8bitmime") || ctl_json_bool(j, "smtputf8"))
		fprintf(f, "%-12s%s%s%s\n", "body:",
		    ctl_json_bool(j, "8bitmime") ? "8bitmime" : "",
		    ctl_json_bool(j, "8bitmime") &&
		    ctl_json_bool(j, "smtputf8") ? " " : "",
		    ctl_json_bool(j, "smtputf8") ? "smtputf8" : "");
	for (i = 0; i < rcpts->n; i++)
		ctl_show_rcpt(f, rcpts->items[i], now);
	return 0;
}

/* "3 messages", "1 recipient". */
static void
ctl_put_count(FILE *f, uint64_t n, const char *word)
{
	fprintf(f, "%" PRIu64 " %s%s", n, word, n == 1 ? "" : "s");
}

/* " (2 recipients)". */
static void
ctl_put_rcpts(FILE *f, uint64_t n)
{
	fputs(" (", f);
	ctl_put_count(f, n, "recipient");
	fputc(')', f);
}

/* "ID: held (2 recipients)", "ID: deleted". */
static void
ctl_op_msg(FILE *f, const char *done, const struct ctl_json *m, bool rcpts)
{
	ctl_put(f, ctl_json_str(m, "id") ? ctl_json_str(m, "id") : "?");
	fprintf(f, ": %s", done);
	if (rcpts)
		ctl_put_rcpts(f, ctl_u64(m, "recipients"));
	fputc('\n', f);
}

/* "ID: released (2 recipients, 1 deferred)", and for recipients a quota
 * still holds "ID: still held: quota ... is over: verdict hold". */
static void
ctl_op_released(FILE *f, const struct ctl_json *m)
{
	const char *id = ctl_json_str(m, "id") ? ctl_json_str(m, "id") : "?";
	const char *why = ctl_json_str(m, "still_held");
	uint64_t n = ctl_u64(m, "recipients"), def = ctl_u64(m, "deferred");

	if (n > 0) {
		ctl_put(f, id);
		fputs(": released (", f);
		ctl_put_count(f, n, "recipient");
		if (def > 0)
			fprintf(f, ", %" PRIu64 " deferred by a quota", def);
		fputs(")\n", f);
	}
	if (why != NULL) {
		ctl_put(f, id);
		fputs(": still held: ", f);
		ctl_put(f, why);
		fputc('\n', f);
	}
}

/* One message that an operation left as it was: why. */
static void
ctl_op_unchanged(FILE *f, const char *action, const char *id,
    const char *state)
{
	ctl_put(f, id);
	if (strcmp(action, "hold") == 0 && state != NULL &&
	    strcmp(state, "hold") == 0) {
		fputs(": already on hold\n", f);
		return;
	}
	fputs(strcmp(action, "release") == 0 ? ": not on hold (state " :
	    ": nothing to hold (state ", f);
	ctl_put(f, state ? state : "?");
	fputs(")\n", f);
}

/* The summary of an operation on a sender's messages. */
static void
ctl_op_sender(FILE *f, const char *action, const char *done,
    const char *sender, uint64_t nmsg, uint64_t nrcpt)
{
	bool del = strcmp(action, "delete") == 0;

	if (nmsg == 0)
		fprintf(f, "nothing to %s: no %smessages from <", action,
		    strcmp(action, "release") == 0 ? "held " : del ? "" :
		    "pending ");
	else {
		fprintf(f, "%s ", done);
		ctl_put_count(f, nmsg, "message");
		if (!del)
			ctl_put_rcpts(f, nrcpt);
		fputs(" from <", f);
	}
	ctl_put(f, sender);
	fputs(">\n", f);
}

int
ctl_print_op(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	static const char *const done[][2] = {
		{ "hold", "held" }, { "release", "released" },
		{ "delete", "deleted" }, { "flush", "flushed" }
	};
	const char *action = ctl_json_str(j, "action"), *past = NULL;
	const char *id = ctl_json_str(j, "id"), *sender;
	const struct ctl_json *ch = ctl_json_get(j, "changed");
	uint64_t nmsg = ctl_u64(j, "messages"), nrcpt = ctl_u64(j, "recipients");
	size_t i;

	(void)now;
	for (i = 0; action != NULL && i < sizeof(done) / sizeof(done[0]); i++)
		if (strcmp(action, done[i][0]) == 0)
			past = done[i][1];
	sender = ctl_json_str(j, "sender");
	if (past == NULL || ch == NULL || ch->type != CTL_JSON_ARRAY ||
	    (id == NULL && sender == NULL && strcmp(action, "flush") != 0)) {
		*errstr = "unexpected JSON for a queue operation";
		return -1;
	}
	if (strcmp(action, "flush") == 0) {
		if (nrcpt == 0) {
			fputs("nothing to flush: no recipient is waiting for "
			    "a retry\n", f);
			return 0;
		}
		fputs("flushed: ", f);
		ctl_put_count(f, nrcpt, "recipient");
		fputs(" of ", f);
		ctl_put_count(f, nmsg, "message");
		fputs(" due now\n", f);
		return 0;
	}
	for (i = 0; i < ch->n; i++)
		if (strcmp(action, "release") == 0)
			ctl_op_released(f, ch->items[i]);
		else
			ctl_op_msg(f, past, ch->items[i],
			    strcmp(action, "delete") != 0);
	if (id != NULL && ch->n == 0)
		ctl_op_unchanged(f, action, id, ctl_json_str(j, "state"));
	else if (id == NULL)
		ctl_op_sender(f, action, past, sender, nmsg, nrcpt);
	return 0;
}

int
ctl_print_notify_test(FILE *f, const struct ctl_json *j, int64_t now,
    const char **errstr)
{
	const struct ctl_json *to = ctl_json_get(j, "to");
	const char *name = ctl_json_str(j, "notifier");
	const char *kind = ctl_json_str(j, "kind");
	const char *err = ctl_json_str(j, "error");
	uint64_t status = 0;
	size_t i;

	(void)now;
	if (name == NULL || kind == NULL) {
		*errstr = "unexpected notify test JSON";
		return -1;
	}
	fputs("notify test ", f);
	ctl_put(f, name);
	if (strcmp(kind, "mail") == 0 && ctl_json_bool(j, "queued")) {
		fputs(": alert queued as ", f);
		ctl_put(f, ctl_json_str(j, "queue_id") != NULL ?
		    ctl_json_str(j, "queue_id") : "?");
		fputs(" to ", f);
		for (i = 0; to != NULL && i < to->n; i++) {
			fputs(i ? ", " : "", f);
			ctl_put(f, to->items[i]->str);
		}
		fputc('\n', f);
		return 0;
	}
	(void)ctl_json_u64(j, "status", &status);
	if (ctl_json_bool(j, "delivered"))
		fprintf(f, ": delivered (HTTP %" PRIu64 " in %s s)\n", status,
		    ctl_json_get(j, "elapsed") != NULL &&
		    ctl_json_get(j, "elapsed")->str != NULL ?
		    ctl_json_get(j, "elapsed")->str : "?");
	else {
		fputs(": not delivered: ", f);
		ctl_put(f, err != NULL ? err : "unknown error");
		fputc('\n', f);
	}
	return 0;
}
