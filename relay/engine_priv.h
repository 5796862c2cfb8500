/*
 * engine_priv: what the engine's files share.  engine.c has the core
 * (policies, access, quotas, the prune timer); engine_rcpt.c the RCPT
 * filters (HELO, SPF, greylisting) and engine_state.c their durable
 * state; engine_acct.c the accountings at end of DATA.
 */
#ifndef SLUICE_ENGINE_PRIV_H
#define SLUICE_ENGINE_PRIV_H

#include "engine.h"

#define ENGINE_PRUNE_SECS	60

struct engine_filters;		/* engine_rcpt.c, engine_state.c */
struct engine_acct;		/* engine_acct.c */

struct engine {
	struct event_base	*base;
	const struct conf	*conf;
	struct queue_writer	*writer;
	struct pol_counters	*ctr;
	struct event		*prune;
	struct engine_filters	*filt;
	struct engine_acct	*acct;
};

/* engine_state.c: greylisting's and HELO tracking's state, loaded from q
 * (0, or -1 with *errstr), written behind, pruned by engine_prune. */
int	engine_filters_new(struct engine *, struct queue *,
	    const char **errstr);
void	engine_filters_free(struct engine *);
/* A reload: e->conf is the new one. */
void	engine_filters_reconf(struct engine *);
/* The clean-up, every ENGINE_PRUNE_SECS. */
void	engine_filters_prune(struct engine *, int64_t now);

/* engine_acct.c: the accountings' counters, loaded from q. */
int	engine_acct_new(struct engine *, struct queue *, const char **errstr);
void	engine_acct_free(struct engine *);
void	engine_acct_reconf(struct engine *);
void	engine_acct_prune(struct engine *, int64_t now);

#endif
