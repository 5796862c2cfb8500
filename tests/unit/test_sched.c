/*
 * test_sched: the delivery schedule: due order, grouping of a message's
 * recipients per destination, the connection limits, removal and
 * rescheduling, and a random run where every recipient leaves once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/sched.h"
#include "t.h"

/* The destination is the domain. */
static const char *
dest_of(const char *addr, void *arg)
{
	const char *at = strrchr(addr, '@');

	(void)arg;
	return at ? at + 1 : addr;
}

static struct sched *
new_sched(unsigned conns, unsigned per_dest)
{
	struct sched_limits lim = { conns, per_dest };

	return sched_new(&lim, dest_of, NULL);
}

/* "ID/dest:r,r" of a delivery, or "-" for none. */
static const char *
show(struct sched_delivery *dl)
{
	static char out[128];
	size_t i, n;

	if (dl == NULL)
		return "-";
	n = (size_t)snprintf(out, sizeof(out), "%s/%s:", dl->id, dl->dest);
	for (i = 0; i < dl->nrcpt && n < sizeof(out); i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%d",
		    i ? "," : "", dl->rcpts[i]);
	return out;
}

static void
test_grouping_and_order(void)
{
	struct sched *s = new_sched(10, 10);
	struct sched_delivery *a, *b, *c;

	sched_add(s, "AAAA", 0, "u@x.test", 10);
	sched_add(s, "AAAA", 1, "v@y.test", 10);
	sched_add(s, "AAAA", 2, "w@x.test", 10);
	sched_add(s, "BBBB", 0, "u@x.test", 3);
	T_EQ_INT(sched_waiting(s), 4, "four waiting");
	T_EQ_INT(sched_next_due(s), 3, "next due is the earliest");
	a = sched_next(s, 2);
	T_EQ_STR(show(a), "-", "nothing due before 3");
	a = sched_next(s, 10);
	T_EQ_STR(show(a), "BBBB/x.test:0", "earliest first");
	b = sched_next(s, 10);
	T_EQ_STR(show(b), "AAAA/x.test:0,2", "one message, one destination");
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "AAAA/y.test:1", "the other destination apart");
	T_EQ_INT(sched_active(s), 3, "three under way");
	T_EQ_INT(sched_waiting(s), 0, "none waiting");
	T_EQ_INT(sched_next_due(s), INT64_MAX, "nothing more due");
	sched_finish(s, &a);
	sched_finish(s, &b);
	sched_finish(s, &c);
	T_OK(a == NULL, "finish clears the pointer");
	T_EQ_INT(sched_active(s), 0, "none under way");
	sched_free(&s);
}

static void
test_not_yet_due_stays(void)
{
	struct sched *s = new_sched(10, 10);
	struct sched_delivery *a;

	sched_add(s, "AAAA", 0, "u@x.test", 5);
	sched_add(s, "AAAA", 1, "v@x.test", 50);	/* a retry, later */
	a = sched_next(s, 5);
	T_EQ_STR(show(a), "AAAA/x.test:0", "only the due recipient goes");
	T_EQ_INT(sched_next_due(s), 50, "the other stays for its time");
	sched_finish(s, &a);
	sched_free(&s);
}

static void
test_limits(void)
{
	struct sched *s = new_sched(2, 1);
	struct sched_delivery *a, *b, *c;

	sched_add(s, "M1", 0, "a@x.test", 1);
	sched_add(s, "M2", 0, "b@x.test", 2);
	sched_add(s, "M3", 0, "c@y.test", 3);
	sched_add(s, "M4", 0, "d@z.test", 4);
	a = sched_next(s, 10);
	T_EQ_STR(show(a), "M1/x.test:0", "first to x");
	b = sched_next(s, 10);
	T_EQ_STR(show(b), "M3/y.test:0", "x busy: M2 waits, y goes");
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "-", "two connections in all");
	sched_finish(s, &b);
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "M4/z.test:0", "a free slot, x still busy");
	sched_finish(s, &c);
	T_EQ_INT(sched_next_due(s), INT64_MAX, "x's line waits for x");
	sched_finish(s, &a);
	T_EQ_INT(sched_next_due(s), INT64_MIN, "x free: its line may start");
	c = sched_next(s, 10);
	T_EQ_STR(show(c), "M2/x.test:0", "the waiting one goes");
	sched_finish(s, &c);
	sched_free(&s);
}

static void
test_remove_and_reschedule(void)
{
	struct sched *s = new_sched(1, 1);
	struct sched_delivery *a, *b;

	sched_add(s, "AAAA", 0, "u@x.test", 1);
	sched_add(s, "AAAA", 1, "v@x.test", 1);
	sched_add(s, "BBBB", 0, "u@x.test", 1);
	sched_remove(s, "AAAA", 1);
	T_EQ_INT(sched_waiting(s), 2, "one recipient removed");
	sched_add(s, "AAAA", 0, "u@x.test", 100);	/* moved later */
	a = sched_next(s, 10);
	T_EQ_STR(show(a), "BBBB/x.test:0", "rescheduled one waits");
	b = sched_next(s, 10);
	T_EQ_STR(show(b), "-", "the connection limit holds");
	sched_remove(s, "AAAA", -1);
	T_EQ_INT(sched_waiting(s), 0, "whole message removed");
	sched_remove(s, "NONE", -1);
	sched_finish(s, &a);
	sched_free(&s);
}

static void
test_random_all_leave_once(void)
{
	enum { NMSG = 500, NR = 4 };
	static int seen[NMSG][NR];
	struct sched_delivery *held[8];
	struct sched *s = new_sched(8, 3);
	int64_t now = 0;
	int i, j, nheld = 0, bad = 0, total = 0;
	char id[QUEUE_ID_SIZE], addr[64];

	srand(7);
	for (i = 0; i < NMSG; i++) {
		snprintf(id, sizeof(id), "M%05d", i);
		for (j = 0; j < NR; j++) {
			snprintf(addr, sizeof(addr), "r%d@d%d.test", j, rand() % 5);
			sched_add(s, id, j, addr, rand() % 100);
		}
	}
	while (sched_waiting(s) > 0 || nheld > 0) {
		struct sched_delivery *dl = sched_next(s, now);

		if (dl == NULL || nheld == 8) {
			if (dl != NULL)
				bad++;
			if (nheld > 0)
				sched_finish(s, &held[--nheld]);
			else
				now++;
			continue;
		}
		for (i = 0, j = 0; i < nheld; i++)
			if (strcmp(held[i]->dest, dl->dest) == 0)
				j++;
		if (j >= 3)
			bad++;		/* per-destination limit broken */
		for (j = 0; j < (int)dl->nrcpt; j++) {
			i = (int)strtol(dl->id + 1, NULL, 10);
			seen[i][dl->rcpts[j]]++;
			total++;
		}
		held[nheld++] = dl;
	}
	for (i = 0; i < NMSG; i++)
		for (j = 0; j < NR; j++)
			if (seen[i][j] != 1)
				bad++;
	T_EQ_INT(bad, 0, "every recipient handed out exactly once, "
	    "within the limits");
	T_EQ_INT(total, NMSG * NR, "all recipients delivered");
	sched_free(&s);
}

int
main(void)
{
	test_grouping_and_order();
	test_not_yet_due_stays();
	test_limits();
	test_remove_and_reschedule();
	test_random_all_leave_once();
	return t_done();
}
