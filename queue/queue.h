/*
 * queue: the durable queue as a library.  One SQLite database (WAL mode)
 * under the state directory holds each message (envelope, the original
 * client's context, the body) and each recipient's state and due time.
 *
 * No sockets, no policy, no clock: every call that needs the time takes
 * `now` (Unix seconds) from its caller.
 *
 * Threads: a struct queue has two SQLite connections.  The writer
 * connection is used only by the writer thread (queue_writer_*), which
 * runs every change inside a transaction and groups the changes of
 * concurrent callers into one commit (group commit).  The reader
 * connection serves the reader calls (queue_list, queue_show, queue_body,
 * queue_stats, queue_load_pending, queue_load_delivery) from the caller's
 * (main) thread.
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_SIZE	17	/* 16 characters and the NUL */

enum queue_state {
	QUEUE_READY,		/* due now: waiting for delivery */
	QUEUE_DEFERRED,		/* held back by a quota until its due time */
	QUEUE_RETRY,		/* a delivery failed; retried at its due time */
	QUEUE_HOLD,		/* parked until an administrator releases it */
	QUEUE_DONE		/* delivered, bounced or discarded */
};

#define QUEUE_F_8BITMIME	0x01	/* BODY=8BITMIME */
#define QUEUE_F_SMTPUTF8	0x02	/* SMTPUTF8 */

/*
 * One window of one quota counter (policy/quota.h's pol_counter_row, as
 * relay/ converts it).  As a recipient's reservation: what that recipient
 * holds in window `start` of the counter (quota, key); a reservation does
 * not keep notified (it reads 0).
 */
struct queue_counter {
	const char	*quota;		/* "policy/quota" */
	const char	*key;		/* "a@b.example", "192.0.2.0/24" */
	int64_t		 start;		/* window start; sliding: updated */
	double		 used[3];	/* messages, recipients, bytes */
	unsigned	 notified;	/* the highest alert threshold already
					   announced for this window, in
					   percent (0: none); opaque here */
};

#define QUEUE_RF_BYPASS		0x01	/* released by an administrator,
					   bypassing its quota */
#define QUEUE_RESV_MAX		256	/* reservations per recipient */

/*
 * A recipient to store.  The quota fields are opaque to queue/ (relay/
 * fills them in) and zero means none: quota and qkey say which quota and
 * key hold a deferred recipient back, expire when it stops waiting (Unix
 * seconds; 0 never), resv[0..nresv) the capacity it reserves.  Only a
 * QUEUE_DEFERRED recipient may hold reservations.
 */
struct queue_rcpt_in {
	const char		*addr;
	enum queue_state	 state;
	int64_t			 due;		/* Unix seconds */
	const char		*quota;		/* "outbound/per-user" */
	const char		*qkey;		/* "alice@example.com" */
	int64_t			 expire;
	unsigned		 rflags;	/* QUEUE_RF_* */
	const struct queue_counter *resv;
	size_t			 nresv;
};

/* A message as the SMTP session hands it to the store.  The caller keeps
 * every pointer valid until the commit callback has run. */
struct queue_msg {
	char			 id[QUEUE_ID_SIZE];
	int64_t			 arrival;	/* Unix seconds */
	const char		*sender;	/* "" for the null sender */
	unsigned		 flags;		/* QUEUE_F_* */
	/* the original client (XFORWARD from a trusted peer, else the peer) */
	const char		*client_addr;
	const char		*client_port;
	const char		*client_name;
	const char		*client_helo;
	const char		*client_proto;	/* SMTP or ESMTP */
	const char		*client_ident;	/* XFORWARD IDENT, or NULL */
	const char		*client_source;	/* LOCAL or REMOTE, or NULL */
	/* the peer that spoke to us (mta1 behind XFORWARD) */
	const char		*peer_addr;
	const char		*peer_helo;
	const char		*sasl_user;	/* or NULL */
	const struct queue_rcpt_in *rcpts;
	size_t			 nrcpt;
	const char		*body;		/* headers and body, CRLF lines */
	size_t			 body_len;
};

