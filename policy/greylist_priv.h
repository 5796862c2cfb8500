/*
 * greylist_priv.h: what greylist.c (settings, merge, the decision) and
 * greylist_store.c (the records, their tables and the rows for the
 * store) share.  Not for use outside policy/.
 *
 * A network record exists while it has a triplet, an AWL or an ABL
 * entry.  Its triplets are listed in order of first attempt (a triplet
 * that starts over moves to the newest end).  A record is in the dirty
 * queue at most once (link.dirty is its place + 1).
 */
#ifndef SLUICE_GREYLIST_PRIV_H
#define SLUICE_GREYLIST_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "greylist.h"
#include "policy_priv.h"

struct grey_link {
	struct grey_link	*next;		/* hash chain */
	uint32_t		 hash;
	uint32_t		 dirty;		/* 1 + place in the queue, or 0 */
};

struct grey_net;

/* About 75 bytes and the two addresses, in one allocation. */
struct grey_trip {
	struct grey_link	 link;
	struct grey_net		*net;
	struct grey_trip	*older, *newer;	/* the network's list */
	int64_t			 first_seen, last_seen, last_pass;
	uint32_t		 tries, passes;
	uint16_t		 rcpt;		/* the recipient's offset in key */
	bool			 stored;	/* the store has its row */
	char			 key[];		/* sender NUL recipient NUL */
};

enum {
	GREY_NET_AWL = 1,
	GREY_NET_ABL = 2,
	GREY_NET_AWL_STORED = 4,
	GREY_NET_ABL_STORED = 8
};

struct grey_net {
	struct grey_link	 link;
	struct grey_trip	*oldest, *newest;
	uint32_t		 ntrip;
	uint8_t			 flags;
	int64_t			 awl_added, awl_last, abl_added;
	char			 key[];		/* "192.0.2.0/24" */
};

struct grey_tab {
	struct grey_link	**b;
	size_t			  nb;		/* 0 or a power of two */
	size_t			  n;
};

struct grey_dirty {
	struct grey_link	*rec;
	bool			 is_net;
};

struct grey_state {
	uint64_t		 seed;
	struct grey_tab		 nets, trips;
	size_t			 max_trip, max_per_net;
	struct grey_dirty	*dirty;
	size_t			 ndirty, dirtycap;
	struct grey_row		*gone;		/* net owns the row's strings */
	size_t			 ngone, gonecap;
	size_t			 nawl, nabl;
	uint64_t		 full, evicted;
};

/* Whether d seconds have passed since `since` (never when the clock
 * reads earlier; no overflow whatever the stored times). */
static inline bool
grey_aged(int64_t since, int64_t now, uint64_t d)
{
	return now >= since && (uint64_t)now - (uint64_t)since >= d;
}

/* A triplet's validity: never passed, unauth after its first attempt;
 * passed, auth after its last pass. */
static inline bool
grey_trip_is_expired(const struct grey_trip *t, uint64_t auth,
    uint64_t unauth, int64_t now)
{
	return t->passes == 0 ? grey_aged(t->first_seen, now, unauth) :
	    grey_aged(t->last_pass, now, auth);
}

/* greylist_store.c */
/* The network record of key, made when create (else NULL if none). */
struct grey_net *grey_net_get(struct grey_state *, const char *key,
	    bool create);
/* Frees a network left with nothing. */
void	grey_net_tidy(struct grey_state *, struct grey_net *);
/* Sets the AWL (last use now; added now when new) or ABL (added now)
 * entry of n: which is GREY_NET_AWL or GREY_NET_ABL. */
void	grey_entry_set(struct grey_state *, struct grey_net *, int which,
	    int64_t now);
struct grey_trip *grey_trip_find(const struct grey_state *,
	    const struct grey_net *, const struct pol_str *sender,
	    const struct pol_str *rcpt);
/* A new triplet of n first seen then, with one try (the network's oldest
 * gives way at its cap), in n's list; not queued (grey_mark). */
struct grey_trip *grey_trip_new(struct grey_state *, struct grey_net *,
	    const struct pol_str *sender, const struct pol_str *rcpt,
	    int64_t first_seen);
/* Starts t over at now: one try, no pass. */
void	grey_trip_restart(struct grey_state *, struct grey_trip *,
	    int64_t now);
/* Queues a changed record for grey_changes. */
void	grey_mark(struct grey_state *, struct grey_link *, bool is_net);

#endif
