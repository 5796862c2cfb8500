/*
 * test_helo: the HELO checks (policy/helo.c, helo_state.c) driven by
 * `now` alone.  The form of HELOs (FQDNs, single labels, underscores, a
 * trailing dot, IDN A-labels, address literals good and bad, bare
 * addresses, empty, too long) and what reject-invalid/reject-ip make of
 * them; replies; the blacklist without regard to case, and its window;
 * the whitelist; DNS outcomes (never a 5xx for a failure); hrp at the
 * edges of its window; the merge across policies and `off`; the block's
 * checks; explain changes nothing; prune, load and the changed rows; the
 * bound per client under a flood.  Blocks are written as in sluice.conf,
 * through a small reader below (lists with commas).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strutil.h"
#include "lib/xalloc.h"
#include "policy/helo.h"
#include "t.h"

#define NOW	1000000

static struct helo_state *st;

static struct addr
ip(const char *s)
{
	struct addr a;

	if (addr_parse(s, &a) == -1)
		memset(&a, 0, sizeof(a));
	return a;
}

/* The next word of *p (up to a space), copied into w; false at the end. */
static bool
word(const char **p, char *w, size_t wsz)
{
	size_t n;

	*p += strspn(*p, " ");
	n = strcspn(*p, " ");
	if (n == 0)
		return false;
	snprintf(w, wsz, "%.*s", (int)n, *p);
	*p += n;
	return true;
}

static uint64_t
num(const char *w)
{
	uint64_t v = 0;
	const char *es;

	T_OK(str_to_duration(w, 0, UINT64_MAX, &v, &es) == 0, w);
	return v;
}

/* "a,b,c" into a malloc'd array of copies; n 0 for "none". */
static char **
list(const char *w, size_t *n)
{
	char **v = NULL;
	const char *p = w;
	size_t len;

	*n = 0;
	if (strcmp(w, "none") == 0)
		return NULL;
	for (; *p != '\0'; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		v = xreallocarray(v, *n + 1, sizeof(*v));
		v[(*n)++] = xstrndup(p, len);
	}
	return v;
}

static void
set_whitelist(struct helo_settings *s, const char *w)
{
	char **v = list(w, &s->nwhitelist);
	const char *es;
	size_t i;

	s->whitelist = xcalloc(s->nwhitelist + 1, sizeof(*s->whitelist));
	for (i = 0; i < s->nwhitelist; i++) {
		T_OK(cidr_parse(v[i], &s->whitelist[i], &es) == 0, v[i]);
		free(v[i]);
	}
	free(v);
}

/* A block as conf/ would fill it: "reject-invalid yes hrp 3 within 1h
 * blacklist localhost,[127.0.0.1] within 10m whitelist 10.0.0.0/8 off". */
static struct helo_settings *
block(const char *spec)
{
	struct helo_settings *s = helo_settings_new();
	const char *p = spec;
	char w[512], v[512];

	while (word(&p, w, sizeof(w))) {
		if (strcmp(w, "off") == 0) {
			s->written |= HELO_W_OFF;
			continue;
		}
		word(&p, v, sizeof(v));
		if (strcmp(w, "reject-invalid") == 0) {
			s->written |= HELO_W_REJECT_INVALID;
			s->reject_invalid = strcmp(v, "yes") == 0;
		} else if (strcmp(w, "reject-ip") == 0) {
			s->written |= HELO_W_REJECT_IP;
			s->reject_ip = strcmp(v, "yes") == 0;
		} else if (strcmp(w, "reject-unresolvable") == 0) {
			s->written |= HELO_W_REJECT_UNRESOLVABLE;
			s->reject_unresolvable = strcmp(v, "yes") == 0;
		} else if (strcmp(w, "blacklist") == 0) {
			s->written |= HELO_W_BLACKLIST;
			s->blacklist = list(v, &s->nblacklist);
		} else if (strcmp(w, "within") == 0)	/* the blacklist's */
			s->blacklist_within = num(v);
		else if (strcmp(w, "whitelist") == 0) {
			s->written |= HELO_W_WHITELIST;
			set_whitelist(s, v);
		} else if (strcmp(w, "hrp") == 0) {
			s->written |= HELO_W_HRP;
			if (strcmp(v, "no") != 0) {
				s->hrp_limit = (unsigned)num(v);
				word(&p, v, sizeof(v));		/* within */
				word(&p, v, sizeof(v));
				s->hrp_within = num(v);
			}
		} else
			T_OK(0, w);
	}
	return s;
}

static void
set_reply(struct helo_settings *s, enum helo_reason r, const char *text)
{
	free(s->reply[r]);
	s->reply[r] = xstrdup(text);
	s->written |= HELO_W_REPLY(r);
}

/* One check's outcome in a word: "pass", "pass:whitelisted",
 * "reject:504:not-fqdn", "tempfail:450:dns-failure", "need-dns". */
static const char *
check(const struct helo_settings *s, const char *client, const char *helo,
    enum helo_dns dns, int64_t now, bool explain)
{
	static char out[64];
	struct helo_query q;
	struct helo_result r;
	struct addr a = ip(client != NULL ? client : "0.0.0.0");

	q.client = client != NULL ? &a : NULL;
	q.helo = helo;
	q.dns = dns;
	q.explain = explain;
	helo_check(st, s, &q, now, &r, NULL);
	if (r.verdict == HELO_PASS)
		snprintf(out, sizeof(out), "pass%s%s", r.reason == HELO_R_NONE ?
		    "" : ":", r.reason == HELO_R_NONE ? "" :
		    helo_reason_name(r.reason));
	else if (r.verdict == HELO_NEED_DNS)
		snprintf(out, sizeof(out), "need-dns");
	else
		snprintf(out, sizeof(out), "%s:%.3s:%s",
		    helo_verdict_name(r.verdict), r.reply,
		    helo_reason_name(r.reason));
	return out;
}

