/*
 * helo: the HELO/EHLO checks of the RCPT stage (DESIGN.md, "Data flow",
 * step 3: after access control, before SPF and greylisting), as
 * cbpolicyd's CheckHelo (reference/cbpolicyd.md 4.2) without its traps.
 * A pure library: no sockets, no clock, no DNS.  Every call takes `now`;
 * whether a name resolves is looked up by relay/ off the event loop and
 * passed in (helo_check answers HELO_NEED_DNS until it is).
 *
 * One policy's block, as conf/ is to read it (every statement starts
 * with its keyword; lists end at the next keyword):
 *
 *	helo {
 *	    off                              (alone: forget inherited checks)
 *	    reject-invalid yes|no            (not a host name nor a literal)
 *	    reject-ip yes|no                 (a bare address: 1.2.3.4)
 *	    reject-unresolvable yes|no       (no A, AAAA or MX record)
 *	    blacklist NAME... [within DURATION] | blacklist none
 *	    whitelist CIDR... | whitelist none
 *	    hrp N within DURATION | hrp no   (more than N HELOs: refused)
 *	    reply REASON TEXT                (invalid, not-fqdn, ...)
 *	}
 *
 * Merging (reference 1.6): the matched policies' blocks are read in
 * ascending priority and every setting a block writes replaces the one
 * before it, so the highest priority number that writes a setting wins;
 * a list is one setting (a later blacklist replaces the earlier one, it
 * does not add to it).  `off` drops everything written before it.  A
 * setting nobody writes is off (no check), as cbpolicyd's NULL.
 *
 * What each check means:
 * - reject-invalid: the HELO must be a host name of two labels or more
 *   (RFC 5321 4.1.2 Domain: letters, digits and hyphens, no hyphen at a
 *   label's ends, labels of 1 to 63, at most 253 bytes, a top label not
 *   all digits; one trailing dot is allowed, as Postfix strips it) or an
 *   address literal, "[192.0.2.1]" or "[IPv6:2001:db8::1]" (4.1.3).  A
 *   single label is refused as not-fqdn, anything else as invalid (an
 *   underscore too, which Postfix lets by: RFC 5321 does not).  A bare
 *   address is reject-ip's alone: with reject-ip no it is accepted, as
 *   cbpolicyd and Postfix's reject_invalid_helo_hostname accept it; with
 *   yes it gets the 504 of Postfix's reject_non_fqdn_helo_hostname.  An
 *   empty HELO is invalid; no HELO at all (NULL: XFORWARD's
 *   [UNAVAILABLE]) is not checked.
 * - reject-unresolvable: a name (not a literal, not a bare address) is
 *   looked up for A, AAAA and MX.  NXDOMAIN and "no such record" refuse
 *   with a 5xx; SERVFAIL, a timeout or any other failure to learn the
 *   answer is a 4xx, never a 5xx.  A name that cannot be asked (bad
 *   characters, a label over 63) is refused as invalid.
 * - blacklist: the HELO (without regard to case or a trailing dot) is one
 *   of the names; with `within D`, also when this client gave one of the
 *   names in the last D (now - D < seen <= now), whatever it says now.
 *   cbpolicyd ships helo_blacklist_default.
 * - whitelist: a client inside one of the networks is never checked.
 * - hrp (HELO randomisation prevention): more than N distinct HELOs from
 *   one client address seen in the last DURATION (now - DURATION < seen,
 *   this one included) refuse.  cbpolicyd compared with the period itself
 *   instead of now - period (reference 4.2 item 6); not here.
 * Order: whitelist, invalid/ip, blacklist, hrp, then DNS (a HELO refused
 * for its form, the blacklist or hrp never costs a look-up).
 *
 * Replies (defaults; `reply REASON TEXT` replaces one, a text without a
 * code gets the default's), as an admin of Postfix knows them:
 *	invalid		501 5.5.2 <h>: Helo command rejected: Invalid name
 *	not-fqdn	504 5.5.2 <h>: Helo command rejected: need
 *			fully-qualified hostname
 *	ip-not-allowed	504 5.5.2 ... need fully-qualified hostname or
 *			address literal
 *	nxdomain	550 5.7.1 ... Host not found
 *	no-records	550 5.7.1 ... No address or MX record found
 *	dns-failure	450 4.7.1 ... Host not found: temporary DNS failure
 *	blacklisted	554 5.7.1 ... Access denied
 *	hrp-exceeded	550 5.7.1 ... Too many different HELO names
 * Postfix's unknown_hostname_reject_code is 450 by default; sluice uses
 * 550 for an answer that says the name does not exist and keeps 450 for
 * a look-up that failed.
 */
#ifndef SLUICE_HELO_H
#define SLUICE_HELO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/addr.h"
#include "../lib/buf.h"

#define HELO_NAME_MAX	255		/* bytes of a HELO kept */
#define HELO_HRP_MAX	100		/* hrp N: 1 to this */
#define HELO_WINDOW_DAYS	30
#define HELO_WINDOW_MAX	((uint64_t)HELO_WINDOW_DAYS * 86400)  /* within */
#define HELO_REPLY_SIZE	512

