/*
 * greylist: greylisting at RCPT (DESIGN.md, "Policies"; reference/
 * cbpolicyd.md 3), as a pure library: no sockets, no clock, no SQL.
 * Every call takes `now`; relay/ persists the rows and asks at RCPT.
 *
 * Settings.  A policy may hold one block:
 *
 *	greylisting [on|off] {
 *	    period 5m                   a triplet passes once its first
 *	                                attempt is this old
 *	    track SenderIP:/24          the client network (IPv4 prefix)
 *	    ipv6-prefix 64              (IPv6 prefix)
 *	    auth-validity 35d           a passed triplet lives this long
 *	                                after its last pass
 *	    unauth-validity 2d          a never-passed one, after its first
 *	                                attempt; a retry after that starts
 *	                                over
 *	    auto-whitelist COUNT [PCT%] within 7d | off
 *	    auto-blacklist COUNT [PCT%] within 7d | off
 *	    whitelist 192.0.2.0/24 2001:db8::/32 @example.com @*.example.org
 *	    training yes|no             record, never defer, never blacklist
 *	    reply "TEXT"  blacklist-reply "TEXT"
 *	}
 *
 * Merging (cbpolicyd 1.6): the matched policies' blocks, in ascending
 * priority; every setting written overrides what came before, so the
 * highest priority number that writes it wins; whitelists are a union.
 * Greylisting applies when some matched policy has a block and the last
 * on/off written is not off (a block that writes neither inherits it: a
 * policy that only tunes `period` does not undo an earlier `off`).
 *
 * State.  Triplets (client network, sender, recipient), keyed by the
 * network "192.0.2.0/24" or "2001:db8:1:2::/64" (an IPv4-mapped client is
 * IPv4), the sender lower-cased ("" for the null sender) and the
 * recipient lower-cased; per network, an auto-whitelist (AWL) and an
 * auto-blacklist (ABL) entry.  The state outlives configurations (a
 * reload keeps it) and is owned by one thread.  Validity is enforced
 * when deciding, not only by pruning.  A triplet takes about 145 bytes
 * with typical addresses (tests/unit/test_greylist_store.c measures it).
 */
#ifndef SLUICE_GREYLIST_H
#define SLUICE_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/addr.h"
#include "policy.h"

/* Defaults and bounds (seconds, counts, percent), for conf/'s table. */
#define GREY_PERIOD_DEFAULT	300
#define GREY_PERIOD_MIN		1
#define GREY_PERIOD_MAX		86400
#define GREY_AUTH_DEFAULT	(35 * 86400)
#define GREY_UNAUTH_DEFAULT	(2 * 86400)
#define GREY_VALIDITY_MIN	60
#define GREY_VALIDITY_MAX	(366 * 86400)
#define GREY_V4_PREFIX_DEFAULT	24
#define GREY_V6_PREFIX_DEFAULT	64
#define GREY_COUNT_MAX		1000000
#define GREY_WITHIN_MIN		60
#define GREY_WITHIN_MAX		(366 * 86400)
/* The longest sender or recipient tracked (RFC 5321 4.5.3.1.3: a path
 * has at most 256 octets); longer ones are deferred, not stored. */
#define GREY_ADDR_MAX		256
#define GREY_NET_LEN		(ADDR_STRLEN + 8)
/* Default caps of grey_state_new(). */
#define GREY_MAX_TRIPLETS	1000000
#define GREY_MAX_PER_NET	10000

/* auto-whitelist / auto-blacklist COUNT [PCT%] within DURATION. */
struct grey_auto {
	bool		 on;		/* false: `off` (or not written) */
	uint32_t	 count;		/* 1 to GREY_COUNT_MAX */
	unsigned	 pct;		/* 0: by count alone; else 1 to 100 */
	uint64_t	 within;	/* seconds */
};

/* One policy's block as written: has_X says X was written (conf/ sets
 * the fields directly; the builders below parse what needs parsing). */
struct grey_settings {
	bool		 has_on, on;
	bool		 has_period;
	uint64_t	 period;
	bool		 has_v4_prefix, has_v6_prefix;
	unsigned	 v4_prefix, v6_prefix;
	bool		 has_auth_validity, has_unauth_validity;
	uint64_t	 auth_validity, unauth_validity;
	bool		 has_awl, has_abl;
	struct grey_auto awl, abl;
	bool		 has_training, training;
	char		*reply;		/* NULL: not written */
	char		*bl_reply;
	struct pol_item	*wl;		/* CIDR, DOMAIN or SUBDOMAIN items */
	size_t		 nwl;
	int		 line;		/* of the block */
};

