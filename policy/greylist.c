/*
 * greylist: greylisting's settings as written, their merge across the
 * matched policies, and the decision at RCPT (greylist.h); the records
 * live in greylist_store.c.  No clock: every call takes `now`.
 *
 * Invariants.  A decision without commit changes nothing, not even an
 * AWL entry's last use.  Validity is decided here, at each decision,
 * with the merged settings: an expired triplet starts over whether or
 * not grey_prune has run (cbpolicyd enforces it only by a cron cleanup).
 * A training decision never defers and never rejects, and its first
 * attempt is not a pass: only a retry after the period counts as passed
 * for the auto-whitelist (cbpolicyd counts a training first attempt as
 * passed, which whitelists networks that never retry).
 *
 * What an attacker controls: the client address and every byte of the
 * sender and recipient.  They are lower-cased by the policy view and
 * bounded by GREY_ADDR_MAX before anything is stored; a flood of new
 * triplets meets the store's caps (greylist_store.c), and is deferred
 * unrecorded when all is full (GREY_R_FULL), so known triplets keep
 * passing and memory does not grow.
 *
 * The settings come from the administrator (conf/ builds them); texts
 * are checked as pol_reply_check does for access rules.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "greylist_priv.h"
#include "window.h"

static const char *const reason_names[] = {
	[GREY_R_OFF] = "off",
	[GREY_R_NO_CLIENT] = "no-client",
	[GREY_R_WHITELISTED] = "whitelisted",
	[GREY_R_AUTO_WHITELISTED] = "auto-whitelisted",
	[GREY_R_AUTO_BLACKLISTED] = "auto-blacklisted",
	[GREY_R_NEW] = "greylisted",
	[GREY_R_TOO_SOON] = "too-soon",
	[GREY_R_EXPIRED] = "expired-restart",
	[GREY_R_PASSED] = "passed",
	[GREY_R_TRAINING] = "training",
	[GREY_R_FULL] = "full",
	[GREY_R_TOO_LONG] = "too-long",
};

/* Settings. */

struct grey_settings *
grey_settings_new(int line)
{
	struct grey_settings *s = xcalloc(1, sizeof(*s));

	s->line = line;
	return s;
}

void
grey_settings_free(struct grey_settings **sp)
{
	struct grey_settings *s = *sp;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nwl; i++)
		pol_item_clear(&s->wl[i]);
	free(s->wl);
	free(s->reply);
	free(s->bl_reply);
	free(s);
	*sp = NULL;
}

int
grey_settings_track(struct grey_settings *s, const char *text, char *err,
    size_t errsz)
{
	const char *es;
	uint64_t n = 32;

	if (!str_has_prefix_ci(text, "SenderIP") || (text[8] != '\0' &&
	    (strncmp(text + 8, ":/", 2) != 0 ||
	    str_to_u64(text + 10, 1, 32, &n, &es) == -1)))
		return pol_fail(err, errsz, "track \"%s\": greylisting tracks "
		    "SenderIP:/N (N from 1 to 32; IPv6 by ipv6-prefix)", text);
	s->v4_prefix = (unsigned)n;
	s->has_v4_prefix = true;
	return 0;
}

int
grey_settings_whitelist(struct grey_settings *s, const char *text, int line,
    char *err, size_t errsz)
{
	bool sender = text[0] == '@';
	struct pol_item it;

	/* the item parser's messages are right for a CIDR's mistakes; a
	 * sender address or <> is no whitelist item at all */
	if (!sender && strpbrk(text, "@<") != NULL)
		return pol_fail(err, errsz, "whitelist \"%s\": an address or "
		    "network, @domain or @*.domain (a sender is whitelisted "
		    "by its domain)", text);
	if (pol_item_parse(sender ? POL_SENDER : POL_CLIENT, text, line, &it,
	    err, errsz) == -1)
		return -1;
	if (sender ? it.kind != POL_ITEM_DOMAIN &&
	    it.kind != POL_ITEM_SUBDOMAIN : it.kind != POL_ITEM_CIDR) {
		pol_item_clear(&it);
		return pol_fail(err, errsz, "whitelist \"%s\": an address or "
		    "network, @domain or @*.domain", text);
	}
	s->wl = xreallocarray(s->wl, s->nwl + 1, sizeof(*s->wl));
	s->wl[s->nwl++] = it;
	return 0;
}

