/*
 * test_notify_fmt: the webhook's JSON (exact text, then parsed back with
 * sluicectl's strict parser, the key round-tripping), the Subject (7-bit,
 * one line, cut) and the alert message, read back: CRLF everywhere, no
 * line over 998 octets, exactly the header fields written by
 * relay/notify_fmt.c whatever the key, folds that unfold to the value,
 * the figures and the sluicectl commands in the body; the key in a
 * command is run through bash to check it is one word that reads back.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "relay/ctl_priv.h"
#include "relay/notify_priv.h"
#include "t.h"

#define W_START	1795514400	/* 2026-11-24T10:00:00Z */
#define W_END	1795518000	/* 2026-11-24T11:00:00Z */
#define T_EVENT	1795515123	/* 2026-11-24T10:12:03Z */

static const char *const rcpts[] = { "ops@example.com",
    "postmaster@example.com" };

/* The example of DESIGN.md's webhook contract. */
static struct notify_event
base_event(void)
{
	struct notify_event ev = {
		.threshold = 100, .policy = "outbound", .quota = "per-user",
		.track = "Sender:user@domain", .key = "alice@example.com",
		.used = 10, .limit = 10, .unit = "messages", .period = "1h",
		.window_start = W_START, .window_end = W_END, .deferred = 3,
		.next_release = W_END, .hostname = "relay.example.com",
		.time = T_EVENT, .test = false
	};

	return ev;
}

/*
 * JSON.
 */
static void
test_json_exact(void)
{
	struct {
		const char	*name;
		double		 used, deferred;
		int64_t		 next;
		uint64_t	 limit;
		const char	*key;
		bool		 test;
		const char	*want;
	} cases[] = {
		{ "json/whole", 10, 3, W_END, 10, "alice@example.com", false,
		  "{\"event\":\"quota.threshold\",\"threshold\":100,"
		  "\"policy\":\"outbound\",\"quota\":\"per-user\","
		  "\"key\":\"alice@example.com\",\"used\":10,\"limit\":10,"
		  "\"unit\":\"messages\",\"period\":\"1h\","
		  "\"window_start\":\"2026-11-24T10:00:00Z\","
		  "\"window_end\":\"2026-11-24T11:00:00Z\",\"deferred\":3,"
		  "\"next_release\":\"2026-11-24T11:00:00Z\","
		  "\"hostname\":\"relay.example.com\","
		  "\"time\":\"2026-11-24T10:12:03Z\"}" },
		{ "json/fractional, nothing deferred", 7.5, 0, 0,
		  UINT64_MAX, "alice@example.com", false,
		  "{\"event\":\"quota.threshold\",\"threshold\":100,"
		  "\"policy\":\"outbound\",\"quota\":\"per-user\","
		  "\"key\":\"alice@example.com\",\"used\":7.5,"
		  "\"limit\":18446744073709551615,"
		  "\"unit\":\"messages\",\"period\":\"1h\","
		  "\"window_start\":\"2026-11-24T10:00:00Z\","
		  "\"window_end\":\"2026-11-24T11:00:00Z\",\"deferred\":0,"
		  "\"next_release\":null,"
		  "\"hostname\":\"relay.example.com\","
		  "\"time\":\"2026-11-24T10:12:03Z\"}" },
		{ "json/three decimals, test", 1.0 / 3, 0.0004, 0, 10,
		  "a", true,
		  "{\"event\":\"quota.threshold\",\"threshold\":100,"
		  "\"policy\":\"outbound\",\"quota\":\"per-user\","
		  "\"key\":\"a\",\"used\":0.333,\"limit\":10,"
		  "\"unit\":\"messages\",\"period\":\"1h\","
		  "\"window_start\":\"2026-11-24T10:00:00Z\","
		  "\"window_end\":\"2026-11-24T11:00:00Z\",\"deferred\":0,"
		  "\"next_release\":null,"
		  "\"hostname\":\"relay.example.com\","
		  "\"time\":\"2026-11-24T10:12:03Z\",\"test\":true}" },
		{ "json/hostile key", 2.25, 1999.9996, W_END, 10,
		  "q\"b\\c\r\n\x01\x7f\xff\xc3(", false,
		  "{\"event\":\"quota.threshold\",\"threshold\":100,"
		  "\"policy\":\"outbound\",\"quota\":\"per-user\","
		  "\"key\":\"q\\\"b\\\\c\\r\\n\\u0001\\u007f"
		  "\xef\xbf\xbd\xef\xbf\xbd(\",\"used\":2.25,\"limit\":10,"
		  "\"unit\":\"messages\",\"period\":\"1h\","
		  "\"window_start\":\"2026-11-24T10:00:00Z\","
		  "\"window_end\":\"2026-11-24T11:00:00Z\",\"deferred\":2000,"
		  "\"next_release\":\"2026-11-24T11:00:00Z\","
		  "\"hostname\":\"relay.example.com\","
		  "\"time\":\"2026-11-24T10:12:03Z\"}" },
	};
	struct notify_event ev;
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev = base_event();
		ev.used = cases[i].used;
		ev.deferred = cases[i].deferred;
		ev.next_release = cases[i].next;
		ev.limit = cases[i].limit;
		ev.key = cases[i].key;
		ev.test = cases[i].test;
		buf_reset(&b);
		notify_json(&ev, &b);
		T_EQ_STR(b.data, cases[i].want, cases[i].name);
	}
	buf_free(&b);
}

