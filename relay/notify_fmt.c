/*
 * notify_fmt: a quota notice as the webhook's JSON body, as a Subject and
 * as a whole alert message (RFC 5322).  Pure functions: no clock, no I/O,
 * nothing but lib/, so that the fuzz target links this file alone.
 *
 * What an attacker controls: the key (any bytes but NUL).  The names of
 * the policy, quota, unit and period, the hostname and the addresses come
 * from the configuration; they are cleaned the same way, as a mistake
 * there must not break a message either.  Invariants of the output:
 *   - JSON: RFC 8259 text, UTF-8.  A byte that is not part of valid UTF-8
 *     becomes U+FFFD (buf_add_json_str, as the admin API does), so the
 *     text stays valid JSON; controls are escaped.  Nothing is cut.
 *   - Subject: printable ASCII, one line: every control, DEL and non-ASCII
 *     byte becomes '?'; the key is cut after NF_SHORT bytes ("...").
 *   - Message: CRLF line ends only, no line over 998 octets (RFC 5322
 *     2.1.1); a header line starts with a field name written here or is a
 *     fold written here (CRLF, a space, then text: RFC 5322 2.2.3).  In
 *     the body the key's controls and invalid bytes are shown escaped
 *     (\r, \n, \t, \xNN, and \\ for a backslash so that the escapes are
 *     unambiguous); valid UTF-8 is kept and makes the body 8bit, utf-8.
 *     From, To and Message-ID lose their control characters (CR and LF
 *     above all) and invalid bytes; valid UTF-8 stays (an RFC 6531
 *     address needs SMTPUTF8 for its envelope anyway).  Date is in local
 *     time with its offset (lib/timefmt, as in DSNs).
 *   - In a sluicectl command the key is one shell word: bare when it holds
 *     only [A-Za-z0-9@._+=/:-] (and does not start with '=', which zsh
 *     expands), in single quotes ('\'' for a quote) when it holds other
 *     printable text, in $'...' (bash, ksh, zsh; POSIX sh since 2024) when
 *     it holds a control or an invalid byte, which single quotes could
 *     only carry raw into the message.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/timefmt.h"
#include "notify_priv.h"

#define NF_LINE		78	/* fold or wrap past this column */
#define NF_SHORT	200	/* bytes of the key in the subject and the
				   first sentence, and of a configured name */
#define NF_WORD_MAX	900	/* the key on its line, quoted or escaped,
				   and an address: with its line's prefix,
				   far below 998 octets */
#define NF_HOST_MAX	253	/* RFC 1035 2.3.4 (as text) */
#define NF_FIG_SIZE	512	/* "%.3f" of DBL_MAX has 313 characters */

#define NF_SENDER_TRACK	"Sender:user@domain"

enum nf_how {
	NF_HEADER,	/* printable ASCII, '?' for anything else */
	NF_BODY		/* valid UTF-8 kept, the rest escaped */
};

/* The escape of a byte for the body and for $'...': \r \n \t \\ \xNN, or
 * the byte itself.  Returns the length written to esc (at most 4). */
static size_t
nf_escape(unsigned char c, char esc[5])
{
	static const char named[] = "\r\n\t\\", letter[] = "rnt\\";
	const char *k;

	if (c != '\0' && (k = strchr(named, c)) != NULL) {
		esc[0] = '\\';
		esc[1] = letter[k - named];
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		snprintf(esc, 5, "\\x%02x", c);
		return 4;
	}
	esc[0] = (char)c;
	return 1;
}

/*
 * Appends s (NULL: "?") cleaned as how says, at most max bytes of output,
 * whole characters and escapes only, then "..." when s was cut.
 */
static void
nf_text(struct buf *b, const char *s, size_t max, enum nf_how how)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "?");
	size_t left = strlen((const char *)p), start = b->len, k, wl;
	char esc[5];
	const char *w;

	for (; left > 0; p += k, left -= k) {
		k = 1;
		w = esc;
		if (how == NF_HEADER) {
			esc[0] = *p < 0x20 || *p >= 0x7f ? '?' : (char)*p;
			wl = 1;
		} else if (*p >= 0x80 && (k = str_utf8_len(p, left)) > 0) {
			w = (const char *)p;
			wl = k;
		} else {
			k = 1;
			wl = nf_escape(*p, esc);
		}
		if (b->len - start + wl > max)
			break;
		buf_add(b, w, wl);
	}
	if (left > 0)
		buf_addstr(b, "...");
}

