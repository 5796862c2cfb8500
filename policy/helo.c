/*
 * helo: the HELO checks (helo.h): the form of a HELO, a policy's
 * settings, their merge and bounds, and the decision.  The record of
 * what each client said is helo_state.c's.
 *
 * What an attacker controls: the HELO, any bytes the SMTP parser lets
 * through (with XFORWARD, what a trusted peer passes on).  It is
 * measured (strnlen, bounded) before anything copies it; its form is
 * read in place; a HELO shown in a reply is cut to SHOWN_MAX bytes with
 * anything but printable ASCII (and '<', '>') as '?', so it can neither
 * end the reply line nor start another.
 *
 * Invariants: the decision reads the record as it was and counts this
 * HELO as seen now, and only then is the HELO recorded: so explain,
 * which records nothing, decides the same.  A DNS failure is never a
 * 5xx: the only 4xx reason is dns-failure, and a custom reply must keep
 * its reason's class (pol_reply_check).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "helo_priv.h"
#include "policy_priv.h"

#define SHOWN_MAX	100	/* bytes of a HELO put in a reply */

static const struct {
	const char		*name;
	enum helo_verdict	 verdict;
	const char		*code;
	const char		*text;
} reasons[HELO_NREASON] = {
	[HELO_R_NONE] = { "none", HELO_PASS, NULL, NULL },
	[HELO_R_UNCHECKED] = { "unchecked", HELO_PASS, NULL, NULL },
	[HELO_R_WHITELISTED] = { "whitelisted", HELO_PASS, NULL, NULL },
	[HELO_R_INVALID] = { "invalid", HELO_REJECT, "501 5.5.2",
	    "Invalid name" },
	[HELO_R_NOT_FQDN] = { "not-fqdn", HELO_REJECT, "504 5.5.2",
	    "need fully-qualified hostname" },
	[HELO_R_IP_NOT_ALLOWED] = { "ip-not-allowed", HELO_REJECT,
	    "504 5.5.2", "need fully-qualified hostname or address literal" },
	[HELO_R_NXDOMAIN] = { "nxdomain", HELO_REJECT, "550 5.7.1",
	    "Host not found" },
	[HELO_R_NO_RECORDS] = { "no-records", HELO_REJECT, "550 5.7.1",
	    "No address or MX record found" },
	[HELO_R_DNS_FAILURE] = { "dns-failure", HELO_TEMPFAIL, "450 4.7.1",
	    "Host not found: temporary DNS failure" },
	[HELO_R_BLACKLISTED] = { "blacklisted", HELO_REJECT, "554 5.7.1",
	    "Access denied" },
	[HELO_R_HRP_EXCEEDED] = { "hrp-exceeded", HELO_REJECT, "550 5.7.1",
	    "Too many different HELO names" },
};

const char *const helo_blacklist_default[HELO_BLACKLIST_DEFAULT_N] = {
	"localhost", "localhost.localdomain", "127.0.0.1", "[127.0.0.1]"
};

const char *
helo_reason_name(enum helo_reason r)
{
	return (unsigned)r < HELO_NREASON ? reasons[r].name : "?";
}

const char *
helo_verdict_name(enum helo_verdict v)
{
	static const char *const names[] = { "pass", "reject", "tempfail",
	    "need-dns" };

	return (unsigned)v < 4 ? names[v] : "?";
}

const char *
helo_form_name(enum helo_form f)
{
	static const char *const names[] = { "fqdn", "single label",
	    "address literal", "bare address", "not a host name",
	    "invalid" };

	return (unsigned)f < 6 ? names[f] : "?";
}

int
helo_reason_parse(const char *s, enum helo_reason *r)
{
	unsigned i;

	for (i = 0; i < HELO_NREASON; i++)
		if (reasons[i].verdict != HELO_PASS &&
		    strcasecmp(s, reasons[i].name) == 0) {
			*r = (enum helo_reason)i;
			return 0;
		}
	return -1;
}