/* Parsed by sluicectl's strict parser: the members in the contract's
 * order, the key back as it was (invalid bytes as U+FFFD). */
static void
test_json_parse(void)
{
	static const char *const order[] = { "event", "threshold", "policy",
	    "quota", "key", "used", "limit", "unit", "period", "window_start",
	    "window_end", "deferred", "next_release", "hostname", "time",
	    "test" };
	struct {
		const char	*key, *want;
		bool		 test;
	} cases[] = {
		{ "alice@example.com", "alice@example.com", false },
		{ "m\xc3\xbcller@b\xc3\xbc" "cher.example", "m\xc3\xbcller@b"
		  "\xc3\xbc" "cher.example", true },
		{ "\"\\\x01\x1f\t\b\f\x7f", "\"\\\x01\x1f\t\b\f\x7f", false },
		{ "a\xff\xfe" "b\xed\xa0\x80", "a\xef\xbf\xbd\xef\xbf\xbd"
		  "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", false },
		{ "\r\nBcc: x@evil", "\r\nBcc: x@evil", false },
		{ "", "", false },
	};
	struct notify_event ev;
	struct buf b = BUF_INIT;
	struct ctl_json *j;
	const char *errstr;
	char name[96];
	size_t i, k, want_n;
	uint64_t u;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev = base_event();
		ev.key = cases[i].key;
		ev.test = cases[i].test;
		ev.next_release = i % 2 ? 0 : W_END;
		buf_reset(&b);
		notify_json(&ev, &b);
		j = ctl_json_parse(b.data, b.len, &errstr);
		snprintf(name, sizeof(name), "json parse %zu: valid JSON", i);
		T_OK(j != NULL && j->type == CTL_JSON_OBJECT, name);
		if (j == NULL)
			continue;
		snprintf(name, sizeof(name), "json parse %zu: key", i);
		T_EQ_STR(ctl_json_str(j, "key"), cases[i].want, name);
		want_n = cases[i].test ? 16 : 15;
		snprintf(name, sizeof(name), "json parse %zu: members", i);
		T_EQ_INT(j->n, want_n, name);
		for (k = 0; k < j->n && k < want_n; k++) {
			snprintf(name, sizeof(name), "json parse %zu: member "
			    "%zu", i, k);
			T_EQ_STR(j->items[k]->key, order[k], name);
		}
		snprintf(name, sizeof(name), "json parse %zu: used", i);
		T_OK(ctl_json_u64(j, "used", &u) == 0 && u == 10, name);
		snprintf(name, sizeof(name), "json parse %zu: next_release",
		    i);
		T_EQ_INT(ctl_json_get(j, "next_release")->type,
		    i % 2 ? CTL_JSON_NULL : CTL_JSON_STRING, name);
		ctl_json_free(&j);
	}
	buf_free(&b);
}

/*
 * Subject.
 */