/* Whether the shell takes c as it is, unquoted. */
static bool
nf_is_shell_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("@._+-=/:", c));
}

/* Appends s as one shell word (see the top of the file). */
static void
nf_shell_word(struct buf *b, const char *s)
{
	const unsigned char *p;
	size_t left, k;
	bool bare = *s != '\0' && *s != '=', ansi = false;
	char esc[5];

	for (p = (const unsigned char *)s, left = strlen(s); left > 0;
	    p += k, left -= k) {
		k = *p >= 0x80 ? str_utf8_len(p, left) : 1;
		if (k == 0 || *p < 0x20 || *p == 0x7f) {
			ansi = true;
			k = 1;
		}
		if (!nf_is_shell_safe(*p))
			bare = false;
	}
	if (bare) {
		buf_addstr(b, s);
		return;
	}
	buf_addstr(b, ansi ? "$'" : "'");
	for (p = (const unsigned char *)s, left = strlen(s); left > 0;
	    p += k, left -= k) {
		k = *p >= 0x80 ? str_utf8_len(p, left) : 0;
		if (k > 0)
			buf_add(b, p, k);
		else if (*p == '\'')
			buf_addstr(b, ansi ? "\\'" : "'\\''");
		else if (ansi)
			buf_add(b, esc, nf_escape(*p, esc));
		else
			buf_addc(b, (char)*p);
		if (k == 0)
			k = 1;
	}
	buf_addc(b, '\'');
}

/* A figure: an integer when whole, else at most 3 decimals (trailing
 * zeros dropped).  false for NaN or an infinity, which JSON cannot say. */
static bool
nf_fig(double v, char out[NF_FIG_SIZE])
{
	size_t n;

	if (!isfinite(v))
		return false;
	n = (size_t)snprintf(out, NF_FIG_SIZE, "%.3f", v);
	while (n > 0 && out[n - 1] == '0')
		n--;
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
	if (strcmp(out, "-0") == 0)	/* -0.0001 */
		str_copy(out, "0", NF_FIG_SIZE);
	return true;
}

/* The word for a unit in text: a size limit counts bytes. */
static const char *
nf_unit(const char *unit)
{
	if (unit == NULL)
		return "?";
	return strcmp(unit, "size") == 0 ? "bytes" : unit;
}

static void
nf_json_str(struct buf *b, const char *name, const char *s)
{
	buf_printf(b, ",\"%s\":", name);
	if (s == NULL)
		buf_addstr(b, "null");
	else
		buf_add_json_str(b, s);
}

static void
nf_json_fig(struct buf *b, const char *name, double v)
{
	char fig[NF_FIG_SIZE];

	buf_printf(b, ",\"%s\":%s", name, nf_fig(v, fig) ? fig : "null");
}

static void
nf_json_time(struct buf *b, const char *name, int64_t t, bool zero_null)
{
	char tb[TIMEFMT_LEN];

	if (zero_null && t == 0) {
		buf_printf(b, ",\"%s\":null", name);
		return;
	}
	time_rfc3339((time_t)t, tb, sizeof(tb));
	buf_printf(b, ",\"%s\":\"%s\"", name, tb);
}

void
notify_json(const struct notify_event *ev, struct buf *out)
{
	buf_printf(out, "{\"event\":\"quota.threshold\",\"threshold\":%u",
	    ev->threshold);
	nf_json_str(out, "policy", ev->policy);
	nf_json_str(out, "quota", ev->quota);
	nf_json_str(out, "key", ev->key);
	nf_json_fig(out, "used", ev->used);
	buf_printf(out, ",\"limit\":%" PRIu64, ev->limit);
	nf_json_str(out, "unit", ev->unit);
	nf_json_str(out, "period", ev->period);
	nf_json_time(out, "window_start", ev->window_start, false);
	nf_json_time(out, "window_end", ev->window_end, false);
	nf_json_fig(out, "deferred", ev->deferred);
	nf_json_time(out, "next_release", ev->next_release, true);
	nf_json_str(out, "hostname", ev->hostname);
	nf_json_time(out, "time", ev->time, false);
	if (ev->test)
		buf_addstr(out, ",\"test\":true");
	buf_addc(out, '}');
}

