/*
 * test_quota_notify: the notify thresholds a decision reaches
 * (policy/quota_notify.c), driven by `now`: once per quota, key, window
 * and threshold; the highest one when a message reaches several;
 * deferred mail counted; a new window announces again; undo; a restart
 * from the stored rows; sliding decay re-arming; overrides; explain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "policy/quota.h"
#include "t.h"
#include "tpol.h"

#define T0	3600000		/* a window start for 1h, 30s, 100s */

static void
notify_at(struct pol_quota *q, const unsigned *pct, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		q->notify_pct[i] = pct[i];
	q->nnotify = n;
}

/* The notices of one committed message from sender to rcpts, as
 * "T:used+deferred/limit" joined by spaces ("" for none). */
static const char *
notices(const char *sender, const char *rcpts, int64_t now)
{
	static char out[512];
	struct pol_decision d;
	size_t i, len = 0;

	msg_send(sender, rcpts, 100, now, true, &d);
	out[0] = '\0';
	for (i = 0; i < d.nnotice; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len,
		    "%s%u:%g+%g/%llu", i ? " " : "", d.notice[i].threshold,
		    d.notice[i].used, d.notice[i].deferred,
		    (unsigned long long)d.notice[i].limit);
	pol_decision_clear(&d);
	return out;
}

static void
test_once_per_window(void)
{
	static const unsigned pct[] = { 50, 100 };
	struct pol_decision d;
	struct pol_quota *q;
	char name[64];
	int i;

	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 10, POL_V_DEFER);
	notify_at(q, pct, 2);
	resolve();
	for (i = 1; i <= 4; i++) {
		snprintf(name, sizeof(name), "message %d: none", i);
		T_EQ_STR(notices("a@x", "r@y", T0 + i), "", name);
	}
	T_EQ_STR(notices("a@x", "r@y", T0 + 5), "50:5+0/10", "fifth: 50 %");
	for (i = 6; i <= 9; i++) {
		snprintf(name, sizeof(name), "message %d: none", i);
		T_EQ_STR(notices("a@x", "r@y", T0 + i), "", name);
	}
	T_EQ_STR(notices("a@x", "r@y", T0 + 10), "100:10+0/10",
	    "tenth: 100 %");
	T_EQ_STR(notices("a@x", "r@y", T0 + 11), "", "eleventh (deferred): "
	    "100 % was announced in this window");
	T_EQ_STR(notices("b@x", "r@y", T0 + 12), "", "another key: its own");

	/* the details of the 100 % notice with mail deferred */
	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "1h", POL_UNIT_RECIPIENTS, 10, POL_V_DEFER);
	notify_at(q, pct, 2);
	resolve();
	T_EQ_STR(notices("a@x", "r1@y r2@y r3@y", T0 + 1), "", "3 of 10");
	msg_many("a@x", 20, 100, T0 + 2, true, false, &d);
	T_EQ_INT(d.nnotice, 1, "reaching 50 and 100 at once: one notice");
	if (d.nnotice == 1) {
		T_EQ_INT(d.notice[0].threshold, 100, "the highest");
		T_EQ_INT(d.notice[0].used, 10, "used in the window");
		T_EQ_INT(d.notice[0].deferred, 13, "deferred: 13");
		T_EQ_INT(d.notice[0].limit, 10, "limit");
		T_EQ_INT(d.notice[0].unit, POL_UNIT_RECIPIENTS, "unit");
		T_EQ_INT(d.notice[0].start, T0, "window start");
		T_EQ_INT(d.notice[0].end, T0 + 3600, "window end");
		T_EQ_INT(d.notice[0].next_release, T0 + 3600,
		    "next release: the next window");
		T_OK(d.notice[0].quota == q, "quota");
		T_EQ_STR(d.notice[0].key, "a@x", "key");
	}
	pol_decision_clear(&d);

	/* the next window starts with 10 reserved (the deferred mail):
	 * the first message there reaches 100 % of it at once */
	T_EQ_STR(notices("a@x", "r@y", T0 + 3600), "100:10+4/10",
	    "next window: announced again");
	T_EQ_STR(notices("a@x", "r@y", T0 + 3601), "", "and only once");
}

static void
test_deferred_counts(void)
{
	static const unsigned pct[] = { 100 };
	struct pol_quota *q;

	/* 500 messages queued against 100: 100 % at the 100th, once */
	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "30s", POL_UNIT_MESSAGES, 2, POL_V_DEFER);
	notify_at(q, pct, 1);
	resolve();
	T_EQ_STR(notices("a@x", "r@y", T0), "", "1 of 2");
	T_EQ_STR(notices("a@x", "r@y", T0), "100:2+0/2", "2 of 2");
	T_EQ_STR(notices("a@x", "r@y", T0), "", "deferred: no more");

	/* use counts what later windows hold: the window is empty for
	 * this key (an earlier window's backlog fills the next ones) */
	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "30s", POL_UNIT_RECIPIENTS, 4, POL_V_DEFER);
	notify_at(q, pct, 1);
	resolve();
	T_EQ_STR(notices("a@x", "r1@y r2@y r3@y r4@y r5@y r6@y r7@y r8@y",
	    T0), "100:4+4/4", "8 recipients against 4: 100 % now");
}