static void
test_subject(void)
{
	static char longkey[301], want_long[400];
	struct {
		const char	*name, *key, *unit, *quota;
		uint64_t	 limit;
		bool		 test;
		const char	*want;
	} cases[] = {
		{ "subject/plain", "alice@example.com", "messages", "per-user",
		  200, false, "[sluice] alice@example.com reached 100% of "
		  "per-user (200 messages per 1h)" },
		{ "subject/bytes", "alice@example.com", "bytes", "volume",
		  10485760, false, "[sluice] alice@example.com reached 100% "
		  "of volume (10485760 bytes per 1h)" },
		{ "subject/size is bytes", "@example.com", "size", "volume",
		  512, false, "[sluice] @example.com reached 100% of volume "
		  "(512 bytes per 1h)" },
		{ "subject/test", "alice@example.com", "recipients", "rcpt",
		  5, true, "[sluice] test: alice@example.com reached 100% of "
		  "rcpt (5 recipients per 1h)" },
		{ "subject/injection", "a\r\nBcc: x@evil", "messages", "q\nX",
		  1, false, "[sluice] a??Bcc: x@evil reached 100% of q?X (1 "
		  "message per 1h)" },
		{ "subject/non-ASCII", "m\xc3\xbcller\t\x7f\xff", "messages",
		  "q", 1, false, "[sluice] m??ller??? reached 100% of q (1 "
		  "message per 1h)" },
		{ "subject/long key", longkey, "messages", "q", 1, false,
		  want_long },
	};
	struct notify_event ev;
	struct buf b = BUF_INIT;
	size_t i;

	memset(longkey, 'k', sizeof(longkey) - 1);
	snprintf(want_long, sizeof(want_long), "[sluice] %.200s... reached "
	    "100%% of q (1 message per 1h)", longkey);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev = base_event();
		ev.key = cases[i].key;
		ev.unit = cases[i].unit;
		ev.quota = cases[i].quota;
		ev.limit = cases[i].limit;
		ev.test = cases[i].test;
		buf_reset(&b);
		notify_subject(&ev, &b);
		T_EQ_STR(b.data, cases[i].want, cases[i].name);
		T_OK(strpbrk(b.data, "\r\n") == NULL, cases[i].name);
	}
	buf_free(&b);
}

/*
 * The message, read back.
 */
#define MAXF	32

struct parsed {
	char	*name[MAXF];	/* field names, in order */
	char	*value[MAXF];	/* unfolded (CRLF removed), leading WSP off */
	size_t	 n;
	char	*body;
	size_t	 longest_hdr;	/* octets of the longest header line */
	char	 why[128];	/* why the text is not a message, or "" */
};

static void
parsed_free(struct parsed *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->name[i]);
		free(p->value[i]);
	}
	free(p->body);
	memset(p, 0, sizeof(*p));
}

/* Line by line: each ends with CRLF (so does the text), holds no other
 * CR, LF or NUL, and has at most 998 octets. */
static bool
lines_ok(const char *m, size_t n, char *why, size_t whysz)
{
	const char *line = m, *end = m + n, *eol;
	size_t len;

	if (strlen(m) != n) {
		snprintf(why, whysz, "NUL at %zu", strlen(m));
		return false;
	}
	for (; line < end; line = eol + 2) {
		if ((eol = strstr(line, "\r\n")) == NULL) {
			snprintf(why, whysz, "no CRLF after %zu",
			    (size_t)(line - m));
			return false;
		}
		len = (size_t)(eol - line);
		if (strcspn(line, "\r\n") < len) {
			snprintf(why, whysz, "bare CR or LF at %zu",
			    (size_t)(line - m) + strcspn(line, "\r\n"));
			return false;
		}
		if (len > 998) {
			snprintf(why, whysz, "line of %zu octets at %zu", len,
			    (size_t)(line - m));
			return false;
		}
	}
	return true;
}