/* One row of a listing. */
struct queue_info {
	char		 id[QUEUE_ID_SIZE];
	int64_t		 arrival;
	const char	*sender;
	uint64_t	 size;
	unsigned	 nrcpt;		/* all recipients */
	unsigned	 npending;	/* recipients not done */
	unsigned	 nstate[QUEUE_DONE + 1];	/* recipients per state */
	int64_t		 next_due;	/* earliest due time of a pending one */
};

/* One recipient of a detail; rcpts[i] is recipient index i. */
struct queue_rcpt_info {
	const char		*addr;
	enum queue_state	 state;
	int64_t			 due;		/* next attempt, or release */
	unsigned		 attempts;	/* failed attempts so far */
	const char		*last_reply;	/* or NULL */
	int64_t			 first_attempt;	/* 0: never tried */
	int64_t			 last_attempt;	/* 0: never tried */
	const char		*dsn_status;	/* "4.4.1", or NULL */
	const char		*quota;		/* or NULL */
	const char		*qkey;		/* or NULL */
	int64_t			 expire;	/* 0: never */
	unsigned		 rflags;	/* QUEUE_RF_* */
	size_t			 nresv;		/* reservations it holds */
	bool			 resv_bad;	/* they cannot be read */
};

/* A whole message but its body, for `queue show`. */
struct queue_detail {
	struct queue_info	 info;
	const char		*client_addr, *client_name, *client_helo;
	const char		*client_proto, *peer_addr, *peer_helo;
	const char		*sasl_user;
	unsigned		 flags;
	struct queue_rcpt_info	*rcpts;
	size_t			 nrcpt;
};

struct queue_stats {
	uint64_t	messages;
	uint64_t	rcpts[QUEUE_DONE + 1];	/* per state */
	uint64_t	bytes;
};

/* One pending recipient as queue_load_pending gives it to the scheduler.
 * The strings live only during the callback. */
struct queue_pending {
	const char		*id;
	int			 rcpt;		/* index within the message */
	const char		*addr;
	enum queue_state	 state;		/* never QUEUE_DONE */
	int64_t			 due;
	unsigned		 attempts;
	int64_t			 first_attempt;	/* 0: never tried */
	int64_t			 arrival;
	const char		*sender;	/* "" for the null sender */
	unsigned		 flags;		/* QUEUE_F_* */
	uint64_t		 size;		/* of the body */
	const char		*quota;		/* or NULL */
	const char		*qkey;		/* or NULL */
	int64_t			 expire;	/* 0: never */
	unsigned		 rflags;	/* QUEUE_RF_* */
};

/* A recipient of a message loaded for delivery. */
struct queue_delivery_rcpt {
	int			 rcpt;		/* index within the message */
	const char		*addr;
	enum queue_state	 state;
	int64_t			 due;
	unsigned		 attempts;
	int64_t			 first_attempt;	/* 0: never tried */
	int64_t			 last_attempt;	/* 0: never tried */
	const char		*last_reply;	/* or NULL */
	const char		*dsn_status;	/* or NULL */
	const char		*quota;		/* or NULL */
	const char		*qkey;		/* or NULL */
	int64_t			 expire;	/* 0: never */
	unsigned		 rflags;	/* QUEUE_RF_* */
};

/* A message as the SMTP client needs it: envelope, body and every
 * recipient (done ones included), in recipient order.  Owns all of it. */
struct queue_delivery {
	char			 id[QUEUE_ID_SIZE];
	int64_t			 arrival;
	const char		*sender;	/* "" for the null sender */
	unsigned		 flags;		/* QUEUE_F_* */
	char			*body;		/* with a NUL after body_len */
	size_t			 body_len;	/* the body may hold NULs */
	struct queue_delivery_rcpt *rcpts;
	size_t			 nrcpt;
};

/*
 * A recipient an operation changed, so the scheduler can follow:
 * rcpt -1 with QUEUE_DONE means the whole message was deleted.  Called on
 * the writer thread inside the job; id and resv live only during the
 * call, and the callback must not call into the queue.
 *
 * resv[0..nresv) are the reservations the recipient gave up by this
 * change (it was QUEUE_DEFERRED and was held, deleted, released or
 * requeued): relay/ gives that capacity back.  resv_bad: it had some but
 * they could not be read (nothing to give back; worth a log line).
 */
