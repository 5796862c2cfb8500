/*
 * quota_priv.h: what counter.c (the counters' store) and quota_eval.c (the
 * decision) share; accounting_eval.c also uses the store (for counters of
 * its own) and pol_track_key().  Not for use outside policy/.
 */
#ifndef SLUICE_QUOTA_PRIV_H
#define SLUICE_QUOTA_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"

/* One window of a key: fixed, its start; sliding, the last update. */
struct pol_cwin {
	int64_t		 start;
	double		 used[POL_NUNIT];
	unsigned	 notified;	/* pol_counter_row's */
};

/* Chained hash entries start with this. */
struct pol_clink {
	struct pol_clink	*next;
	uint64_t		 hash;
};

struct pol_chash {
	struct pol_clink	**bucket;
	size_t			  nbucket;	/* 0 or a power of two */
	size_t			  n;
};

/*
 * A key of a quota.  Its windows are sorted by start; one is kept in the
 * entry itself (most keys only ever have the current window), more in
 * an array of their own.  About 64 bytes and the key.
 */
struct pol_centry {
	struct pol_clink	 link;
	uint32_t		 qid;		/* interned quota identity */
	uint32_t		 nwin;
	struct pol_cwin		*more;		/* NULL: the window is w0 */
	struct pol_cwin		 w0;
	char			 key[];
};

struct pol_override {
	struct pol_clink	 link;
	enum pol_override_kind	 kind;
	uint64_t		 limit;
	char			 key[];
};

struct pol_counters {
	uint64_t		 seed;		/* keys come from the network */
	struct pol_chash	 keys;		/* of pol_centry */
	struct pol_chash	 ovr;		/* of pol_override */
	char			**ident;	/* qid -> quota identity */
	uint32_t		 nident;
	struct pol_chash	 idents;	/* of pol_qident */
};

static inline struct pol_cwin *
pol_cwins(struct pol_centry *e)
{
	return e->more != NULL ? e->more : &e->w0;
}

/* counter.c */
uint32_t pol_counters_qid(struct pol_counters *, const char *ident);
/* The entry of (qid, key), created (with no window) when create. */
struct pol_centry *pol_counters_entry(struct pol_counters *, uint32_t qid,
	    const char *key, bool create);
/* The window starting at start, added in order when missing. */
struct pol_cwin *pol_centry_win(struct pol_centry *, int64_t start);
/* Drops the windows that ended by now: fixed ones past their end, a
 * sliding one decayed to nothing. */
void	pol_centry_expire(struct pol_centry *, const struct pol_quota *,
	    int64_t now);
/* Removes an entry with no window left. */
void	pol_counters_forget(struct pol_counters *, struct pol_centry *);

/* quota_eval.c: the key of a track (quota.h, "Keys") for recipient r of
 * m into out, lower-cased; false when the track finds none (SASLUsername
 * without a login, SenderIP without a client).  policy is the policy's
 * name (track Policy).  Quotas and accountings (accounting_eval.c) share
 * it. */
bool	pol_track_key(enum pol_track, unsigned v4_prefix, unsigned v6_prefix,
	    const char *policy, const struct pol_msg *, size_t r, char *out,
	    size_t outsz);

/* quota_notify.c: the notify thresholds the decision's committed uses
 * reached (d->notice), and taking them back with the decision. */
void	pol_quota_notices(struct pol_counters *, struct pol_decision *,
	    int64_t now);
void	pol_notices_undo(struct pol_counters *, const struct pol_decision *);

#endif
