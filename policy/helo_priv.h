/*
 * helo_priv.h: what helo.c (settings, forms, the decision) and
 * helo_state.c (the record of HELOs per client, its persistence) share.
 * Not for use outside policy/.
 */
#ifndef SLUICE_HELO_PRIV_H
#define SLUICE_HELO_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "helo.h"

#define HELO_SEEN_DIRTY		0x1u	/* changed since helo_state_changes */
#define HELO_SEEN_STORED	0x2u	/* relay/ has the row */
#define HELO_SEEN_LISTED	0x4u	/* a blacklist named it when seen */

/* One HELO of a client: its normalised name and when last seen. */
struct helo_seen {
	int64_t		 last;
	unsigned	 flags;		/* HELO_SEEN_* */
	char		*name;
};

/* A client address and its 1 to cap HELOs, distinct, in no order. */
struct helo_client {
	struct helo_client	*next;		/* hash chain */
	struct helo_client	*dnext;		/* dirty list, when dprev */
	struct helo_client	**dprev;
	uint64_t		 hash;
	struct addr		 addr;		/* unused bytes zeroed */
	size_t			 n, nalloc;
	struct helo_seen	*seen;
};

/* Seen in the last w seconds: now - w < last (not at now - w itself). */
static inline bool
helo_in_window(int64_t last, int64_t now, uint64_t w)
{
	return last > now - (int64_t)w;
}

/* helo.c */
/* The HELO as kept and compared: lower-cased, anything but printable
 * ASCII as '?', cut to HELO_NAME_MAX bytes, one trailing dot dropped. */
void	helo_normalise(const char *helo, char out[HELO_NAME_MAX + 1]);
/* A name for a list or a row: printable ASCII, no space, 1 to
 * HELO_NAME_MAX bytes, not ".". */
bool	helo_name_is_ok(const char *);
/* Whether s's blacklist names the normalised name (any case, a listed
 * name's trailing dot ignored). */
bool	helo_is_listed(const struct helo_settings *, const char *name);
/* HELOs a client keeps under s: hrp's N + 1, and one for the blacklist. */
size_t	helo_cap_of(const struct helo_settings *);

/* helo_state.c */
/* The client's record, or NULL (st or a NULL too). */
const struct helo_client *helo_client_find(const struct helo_state *,
	    const struct addr *);
/* Records the normalised name as seen now from client, kept under the
 * larger of the state's cap and s's; marked when s's blacklist names
 * it.  Queues what changed for helo_state_changes. */
void	helo_remember(struct helo_state *, const struct helo_settings *s,
	    const struct addr *client, const char *name, int64_t now);

#endif