int
grey_settings_reply(struct grey_settings *s, bool blacklist,
    const char *text, char *err, size_t errsz)
{
	char **dst = blacklist ? &s->bl_reply : &s->reply;

	if (pol_reply_check(blacklist ? POL_V_REJECT : POL_V_TEMPFAIL, text,
	    blacklist ? "blacklist-reply" : "reply", err, errsz) == -1)
		return -1;
	free(*dst);
	*dst = xstrdup(text);
	return 0;
}

static const char *
dur(uint64_t secs, char *buf, size_t bufsz)
{
	struct pol_period p = { POL_PERIOD_SECONDS, secs };

	if (secs == 0)
		str_copy(buf, "0s", bufsz);
	else
		pol_period_format(&p, buf, bufsz);
	return buf;
}

/* One error when v is outside [lo, hi]; durations shown as such. */
static int
out_of(const struct grey_settings *s, const char *what, uint64_t v,
    uint64_t lo, uint64_t hi, bool secs, pol_error_fn *err, void *arg)
{
	char m[160];

	if (v >= lo && v <= hi)
		return 0;
	if (secs) {
		char a[32], b[32], c[32];

		snprintf(m, sizeof(m), "greylisting: %s %s out of range (%s "
		    "to %s)", what, dur(v, a, sizeof(a)), dur(lo, b,
		    sizeof(b)), dur(hi, c, sizeof(c)));
	} else
		snprintf(m, sizeof(m), "greylisting: %s %llu out of range "
		    "(%llu to %llu)", what, (unsigned long long)v,
		    (unsigned long long)lo, (unsigned long long)hi);
	if (err != NULL)
		err(arg, s->line, m);
	return 1;
}

static int
check_auto(const struct grey_settings *s, const char *what,
    const struct grey_auto *a, pol_error_fn *err, void *arg)
{
	char name[64];
	int n;

	if (!a->on)
		return 0;
	snprintf(name, sizeof(name), "%s COUNT", what);
	n = out_of(s, name, a->count, 1, GREY_COUNT_MAX, false, err, arg);
	snprintf(name, sizeof(name), "%s percentage", what);
	if (a->pct != 0)
		n += out_of(s, name, a->pct, 1, 100, false, err, arg);
	snprintf(name, sizeof(name), "%s within", what);
	return n + out_of(s, name, a->within, GREY_WITHIN_MIN,
	    GREY_WITHIN_MAX, true, err, arg);
}

int
grey_settings_check(const struct grey_settings *s, pol_error_fn *err,
    void *arg)
{
	uint64_t per = s->has_period ? s->period : GREY_PERIOD_DEFAULT;
	uint64_t un = s->has_unauth_validity ? s->unauth_validity :
	    GREY_UNAUTH_DEFAULT;
	int n = 0;

	if (s->has_period)
		n += out_of(s, "period", s->period, GREY_PERIOD_MIN,
		    GREY_PERIOD_MAX, true, err, arg);
	if (s->has_v4_prefix)
		n += out_of(s, "track SenderIP:/N", s->v4_prefix, 1, 32,
		    false, err, arg);
	if (s->has_v6_prefix)
		n += out_of(s, "ipv6-prefix", s->v6_prefix, 1, 128, false,
		    err, arg);
	if (s->has_auth_validity)
		n += out_of(s, "auth-validity", s->auth_validity,
		    GREY_VALIDITY_MIN, GREY_VALIDITY_MAX, true, err, arg);
	if (s->has_unauth_validity)
		n += out_of(s, "unauth-validity", s->unauth_validity,
		    GREY_VALIDITY_MIN, GREY_VALIDITY_MAX, true, err, arg);
	if (s->has_awl)
		n += check_auto(s, "auto-whitelist", &s->awl, err, arg);
	if (s->has_abl)
		n += check_auto(s, "auto-blacklist", &s->abl, err, arg);
	if ((s->has_period || s->has_unauth_validity) && un <= per) {
		char m[200], a[32], b[32];

		snprintf(m, sizeof(m), "greylisting: unauth-validity %s%s must "
		    "be longer than period %s: a triplet would expire before "
		    "it could pass", dur(un, a, sizeof(a)),
		    s->has_unauth_validity ? "" : " (the default)",
		    dur(per, b, sizeof(b)));
		if (err != NULL)
			err(arg, s->line, m);
		n++;
	}
	return n;
}

