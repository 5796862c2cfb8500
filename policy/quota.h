/*
 * quota: quotas of policies, their counters and the end-of-DATA decision
 * (DESIGN.md, "Quotas").  A pure library: every call takes `now`.
 *
 * The model (quota.c).  A policy holds quotas:
 *
 *	quota NAME {
 *	    track Sender:user@domain | Sender:@domain | Sender:user@ |
 *	          SenderIP[:/N] | Recipient:user@domain | Recipient:@domain |
 *	          Recipient:user@ | SASLUsername | Policy
 *	    period 30s|5m|1h|1d|day|week|month
 *	    [window fixed|sliding]
 *	    limit messages N | recipients N | size 10M     (one or more)
 *	    [verdict defer|tempfail|reject|hold|discard|pass] [reply TEXT]
 *	    [stop]
 *	    [ipv6-prefix M]                     (SenderIP only; default 64)
 *	    [release burst|smooth] [backlog N] [when-full tempfail|hold|reject]
 *	    [max-defer 5d] [tell-sender delay]
 *	    [notify 50% 100% to NOTIFIER...]
 *	}
 *
 * Tracks are read without regard to case (cbpolicyd's spellings).  The
 * verdict defaults to defer.  pol_set_resolve() checks each quota: a
 * period and at least one limit, `limit 0` with defer (the mail could
 * never leave), `window sliding` with a calendar period, ipv6-prefix on
 * a track that is not SenderIP; each error with its line.
 *
 * Keys (what a quota counts per), normalised: lower-cased (matching
 * ignores case, so counting does too: `Alice@` cannot get a quota of her
 * own), an IPv4-mapped client as IPv4:
 *	Sender:user@domain	alice@example.com  (the null sender: <>)
 *	Sender:@domain		@example.com
 *	Sender:user@		alice@
 *	SenderIP:/24		192.0.2.0/24, 2001:db8:1:2::/64
 *	Recipient:...		as Sender, per recipient
 *	SASLUsername		the login (mail without one is not counted)
 *	Policy			the policy's name: one counter for all
 * A counter's identity is "policy/quota/track" (pol_quota.ident) and the
 * key, so counters survive a reload that keeps those.
 */
#ifndef SLUICE_QUOTA_H
#define SLUICE_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "policy.h"
#include "window.h"

enum pol_track {
	POL_TRACK_SENDER,		/* Sender:user@domain */
	POL_TRACK_SENDER_DOMAIN,	/* Sender:@domain */
	POL_TRACK_SENDER_LOCAL,		/* Sender:user@ */
	POL_TRACK_SENDER_IP,		/* SenderIP, SenderIP:/N */
	POL_TRACK_RCPT,			/* Recipient:user@domain */
	POL_TRACK_RCPT_DOMAIN,		/* Recipient:@domain */
	POL_TRACK_RCPT_LOCAL,		/* Recipient:user@ */
	POL_TRACK_SASL,			/* SASLUsername */
	POL_TRACK_POLICY		/* Policy */
};

enum pol_unit {
	POL_UNIT_MESSAGES,	/* a message counts 1 per key */
	POL_UNIT_RECIPIENTS,	/* one per recipient the key covers */
	POL_UNIT_SIZE,		/* bytes: once per message, or per
				   recipient on Recipient tracks */
	POL_NUNIT
};

enum pol_wkind {
	POL_WIN_FIXED,
	POL_WIN_SLIDING
};

enum pol_release {
	POL_RELEASE_BURST,
	POL_RELEASE_SMOOTH
};

#define POL_NOTIFY_MAX	8	/* thresholds per quota */

struct pol_limit {
	enum pol_unit	 unit;
	uint64_t	 n;
	int		 line;
};

struct pol_quota {
	char			*name;
	char			*ident;		/* "policy/quota/track", lower-
						   cased, once resolved */
	struct pol_policy	*policy;
	int			 line;
	uint32_t		 id;		/* position in set->quotas */
	enum pol_track		 track;
	bool			 has_track;
	unsigned		 v4_prefix;	/* SenderIP: 32 unless /N */
	unsigned		 v6_prefix;	/* 64 unless ipv6-prefix */
	int			 v6_line;	/* of ipv6-prefix, or 0 */
	struct pol_period	 period;
	bool			 has_period;
	int			 period_line;
	enum pol_wkind		 window;
	int			 window_line;
	struct pol_limit	 limits[POL_NUNIT];
	size_t			 nlimit;
	enum pol_verdict	 verdict;	/* default POL_V_DEFER */
	char			*reply;		/* or NULL: the default */
	int			 verdict_line;
	bool			 stop;
	/* deferral (quota_eval.c places, relay/ stores and releases) */
	enum pol_release	 release;
	uint64_t		 backlog;	/* 0: pol_quota_backlog() */
	enum pol_verdict	 when_full;	/* tempfail, hold or reject */
	uint64_t		 max_defer;	/* seconds, default 5 days */
	bool			 tell_sender;	/* tell-sender delay */
	/* notify P% ... to NAME ...: the thresholds in ascending order,
	 * distinct, 1 to 100; the notifiers' names (conf/ checks that
	 * each is defined); quota_eval.c announces crossings, relay/
	 * delivers them */
	unsigned		 notify_pct[POL_NOTIFY_MAX];
	size_t			 nnotify;
	char			**notify_to;
	size_t			 nnotify_to;
	int			 notify_line;
};

