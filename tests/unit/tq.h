/*
 * tq.h: a fresh queue with its writer running, for the unit tests of
 * queue/ (test_queue_delivery, test_queue_quota, test_queue_defer); a job
 * run through the writer and waited for; text that collects what a test
 * compares.  Include after t.h.
 */
#ifndef SLUICE_TQ_H
#define SLUICE_TQ_H

#include <semaphore.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
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

/* Runs stmts on a connection of its own to dir's database (the queue
 * closed, or its writer idle): 0, or -1. */
static inline int
tq_sql(const char *dir, const char *stmts)
{
	char path[300];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/queue.db", dir);
	rc = sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, stmts, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	sqlite3_close(db);
	return rc;
}

/* A job in flight, for tq_run. */
struct tq_wait {
	queue_job_fn	*fn;
	void		*arg;
	sem_t		 done;
	int		 rc;
	char		*err;
	size_t		 errsz;
};

static inline int
tq_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct tq_wait *w = arg;

	return w->fn(txn, w->arg, errstr);
}

static inline void
tq_done(void *arg, int rc, const char *errstr)
{
	struct tq_wait *w = arg;

	w->rc = rc;
	snprintf(w->err, w->errsz, "%s", errstr ? errstr : "");
	sem_post(&w->done);
}

/* Runs fn(txn, arg) as one job of t's writer and waits for its commit:
 * the job's result, and in err (errsz bytes) its message, "" when none. */
static inline int
tq_run(struct tq *t, queue_job_fn *fn, void *arg, char *err, size_t errsz)
{
	struct tq_wait w = { .fn = fn, .arg = arg, .err = err,
	    .errsz = errsz };

	sem_init(&w.done, 0, 0);
	queue_writer_submit(t->w, tq_job, tq_done, &w);
	while (sem_wait(&w.done) == -1)
		;	/* EINTR */
	sem_destroy(&w.done);
	return w.rc;
}

/* What a test compares: items joined by spaces (past its size, the rest
 * is left out, and the comparison fails). */
struct tq_text {
	char	s[2048];
	size_t	len;
};

static inline void
tq_text_add(struct tq_text *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 2 >= sizeof(t->s))
		return;
	if (t->len > 0)
		t->s[t->len++] = ' ';
	memcpy(t->s + t->len, s, n + 1);
	t->len += n;
}

#endif