/* The settings in force for one recipient (grey_merge). */
struct grey_eff {
	bool		 enabled;
	uint64_t	 period, auth_validity, unauth_validity;
	unsigned	 v4_prefix, v6_prefix;
	struct grey_auto awl, abl;
	bool		 training;
	const char	*reply, *bl_reply;	/* NULL: the default */
	/* the matched blocks, for the whitelists (borrowed) */
	const struct grey_settings *const *blocks;
	size_t		 nblock;
};

/* The longest validities and windows over every policy (grey_prune). */
struct grey_limits {
	uint64_t	 auth_validity, unauth_validity;
	uint64_t	 awl_within, abl_within;
};

/* An empty block (nothing written) at line; free frees its whitelist
 * items and replies and clears the pointer. */
struct grey_settings *grey_settings_new(int line);
void	grey_settings_free(struct grey_settings **);
/* "SenderIP" (/32) or "SenderIP:/N", any case, 1 <= N <= 32.  0, or -1
 * with err. */
int	grey_settings_track(struct grey_settings *, const char *text,
	    char *err, size_t errsz);
/* One whitelist item: an address or network, @domain or @*.domain (the
 * sender's domain; subdomains only).  0, or -1 with err. */
int	grey_settings_whitelist(struct grey_settings *, const char *text,
	    int line, char *err, size_t errsz);
/* reply (4xx) or, with blacklist, blacklist-reply (5xx): printable
 * ASCII, at most POL_REPLY_MAX bytes, an optional code of that class. */
int	grey_settings_reply(struct grey_settings *, bool blacklist,
	    const char *text, char *err, size_t errsz);
/* Checks a block: bounds of every setting written, auto-* with a COUNT
 * of 0 or a PCT over 100, and an unauth-validity not longer than the
 * period (defaults filled in: a triplet must be able to pass before it
 * expires).  Calls err (may be NULL) with the block's line for each
 * problem; returns how many. */
int	grey_settings_check(const struct grey_settings *, pol_error_fn *err,
	    void *arg);

/* Merges blocks v[0..n) given in ascending priority (NULL entries, the
 * policies without a block, are skipped) into *out, which borrows v:
 * keep it until the last grey_check with *out.  Should the merge give an
 * unauth-validity no longer than the period (two policies' settings),
 * it becomes twice the period, so mail can still pass. */
void	grey_merge(const struct grey_settings *const *v, size_t n,
	    struct grey_eff *out);
/* Folds one block (defaults filled in) into the maxima; start from a
 * zeroed struct.  A limit of 0 prunes everything of its kind. */
void	grey_limits_add(struct grey_limits *, const struct grey_settings *);

/*
 * The decision (grey_check), in cbpolicyd's order: static whitelist,
 * AWL, ABL (not in training), then the triplet.
 */
enum grey_verdict {
	GREY_PASS,
	GREY_DEFER,		/* 451 */
	GREY_REJECT		/* 550: auto-blacklisted */
};

enum grey_reason {
	GREY_R_OFF,		/* no greylisting for this recipient */
	GREY_R_NO_CLIENT,	/* no client address to key on: pass */
	GREY_R_WHITELISTED,	/* a whitelist item (result.matched) */
	GREY_R_AUTO_WHITELISTED,
	GREY_R_AUTO_BLACKLISTED,
	GREY_R_NEW,		/* first attempt: greylisted */
	GREY_R_TOO_SOON,	/* retry before the period: wait s left */
	GREY_R_EXPIRED,		/* its validity ran out: starts over */
	GREY_R_PASSED,		/* authenticated (retried, or passed before) */
	GREY_R_TRAINING,	/* would have deferred: result.would */
	GREY_R_FULL,		/* no room for a new triplet: not recorded */
	GREY_R_TOO_LONG		/* an address over GREY_ADDR_MAX */
};