static void
fresh(size_t per_client)
{
	helo_state_free(&st);
	st = helo_state_new(per_client);
}

static char *
repeat(char c, size_t n, const char *tail)
{
	char *s = xmalloc(n + strlen(tail) + 1);

	memset(s, c, n);
	memcpy(s + n, tail, strlen(tail) + 1);
	return s;
}

/* A name of labels of 63 'a' and then one of rest bytes: len bytes. */
static char *
long_name(size_t len)
{
	char *s = xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		s[i] = (i % 64 == 63) ? '.' : 'a';
	if (s[len - 1] == '.')
		s[len - 1] = 'b';
	s[len] = '\0';
	return s;
}

static void
test_forms(void)
{
	static const struct {
		const char	*helo;
		enum helo_form	 want;
		const char	*invalid;	/* reject-invalid yes */
		const char	*ip;		/* and reject-ip yes */
	} cases[] = {
		{ "mail.example.com", HELO_FORM_FQDN, "pass", "pass" },
		{ "MAIL.Example.COM", HELO_FORM_FQDN, "pass", "pass" },
		{ "mail.example.com.", HELO_FORM_FQDN, "pass", "pass" },
		{ "a-b.c-d.example", HELO_FORM_FQDN, "pass", "pass" },
		{ "1mail.example.com", HELO_FORM_FQDN, "pass", "pass" },
		{ "xn--bcher-kva.example", HELO_FORM_FQDN, "pass", "pass" },
		{ "mail.xn--p1ai", HELO_FORM_FQDN, "pass", "pass" },
		{ "localhost", HELO_FORM_SINGLE, "reject:504:not-fqdn",
		    "reject:504:not-fqdn" },
		{ "localhost.", HELO_FORM_SINGLE, "reject:504:not-fqdn",
		    "reject:504:not-fqdn" },
		{ "DESKTOP-7QX3", HELO_FORM_SINGLE, "reject:504:not-fqdn",
		    "reject:504:not-fqdn" },
		{ "my_host.example.com", HELO_FORM_BAD_NAME,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "-mail.example.com", HELO_FORM_BAD_NAME,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "mail-.example.com", HELO_FORM_BAD_NAME,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "mail.example.123", HELO_FORM_BAD_NAME,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "1.2.3", HELO_FORM_BAD_NAME, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "1.2.3.4.", HELO_FORM_BAD_NAME, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "mail.example.com..", HELO_FORM_INVALID,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "a..example.com", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ ".example.com", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ ".", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "b\xc3\xbc" "cher.example", HELO_FORM_INVALID,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "mail example.com", HELO_FORM_INVALID,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "[192.0.2.1]", HELO_FORM_LITERAL, "pass", "pass" },
		{ "[IPv6:2001:db8::1]", HELO_FORM_LITERAL, "pass", "pass" },
		{ "[ipv6:2001:DB8::1]", HELO_FORM_LITERAL, "pass", "pass" },
		{ "[IPv6:::ffff:192.0.2.1]", HELO_FORM_LITERAL, "pass",
		    "pass" },
		{ "[2001:db8::1]", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[IPv6:192.0.2.1]", HELO_FORM_INVALID,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "[300.1.1.1]", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[192.0.2.1", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[192.0.2.1]x", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[]", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[IPv6:]", HELO_FORM_INVALID, "reject:501:invalid",
		    "reject:501:invalid" },
		{ "[mail.example.com]", HELO_FORM_INVALID,
		    "reject:501:invalid", "reject:501:invalid" },
		{ "192.0.2.1", HELO_FORM_IP, "pass",
		    "reject:504:ip-not-allowed" },
		{ "2001:db8::1", HELO_FORM_IP, "pass",
		    "reject:504:ip-not-allowed" },
		{ "::1", HELO_FORM_IP, "pass", "reject:504:ip-not-allowed" },
	};
	struct helo_settings *inv = block("reject-invalid yes reject-ip no");
	struct helo_settings *both = block("reject-invalid yes reject-ip yes");
	struct helo_settings *iponly = block("reject-ip yes");
	char name[128];
	size_t i;

	fresh(2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "form \"%s\"", cases[i].helo);
		T_EQ_STR(helo_form_name(helo_form(cases[i].helo)),
		    helo_form_name(cases[i].want), name);
		snprintf(name, sizeof(name), "reject-invalid: \"%s\"",
		    cases[i].helo);
		T_EQ_STR(check(inv, "192.0.2.9", cases[i].helo,
		    HELO_DNS_UNKNOWN, NOW, false), cases[i].invalid, name);
		snprintf(name, sizeof(name), "reject-invalid, reject-ip: "
		    "\"%s\"", cases[i].helo);
		T_EQ_STR(check(both, "192.0.2.9", cases[i].helo,
		    HELO_DNS_UNKNOWN, NOW, false), cases[i].ip, name);
	}
	T_EQ_STR(check(iponly, NULL, "192.0.2.1", 0, NOW, false),
	    "reject:504:ip-not-allowed", "reject-ip alone refuses an address");
	T_EQ_STR(check(iponly, NULL, "localhost", 0, NOW, false), "pass",
	    "reject-ip alone lets a single label by");
	helo_settings_free(&inv);
	helo_settings_free(&both);
	helo_settings_free(&iponly);
}

