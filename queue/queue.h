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
 * connection serves the queue_list/queue_show/queue_body/queue_stats
 * calls from the caller's (main) thread.
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

struct queue_rcpt_in {
	const char		*addr;
	enum queue_state	 state;
	int64_t			 due;		/* Unix seconds */
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

struct queue_rcpt_info {
	const char		*addr;
	enum queue_state	 state;
	int64_t			 due;
	unsigned		 attempts;
	const char		*last_reply;	/* or NULL */
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

/*
 * Changes, inside the writer's transaction (writer thread only).  Each
 * runs in its own savepoint: a failing job is rolled back alone.
 */
int	queue_txn_store(struct queue_txn *, const struct queue_msg *,
	    const char **errstr);
/* 1 when deleted, 0 when there was no such message, -1 on error. */
int	queue_txn_delete(struct queue_txn *, const char *id,
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