/* What a HELO is, by its form alone (helo_form). */
enum helo_form {
	HELO_FORM_FQDN,		/* a host name of two labels or more */
	HELO_FORM_SINGLE,	/* a host name of one label */
	HELO_FORM_LITERAL,	/* [192.0.2.1], [IPv6:2001:db8::1] */
	HELO_FORM_IP,		/* a bare address */
	HELO_FORM_BAD_NAME,	/* a name DNS can hold that is no host name:
				   _, a hyphen at a label's end, a top label
				   all digits */
	HELO_FORM_INVALID	/* empty, other bytes, a label over 63, over
				   253 bytes, a malformed literal */
};

/* The answer relay/ got for the name's A, AAAA and MX records. */
enum helo_dns {
	HELO_DNS_UNKNOWN,	/* not looked up (yet) */
	HELO_DNS_FOUND,		/* at least one record */
	HELO_DNS_NXDOMAIN,
	HELO_DNS_NO_RECORDS,	/* the name exists, with none of them */
	HELO_DNS_FAILURE	/* SERVFAIL, REFUSED, timeout, ... */
};

enum helo_verdict {
	HELO_PASS,
	HELO_REJECT,		/* 5xx */
	HELO_TEMPFAIL,		/* 4xx */
	HELO_NEED_DNS		/* look the name up, then ask again */
};

enum helo_reason {
	HELO_R_NONE,		/* checked, nothing wrong */
	HELO_R_UNCHECKED,	/* no check in force, or no HELO known */
	HELO_R_WHITELISTED,
	HELO_R_INVALID,
	HELO_R_NOT_FQDN,
	HELO_R_IP_NOT_ALLOWED,
	HELO_R_NXDOMAIN,
	HELO_R_NO_RECORDS,
	HELO_R_DNS_FAILURE,
	HELO_R_BLACKLISTED,
	HELO_R_HRP_EXCEEDED,
	HELO_NREASON
};

/* Bits of helo_settings.written: the settings a block wrote. */
enum helo_written {
	HELO_W_OFF = 1u << 0,
	HELO_W_REJECT_INVALID = 1u << 1,
	HELO_W_REJECT_IP = 1u << 2,
	HELO_W_REJECT_UNRESOLVABLE = 1u << 3,
	HELO_W_BLACKLIST = 1u << 4,	/* names and within */
	HELO_W_WHITELIST = 1u << 5,
	HELO_W_HRP = 1u << 6		/* limit and within */
};
#define HELO_W_REPLY(r)	(1u << (8 + (unsigned)(r)))	/* reply[r] */

/*
 * One policy's settings (owned: helo_settings_new, strings and lists
 * its own) or the merge of several (helo_merge: it borrows theirs and
 * must not be freed).  Blacklist names are compared without regard to
 * ASCII case or a trailing dot, as HELOs are.
 */
struct helo_settings {
	unsigned	 written;		/* HELO_W_* */
	bool		 reject_invalid;
	bool		 reject_ip;
	bool		 reject_unresolvable;
	char		**blacklist;
	size_t		 nblacklist;
	uint64_t	 blacklist_within;	/* seconds; 0: this HELO only */
	struct cidr	*whitelist;
	size_t		 nwhitelist;
	unsigned	 hrp_limit;		/* 0: no hrp */
	uint64_t	 hrp_within;		/* seconds */
	char		*reply[HELO_NREASON];	/* NULL: the default */
};

/* The four names cbpolicyd ships in checkhelo_blacklist. */
#define HELO_BLACKLIST_DEFAULT_N	4
extern const char *const helo_blacklist_default[HELO_BLACKLIST_DEFAULT_N];

const char *helo_reason_name(enum helo_reason);	/* "not-fqdn" ... */
const char *helo_verdict_name(enum helo_verdict);	/* "pass" ... */
const char *helo_form_name(enum helo_form);		/* "fqdn" ... */
/* 0 and *r for a reason that refuses ("invalid" ... "hrp-exceeded", any
 * case), -1 otherwise (conf/: `reply REASON TEXT`). */
int	helo_reason_parse(const char *, enum helo_reason *r);
enum helo_form helo_form(const char *helo);

/*
 * One block, as conf/ fills it: the values of the statements written and
 * their bits in written (the strings and arrays malloc'd: the block owns
 * them).  `blacklist none`, `whitelist none` and `hrp no` are written
 * with no names, no networks, a limit of 0.
 */
struct helo_settings *helo_settings_new(void);
void	helo_settings_free(struct helo_settings **);
/* The block's values: `off` alone; blacklist names printable ASCII with
 * no space, 1 to HELO_NAME_MAX bytes, a window only with names; hrp N 1
 * to HELO_HRP_MAX with a window, or neither; windows at most
 * HELO_WINDOW_MAX; replies only for reasons that refuse, as
 * pol_policy_set_access checks them, of the reason's class (4xx for
 * dns-failure, 5xx for the others; a text without a code gets the
 * default's).  0, or -1 with the first thing wrong in err. */