static void
test_lengths(void)
{
	static const struct {
		size_t		 len;
		enum helo_form	 want;
	} cases[] = {
		{ 253, HELO_FORM_FQDN }, { 254, HELO_FORM_INVALID },
		{ 255, HELO_FORM_INVALID }, { 256, HELO_FORM_INVALID },
		{ 1000, HELO_FORM_INVALID },
	};
	char name[64], *s;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = long_name(cases[i].len);
		snprintf(name, sizeof(name), "a name of %zu bytes",
		    cases[i].len);
		T_EQ_STR(helo_form_name(helo_form(s)),
		    helo_form_name(cases[i].want), name);
		free(s);
	}
	s = long_name(253);
	s = xreallocarray(s, 255, 1);
	memcpy(s + 253, ".", 2);
	T_EQ_STR(helo_form_name(helo_form(s)), "fqdn",
	    "253 bytes and a trailing dot");
	free(s);
	s = repeat('a', 63, ".example.com");
	T_EQ_STR(helo_form_name(helo_form(s)), "fqdn", "a label of 63");
	free(s);
	s = repeat('a', 64, ".example.com");
	T_EQ_STR(helo_form_name(helo_form(s)), "invalid", "a label of 64");
	free(s);
	T_EQ_STR(helo_form_name(helo_form(NULL)), "invalid", "NULL");
}

static void
test_replies(void)
{
	struct helo_settings *s = block("reject-invalid yes reject-ip yes "
	    "blacklist localhost.localdomain hrp 1 within 1h "
	    "reject-unresolvable yes");
	struct helo_query q = { NULL, NULL, HELO_DNS_UNKNOWN, false };
	struct helo_result r;
	char *big;

	static const struct {
		const char	*helo;
		enum helo_dns	 dns;
		const char	*want;
	} cases[] = {
		{ "localhost", 0, "504 5.5.2 <localhost>: Helo command "
		    "rejected: need fully-qualified hostname" },
		{ "a_b.example", 0, "501 5.5.2 <a_b.example>: Helo command "
		    "rejected: Invalid name" },
		{ "192.0.2.1", 0, "504 5.5.2 <192.0.2.1>: Helo command "
		    "rejected: need fully-qualified hostname or address "
		    "literal" },
		{ "nx.example", HELO_DNS_NXDOMAIN, "550 5.7.1 <nx.example>: "
		    "Helo command rejected: Host not found" },
		{ "empty.example", HELO_DNS_NO_RECORDS, "550 5.7.1 "
		    "<empty.example>: Helo command rejected: No address or "
		    "MX record found" },
		{ "slow.example", HELO_DNS_FAILURE, "450 4.7.1 "
		    "<slow.example>: Helo command rejected: Host not found: "
		    "temporary DNS failure" },
		{ "LocalHost.LocalDomain", 0, "554 5.7.1 "
		    "<LocalHost.LocalDomain>: Helo command rejected: Access "
		    "denied" },
		{ "a.example\r\nRCPT TO:<x>", 0, "501 5.5.2 "
		    "<a.example??RCPT?TO:?x?>: Helo command rejected: "
		    "Invalid name" },
	};
	size_t i;

	fresh(2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q.helo = cases[i].helo;
		q.dns = cases[i].dns;
		helo_check(st, s, &q, NOW, &r, NULL);
		T_EQ_STR(r.reply, cases[i].want, cases[i].want);
	}
	big = repeat('x', 300, ".example");
	q.helo = big;
	helo_check(st, s, &q, NOW, &r, NULL);
	T_OK(strlen(r.reply) < 200 && strstr(r.reply, "...>: Helo") != NULL,
	    "a long HELO is cut in the reply");
	free(big);

	set_reply(s, HELO_R_NOT_FQDN, "Say who you are");
	set_reply(s, HELO_R_DNS_FAILURE, "421 4.4.3 Resolver down");
	q.helo = "localhost";
	helo_check(st, s, &q, NOW, &r, NULL);
	T_EQ_STR(r.reply, "504 5.5.2 Say who you are",
	    "custom reply without a code gets the default's");
	q.helo = "slow.example";
	q.dns = HELO_DNS_FAILURE;
	helo_check(st, s, &q, NOW, &r, NULL);
	T_EQ_STR(r.reply, "421 4.4.3 Resolver down", "custom reply with a code");
	T_EQ_INT(r.verdict, HELO_TEMPFAIL, "a DNS failure stays a tempfail");
	set_reply(s, HELO_R_DNS_FAILURE, "550 5.7.1 Go away");
	helo_check(st, s, &q, NOW, &r, NULL);
	T_EQ_STR(r.reply, "450 4.7.1 <slow.example>: Helo command rejected: "
	    "Host not found: temporary DNS failure", "an unchecked 5xx reply "
	    "for a DNS failure is not used");
	q.dns = HELO_DNS_FOUND;
	helo_check(st, s, &q, NOW, &r, NULL);
	T_EQ_STR(r.reply, "", "pass: no reply");
	helo_settings_free(&s);
}

