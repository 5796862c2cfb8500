/*
 * ctl_print: sluicectl's human output of the admin API's JSON: the status
 * as key: value lines, the queue as a compact table in the spirit of
 * Postfix's mailq (one line per message), one message as key: value lines
 * with a line per recipient.  `--json` bypasses all of this.
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

/* ctl_put, then spaces up to cols. */
static void
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

static void
ctl_put_key(FILE *f, const char *prefix, const char *key)
{
	char k[64];

	snprintf(k, sizeof(k), "%s%s%s:", prefix ? prefix : "",
	    prefix ? "." : "", key);
	ctl_put_pad(f, k, 18);
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
static void
ctl_put_duration(FILE *f, uint64_t s)
{
	if (s < 120)
		fprintf(f, "%" PRIu64 "s", s);
	else if (s < 3600)
		fprintf(f, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		fprintf(f, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s",
		    s / 3600, s / 60 % 60, s % 60);
	else
		fprintf(f, "%" PRIu64 "d %02" PRIu64 "h", s / 86400,
		    s / 3600 % 24);
}

int
ctl_print_status(FILE *f, const struct ctl_json *j, const char **errstr)
{
	const struct ctl_json *v, *q = ctl_json_get(j, "queue");
	const struct ctl_json *w = ctl_json_get(j, "writer");
	uint64_t secs;
	size_t i, k;

	if (j == NULL || j->type != CTL_JSON_OBJECT || q == NULL || w == NULL) {
		*errstr = "unexpected status JSON";
		return -1;
	}
	for (i = 0; i < j->n; i++) {
		v = j->items[i];
		if (v == q || v == w)
			continue;
		if (v->type != CTL_JSON_OBJECT) {
			ctl_put_key(f, NULL, v->key);
			if (strcmp(v->key, "uptime") != 0)
				ctl_put_scalar(f, v);
			else if (ctl_json_u64(j, "uptime", &secs) == 0)
				ctl_put_duration(f, secs);
			else	/* negative after the clock stepped back */
				fprintf(f, "%ss", v->str ? v->str : "?");
			fputc('\n', f);
			continue;
		}
		for (k = 0; k < v->n; k++) {
			ctl_put_key(f, v->key, v->items[k]->key);
			ctl_put_scalar(f, v->items[k]);
			fputc('\n', f);
		}
	}
	fprintf(f, "%-18s%" PRIu64 " message%s, %" PRIu64 " bytes\n",
	    "queue:", ctl_u64(q, "messages"),
	    ctl_u64(q, "messages") == 1 ? "" : "s", ctl_u64(q, "bytes"));
	fprintf(f, "%-18s%" PRIu64 " ready, %" PRIu64 " deferred, %" PRIu64
	    " retry, %" PRIu64 " hold\n", "recipients:", ctl_u64(q, "ready"),
	    ctl_u64(q, "deferred"), ctl_u64(q, "retry"), ctl_u64(q, "hold"));
	fprintf(f, "%-18s%" PRIu64 " commits, %" PRIu64 " jobs\n", "writer:",
	    ctl_u64(w, "commits"), ctl_u64(w, "jobs"));
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
    const char **errstr)
{
	const struct ctl_json *list = ctl_json_get(j, "messages"), *m;
	size_t i, sw = 6, w;
	int szw = 4;
	char num[32];

	if (list == NULL || list->type != CTL_JSON_ARRAY) {
		*errstr = "unexpected queue JSON";
		return -1;
	}
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
	}
	fprintf(f, "%-16s  %-8s  %*s  %-20s  ", "ID", "STATE", szw, "SIZE",
	    "ARRIVAL");
	ctl_put_pad(f, "SENDER", sw);
	fputs("  RCPTS\n", f);
	for (i = 0; i < list->n; i++) {
		m = list->items[i];
		ctl_put_pad(f, ctl_json_str(m, "id") ? ctl_json_str(m, "id") :
		    "?", 16);
		fputs("  ", f);
		ctl_put_pad(f, ctl_json_str(m, "state") ?
		    ctl_json_str(m, "state") : "?", 8);
		fprintf(f, "  %*" PRIu64 "  ", szw, ctl_u64(m, "size"));
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

static void
ctl_show_rcpt(FILE *f, const struct ctl_json *r)
{
	const char *state = ctl_json_str(r, "state"), *due, *reply;

	fputs("recipient:  ", f);
	ctl_put(f, ctl_json_str(r, "address") ? ctl_json_str(r, "address") :
	    "?");
	fputs("  ", f);
	ctl_put(f, state ? state : "?");
	due = ctl_json_str(r, "due");
	if (due != NULL && state != NULL && strcmp(state, "hold") != 0) {
		fputs("  due ", f);
		ctl_put(f, due);
	}
	fprintf(f, "  attempts %" PRIu64, ctl_u64(r, "attempts"));
	if ((reply = ctl_json_str(r, "last_reply")) != NULL) {
		fputs("  reply: ", f);
		ctl_put(f, reply);
	}
	fputc('\n', f);
}

int
ctl_print_queue(FILE *f, const struct ctl_json *j, const char **errstr)
{
	return ctl_print_list(f, j, false, errstr);
}

int
ctl_print_queue_filtered(FILE *f, const struct ctl_json *j,
    const char **errstr)
{
	return ctl_print_list(f, j, true, errstr);
}

int
ctl_print_show(FILE *f, const struct ctl_json *j, const char **errstr)
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
	ctl_show_line(f, j, "next due:", "next_due");
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
		ctl_show_rcpt(f, rcpts->items[i]);
	return 0;
}
