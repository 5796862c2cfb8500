/*
 * tgrey.h: greylisting blocks written as "key=value ...", a state, and
 * attempts decided at a given `now` in a word, for test_greylist and
 * test_greylist_store.  Include after t.h.
 */
#ifndef SLUICE_TGREY_H
#define SLUICE_TGREY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/greylist.h"

#define T0	1000000000LL
#define MIN	60LL
#define HOUR	3600LL
#define DAY	86400LL

static inline char *
strcpy_n(char *dst, const char *src)
{
	snprintf(dst, 300, "%s", src);
	return dst;
}

static struct grey_state *st;
static struct grey_settings *blk;
static struct grey_eff eff;

/*
 * A block from "key=value ..." (keys: on period v4 v6 auth unauth
 * training awl abl (COUNT:PCT:WITHIN) wl reply blreply); values in
 * seconds; the block's line is 7.  The caller frees it.
 */
static inline struct grey_settings *
block(const char *spec)
{
	struct grey_settings *s = grey_settings_new(7);
	char buf[512], *k, *v, *p, *end, err[200];
	struct grey_auto a;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (k = buf; *k != '\0'; k = end) {
		end = k + strcspn(k, " ");
		if (*end != '\0')
			*end++ = '\0';
		v = strchr(k, '=') + 1;
		v[-1] = '\0';
		memset(&a, 0, sizeof(a));
		a.on = true;
		a.count = (uint32_t)strtoul(v, &p, 10);
		a.pct = *p == ':' ? (unsigned)strtoul(p + 1, &p, 10) : 0;
		a.within = *p == ':' ? strtoull(p + 1, NULL, 10) : 0;
#define SET(name, f, val) if (strcmp(k, name) == 0) { s->has_##f = true; \
			s->f = (val); }
		SET("on", on, a.count != 0);
		SET("period", period, a.count);
		SET("v4", v4_prefix, a.count);
		SET("v6", v6_prefix, a.count);
		SET("auth", auth_validity, a.count);
		SET("unauth", unauth_validity, a.count);
		SET("training", training, a.count != 0);
		SET("awl", awl, a);
		SET("abl", abl, a);
#undef SET
		if (strcmp(k, "wl") == 0 && grey_settings_whitelist(s, v, 8,
		    err, sizeof(err)) == -1)
			T_OK(0, err);
		if ((strcmp(k, "reply") == 0 || strcmp(k, "blreply") == 0) &&
		    grey_settings_reply(s, k[0] == 'b', v, err,
		    sizeof(err)) == -1)
			T_OK(0, err);
	}
	return s;
}

/* A fresh state and one policy's block in force. */
static inline void
fresh(const char *spec)
{
	grey_state_free(&st);
	grey_settings_free(&blk);
	st = grey_state_new(0, 0);
	blk = block(spec);
	grey_merge((const struct grey_settings *const *)&blk, 1, &eff);
}

/* One attempt, in a word: "defer/too-soon t2 w240", "pass/passed t3 p1". */
static inline const char *
ask(const char *ip, const char *from, const char *to, int64_t now,
    bool commit, struct grey_result *rp)
{
	static char out[128];
	struct grey_result r;
	struct addr a;

	if (ip != NULL && addr_parse(ip, &a) != 0)
		T_OK(0, ip);
	grey_check(st, &eff, ip ? &a : NULL, from, to, now, commit, &r);
	snprintf(out, sizeof(out), "%s/%s", grey_verdict_name(r.verdict),
	    grey_reason_name(r.reason));
	if (r.reason == GREY_R_TRAINING)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), ":%s",
		    grey_reason_name(r.would));
	if (r.tries > 0 || r.passes > 0)
		snprintf(out + strlen(out), sizeof(out) - strlen(out),
		    " t%u p%u", r.tries, r.passes);
	if (r.verdict == GREY_DEFER)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), " w%lld",
		    (long long)r.wait);
	if (rp != NULL)
		*rp = r;
	return out;
}

/* One attempt to r@y.net, committed. */
static inline const char *
go(const char *ip, const char *from, int64_t t)
{
	return ask(ip, from, "r@y.net", t, true, NULL);
}

/* Triplets s<from>.. to r@y.net of ip at t; passed: retried at t + 5m. */
static inline void
triplets(const char *ip, int from, int n, int64_t t, bool passed)
{
	char s[32];
	int i;

	for (i = from; i < from + n; i++) {
		snprintf(s, sizeof(s), "s%d@x.org", i);
		go(ip, s, t);
		if (passed)
			go(ip, s, t + 300);
	}
}

#define NET	"203.0.113.5"

#endif