static void
test_blacklist(void)
{
	struct helo_settings *s = block("blacklist localhost,"
	    "LOCALHOST.localdomain.,127.0.0.1,[127.0.0.1]");
	struct helo_settings *w = block("blacklist localhost within 1h");
	struct helo_settings *dflt = helo_settings_new();
	size_t i;

	dflt->written = HELO_W_BLACKLIST;
	dflt->nblacklist = HELO_BLACKLIST_DEFAULT_N;
	dflt->blacklist = xcalloc(HELO_BLACKLIST_DEFAULT_N, sizeof(char *));
	for (i = 0; i < HELO_BLACKLIST_DEFAULT_N; i++)
		dflt->blacklist[i] = xstrdup(helo_blacklist_default[i]);

	fresh(2);
	T_EQ_STR(check(s, "192.0.2.1", "LocalHost", 0, NOW, false),
	    "reject:554:blacklisted", "blacklist: any case");
	T_EQ_STR(check(s, "192.0.2.1", "localhost.", 0, NOW, false),
	    "reject:554:blacklisted", "blacklist: a trailing dot");
	T_EQ_STR(check(s, "192.0.2.1", "localhost.LOCALDOMAIN", 0, NOW, false),
	    "reject:554:blacklisted", "blacklist: a listed name in capitals, "
	    "with a trailing dot");
	T_EQ_STR(check(s, "192.0.2.1", "[127.0.0.1]", 0, NOW, false),
	    "reject:554:blacklisted", "blacklist: a literal");
	T_EQ_STR(check(s, "192.0.2.1", "127.0.0.1", 0, NOW, false),
	    "reject:554:blacklisted", "blacklist: a bare address");
	T_EQ_STR(check(s, "192.0.2.1", "localhost.example.com", 0, NOW,
	    false), "pass", "blacklist: a longer name is not listed");
	T_EQ_STR(check(s, "192.0.2.1", "mail.example.com", 0, NOW, false),
	    "pass", "blacklist without a window: only this HELO counts");
	T_EQ_STR(check(dflt, NULL, "LOCALHOST.LOCALDOMAIN", 0, NOW, false),
	    "reject:554:blacklisted", "cbpolicyd's list, no client known");

	/* within 1h: a client that said localhost is refused for an hour */
	fresh(2);
	T_EQ_STR(check(w, "192.0.2.2", "localhost", 0, 1000, false),
	    "reject:554:blacklisted", "window: the listed HELO");
	T_EQ_STR(check(w, "192.0.2.2", "mail.example.com", 0, 2000, false),
	    "reject:554:blacklisted", "window: a good HELO after it");
	T_EQ_STR(check(w, "192.0.2.3", "mail.example.com", 0, 2000, false),
	    "pass", "window: another client");
	T_EQ_STR(check(w, "192.0.2.2", "mail.example.com", 0, 4599, true),
	    "reject:554:blacklisted", "window: one second inside");
	T_EQ_STR(check(w, "192.0.2.2", "mail.example.com", 0, 4600, true),
	    "pass", "window: at now - 1h exactly it is over");
	/* the listed HELO outlives a flood of others (cap 2) */
	for (i = 0; i < 50; i++) {
		char h[32];

		snprintf(h, sizeof(h), "h%zu.example.com", i);
		check(w, "192.0.2.2", h, 0, 3000 + (int64_t)i, false);
	}
	T_EQ_STR(check(w, "192.0.2.2", "mail.example.com", 0, 3100, false),
	    "reject:554:blacklisted", "window: kept under a flood of HELOs");
	helo_settings_free(&s);
	helo_settings_free(&w);
	helo_settings_free(&dflt);
}

static void
test_whitelist(void)
{
	struct helo_settings *s = block("reject-invalid yes reject-ip yes "
	    "reject-unresolvable yes blacklist localhost hrp 1 within 1h "
	    "whitelist 10.0.0.0/8,2001:db8:5::/48");

	fresh(3);
	T_EQ_STR(check(s, "10.1.2.3", "localhost", 0, NOW, false),
	    "pass:whitelisted", "whitelist: blacklisted, single label");
	T_EQ_STR(check(s, "10.1.2.3", "other", 0, NOW, false),
	    "pass:whitelisted", "whitelist: a second HELO: no hrp");
	T_EQ_STR(check(s, "10.1.2.3", "x.example", HELO_DNS_UNKNOWN, NOW,
	    false), "pass:whitelisted", "whitelist: no DNS asked");
	T_EQ_STR(check(s, "2001:db8:5:1::9", "1.2.3.4", 0, NOW, false),
	    "pass:whitelisted", "whitelist: IPv6 network");
	T_EQ_STR(check(s, "::ffff:10.9.9.9", "localhost", 0, NOW, false),
	    "pass:whitelisted", "whitelist: an IPv4-mapped client");
	T_EQ_STR(check(s, "11.1.2.3", "localhost", 0, NOW, false),
	    "reject:504:not-fqdn", "whitelist: a client outside");
	T_EQ_STR(check(s, NULL, "localhost", 0, NOW, false),
	    "reject:504:not-fqdn", "whitelist: no client known");
	helo_settings_free(&s);
}

static void
test_dns(void)
{
	struct helo_settings *s = block("reject-unresolvable yes");
	struct helo_settings *bl = block("reject-unresolvable yes "
	    "blacklist bad.example");
	struct helo_settings *off = block("reject-unresolvable no");
	static const struct {
		const char	*helo;
		enum helo_dns	 dns;
		const char	*want;
	} cases[] = {
		{ "mail.example.com", HELO_DNS_UNKNOWN, "need-dns" },
		{ "mail.example.com", HELO_DNS_FOUND, "pass" },
		{ "mail.example.com", HELO_DNS_NXDOMAIN, "reject:550:nxdomain" },
		{ "mail.example.com", HELO_DNS_NO_RECORDS,
		    "reject:550:no-records" },
		{ "mail.example.com", HELO_DNS_FAILURE,
		    "tempfail:450:dns-failure" },
		{ "localhost", HELO_DNS_UNKNOWN, "need-dns" },
		{ "localhost", HELO_DNS_NXDOMAIN, "reject:550:nxdomain" },
		{ "my_host.example", HELO_DNS_UNKNOWN, "need-dns" },
		{ "[192.0.2.1]", HELO_DNS_UNKNOWN, "pass" },
		{ "192.0.2.1", HELO_DNS_UNKNOWN, "pass" },
		{ "bad host", HELO_DNS_UNKNOWN, "reject:501:invalid" },
		{ "", HELO_DNS_UNKNOWN, "reject:501:invalid" },
	};
	char name[96];
	size_t i;

	fresh(2);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "dns: \"%s\" %d", cases[i].helo,
		    (int)cases[i].dns);
		T_EQ_STR(check(s, "192.0.2.1", cases[i].helo, cases[i].dns,
		    NOW, false), cases[i].want, name);
		T_EQ_INT(helo_needs_dns(s, cases[i].helo),
		    strcmp(cases[i].want, "need-dns") == 0 ||
		    cases[i].dns != HELO_DNS_UNKNOWN, name);
	}
	T_EQ_STR(check(bl, "192.0.2.1", "bad.example", HELO_DNS_UNKNOWN, NOW,
	    false), "reject:554:blacklisted", "dns: no look-up for a "
	    "blacklisted HELO");
	T_EQ_STR(check(off, "192.0.2.1", "nx.example", HELO_DNS_NXDOMAIN,
	    NOW, false), "pass:unchecked", "dns: reject-unresolvable no");
	T_OK(!helo_needs_dns(off, "mail.example.com"), "no DNS when off");
	T_OK(!helo_needs_dns(s, NULL), "no DNS without a HELO");
	helo_settings_free(&s);
	helo_settings_free(&bl);
	helo_settings_free(&off);
}