#define TAKE(f) do { if (b->has_##f) out->f = b->f; } while (0)

void
grey_merge(const struct grey_settings *const *v, size_t n,
    struct grey_eff *out)
{
	const struct grey_settings *b;
	bool any = false, on = true;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->period = GREY_PERIOD_DEFAULT;
	out->auth_validity = GREY_AUTH_DEFAULT;
	out->unauth_validity = GREY_UNAUTH_DEFAULT;
	out->v4_prefix = GREY_V4_PREFIX_DEFAULT;
	out->v6_prefix = GREY_V6_PREFIX_DEFAULT;
	for (i = 0; i < n; i++) {
		if ((b = v[i]) == NULL)
			continue;
		any = true;
		if (b->has_on)
			on = b->on;
		TAKE(period);
		TAKE(v4_prefix);
		TAKE(v6_prefix);
		TAKE(auth_validity);
		TAKE(unauth_validity);
		TAKE(awl);
		TAKE(abl);
		TAKE(training);
		out->reply = b->reply ? b->reply : out->reply;
		out->bl_reply = b->bl_reply ? b->bl_reply : out->bl_reply;
	}
	out->enabled = any && on;
	if (out->unauth_validity <= out->period)
		out->unauth_validity = 2 * out->period;
	out->blocks = v;
	out->nblock = n;
}

#undef TAKE

void
grey_limits_add(struct grey_limits *lim, const struct grey_settings *s)
{
	struct grey_eff e;

	grey_merge(&s, 1, &e);
	if (e.auth_validity > lim->auth_validity)
		lim->auth_validity = e.auth_validity;
	if (e.unauth_validity > lim->unauth_validity)
		lim->unauth_validity = e.unauth_validity;
	if (e.awl.on && e.awl.within > lim->awl_within)
		lim->awl_within = e.awl.within;
	if (e.abl.on && e.abl.within > lim->abl_within)
		lim->abl_within = e.abl.within;
}


/* The decision. */

/* An attempt greylisting holds back: deferred, or in training passed
 * with what it would have been. */
static void
hold(const struct grey_eff *e, struct grey_result *out, enum grey_reason r,
    int64_t wait)
{
	out->wait = wait;
	if (e->training) {
		out->reason = GREY_R_TRAINING;
		out->would = r;
		return;
	}
	out->verdict = GREY_DEFER;
	out->reason = r;
}

static bool
whitelisted(const struct grey_eff *e, const struct pol_view *v,
    struct grey_result *out)
{
	const struct grey_settings *b;
	const struct pol_item *it;
	size_t i, j;

	for (i = 0; i < e->nblock; i++) {
		if ((b = e->blocks[i]) == NULL)
			continue;
		for (j = 0; j < b->nwl; j++) {
			it = &b->wl[j];
			if (pol_item_matches(it, it->kind == POL_ITEM_CIDR ?
			    POL_CLIENT : POL_SENDER, v)) {
				out->reason = GREY_R_WHITELISTED;
				out->matched = it->text;
				return true;
			}
		}
	}
	return false;
}

/* The client's network under e's prefixes ("192.0.2.0/24"). */
static void
net_key(const struct grey_eff *e, const struct addr *a, char *buf,
    size_t bufsz)
{
	struct cidr c;
	unsigned whole;

	memset(&c, 0, sizeof(c));
	c.net = *a;
	c.prefix = a->family == AF_INET ? e->v4_prefix : e->v6_prefix;
	whole = c.prefix / 8;
	if (whole < sizeof(c.net.bytes)) {
		c.net.bytes[whole] &= (uint8_t)(0xff00u >> (c.prefix % 8));
		memset(c.net.bytes + whole + 1, 0, sizeof(c.net.bytes) -
		    whole - 1);
	}
	cidr_format(&c, buf, bufsz);
}

static int64_t
minus(int64_t now, uint64_t d)
{
	if (d > (uint64_t)INT64_MAX || now < INT64_MIN + (int64_t)d)
		return INT64_MIN;
	return now - (int64_t)d;
}

/* The triplets of n first seen since then, and how many of them passed
 * (self counts as passed: it passes with this attempt). */
