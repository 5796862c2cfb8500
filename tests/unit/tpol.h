/*
 * tpol.h: a policy set and counters built by hand, and messages decided
 * against them at a given `now`, for the unit tests of policy/'s quota
 * stage (test_quota, test_quota_notify).  Include after t.h.
 */
#ifndef SLUICE_TPOL_H
#define SLUICE_TPOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/quota.h"

static struct pol_set *set;
static struct pol_counters *ctr;

static inline void
fresh(void)
{
	pol_set_free(&set);
	pol_counters_free(&ctr);
	set = pol_set_new();
	ctr = pol_counters_new();
}

static inline struct pol_policy *
policy(const char *name, long prio, enum pol_dim dim, const char *item)
{
	char err[256];
	struct pol_policy *p = pol_policy_add(set, name, prio, 1, err,
	    sizeof(err));
	struct pol_match *m = pol_policy_add_match(p, 1);
	struct pol_item it;

	T_OK(pol_item_parse(dim, item, 1, &it, err, sizeof(err)) == 0, item);
	pol_match_add(m, dim, false, &it);
	return p;
}

/* quota NAME { track T period P limit UNIT N verdict V } */
static inline struct pol_quota *
quota(struct pol_policy *p, const char *name, const char *track,
    const char *period, enum pol_unit unit, uint64_t n, enum pol_verdict v)
{
	char err[256];
	const char *es;
	struct pol_quota *q = pol_quota_add(set, p, name, 2, err, sizeof(err));

	T_OK(q != NULL, name);
	T_OK(pol_quota_set_track(q, track, 3, err, sizeof(err)) == 0, track);
	T_OK(pol_period_parse(period, &q->period, &es) == 0, period);
	q->has_period = true;
	T_OK(pol_quota_add_limit(q, unit, n, 4, err, sizeof(err)) == 0,
	    "limit");
	T_OK(pol_quota_set_verdict(q, v, NULL, 5, err, sizeof(err)) == 0,
	    "verdict");
	return q;
}

static inline void
resolve(void)
{
	T_EQ_INT(pol_set_resolve(set, NULL, NULL), 0, "resolves");
}

static struct addr client4;

/* A message's recipients "r1 r2 ..." (at most 64) in *rv, valid until
 * the next call; how many. */
static inline size_t
msg_rcpts(const char *rcpts, const char ***rvp)
{
	static char buf[1024];
	static const char *rv[64];
	size_t n = 0;
	char *s, *rest;

	snprintf(buf, sizeof(buf), "%s", rcpts);
	for (rest = buf; (s = strsep(&rest, " ")) != NULL && n < 64;)
		if (*s != '\0')
			rv[n++] = s;
	*rvp = rv;
	return n;
}

/* One message; returns the decision (cleared by the caller). */
static inline void
msg_send(const char *sender, const char *rcpts, uint64_t size, int64_t now,
    bool commit, struct pol_decision *d)
{
	const char **rv;
	size_t n = msg_rcpts(rcpts, &rv);
	struct pol_msg m;

	memset(&m, 0, sizeof(m));
	m.client = &client4;
	m.sender = sender;
	m.rcpts = rv;
	m.nrcpt = n;
	m.size = size;
	pol_quota_decide(set, ctr, &m, now, commit, d, NULL);
}

/* A message from sender to n recipients r0@d .. r{n-1}@d. */
static inline void
msg_many(const char *sender, size_t n, uint64_t size, int64_t now,
    bool commit, bool bypass, struct pol_decision *d)
{
	static char names[600][16];
	static const char *rv[600];
	struct pol_msg m;
	size_t i;

	for (i = 0; i < n && i < 600; i++) {
		snprintf(names[i], sizeof(names[i]), "r%zu@d.example", i);
		rv[i] = names[i];
	}
	memset(&m, 0, sizeof(m));
	m.client = &client4;
	m.sender = sender;
	m.rcpts = rv;
	m.nrcpt = n;
	m.size = size;
	m.bypass = bypass;
	pol_quota_decide(set, ctr, &m, now, commit, d, NULL);
}

#endif