static void
test_hrp(void)
{
	struct helo_settings *s = block("hrp 3 within 1h");
	char name[64];
	int i;

	fresh(5);
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "h%d.example.com", i);
		T_EQ_STR(check(s, "192.0.2.1", name, 0, NOW + i, false),
		    "pass", name);
	}
	T_EQ_STR(check(s, "192.0.2.1", "H1.Example.COM.", 0, NOW + 10, false),
	    "pass", "hrp: the same HELO again (case, dot) counts once");
	for (i = 0; i < 20; i++)
		check(s, "192.0.2.1", "h2.example.com", 0, NOW + 11 + i, false);
	T_EQ_STR(check(s, "192.0.2.1", "h3.example.com", 0, NOW + 40, false),
	    "pass", "hrp: repeated HELOs, still 3 distinct");
	T_EQ_STR(check(s, "192.0.2.1", "h4.example.com", 0, NOW + 41, false),
	    "reject:550:hrp-exceeded", "hrp: a 4th distinct within 1h");
	T_EQ_STR(check(s, "192.0.2.1", "h1.example.com", 0, NOW + 42, false),
	    "reject:550:hrp-exceeded", "hrp: then even a known one");
	T_EQ_STR(check(s, "192.0.2.2", "h4.example.com", 0, NOW + 43, false),
	    "pass", "hrp: another client has its own");

	/* the edges: h1 at 1000, h2 at 1001, h3 at 1002 */
	fresh(5);
	check(s, "192.0.2.5", "h1.example", 0, 1000, false);
	check(s, "192.0.2.5", "h2.example", 0, 1001, false);
	check(s, "192.0.2.5", "h3.example", 0, 1002, false);
	T_EQ_STR(check(s, "192.0.2.5", "h4.example", 0, 4599, true),
	    "reject:550:hrp-exceeded", "hrp: h1 one second inside counts");
	T_EQ_STR(check(s, "192.0.2.5", "h4.example", 0, 4600, true), "pass",
	    "hrp: h1 at now - 1h exactly does not");
	T_EQ_STR(check(s, "192.0.2.5", "h4.example", 0, 4600, false), "pass",
	    "hrp: h4 recorded");
	T_EQ_STR(check(s, "192.0.2.5", "h5.example", 0, 4600, false),
	    "reject:550:hrp-exceeded", "hrp: h2, h3, h4, h5 within 1h");
	T_EQ_STR(check(s, "192.0.2.5", "h6.example", 0, 4601, true),
	    "reject:550:hrp-exceeded", "hrp: h3, h4, h5, h6 at 4601");
	T_EQ_STR(check(s, "192.0.2.5", "h5.example", 0, 4602 + 3600, false),
	    "pass", "hrp: an hour later only h5 counts");
	helo_settings_free(&s);
}

static void
test_merge(void)
{
	struct helo_settings *p10 = block("reject-invalid yes hrp 5 within 1h "
	    "blacklist localhost whitelist 10.0.0.0/8");
	struct helo_settings *p20 = block("reject-invalid no");
	struct helo_settings *p30 = block("hrp 2 within 10m");
	struct helo_settings *poff = block("off");
	struct helo_settings *p40 = block("blacklist none reject-ip yes");
	const struct helo_settings *v[5];
	struct helo_settings m;
	struct helo_limits lim;
	struct helo_stats stats;

	set_reply(p10, HELO_R_NOT_FQDN, "Who are you");
	v[0] = p10, v[1] = NULL, v[2] = p20, v[3] = p30;
	helo_merge(v, 4, &m);
	T_EQ_INT(m.reject_invalid, 0, "merge: a higher priority writes no");
	T_EQ_INT(m.hrp_limit, 2, "merge: hrp from the highest that writes it");
	T_EQ_INT(m.hrp_within, 600, "merge: hrp within with it");
	T_EQ_INT(m.nblacklist, 1, "merge: the blacklist inherited");
	T_EQ_INT(m.nwhitelist, 1, "merge: the whitelist inherited");
	T_EQ_STR(m.reply[HELO_R_NOT_FQDN], "Who are you", "merge: the reply");
	T_EQ_INT(m.written & HELO_W_HRP, HELO_W_HRP, "merge: written bits");

	v[0] = p30, v[1] = p10;
	helo_merge(v, 2, &m);
	T_EQ_INT(m.hrp_limit, 5, "merge: order is priority, not merit");
	T_OK(m.reject_invalid, "merge: reject-invalid from p10");

	v[0] = p10, v[1] = poff, v[2] = p30;
	helo_merge(v, 3, &m);
	T_OK(!m.reject_invalid && m.nblacklist == 0 && m.nwhitelist == 0 &&
	    m.reply[HELO_R_NOT_FQDN] == NULL, "merge: off forgets p10");
	T_EQ_INT(m.hrp_limit, 2, "merge: a later block after off counts");

	v[0] = p10, v[1] = poff;
	helo_merge(v, 2, &m);
	T_OK(!helo_is_active(&m), "merge: off last: nothing in force");
	fresh(2);
	T_EQ_STR(check(&m, "192.0.2.1", "localhost", 0, NOW, false),
	    "pass:unchecked", "merge: off: localhost passes");
	helo_state_stats(st, &stats);
	T_EQ_INT(stats.rows, 0, "merge: off: nothing recorded");

	v[0] = p10, v[1] = p40;
	helo_merge(v, 2, &m);
	T_OK(m.nblacklist == 0 && m.reject_ip && m.reject_invalid,
	    "merge: blacklist none replaces the list");

	v[0] = p10, v[1] = p30, v[2] = poff, v[3] = NULL;
	helo_limits(v, 4, &lim);
	T_EQ_INT(lim.per_client, 7, "limits: hrp 5 keeps 6 and one listed");
	T_EQ_INT(lim.max_window, 3600, "limits: the longest window");
	helo_settings_free(&p10);
	helo_settings_free(&p20);
	helo_settings_free(&p30);
	helo_settings_free(&poff);
	helo_settings_free(&p40);
}

