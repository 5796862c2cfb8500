/*
 * accounting: what each sender, domain, login, client or recipient sent
 * per calendar day, week or month, with optional limits (DESIGN.md,
 * "Policies"; reference/cbpolicyd.md 4.4).  A pure library: no sockets,
 * no clock, no SQL; every call takes `now`.
 *
 * The model.  A policy holds accountings (conf/ reads them):
 *
 *	accounting NAME {
 *	    track T                    (a quota's tracks and keys, quota.h)
 *	    period day|week|month
 *	    [limit messages N] [limit recipients N] [limit size 10M]
 *	    [verdict reject|tempfail|hold|discard|pass] [reply TEXT]
 *	    [stop] [keep N] [ipv6-prefix M]
 *	}
 *
 * Periods are calendar ones only, in the local zone like window.h's
 * (local midnight, ISO 8601 Monday, the 1st): an accounting answers "how
 * much in November"; a limit over a duration (1h) is a quota's.  A limit
 * needs a verdict and a verdict a limit (nothing else could use them);
 * defer is not a verdict of an accounting (it counts what it accepts: to
 * queue mail until there is room, use a quota).  `keep N` is how many
 * previous periods the counters keep (default 1: this month and the
 * last), 0 to POL_ACCT_KEEP_MAX.
 *
 * Period keys: "2026-11-24", ISO "2026-W48" (the ISO week-numbering
 * year: 2027-01-01 is in 2026-W53, never a split "2027/00"), "2026-11".
 *
 * Combination (reference/cbpolicyd.md 1.6): every accounting of every
 * matched policy applies, in ascending priority and as written, until
 * one with `stop`.
 *
 * Units are a quota's (quota.h's POL_UNIT_*): a message counts 1 per key
 * however many of its recipients the key covers; recipients one each;
 * size once per message and key, or once per recipient on Recipient
 * tracks.  A limit of N lets N through: a message is over when its own
 * amount would take a figure past the limit (cbpolicyd compares what was
 * counted before the message: its size limit lets one message past it,
 * its quotas N + 1 through).
 *
 * The decision (pol_acct_decide) runs once per message at end of DATA,
 * when the mail is accepted: relay/ runs it after the quota stage, with
 * pol_msg.skip true for the recipients that access control decided or a
 * quota held or discarded (bypass and replace are not read: a release
 * or a re-placement is not asked again).  A deferred recipient counts in
 * the period it was accepted in.  If the accounting refuses, relay/
 * undoes the quota decision; if the store fails, both are undone.
 */
#ifndef SLUICE_ACCOUNTING_H
#define SLUICE_ACCOUNTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "policy.h"
#include "quota.h"
#include "window.h"

#define POL_ACCT_KEEP_DEFAULT	1
#define POL_ACCT_KEEP_MAX	366	/* a year of days */
#define POL_ACCT_PERIOD_MAX	24	/* a period key and its NUL */

struct pol_acct {
	char			*name;
	char			*ident;		/* "policy/name", lower-cased */
	struct pol_policy	*policy;
	int			 line;
	enum pol_track		 track;
	bool			 has_track;
	unsigned		 v4_prefix;	/* SenderIP: 32 unless /N */
	unsigned		 v6_prefix;	/* 64 unless ipv6-prefix */
	int			 v6_line;	/* of ipv6-prefix, or 0 */
	struct pol_period	 period;
	bool			 has_period;
	int			 period_line;
	struct pol_limit	 limits[POL_NUNIT];
	size_t			 nlimit;
	enum pol_verdict	 verdict;	/* POL_V_NONE: none given */
	char			*reply;		/* or NULL: the default */
	int			 verdict_line;
	bool			 stop;
	unsigned		 keep;		/* previous periods kept */
	int			 keep_line;
};

/* The accountings of one policy set (conf/ builds it beside the set; it
 * points into the set's policies, so it goes before or with it). */
struct pol_accts {
	struct pol_acct		**accts;	/* by the policies' priority,
						   then as written, once
						   resolved */
	size_t			  nacct;
	const struct pol_set	 *set;		/* resolved against */
	bool			  resolved;
	size_t			 *span;		/* private: the policy of
						   index i has accts[span[2i]
						   .. span[2i + 1]) */
	size_t			  npolicy;	/* private: set's, then */
};

