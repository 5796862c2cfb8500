/*
 * notify: quota alerts (DESIGN.md, "Data flow" step 8; "Contracts":
 * webhook).  A decision's notices (policy/quota.h, struct pol_notice)
 * become, per notifier the quota names, either a row of the outbox table
 * (webhook: the JSON body) or an alert message in the queue (mail), in
 * the job that stores the message that caused them: both are committed
 * with it or not at all.  The webhook rows are then POSTed from the event
 * loop (libcurl multi) and deleted once a 2xx came back; while an
 * endpoint fails they are retried with a growing delay, and dropped with
 * a log line past the notifier's lifetime or on a 4xx other than 408 and
 * 429.  Alert mail is ordinary queued mail from the null sender: it is
 * delivered, retried and bounced like any other, and no policy or quota
 * sees it.  Delivery is at least once: a crash between a 2xx and the
 * row's deletion sends that event again.
 *
 * Loop thread only, but for notify_batch_store (the writer thread).
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include <stdint.h>

#include <event2/event.h>

#include "../conf/conf.h"
#include "../lib/buf.h"
#include "../policy/quota.h"
#include "../queue/queue.h"

struct notify;
struct notify_batch;

/* Alert mail committed to the queue, for the schedule (may be NULL). */
typedef void notify_queued_fn(void *arg, const struct queue_msg *);

/* Loads the outbox (rows of notifiers conf no longer has are deleted,
 * with a log line) and starts sending.  0, or -1 with *errstr. */
int	notify_new(struct notify **, struct event_base *, const struct conf *,
	    struct queue *, struct queue_writer *, const char **errstr);
void	notify_set_queued(struct notify *, notify_queued_fn *, void *arg);
/* A reload: notifiers from conf on (events of removed ones are
 * dropped). */
void	notify_set_conf(struct notify *, const struct conf *);
/* Shutdown, before the writer stops: requests in flight are abandoned
 * (their events stay in the outbox) and nothing new starts. */
void	notify_stop(struct notify *);
void	notify_free(struct notify **);

/* The events of d's notices (NULL when there are none, or n is NULL),
 * for the job that stores the message qid: call notify_batch_store in
 * it, then notify_batch_done with its result. */
struct notify_batch *notify_batch_new(struct notify *,
	    const struct pol_decision *d, const char *qid, int64_t now);
/* Writer thread: the outbox rows and alert messages (NULL: nothing).
 * 0 or -1. */
int	notify_batch_store(struct queue_txn *, struct notify_batch *,
	    const char **errstr);
/* Loop thread, after the job (rc < 0: it failed; nothing happened):
 * logs the events, schedules the alert mail, sends the webhooks; frees
 * the batch and clears the pointer.  Accepts NULL. */
void	notify_batch_done(struct notify *, struct notify_batch **, int rc);

/*
 * sluicectl notify test NAME: a sample event to that notifier now (a
 * webhook is POSTed once, not through the outbox; a mail notifier's alert
 * is queued).  done(arg, code, json) is called once, from the loop, with
 * an HTTP status for the admin API (200; 404 no such notifier) and the
 * JSON reply; json is the callee's.  n NULL: 503 at once.
 */
typedef void notify_test_fn(void *arg, int code, struct buf *json);
void	notify_test(struct notify *, const char *name, notify_test_fn *done,
	    void *arg);
/* Appends "notifiers":[{...},...] (no comma): per notifier its kind,
 * target, outbox depth, sent, retried, dropped and last error. */
void	notify_status_json(struct notify *, struct buf *);

#endif
