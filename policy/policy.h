/*
 * policy: the model of policies and groups, and the matcher (DESIGN.md,
 * "Policy matching").  A pure library: no I/O, no clock, no sockets.
 *
 * A policy set holds named groups and policies.  A policy has a priority
 * (lower numbers first) and one or more match blocks, ORed.  A match block
 * has up to four dimensions, ANDed: client, sender, recipient, sasl; a
 * dimension not written matches anything.  A dimension is a list of
 * items, ORed, with an optional `except` list: it matches when some item
 * matches and no except item does.
 *
 * Items (pol_item_parse), by dimension:
 *   any                 every dimension: anything (also the null sender,
 *                       an unknown client, no SASL login)
 *   %name               every dimension: a group, its items read in the
 *                       dimension where it is referenced
 *   user@domain         sender, recipient: that address
 *   @domain             sender, recipient: any address at that domain
 *   @*.domain           sender, recipient: any address at a subdomain of
 *                       domain (not the domain itself, as cbpolicyd)
 *   user@               sender, recipient: that local part at any domain
 *   <>                  sender: the null sender
 *   a.b.c.d[/n]         client: an IPv4 address or network
 *   x:x::x[/n]          client: an IPv6 address or network; an
 *                       IPv4-mapped client (::ffff:a.b.c.d) is IPv4
 *   *                   sasl: any login (authenticated mail)
 *   -                   sasl: no login
 *   name                sasl: that login
 * Addresses, domains and logins compare without regard to ASCII case;
 * every other character is literal (`user+tag@example.com` is that
 * address).  The null sender matches only `<>` and `any`.  An input
 * address is split at its last '@'; one without '@' is a local part.
 *
 * None of cbpolicyd's traps (reference/cbpolicyd.md 1.3-1.5) is kept,
 * each is an error at load time instead of a silent surprise: `!` in any
 * form (sluice writes exclusions with `except`), `@.domain` (did you mean
 * @*.domain or @domain?), an item of the wrong kind for its dimension (an
 * IP in sender, an address in client), `any` in a list with other items,
 * a wildcard anywhere but `@*.`, an unknown or empty group, a group loop,
 * a group used in a dimension one of its items does not fit.  Also
 * refused: cbpolicyd's `$login`, partial IPv4 (`10.1`), `[peer]` items,
 * host names, IPv6 zone ids, commas in an item.
 *
 * Ownership: the set owns everything added to it; strings are copied.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/addr.h"
#include "../lib/buf.h"

enum pol_dim {
	POL_CLIENT,
	POL_SENDER,
	POL_RECIPIENT,
	POL_SASL,
	POL_NDIM
};

enum pol_item_kind {
	POL_ITEM_ANY,
	POL_ITEM_GROUP,		/* %name */
	POL_ITEM_ADDR,		/* user@domain */
	POL_ITEM_DOMAIN,	/* @domain */
	POL_ITEM_SUBDOMAIN,	/* @*.domain */
	POL_ITEM_LOCAL,		/* user@ */
	POL_ITEM_NULL_SENDER,	/* <> */
	POL_ITEM_CIDR,		/* an address or network */
	POL_ITEM_SASL_ANY,	/* * */
	POL_ITEM_SASL_NONE,	/* - */
	POL_ITEM_SASL_NAME	/* a login */
};

struct pol_group;
struct pol_quota;	/* quota.h */
struct pol_accts;	/* accounting.h */
struct grey_settings;	/* greylist.h */
struct helo_settings;	/* helo.h */
struct spf_settings;	/* spf.h */
struct pol_gres;	/* a group read in one dimension (policy_priv.h) */
struct pol_priv;	/* the resolved set's indexes (policy_priv.h) */

struct pol_item {
	enum pol_item_kind	 kind;
	char			*text;	/* as written (for traces and dumps) */
	char			*local;	/* ADDR, LOCAL: lower-cased */
	char			*domain; /* ADDR, DOMAIN, SUBDOMAIN: lower-cased;
					    SASL_NAME: the login, lower-cased */
	struct cidr		 cidr;	/* CIDR */
	struct pol_group	*group;	/* GROUP, once resolved */
	int			 line;
};