struct pol_accts *pol_accts_new(void);
void	pol_accts_free(struct pol_accts **);
/* NULL with err when the name is not valid (letters, digits, '-', '_',
 * '.') or the policy has an accounting of that name already. */
struct pol_acct *pol_acct_add(struct pol_accts *, struct pol_policy *,
	    const char *name, int line, char *err, size_t errsz);
/* A quota's tracks (pol_quota_set_track: any case, SenderIP:/N, the
 * closest track named).  -1 with err, also for a second track. */
int	pol_acct_set_track(struct pol_acct *, const char *text, int line,
	    char *err, size_t errsz);
/* day, week or month (pol_accts_resolve refuses a period in time); -1
 * with err for a second period. */
int	pol_acct_set_period(struct pol_acct *, const struct pol_period *,
	    int line, char *err, size_t errsz);
/* -1 with err when the unit was given already. */
int	pol_acct_add_limit(struct pol_acct *, enum pol_unit, uint64_t n,
	    int line, char *err, size_t errsz);
/* reject, tempfail, hold, discard or pass; reply as for
 * pol_policy_set_access.  -1 with err for defer (use a quota), ok, a
 * second verdict or a reply of the wrong class. */
int	pol_acct_set_verdict(struct pol_acct *, enum pol_verdict,
	    const char *reply, int line, char *err, size_t errsz);
/* 0 to POL_ACCT_KEEP_MAX previous periods; -1 with err otherwise. */
int	pol_acct_set_keep(struct pol_acct *, uint64_t n, int line, char *err,
	    size_t errsz);
/* Checks every accounting (a track and a calendar period, a limit with a
 * verdict, a verdict with a limit, ipv6-prefix 1 to 128 and on SenderIP
 * only, its policy in set) and orders them.  set must be resolved first,
 * and accts resolved again after set is (until then decisions find no
 * accounting).
 * Returns the number of errors, each given to err (may be NULL) with
 * its line as "policy P: accounting A: ..."; usable when 0. */
int	pol_accts_resolve(struct pol_accts *, const struct pol_set *set,
	    pol_error_fn *err, void *arg);
/* The limit of unit u, or NULL. */
const struct pol_limit *pol_acct_limit(const struct pol_acct *,
	    enum pol_unit);

/* The period of p holding now: its key into buf (POL_ACCT_PERIOD_MAX
 * bytes are enough), its first instant and the next period's.  A period
 * in seconds, or a time localtime_r(3) cannot represent, gives "@START". */
void	pol_acct_period_at(const struct pol_period *, int64_t now, char *buf,
	    size_t bufsz, int64_t *start, int64_t *end);
/* The period a key names ("2026-11-24", "2026-W48", "2026-11"): its kind
 * and bounds in the local zone now.  0, or -1 with *errstr when it is
 * not one (2026-W54, 2026-02-30). */
int	pol_acct_period_parse(const char *key, struct pol_period *,
	    int64_t *start, int64_t *end, const char **errstr);

/*
 * Counters: per accounting identity ("policy/accounting") and key, one
 * figure per period kept.  They outlive a configuration (a reload keeps
 * those whose identity and period kind it keeps).  One thread owns them.
 */
struct pol_acct_counters;

/* One period of one key, as stored.  used[] by POL_UNIT_*; size in
 * bytes. */
struct pol_acct_row {
	const char	*acct;		/* pol_acct.ident */
	const char	*key;
	const char	*period;	/* its key: the row's identity */
	int64_t		 start;		/* its first instant, for the store */
	uint64_t	 used[POL_NUNIT];
};

struct pol_acct_counters *pol_acct_counters_new(void);
void	pol_acct_counters_free(struct pol_acct_counters **);
/* Start-up: one stored row (replaces that period's figures).  The period
 * key decides, not start (the zone may have changed since).  -1 with
 * *errstr for a row whose period key is not one; all-zero rows are
 * skipped. */
int	pol_acct_load(struct pol_acct_counters *, const struct pol_acct_row *,
	    const char **errstr);