#define POL_MAX_DEFER_DEFAULT	(5 * 86400)

/* quota.c: building the model (conf/ calls these). */
const char *pol_track_name(enum pol_track);	/* "Sender:user@domain" */
/* Writes the track as conf reads it back ("SenderIP:/24"). */
void	pol_track_format(const struct pol_quota *, char *buf, size_t bufsz);
const char *pol_unit_name(enum pol_unit);	/* "messages" ... */
/* NULL with err when the name is taken in this policy or not valid. */
struct pol_quota *pol_quota_add(struct pol_set *, struct pol_policy *,
	    const char *name, int line, char *err, size_t errsz);
/* "Sender:user@domain" ... any case; "SenderIP:/N" with 1 <= N <= 32.
 * -1 with err naming the tracks (and the closest one) otherwise. */
int	pol_quota_set_track(struct pol_quota *, const char *text, int line,
	    char *err, size_t errsz);
/* -1 with err when the unit was given already. */
int	pol_quota_add_limit(struct pol_quota *, enum pol_unit, uint64_t n,
	    int line, char *err, size_t errsz);
/* verdict: one of defer, tempfail, reject, hold, discard, pass; reply as
 * for pol_policy_set_access. */
int	pol_quota_set_verdict(struct pol_quota *, enum pol_verdict,
	    const char *reply, int line, char *err, size_t errsz);
/* notify: pct[0..npct) (1 to 100, any order, no repeats) to the
 * notifiers to[0..nto) (names, copied).  -1 with err for a threshold out
 * of range or repeated, more than POL_NOTIFY_MAX, none, no notifier, a
 * notifier named twice, or a second notify in the quota. */
int	pol_quota_set_notify(struct pol_quota *, const unsigned *pct,
	    size_t npct, const char *const *to, size_t nto, int line,
	    char *err, size_t errsz);
/* The deferred recipients a key may have waiting: backlog, or by default
 * 10 x the messages or recipients limit (the first written, not 0), or
 * POL_BACKLOG_SIZE_ONLY for a quota that limits only size. */
#define POL_BACKLOG_SIZE_ONLY	10000
uint64_t pol_quota_backlog(const struct pol_quota *);
/* Settings that are valid but likely a mistake, for a deferring quota:
 * max-defer shorter than its period, or than a full backlog takes to
 * leave (mail past max-defer is refused with when-full's answer).  One
 * call of warn per quota, with its line. */
void	pol_set_warnings(const struct pol_set *, pol_error_fn *warn,
	    void *arg);
/* The limit an override replaces: the first of messages or recipients,
 * else the first (a quota on size alone). */
size_t	pol_quota_override_index(const struct pol_quota *);
/* The limit of unit u, or NULL. */
const struct pol_limit *pol_quota_limit(const struct pol_quota *,
	    enum pol_unit);
/* Takes q out of its policy and frees it (before pol_set_resolve): conf/
 * drops a quota whose statements had errors, already reported, so that
 * resolve does not echo them ("no track" after an unknown track). */
void	pol_quota_remove(struct pol_quota *);

/*
 * Counters (counter.c): per quota identity and key, the fixed windows
 * with something counted or reserved in them (the current one and, for
 * deferred mail, later ones), or the decayed value of a sliding one.
 * They outlive a configuration: a reload keeps them.  Not thread-safe:
 * one thread (the event loop) owns them.
 */
struct pol_counters;

/* One window of one key, as stored in the database.  For a sliding
 * window, start is the last update and used the value then. */
struct pol_counter_row {
	const char	*quota;		/* pol_quota.ident */
	const char	*key;
	int64_t		 start;
	double		 used[POL_NUNIT];
	unsigned	 notified;	/* the highest notify threshold
					   announced in this window (0:
					   none); a sliding counter's since
					   its use last fell below it */
};

