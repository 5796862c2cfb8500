/*
 * engine_acct: the accountings in the daemon (policy/accounting.h;
 * reference/cbpolicyd.md 4.4).  The engine owns their counters: loaded
 * from the queue database at start-up, kept across reloads, changed at
 * end of DATA after the quota stage and stored with the message, pruned
 * (`keep N` previous periods; accountings gone) at start-up, at each
 * reload and every minute, the rows deleted by a writer job.  Loop thread
 * only; the rows handed to the store point into a decision and the
 * counters, which outlive the writer job that reads them.
 */
#ifndef SLUICE_ENGINE_ACCT_H
#define SLUICE_ENGINE_ACCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../policy/accounting.h"
#include "../queue/queue.h"
#include "engine.h"

/* End of DATA, after the quota stage: pol_acct_decide with commit for
 * the recipients skip leaves in (true: access decided them, or a quota
 * held or discarded them), one log line per accounting and key.  d is
 * the caller's (pol_acct_decision_clear): when d->refuse, nothing was
 * counted and the message is refused with d->reply; else the caller
 * stores engine_acct_rows() with the message, or calls engine_acct_undo
 * when the store fails. */
void	engine_acct_data(struct engine *, const struct engine_ident *,
	    const char *const *rcpts, const bool *skip, size_t nrcpt,
	    uint64_t size, const char *qid, struct pol_acct_decision *d);
/* The decision's rows as the queue stores them (*n of them, pointing
 * into d and the counters; free the array only), or NULL. */
struct queue_acct_row *engine_acct_rows(const struct pol_acct_decision *,
	    size_t *n);
/* The message was not stored: what d counted goes back. */
void	engine_acct_undo(struct engine *, const struct pol_acct_decision *);

/* explain: the decision for m now, without counting (commit false); the
 * trace into why (may be NULL). */
void	engine_acct_explain(struct engine *, const struct pol_msg *m,
	    int64_t now, struct pol_acct_decision *d, struct buf *why);
/* sluicectl accounting: pol_acct_report over the configured accountings
 * (key NULL: every key; history: the periods kept before the current
 * one too). */
void	engine_acct_report(struct engine *, const char *key, bool history,
	    int64_t now, pol_acct_usage_cb *cb, void *arg);
/* The track as the configuration writes it ("SenderIP:/24"). */
void	engine_acct_track(const struct pol_acct *, char *buf, size_t bufsz);

#endif