/* Splits m at the first CRLFCRLF and unfolds its header section. */
static bool
parse(const char *m, size_t n, struct parsed *p)
{
	const char *end, *line, *eol, *colon;
	struct buf v = BUF_INIT;

	memset(p, 0, sizeof(*p));
	if (!lines_ok(m, n, p->why, sizeof(p->why)))
		return false;
	if ((end = strstr(m, "\r\n\r\n")) == NULL) {
		snprintf(p->why, sizeof(p->why), "no empty line");
		return false;
	}
	p->body = strdup(end + 4);
	for (line = m; line < end + 2; line = eol + 2) {
		eol = strstr(line, "\r\n");
		if ((size_t)(eol - line) > p->longest_hdr)
			p->longest_hdr = (size_t)(eol - line);
		if (*line == ' ' || *line == '\t') {
			if (p->n == 0 || strspn(line, " \t") ==
			    (size_t)(eol - line)) {
				snprintf(p->why, sizeof(p->why), "bad fold");
				break;
			}
			buf_add(&v, line, (size_t)(eol - line));
			free(p->value[p->n - 1]);
			p->value[p->n - 1] = strdup(v.data);
			continue;
		}
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line || p->n == MAXF) {
			snprintf(p->why, sizeof(p->why), "not a field: %.40s",
			    line);
			break;
		}
		p->name[p->n] = strndup(line, (size_t)(colon - line));
		buf_reset(&v);
		colon++;
		colon += strspn(colon, " \t");
		buf_add(&v, colon, (size_t)(eol - colon));
		p->value[p->n++] = strdup(v.data);
	}
	buf_free(&v);
	return p->why[0] == '\0';
}

static const char *
field(const struct parsed *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcasecmp(p->name[i], name) == 0)
			return p->value[i];
	return NULL;
}

/* The fields written, in their order, and nothing else. */
static void
check_fields(const struct parsed *p, const char *label)
{
	static const char *const want[] = { "From", "To", "Subject", "Date",
	    "Message-ID", "Auto-Submitted", "Precedence", "MIME-Version",
	    "Content-Type", "Content-Transfer-Encoding", "X-Sluice-Event" };
	struct buf got = BUF_INIT, w = BUF_INIT;
	char name[128];
	size_t i;

	for (i = 0; i < p->n; i++)
		buf_printf(&got, "%s%s", i ? "," : "", p->name[i]);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		buf_printf(&w, "%s%s", i ? "," : "", want[i]);
	snprintf(name, sizeof(name), "%s: header fields", label);
	T_EQ_STR(got.data, w.data, name);
	snprintf(name, sizeof(name), "%s: Auto-Submitted", label);
	T_EQ_STR(field(p, "Auto-Submitted"), "auto-generated", name);
	snprintf(name, sizeof(name), "%s: header lines <= 998", label);
	T_OK(p->longest_hdr <= 998, name);
	buf_free(&got);
	buf_free(&w);
}

/* Builds the message of ev and reads it back; false (reported) when it
 * is not a well-formed message. */
static bool
build(const struct notify_event *ev, const char *const *to, size_t nto,
    const char *from, struct buf *out, struct parsed *p, bool *eight,
    const char *label)
{
	char name[192];
	bool ok;

	buf_reset(out);
	*eight = true;
	notify_mail(ev, from, to, nto, "0ABC.alert@relay.example.com",
	    T_EVENT, out, eight);
	ok = parse(out->data, out->len, p);
	snprintf(name, sizeof(name), "%s: well-formed (%s)", label, p->why);
	T_OK(ok, name);
	if (ok)
		check_fields(p, label);
	return ok;
}

/* A test name that stays on one line: CR and LF in it shown as \r \n. */
static void
check_name(char *name, size_t size, const char *label, const char *what,
    const char *needle)
{
	size_t n;

	n = (size_t)snprintf(name, size, "%s: %s \"", label, what);
	if (n + 2 > size)
		n = size - 2;
	for (; *needle != '\0' && n + 4 < size; needle++)
		if (*needle == '\r' || *needle == '\n') {
			name[n++] = '\\';
			name[n++] = *needle == '\r' ? 'r' : 'n';
		} else
			name[n++] = *needle;
	name[n++] = '"';
	name[n] = '\0';
}

static void
check_has(const char *hay, const char *needle, const char *label)
{
	char name[256];

	check_name(name, sizeof(name), label, "has", needle);
	T_OK(hay != NULL && strstr(hay, needle) != NULL, name);
}

