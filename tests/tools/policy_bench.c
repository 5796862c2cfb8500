/*
 * policy_bench: decisions per second of pol_set_match() on a large set
 * (DESIGN.md, "Policy matching"; the target is 200,000 a second).
 *
 * The set: 1,000 policies and 500 groups holding 10,000 members in all
 * (300 address groups of addresses, domains and subdomains, some nested;
 * 100 groups of IPv4 and IPv6 networks; 100 groups of logins).  Each
 * policy has one or two match blocks over one to four dimensions, with
 * except lists here and there; one in 50 is broad (any sender from any
 * IPv4 client but one network), as defaults and site-wide quotas are.  The inputs mix members and strangers.
 * Before timing, the indexed answers are checked against the item walk
 * of pol_policy_matches() on a sample.
 *
 * Usage: policy_bench [decisions]   (default 1,000,000)
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/strutil.h"
#include "policy/policy.h"

#define NPOLICY		1000
#define NADDRG		300
#define NNETG		100
#define NLOGING		100
#define NMEMBER		20	/* per group: 500 x 20 = 10,000 */
#define NINPUT		4096

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void
on_error(void *arg, int line, const char *msg)
{
	(void)arg;
	fprintf(stderr, "policy_bench: line %d: %s\n", line, msg);
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
member_text(unsigned g, unsigned k, char *out, size_t outsz)
{
	if (g < NADDRG) {
		switch (k % 4) {
		case 0:
			snprintf(out, outsz, "@d%u-%u.test", g, k);
			break;
		case 1:
			snprintf(out, outsz, "@*.corp%u-%u.test", g, k);
			break;
		default:
			snprintf(out, outsz, "user%u@d%u.test", k, g);
			break;
		}
	} else if (g < NADDRG + NNETG) {
		if (k % 2)
			snprintf(out, outsz, "2001:db8:%x:%x::/64", g, k);
		else
			snprintf(out, outsz, "10.%u.%u.0/24", g - NADDRG, k);
	} else
		snprintf(out, outsz, "login%u-%u", g, k);
}

static void
add_groups(struct pol_set *set, int *line)
{
	struct pol_group *grp;
	char name[32], text[64], err[256];
	unsigned g, k;

	for (g = 0; g < NADDRG + NNETG + NLOGING; g++) {
		snprintf(name, sizeof(name), "g%u", g);
		if ((grp = pol_group_add(set, name, ++*line, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "policy_bench: %s\n", err);
			exit(1);
		}
		for (k = 0; k < NMEMBER; k++) {
			/* every 10th address group includes the next one
			 * in place of one member */
			if (g < NADDRG - 1 && g % 10 == 0 && k == 0)
				snprintf(text, sizeof(text), "%%g%u", g + 1);
			else
				member_text(g, k, text, sizeof(text));
			pol_group_add_text(grp, text, ++*line);
		}
	}
}

static void
add_item(struct pol_match *m, enum pol_dim dim, bool except,
    const char *text, int line)
{
	struct pol_item it;
	char err[256];

	if (pol_item_parse(dim, text, line, &it, err, sizeof(err)) == -1) {
		fprintf(stderr, "policy_bench: %s\n", err);
		exit(1);
	}
	pol_match_add(m, dim, except, &it);
}

static void
add_block(struct pol_policy *p, int *line)
{
	struct pol_match *m = pol_policy_add_match(p, ++*line);
	char text[64];
	unsigned r;

	if (p->index % 50 == 0) {	/* a broad one: a default, a quota */
		add_item(m, POL_SENDER, false, "any", *line);
		add_item(m, POL_CLIENT, false, "0.0.0.0/0", *line);
		add_item(m, POL_CLIENT, true, "10.1.0.0/16", *line);
		return;
	}
	snprintf(text, sizeof(text), "%%g%u", rnd(NADDRG));
	add_item(m, POL_SENDER, false, text, *line);
	if (rnd(4) == 0) {
		member_text(rnd(NADDRG), 2, text, sizeof(text));
		add_item(m, POL_SENDER, true, text, *line);
	}
	if (rnd(2) == 0) {
		snprintf(text, sizeof(text), "@d%u-0.test", rnd(NADDRG));
		add_item(m, POL_RECIPIENT, false, text, *line);
		snprintf(text, sizeof(text), "%%g%u", rnd(NADDRG));
		add_item(m, POL_RECIPIENT, false, text, *line);
	}
	if (rnd(2) == 0) {
		snprintf(text, sizeof(text), "%%g%u", NADDRG + rnd(NNETG));
		add_item(m, POL_CLIENT, false, text, *line);
	}
	r = rnd(4);
	if (r == 0)
		add_item(m, POL_SASL, false, "*", *line);
	else if (r == 1) {
		snprintf(text, sizeof(text), "%%g%u",
		    NADDRG + NNETG + rnd(NLOGING));
		add_item(m, POL_SASL, false, text, *line);
	}
}

static struct pol_set *
build(void)
{
	struct pol_set *set = pol_set_new();
	struct pol_policy *p;
	char name[32], err[256];
	int line = 0;
	unsigned i;

	add_groups(set, &line);
	for (i = 0; i < NPOLICY; i++) {
		snprintf(name, sizeof(name), "p%u", i);
		p = pol_policy_add(set, name, rnd(101), ++line, err,
		    sizeof(err));
		add_block(p, &line);
		if (rnd(3) == 0)
			add_block(p, &line);
	}
	return set;
}

struct binput {
	struct pol_input	in;
	struct addr		client;
	char			sender[64], rcpt[64], sasl[32];
};

/* A member of a random group, or a stranger, as an address. */
static void
random_addr(char *out, size_t outsz)
{
	unsigned g = rnd(NADDRG), k = rnd(NMEMBER);

	switch (rnd(5)) {
	case 0:
		snprintf(out, outsz, "x%u@d%u-%u.test", rnd(100), g, k & ~3u);
		break;
	case 1:
		snprintf(out, outsz, "y@a.b.corp%u-%u.test", g, (k & ~3u) + 1);
		break;
	case 2:
	case 3:
		snprintf(out, outsz, "User%u@D%u.test", (k & ~3u) + 2, g);
		break;
	default:
		snprintf(out, outsz, "stranger%u@elsewhere%u.test", rnd(1000),
		    rnd(50));
		break;
	}
}

static void
make_inputs(struct binput *bi)
{
	char a[64];
	unsigned i, g, k;

	for (i = 0; i < NINPUT; i++) {
		memset(&bi[i], 0, sizeof(bi[i]));
		random_addr(bi[i].sender, sizeof(bi[i].sender));
		if (rnd(20) == 0)
			bi[i].sender[0] = '\0';
		random_addr(bi[i].rcpt, sizeof(bi[i].rcpt));
		g = rnd(NNETG);
		k = rnd(NMEMBER);
		if (k % 2)
			snprintf(a, sizeof(a), "2001:db8:%x:%x::%x", g + NADDRG,
			    k, rnd(65536));
		else
			snprintf(a, sizeof(a), "10.%u.%u.%u", g, k, rnd(256));
		if (rnd(8) == 0)
			snprintf(a, sizeof(a), "192.0.2.%u", rnd(256));
		addr_parse(a, &bi[i].client);
		if (rnd(3) == 0)
			snprintf(bi[i].sasl, sizeof(bi[i].sasl), "Login%u-%u",
			    NADDRG + NNETG + rnd(NLOGING), rnd(NMEMBER));
		bi[i].in.client = &bi[i].client;
		bi[i].in.sender = bi[i].sender;
		bi[i].in.recipient = bi[i].rcpt;
		bi[i].in.sasl = bi[i].sasl;
	}
}

/* The indexed answers against the walk, on the first n inputs. */
static int
check(const struct pol_set *set, const struct binput *bi, unsigned n)
{
	static const struct pol_policy *out[NPOLICY];
	size_t k, j, w;
	unsigned i;

	for (i = 0; i < n; i++) {
		k = pol_set_match(set, &bi[i].in, out, NPOLICY);
		for (j = 0, w = 0; j < set->npolicy; j++) {
			if (!pol_policy_matches(set->policies[j], &bi[i].in,
			    NULL))
				continue;
			if (w >= k || out[w] != set->policies[j]) {
				fprintf(stderr, "policy_bench: the matchers "
				    "disagree on input %u\n", i);
				return -1;
			}
			w++;
		}
		if (w != k) {
			fprintf(stderr, "policy_bench: the matchers disagree "
			    "on input %u\n", i);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct binput bi[NINPUT];
	const struct pol_policy *out[64];
	struct pol_set *set;
	uint64_t n = 1000000, i, matched = 0;
	const char *es;
	double t0, t1, t2;

	if (argc > 1 && str_to_u64(argv[1], 1, UINT64_MAX, &n, &es) == -1) {
		fprintf(stderr, "usage: policy_bench [decisions]: %s\n", es);
		return 2;
	}
	t0 = now_sec();
	set = build();
	if (pol_set_resolve(set, on_error, NULL) != 0)
		return 1;
	t1 = now_sec();
	make_inputs(bi);
	if (check(set, bi, 2000) == -1)
		return 1;
	t2 = now_sec();
	for (i = 0; i < n; i++)
		matched += pol_set_match(set, &bi[i % NINPUT].in, out, 64);
	t2 = now_sec() - t2;
	printf("policies %zu, groups %zu, members %u\n", set->npolicy,
	    set->ngroup, (unsigned)((NADDRG + NNETG + NLOGING) * NMEMBER));
	printf("build and resolve: %.1f ms\n", (t1 - t0) * 1e3);
	printf("decisions: %llu in %.3f s, %.0f decisions/s, %.2f policies "
	    "matched on average\n", (unsigned long long)n, t2, (double)n / t2,
	    (double)matched / (double)n);
	pol_set_free(&set);
	return 0;
}
