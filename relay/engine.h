/*
 * engine: the policy engine in the daemon (DESIGN.md, "Data flow", steps
 * 3 and 5).  It owns the quota counters (they outlive a reload), loads
 * them and the administrators' overrides from the queue database at
 * start-up, decides access at RCPT and quotas at end of DATA, logs those
 * decisions, and prunes what windows left behind.  Loop thread only.
 *
 * Identity (who sent): the original client's address and HELO (XFORWARD
 * from a trusted peer, else the peer), the sender, and the login: from a
 * trusted peer, the "(Authenticated sender: LOGIN)" of the newest
 * Received header (Postfix's smtpd_sasl_authenticated_header; past the
 * headers of trusted hosts, such as mta1's content filter) or an
 * X-Authenticated-User header; never from an untrusted one.
 */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "../conf/conf.h"
#include "../lib/addr.h"
#include "../lib/buf.h"
#include "../policy/quota.h"
#include "../queue/queue.h"

struct engine;

struct engine_ident {
	const struct addr	*client;	/* or NULL */
	const char		*helo;		/* or NULL */
	const char		*sender;	/* "" the null sender */
	const char		*sasl;		/* or NULL */
	bool			 login_pending;	/* RCPT from a trusted peer:
						   its header may name a
						   login at end of DATA */
};

/* Loads counters and overrides from q.  0, or -1 with *errstr. */
int	engine_new(struct engine **, struct event_base *, const struct conf *,
	    struct queue *, struct queue_writer *, const char **errstr);
/* A reload: the policies of conf from now on; counters kept. */
void	engine_set_conf(struct engine *, const struct conf *);
/* The RCPT filters' figures for `sluicectl status`: "greylisting":{...},
 * "helo":{...},"spf":{...}, (a trailing comma). */
void	engine_status_json(struct engine *, struct buf *);
/* Shutting down, before the writer stops: the state written behind goes
 * to it now. */
void	engine_stop(struct engine *);
void	engine_free(struct engine **);
struct pol_counters *engine_counters(struct engine *);
const struct pol_set *engine_policies(const struct engine *);
const struct conf *engine_conf(const struct engine *);

/* The login a trusted peer's message header names, or NULL: a malloc'd
 * string.  msg: the message from its header section on.  The Received
 * headers are read newest first while they record a hop from a trusted
 * network (mta1's content filter re-injecting), and the first
 * "(Authenticated sender: LOGIN)" wins; else X-Authenticated-User. */
char	*engine_sasl_from_header(const struct conf *, const char *msg,
	    size_t len);
/* "IPV6:2001:db8::1" or "192.0.2.1" (XFORWARD ADDR) into a. */
bool	engine_parse_client(const char *, struct addr *);

/* RCPT: access control for one recipient.  The verdict of the first
 * matched policy with a rule (POL_V_NONE when none, or when that rule's
 * policy has a sasl dimension and the login is pending: the end of DATA
 * decides); reply is the SMTP reply for reject and tempfail.  Logs the
 * refusals. */
enum pol_verdict engine_rcpt(struct engine *, const struct engine_ident *,
	    const char *rcpt, const char *id, char *reply, size_t replysz);

/*
 * RCPT, all of it (DESIGN.md, "Data flow", step 3): access control, then
 * the HELO checks, SPF and greylisting of the matched policies, in
 * cbpolicyd's order; the first refusal wins.  An access verdict of ok,
 * hold or discard ends it (cbpolicyd's OK stops the later modules).
 * HELO's DNS look-up and SPF run off the loop: their answers are kept
 * in the transaction's engine_tx (one look-up, one SPF check per
 * transaction), so a later recipient is decided at once.
 */
struct engine_tx;

struct engine_rcpt_out {
	enum pol_verdict verdict;	/* as engine_rcpt's; a filter's
					   refusal is REJECT or TEMPFAIL */
	const char	*module;	/* the refusing one: "access",
					   "helo", "spf", "greylisting" */
	char		 reply[POL_REPLY_MAX + 64];
};

typedef void engine_rcpt_cb(void *arg, const struct engine_rcpt_out *);

/* One per mail transaction; free cancels a check in flight (its
 * callback never runs).  free accepts NULL and clears the pointer. */
struct engine_tx *engine_tx_new(void);
void	engine_tx_free(struct engine_tx **);
/* The Received-SPF value to prepend (some accepted recipient's policies
 * asked for it), or NULL. */
const char *engine_tx_spf_header(const struct engine_tx *);

/* Decides rcpt: true with *out when it is decided now; false when
 * cb(arg, out) follows on the loop (one check at a time per engine_tx).
 * id and its strings must stay as they are until then (the session
 * reads nothing while it waits). */
bool	engine_rcpt_check(struct engine *, struct engine_tx *,
	    const struct engine_ident *, const char *rcpt, const char *qid,
	    struct engine_rcpt_out *out, engine_rcpt_cb *cb, void *arg);

/* `sluicectl explain`: the HELO checks, SPF and greylisting for rcpt as
 * at RCPT (after access control let it through), with no side effect and
 * no network: lines appended to why (indented by two), the refusal, if
 * any, in *out ("helo" or "greylisting"; verdict POL_V_NONE when it
 * would pass). */
void	engine_explain_filters(struct engine *, const struct engine_ident *,
	    const char *rcpt, struct buf *why, struct engine_rcpt_out *out);

/* End of DATA: the quota stage (pol_quota_decide with commit), logged
 * with cbpolicyd's quota=N/LIMIT (P%) figure.  access[i] is the verdict
 * access gave recipient i (ok exempts it from quotas; held and discarded
 * recipients are not counted either).
 * The caller stores d->rows with the message, or calls
 * pol_decision_undo() if the store fails. */
void	engine_data(struct engine *, const struct engine_ident *,
	    const char *const *rcpts, const enum pol_verdict *access,
	    size_t nrcpt, uint64_t size, const char *id,
	    struct pol_decision *d);
/* Converts the decision's rows for the store (pointers into d). */
/* An administrator releases held (or, bypassing, deferred) recipients of
 * a stored message: the quota stage again for those skip leaves in (the
 * others are not counted); with bypass they all go now, counted now
 * whatever the limits say, and the quota lines say verdict=bypass; with
 * replace (start-up: deferred mail whose window passed while sluiced was
 * down) they are placed again without the backlog and max-defer bounds
 * (api.h's api_release_late() is that start-up pass). */
void	engine_release(struct engine *, const struct engine_ident *,
	    const char *const *rcpts, const bool *skip, size_t nrcpt,
	    uint64_t size, const char *id, bool bypass, bool replace,
	    struct pol_decision *d);
struct queue_counter *engine_rows(const struct pol_decision *, size_t *n);
/* The decision's reservations as the queue stores them (d->nresv of
 * them, pointing into d; recipient r's are [rcpt[r].resv0, +nresv)). */
struct queue_counter *engine_resv(const struct pol_decision *);
/* Deferred recipients that will not leave (deleted, held, released,
 * expired) give back what they reserved in windows not started yet; the
 * keys' new figures are stored by a writer job of their own.  The rows
 * are the queue's (copied as needed). */
void	engine_giveback(struct engine *, const struct queue_counter *resv,
	    size_t n);

#endif