/* The unit after a figure: "1 message", "2 messages". */
static void
nf_unit_after(struct buf *b, double n, const char *unit, enum nf_how where)
{
	const char *u = nf_unit(unit);
	size_t len = strlen(u);

	if (n == 1 && len > 1 && u[len - 1] == 's') {
		struct buf one = BUF_INIT;

		buf_add(&one, u, len - 1);
		buf_addc(&one, '\0');
		nf_text(b, one.data, NF_SHORT, where);
		buf_free(&one);
	} else
		nf_text(b, u, NF_SHORT, where);
}

void
notify_subject(const struct notify_event *ev, struct buf *out)
{
	buf_addstr(out, ev->test ? "[sluice] test: " : "[sluice] ");
	nf_text(out, ev->key, NF_SHORT, NF_HEADER);
	buf_printf(out, " reached %u%% of ", ev->threshold);
	nf_text(out, ev->quota, NF_SHORT, NF_HEADER);
	buf_printf(out, " (%" PRIu64 " ", ev->limit);
	nf_unit_after(out, (double)ev->limit, ev->unit, NF_HEADER);
	buf_addstr(out, " per ");
	nf_text(out, ev->period, NF_SHORT, NF_HEADER);
	buf_addc(out, ')');
}

/*
 * Header fields.  A field is written as items after "Name:"; an item
 * follows the previous one after punct and a space, or after punct and a
 * fold when the line would pass NF_LINE.  An empty item never starts a
 * line, so no folded line is white space only (RFC 5322 3.2.2).
 */
struct nf_hdr {
	struct buf	*b;
	size_t		 col;
	bool		 first;
};

static void
nf_hdr_start(struct nf_hdr *h, struct buf *b, const char *name)
{
	h->b = b;
	h->first = true;
	buf_addstr(b, name);
	buf_addc(b, ':');
	h->col = strlen(name) + 1;
}

static void
nf_hdr_item(struct nf_hdr *h, const char *punct, const char *w, size_t wl)
{
	size_t pl = strlen(punct);

	buf_addstr(h->b, punct);
	if (!h->first && wl > 0 && h->col + pl + 1 + wl > NF_LINE) {
		buf_addstr(h->b, "\r\n ");
		h->col = 1;
	} else {
		buf_addc(h->b, ' ');
		h->col += pl + 1;
	}
	buf_add(h->b, w, wl);
	h->col += wl;
	h->first = false;
}

static void
nf_hdr_end(struct nf_hdr *h)
{
	buf_addstr(h->b, "\r\n");
}

/* A field whose value is one item. */
static void
nf_hdr_one(struct buf *b, const char *name, const char *value)
{
	struct nf_hdr h;

	nf_hdr_start(&h, b, name);
	nf_hdr_item(&h, "", value, strlen(value));
	nf_hdr_end(&h);
}

/* A configured address, host name or message id for a header: no
 * control character (CR and LF above all) and no byte outside valid UTF-8
 * (dropped), no space at either end (a fold before it would leave a line
 * of white space only); about max bytes at most (a character may pass it
 * by 3).  drop holds more bytes to leave out. */