struct pol_counters *pol_counters_new(void);
void	pol_counters_free(struct pol_counters **);
/* Start-up: one stored row (replaces that window's figures). */
void	pol_counters_load(struct pol_counters *, const struct pol_counter_row *);
/* Forgets windows that ended before now (fixed) or decayed to 0
 * (sliding), keys with nothing left, and counters of quotas set no longer
 * has.  Rows that should go from the database are given to drop (may be
 * NULL).  Returns how many keys are left. */
size_t	pol_counters_prune(struct pol_counters *, const struct pol_set *,
	    int64_t now, void (*drop)(void *, const char *quota,
	    const char *key), void *arg);
size_t	pol_counters_count(const struct pol_counters *);	/* keys */
/* A reload: the counters of each quota whose period changed (same
 * identity in old and set) move to the new period's windows: a window
 * goes to the new one holding its start while that is current or later,
 * else to the current one if it reached into it (a shorter period: the
 * counts may be from any time up to then; no limit is granted afresh),
 * else it is over.  Keys with more than 64 windows keep their first 64. */
void	pol_counters_repoint(struct pol_counters *, const struct pol_set *old,
	    const struct pol_set *set, int64_t now);

/* Admin overrides (sluicectl quota set|exempt|clear): for KEY in every
 * quota that counts it, a different limit (pol_quota_override_index: the
 * first messages or recipients limit, else the first), or none at all. */
enum pol_override_kind {
	POL_OVR_NONE,
	POL_OVR_LIMIT,
	POL_OVR_EXEMPT
};
void	pol_counters_override(struct pol_counters *, const char *key,
	    enum pol_override_kind, uint64_t limit);
enum pol_override_kind pol_counters_override_of(const struct pol_counters *,
	    const char *key, uint64_t *limit);

/*
 * The report (sluicectl quota): cb once per quota and key with something
 * counted or reserved, for the quotas of set (key NULL: all keys).  Ended
 * windows are dropped on the way, as a decision would.
 */
struct pol_usage_report {
	const struct pol_quota	*quota;
	const char		*key;
	int64_t			 start, end;	/* current window */
	double			 used[POL_NUNIT];	/* in it */
	double			 reserved[POL_NUNIT];	/* in later ones */
	int64_t			 last_release;	/* of the reservations, or 0 */
	enum pol_override_kind	 override;
	uint64_t		 override_limit;
};
typedef void pol_usage_cb(const struct pol_usage_report *, void *arg);
void	pol_counters_report(struct pol_counters *, const struct pol_set *,
	    const char *key, int64_t now, pol_usage_cb *, void *arg);

/*
 * The decision at end of DATA (quota_eval.c), once per message.
 */
struct pol_msg {
	const struct addr	*client;	/* the original client, or NULL */
	const char		*helo;		/* or NULL */
	const char		*sender;	/* "" for the null sender */
	const char		*sasl;		/* or NULL */
	const char *const	*rcpts;
	const bool		*skip;		/* per recipient, or NULL: true
						   when access decided it (ok,
						   hold, discard): no quota
						   counts it */
	size_t			 nrcpt;
	uint64_t		 size;		/* bytes */
	bool			 bypass;	/* an administrator sends it
						   now whatever the quotas
						   say: counted now, no
						   verdict */
	bool			 replace;	/* accepted before (its window
						   passed while sluiced was
						   down): placed again with no
						   backlog or max-defer bound
						   (past max-defer it bounces) */
};

/* What a commit added to one window (for pol_decision_undo). */
struct pol_applied {
	int64_t		 start;
	double		 add[POL_NUNIT];
};

/* One quota and key the message met: for logs, explain and the store. */
struct pol_use {
	const struct pol_quota	*quota;
	char			*key;
	enum pol_unit		 unit;		/* the limit that decided:
						   exceeded, else the
						   fullest */
	double			 used;		/* before this message */
	double			 amount;	/* this message's */
	uint64_t		 limit;		/* 0 with exempt */
	bool			 exempt;
	int64_t			 start, end;	/* window counted in */
	enum pol_verdict	 verdict;	/* NONE: within the limit */
	int64_t			 release;	/* defer: the first deferred
						   recipient's release */
	int64_t			 release_last;	/* and the last one's */
	size_t			 ndeferred;	/* its recipients deferred */
	size_t			 nrcpt;		/* recipients it covers */
	bool			 never;		/* the message can never fit */
	bool			 full;		/* the key's backlog is full:
						   verdict is when-full's */
	/* private */
	size_t			*ri;		/* those recipients */
	uint32_t		 qid;
	bool			 sliding;
	struct pol_centry	*e;		/* during the decision */
	double			 a[POL_NUNIT];	/* this message's amount */
	double			 lim[POL_NUNIT];	/* the limits in force */
	struct pol_applied	*applied;	/* this message's adds: fixed,
						   per window; sliding, per
						   placement in order */
	size_t			 napplied;
	int64_t			 last_t;	/* latest placement so far */
	bool			 placed;	/* the message counted once */
	struct pol_cwin		*vw;		/* sliding: the counter as the
						   placements so far left it */
	int64_t			 vw0_start;	/* and as stored */
	double			 vw0_used[POL_NUNIT];
	double			 waiting;	/* the key's deferred
						   recipients before this
						   message (sliding: an
						   estimate) */
	bool			 late;		/* a deferred one would wait
						   past max-defer: full */
	bool			 too_many;	/* never: more recipients to
						   defer than the backlog */
};