/* "[192.0.2.1]" or "[IPv6:...]" (RFC 5321 4.1.3; the tag in any case). */
static bool
is_literal(const char *h, size_t len)
{
	char in[64];
	unsigned char a[16];

	if (len < 3 || h[len - 1] != ']' || len - 2 >= sizeof(in))
		return false;
	memcpy(in, h + 1, len - 2);
	in[len - 2] = '\0';
	if (strncasecmp(in, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, in + 5, a) == 1;
	return inet_pton(AF_INET, in, a) == 1;
}

static bool
is_bare_ip(const char *h, size_t len)
{
	char in[64];
	unsigned char a[16];

	if (len >= sizeof(in))
		return false;
	memcpy(in, h, len + 1);
	return inet_pton(AF_INET, in, a) == 1 ||
	    inet_pton(AF_INET6, in, a) == 1;
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* A name: labels of letters, digits, '-' (and '_', which only DNS
 * allows), 1 to 63 bytes, at most 253 without the trailing dot. */
static enum helo_form
name_form(const char *h, size_t len)
{
	size_t i, start = 0, labels = 0;
	bool bad = false, digits = true;

	if (len > 1 && h[len - 1] == '.')
		len--;
	if (len > 253)
		return HELO_FORM_INVALID;
	for (i = 0; i <= len; i++) {
		if (i == len || h[i] == '.') {
			if (i == start || i - start > 63)
				return HELO_FORM_INVALID;
			if (h[start] == '-' || h[i - 1] == '-')
				bad = true;
			labels++;
			if (i < len)
				digits = true;
			start = i + 1;
		} else if (h[i] != '_' && !is_ldh((unsigned char)h[i]))
			return HELO_FORM_INVALID;
		else {
			bad |= h[i] == '_';
			digits &= h[i] >= '0' && h[i] <= '9';
		}
	}
	if (bad || digits)	/* RFC 1123 2.1: a top label is not numeric */
		return HELO_FORM_BAD_NAME;
	return labels >= 2 ? HELO_FORM_FQDN : HELO_FORM_SINGLE;
}

enum helo_form
helo_form(const char *h)
{
	size_t len;

	if (h == NULL || (len = strnlen(h, HELO_NAME_MAX + 1)) == 0 ||
	    len > HELO_NAME_MAX)
		return HELO_FORM_INVALID;
	if (h[0] == '[')
		return is_literal(h, len) ? HELO_FORM_LITERAL :
		    HELO_FORM_INVALID;
	if (is_bare_ip(h, len))
		return HELO_FORM_IP;
	return name_form(h, len);
}

void
helo_normalise(const char *h, char out[HELO_NAME_MAX + 1])
{
	size_t i;
	unsigned char c;

	for (i = 0; i < HELO_NAME_MAX && h[i] != '\0'; i++) {
		c = (unsigned char)h[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		out[i] = (char)(c > ' ' && c <= '~' ? c : '?');
	}
	out[i] = '\0';
	if (i > 1 && out[i - 1] == '.')
		out[i - 1] = '\0';
}

bool
helo_name_is_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= HELO_NAME_MAX || s[i] <= ' ' || s[i] > '~')
			return false;
	return i > 0 && strcmp(s, ".") != 0;
}

/*
 * Settings.
 */

struct helo_settings *
helo_settings_new(void)
{
	return xcalloc(1, sizeof(struct helo_settings));
}

void
helo_settings_free(struct helo_settings **sp)
{
	struct helo_settings *s = *sp;
	unsigned r;

	if (s == NULL)
		return;
	while (s->nblacklist > 0)
		free(s->blacklist[--s->nblacklist]);
	free(s->blacklist);
	free(s->whitelist);
	for (r = 0; r < HELO_NREASON; r++)
		free(s->reply[r]);
	free(s);
	*sp = NULL;
}

static int
check_window(const char *what, uint64_t within, char *err, size_t errsz)
{
	if (within > HELO_WINDOW_MAX)
		return pol_fail(err, errsz, "helo: %s within %llu s: at most "
		    "%d days", what, (unsigned long long)within,
		    HELO_WINDOW_DAYS);
	return 0;
}

/* The names of a blacklist, its window, hrp's limit and window. */
static int
check_lists(const struct helo_settings *s, char *err, size_t errsz)
{
	size_t i;

	for (i = 0; i < s->nblacklist; i++)
		if (!helo_name_is_ok(s->blacklist[i]))
			return pol_fail(err, errsz, "helo: blacklist: \"%.64s\" "
			    "is not a HELO (printable ASCII, no space, 1 to %d "
			    "bytes)", s->blacklist[i], HELO_NAME_MAX);
	if (s->nblacklist == 0 && s->blacklist_within != 0)
		return pol_fail(err, errsz, "helo: blacklist within: no names "
		    "to remember");
	if (s->hrp_limit > HELO_HRP_MAX || (s->hrp_limit == 0) !=
	    (s->hrp_within == 0))
		return pol_fail(err, errsz, "helo: hrp %u within %llu s: N is 1 "
		    "to %d with a window of 1 s or more (hrp no turns it off)",
		    s->hrp_limit, (unsigned long long)s->hrp_within,
		    HELO_HRP_MAX);
	if (check_window("blacklist", s->blacklist_within, err, errsz) == -1)
		return -1;
	return check_window("hrp", s->hrp_within, err, errsz);
}

int
helo_settings_check(const struct helo_settings *s, char *err, size_t errsz)
{
	char what[64];
	unsigned r;

	if ((s->written & HELO_W_OFF) && s->written != HELO_W_OFF)
		return pol_fail(err, errsz, "helo: off turns every check off "
		    "and forgets the inherited ones: write it alone");
	if (check_lists(s, err, errsz) == -1)
		return -1;
	for (r = 0; r < HELO_NREASON; r++) {
		if (s->reply[r] == NULL)
			continue;
		if (reasons[r].verdict == HELO_PASS)
			return pol_fail(err, errsz, "helo: reply %s: that "
			    "reason does not refuse", reasons[r].name);
		snprintf(what, sizeof(what), "helo: reply %s", reasons[r].name);
		if (pol_reply_check(reasons[r].verdict == HELO_REJECT ?
		    POL_V_REJECT : POL_V_TEMPFAIL, s->reply[r], what, err,
		    errsz) == -1)
			return -1;
	}
	return 0;
}

void
helo_merge(const struct helo_settings *const *v, size_t n,
    struct helo_settings *out)
{
	const struct helo_settings *s;
	unsigned r;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		if ((s = v[i]) == NULL)
			continue;
		if (s->written & HELO_W_OFF) {
			memset(out, 0, sizeof(*out));
			continue;
		}
		if (s->written & HELO_W_REJECT_INVALID)
			out->reject_invalid = s->reject_invalid;
		if (s->written & HELO_W_REJECT_IP)
			out->reject_ip = s->reject_ip;
		if (s->written & HELO_W_REJECT_UNRESOLVABLE)
			out->reject_unresolvable = s->reject_unresolvable;
		if (s->written & HELO_W_BLACKLIST) {
			out->blacklist = s->blacklist;
			out->nblacklist = s->nblacklist;
			out->blacklist_within = s->blacklist_within;
		}
		if (s->written & HELO_W_WHITELIST) {
			out->whitelist = s->whitelist;
			out->nwhitelist = s->nwhitelist;
		}
		if (s->written & HELO_W_HRP) {
			out->hrp_limit = s->hrp_limit;
			out->hrp_within = s->hrp_within;
		}
		for (r = 0; r < HELO_NREASON; r++)
			if (s->written & HELO_W_REPLY(r))
				out->reply[r] = s->reply[r];
		out->written |= s->written;
	}
}