struct queue_change {
	const char		*id;
	int			 rcpt;
	enum queue_state	 state;		/* the new state */
	int64_t			 due;
	const struct queue_counter *resv;
	size_t			 nresv;
	bool			 resv_bad;
};
typedef void queue_change_cb(const struct queue_change *, void *arg);

struct queue;
struct queue_txn;
struct queue_writer;

/* Opens (creating when missing) DIR/queue.db with its schema.  0, or -1
 * with *errstr (a static or thread-local message). */
int	queue_open(struct queue **, const char *dir, const char **errstr);
void	queue_close(struct queue **);

/* A new unique queue id (16 characters from [0-9A-Z], sortable by time),
 * from a microsecond timestamp and a counter. */
void	queue_id_new(char id[QUEUE_ID_SIZE], int64_t now_usec);
bool	queue_id_is_valid(const char *);

const char *queue_state_name(enum queue_state);
/* -1 when the name is not a state. */
int	queue_state_from_name(const char *);

/*
 * Start-up recovery: checks the database, finishes what a crash left half
 * done (messages whose recipients are all done are removed) and fills
 * *stats.  Run before the writer starts.  0 or -1.
 */
int	queue_recover(struct queue *, int64_t now, struct queue_stats *,
	    const char **errstr);

/* Reader calls (caller's thread). */
typedef void queue_list_cb(const struct queue_info *, void *arg);
/* state < 0: all messages; otherwise those with a recipient in state.
 * sender NULL: all senders.  Ordered by arrival. */
int	queue_list(struct queue *, int state, const char *sender,
	    queue_list_cb *, void *arg, const char **errstr);
/* 1 and *detail (free with queue_detail_free) when found, 0 when not,
 * -1 on error. */
int	queue_show(struct queue *, const char *id, struct queue_detail **,
	    const char **errstr);
void	queue_detail_free(struct queue_detail **);
/* 1 and a malloc'd copy of the body when found, 0 when not, -1 on error. */
int	queue_body(struct queue *, const char *id, char **body, size_t *len,
	    const char **errstr);
int	queue_stats(struct queue *, struct queue_stats *, const char **errstr);

/* One recipient of a per-recipient listing (sluicectl queue --state
 * deferred).  The strings live only during the callback. */
struct queue_rcpt_row {
	const char		*id;
	int64_t			 arrival;
	const char		*sender;	/* "" for the null sender */
	int			 rcpt;		/* index within the message */
	const char		*addr;
	enum queue_state	 state;		/* never QUEUE_DONE */
	int64_t			 due;
	const char		*quota;		/* or NULL */
	const char		*qkey;		/* or NULL */
	int64_t			 expire;	/* 0: never */
	unsigned		 rflags;	/* QUEUE_RF_* */
	unsigned		 attempts;
};
typedef void queue_rcpt_list_cb(const struct queue_rcpt_row *, void *arg);
/* cb once per recipient not done: state < 0 every pending state, else
 * that one; sender NULL every sender, else those (without regard to
 * case).  Ordered by due, arrival, id, index, in one snapshot.  The
 * callback must not call queue_list_rcpts itself.  0 or -1. */
int	queue_list_rcpts(struct queue *, int state, const char *sender,
	    queue_rcpt_list_cb *cb, void *arg, const char **errstr);
/* The same for the recipients in state due before `before` (start-up:
 * deferred mail whose time passed while sluiced was down), through the
 * (state, due) index.  0 or -1. */
int	queue_list_rcpts_due(struct queue *, enum queue_state state,
	    int64_t before, queue_rcpt_list_cb *cb, void *arg,
	    const char **errstr);

/*
 * Start-up load for the scheduler: cb once for every recipient not
 * QUEUE_DONE (held ones included), ordered by due, arrival, id, index, in
 * one snapshot.  The callback must not call queue_load_pending itself; the
 * other reader calls are fine.  0 or -1.
 */
typedef void queue_pending_cb(const struct queue_pending *, void *arg);
int	queue_load_pending(struct queue *, queue_pending_cb *cb, void *arg,
	    const char **errstr);