static void
test_undo_and_restart(void)
{
	static const unsigned pct[] = { 50, 100 };
	struct pol_decision d;
	struct pol_counter_row *rows;
	struct pol_quota *q;
	size_t i, n;

	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 4, POL_V_DEFER);
	notify_at(q, pct, 2);
	resolve();
	T_EQ_STR(notices("a@x", "r@y", T0), "", "1 of 4");
	msg_send("a@x", "r@y", 100, T0 + 1, true, &d);
	T_EQ_INT(d.nnotice, 1, "2 of 4: 50 %");
	pol_decision_undo(ctr, &d);
	pol_decision_clear(&d);
	T_EQ_STR(notices("a@x", "r@y", T0 + 2), "50:2+0/4",
	    "the store failed: announced by the next one");

	/* the rows carry what was announced: a restart keeps it */
	msg_send("a@x", "r@y", 100, T0 + 3, true, &d);
	T_EQ_INT(d.nnotice, 0, "3 of 4");
	n = d.nrow;
	rows = xcalloc(n + 1, sizeof(*rows));
	for (i = 0; i < n; i++) {
		rows[i] = d.rows[i];
		rows[i].quota = xstrdup(d.rows[i].quota);
		rows[i].key = xstrdup(d.rows[i].key);
	}
	T_EQ_INT(n, 1, "one row");
	T_EQ_INT(n ? rows[0].notified : 0, 50, "it says 50 %");
	pol_decision_clear(&d);
	pol_counters_free(&ctr);
	ctr = pol_counters_new();
	for (i = 0; i < n; i++)
		pol_counters_load(ctr, &rows[i]);
	pol_rows_free(rows, n);
	T_EQ_STR(notices("a@x", "r@y", T0 + 4), "100:4+0/4",
	    "after the restart: 100 % only");
	T_EQ_STR(notices("a@x", "r@y", T0 + 5), "", "then nothing");
}

static void
test_sliding_and_overrides(void)
{
	static const unsigned pct[] = { 50 };
	struct pol_decision d;
	struct pol_quota *q;

	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "100s", POL_UNIT_RECIPIENTS, 10, POL_V_DEFER);
	q->window = POL_WIN_SLIDING;
	notify_at(q, pct, 1);
	resolve();
	T_EQ_STR(notices("a@x", "r1@y r2@y r3@y r4@y", T0), "", "4 of 10");
	T_EQ_STR(notices("a@x", "r@y", T0), "50:5+0/10", "5 of 10");
	T_EQ_STR(notices("a@x", "r@y", T0 + 1), "", "still above");
	/* 6 decays to 3 after 50 s: below 50 %, then up again */
	T_EQ_STR(notices("a@x", "r@y", T0 + 50), "", "decayed: 4 of 10");
	T_EQ_STR(notices("a@x", "r@y", T0 + 50), "50:5.0345+0/10",
	    "above again (decayed figures): announced again");

	fresh();
	q = quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "1h", POL_UNIT_RECIPIENTS, 10, POL_V_DEFER);
	notify_at(q, pct, 1);
	resolve();
	pol_counters_override(ctr, "vip@x", POL_OVR_EXEMPT, 0);
	pol_counters_override(ctr, "small@x", POL_OVR_LIMIT, 2);
	T_EQ_STR(notices("vip@x", "r1@y r2@y r3@y r4@y r5@y r6@y", T0), "",
	    "exempt: never");
	T_EQ_STR(notices("small@x", "r@y", T0), "50:1+0/2",
	    "an override's limit is the one");

	/* explain changes nothing and announces nothing */
	msg_send("a@x", "r1@y r2@y r3@y r4@y r5@y r6@y", 100, T0, false, &d);
	T_EQ_INT(d.nnotice, 0, "explain: no notice");
	pol_decision_clear(&d);
	T_EQ_STR(notices("a@x", "r1@y r2@y r3@y r4@y r5@y r6@y", T0),
	    "50:6+0/10", "the commit then does");
}

static void
test_no_notify(void)
{
	fresh();
	quota(policy("out", 10, POL_SENDER, "@x"), "per-user",
	    "Sender:user@domain", "1h", POL_UNIT_MESSAGES, 1, POL_V_DEFER);
	resolve();
	T_EQ_STR(notices("a@x", "r@y", T0), "", "no notify: no notice");
	T_EQ_STR(notices("a@x", "r@y", T0), "", "even deferred");
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	T_OK(addr_parse("192.0.2.77", &client4) == 0, "client");
	test_once_per_window();
	test_deferred_counts();
	test_undo_and_restart();
	test_sliding_and_overrides();
	test_no_notify();
	pol_set_free(&set);
	pol_counters_free(&ctr);
	return t_done();
}