bool
helo_is_active(const struct helo_settings *s)
{
	return s->reject_invalid || s->reject_ip || s->reject_unresolvable ||
	    s->nblacklist > 0 || s->hrp_limit > 0;
}

static bool
form_is_askable(enum helo_form f)
{
	return f == HELO_FORM_FQDN || f == HELO_FORM_SINGLE ||
	    f == HELO_FORM_BAD_NAME;
}

bool
helo_needs_dns(const struct helo_settings *s, const char *helo)
{
	return s->reject_unresolvable && helo != NULL &&
	    form_is_askable(helo_form(helo));
}

size_t
helo_cap_of(const struct helo_settings *s)
{
	return (s->hrp_limit > 0 ? s->hrp_limit + 1 : 1) + 1;
}

void
helo_limits(const struct helo_settings *const *v, size_t n,
    struct helo_limits *out)
{
	size_t i;

	out->per_client = 2;
	out->max_window = 0;
	for (i = 0; i < n; i++) {
		if (v[i] == NULL)
			continue;
		if (helo_cap_of(v[i]) > out->per_client)
			out->per_client = helo_cap_of(v[i]);
		if (v[i]->hrp_within > out->max_window)
			out->max_window = v[i]->hrp_within;
		if (v[i]->blacklist_within > out->max_window)
			out->max_window = v[i]->blacklist_within;
	}
}