static void
test_settings_check(void)
{
	static const struct {
		const char	*spec;
		enum helo_reason reply;
		const char	*text;
		const char	*want;	/* the start of the error, or "" */
	} cases[] = {
		{ "reject-invalid yes hrp 5 within 1h blacklist localhost "
		    "within 1d whitelist 10.0.0.0/8", 0, NULL, "" },
		{ "off", 0, NULL, "" },
		{ "hrp no", 0, NULL, "" },
		{ "off reject-invalid yes", 0, NULL, "helo: off turns" },
		{ "hrp 0 within 1h", 0, NULL, "helo: hrp 0 within 3600" },
		{ "hrp 101 within 1h", 0, NULL, "helo: hrp 101" },
		{ "hrp 5 within 31d", 0, NULL, "helo: hrp within" },
		{ "blacklist none within 1h", 0, NULL, "helo: blacklist within" },
		{ "blacklist localhost within 31d", 0, NULL,
		    "helo: blacklist within" },
		{ "reject-invalid yes", HELO_R_INVALID, "550 5.7.1 No", "" },
		{ "reject-invalid yes", HELO_R_INVALID, "450 4.7.1 No",
		    "helo: reply invalid" },
		{ "reject-invalid yes", HELO_R_DNS_FAILURE, "550 5.7.1 No",
		    "helo: reply dns-failure" },
		{ "reject-invalid yes", HELO_R_DNS_FAILURE, "451 4.4.3 Later",
		    "" },
		{ "reject-invalid yes", HELO_R_WHITELISTED, "Hi",
		    "helo: reply whitelisted" },
		{ "reject-invalid yes", HELO_R_INVALID, "No\tmore",
		    "helo: reply invalid" },
	};
	struct helo_settings *s;
	char err[256], name[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = block(cases[i].spec);
		if (cases[i].text != NULL)
			set_reply(s, cases[i].reply, cases[i].text);
		if (helo_settings_check(s, err, sizeof(err)) == 0)
			err[0] = '\0';
		else if (strlen(err) > strlen(cases[i].want))
			err[strlen(cases[i].want)] = '\0';
		snprintf(name, sizeof(name), "check: %s %s", cases[i].spec,
		    cases[i].text ? cases[i].text : "");
		T_EQ_STR(err, cases[i].want, name);
		helo_settings_free(&s);
	}
	s = block("blacklist localhost");
	free(s->blacklist[0]);
	s->blacklist[0] = xstrdup("local host");
	T_EQ_INT(helo_settings_check(s, err, sizeof(err)), -1,
	    "check: a blacklist name with a space");
	helo_settings_free(&s);
}

/* The outcome and every field of the result, for explain. */
static void
full(const struct helo_settings *s, const char *client, const char *helo,
    enum helo_dns dns, int64_t now, bool explain, char *out, size_t outsz)
{
	struct helo_query q;
	struct helo_result r;
	struct addr a = ip(client);

	q.client = &a;
	q.helo = helo;
	q.dns = dns;
	q.explain = explain;
	helo_check(st, s, &q, now, &r, NULL);
	snprintf(out, outsz, "%d %d %u [%s] [%s]", (int)r.verdict,
	    (int)r.reason, r.distinct, r.listed, r.reply);
}

static size_t
count_cb_n;

static void
count_cb(void *arg, const struct helo_row *row, bool gone)
{
	(void)arg;
	(void)row;
	(void)gone;
	count_cb_n++;
}

/* Explain and a real check of the same HELO at the same time agree,
 * and explain leaves no trace in the state or its changes. */
static void
explain_same(const struct helo_settings *s, const char *client,
    const char *helo, int64_t now)
{
	char got[1024], want[1024], name[96];
	struct helo_stats before, after;

	helo_state_changes(st, count_cb, NULL);
	helo_state_stats(st, &before);
	full(s, client, helo, HELO_DNS_FOUND, now, true, got, sizeof(got));
	helo_state_stats(st, &after);
	count_cb_n = 0;
	helo_state_changes(st, count_cb, NULL);
	snprintf(name, sizeof(name), "explain records nothing: %s %s",
	    client, helo);
	T_OK(before.rows == after.rows && before.clients == after.clients &&
	    count_cb_n == 0, name);
	full(s, client, helo, HELO_DNS_FOUND, now, false, want, sizeof(want));
	snprintf(name, sizeof(name), "explain decides the same: %s %s",
	    client, helo);
	T_EQ_STR(got, want, name);
}