static void
check_lacks(const char *hay, const char *needle, const char *label)
{
	char name[256];

	check_name(name, sizeof(name), label, "lacks", needle);
	T_OK(hay != NULL && strstr(hay, needle) == NULL, name);
}

/* The checker itself refuses what it is there to find. */
static void
test_checker(void)
{
	static char longline[1004];
	struct {
		const char	*name, *text;
		bool		 ok;
	} cases[] = {
		{ "checker/well-formed", "A: b\r\n c\r\n\r\nbody\r\n", true },
		{ "checker/bare LF", "A: b\nC: d\r\n\r\nbody\r\n", false },
		{ "checker/bare CR", "A: b\rC: d\r\n\r\nbody\r\n", false },
		{ "checker/no final CRLF", "A: b\r\n\r\nbody", false },
		{ "checker/blank fold", "A: b\r\n \r\n\r\nbody\r\n", false },
		{ "checker/not a field", "A: b\r\nbad\r\n\r\nbody\r\n", false },
		{ "checker/999 octets", longline, false },
	};
	struct parsed p;
	size_t i;

	memset(longline, 'x', 999);
	memcpy(longline, "A:", 2);
	memcpy(longline + 999, "\r\n\r\n", 4);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_EQ_INT(parse(cases[i].text, strlen(cases[i].text), &p),
		    cases[i].ok, cases[i].name);
		parsed_free(&p);
	}
}

static void
test_mail_plain(void)
{
	static const char *const body_has[] = {
	    "alice@example.com reached 100% of quota per-user in policy "
	    "outbound on\r\nrelay.example.com.\r\n",
	    "  Key:         alice@example.com\r\n",
	    "  Track:       Sender:user@domain\r\n",
	    "  Used:        10 of 10 messages per 1h\r\n",
	    "  Window:      2026-11-24T10:00:00Z to 2026-11-24T11:00:00Z "
	    "(UTC)\r\n",
	    "  Deferred:    3 messages, next release 2026-11-24T11:00:00Z\r\n",
	    "  Reached at:  2026-11-24T10:12:03Z\r\n",
	    "\r\n  sluicectl queue --state deferred --sender "
	    "alice@example.com\r\n",
	    "\r\n  sluicectl queue --sender alice@example.com\r\n",
	    "\r\n  sluicectl quota --key alice@example.com\r\n",
	    "\r\n  sluicectl queue release --sender alice@example.com\r\n",
	    "\r\n  sluicectl queue release --now --sender "
	    "alice@example.com\r\n",
	    "\r\n  sluicectl queue delete --sender alice@example.com\r\n",
	};
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT, subj = BUF_INIT;
	struct parsed p;
	const char *s;
	size_t i, col;
	bool eight, longline = false;

	if (build(&ev, rcpts, 2, "sluice@relay.example.com", &out, &p,
	    &eight, "mail/plain")) {
		T_EQ_STR(field(&p, "From"), "sluice@relay.example.com",
		    "mail/plain: From");
		T_EQ_STR(field(&p, "To"), "ops@example.com, "
		    "postmaster@example.com", "mail/plain: To");
		notify_subject(&ev, &subj);
		T_EQ_STR(field(&p, "Subject"), subj.data,
		    "mail/plain: Subject unfolds to notify_subject");
		T_EQ_STR(field(&p, "Date"), "Tue, 24 Nov 2026 10:12:03 +0000",
		    "mail/plain: Date");
		T_EQ_STR(field(&p, "Message-ID"),
		    "<0ABC.alert@relay.example.com>", "mail/plain: Message-ID");
		T_EQ_STR(field(&p, "Precedence"), "bulk",
		    "mail/plain: Precedence");
		T_EQ_STR(field(&p, "MIME-Version"), "1.0",
		    "mail/plain: MIME-Version");
		T_EQ_STR(field(&p, "Content-Type"),
		    "text/plain; charset=us-ascii", "mail/plain: Content-Type");
		T_EQ_STR(field(&p, "Content-Transfer-Encoding"), "7bit",
		    "mail/plain: Content-Transfer-Encoding");
		T_EQ_STR(field(&p, "X-Sluice-Event"), "quota.threshold",
		    "mail/plain: X-Sluice-Event");
		T_OK(!eight, "mail/plain: not 8bit");
		for (i = 0; i < sizeof(body_has) / sizeof(body_has[0]); i++)
			check_has(p.body, body_has[i], "mail/plain body");
		check_lacks(p.body, "test", "mail/plain body");
		/* prose lines, like all of this one, are <= 78 */
		for (s = out.data, col = 0; *s != '\0'; s++) {
			col = *s == '\n' ? 0 : col + 1;
			if (col > 79)	/* with the CR */
				longline = true;
		}
		T_OK(!longline, "mail/plain: lines <= 78");
	}
	parsed_free(&p);
	buf_free(&out);
	buf_free(&subj);
}