/*
 * The decision.
 */

static void
note(struct buf *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
note(struct buf *why, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_addstr(why, "helo: ");
	buf_addstr(why, line);
	buf_addc(why, '\n');
}

bool
helo_is_listed(const struct helo_settings *s, const char *name)
{
	size_t i, n = strlen(name), m;

	for (i = 0; i < s->nblacklist; i++) {
		m = strlen(s->blacklist[i]);
		if (m == n + 1 && s->blacklist[i][n] == '.')
			m = n;
		if (m == n && strncasecmp(s->blacklist[i], name, n) == 0)
			return true;
	}
	return false;
}

static enum helo_reason
form_reason(const struct helo_settings *s, enum helo_form f)
{
	switch (f) {
	case HELO_FORM_IP:
		return s->reject_ip ? HELO_R_IP_NOT_ALLOWED : HELO_R_NONE;
	case HELO_FORM_SINGLE:
		return s->reject_invalid ? HELO_R_NOT_FQDN : HELO_R_NONE;
	case HELO_FORM_BAD_NAME:
		return s->reject_invalid ? HELO_R_INVALID : HELO_R_NONE;
	case HELO_FORM_INVALID:		/* nothing DNS could be asked */
		return s->reject_invalid || s->reject_unresolvable ?
		    HELO_R_INVALID : HELO_R_NONE;
	case HELO_FORM_FQDN:
	case HELO_FORM_LITERAL:
		break;
	}
	return HELO_R_NONE;
}

/* This HELO, or with a window one this client gave in it. */
static enum helo_reason
blacklist_reason(const struct helo_settings *s, const struct helo_client *c,
    const char *name, int64_t now, struct helo_result *out)
{
	size_t i;

	if (s->nblacklist == 0)
		return HELO_R_NONE;
	if (helo_is_listed(s, name)) {
		str_copy(out->listed, name, sizeof(out->listed));
		return HELO_R_BLACKLISTED;
	}
	for (i = 0; s->blacklist_within > 0 && c != NULL && i < c->n; i++)
		if (helo_in_window(c->seen[i].last, now, s->blacklist_within) &&
		    helo_is_listed(s, c->seen[i].name)) {
			str_copy(out->listed, c->seen[i].name,
			    sizeof(out->listed));
			return HELO_R_BLACKLISTED;
		}
	return HELO_R_NONE;
}

/* The distinct HELOs of the window, this one (seen now) included. */
static enum helo_reason
hrp_reason(const struct helo_settings *s, const struct helo_client *c,
    const char *name, int64_t now, struct helo_result *out)
{
	size_t i;

	if (s->hrp_limit == 0)
		return HELO_R_NONE;
	out->distinct = 1;
	for (i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->seen[i].name, name) != 0 &&
		    helo_in_window(c->seen[i].last, now, s->hrp_within))
			out->distinct++;
	return out->distinct > s->hrp_limit ? HELO_R_HRP_EXCEEDED :
	    HELO_R_NONE;
}

static enum helo_verdict
dns_step(const struct helo_settings *s, enum helo_form f, enum helo_dns d,
    enum helo_reason *r)
{
	*r = HELO_R_NONE;
	if (!s->reject_unresolvable || !form_is_askable(f))
		return HELO_PASS;
	switch (d) {
	case HELO_DNS_UNKNOWN:		return HELO_NEED_DNS;
	case HELO_DNS_FOUND:		return HELO_PASS;
	case HELO_DNS_NXDOMAIN:		*r = HELO_R_NXDOMAIN; break;
	case HELO_DNS_NO_RECORDS:	*r = HELO_R_NO_RECORDS; break;
	case HELO_DNS_FAILURE:		*r = HELO_R_DNS_FAILURE; break;
	}
	return reasons[*r].verdict;
}