struct pol_list {
	struct pol_item		*items;
	size_t			 nitem;
	struct pol_item		*except;
	size_t			 nexcept;
};

struct pol_match {
	struct pol_list		 dim[POL_NDIM];
	bool			 has[POL_NDIM];	/* the dimension was written */
	int			 line;
};

struct pol_group {
	char			*name;
	struct pol_item		*items;	/* text and line only: parsed per
					   dimension by pol_set_resolve() */
	size_t			 nitem;
	int			 line;
	size_t			 index;		/* order of definition */
	struct pol_gres		*res[POL_NDIM];	/* where used, once resolved */
};

/*
 * Verdicts.  Access control (`access VERDICT [reply TEXT]`) uses ok,
 * pass, reject, tempfail, hold and discard; quotas add defer.  As in
 * cbpolicyd, ok accepts the recipient and skips every later check (no
 * quota counts it); pass decides nothing and the checks go on.
 */
enum pol_verdict {
	POL_V_NONE,		/* no rule */
	POL_V_OK,
	POL_V_PASS,
	POL_V_REJECT,		/* 550 5.7.1 */
	POL_V_TEMPFAIL,		/* 451 4.7.1 */
	POL_V_HOLD,		/* 250, parked until an admin releases it */
	POL_V_DISCARD,		/* 250, dropped with a log line */
	POL_V_DEFER		/* quotas only: 250, queued until there is room */
};

/* A policy's access rule. */
struct pol_access {
	enum pol_verdict	 verdict;	/* POL_V_NONE: none */
	char			*reply;		/* the text, or NULL: the default */
	int			 line;
};

struct pol_policy {
	char			*name;
	long			 priority;
	struct pol_match	*matches;
	size_t			 nmatch;
	int			 line;
	size_t			 index;		/* order of definition */
	struct pol_access	 access;
	struct pol_quota	**quotas;	/* in the order written */
	size_t			  nquota;
	/* the RCPT-stage checks' blocks, NULL when the policy has none;
	 * owned by the policy (conf/ attaches them, pol_set_free frees
	 * them); the matched policies' blocks merge (grey_merge, helo_merge,
	 * spf_merge) */
	struct grey_settings	 *grey;
	struct helo_settings	 *helo;
	struct spf_settings	 *spf;
};

struct pol_set {
	struct pol_group	**groups;
	size_t			  ngroup;
	struct pol_policy	**policies;	/* by priority once resolved;
						   equal ones in definition
						   order */
	size_t			  npolicy;
	struct pol_quota	**quotas;	/* every policy's, in the order
						   of evaluation once resolved
						   (pol_quota.id) */
	size_t			  nquota;
	bool			  resolved;
	struct pol_priv		 *priv;		/* names, match indexes */
	/* every policy's accountings (accounting.h): never NULL, freed
	 * with the set, resolved by pol_set_resolve (they point into the
	 * policies and are ordered by them) */
	struct pol_accts	 *accts;
};

/* What the matcher looks at (one recipient at a time).  Strings as
 * received, with or without the angle brackets; case does not matter.
 * A recipient of NULL (a check before RCPT) is not matched on: a
 * recipient dimension then neither matches nor fails, the rest decide. */
struct pol_input {
	const struct addr	*client;	/* NULL: unknown; an IPv4-mapped
						   IPv6 address is IPv4 */
	const char		*sender;	/* "" or "<>": the null sender */
	const char		*recipient;	/* NULL: not matched on */
	const char		*sasl;		/* NULL or "": not authenticated */
};

/* Called for each error found while resolving: line is the line to look
 * at (0 when none); errors come in the order found, not sorted. */
typedef void pol_error_fn(void *arg, int line, const char *msg);

struct pol_set	*pol_set_new(void);
void		 pol_set_free(struct pol_set **);

/* Parses one item written in dimension dim.  0, or -1 with a message in
 * err (what is wrong and, where it helps, what to write instead).  A
 * group reference is kept by name until pol_set_resolve(). */
int	pol_item_parse(enum pol_dim dim, const char *text, int line,
	    struct pol_item *out, char *err, size_t errsz);
void	pol_item_clear(struct pol_item *);
const char *pol_dim_name(enum pol_dim);

