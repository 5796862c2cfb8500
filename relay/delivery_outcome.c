/*
 * delivery_outcome: what became of each recipient of a delivery, logged
 * and recorded in one writer job.
 *
 * - 2xx: done.  5xx (or our own permanent reason): done, and the sender
 *   gets a DSN (RFC 3464) queued with the null sender in the same
 *   transaction, unless dsn_should_bounce() says no (null sender,
 *   MAILER-DAEMON: no bounce loops).
 * - 4xx, no connection, a timeout: retried after a backoff that starts at
 *   retry.initial and doubles up to retry.max.  Once retry.lifetime has
 *   passed since the recipient's first delivery attempt it bounces
 *   instead.  The lifetime counts from the first attempt, not from
 *   arrival, so that time spent waiting for a quota (DESIGN.md) never
 *   counts; for mail that is not held back the two are the same.  The
 *   last retry is moved forward to the end of the lifetime, so that the
 *   bounce comes on time.
 *
 * Log lines, one per recipient and attempt, in Postfix's manner, written
 * once the outcome is on disk (so `queue show` agrees with them):
 *   queue_id=ID event=delivery to=<rcpt> relay=host[ip]:port delay=S
 *   attempts=N dsn=X.Y.Z status=sent|deferred|bounced reply="..."
 * and `queue_id=ID event=removed` once the message has left the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "delivery_priv.h"
#include "dsn.h"
#include "loop.h"

struct dl_rec {
	int		 rcpt;
	bool		 done;
	int64_t		 due;		/* retry */
	char		*reply;
	char		*line;		/* logged once committed */
	char		 dsn[16];
};

struct dl_job {
	struct dl		*dl;
	struct dl_rec		*rec;
	size_t			 n;
	int64_t			 now;		/* seconds */
	int64_t			 now_usec;
	bool			 retry;		/* a recipient stays pending */
	bool			 bounce;	/* bmsg is a DSN to store */
	struct queue_counter	*gb;		/* expiry: reservations given
						   back (copies) */
	size_t			 ngb;
	size_t			 dropped;	/* failures nobody is told of */
	struct queue_msg	 bmsg;
	struct queue_rcpt_in	 brcpt;
	struct buf		 bbody;
	/* the outcome of the commit */
	int			 rc;
	bool			 gone;		/* the message was deleted */
	bool			 removed;	/* its last recipient is done */
	char			 err[256];
};

/* Log-safe copy: no double quotes, no control characters. */
static void
log_clean(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = src[i] == '"' ? '\'' :
		    (unsigned char)src[i] < 0x20 ? ' ' : src[i];
	dst[i] = '\0';
}

int64_t
delivery_retry_due(const struct conf_retry *r, unsigned attempts,
    int64_t now, int64_t start)
{
	uint64_t wait = r->initial;
	unsigned k;

	for (k = 1; k < attempts && wait < r->max; k++)
		wait *= 2;
	if (wait > r->max)
		wait = r->max;
	if (now + (int64_t)wait > start + (int64_t)r->lifetime)
		return start + (int64_t)r->lifetime;
	return now + (int64_t)wait;
}

/* The remote server's reply within mta's "host H[IP] said: ..." text. */
static const char *
reply_of(const struct mta_result *r)
{
	const char *said = strstr(r->text, " said: ");

	return r->code != 0 && said != NULL ? said + 7 : r->text;
}

static void	job_done(void *, int, const char *);
static int	job_run(struct queue_txn *, void *, const char **);

/* Builds the DSN for the failed recipients into job->bmsg. */
static void
build_bounce(struct dl *dl, struct dl_job *job, struct dsn_rcpt *fr,
    size_t nf)
{
	const struct queue_delivery *m = dl->msg;
	struct dsn_report rep;
	const char *errstr;
	unsigned flags = 0;

	memset(&rep, 0, sizeof(rep));
	rep.hostname = dl->conf->hostname;
	rep.queue_id = m->id;
	rep.arrival = (time_t)m->arrival;
	rep.sender = m->sender;
	rep.msg = m->body;
	rep.msg_len = m->body_len;
	rep.rcpts = fr;
	rep.nrcpt = nf;
	rep.now = (time_t)job->now;
	rep.seed = ((uint64_t)arc4random() << 32) | arc4random();
	rep.ret = DSN_RET_DEFAULT;
	if (dsn_build(&rep, &job->bbody, &flags, &errstr) == -1) {
		log_err("queue_id=%s event=bounce-failed reason=\"%s\"", m->id,
		    errstr);
		return;
	}
	queue_id_new(job->bmsg.id, job->now_usec);
	job->bmsg.arrival = job->now;
	job->bmsg.sender = "";
	job->bmsg.flags = flags;
	job->bmsg.client_addr = "127.0.0.1";
	job->bmsg.client_name = "localhost";
	job->bmsg.client_proto = "LOCAL";
	job->brcpt.addr = m->sender;
	job->brcpt.state = QUEUE_READY;
	job->brcpt.due = job->now;
	job->bmsg.rcpts = &job->brcpt;
	job->bmsg.nrcpt = 1;
	job->bmsg.body = job->bbody.data;
	job->bmsg.body_len = job->bbody.len;
	job->bounce = true;
}

