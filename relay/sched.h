/*
 * sched: the delivery schedule.  Every recipient that waits for delivery
 * is in a min-heap by due time; the due ones are handed out grouped, one
 * delivery per message and destination (so they share one SMTP
 * transaction), within the concurrency limits: `connections` deliveries at
 * once, `per_destination` to one destination.  A due recipient whose
 * destination is busy waits in that destination's line, in due order.
 *
 * No I/O and no clock: the caller loads it from the queue at start-up,
 * adds what arrives and what must be retried, takes deliveries with
 * sched_next(now) and gives each back with sched_finish().
 */
#ifndef SLUICE_SCHED_H
#define SLUICE_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "../queue/queue.h"

struct sched;

/* The destination of a recipient address: a stable key such as the
 * lower-cased domain, or "relayhost" when all mail goes to one.  The
 * string is copied. */
typedef const char *sched_dest_fn(const char *addr, void *arg);

struct sched_limits {
	unsigned	connections;		/* deliveries at once */
	unsigned	per_destination;	/* to one destination */
};

/* A delivery handed out by sched_next: recipients of one message to one
 * destination.  Owned by the schedule; valid until sched_finish. */
struct sched_delivery {
	char		  id[QUEUE_ID_SIZE];
	const char	 *dest;
	int		 *rcpts;	/* recipient indices in the message */
	const char	**addrs;
	size_t		  nrcpt;
};

struct sched	*sched_new(const struct sched_limits *, sched_dest_fn *,
		    void *arg);
void		 sched_free(struct sched **);
/* A reload: new limits for the deliveries handed out from now on (those
 * under way finish; none is cut short). */
void		 sched_set_limits(struct sched *, const struct sched_limits *);
/* A reload: the destination function now answers differently (routes,
 * relayhost), so every waiting recipient's destination is asked again;
 * one whose destination changed leaves its old line, keeping its due
 * time.  Deliveries under way keep theirs. */
void		 sched_rekey(struct sched *);
/* Adds a recipient (new, or to be retried) due at `due`.  A recipient
 * already scheduled is moved to the new time. */
void		 sched_add(struct sched *, const char *id, int rcpt,
		    const char *addr, int64_t due);
/* Drops a waiting recipient (rcpt -1: all of the message's); one being
 * delivered is not affected. */
void		 sched_remove(struct sched *, const char *id, int rcpt);
/* Recipients waiting (not being delivered). */
size_t		 sched_waiting(const struct sched *);
/* Deliveries under way. */
unsigned	 sched_active(const struct sched *);
/* When sched_next may next return something: INT64_MIN when a delivery
 * held back by the limits may start now, else the earliest due time, or
 * INT64_MAX when nothing waits.  (A busy destination's line becomes
 * startable when a sched_finish frees a slot.) */
int64_t		 sched_next_due(const struct sched *);
/* The next delivery that may start at now, or NULL. */
struct sched_delivery *sched_next(struct sched *, int64_t now);
/* The delivery is over (whatever its outcome): frees its slot. */
void		 sched_finish(struct sched *, struct sched_delivery **);

#endif