/* NULL with err when the name is taken (or not a valid name: letters,
 * digits, '-', '_', '.').  Group and policy names compare without
 * regard to case; a group name has at most 127 characters. */
struct pol_group *pol_group_add(struct pol_set *, const char *name, int line,
	    char *err, size_t errsz);
/* A group's item, parsed later against each dimension it is used in:
 * the text is kept and checked by pol_set_resolve(). */
void	pol_group_add_text(struct pol_group *, const char *text, int line);
struct pol_policy *pol_policy_add(struct pol_set *, const char *name,
	    long priority, int line, char *err, size_t errsz);
/* The block stays the policy's; the pointer is valid until the next
 * pol_policy_add_match() on that policy (the blocks are one array). */
struct pol_match *pol_policy_add_match(struct pol_policy *, int line);
/* Adds an item (moved into the match; *item is cleared). */
void	pol_match_add(struct pol_match *, enum pol_dim, bool except,
	    struct pol_item *item);

/* Checks and links everything: group references (unknown, with the
 * closest name; empty; loops, naming the cycle; nested deeper than 32;
 * an item that does not fit a dimension the group is used in, reported
 * once at the first reference's line and naming the group's item and
 * its line), a policy without a match, `any` mixed with other items,
 * `except` without items before it, `except any`, and items of unused
 * groups that fit no dimension, each quota's settings; then
 * orders the policies by priority, builds the match indexes and, only
 * then, checks and orders the accountings (pol_accts_resolve: so their
 * own errors are found once the rest has none).  Returns the number of
 * errors (each passed to err, which may be NULL); the set is usable only
 * when it is 0.
 * Anything added afterwards (a group, its items, a policy, a block, an
 * item) is seen only once the set is resolved again. */
int	pol_set_resolve(struct pol_set *, pol_error_fn *err, void *arg);

/* Access rules (access.c). */
const char *pol_verdict_name(enum pol_verdict);
/* 0 and *v for "ok", "pass", ... (any case), -1 otherwise. */
int	pol_verdict_parse(const char *, enum pol_verdict *);
/* Sets the policy's access rule: verdict one of ok, pass, reject,
 * tempfail, hold, discard; reply NULL or a text of printable ASCII (at
 * most POL_REPLY_MAX bytes) that may start with a reply code and an
 * enhanced status code of the verdict's class ("550 5.7.1 ...").  0, or
 * -1 with a message in err (a second rule, a verdict that is not one of
 * access control's, a reply of the wrong class). */
#define POL_REPLY_MAX	400
int	pol_policy_set_access(struct pol_policy *, enum pol_verdict,
	    const char *reply, int line, char *err, size_t errsz);
/* The access decision among matched policies in ascending priority (as
 * pol_set_match gives them): the first one with a rule, or NULL. */
const struct pol_policy *pol_access_decide(const struct pol_policy *const *,
	    size_t n);
/* The SMTP reply of an access or quota verdict that refuses or accepts:
 * the rule's text with the verdict's code put in front when it has none
 * ("550 5.7.1 " + text), or the default ("550 5.7.1 Access denied",
 * "451 4.7.1 Try again later", "250 2.0.0 Ok").  Writes into buf. */
void	pol_verdict_reply(enum pol_verdict, const char *text, char *buf,
	    size_t bufsz);

/* Whether the policy matches the input (resolved set).  When why is not
 * NULL, appends one line per match block saying which dimension and item
 * decided ("match line 12: sender alice@example.com matched @example.com;
 * recipient bob@example.net matched any"), for `sluicectl explain`.
 * It walks the items one by one, through groups: for explain and tests;
 * the delivery path asks pol_set_match(), which uses the indexes. */
bool	pol_policy_matches(const struct pol_policy *, const struct pol_input *,
	    struct buf *why);
/* The policies that match, in ascending priority: fills out (up to max)
 * and returns how many match (0 for a set that is not resolved).  Cost:
 * a few hash look-ups per dimension, whatever the size of the groups;
 * safe to call from several threads on one set. */
size_t	pol_set_match(const struct pol_set *, const struct pol_input *,
	    const struct pol_policy **out, size_t max);

#endif