void
dl_outcome(struct dl *dl, const struct mta_result *res, const char *relay,
    const char *host)
{
	struct delivery *d = dl->d;
	const struct conf *conf = dl->conf;
	const struct queue_delivery *m = dl->msg;
	struct dl_job *job = xcalloc(1, sizeof(*job));
	struct dsn_rcpt *fr = xcalloc(dl->n, sizeof(*fr));
	char (*diag)[MTA_TEXT_SIZE + 64] = xcalloc(dl->n, sizeof(*diag));
	char clean[MTA_TEXT_SIZE], retry[48], *cut;
	size_t i, nf = 0;
	int64_t later;			/* now, rounded up to a second */

	job->dl = dl;
	job->now_usec = dl_now_usec();
	job->now = job->now_usec / 1000000;
	later = job->now + (job->now_usec % 1000000 > 0);
	job->rec = xcalloc(dl->n, sizeof(*job->rec));
	job->n = dl->n;
	for (i = 0; i < dl->n; i++) {
		const struct mta_result *r = &res[i];
		const struct queue_delivery_rcpt *qr = &m->rcpts[dl->rcpt[i]];
		struct dl_rec *rec = &job->rec[i];
		int64_t start = qr->first_attempt ? qr->first_attempt :
		    job->now;
		bool expired = false;
		const char *status;

		rec->rcpt = dl->rcpt[i];
		rec->reply = xstrdup(r->text);
		str_copy(rec->dsn, r->dsn, sizeof(rec->dsn));
		if (r->status == MTA_DEFERRED) {
			if (job->now >= start + (int64_t)conf->retry.lifetime)
				expired = true;
			else {
				rec->due = delivery_retry_due(&conf->retry,
				    qr->attempts + 1, later, start);
				job->retry = true;
			}
		}
		rec->done = r->status != MTA_DEFERRED || expired;
		status = r->status == MTA_SENT ? "sent" :
		    rec->done ? "bounced" : "deferred";
		log_clean(clean, sizeof(clean), r->text);
		retry[0] = '\0';
		if (!rec->done)
			snprintf(retry, sizeof(retry), " retry_in=%lld",
			    (long long)(rec->due - later));
		rec->line = xasprintf("queue_id=%s event=delivery to=<%s> "
		    "relay=%s delay=%lld attempts=%u dsn=%s status=%s "
		    "reply=\"%s%s\"%s", m->id, qr->addr, relay ? relay : "none",
		    (long long)(job->now - m->arrival), qr->attempts + 1,
		    r->dsn, status, expired ? "delivery time expired; last "
		    "error: " : "", clean, retry);
		if (r->status == MTA_SENT) {
			d->counts.sent++;
			continue;
		}
		if (!rec->done) {
			d->counts.deferred++;
			continue;
		}
		d->counts.bounced++;
		fr[nf].addr = qr->addr;
		fr[nf].action = DSN_FAILED;
		fr[nf].status = r->dsn;
		fr[nf].remote_mta = r->code != 0 ? host : NULL;
		snprintf(diag[nf], sizeof(diag[nf]), "%s%s", expired ?
		    "delivery time expired; last error: " : "",
		    expired ? r->text : reply_of(r));
		if (!expired && (cut = strstr(diag[nf], " (in reply to ")) != NULL)
			*cut = '\0';	/* the log's words, not the reply's */
		fr[nf].diag = diag[nf];
		fr[nf].diag_is_reply = r->code != 0 && !expired;
		fr[nf].last_attempt = (time_t)job->now;
		nf++;
	}
	if (nf > 0 && dsn_should_bounce(m->sender))
		build_bounce(dl, job, fr, nf);
	else
		job->dropped = nf;
	free(fr);
	free(diag);
	dl_release(dl);
	d->jobs++;
	queue_writer_submit(d->deps.writer, job_run, job_done, job);
}

/* The recipients of dl gave up waiting for their quota. */
void
dl_expire(struct dl *dl, int64_t now)
{
	struct mta_result *res = xcalloc(dl->n, sizeof(*res));
	const struct queue_delivery_rcpt *qr;
	size_t i;

	for (i = 0; i < dl->n; i++) {
		qr = &dl->msg->rcpts[dl->rcpt[i]];
		res[i].status = MTA_BOUNCED;
		str_copy(res[i].dsn, "5.4.7", sizeof(res[i].dsn));
		snprintf(res[i].text, sizeof(res[i].text), "waited %llds "
		    "(max-defer) for quota %s (key %s) without room: "
		    "delivery time expired", (long long)(now -
		    dl->msg->arrival), qr->quota ? qr->quota : "?",
		    qr->qkey ? qr->qkey : "?");
	}
	dl_outcome(dl, res, NULL, NULL);
	free(res);
}