/* One message for delivery, from one snapshot: 1 and *out (free with
 * queue_delivery_free), 0 when there is no such message, -1 on error. */
int	queue_load_delivery(struct queue *, const char *id,
	    struct queue_delivery **out, const char **errstr);
void	queue_delivery_free(struct queue_delivery **);

/*
 * Changes, inside the writer's transaction (writer thread only).  Each
 * runs in its own savepoint: a failing job is rolled back alone.
 */
int	queue_txn_store(struct queue_txn *, const struct queue_msg *,
	    const char **errstr);
/* 1 when deleted, 0 when there was no such message, -1 on error. */
int	queue_txn_delete(struct queue_txn *, const char *id,
	    const char **errstr);
/* The same, telling cb (may be NULL) of every recipient deleted that was
 * not done yet (its index, QUEUE_DONE, the reservations it gave up), then
 * (id, -1, QUEUE_DONE). */
int	queue_txn_delete_cb(struct queue_txn *, const char *id,
	    queue_change_cb *cb, void *arg, const char **errstr);

/*
 * Delivery outcomes for one recipient (rcpt: its index).  reply is the
 * next hop's reply or our reason, dsn_status its RFC 3463 code ("5.1.1"),
 * either may be NULL; now is when the attempt ended.  -1 with *errstr also
 * when there is no such recipient (the message was deleted meanwhile).
 * A bounce is queue_txn_store of a new message with sender "" in the same
 * job.  Both forget the recipient's reservations (sending spent them:
 * nothing is given back) and keep its quota and key for the record.
 */
/* Delivered, bounced or given up: QUEUE_DONE.  When no recipient of the
 * message is pending any more, the message and its body are deleted in
 * the same transaction: 1 then, else 0.  An already done one is left
 * alone. */
int	queue_txn_rcpt_done(struct queue_txn *, const char *id, int rcpt,
	    const char *reply, const char *dsn_status, int64_t now,
	    const char **errstr);
/* A temporary failure: QUEUE_RETRY at due, one more attempt.  A recipient
 * held meanwhile stays held (its attempt is recorded); a done one is left
 * alone.  0 or -1. */
int	queue_txn_rcpt_retry(struct queue_txn *, const char *id, int rcpt,
	    int64_t due, const char *reply, const char *dsn_status,
	    int64_t now, const char **errstr);

/*
 * Administration.  Each returns how many recipients it changed (messages
 * for queue_txn_delete_sender), 0 when nothing matched, or -1; cb (may be
 * NULL) is told each change, with the reservations a recipient gave up
 * (which are cleared).  rcpt -1 means every recipient of the message.
 * Senders match without regard to case; "" is the null sender.
 */
/* Pending (ready, deferred, retry) -> QUEUE_HOLD; due is kept. */
int	queue_txn_rcpt_hold(struct queue_txn *, const char *id, int rcpt,
	    queue_change_cb *cb, void *arg, const char **errstr);
/* QUEUE_HOLD -> QUEUE_READY at due (the caller's now). */
int	queue_txn_rcpt_release(struct queue_txn *, const char *id, int rcpt,
	    int64_t due, queue_change_cb *cb, void *arg, const char **errstr);
/* Every QUEUE_RETRY recipient due later than now becomes due now (state
 * and attempts kept).  Quota deferrals and held mail are not touched. */
int	queue_txn_flush(struct queue_txn *, int64_t now, queue_change_cb *cb,
	    void *arg, const char **errstr);
int	queue_txn_hold_sender(struct queue_txn *, const char *sender,
	    queue_change_cb *cb, void *arg, const char **errstr);
int	queue_txn_release_sender(struct queue_txn *, const char *sender,
	    int64_t due, queue_change_cb *cb, void *arg, const char **errstr);
/* Deletes every message of sender; cb is told each recipient that was
 * not done (as queue_txn_delete_cb), then (id, -1, QUEUE_DONE) for each
 * message. */
int	queue_txn_delete_sender(struct queue_txn *, const char *sender,
	    queue_change_cb *cb, void *arg, const char **errstr);
