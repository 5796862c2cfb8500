/*
 * delivery internals, shared by delivery.c (schedule, sessions,
 * shutdown), delivery_route.c (next hops) and delivery_outcome.c
 * (recording what happened).
 */
#ifndef SLUICE_DELIVERY_PRIV_H
#define SLUICE_DELIVERY_PRIV_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stdint.h>

#include "delivery.h"
#include "dns.h"
#include "mta.h"
#include "sched.h"

#define DL_CAND_MAX	10	/* addresses tried per delivery */
#define DL_IDLE_SECS	2	/* a session kept for reuse (Postfix's
				   smtp_connection_cache_time_limit) */
#define DL_DNS_SECS	30	/* one DNS request, all look-ups */

/* One address to try: an MX host's, a relayhost's. */
struct dl_cand {
	char			 host[DNS_NAME_SIZE];
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
};

/* The result of resolving one next hop (or the recipient domain). */
struct dl;

struct dl_hop {
	struct dl		*dl;
	uint16_t		 port;
	struct dl_cand		*cand;
	size_t			 ncand;
	enum dns_status		 status;
	char			 dsn[8];
	char			 text[DNS_TEXT_SIZE];
	struct dns_req		*req;
	bool			 answered;
};

/* An SMTP session to a next hop, in use by one delivery or idle.  Its
 * settings (HELO name, TLS, AUTH, timeouts) are mta's copies of those of
 * the configuration it was set up under. */
struct dl_conn {
	struct delivery		*d;
	struct mta_session	*s;
	char			*dest;		/* the schedule's destination */
	char			*host;		/* next hop name, for the DSN */
	struct dl		*dl;		/* NULL: idle (or not yet used) */
	bool			 ready;
	bool			 stale;		/* set up before a reload:
						   closed after its
						   transaction */
	TAILQ_ENTRY(dl_conn)	 link;
};

/* The resolver, shared by the deliveries that use it: a reload starts a
 * new one (its resolver setting may have changed) while the deliveries
 * waiting for answers from the old one keep it until they end. */
struct dl_resolver {
	struct dns		*dns;
	unsigned		 refs;
};

/*
 * One delivery: some recipients of one message to one destination.  It
 * stays on the active list until its outcome is committed, so that a
 * resync never schedules a recipient whose outcome is still on its way
 * to the disk.  It holds a reference on the configuration it started
 * under (via, the HELO name, retry and the rest come from it to the
 * end, whatever a reload does meanwhile) and on its resolver.
 */
struct dl {
	struct delivery		*d;
	struct conf		*conf;
	struct dl_resolver	*res;
	char			 id[QUEUE_ID_SIZE];
	struct sched_delivery	*sd;		/* NULL once its outcome is on
						   its way to the disk */
	struct queue_delivery	*msg;
	const struct conf_nexthops *via;
	char			*dest;
	char			*domain;	/* of the recipients */
	int			*rcpt;		/* message recipient indices */
	struct mta_rcpt		*mr;
	size_t			 n;
	struct mta_tx		 tx;
	struct dl_hop		*hop;
	size_t			 nhop, nhop_wait;
	struct dl_cand		*cand;
	size_t			 ncand, next;
	struct mta_result	 fail;		/* why the last try failed */
	char			*fail_host;
	struct dl_conn		*conn;
	bool			 resync;	/* changed by an admin meanwhile */
	bool			 expiry;	/* its recipients gave up waiting
						   for a quota (max-defer) */
	TAILQ_ENTRY(dl)		 link;
};

/* A destination none of whose addresses could be reached: until `until`
 * its deliveries are deferred without a connection attempt (Postfix's
 * dead destination), so that a next hop that is down costs one attempt
 * per retry interval, not one per message. */
struct dl_dead {
	char			*dest;
	int64_t			 until;
	struct mta_result	 why;
	TAILQ_ENTRY(dl_dead)	 link;
};

TAILQ_HEAD(dl_list, dl);
TAILQ_HEAD(dl_dead_list, dl_dead);
TAILQ_HEAD(dl_conn_list, dl_conn);

struct delivery_counts {
	uint64_t	sent, deferred, bounced, dsns, dropped;
	uint64_t	connections;
};

struct delivery {
	struct delivery_deps	 deps;
	struct sched		*sched;
	struct dl_resolver	*res;		/* for new deliveries */
	struct event		*ev_pump;
	struct event		*ev_grace;
	struct dl_list		 active;
	struct dl_conn_list	 conns;
	struct dl_dead_list	 dead;
	unsigned		 nconn;
	unsigned		 jobs;		/* outcome jobs not committed */
	bool			 stopping;
	void			(*done)(void *);
	void			*done_arg;
	char			 destbuf[DNS_NAME_SIZE + 16];
	struct delivery_counts	 counts;
};

/* delivery.c */
/* Tries the next candidate address, or records dl->fail for every
 * recipient when none is left. */
void	dl_try_next(struct dl *);
/* The delivery's slot in the schedule is free again (its outcome is on
 * its way to the disk). */
void	dl_release(struct dl *);
/* Leaves the active list and frees (dropping a session it still uses). */
void	dl_free(struct dl **);
void	delivery_kick(struct delivery *);
/* The time of day in microseconds. */
int64_t	dl_now_usec(void);
void	delivery_check_done(struct delivery *);

/* delivery_route.c: fills dl->cand, then calls dl_try_next(); on a
 * resolution failure records it in dl->fail and calls dl_try_next() with
 * no candidate. */
void	dl_resolve(struct dl *);
void	dl_hops_free(struct dl *);

/* delivery_outcome.c: res[i] is recipient dl->rcpt[i]'s outcome; relay
 * (or NULL) and host name what the logs and the DSN name. */
/* The recipients of dl waited for their quota past max-defer: they
 * bounce (5.4.7, naming the quota) and give their reservations back. */
void	dl_expire(struct dl *, int64_t now);
/* When the schedule should look at a recipient: its due time, or, for a
 * deferred one, when it gives up waiting if that is sooner. */
int64_t	dl_sched_due(enum queue_state, int64_t due, int64_t expire);
void	dl_outcome(struct dl *, const struct mta_result *res,
	    const char *relay, const char *host);
/* The same outcome for every recipient of the delivery. */
void	dl_outcome_all(struct dl *, const struct mta_result *,
	    const char *relay, const char *host);

#endif
