/*
 * queue_writer: the thread that owns the writer connection and commits the
 * jobs of concurrent callers in groups (group commit): one BEGIN IMMEDIATE,
 * each job in its own SAVEPOINT, one COMMIT and so one fsync for all.
 *
 * Invariants:
 * - queue_writer_submit only takes the mutex, appends and signals: the
 *   caller's event loop never waits for the disk.
 * - Each round takes every pending job.  A job that fails is rolled back
 *   to its savepoint alone; the others go on.  done() runs for each job
 *   exactly once, on this thread, after the COMMIT returned (so what it
 *   reports is durable: synchronous=FULL) or after the group failed.
 * - When the group cannot be committed (disk full, I/O error), or SQLite
 *   rolled the whole transaction back under a job, nothing of the group
 *   is kept and every job gets -1 with the reason.
 * - Ownership: the writer owns its jobs from submit to done(); the caller
 *   owns arg.  The queue must outlive the writer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "queue_priv.h"

struct queue_job {
	struct queue_job	*next;
	queue_job_fn		*fn;
	queue_done_fn		*done;
	void			*arg;
	int			 rc;
	char			 err[256];	/* copied: the job's errstr may
						 * point into SQLite */
};

struct queue_writer {
	struct queue		*q;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct queue_job	*head, **tail;	/* pending, in order */
	bool			 stopping;
	uint64_t		 commits;	/* under lock */
	uint64_t		 jobs;		/* under lock */
};

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_release[] = "RELEASE job";
static const char sql_rollback_to[] = "ROLLBACK TO job";

static void
job_fail(struct queue_job *j, const char *why)
{
	j->rc = -1;
	str_copy(j->err, why ? why : "job failed", sizeof(j->err));
}

/* Every job from j on fails with why. */
static void
group_fail(struct queue_job *j, const char *why)
{
	char copy[sizeof(j->err)];

	str_copy(copy, why, sizeof(copy));	/* why may be queue_errf's */
	for (; j != NULL; j = j->next)
		job_fail(j, copy);
}

/*
 * Runs one job in its savepoint.  0 when the group may go on (the job
 * succeeded or was undone alone), -1 when the group transaction is lost.
 */
static int
run_job(struct queue_writer *w, struct queue_txn *txn, struct queue_job *j)
{
	struct queue_db *d = &w->q->w;
	const char *err = NULL;

	if (queue_db_exec(d, sql_savepoint, &err) == -1) {
		job_fail(j, err);
		return sqlite3_get_autocommit(d->db) ? -1 : 0;
	}
	j->rc = j->fn(txn, j->arg, &err);
	if (j->rc >= 0) {
		if (queue_db_exec(d, sql_release, &err) == 0)
			return 0;
		job_fail(j, err);
	} else
		job_fail(j, err);
	/* SQLite may have rolled back more than the statement (SQLITE_FULL,
	 * SQLITE_IOERR, SQLITE_NOMEM): then the whole group is gone. */
	if (sqlite3_get_autocommit(d->db))
		return -1;
	if (queue_db_exec(d, sql_rollback_to, &err) == -1 ||
	    queue_db_exec(d, sql_release, &err) == -1)
		return -1;
	return 0;
}

static void
run_group(struct queue_writer *w, struct queue_job *jobs, uint64_t n)
{
	struct queue_txn txn = { w->q };
	struct queue_db *d = &w->q->w;
	struct queue_job *j;
	const char *err = NULL;

	if (queue_db_exec(d, sql_begin, &err) == -1) {
		group_fail(jobs, err);
		return;
	}
	for (j = jobs; j != NULL; j = j->next)
		if (run_job(w, &txn, j) == -1) {
			/* j has its own reason; the others the group's. */
			char why[sizeof(j->err) + 48];

			snprintf(why, sizeof(why), "queue: group transaction "
			    "rolled back: %s", j->err);
			if (!sqlite3_get_autocommit(d->db))
				queue_db_exec(d, sql_rollback, &err);
			group_fail(j->next, why);
			for (; jobs != j; jobs = jobs->next)
				job_fail(jobs, why);
			return;
		}
	if (queue_db_exec(d, sql_commit, &err) == -1) {
		group_fail(jobs, queue_errf("queue: commit failed: %s",
		    sqlite3_errmsg(d->db)));
		if (!sqlite3_get_autocommit(d->db))
			queue_db_exec(d, sql_rollback, &err);
		return;
	}
	pthread_mutex_lock(&w->lock);
	w->commits++;
	w->jobs += n;
	pthread_mutex_unlock(&w->lock);
}

static void *
writer_main(void *arg)
{
	struct queue_writer *w = arg;
	struct queue_job *jobs, *j;
	uint64_t n;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		jobs = w->head;
		w->head = NULL;
		w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);
		if (jobs == NULL)
			break;		/* stopping, and nothing left */
		for (n = 0, j = jobs; j != NULL; j = j->next)
			n++;
		run_group(w, jobs, n);
		while ((j = jobs) != NULL) {
			jobs = j->next;
			if (j->done != NULL)
				j->done(j->arg, j->rc, j->rc < 0 ? j->err :
				    NULL);
			free(j);
		}
	}
	return NULL;
}

int
queue_writer_start(struct queue_writer **wp, struct queue *q,
    const char **errstr)
{
	struct queue_writer *w;
	int rc;

	*wp = NULL;
	if (q->writer_on) {
		*errstr = "queue: a writer is already running";
		return -1;
	}
	w = xcalloc(1, sizeof(*w));
	w->q = q;
	w->tail = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	q->writer_on = true;
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		*errstr = queue_errf("queue: writer thread: %s",
		    strerror(rc));
		q->writer_on = false;
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	*wp = w;
	return 0;
}

void
queue_writer_submit(struct queue_writer *w, queue_job_fn *fn,
    queue_done_fn *done, void *arg)
{
	struct queue_job *j;

	j = xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
queue_writer_stop(struct queue_writer **wp)
{
	struct queue_writer *w = *wp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->q->writer_on = false;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	*wp = NULL;
}

void
queue_writer_counts(struct queue_writer *w, uint64_t *commits,
    uint64_t *jobs)
{
	pthread_mutex_lock(&w->lock);
	*commits = w->commits;
	*jobs = w->jobs;
	pthread_mutex_unlock(&w->lock);
}
