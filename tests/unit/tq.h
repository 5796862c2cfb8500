/*
 * tq.h: a fresh queue with its writer running, for the unit tests of
 * queue/ (test_queue_delivery, test_queue_quota).  Include after t.h.
 */
#ifndef SLUICE_TQ_H
#define SLUICE_TQ_H

#include <stdio.h>
#include <sys/stat.h>

#include "queue/queue.h"

struct tq {
	struct queue		*q;
	struct queue_writer	*w;
	char			 dir[256];
};

/* A queue in base/name, recovered and with its writer started; a
 * failure is a failed check and -1. */
static inline int
tq_open_in(struct tq *t, const char *base, const char *name)
{
	struct queue_stats s;
	const char *err = NULL;

	snprintf(t->dir, sizeof(t->dir), "%s/%s", base, name);
	mkdir(t->dir, 0700);
	t->q = NULL;
	t->w = NULL;
	if (queue_open(&t->q, t->dir, &err) == -1 ||
	    queue_recover(t->q, 0, &s, &err) == -1 ||
	    queue_writer_start(&t->w, t->q, &err) == -1) {
		printf("# %s: %s\n", name, err);
		T_OK(0, "open a fresh queue");
		queue_close(&t->q);
		return -1;
	}
	return 0;
}

static inline void
tq_close(struct tq *t)
{
	queue_writer_stop(&t->w);
	queue_close(&t->q);
}

#endif