/*
 * Moves recipient rcpt of message id on when its state is one of expect
 * (a mask of 1u << QUEUE_xxx): state, due, quota, qkey, expire, rflags
 * and resv become to's (to->addr is ignored), and cb (may be NULL) is
 * told, with the reservations it held before.  This is how relay/ sends
 * a released recipient through its quotas again, or ends a deferral.
 * A done recipient is never revived (expect's QUEUE_DONE bit is
 * ignored), and to->state may not be QUEUE_DONE: a recipient that is done
 * goes through queue_txn_rcpt_done, after a requeue in the same job when
 * its reservations are wanted.
 * 1 when moved, 0 when there is no such recipient or it is in another
 * state, -1 on error.
 */
int	queue_txn_rcpt_requeue(struct queue_txn *, const char *id, int rcpt,
	    unsigned expect, const struct queue_rcpt_in *to,
	    queue_change_cb *cb, void *arg, const char **errstr);

/*
 * Quota counters, the durable copy of policy/'s (queue/ knows nothing of
 * quotas: relay/ converts them).  A job that stores a message also sets
 * the counters that counted it, so that both are committed or neither.
 * Quota names and keys come from the network: any bytes but NUL.
 */
/* (struct queue_counter, one window of a counter, is defined above.) */
/* Writer: for every (quota, key) present in rows, replaces all its stored
 * windows by the rows given for it (a row whose used[] and notified are
 * all 0 stores nothing: it only clears).  Rows for one (quota, key) are
 * adjacent; a window given twice is an error.  0 or -1 (the job must then
 * fail: its savepoint undoes a half-done set). */
int	queue_txn_counters_set(struct queue_txn *,
	    const struct queue_counter *rows, size_t n, const char **errstr);
/* Writer: forgets every window of (quota, key); quota NULL: of every
 * quota.  The number of windows forgotten, or -1. */
int	queue_txn_counters_delete(struct queue_txn *, const char *quota,
	    const char *key, const char **errstr);
/* Copies rows[0..nrows) onto the end of *v (*n of them), the strings
 * too: reservations a change callback reports live only during it
 * (queue_counter.c).  queue_counters_free frees such a copy. */
void	queue_counters_keep(struct queue_counter **v, size_t *n,
	    const struct queue_counter *rows, size_t nrows);
void	queue_counters_free(struct queue_counter **v, size_t *n);
/* Reader (start-up): cb once for every stored window, ordered by quota,
 * key and start, in one snapshot.  The strings live only during the
 * callback.  0 or -1. */
typedef void queue_counter_cb(const struct queue_counter *, void *arg);
int	queue_load_counters(struct queue *, queue_counter_cb *cb, void *arg,
	    const char **errstr);

/*
 * The outbox: events waiting for a notifier (a webhook, an alert mail),
 * stored in the job of the message that caused them and drained by
 * relay/ (queue_outbox.c).  Names and payloads are any bytes: the name
 * may not hold a NUL, the payload may.
 */
#define QUEUE_OUTBOX_MAX	65536	/* bytes of one payload */

/* One event for one notifier, to store in the job of the message that
 * caused it. */
struct queue_outbox_in {
	const char	*notifier;	/* its name */
	const char	*payload;	/* opaque to queue/ (relay/ writes
					   JSON) */
	size_t		 len;		/* at most QUEUE_OUTBOX_MAX */
	int64_t		 created;	/* Unix seconds */
};
/* Writer: adds one row; *id (may be NULL) gets its id (ids only grow:
 * never reused, not even after a delete).  0, or -1 also for a NULL or
 * empty notifier and a payload past QUEUE_OUTBOX_MAX. */
int	queue_txn_outbox_add(struct queue_txn *, const struct queue_outbox_in *,
	    int64_t *id, const char **errstr);
/* Writer: 1 when row id was there and is deleted, 0 when not, -1 on
 * error. */
int	queue_txn_outbox_delete(struct queue_txn *, int64_t id,
	    const char **errstr);
/* Writer: deletes every row of notifier: how many, or -1. */
int	queue_txn_outbox_delete_notifier(struct queue_txn *,
	    const char *notifier, const char **errstr);