int	helo_settings_check(const struct helo_settings *, char *err,
	    size_t errsz);

/* The effective settings of the matched policies' blocks, v[0..n) in
 * ascending priority (NULL: a policy without one).  out borrows their
 * lists and texts: valid while they live; do not free it. */
void	helo_merge(const struct helo_settings *const *v, size_t n,
	    struct helo_settings *out);
/* Whether any check is in force. */
bool	helo_is_active(const struct helo_settings *);
/* Whether the decision will want the name's DNS answer: reject-
 * unresolvable and a name to ask (not a literal, not a bare address).
 * relay/ may start the look-up as soon as it has the HELO. */
bool	helo_needs_dns(const struct helo_settings *, const char *helo);

/*
 * What the state must hold for a whole configuration (every policy's
 * block, NULLs allowed): HELOs kept per client (the largest hrp N + 1,
 * and one for the blacklist) and the longest window, for prune.
 */
struct helo_limits {
	size_t		 per_client;
	uint64_t	 max_window;
};
void	helo_limits(const struct helo_settings *const *v, size_t n,
	    struct helo_limits *out);

/*
 * The HELOs seen per client address, with the last time each was seen:
 * at most per_client distinct ones per client (the newest, and the newest
 * one a blacklist named).  A client is one address, IPv6 too (as
 * cbpolicyd: a /64 is not grouped).  Keys come from the network: SipHash
 * under a random key.  Memory: about 80 bytes a client and 24 plus the
 * name a HELO, before malloc's own.  Not thread-safe: one thread (the
 * event loop) owns it.
 */
struct helo_state;

struct helo_state *helo_state_new(size_t per_client);
void	helo_state_free(struct helo_state **);
/* A reload: the new bound, applied to a client when it is next seen.
 * A check whose settings need more keeps more (hrp N + 2). */
void	helo_state_set_cap(struct helo_state *, size_t per_client);

struct helo_query {
	const struct addr	*client;	/* or NULL: unknown (no
						   whitelist, no history) */
	const char		*helo;		/* as given, or NULL: none */
	enum helo_dns		 dns;		/* UNKNOWN until looked up */
	bool			 explain;	/* record nothing */
};

struct helo_result {
	enum helo_verdict	 verdict;
	enum helo_reason	 reason;
	char			 reply[HELO_REPLY_SIZE];  /* REJECT and
						   TEMPFAIL, else "" */
	unsigned		 distinct;	/* hrp: HELOs in its window,
						   this one included; else 0 */
	char			 listed[HELO_NAME_MAX + 1]; /* blacklisted:
						   the name listed (maybe an
						   earlier HELO), else "" */
};

/*
 * Decides against the effective settings, this HELO counting as seen
 * now, then records it: unless explain (which so decides the same and
 * changes nothing), no check is in force, or no client or HELO is known.
 * A whitelisted client's HELO is recorded too (cbpolicyd's order), and a
 * NEED_DNS one: asking again with the answer only moves its time.  why
 * (may be NULL) gets one line per step.  Returns out->verdict.
 */
enum helo_verdict helo_check(struct helo_state *,
	    const struct helo_settings *, const struct helo_query *,
	    int64_t now, struct helo_result *out, struct buf *why);

/*
 * Persistence for relay/ (write-behind).  A row is one client and HELO
 * with the last time it was seen.
 */
struct helo_row {
	struct addr	 client;
	const char	*helo;
	int64_t		 last_seen;
};
/* gone: the row is to be deleted; else stored (insert or update). */
typedef void helo_row_cb(void *arg, const struct helo_row *, bool gone);

/* Start-up: one stored row (normalised; the later last_seen of two
 * wins; past per_client, a client's oldest go).  0, or -1 with *errstr
 * for a row that is not one (no HELO, too long, not an address). */
int	helo_state_load(struct helo_state *, const struct helo_row *,
	    const char **errstr);
/* The rows changed since the last call, deletions first: cb once per
 * row (strings valid during the call).  Returns how many. */
size_t	helo_state_changes(struct helo_state *, helo_row_cb *cb, void *arg);
/* Forgets what no window can count any more: HELOs seen at or before
 * now - max_window (helo_limits's), clients left with none.  Rows that
 * were stored come back from helo_state_changes as deletions.  Returns
 * how many HELOs remain. */
size_t	helo_state_prune(struct helo_state *, int64_t now,
	    uint64_t max_window);

struct helo_stats {
	size_t	 clients;
	size_t	 rows;		/* HELOs kept */
	size_t	 bytes;		/* memory, about */
};
void	helo_state_stats(const struct helo_state *, struct helo_stats *);
/* The HELOs kept for one client. */
size_t	helo_state_client_rows(const struct helo_state *,
	    const struct addr *);

#endif