static void
tally(const struct grey_net *n, int64_t since, const struct grey_trip *self,
    uint32_t *total, uint32_t *passed)
{
	const struct grey_trip *t;

	*total = *passed = 0;
	for (t = n->newest; t != NULL && t->first_seen >= since;
	    t = t->older) {
		(*total)++;
		if (t->passes > 0 || (self != NULL && t == self))
			(*passed)++;
	}
}

/* cbpolicyd 3.1: by count, hits >= COUNT; with a percentage, total >=
 * COUNT and hits / total >= PCT. */
static bool
auto_hit(const struct grey_auto *a, uint32_t total, uint32_t hits)
{
	if (a->pct == 0)
		return hits >= a->count;
	return total >= a->count && total > 0 &&
	    (uint64_t)hits * 100 >= (uint64_t)a->pct * total;
}

/* The network's AWL or ABL entry, when one is in force, decides. */
static bool
entries(struct grey_state *s, const struct grey_eff *e, struct grey_net *n,
    int64_t now, bool commit, struct grey_result *out)
{
	if (n == NULL)
		return false;
	if (e->awl.on && (n->flags & GREY_NET_AWL) &&
	    !grey_aged(n->awl_last, now, e->awl.within)) {
		if (commit)
			grey_entry_set(s, n, GREY_NET_AWL, now);
		out->reason = GREY_R_AUTO_WHITELISTED;
		return true;
	}
	if (e->abl.on && !e->training && (n->flags & GREY_NET_ABL) &&
	    !grey_aged(n->abl_added, now, e->abl.within)) {
		out->verdict = GREY_REJECT;
		out->reason = GREY_R_AUTO_BLACKLISTED;
		return true;
	}
	return false;
}

/* A triplet not known, or known but expired (t): the network may earn an
 * ABL entry first; else it is recorded (started over) and held. */
static void
first_attempt(struct grey_state *s, const struct grey_eff *e,
    struct grey_net *n, struct grey_trip *t, const struct pol_view *v,
    int64_t now, bool commit, struct grey_result *out)
{
	enum grey_reason r = t != NULL ? GREY_R_EXPIRED : GREY_R_NEW;
	uint32_t total, passed;

	if (n != NULL && e->abl.on && !e->training) {
		tally(n, minus(now, e->abl.within), NULL, &total, &passed);
		if (auto_hit(&e->abl, total, total - passed)) {
			if (commit)
				grey_entry_set(s, n, GREY_NET_ABL, now);
			out->verdict = GREY_REJECT;
			out->reason = GREY_R_AUTO_BLACKLISTED;
			return;
		}
	}
	if (t == NULL && s->trips.n >= s->max_trip &&
	    (n == NULL || n->ntrip < s->max_per_net)) {
		s->full += commit;
		hold(e, out, GREY_R_FULL, (int64_t)e->period);
		return;
	}
	out->tries = 1;
	out->first_seen = now;
	if (commit && t != NULL)
		grey_trip_restart(s, t, now);
	else if (commit) {
		if (n == NULL)
			n = grey_net_get(s, out->net, true);
		t = grey_trip_new(s, n, &v->sender.addr, &v->rcpt.addr, now);
		grey_mark(s, &t->link, false);
	}
	hold(e, out, r, (int64_t)e->period);
}

/* A valid triplet: too soon, or it passes (and its network may earn an
 * AWL entry). */
static void
known(struct grey_state *s, const struct grey_eff *e, struct grey_trip *t,
    int64_t now, bool commit, struct grey_result *out)
{
	uint32_t total, passed;
	int64_t wait;

	out->first_seen = t->first_seen;
	if (t->passes == 0 && !grey_aged(t->first_seen, now, e->period)) {
		out->tries = t->tries + (t->tries < UINT32_MAX);
		wait = now < t->first_seen ? (int64_t)e->period :
		    (int64_t)(e->period - ((uint64_t)now -
		    (uint64_t)t->first_seen));
		if (commit) {
			t->tries = out->tries;
			t->last_seen = now;
			grey_mark(s, &t->link, false);
		}
		hold(e, out, GREY_R_TOO_SOON, wait);
		return;
	}
	out->tries = t->tries;
	out->passes = t->passes + (t->passes < UINT32_MAX);
	out->reason = GREY_R_PASSED;
	if (commit) {
		t->passes = out->passes;
		t->last_pass = t->last_seen = now;
		grey_mark(s, &t->link, false);
	}
	if (!e->awl.on)
		return;
	tally(t->net, minus(now, e->awl.within), t, &total, &passed);
	if (auto_hit(&e->awl, total, passed)) {
		if (commit)
			grey_entry_set(s, t->net, GREY_NET_AWL, now);
		out->reason = GREY_R_AUTO_WHITELISTED;
	}
}