/* One stored event, as a load hands it over. */
struct queue_outbox_row {
	int64_t		 id;
	const char	*notifier;
	const char	*payload;	/* with a NUL after len */
	size_t		 len;
	int64_t		 created;
};
typedef void queue_outbox_cb(const struct queue_outbox_row *, void *arg);
/* Reader: cb once per row with id > after (0: all), ordered by id, at
 * most limit rows (0: no limit), in one snapshot; the strings live only
 * during the callback.  The number of rows given, or -1. */
int	queue_load_outbox(struct queue *, int64_t after, size_t limit,
	    queue_outbox_cb *cb, void *arg, const char **errstr);
/* Reader: cb(notifier, rows it has, arg) once per notifier with rows,
 * ordered by notifier (as bytes), in one snapshot.  0 or -1. */
typedef void queue_outbox_count_cb(const char *notifier, uint64_t n,
    void *arg);
int	queue_outbox_counts(struct queue *, queue_outbox_count_cb *cb,
	    void *arg, const char **errstr);

/* Admin overrides (sluicectl quota set KEY LIMIT | exempt KEY | clear KEY):
 * at most one per key, kept until cleared. */
enum queue_override_kind { QUEUE_OVR_LIMIT = 1, QUEUE_OVR_EXEMPT = 2 };
struct queue_override {
	const char	*key;
	int		 kind;		/* enum queue_override_kind */
	uint64_t	 limit;		/* QUEUE_OVR_LIMIT's, as given */
	int64_t		 set_at;	/* Unix seconds */
};
/* Writer: sets or replaces key's override.  0 or -1 (also for a kind that
 * is not a queue_override_kind). */
int	queue_txn_override_set(struct queue_txn *, const char *key, int kind,
	    uint64_t limit, int64_t now, const char **errstr);
/* Writer: 1 when there was one, 0 when not, -1 on error. */
int	queue_txn_override_clear(struct queue_txn *, const char *key,
	    const char **errstr);
/* Reader (start-up): cb once for every override, ordered by key; the
 * strings live only during the callback.  0 or -1. */
typedef void queue_override_cb(const struct queue_override *, void *arg);
int	queue_load_overrides(struct queue *, queue_override_cb *cb,
	    void *arg, const char **errstr);

/*
 * Filter state: the durable copy of greylisting's, HELO tracking's and
 * accounting's records (queue_filters.c).  queue/ knows nothing of them:
 * relay/ converts policy/'s rows, writes them behind the decisions in
 * writer jobs and loads them back at start-up.  Every string may hold any
 * bytes but NUL (most come from the network), is compared as bytes and
 * is at most QUEUE_FILTER_STR_MAX bytes; net, client, helo, acct and
 * period may not be empty.  A call checks all its rows before it writes.
 * Pages freed by deletions are reused (nothing vacuums): the file stops
 * growing once policy/'s clean-up keeps the records bounded.
 */
#define QUEUE_FILTER_STR_MAX	1024	/* bytes of one string */

/* What a greylisting row is (the values are stored: grey_auto.kind). */
enum queue_grey_kind {
	QUEUE_GREY_TRIPLET = 0,
	QUEUE_GREY_AWL = 1,		/* auto-whitelisted network */
	QUEUE_GREY_ABL = 2		/* auto-blacklisted network */
};

/* One greylisting record (policy/greylist.h's grey_row, as relay/
 * converts it); a triplet is keyed by (net, sender, recipient), an AWL or
 * ABL entry by (kind, net). */
struct queue_grey_row {
	enum queue_grey_kind kind;
	bool		 deleted;	/* apply: drop the record */
	const char	*net;		/* "192.0.2.0/24" */
	const char	*sender;	/* TRIPLET ("" null sender), else NULL */
	const char	*recipient;	/* TRIPLET, else NULL */
	int64_t		 first_seen;
	int64_t		 last_seen;
	int64_t		 last_pass;	/* TRIPLET: 0 if never passed */
	uint32_t	 tries, passes;	/* TRIPLET, else 0 */
};

/* One HELO a client gave (policy/helo.h's helo_row). */
struct queue_helo_row {
	bool		 deleted;	/* apply: drop the record */
	const char	*client;	/* the address as text */
	const char	*helo;
	int64_t		 last_seen;
};

/* One period of one accounting key (policy/accounting.h's pol_acct_row);
 * used[] is messages, recipients, bytes. */
