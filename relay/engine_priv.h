/*
 * engine_priv: what the engine's files share.  engine.c has the core
 * (policies, access, quotas, the prune timer); engine_rcpt.c the RCPT
 * filters (HELO, SPF, greylisting) and engine_state.c their durable
 * state; engine_acct.c the accountings at end of DATA.
 */
#ifndef SLUICE_ENGINE_PRIV_H
#define SLUICE_ENGINE_PRIV_H

#include "../policy/greylist.h"
#include "../policy/helo.h"
#include "dns.h"
#include "engine.h"
#include "spf.h"

#define ENGINE_PRUNE_SECS	60
#define ENGINE_DNS_SECS		10	/* a HELO's look-up, at most */
#define ENGINE_FLUSH_ROWS	10000	/* greylisting records per write */

struct engine_acct;		/* engine_acct.c */

/* The resolvers of the RCPT checks (HELO look-ups, SPF), made when first
 * needed; a reload that changes `resolver` makes new ones, and a check
 * in flight keeps the ones it started on (refs). */
struct engine_res {
	struct dns		*dns;
	struct spf		*spf;
	char			*resolver;	/* as written, or NULL */
	uint64_t		 spf_timeout;
	unsigned		 refs;
};

/* What the RCPT checks keep between messages (engine_rcpt.c decides,
 * engine_state.c stores and prunes). */
struct engine_filters {
	struct grey_state	*grey;
	struct helo_state	*helo;
	struct engine_res	*res;		/* or NULL */
	bool			 any;		/* some policy has a block */
	struct grey_limits	 glim;		/* over every policy */
	struct helo_limits	 hlim;
	struct event		*flush;		/* write-behind */
	bool			 writing;	/* a job in the writer */
	bool			 again;		/* changed while it was */
	size_t			 in_writer;	/* rows of that job */
	bool			 stopped;	/* the writer is going */
	uint64_t		 helo_refused, spf_checks, spf_refused;
	uint64_t		 grey_deferred, grey_rejected, grey_passed;
	uint64_t		 write_failures;
};

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
/* The state changed: write it behind, soon. */
void	engine_filters_changed(struct engine *);
/* Shutting down: everything changed goes to the writer now. */
void	engine_filters_stop(struct engine *);

/* engine.c: the policies rcpt matches, in ascending priority, into
 * *pols (malloc'd, NULL when none: free it); how many. */
size_t	engine_match_policies(const struct engine *,
	    const struct engine_ident *, const char *rcpt,
	    const struct pol_policy ***pols);
/* Access control among them, logged as engine_rcpt says. */
enum pol_verdict engine_access(const struct engine_ident *, const char *rcpt,
	    const char *qid, const struct pol_policy *const *pols, size_t n,
	    char *reply, size_t replysz);

/* engine_rcpt.c: the matched policies' HELO, SPF and greylisting
 * settings, merged (helo and grey borrow the blocks; grey borrows gv). */
struct engine_merged {
	struct helo_settings	 helo;
	struct spf_eff		 spf;
	struct grey_eff		 grey;
	const struct grey_settings **gv;
};
void	engine_merge(const struct pol_policy *const *pols, size_t n,
	    struct engine_merged *);
void	engine_merged_clear(struct engine_merged *);
/* A refusal by module into out. */
void	engine_refuse(struct engine_rcpt_out *, bool temp, const char *module,
	    const char *reply);

/* engine_rcpt.c: the resolvers, made or replaced as e->conf says (NULL
 * with *errstr when they cannot be made); unref drops one reference. */
struct engine_res *engine_res_get(struct engine *, const char **errstr);
void	engine_res_unref(struct engine_res **);

/* engine_acct.c: the accountings' counters, loaded from q. */
int	engine_acct_new(struct engine *, struct queue *, const char **errstr);
void	engine_acct_free(struct engine *);
void	engine_acct_reconf(struct engine *);
void	engine_acct_prune(struct engine *, int64_t now);

#endif