static void
test_mail_test_event(void)
{
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT;
	struct parsed p;
	bool eight;

	ev.test = true;
	ev.deferred = 0;
	ev.next_release = 0;
	if (build(&ev, rcpts, 1, "sluice@relay.example.com", &out, &p,
	    &eight, "mail/test")) {
		T_OK(strncmp(field(&p, "Subject"), "[sluice] test: ", 15) == 0,
		    "mail/test: Subject says test");
		T_OK(strncmp(p.body, "This is a test sent by `sluicectl notify"
		    " test`", 45) == 0, "mail/test: first body line");
		check_lacks(p.body, "Deferred:", "mail/test body");
		T_EQ_STR(field(&p, "To"), "ops@example.com", "mail/test: To");
	}
	parsed_free(&p);
	buf_free(&out);
}

/* A key made to break the message: the header set stays, nothing of the
 * key reaches a header raw, the body shows it escaped. */
static void
test_mail_hostile(void)
{
	struct {
		const char	*name, *key, *shown, *cmd;
		bool		 eight;
	} cases[] = {
		{ "mail/CRLF Bcc", "a'b\r\nBcc: x@evil\r\n\r\nbody\x01\xff",
		  "a'b\\r\\nBcc: x@evil\\r\\n\\r\\nbody\\x01\\xff",
		  "$'a\\'b\\r\\nBcc: x@evil\\r\\n\\r\\nbody\\x01"
		  "\\xff'", false },
		{ "mail/LF only", "x\nSubject: y", "x\\nSubject: y",
		  "$'x\\nSubject: y'", false },
		{ "mail/quote", "o'neil@example.com", "o'neil@example.com",
		  "'o'\\''neil@example.com'", false },
		{ "mail/shell", "$(reboot)`id`;&|*?\\",
		  "$(reboot)`id`;&|*?\\\\",
		  "'$(reboot)`id`;&|*?\\'", false },
		{ "mail/utf-8", "m\xc3\xbcller@example.com",
		  "m\xc3\xbcller@example.com", "'m\xc3\xbcller@example.com'",
		  true },
		{ "mail/empty", "", "", "''", false },
	};
	struct notify_event ev;
	struct buf out = BUF_INIT, want = BUF_INIT;
	struct parsed p;
	char name[128];
	size_t i;
	bool eight;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ev = base_event();
		ev.key = cases[i].key;
		if (!build(&ev, rcpts, 2, "sluice@relay.example.com", &out, &p,
		    &eight, cases[i].name)) {
			parsed_free(&p);
			continue;
		}
		snprintf(name, sizeof(name), "%s: 8bit", cases[i].name);
		T_EQ_INT(eight, cases[i].eight, name);
		snprintf(name, sizeof(name), "%s: charset", cases[i].name);
		T_EQ_STR(field(&p, "Content-Type"), cases[i].eight ?
		    "text/plain; charset=utf-8" :
		    "text/plain; charset=us-ascii", name);
		snprintf(name, sizeof(name), "%s: encoding", cases[i].name);
		T_EQ_STR(field(&p, "Content-Transfer-Encoding"),
		    cases[i].eight ? "8bit" : "7bit", name);
		buf_reset(&want);
		buf_printf(&want, "  Key:         %s\r\n", cases[i].shown);
		check_has(p.body, want.data, cases[i].name);
		buf_reset(&want);
		buf_printf(&want, "\r\n  sluicectl queue delete --sender "
		    "%s\r\n", cases[i].cmd);
		check_has(p.body, want.data, cases[i].name);
		check_lacks(out.data, "\r\nBcc", cases[i].name);
		check_lacks(out.data, "\r\nbody", cases[i].name);
		parsed_free(&p);
	}
	buf_free(&out);
	buf_free(&want);
}