struct queue_acct_row {
	const char	*acct;		/* the accounting's name */
	const char	*key;		/* "alice@example.com", may be "" */
	const char	*period;	/* "2026-11-24", "2026-W48", "2026-11" */
	int64_t		 start;		/* the period's first instant */
	uint64_t	 used[3];
};

/* Writer: rows[0..n) in order, each an upsert of its record, or its
 * deletion when deleted is set (a record not stored is no error).  0, or
 * -1 with *errstr and nothing written when a row is not one. */
int	queue_txn_grey_apply(struct queue_txn *,
	    const struct queue_grey_row *rows, size_t n, const char **errstr);
int	queue_txn_helo_apply(struct queue_txn *,
	    const struct queue_helo_row *rows, size_t n, const char **errstr);
/* Writer: upserts rows[0..n) in order; a row whose used[] are all 0
 * deletes its period instead.  0 or -1, as above. */
int	queue_txn_acct_set(struct queue_txn *,
	    const struct queue_acct_row *rows, size_t n, const char **errstr);
/* Writer: deletes the periods (acct, key, period) of rows[0..n) (start and
 * used[] are ignored): how many were stored, or -1. */
int	queue_txn_acct_delete(struct queue_txn *,
	    const struct queue_acct_row *rows, size_t n, const char **errstr);

/* Reader (start-up): cb once per stored record, in one snapshot; the
 * strings live only during the callback, deleted is false.  The callback
 * must not call the same load.  0 or -1. */
typedef void queue_grey_cb(const struct queue_grey_row *, void *arg);
typedef void queue_helo_cb(const struct queue_helo_row *, void *arg);
typedef void queue_acct_cb(const struct queue_acct_row *, void *arg);
/* Triplets by (net, sender, recipient), then AWL entries by net, then ABL
 * entries by net. */
int	queue_load_grey(struct queue *, queue_grey_cb *cb, void *arg,
	    const char **errstr);
/* By (client, helo). */
int	queue_load_helo(struct queue *, queue_helo_cb *cb, void *arg,
	    const char **errstr);
/* By (acct, key, period). */
int	queue_load_acct(struct queue *, queue_acct_cb *cb, void *arg,
	    const char **errstr);

/* Rows per filter table, for `sluicectl status`. */
struct queue_filter_stats {
	uint64_t	grey_triplets, grey_awl, grey_abl;
	uint64_t	helo;
	uint64_t	acct;
};
/* Reader: the counts, in one snapshot.  0 or -1. */
int	queue_filters_stats(struct queue *, struct queue_filter_stats *,
	    const char **errstr);

/* The size of the database as the reader's snapshot sees it (committed
 * pages still in the WAL included; the -wal file is not counted). */
struct queue_file_stats {
	uint64_t	page_size;	/* bytes */
	uint64_t	pages;		/* in the file, free ones included */
	uint64_t	free_pages;	/* on the freelist, reused first */
	uint64_t	bytes;		/* pages * page_size */
};
/* Reader: 0 or -1. */
int	queue_file_stats(struct queue *, struct queue_file_stats *,
	    const char **errstr);

/*
 * The writer thread.  A job is a function run inside the group
 * transaction; when the transaction has been committed (and fsync'd) or
 * has failed, done(arg, rc, errstr) is called ON THE WRITER THREAD with
 * rc the job's own result (>= 0) or -1.  The caller hands that back to
 * its event loop.  errstr is valid only during the call.
 */
typedef int queue_job_fn(struct queue_txn *, void *arg, const char **errstr);
typedef void queue_done_fn(void *arg, int rc, const char *errstr);

int	queue_writer_start(struct queue_writer **, struct queue *,
	    const char **errstr);
void	queue_writer_submit(struct queue_writer *, queue_job_fn *,
	    queue_done_fn *, void *arg);
/* Runs what was submitted, then stops and joins the thread. */
void	queue_writer_stop(struct queue_writer **);
/* Commits done so far and the number of jobs they carried (for
 * `sluicectl status` and the benchmark). */
void	queue_writer_counts(struct queue_writer *, uint64_t *commits,
	    uint64_t *jobs);

#endif