/* Keeps, per key, the period holding now, its accounting's keep previous
 * ones and any later one (a clock set back); forgets the rest, keys with
 * nothing left, and counters of accountings accts no longer has (or has
 * with another period).  What to delete from the store goes to *del
 * (used all 0; free with pol_acct_rows_free).  Returns the keys left. */
size_t	pol_acct_prune(struct pol_acct_counters *, const struct pol_accts *,
	    int64_t now, struct pol_acct_row **del, size_t *ndel);
size_t	pol_acct_counters_count(const struct pol_acct_counters *);
/* Frees rows whose strings were copied for the caller (prune's). */
void	pol_acct_rows_free(struct pol_acct_row *, size_t);

/*
 * The report (sluicectl accounting): cb per accounting of accts, key
 * (NULL: all) and period held, sorted by accounting (evaluation order),
 * key, then period, newest first; the current period only unless
 * history.  Pointers are valid during the call.
 */
struct pol_acct_usage {
	const struct pol_acct	*acct;
	const char		*key;
	const char		*period;	/* its key */
	int64_t			 start, end;
	bool			 current;	/* holds now */
	uint64_t		 used[POL_NUNIT];
	uint64_t		 limit[POL_NUNIT];	/* where has_limit */
	bool			 has_limit[POL_NUNIT];
	double			 pct[POL_NUNIT];	/* 100 x used / limit
							   (a limit of 0:
							   100); -1 without */
};
typedef void pol_acct_usage_cb(const struct pol_acct_usage *, void *arg);
void	pol_acct_report(struct pol_acct_counters *, const struct pol_accts *,
	    const char *key, bool history, int64_t now, pol_acct_usage_cb *cb,
	    void *arg);

/*
 * The decision at end of DATA.
 */
struct pol_acct_use {
	const struct pol_acct	*acct;
	char			*key;
	char			 period[POL_ACCT_PERIOD_MAX];
	int64_t			 start, end;	/* of the period */
	uint64_t		 used[POL_NUNIT];	/* before this message */
	uint64_t		 amount[POL_NUNIT];	/* its recipients' */
	enum pol_unit		 unit;		/* the first limit exceeded,
						   else the fullest (logs) */
	enum pol_verdict	 verdict;	/* NONE: within (or no
						   limit); else the acct's */
	size_t			 nrcpt;		/* recipients it covers */
	uint64_t		 counted[POL_NUNIT];	/* what it adds: its
							   recipients that
							   are not held,
							   discarded or
							   refused */
	/* private */
	size_t			*ri;
	uint32_t		 qid;
};

struct pol_acct_rcpt {
	enum pol_verdict	 verdict;	/* NONE or PASS (counted), HOLD,
						   DISCARD (not counted) */
	const struct pol_acct_use *use;		/* the deciding one, or NULL */
};

struct pol_acct_decision {
	/* REJECT or TEMPFAIL: the message is refused with reply and nothing
	 * counted; NONE otherwise */
	enum pol_verdict	 refuse;
	char			 reply[POL_REPLY_MAX + 32];
	struct pol_acct_rcpt	*rcpt;		/* nrcpt of them */
	size_t			 nrcpt;
	struct pol_acct_use	*use;
	size_t			 nuse;
	/* commit: the changed periods' new figures, for the store (strings
	 * point into the decision and the counters) */
	struct pol_acct_row	*rows;
	size_t			 nrow;
	bool			 committed;	/* private */
};

/*
 * Decides the message's recipients.  Over a limit, the accounting's
 * verdict: reject or tempfail refuse the message, hold or discard those
 * recipients (not counted anywhere), pass lets them go and count; a
 * recipient takes the strongest.  With commit the counters change;
 * without (explain) nothing does.  why (may be NULL) gets the trace.
 * The decision owns its memory: pol_acct_decision_clear() frees it.
 */
void	pol_acct_decide(const struct pol_accts *, struct pol_acct_counters *,
	    const struct pol_msg *, int64_t now, bool commit,
	    struct pol_acct_decision *out, struct buf *why);
/* The message was not stored after all: takes back what commit added
 * (a period left empty is forgotten). */
void	pol_acct_undo(struct pol_acct_counters *,
	    const struct pol_acct_decision *);
void	pol_acct_decision_clear(struct pol_acct_decision *);

#endif