static void
test_explain(void)
{
	struct helo_settings *s = block("reject-invalid yes hrp 2 within 1h "
	    "blacklist localhost within 1h reject-unresolvable yes");
	static const char *const helos[] = { "a.example", "b.example",
	    "a.example", "c.example", "[192.0.2.1]", "d.example",
	    "x_y.example", "e.example", "f.example", "g.example",
	    "a.example" };
	struct helo_query q = { NULL, "e.example", HELO_DNS_FOUND, true };
	struct helo_result r;
	struct buf why = BUF_INIT;
	struct addr a = ip("192.0.2.8");
	size_t i;

	fresh(4);
	for (i = 0; i < sizeof(helos) / sizeof(helos[0]); i++)
		explain_same(s, "192.0.2.7", helos[i], NOW + (int64_t)i);
	explain_same(s, "192.0.2.8", "localhost", NOW);
	explain_same(s, "192.0.2.8", "a.example", NOW + 1);
	explain_same(s, "192.0.2.9", "unknown.example", NOW + 1);
	q.client = &a;
	helo_check(st, s, &q, NOW + 20, &r, &why);
	T_OK(why.data != NULL &&
	    strstr(why.data, "\"e.example\" is fqdn") != NULL &&
	    strstr(why.data, "blacklisted: \"localhost\"") != NULL &&
	    strstr(why.data, "reject (blacklisted)") != NULL,
	    "explain: the trace says why");
	if (why.data != NULL)
		printf("%s", why.data);
	buf_free(&why);
	helo_settings_free(&s);
}

struct rows {
	struct helo_row	*v;
	size_t		 n;
	size_t		 ngone;
};

static void
rows_cb(void *arg, const struct helo_row *row, bool gone)
{
	struct rows *r = arg;

	if (gone) {
		r->ngone++;
		return;
	}
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	r->v[r->n] = *row;
	r->v[r->n++].helo = xstrdup(row->helo);
}

