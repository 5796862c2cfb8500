/*
 * quota_bench: the engine's figures for `make bench` (issue 4).
 *
 * 1. Decisions per second of the whole quota stage (pol_quota_decide with
 *    commit: matching, keys, counters, verdicts, the rows for the store)
 *    on 1,000 policies and 10,000 group members: policy i matches senders
 *    of group gi (20 members: 10 addresses, 10 domains of its own, so 500
 *    groups hold 10,000 members) and has a per-user quota; one site-wide
 *    policy with a per-domain quota matches everything.  Senders are drawn
 *    from 100,000 addresses across the groups' domains, one recipient.
 * 2. Memory per tracked key: 1,000,000 distinct senders through a
 *    site-wide Sender:user@domain quota; the resident set size before and
 *    after (from /proc/self/statm), divided by the keys.
 *
 * Usage: quota_bench [decisions] [keys]   (defaults 1,000,000 and
 * 1,000,000).  Prints "decisions_per_sec=N" and "bytes_per_key=N" lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/strutil.h"
#include "policy/quota.h"

#define NPOLICY		1000
#define NGROUP		500
#define NMEMBER		20
#define NSENDER		100000

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_bytes(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * sysconf(_SC_PAGESIZE);
}

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "quota_bench: %s: %s\n", what, err);
	exit(1);
}

static void
add_quota(struct pol_set *set, struct pol_policy *p, const char *name,
    const char *track, uint64_t limit)
{
	char err[256];
	const char *es;
	struct pol_quota *q = pol_quota_add(set, p, name, 1, err, sizeof(err));

	if (q == NULL || pol_quota_set_track(q, track, 1, err,
	    sizeof(err)) == -1 || pol_quota_add_limit(q, POL_UNIT_MESSAGES,
	    limit, 1, err, sizeof(err)) == -1)
		die(name, err);
	if (pol_period_parse("1h", &q->period, &es) == -1)
		die(name, es);
	q->has_period = true;
}

static struct pol_policy *
add_policy(struct pol_set *set, const char *name, long prio,
    const char *sender)
{
	char err[256];
	struct pol_policy *p = pol_policy_add(set, name, prio, 1, err,
	    sizeof(err));
	struct pol_match *m;
	struct pol_item it;

	if (p == NULL)
		die(name, err);
	m = pol_policy_add_match(p, 1);
	if (pol_item_parse(POL_SENDER, sender, 1, &it, err, sizeof(err)) == -1)
		die(sender, err);
	pol_match_add(m, POL_SENDER, false, &it);
	return p;
}

static struct pol_set *
big_set(void)
{
	struct pol_set *set = pol_set_new();
	struct pol_group *g;
	struct pol_policy *p;
	char name[64], item[128], err[256];
	int i, j;

	for (i = 0; i < NGROUP; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		if ((g = pol_group_add(set, name, 1, err, sizeof(err))) == NULL)
			die(name, err);
		for (j = 0; j < NMEMBER; j++) {
			if (j < NMEMBER / 2)
				snprintf(item, sizeof(item), "user%d@d%d.example",
				    j, i);
			else
				snprintf(item, sizeof(item), "@e%d-%d.example",
				    j, i);
			pol_group_add_text(g, item, 1);
		}
	}
	for (i = 0; i < NPOLICY; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		snprintf(item, sizeof(item), "%%g%d", i % NGROUP);
		p = add_policy(set, name, 10 + i, item);
		add_quota(set, p, "per-user", "Sender:user@domain", 1000000);
	}
	p = add_policy(set, "site", 5000, "any");
	add_quota(set, p, "per-domain", "Sender:@domain", 1000000000);
	if (pol_set_resolve(set, NULL, NULL) != 0)
		die("resolve", "errors");
	return set;
}

static void
decide_one(const struct pol_set *set, struct pol_counters *c,
    const char *sender, int64_t now)
{
	static const char *rcpt[] = { "someone@example.net" };
	struct pol_decision d;
	struct pol_msg m;

	memset(&m, 0, sizeof(m));
	m.sender = sender;
	m.rcpts = rcpt;
	m.nrcpt = 1;
	m.size = 2048;
	pol_quota_decide(set, c, &m, now, true, &d, NULL);
	pol_decision_clear(&d);
}

int
main(int argc, char **argv)
{
	uint64_t ndec = 1000000, nkeys = 1000000;
	const char *es;
	struct pol_set *set, *one;
	struct pol_counters *c;
	char (*senders)[64];
	char sender[64];
	double t0, t;
	uint64_t i;
	long before, after;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	if ((argc > 1 && str_to_u64(argv[1], 1, 100000000, &ndec, &es) == -1) ||
	    (argc > 2 && str_to_u64(argv[2], 1, 100000000, &nkeys, &es) == -1))
		die("usage: quota_bench [decisions] [keys]", es);
	setenv("TZ", "UTC", 1);
	set = big_set();
	senders = calloc(NSENDER, sizeof(*senders));
	for (i = 0; i < NSENDER; i++) {
		int g = (int)(i % NGROUP), j = (int)((i / NGROUP) % NMEMBER);

		if (j < NMEMBER / 2)
			snprintf(senders[i], sizeof(senders[i]),
			    "user%d@d%d.example", j, g);
		else
			snprintf(senders[i], sizeof(senders[i]),
			    "u%llu@e%d-%d.example", (unsigned long long)i, j, g);
	}
	c = pol_counters_new();
	t0 = now_sec();
	for (i = 0; i < ndec; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		decide_one(set, c, senders[rng % NSENDER],
		    1000000 + (int64_t)(i / 1000));
	}
	t = now_sec() - t0;
	printf("policies=%d group_members=%d decisions=%llu seconds=%.3f "
	    "decisions_per_sec=%.0f keys=%zu\n", NPOLICY + 1,
	    NGROUP * NMEMBER, (unsigned long long)ndec, t, (double)ndec / t,
	    pol_counters_count(c));
	pol_counters_free(&c);
	free(senders);

	/* memory per key: one site-wide per-user quota */
	one = pol_set_new();
	add_quota(one, add_policy(one, "site", 1, "any"), "per-user",
	    "Sender:user@domain", 1000);
	if (pol_set_resolve(one, NULL, NULL) != 0)
		die("resolve", "errors");
	c = pol_counters_new();
	before = rss_bytes();
	t0 = now_sec();
	for (i = 0; i < nkeys; i++) {
		snprintf(sender, sizeof(sender), "sender%llu@domain%llu.example",
		    (unsigned long long)i, (unsigned long long)(i % 1000));
		decide_one(one, c, sender, 1000000);
	}
	t = now_sec() - t0;
	after = rss_bytes();
	printf("keys=%zu rss_before=%ld rss_after=%ld bytes_per_key=%.0f "
	    "seconds=%.3f\n", pol_counters_count(c), before, after,
	    (double)(after - before) / (double)nkeys, t);
	pol_counters_free(&c);
	pol_set_free(&one);
	pol_set_free(&set);
	return 0;
}