/* Runs "printf %s WORD" in bash for each quoted key of a command in the
 * body: the shell must read the key back, as one word. */
static void
test_shell_roundtrip(void)
{
	static const char *const keys[] = { "alice@example.com",
	    "o'neil@example.com", "a b", "$(touch /tmp/x)`id`;'\"\\",
	    "a'b\r\nBcc: x@evil\x01\x1b[31m\x7f", "lat\xe9" "1@\xff.x",
	    "m\xc3\xbcller@example.com", "=ls", "-x", "''" };
	struct notify_event ev;
	struct buf out = BUF_INIT, cmd = BUF_INIT, got = BUF_INIT;
	const char *s, *eol;
	char name[64], chunk[256];
	size_t i, n;
	FILE *f;

	if (access("/bin/bash", X_OK) != 0) {
		T_OK(1, "shell round trip: skipped, no /bin/bash");
		return;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		ev = base_event();
		ev.key = keys[i];
		buf_reset(&out);
		notify_mail(&ev, "a@b", rcpts, 1, "x@y", T_EVENT, &out,
		    &(bool){ false });
		s = strstr(out.data, "  sluicectl quota --key ");
		snprintf(name, sizeof(name), "shell round trip %zu", i);
		if (s == NULL) {
			T_OK(0, name);
			continue;
		}
		s += strlen("  sluicectl quota --key ");
		eol = strstr(s, "\r\n");
		buf_reset(&cmd);
		buf_addstr(&cmd, "/bin/bash -c \"printf %s \"");
		/* the word, passed to bash -c through sh in single quotes */
		buf_addstr(&cmd, "'");
		for (; s < eol; s++)
			if (*s == '\'')
				buf_addstr(&cmd, "'\\''");
			else
				buf_addc(&cmd, *s);
		buf_addstr(&cmd, "'");
		buf_reset(&got);
		if ((f = popen(cmd.data, "r")) != NULL) {
			while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
				buf_add(&got, chunk, n);
			pclose(f);
		}
		T_EQ_STR(got.data ? got.data : "", keys[i], name);
	}
	buf_free(&out);
	buf_free(&cmd);
	buf_free(&got);
}

/* Other tracks: the commands that take such a key. */
static void
test_mail_other_track(void)
{
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT;
	struct parsed p;
	bool eight;

	ev.track = "SenderIP";
	ev.key = "192.0.2.0/24";
	ev.unit = "bytes";
	ev.limit = 10485760;
	ev.used = 5242880.5;
	if (build(&ev, rcpts, 2, "sluice@relay.example.com", &out, &p,
	    &eight, "mail/SenderIP")) {
		check_has(p.body, "\r\n  sluicectl quota --key "
		    "192.0.2.0/24\r\n", "mail/SenderIP");
		check_has(p.body, "\r\n  sluicectl queue --state deferred\r\n",
		    "mail/SenderIP");
		check_has(p.body, "\r\n  sluicectl queue release --now "
		    "ID...\r\n", "mail/SenderIP");
		check_has(p.body, "\r\n  sluicectl queue delete ID...\r\n",
		    "mail/SenderIP");
		check_has(p.body, "  Used:        5242880.5 of 10485760 bytes "
		    "per 1h\r\n", "mail/SenderIP");
		check_has(field(&p, "Subject"), "(10485760 bytes per 1h)",
		    "mail/SenderIP");
		check_lacks(p.body, "--sender", "mail/SenderIP");
	}
	parsed_free(&p);
	buf_free(&out);

	/* sluiced on another configuration: the commands say which */
	ev = base_event();
	ev.conf_path = "/srv/my relay/sluice.conf";
	if (build(&ev, rcpts, 1, NULL, &out, &p, &eight, "mail/conf")) {
		check_has(p.body, "\r\n  sluicectl -c '/srv/my relay/sluice.conf'"
		    " queue --sender alice@example.com\r\n", "mail/conf");
		check_lacks(p.body, "\r\n  sluicectl queue", "mail/conf");
	}
	parsed_free(&p);
	buf_free(&out);
}

