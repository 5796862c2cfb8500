/*
 * delivery: sends the queue on.  It ties the schedule (sched), the store
 * (queue), the resolver (dns), the SMTP client (mta) and the bounce
 * builder (dsn) together on the daemon's event loop:
 *
 * - at start-up every pending recipient is loaded into the schedule;
 *   every message committed later is added by delivery_queued();
 * - due recipients of one message with the same next hop go out in one
 *   transaction, within the `delivery { }` limits; a session to a next
 *   hop is kept open a short while and reused by the next delivery to it;
 * - each recipient's outcome is recorded by the writer thread: done (the
 *   message goes when no recipient is left), retry with backoff, or a
 *   bounce (RFC 3464 DSN queued with the null sender in the same
 *   transaction); one log line per recipient and attempt, Postfix-style.
 *
 * Everything runs on the loop's thread (the writer's callbacks come back
 * through loop_call).
 */
#ifndef SLUICE_DELIVERY_H
#define SLUICE_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "../conf/conf.h"
#include "../lib/buf.h"
#include "../queue/queue.h"

struct delivery;

struct delivery_deps {
	struct event_base	*base;
	struct conf		*conf;		/* delivery takes a reference */
	struct queue		*queue;		/* reader calls */
	struct queue_writer	*writer;	/* changes */
	/* a deferred recipient that gave up waiting (max-defer) hands its
	 * quota reservations back (may be NULL); loop thread */
	void			(*giveback)(void *arg,
				    const struct queue_counter *, size_t);
	void			*giveback_arg;
};

/* Loads the schedule from the queue, preloads the TLS contexts and
 * starts the resolver; deliveries start on the loop's next turn.  0, or
 * -1 with *errstr. */
int	delivery_start(struct delivery **, const struct delivery_deps *,
	    const char **errstr);
/* Loads the CA files of every deliver and route statement (done by
 * delivery_start; `sluiced -n` and `sluicectl check` call it to check
 * them; delivery_tls.c).  0, or -1 with
 * *errstr (OpenSSL's reason) and *line that of the statement. */
int	delivery_preload_tls(const struct conf *, int *line,
	    const char **errstr);
/* A reload, in delivery_reload_tls's wake: *next* is used from now on
 * for new delivery attempts (routes, relayhost, TLS and AUTH settings,
 * timeouts, retry, resolver, the limits).  Attempts under way finish
 * under the configuration they started with (each holds a reference);
 * idle sessions set up under the old one are closed, not reused; the
 * waiting recipients are sorted by their new destinations; suspended
 * destinations are tried again.  Takes a reference on conf. */
void	delivery_set_conf(struct delivery *, struct conf *);
/* A reload: loads next's CA files (the cache starts afresh).  0; or -1
 * with *errstr and *line as delivery_preload_tls, the running
 * configuration's files then being loaded again. */
int	delivery_reload_tls(const struct conf *next, const struct conf *running,
	    int *line, const char **errstr);
/* A message has just been committed: its recipients join the schedule. */
void	delivery_queued(struct delivery *, const struct queue_msg *);
/* The queue changed under the schedule (an administrator's hold, release,
 * flush or delete): the message's recipients are read again and the
 * schedule follows.  Recipients being delivered are left to their
 * delivery. */
void	delivery_sync(struct delivery *, const char *id);
/* Lifts every destination's suspension (a next hop found down is not
 * tried again for retry.initial): an administrator's flush or release
 * means "try now". */
void	delivery_unsuspend(struct delivery *);
/* Stops starting deliveries; those under way may finish for grace
 * seconds, then are dropped (their recipients stay pending in the queue
 * and are retried after a restart).  done(arg) runs once none is left
 * and every outcome has been committed. */
void	delivery_shutdown(struct delivery *, unsigned grace,
	    void (*done)(void *), void *arg);
void	delivery_free(struct delivery **);
/* When a recipient that has just failed for the attempts-th time is
 * tried again: retry.initial after the first failure, doubling up to
 * retry.max, and never later than start (its first attempt) plus
 * retry.lifetime.  Pure; now and start in seconds. */
int64_t	delivery_retry_due(const struct conf_retry *, unsigned attempts,
	    int64_t now, int64_t start);
/* Appends `"delivery":{...},` to a JSON object for /v1/status. */
void	delivery_status_json(struct delivery *, struct buf *);

#endif
