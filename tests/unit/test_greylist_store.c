/*
 * test_greylist_store: greylisting's records (policy/greylist_store.c)
 * driven by `now` alone: the caps (per network, in all), the rows for the
 * store (changes coalesced and bounded, deletions of what the store has
 * only), pruning at its edges, load round trips, a simulated month whose
 * triplet count must stay bounded, and the memory a triplet takes.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/greylist.h"
#include "t.h"
#include "tgrey.h"

static void
test_caps(void)
{
	struct grey_stats gs;

	fresh("");
	grey_state_free(&st);
	st = grey_state_new(5, 3);
	triplets("192.0.2.1", 0, 4, T0, false);
	grey_stats(st, &gs);
	T_OK(gs.triplets == 3 && gs.evicted == 1, "per network: the oldest "
	    "gives way");
	T_EQ_STR(go("192.0.2.1", "s0@x.org", T0 + 300),
	    "defer/greylisted t1 p0 w300", "the evicted one is new");
	triplets("192.0.3.1", 0, 2, T0, false);
	T_EQ_STR(go("192.0.4.1", "a@x.org", T0), "defer/full w300",
	    "full: deferred, not recorded");
	T_EQ_STR(go("192.0.4.1", "a@x.org", T0 + 300), "defer/full w300",
	    "full: still");
	T_EQ_STR(go("192.0.3.1", "s0@x.org", T0 + 300), "pass/passed t1 p1",
	    "full: known triplets pass");
	grey_stats(st, &gs);
	T_OK(gs.triplets == 5 && gs.full == 2, "full: counted");
}

/* The rows grey_changes gives, kept (strings copied) and in a word:
 * "+T net sender rcpt f.. l.. p.. t.. p..", "-W net". */
struct rows {
	struct grey_row	 r[64];
	char		 s[64][3][300];
	char		 text[64][160];
	size_t		 n;
};