/* Many recipients: one To, folded between addresses, lines <= 78. */
static void
test_mail_long_to(void)
{
	const char *to[40];
	char addrs[40][48];
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT, want = BUF_INIT;
	struct parsed p;
	const char *s, *e;
	size_t i, folds = 0;
	bool eight, ok = true;

	for (i = 0; i < 40; i++) {
		snprintf(addrs[i], sizeof(addrs[i]),
		    "administrator-%02zu@example.com", i);
		to[i] = addrs[i];
		buf_printf(&want, "%s%s", i ? ", " : "", addrs[i]);
	}
	if (build(&ev, to, 40, "sluice@relay.example.com", &out, &p, &eight,
	    "mail/long To")) {
		T_EQ_STR(field(&p, "To"), want.data, "mail/long To: unfolds");
		s = strstr(out.data, "\r\nTo: ");
		e = strstr(s, "\r\nSubject: ");
		for (; s < e; s = strstr(s + 2, "\r\n")) {
			if (s[2] == ' ')
				folds++;
			if (strstr(s + 2, "\r\n") - (s + 2) > 78)
				ok = false;
			if (s[2] == ' ' && s[-1] != ',')
				ok = false;	/* not after an address */
		}
		T_OK(folds >= 15, "mail/long To: folded");
		T_OK(ok, "mail/long To: lines <= 78, folds after a comma");
	}
	parsed_free(&p);
	buf_free(&out);
	buf_free(&want);
}

/* Configured values with CR/LF: stripped, the header set unchanged. */
static void
test_mail_config_injection(void)
{
	const char *to[] = { "ops@example.com\r\nBcc: evil@example.net",
	    "\r\n", "  \t ", "x@example.com" };
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT;
	struct parsed p;
	bool eight;

	ev.hostname = "relay.example.com\r\nX-Evil: 1";
	if (build(&ev, to, 4, "sluice@example.com\r\nReply-To: evil@x", &out,
	    &p, &eight, "mail/config injection")) {
		T_EQ_STR(field(&p, "From"),
		    "sluice@example.comReply-To: evil@x",
		    "mail/config injection: From");
		T_EQ_STR(field(&p, "To"), "ops@example.comBcc: "
		    "evil@example.net, x@example.com",
		    "mail/config injection: To");
	}
	parsed_free(&p);
	ev.hostname = "relay.example.com";
	if (build(&ev, NULL, 0, NULL, &out, &p, &eight, "mail/no To")) {
		T_EQ_STR(field(&p, "From"), "MAILER-DAEMON@relay.example.com",
		    "mail/no To: From");
		T_EQ_STR(field(&p, "To"), "undisclosed-recipients:;",
		    "mail/no To: To");
	}
	parsed_free(&p);
	buf_free(&out);
}

/* A key far too long: every line still fits, the commands that would
 * need it are left out, the message is whole. */
static void
test_mail_huge_key(void)
{
	static char key[20001];
	struct notify_event ev = base_event();
	struct buf out = BUF_INIT;
	struct parsed p;
	size_t i;
	bool eight;

	for (i = 0; i < sizeof(key) - 1; i++)
		key[i] = i % 7 == 0 ? '\r' : i % 11 == 0 ? ' ' : 'k';
	ev.key = key;
	if (build(&ev, rcpts, 2, "sluice@relay.example.com", &out, &p, &eight,
	    "mail/huge key")) {
		check_lacks(p.body, "--sender", "mail/huge key");
		check_lacks(p.body, "--key", "mail/huge key");
		check_has(p.body, "too long to be written in a command",
		    "mail/huge key");
		check_has(p.body, "\r\n  sluicectl queue --state deferred\r\n",
		    "mail/huge key");
		T_OK(strlen(field(&p, "Subject")) < 400,
		    "mail/huge key: Subject cut");
	}
	parsed_free(&p);
	buf_free(&out);
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_json_exact();
	test_json_parse();
	test_subject();
	test_checker();
	test_mail_plain();
	test_mail_test_event();
	test_mail_hostile();
	test_shell_roundtrip();
	test_mail_other_track();
	test_mail_long_to();
	test_mail_config_injection();
	test_mail_huge_key();
	return t_done();
}