struct grey_result {
	enum grey_verdict verdict;
	enum grey_reason reason;
	enum grey_reason would;		/* TRAINING: NEW, TOO_SOON, EXPIRED,
					   FULL or TOO_LONG */
	uint32_t	 tries;		/* deferrals of the triplet, this one
					   included (in training, would-be
					   ones) */
	uint32_t	 passes;	/* its passes, this one included */
	int64_t		 first_seen;	/* of the triplet, or 0 */
	int64_t		 wait;		/* DEFER: seconds until it may pass */
	const char	*matched;	/* WHITELISTED: the item as written */
	char		 net[GREY_NET_LEN];	/* "192.0.2.0/24", or "" */
};

struct grey_state;

/* Caps: triplets in all (a new one past it is deferred, not recorded:
 * GREY_R_FULL) and per network (a new one past it takes the place of
 * the network's oldest); 0 for the defaults. */
struct grey_state *grey_state_new(size_t max_triplets, size_t max_per_net);
void	grey_state_free(struct grey_state **);

/* Decides one recipient.  client NULL: unknown (passes).  sender and
 * recipient as received, with or without <>, any case; "" or "<>" is the
 * null sender.  With commit the state changes and the changes are
 * queued for the store; without, nothing changes (sluicectl explain). */
void	grey_check(struct grey_state *, const struct grey_eff *,
	    const struct addr *client, const char *sender,
	    const char *recipient, int64_t now, bool commit,
	    struct grey_result *out);
/* The SMTP reply of a DEFER or REJECT: the block's text with the code
 * put in front when it has none, or the default ("451 4.7.1 Greylisted,
 * please try again in 300 seconds", "550 5.7.1 ..."). */
void	grey_reply(const struct grey_eff *, const struct grey_result *,
	    char *buf, size_t bufsz);
const char *grey_verdict_name(enum grey_verdict);	/* "pass" ... */
const char *grey_reason_name(enum grey_reason);	/* "too-soon" ... */
/* "greylist=defer reason=too-soon net=192.0.2.0/24 tries=2 passes=0
 * wait=180" (key=value pairs for the session's log line; no address:
 * the session logs those). */
void	grey_result_format(const struct grey_result *, char *buf,
	    size_t bufsz);

/*
 * Persistence (relay/ writes these through its writer thread, behind the
 * decisions).  A row is one triplet, one AWL entry or one ABL entry.
 */
enum grey_row_kind {
	GREY_ROW_TRIPLET,
	GREY_ROW_AWL,
	GREY_ROW_ABL
};

struct grey_row {
	enum grey_row_kind kind;
	bool		 deleted;	/* the store drops the row */
	const char	*net;
	const char	*sender;	/* TRIPLET ("" null sender), else NULL */
	const char	*recipient;	/* TRIPLET, else NULL */
	int64_t		 first_seen;	/* TRIPLET: first attempt; AWL, ABL:
					   added */
	int64_t		 last_seen;	/* TRIPLET: last attempt; AWL: last
					   use; ABL: = added */
	int64_t		 last_pass;	/* TRIPLET: 0 if never passed */
	uint32_t	 tries, passes;	/* TRIPLET */
};

/* Called with a row whose strings live until it returns. */
typedef void grey_row_cb(const struct grey_row *, void *arg);

/* Start-up: one stored row (replaces what is there; not queued back).
 * 0, or -1 with *errstr (a bad kind or string, no room). */
int	grey_load(struct grey_state *, const struct grey_row *,
	    const char **errstr);
/* The rows to write since the last call: removals first (of rows the
 * store has: loaded, or given here before), then records changed since,
 * each once with its current figures; the rows of at most max records
 * (0: all; a network's AWL and ABL rows come together), the rest at the
 * next call.  What waits is bounded by the records and the
 * caps.  cb NULL drops what waits (no store: nothing becomes stored).
 * Returns how many rows cb got. */
size_t	grey_changes(struct grey_state *, size_t max, grey_row_cb *cb,
	    void *arg);
/* Drops what has expired under lim at now: never-passed triplets
 * unauth_validity after their first attempt, passed ones auth_validity
 * after their last pass, AWL entries awl_within after their last use,
 * ABL entries abl_within after they were added; the removals are queued
 * for grey_changes.  Returns the triplets left. */
size_t	grey_prune(struct grey_state *, const struct grey_limits *lim,
	    int64_t now);

struct grey_stats {
	size_t		 triplets, networks, awl, abl;
	size_t		 pending;	/* rows grey_changes would give */
	uint64_t	 full;		/* new triplets refused: no room */
	uint64_t	 evicted;	/* taken by a network's newer ones */
};
void	grey_stats(const struct grey_state *, struct grey_stats *);

#endif