/* The HELO as shown in a reply: printable ASCII but '<' and '>', cut. */
static void
shown(const char *h, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; i < SHOWN_MAX && i + 4 < outsz && h[i] != '\0'; i++)
		out[i] = (char)(h[i] > ' ' && h[i] <= '~' && h[i] != '<' &&
		    h[i] != '>' ? h[i] : '?');
	out[i] = '\0';
	if (h[i] != '\0')
		str_copy(out + i, "...", outsz - i);
}

static void
reply_of(const struct helo_settings *s, enum helo_reason r, const char *helo,
    char *buf, size_t bufsz)
{
	const char *t = s->reply[r];
	char h[SHOWN_MAX + 8];
	bool coded = t != NULL && t[0] >= '2' && t[0] <= '5' &&
	    t[1] >= '0' && t[1] <= '9' && t[2] >= '0' && t[2] <= '9' &&
	    (t[3] == ' ' || t[3] == '\0');

	/* a code of the wrong class (helo_settings_check refuses it) never
	 * turns a DNS failure into a 5xx: the default answers instead */
	if (coded && t[0] != reasons[r].code[0])
		t = NULL;
	if (t != NULL && coded)
		str_copy(buf, t, bufsz);
	else if (t != NULL)
		snprintf(buf, bufsz, "%s %s", reasons[r].code, t);
	else {
		shown(helo, h, sizeof(h));
		snprintf(buf, bufsz, "%s <%s>: Helo command rejected: %s",
		    reasons[r].code, h, reasons[r].text);
	}
}

static enum helo_verdict
decide(const struct helo_state *st, const struct helo_settings *s,
    const struct helo_query *q, const char *name, int64_t now,
    struct helo_result *out, struct buf *why)
{
	const struct helo_client *c = helo_client_find(st, q->client);
	enum helo_form f = helo_form(q->helo);
	enum helo_reason r;
	size_t i;

	for (i = 0; q->client != NULL && i < s->nwhitelist; i++)
		if (cidr_match(&s->whitelist[i], q->client)) {
			out->reason = HELO_R_WHITELISTED;
			note(why, "client whitelisted: nothing checked");
			return HELO_PASS;
		}
	note(why, "\"%s\" is %s", name, helo_form_name(f));
	if ((r = form_reason(s, f)) == HELO_R_NONE &&
	    (r = blacklist_reason(s, c, name, now, out)) == HELO_R_NONE) {
		r = hrp_reason(s, c, name, now, out);
		if (s->hrp_limit > 0)
			note(why, "hrp: %u distinct in %llu s, limit %u",
			    out->distinct, (unsigned long long)s->hrp_within,
			    s->hrp_limit);
	}
	if (r == HELO_R_NONE && dns_step(s, f, q->dns, &r) == HELO_NEED_DNS) {
		note(why, "reject-unresolvable: needs the DNS answer");
		return HELO_NEED_DNS;
	}
	out->reason = r;
	if (r == HELO_R_BLACKLISTED)
		note(why, "blacklisted: \"%s\"", out->listed);
	if (reasons[r].verdict != HELO_PASS)
		reply_of(s, r, q->helo, out->reply, sizeof(out->reply));
	note(why, "%s (%s)", helo_verdict_name(reasons[r].verdict),
	    reasons[r].name);
	return reasons[r].verdict;
}

enum helo_verdict
helo_check(struct helo_state *st, const struct helo_settings *s,
    const struct helo_query *q, int64_t now, struct helo_result *out,
    struct buf *why)
{
	char name[HELO_NAME_MAX + 1];

	memset(out, 0, sizeof(*out));
	if (!helo_is_active(s) || q->helo == NULL) {
		out->reason = HELO_R_UNCHECKED;
		note(why, "%s", q->helo == NULL ? "no HELO known" :
		    "no check in force");
		return out->verdict = HELO_PASS;
	}
	helo_normalise(q->helo, name);
	out->verdict = decide(st, s, q, name, now, out, why);
	if (!q->explain && st != NULL && q->client != NULL && name[0] != '\0')
		helo_remember(st, s, q->client, name, now);
	return out->verdict;
}