void
grey_check(struct grey_state *s, const struct grey_eff *e,
    const struct addr *client, const char *sender, const char *recipient,
    int64_t now, bool commit, struct grey_result *out)
{
	struct pol_input in = { client, sender ? sender : "",
	    recipient ? recipient : "", NULL };
	struct pol_view v;
	struct grey_net *n;
	struct grey_trip *t = NULL;

	memset(out, 0, sizeof(*out));
	out->verdict = GREY_PASS;
	out->reason = e->enabled ? GREY_R_NO_CLIENT : GREY_R_OFF;
	if (!e->enabled || client == NULL)
		return;
	pol_view_init(&v, &in);
	if (whitelisted(e, &v, out))
		goto done;
	net_key(e, &v.client, out->net, sizeof(out->net));
	n = grey_net_get(s, out->net, false);
	if (entries(s, e, n, now, commit, out))
		goto done;
	if (v.sender.addr.len > GREY_ADDR_MAX ||
	    v.rcpt.addr.len > GREY_ADDR_MAX) {
		hold(e, out, GREY_R_TOO_LONG, (int64_t)e->period);
		goto done;
	}
	if (n != NULL)
		t = grey_trip_find(s, n, &v.sender.addr, &v.rcpt.addr);
	if (t != NULL && !grey_trip_is_expired(t, e->auth_validity,
	    e->unauth_validity, now))
		known(s, e, t, now, commit, out);
	else
		first_attempt(s, e, n, t, &v, now, commit, out);
done:
	pol_view_clear(&v);
}

void
grey_reply(const struct grey_eff *e, const struct grey_result *r, char *buf,
    size_t bufsz)
{
	char text[80];

	if (r->verdict == GREY_REJECT) {
		pol_verdict_reply(POL_V_REJECT, e->bl_reply ? e->bl_reply :
		    "Greylisting: mail from your network is refused for a "
		    "while (auto-blacklisted)", buf, bufsz);
		return;
	}
	if (r->verdict != GREY_DEFER) {
		str_copy(buf, "", bufsz);
		return;
	}
	if (r->wait > 0)
		snprintf(text, sizeof(text), "Greylisted, please try again in "
		    "%lld second%s", (long long)r->wait, r->wait == 1 ? "" :
		    "s");
	else
		str_copy(text, "Greylisted, please try again later",
		    sizeof(text));
	pol_verdict_reply(POL_V_TEMPFAIL, e->reply ? e->reply : text, buf,
	    bufsz);
}

const char *
grey_verdict_name(enum grey_verdict v)
{
	return v == GREY_PASS ? "pass" : v == GREY_DEFER ? "defer" :
	    v == GREY_REJECT ? "reject" : "?";
}

const char *
grey_reason_name(enum grey_reason r)
{
	return (size_t)r < sizeof(reason_names) / sizeof(reason_names[0]) &&
	    reason_names[r] != NULL ? reason_names[r] : "?";
}

static void append(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t bufsz, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= bufsz)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, bufsz - len, fmt, ap);
	va_end(ap);
}

void
grey_result_format(const struct grey_result *r, char *buf, size_t bufsz)
{
	if (bufsz == 0)
		return;
	buf[0] = '\0';
	append(buf, bufsz, "greylist=%s reason=%s",
	    grey_verdict_name(r->verdict), grey_reason_name(r->reason));
	if (r->reason == GREY_R_TRAINING)
		append(buf, bufsz, " would=%s", grey_reason_name(r->would));
	if (r->matched != NULL)
		append(buf, bufsz, " matched=%s", r->matched);
	if (r->net[0] != '\0')
		append(buf, bufsz, " net=%s", r->net);
	if (r->tries > 0 || r->passes > 0)
		append(buf, bufsz, " tries=%u passes=%u", r->tries, r->passes);
	if (r->verdict == GREY_DEFER || r->reason == GREY_R_TRAINING)
		append(buf, bufsz, " wait=%lld", (long long)r->wait);
}