struct pol_rcpt_out {
	enum pol_verdict	 verdict;	/* NONE (deliver now), PASS
						   (now, over a limit),
						   DEFER, HOLD, DISCARD */
	int64_t			 release;	/* DEFER: due time */
	const struct pol_use	*use;		/* the deciding one, or NULL:
						   DEFER, the one it waits
						   for longest */
	/* DEFER: how long it may wait (the smallest max-defer of the
	 * quotas that defer it), whether its sender is to be told
	 * (tell-sender delay), and the capacity it holds in later windows:
	 * resv[0..nresv) of the decision's resv */
	uint64_t		 max_defer;
	bool			 tell_sender;
	size_t			 resv0, nresv;
};

/*
 * A notify threshold a key reached with this message (commit only): at
 * most one per quota and key, the highest one it reached and that was
 * not announced yet in the window.  Use counts what is deferred: the
 * window's use and the key's reservations in later windows, against the
 * limit, of the fullest limit.
 */
struct pol_notice {
	const struct pol_quota	*quota;
	const char		*key;		/* the use's */
	unsigned		 threshold;	/* percent */
	enum pol_unit		 unit;		/* the fullest limit */
	double			 used;		/* in the window, this
						   message included */
	uint64_t		 limit;
	int64_t			 start, end;	/* the window (sliding: the
						   period up to now) */
	double			 deferred;	/* reserved in later windows */
	int64_t			 next_release;	/* the first later window
						   with some, or 0 */
	/* private: the window's notified level before (undo) */
	unsigned		 prev;
};

struct pol_decision {
	/* REJECT or TEMPFAIL: the whole message is refused with reply and
	 * nothing was counted; NONE otherwise */
	enum pol_verdict	 refuse;
	char			 reply[POL_REPLY_MAX + 32];
	struct pol_rcpt_out	*rcpt;		/* nrcpt of them */
	size_t			 nrcpt;
	struct pol_use		*use;
	size_t			 nuse;
	/* the counters' new figures, to store with the message (commit) */
	struct pol_counter_row	*rows;
	size_t			 nrow;
	/* what each deferred recipient reserves: one row per quota and
	 * key that counts it, its amount in the window it leaves in (a
	 * sliding counter: the time it leaves); give it back with
	 * pol_counters_giveback() if it does not leave after all */
	struct pol_counter_row	*resv;
	size_t			 nresv;
	/* the thresholds reached (commit): store them with the message */
	struct pol_notice	*notice;
	size_t			 nnotice;
	/* private */
	size_t			*ru, *ru0;	/* recipient r's uses:
						   ru[ru0[r]..ru0[r + 1]) */
};

/*
 * Decides every recipient.  With commit, the counters change (counted
 * now, reserved later for defer); without, nothing changes (explain).
 * why (may be NULL) gets the trace: each recipient's matched policies and
 * why, each quota met with key, used/limit and window, each verdict.
 * The decision owns its memory: pol_decision_clear() frees it.
 */
void	pol_quota_decide(const struct pol_set *, struct pol_counters *,
	    const struct pol_msg *, int64_t now, bool commit,
	    struct pol_decision *out, struct buf *why);
/* The message was not stored after all: gives back what commit took. */
void	pol_decision_undo(struct pol_counters *, const struct pol_decision *);

/*
 * A deferred recipient does not leave after all (deleted, held, released
 * early, expired): what it reserved (rows as the decision's resv gave
 * them) goes back, in windows that have not started by now (a sliding
 * counter: a reservation not reached yet); a window that started has
 * spent it.  The keys changed get their new figures in *out (to store;
 * free with pol_rows_free); quotas set no longer has are left alone.
 */
void	pol_counters_giveback(struct pol_counters *, const struct pol_set *,
	    const struct pol_counter_row *resv, size_t n, int64_t now,
	    struct pol_counter_row **out, size_t *nout);
/* Frees rows whose quota and key strings were copied for the caller. */
void	pol_rows_free(struct pol_counter_row *, size_t);
void	pol_decision_clear(struct pol_decision *);

#endif