void
dl_outcome_all(struct dl *dl, const struct mta_result *r, const char *relay,
    const char *host)
{
	struct mta_result *res = xcalloc(dl->n, sizeof(*res));
	size_t i;

	for (i = 0; i < dl->n; i++)
		res[i] = *r;
	dl_outcome(dl, res, relay, host);
	free(res);
}

/* Writer thread: keeps a copy of the reservations an expired recipient
 * gives up. */
static void
job_gb(const struct queue_change *c, void *arg)
{
	struct dl_job *job = arg;

	queue_counters_keep(&job->gb, &job->ngb, c->resv, c->nresv);
}

/* Writer thread. */
static int
job_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct dl_job *job = arg;
	const char *id = job->dl->id;
	struct queue_rcpt_in keep;
	size_t i;
	int rc;

	for (i = 0; i < job->n; i++) {
		const struct dl_rec *r = &job->rec[i];

		/* an expired one: what it reserved comes out first */
		memset(&keep, 0, sizeof(keep));
		keep.state = QUEUE_DEFERRED;
		keep.due = job->now;
		if (job->dl->expiry && queue_txn_rcpt_requeue(txn, id, r->rcpt,
		    1u << QUEUE_DEFERRED, &keep, job_gb, job, errstr) == -1)
			return -1;
		if (r->done)
			rc = queue_txn_rcpt_done(txn, id, r->rcpt, r->reply,
			    r->dsn, job->now, errstr);
		else
			rc = queue_txn_rcpt_retry(txn, id, r->rcpt, r->due,
			    r->reply, r->dsn, job->now, errstr);
		if (rc == 1)
			job->removed = true;
		if (rc == -1) {
			/* deleted by an administrator meanwhile: nothing
			 * to record, nobody to notify */
			if (strstr(*errstr, "no recipient") != NULL) {
				job->gone = true;
				return 0;
			}
			return -1;
		}
	}
	if (job->bounce)
		return queue_txn_store(txn, &job->bmsg, errstr);
	return 0;
}

static void
job_free(struct dl_job *job)
{
	size_t i;

	for (i = 0; i < job->n; i++) {
		free(job->rec[i].reply);
		free(job->rec[i].line);
	}
	free(job->rec);
	buf_free(&job->bbody);
	queue_counters_free(&job->gb, &job->ngb);
	free(job);
}

/* Loop thread: the outcome is on disk (or not). */
static void
job_committed(void *arg)
{
	struct dl_job *job = arg;
	struct dl *dl = job->dl;
	struct delivery *d = dl->d;
	char id[QUEUE_ID_SIZE];
	bool resync;
	size_t i;

	d->jobs--;
	str_copy(id, dl->id, sizeof(id));
	for (i = 0; i < job->n; i++)
		log_info("%s", job->rec[i].line);
	if (job->rc < 0) {
		/* the queue still has them pending: try again later (a
		 * delivered one may then be delivered twice) */
		log_err("queue_id=%s event=record-failed error=\"%s\" "
		    "retry_in=%llu", id, job->err,
		    (unsigned long long)dl->conf->retry.initial);
		for (i = 0; i < job->n; i++)
			sched_add(d->sched, id, job->rec[i].rcpt,
			    dl->msg->rcpts[job->rec[i].rcpt].addr, job->now +
			    (int64_t)dl->conf->retry.initial);
	} else if (job->dropped > 0 && !job->gone) {
		log_info("queue_id=%s event=bounce-dropped from=<%s> nrcpt=%zu "
		    "reason=\"no notification to a null or MAILER-DAEMON "
		    "sender\"", id, dl->msg->sender, job->dropped);
	} else if (job->bounce && !job->gone) {
		d->counts.dsns++;
		log_info("queue_id=%s event=bounce notification=%s to=<%s>",
		    id, job->bmsg.id, dl->msg->sender);
		delivery_queued(d, &job->bmsg);
	}
	if (job->rc >= 0 && job->removed)
		log_info("queue_id=%s event=removed", id);
	if (job->rc >= 0 && job->ngb > 0 && d->deps.giveback != NULL)
		d->deps.giveback(d->deps.giveback_arg, job->gb, job->ngb);
	/* retries join the schedule at their due time; after an admin's
	 * change to the message meanwhile, the queue says what is left */
	resync = job->rc >= 0 && job->retry && !job->gone && dl->resync;
	if (job->rc >= 0 && job->retry && !job->gone && !dl->resync)
		for (i = 0; i < job->n; i++)
			if (!job->rec[i].done)
				sched_add(d->sched, id, job->rec[i].rcpt,
				    dl->msg->rcpts[job->rec[i].rcpt].addr,
				    job->rec[i].due);
	dl_free(&dl);
	if (resync)
		delivery_sync(d, id);
	job_free(job);
	delivery_kick(d);
}

/* Writer thread: hand the result back to the loop. */
static void
job_done(void *arg, int rc, const char *errstr)
{
	struct dl_job *job = arg;

	job->rc = rc;
	if (rc < 0)
		snprintf(job->err, sizeof(job->err), "%s",
		    errstr ? errstr : "unknown error");
	loop_call(job->dl->d->deps.base, job_committed, job);
}