static void
nf_hdr_clean(struct buf *b, const char *s, size_t max, const char *drop)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), start = b->len, k;

	for (; left > 0 && b->len - start < max; p += k, left -= k) {
		k = *p >= 0x80 ? str_utf8_len(p, left) : 1;
		if (k == 0)
			k = 1;
		else if (*p >= 0x80)
			buf_add(b, p, k);
		else if (*p >= 0x20 && *p != 0x7f && strchr(drop, *p) == NULL &&
		    (*p != ' ' || b->len > start))
			buf_addc(b, (char)*p);
	}
	while (b->len > start && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

/* "Subject:" with the subject folded at its spaces. */
static void
nf_hdr_subject(struct buf *b, const struct notify_event *ev)
{
	struct buf s = BUF_INIT;
	struct nf_hdr h;
	const char *p, *end;
	size_t wl;

	notify_subject(ev, &s);
	nf_hdr_start(&h, b, "Subject");
	for (p = s.data, end = s.data + s.len; p <= end; p += wl + 1) {
		wl = strcspn(p, " ");
		nf_hdr_item(&h, "", p, wl);
	}
	nf_hdr_end(&h);
	buf_free(&s);
}

/* "To:" with the addresses, folded between them (RFC 5322 2.2.3). */
static void
nf_hdr_to(struct buf *b, const char *const *to, size_t nto)
{
	struct buf a = BUF_INIT;
	struct nf_hdr h;
	size_t i;

	nf_hdr_start(&h, b, "To");
	for (i = 0; i < nto; i++) {
		buf_reset(&a);
		nf_hdr_clean(&a, to[i] ? to[i] : "", NF_WORD_MAX, "");
		if (a.len > 0)
			nf_hdr_item(&h, h.first ? "" : ",", a.data, a.len);
	}
	if (h.first)	/* RFC 5322 3.4: an empty group */
		nf_hdr_item(&h, "", "undisclosed-recipients:;", 24);
	nf_hdr_end(&h);
	buf_free(&a);
}

/*
 * The body.  Prose is wrapped at NF_LINE; a line with the key (escaped or
 * quoted, at most NF_WORD_MAX bytes) is not, so that it can be copied.
 */

/* Appends text as lines of at most NF_LINE columns where its words allow,
 * each with CRLF; runs of spaces become one. */
static void
nf_wrap(struct buf *b, const char *s)
{
	size_t col = 0, wl;

	for (;;) {
		s += strspn(s, " ");
		if (*s == '\0')
			break;
		wl = strcspn(s, " ");
		if (col > 0 && col + 1 + wl > NF_LINE) {
			buf_addstr(b, "\r\n");
			col = 0;
		} else if (col > 0) {
			buf_addc(b, ' ');
			col++;
		}
		buf_add(b, s, wl);
		col += wl;
		s += wl;
	}
	if (col > 0)
		buf_addstr(b, "\r\n");
}

/* "KEY reached P% of quota Q in policy P on HOST." and, for a test, what
 * it is first. */
static void
nf_body_intro(struct buf *b, const struct notify_event *ev)
{
	struct buf t = BUF_INIT;

	if (ev->test) {
		buf_addstr(b, "This is a test sent by `sluicectl notify test`;"
		    " no quota was reached.\r\nThe figures below are a"
		    " sample.\r\n\r\n");
		buf_addstr(&t, "Sample: ");
	}
	nf_text(&t, ev->key, NF_SHORT, NF_BODY);
	buf_printf(&t, " reached %u%% of quota ", ev->threshold);
	nf_text(&t, ev->quota, NF_SHORT, NF_BODY);
	buf_addstr(&t, " in policy ");
	nf_text(&t, ev->policy, NF_SHORT, NF_BODY);
	buf_addstr(&t, " on ");
	nf_text(&t, ev->hostname, NF_SHORT, NF_BODY);
	buf_addc(&t, '.');
	nf_wrap(b, t.data);
	buf_free(&t);
}

/* "  Label:       " */
static void
nf_label(struct buf *b, const char *label)
{
	buf_printf(b, "  %-13s", label);
}

static void
nf_body_figures(struct buf *b, const struct notify_event *ev)
{
	char fig[NF_FIG_SIZE], t1[TIMEFMT_LEN], t2[TIMEFMT_LEN];

	buf_addstr(b, "\r\n");
	nf_label(b, "Key:");
	nf_text(b, ev->key, NF_WORD_MAX, NF_BODY);
	buf_addstr(b, "\r\n");
	nf_label(b, "Track:");
	nf_text(b, ev->track, NF_SHORT, NF_BODY);
	buf_addstr(b, "\r\n");
	nf_label(b, "Used:");
	buf_printf(b, "%s of %" PRIu64 " ", nf_fig(ev->used, fig) ? fig : "?",
	    ev->limit);
	nf_unit_after(b, (double)ev->limit, ev->unit, NF_BODY);
	buf_addstr(b, " per ");
	nf_text(b, ev->period, NF_SHORT, NF_BODY);
	buf_addstr(b, "\r\n");
	time_rfc3339((time_t)ev->window_start, t1, sizeof(t1));
	time_rfc3339((time_t)ev->window_end, t2, sizeof(t2));
	nf_label(b, "Window:");
	buf_printf(b, "%s to %s (UTC)\r\n", t1, t2);
	if (ev->deferred != 0 || ev->next_release != 0) {
		nf_label(b, "Deferred:");
		buf_printf(b, "%s ", nf_fig(ev->deferred, fig) ? fig : "?");
		nf_unit_after(b, ev->deferred, ev->unit, NF_BODY);
		if (ev->next_release != 0) {
			time_rfc3339((time_t)ev->next_release, t1, sizeof(t1));
			buf_printf(b, ", next release %s", t1);
		}
		buf_addstr(b, "\r\n");
	}
	time_rfc3339((time_t)ev->time, t1, sizeof(t1));
	nf_label(b, "Reached at:");
	buf_printf(b, "%s\r\n", t1);
}

/* "  sluicectl [-c CONF] ARGS KEY\r\n" (ctl: the command and -c) */
static void
nf_cmd(struct buf *b, const struct buf *ctl, const char *args,
    const struct buf *qkey)
{
	buf_addstr(b, "  ");
	buf_add(b, ctl->data, ctl->len);
	buf_printf(b, " %s", args);
	if (qkey != NULL) {
		buf_addc(b, ' ');
		buf_add(b, qkey->data, qkey->len);
	}
	buf_addstr(b, "\r\n");
}

/* A Sender:user@domain key is a sender address: the queue commands take
 * it as --sender (matched without regard to case). */
static void
nf_body_sender_cmds(struct buf *b, const struct buf *ctl,
    const struct buf *qkey)
{
	buf_addstr(b, "\r\nTo see the backlog (each deferred recipient and when"
	    " it leaves), all the\r\nsender's queued mail, and the key's"
	    " usage:\r\n");
	nf_cmd(b, ctl, "queue --state deferred --sender", qkey);
	nf_cmd(b, ctl, "queue --sender", qkey);
	nf_cmd(b, ctl, "quota --key", qkey);
	buf_addstr(b, "To send the sender's held mail through its quotas"
	    " again:\r\n");
	nf_cmd(b, ctl, "queue release --sender", qkey);
	buf_addstr(b, "To send its held and deferred mail now, past the quota"
	    " (logged):\r\n");
	nf_cmd(b, ctl, "queue release --now --sender", qkey);
	buf_addstr(b, "To delete all its queued mail, without bounces (a"
	    " compromised account):\r\n");
	nf_cmd(b, ctl, "queue delete --sender", qkey);
}

/* Other tracks: no queue command selects by their key; the deferred
 * listing names the quota and key of each recipient, and its queue id.
 * Also for a sender whose key is too long to be written in a command
 * (qkey NULL). */
static void
nf_body_other_cmds(struct buf *b, const struct buf *ctl,
    const struct buf *qkey, bool sender)
{
	if (qkey != NULL) {
		buf_addstr(b, "\r\nTo see the key's usage:\r\n");
		nf_cmd(b, ctl, "quota --key", qkey);
	} else
		buf_addstr(b, "\r\nThe key is too long to be written in a"
		    " command here.\r\n");
	buf_addstr(b, "\r\nThe backlog is listed, each deferred recipient with"
	    " the quota and key that\r\nhold it (QUOTA and KEY) and its"
	    " message's queue id, by:\r\n");
	nf_cmd(b, ctl, "queue --state deferred", NULL);
	if (!sender)
		buf_addstr(b, "The queue commands select a sender, not this"
		    " key: act on the messages by\r\ntheir queue ids.\r\n");
	buf_addstr(b, "Held mail through its quotas again:\r\n");
	nf_cmd(b, ctl, "queue release ID...", NULL);
	buf_addstr(b, "Held and deferred mail now, past the quota"
	    " (logged):\r\n");
	nf_cmd(b, ctl, "queue release --now ID...", NULL);
	buf_addstr(b, "Delete messages, without bounces:\r\n");
	nf_cmd(b, ctl, "queue delete ID...", NULL);
}

static void
nf_body(struct buf *b, const struct notify_event *ev)
{
	struct buf qkey = BUF_INIT, ctl = BUF_INIT;
	bool fits, sender;

	buf_addstr(&ctl, "sluicectl");
	if (ev->conf_path != NULL) {
		buf_addstr(&ctl, " -c ");
		nf_shell_word(&ctl, ev->conf_path);
	}
	nf_body_intro(b, ev);
	nf_body_figures(b, ev);
	nf_shell_word(&qkey, ev->key ? ev->key : "");
	fits = ev->key != NULL && qkey.len <= NF_WORD_MAX;
	sender = ev->track != NULL &&
	    strcasecmp(ev->track, NF_SENDER_TRACK) == 0;
	if (fits && sender)
		nf_body_sender_cmds(b, &ctl, &qkey);
	else
		nf_body_other_cmds(b, &ctl, fits ? &qkey : NULL, sender);
	buf_addstr(b, "\r\nThis notice comes once per quota, key, window and"
	    " threshold.\r\n");
	buf_free(&qkey);
	buf_free(&ctl);
}

static bool
nf_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

void
notify_mail(const struct notify_event *ev, const char *from,
    const char *const *to, size_t nto, const char *msgid, int64_t now,
    struct buf *out, bool *eightbit)
{
	struct buf body = BUF_INIT, v = BUF_INIT;
	char date[TIMEFMT_LEN];
	bool eight;

	nf_body(&body, ev);
	eight = nf_has_8bit(body.data, body.len);

	nf_hdr_clean(&v, from ? from : "", NF_WORD_MAX, "");
	if (v.len == 0) {	/* RFC 5322 3.6: From is required */
		buf_addstr(&v, "MAILER-DAEMON@");
		nf_hdr_clean(&v, ev->hostname ? ev->hostname : "", NF_HOST_MAX,
		    " <>");
	}
	nf_hdr_one(out, "From", v.data);
	nf_hdr_to(out, to, nto);
	nf_hdr_subject(out, ev);
	time_rfc5322((time_t)now, date, sizeof(date));
	nf_hdr_one(out, "Date", date);
	/* msgid is "ID@hostname"; a bare ID gets "@hostname". */
	buf_reset(&v);
	buf_addc(&v, '<');
	nf_hdr_clean(&v, msgid ? msgid : "", NF_WORD_MAX - NF_HOST_MAX, " <>");
	if (strchr(v.data, '@') == NULL) {
		buf_addc(&v, '@');
		nf_hdr_clean(&v, ev->hostname ? ev->hostname : "", NF_HOST_MAX,
		    " <>");
	}
	buf_addc(&v, '>');
	nf_hdr_one(out, "Message-ID", v.data);
	nf_hdr_one(out, "Auto-Submitted", "auto-generated");	/* RFC 3834 */
	nf_hdr_one(out, "Precedence", "bulk");
	nf_hdr_one(out, "MIME-Version", "1.0");
	nf_hdr_one(out, "Content-Type", eight ? "text/plain; charset=utf-8" :
	    "text/plain; charset=us-ascii");
	nf_hdr_one(out, "Content-Transfer-Encoding", eight ? "8bit" : "7bit");
	nf_hdr_one(out, "X-Sluice-Event", "quota.threshold");
	buf_addstr(out, "\r\n");
	buf_add(out, body.data, body.len);
	*eightbit = eight;
	buf_free(&body);
	buf_free(&v);
}