static void
take(const struct grey_row *r, void *arg)
{
	struct rows *rs = arg;
	static const char kinds[] = "TWB";
	size_t i = rs->n, len;

	if (i == 64)
		return;
	rs->r[i] = *r;
	rs->r[i].net = strcpy_n(rs->s[i][0], r->net);
	rs->r[i].sender = r->sender ? strcpy_n(rs->s[i][1], r->sender) : NULL;
	rs->r[i].recipient = r->recipient ? strcpy_n(rs->s[i][2],
	    r->recipient) : NULL;
	len = (size_t)snprintf(rs->text[i], 160, "%c%c %s%s%s%s%s",
	    r->deleted ? '-' : '+', kinds[r->kind], r->net, r->sender ? " " :
	    "", r->sender ? r->sender : "", r->recipient ? " " : "",
	    r->recipient ? r->recipient : "");
	if (!r->deleted)
		snprintf(rs->text[i] + len, 160 - len, " f%lld l%lld p%lld "
		    "t%u p%u", (long long)(r->first_seen - T0),
		    (long long)(r->last_seen - T0),
		    (long long)(r->last_pass ? r->last_pass - T0 : -1),
		    r->tries, r->passes);
	rs->n++;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The rows of one grey_changes call, sorted (their order is no
 * contract but deletions first), joined by "; ". */
static const char *
drain(struct rows *rs, size_t max)
{
	static char out[2048];
	const char *v[64] = { NULL };
	size_t i, from = rs->n;

	grey_changes(st, max, take, rs);
	for (i = from; i < rs->n; i++)
		v[i - from] = rs->text[i];
	qsort(v, rs->n - from, sizeof(v[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < rs->n - from; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
		    i > 0 ? "; " : "", v[i]);
	return out;
}

static void
test_rows_prune_load(void)
{
	const char *ip = "203.0.113.5", *es = NULL;
	const struct grey_limits lim = { DAY, HOUR, 2 * HOUR, 3 * HOUR };
	static struct rows rs;
	struct grey_state *first;
	size_t i, given;

	fresh("awl=1:0:7200 abl=1:0:10800");
	ask(ip, "a@x.org", "r@y.net", T0, true, NULL);
	ask(ip, "a@x.org", "r@y.net", T0 + 10, true, NULL);
	T_EQ_STR(drain(&rs, 0), "+T 203.0.113.0/24 a@x.org r@y.net f0 l10 "
	    "p-1 t2 p0", "changes: one row per record, its last figures");
	T_EQ_STR(drain(&rs, 0), "", "changes: nothing new");
	ask("198.51.100.1", "<>", "q@y.net", T0 + 60, true, NULL);
	ask("198.51.100.1", "<>", "q@y.net", T0 + 360, true, NULL);
	ask("192.0.2.1", "b@x.org", "r@y.net", T0 + 400, true, NULL);
	T_EQ_STR(ask("192.0.2.1", "c@x.org", "r@y.net", T0 + 500, true,
	    NULL), "reject/auto-blacklisted", "ABL for the rows");
	T_EQ_INT(strlen(drain(&rs, 2)) > 0 && rs.n == 3, 1,
	    "changes: at most max records");
	T_EQ_STR(drain(&rs, 0), "+T 198.51.100.0/24  q@y.net f60 l360 p360 "
	    "t1 p1; +W 198.51.100.0/24 f360 l360 p-1 t0 p0",
	    "changes: the rest at the next call");
	given = rs.n;
	T_EQ_INT(grey_prune(st, &lim, T0 + HOUR - 1), 3, "prune: 1 s early");
	T_EQ_STR(drain(&rs, 0), "", "prune: nothing removed");
	T_EQ_INT(grey_prune(st, &lim, T0 + HOUR), 2, "prune: unauth-validity");
	T_EQ_STR(drain(&rs, 0), "-T 203.0.113.0/24 a@x.org r@y.net",
	    "prune: the removal");
	ask("192.0.9.1", "new@x.org", "r@y.net", T0 + 500, true, NULL);
	T_EQ_INT(grey_prune(st, &lim, T0 + 2 * HOUR + 360), 1,
	    "prune: AWL 2 h after its last use, unpassed triplets");
	T_EQ_STR(drain(&rs, 0), "-T 192.0.2.0/24 b@x.org r@y.net; "
	    "-W 198.51.100.0/24", "prune: no row for a triplet never given");
	/* what was given, loaded into a new state: the same decisions */
	first = st;
	st = grey_state_new(0, 0);
	for (i = 0; i < given; i++)
		T_EQ_INT(grey_load(st, &rs.r[i], &es), 0, rs.text[i]);
	T_EQ_STR(drain(&rs, 0), "", "load: nothing queued back");
	T_EQ_STR(ask("192.0.2.1", "z@x.org", "r@y.net", T0 + 600, false,
	    NULL), "reject/auto-blacklisted", "load: ABL");
	T_EQ_STR(ask("198.51.100.9", "z@x.org", "r@y.net", T0 + 600, false,
	    NULL), "pass/auto-whitelisted", "load: AWL");
	T_EQ_STR(ask(ip, "a@x.org", "r@y.net", T0 + 20, false, NULL),
	    "defer/too-soon t3 p0 w280", "load: triplet figures");
	T_EQ_INT(grey_prune(st, &lim, T0 + 2 * DAY), 0, "load: prune all");
	T_EQ_STR(drain(&rs, 0), "-B 192.0.2.0/24; -T 192.0.2.0/24 b@x.org "
	    "r@y.net; -T 198.51.100.0/24  q@y.net; -T 203.0.113.0/24 a@x.org "
	    "r@y.net; -W 198.51.100.0/24", "load: loaded rows are the "
	    "store's: their removal is given");
	T_EQ_INT(grey_load(st, &(struct grey_row){ .kind = GREY_ROW_TRIPLET,
	    .net = "192.0.2.0/24" }, &es), -1, "load: a triplet without "
	    "addresses");
	grey_state_free(&st);
	st = first;
}

/* A deterministic generator: xorshift64. */
static uint64_t
rnd(void)
{
	static uint64_t x = 0x2545f4914f6cdd1dull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* An attempt of the month: network, host, sender and recipient numbers;
 * queued to be made again after a fixed delay (so the queue is in order). */
struct att {
	int64_t		 at;
	unsigned	 net, host, from, to;
};

struct later {
	struct att	 v[4096];
	size_t		 head, tail;
};

static void
attempt(const struct att *a, int64_t t)
{
	char ip[24], from[32], to[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", a->net, a->net, a->host);
	snprintf(from, sizeof(from), "u%u@d%u.org", a->from, a->net);
	snprintf(to, sizeof(to), "r%u@ours.net", a->to);
	ask(ip, from, to, t, true, NULL);
}

static void
later_push(struct later *l, struct att a, int64_t at)
{
	if ((l->tail + 1) % 4096 == l->head)
		return;
	a.at = at;
	l->v[l->tail] = a;
	l->tail = (l->tail + 1) % 4096;
}

/* Makes the due attempts at t; half of them come back a day later. */
static void
later_run(struct later *l, struct later *next, int64_t t)
{
	while (l->head != l->tail && l->v[l->head].at <= t) {
		attempt(&l->v[l->head], t);
		if (next != NULL && rnd() % 2)
			later_push(next, l->v[l->head], t + DAY);
		l->head = (l->head + 1) % 4096;
	}
}

/*
 * A month: every 2 minutes a new attempt from one of 64 networks; the
 * good ones (3 in 4) retry 10 minutes later and, half of them, send
 * again a day later; the others never retry.  Prune every hour.  The
 * triplets must stay bounded: unpassed ones live unauth-validity (1 d),
 * passed ones auth-validity (7 d) after their last pass.
 */
static void
test_month(void)
{
	static struct later retry, again;
	struct grey_limits lim = { 0, 0, 0, 0 };
	int64_t t, end = T0 + 30 * DAY, rate = 2 * MIN;
	size_t n, max = 0, last_week = 0;
	struct grey_stats gs;
	struct att a;

	fresh("auth=604800 unauth=86400 awl=50:0:604800 abl=10:90:86400");
	grey_limits_add(&lim, blk);
	for (t = T0; t < end; t += rate) {
		a.net = (unsigned)(rnd() % 64);
		a.host = (unsigned)(rnd() % 250);
		a.from = (unsigned)(rnd() % 3000);
		a.to = (unsigned)(rnd() % 500);
		attempt(&a, t);
		if (a.net % 4 != 0)
			later_push(&retry, a, t + 10 * MIN);
		later_run(&retry, &again, t);
		later_run(&again, NULL, t);
		if ((t - T0) % HOUR == 0) {
			grey_changes(st, 0, NULL, NULL);
			n = grey_prune(st, &lim, t);
			max = n > max ? n : max;
			if (t >= end - 7 * DAY && n > last_week)
				last_week = n;
		}
	}
	grey_stats(st, &gs);
	printf("# month: %lld new attempts; at most %zu triplets after a "
	    "prune (%zu in the last week); at the end %zu triplets, %zu "
	    "networks, %zu AWL, %zu ABL\n", (long long)(30 * DAY / rate), max,
	    last_week, gs.triplets, gs.networks, gs.awl, gs.abl);
	T_OK(max <= 8 * 720, "month: bounded by 8 days of arrivals");
	T_OK(gs.awl > 0 && gs.abl > 0, "month: good networks whitelisted, "
	    "the others blacklisted");
}

static void
test_memory(void)
{
	struct mallinfo2 a, b;
	char from[64], to[64], ip[24];
	int i, n = 100000;

	fresh("");
	a = mallinfo2();
	for (i = 0; i < n; i++) {
		snprintf(from, sizeof(from), "sender%06d@example.com", i);
		snprintf(to, sizeof(to), "rcpt%04d@example.net", i % 5000);
		snprintf(ip, sizeof(ip), "10.0.%d.1", i / 1000);
		ask(ip, from, to, T0 + i, true, NULL);
		if (i % 1000 == 0)
			grey_changes(st, 0, NULL, NULL);
	}
	grey_changes(st, 0, NULL, NULL);
	b = mallinfo2();
	printf("# memory: %zu bytes a triplet (addresses of 22 and 20 "
	    "bytes, bucket array included; 0: not measured under ASan)\n",
	    (b.uordblks - a.uordblks) / (size_t)n);
#if !defined(__SANITIZE_ADDRESS__)
	T_OK((b.uordblks - a.uordblks) / (size_t)n < 200,
	    "memory: under 200 bytes a triplet");
#endif
}

int
main(void)
{
	test_caps();
	test_rows_prune_load();
	test_month();
	test_memory();
	grey_state_free(&st);
	grey_settings_free(&blk);
	return t_done();
}