static void
rows_free(struct rows *r)
{
	while (r->n > 0)
		free((char *)r->v[--r->n].helo);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static void
test_persistence(void)
{
	struct helo_settings *s = block("hrp 3 within 1h");
	struct helo_row row;
	struct helo_stats stats;
	struct rows rows = { NULL, 0, 0 };
	const char *es;
	struct addr a = ip("192.0.2.1"), b = ip("2001:db8::1");

	fresh(5);
	check(s, "192.0.2.1", "one.example", 0, 100, false);
	check(s, "192.0.2.1", "two.example", 0, 200, false);
	check(s, "192.0.2.1", "One.Example", 0, 300, false);
	check(s, "2001:db8::1", "v6.example", 0, 250, false);
	helo_state_changes(st, rows_cb, &rows);
	T_EQ_INT(rows.n, 3, "changes: three rows (one updated twice)");
	T_EQ_INT(helo_state_changes(st, rows_cb, &rows), 0,
	    "changes: nothing more");
	check(s, "192.0.2.1", "two.example", 0, 200, false);
	T_EQ_INT(helo_state_changes(st, count_cb, NULL), 0,
	    "changes: the same HELO at the same time changes nothing");
	check(s, "192.0.2.1", "two.example", 0, 210, false);
	T_EQ_INT(helo_state_changes(st, count_cb, NULL), 1,
	    "changes: only the HELO seen again, not the client's others");

	/* load round-trips: a new state decides the same */
	helo_state_free(&st);
	st = helo_state_new(5);
	for (size_t i = 0; i < rows.n; i++)
		T_OK(helo_state_load(st, &rows.v[i], &es) == 0, rows.v[i].helo);
	helo_state_stats(st, &stats);
	T_EQ_INT(stats.rows, 3, "load: three rows");
	T_EQ_INT(stats.clients, 2, "load: two clients");
	T_EQ_INT(helo_state_changes(st, count_cb, NULL), 0,
	    "load: loaded rows are not changes");
	T_EQ_STR(check(s, "192.0.2.1", "three.example", 0, 400, false), "pass",
	    "load: 3 distinct");
	T_EQ_STR(check(s, "192.0.2.1", "four.example", 0, 401, true),
	    "reject:550:hrp-exceeded", "load: the history came back");
	rows_free(&rows);

	row.client = ip("198.51.100.1");
	row.helo = "Mail.Example.COM.";
	row.last_seen = 500;
	T_OK(helo_state_load(st, &row, &es) == 0, "load: a row to normalise");
	T_EQ_STR(check(s, "198.51.100.1", "mail.example.com", 0, 501, false),
	    "pass", "load: normalised");
	T_EQ_INT(helo_state_client_rows(st, &row.client), 1,
	    "load: one HELO, not two");
	row.helo = "bad helo";
	T_EQ_INT(helo_state_load(st, &row, &es), -1, "load: refuses a space");
	row.helo = "";
	T_EQ_INT(helo_state_load(st, &row, &es), -1, "load: refuses empty");
	row.helo = "ok.example";
	row.last_seen = -5;
	T_EQ_INT(helo_state_load(st, &row, &es), -1, "load: refuses < 0");
	row.client.family = 0;
	row.last_seen = 5;
	T_EQ_INT(helo_state_load(st, &row, &es), -1, "load: no address");

	/* more rows for a client than it keeps: the newest stay */
	fresh(3);
	for (int i = 0; i < 6; i++) {
		char h[32];

		snprintf(h, sizeof(h), "r%d.example", i);
		row.client = a;
		row.helo = h;
		row.last_seen = 100 + (i * 5) % 6;	/* 100 to 105, shuffled */
		T_OK(helo_state_load(st, &row, &es) == 0, h);
	}
	T_EQ_INT(helo_state_client_rows(st, &a), 3, "load: a client keeps 3");
	helo_state_changes(st, rows_cb, &rows);
	T_EQ_INT(rows.ngone, 3, "load: the 3 oldest rows to delete");
	rows_free(&rows);
	T_EQ_INT(helo_state_prune(st, 200, 97), 2,
	    "load: kept 103, 104, 105 (the newest): 104 and 105 are after 103");

	/* prune: exactly what is at or before now - max_window */
	fresh(5);
	check(s, "192.0.2.1", "t100.example", 0, 100, false);
	check(s, "192.0.2.1", "t200.example", 0, 200, false);
	check(s, "192.0.2.1", "t300.example", 0, 300, false);
	check(s, "2001:db8::1", "t250.example", 0, 250, false);
	helo_state_changes(st, count_cb, NULL);
	T_EQ_INT(helo_state_prune(st, 1000, 800), 2,
	    "prune: 100 and 200 go (200 = 1000 - 800), 250 and 300 stay");
	T_EQ_INT(helo_state_client_rows(st, &a), 1, "prune: client a keeps 1");
	T_EQ_INT(helo_state_client_rows(st, &b), 1, "prune: client b keeps 1");
	helo_state_changes(st, rows_cb, &rows);
	T_EQ_INT(rows.ngone, 2, "prune: two stored rows to delete");
	rows_free(&rows);
	T_EQ_INT(helo_state_prune(st, 1000, 700), 0, "prune: 250, 300 go");
	helo_state_stats(st, &stats);
	T_EQ_INT(stats.clients, 0, "prune: no client left");
	helo_settings_free(&s);
}

static void
test_flood(void)
{
	struct helo_settings *s = block("hrp 5 within 1h blacklist localhost "
	    "within 1h");
	const struct helo_settings *v[1];
	struct helo_limits lim;
	struct helo_stats stats;
	struct rows rows = { NULL, 0, 0 };
	struct addr a = ip("203.0.113.9");
	size_t i, most = 0, refused = 0;
	char h[64];

	v[0] = s;
	helo_limits(v, 1, &lim);
	fresh(lim.per_client);
	srandom(7);
	for (i = 0; i < 20000; i++) {
		snprintf(h, sizeof(h), "%08lx.example.net", random());
		if (strcmp(check(s, "203.0.113.9", h, 0, NOW + (int64_t)i / 10,
		    false), "pass") != 0)
			refused++;
		if (helo_state_client_rows(st, &a) > most)
			most = helo_state_client_rows(st, &a);
		if (i % 1000 == 0)
			helo_state_changes(st, rows_cb, &rows);
	}
	T_EQ_INT(most, lim.per_client, "flood: a client keeps at most its cap");
	T_EQ_INT(lim.per_client, 7, "flood: the cap is hrp 5 + 1 + 1");
	T_EQ_INT(refused, 20000 - 5, "flood: all but the first 5 refused");
	helo_state_stats(st, &stats);
	T_EQ_INT(stats.clients, 1, "flood: one client");
	T_OK(stats.bytes < 4096, "flood: memory of one client stays small");
	printf("# one client with %zu HELOs: %zu bytes\n", stats.rows,
	    stats.bytes);
	helo_state_changes(st, rows_cb, &rows);
	T_OK(rows.ngone > 0 && rows.ngone <= rows.n,
	    "flood: evicted stored rows come back as deletions");
	rows_free(&rows);
	helo_settings_free(&s);
}

static void
test_misc(void)
{
	struct helo_settings *s = block("reject-invalid yes hrp 1 within 1h");
	struct helo_settings *none = helo_settings_new();
	struct helo_query q = { NULL, NULL, HELO_DNS_UNKNOWN, false };
	struct helo_result r;
	struct helo_stats stats;
	enum helo_reason rr;

	fresh(2);
	T_EQ_STR(check(s, "192.0.2.1", NULL, 0, NOW, false), "pass:unchecked",
	    "no HELO known: nothing checked");
	T_EQ_STR(check(none, "192.0.2.1", "localhost", 0, NOW, false),
	    "pass:unchecked", "no settings: nothing checked");
	T_EQ_STR(check(s, NULL, "a.example", 0, NOW, false), "pass",
	    "no client: a.example");
	T_EQ_STR(check(s, NULL, "b.example", 0, NOW, false), "pass",
	    "no client: no history, no hrp");
	helo_state_stats(st, &stats);
	T_EQ_INT(stats.rows, 0, "nothing recorded without a client");
	q.helo = "c.example";
	T_EQ_INT(helo_check(NULL, s, &q, NOW, &r, NULL), HELO_PASS,
	    "no state: still decides");
	T_EQ_INT(helo_reason_parse("HRP-Exceeded", &rr), 0, "reason parse");
	T_EQ_INT(rr, HELO_R_HRP_EXCEEDED, "reason parse: which");
	T_EQ_INT(helo_reason_parse("whitelisted", &rr), -1,
	    "reason parse: a passing reason is no reply");
	helo_settings_free(&s);
	helo_settings_free(&none);
}

int
main(void)
{
	test_forms();
	test_lengths();
	test_replies();
	test_blacklist();
	test_whitelist();
	test_dns();
	test_hrp();
	test_merge();
	test_settings_check();
	test_explain();
	test_persistence();
	test_flood();
	test_misc();
	helo_state_free(&st);
	return t_done();
}
