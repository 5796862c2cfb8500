/*
 * delivery: the schedule's pump and the SMTP sessions (see delivery.h).
 *
 * A delivery (struct dl) is born from sched_next(): its message is read
 * from the queue, the recipients still pending are kept, and it either
 * takes an idle session to its destination or resolves the next hop
 * (delivery_route.c) and connects to the candidate addresses in turn.
 * The transaction's per-recipient results go to delivery_outcome.c,
 * which records them; the session is then idle for DL_IDLE_SECS, ready
 * for the next delivery to the same destination.
 *
 * Destinations (the schedule's key, and what a session may be reused
 * for): "[relayhost]" when `deliver relayhost` applies, else the
 * recipient's domain (an MX destination, or a route, which is per
 * domain).
 *
 * Reloads (delivery_set_conf): d->deps.conf is the configuration new
 * deliveries start under; each delivery holds a reference on its own
 * (dl->conf) and on its resolver until dl_free, so a reload never
 * changes an attempt half-way, and the old configuration goes with the
 * last delivery that used it.
 */
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "delivery_priv.h"

#define DEST_RELAYHOST	"[relayhost]"

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static const char *
dest_of(const char *addr, void *arg)
{
	struct delivery *d = arg;
	const char *domain = domain_of(addr);
	const struct conf_nexthops *via = conf_route_for(d->deps.conf, domain);

	if (via == &d->deps.conf->deliver && via->nhop > 0)
		return DEST_RELAYHOST;
	str_copy(d->destbuf, domain, sizeof(d->destbuf));
	str_lower(d->destbuf);
	return d->destbuf;
}

static bool
pending_state(enum queue_state st)
{
	return st == QUEUE_READY || st == QUEUE_RETRY || st == QUEUE_DEFERRED;
}

void
delivery_kick(struct delivery *d)
{
	if (!d->stopping)
		event_active(d->ev_pump, EV_TIMEOUT, 0);
}

static void
conn_free(struct delivery *d, struct dl_conn *c)
{
	TAILQ_REMOVE(&d->conns, c, link);
	d->nconn--;
	free(c->dest);
	free(c->host);
	free(c);
}

/* Drops a session without a word (no callback follows). */
static void
conn_abort(struct delivery *d, struct dl_conn *c)
{
	mta_session_abort(&c->s);
	conn_free(d, c);
}

static struct dl_conn *
conn_idle(struct delivery *d, const char *dest)
{
	struct dl_conn *c;

	TAILQ_FOREACH(c, &d->conns, link)
		if (c->dl == NULL && c->ready && strcmp(c->dest, dest) == 0 &&
		    mta_session_is_ready(c->s))
			return c;
	return NULL;
}

/* Makes room for one more connection by dropping an idle one. */
static void
conn_make_room(struct delivery *d)
{
	struct dl_conn *c;

	if (d->nconn < d->deps.conf->delivery.connections)
		return;
	TAILQ_FOREACH(c, &d->conns, link)
		if (c->dl == NULL && c->ready) {
			mta_session_close(c->s);
			c->ready = false;
			return;
		}
}

static void
dead_free(struct delivery *d, struct dl_dead *x)
{
	TAILQ_REMOVE(&d->dead, x, link);
	free(x->dest);
	free(x);
}

/* The destination's suspension, if one is on (expired ones go). */
static struct dl_dead *
dead_find(struct delivery *d, const char *dest, int64_t now)
{
	struct dl_dead *x, *next;

	for (x = TAILQ_FIRST(&d->dead); x != NULL; x = next) {
		next = TAILQ_NEXT(x, link);
		if (x->until <= now)
			dead_free(d, x);
		else if (strcmp(x->dest, dest) == 0)
			return x;
	}
	return NULL;
}

static void
dead_clear(struct delivery *d, const char *dest)
{
	struct dl_dead *x;

	TAILQ_FOREACH(x, &d->dead, link)
		if (strcmp(x->dest, dest) == 0) {
			log_info("event=destination-resumed destination=%s",
			    dest);
			dead_free(d, x);
			return;
		}
}

static void
dead_mark(struct delivery *d, const char *dest, const struct mta_result *why)
{
	int64_t now = (int64_t)time(NULL);
	struct dl_dead *x = dead_find(d, dest, now);

	if (x == NULL) {
		x = xcalloc(1, sizeof(*x));
		x->dest = xstrdup(dest);
		TAILQ_INSERT_TAIL(&d->dead, x, link);
		log_info("event=destination-suspended destination=%s for=%llu",
		    dest, (unsigned long long)d->deps.conf->retry.initial);
	}
	x->until = now + (int64_t)d->deps.conf->retry.initial;
	x->why = *why;
}

void
delivery_unsuspend(struct delivery *d)
{
	while (!TAILQ_EMPTY(&d->dead))
		dead_clear(d, TAILQ_FIRST(&d->dead)->dest);
}

void
dl_release(struct dl *dl)
{
	if (dl->sd != NULL) {
		sched_finish(dl->d->sched, &dl->sd);
		delivery_kick(dl->d);
	}
}

static struct dl_resolver *
resolver_new(struct dns *dns)
{
	struct dl_resolver *r = xcalloc(1, sizeof(*r));

	r->dns = dns;
	r->refs = 1;
	return r;
}

static struct dl_resolver *
resolver_ref(struct dl_resolver *r)
{
	r->refs++;
	return r;
}

static void
resolver_unref(struct dl_resolver **rp)
{
	struct dl_resolver *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	if (--r->refs > 0)
		return;
	dns_free(&r->dns);
	free(r);
}

void
dl_free(struct dl **dlp)
{
	struct dl *dl = *dlp;
	struct delivery *d;

	if (dl == NULL)
		return;
	*dlp = NULL;
	d = dl->d;
	dl_release(dl);
	dl_hops_free(dl);		/* before its resolver may go */
	resolver_unref(&dl->res);
	if (dl->conn != NULL)
		conn_abort(d, dl->conn);
	TAILQ_REMOVE(&d->active, dl, link);
	queue_delivery_free(&dl->msg);
	free(dl->dest);
	free(dl->domain);
	free(dl->rcpt);
	free(dl->mr);
	free(dl->cand);
	free(dl->fail_host);
	conf_unref(&dl->conf);
	free(dl);
	delivery_check_done(d);
}

static void	conn_event(void *, struct mta_session *,
		    const struct mta_event *);

static void
tx_done(void *arg, const struct mta_tx *tx, const struct mta_result *res)
{
	struct dl *dl = arg;
	struct dl_conn *c = dl->conn;

	(void)tx;
	c->dl = NULL;
	dl->conn = NULL;
	dl_outcome(dl, res, mta_session_relay(c->s), c->host);
	if ((c->d->stopping || c->stale) && c->ready) {
		c->ready = false;
		mta_session_close(c->s);
	}
}

static void
dl_send(struct dl *dl, struct dl_conn *c)
{
	c->dl = dl;
	dl->conn = c;
	if (mta_session_send(c->s, &dl->tx, tx_done, dl) == 0)
		return;
	/* not usable after all (it was closing): another one */
	dl->conn = NULL;
	conn_abort(dl->d, c);
	if (dl->cand == NULL)
		dl_resolve(dl);
	else
		dl_try_next(dl);
}

static enum mta_tls_policy
tls_policy(enum conf_tls t)
{
	switch (t) {
	case CONF_TLS_NONE:	return MTA_TLS_NONE;
	case CONF_TLS_ENCRYPT:	return MTA_TLS_ENCRYPT;
	case CONF_TLS_VERIFY:	return MTA_TLS_VERIFY;
	case CONF_TLS_MAY:	break;
	}
	return MTA_TLS_MAY;
}

void
dl_try_next(struct dl *dl)
{
	struct delivery *d = dl->d;
	const struct conf *conf = dl->conf;
	const struct conf_nexthops *via = dl->via;
	struct mta_params p;
	struct dl_cand *cand;
	struct dl_conn *c;

	if (d->stopping) {		/* nothing recorded: retried later */
		dl_free(&dl);
		return;
	}
	if (dl->next >= dl->ncand) {
		if (dl->fail.text[0] == '\0') {
			dl->fail.status = MTA_DEFERRED;
			str_copy(dl->fail.dsn, "4.4.1", sizeof(dl->fail.dsn));
			snprintf(dl->fail.text, sizeof(dl->fail.text),
			    "no next hop could be reached for %s",
			    dl->domain);
		}
		/* every address was tried and none took a transaction */
		if (dl->ncand > 0 && dl->fail.status == MTA_DEFERRED)
			dead_mark(d, dl->dest, &dl->fail);
		dl_outcome_all(dl, &dl->fail, NULL, dl->fail_host);
		return;
	}
	cand = &dl->cand[dl->next++];
	conn_make_room(d);
	c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->dest = xstrdup(dl->dest);
	c->host = xstrdup(cand->host);
	c->dl = dl;
	dl->conn = c;
	TAILQ_INSERT_TAIL(&d->conns, c, link);
	d->nconn++;
	d->counts.connections++;
	memset(&p, 0, sizeof(p));
	p.addr = (const struct sockaddr *)&cand->ss;
	p.addrlen = cand->sslen;
	p.host = cand->host;
	p.helo = conf->hostname;
	p.tls = tls_policy(via->tls);
	p.ca_file = via->ca_file;
	p.auth_user = via->auth_user;
	p.auth_pass = via->auth_pass;
	p.connect_timeout = (unsigned)conf->delivery.timeout_connect;
	p.command_timeout = (unsigned)conf->delivery.timeout_command;
	p.data_timeout = (unsigned)conf->delivery.timeout_data;
	p.idle_timeout = DL_IDLE_SECS;
	c->s = mta_session_new(d->deps.base, &p, conn_event, c);
}

static void
conn_event(void *arg, struct mta_session *s, const struct mta_event *ev)
{
	struct dl_conn *c = arg;
	struct delivery *d = c->d;
	struct dl *dl = c->dl;

	(void)s;
	switch (ev->type) {
	case MTA_EV_READY:
		c->ready = true;
		dead_clear(d, c->dest);
		log_debug("event=connected relay=%s tls=\"%s\"%s%s", ev->relay,
		    ev->tls ? ev->tls : "none",
		    ev->tls_verified ? " verified=yes" : "",
		    ev->authenticated ? " auth=yes" : "");
		if (dl != NULL)
			dl_send(dl, c);
		else {
			c->ready = false;
			mta_session_close(c->s);
		}
		break;
	case MTA_EV_FAILED:
		if (dl == NULL)
			break;
		c->dl = NULL;
		dl->conn = NULL;
		dl->fail = *ev->reason;
		free(dl->fail_host);
		dl->fail_host = xstrdup(c->host);
		log_info("queue_id=%s event=connect-failed relay=%s "
		    "reason=\"%s\"", dl->id, ev->relay, ev->reason->text);
		dl_try_next(dl);
		break;
	case MTA_EV_CLOSED:
		c->s = NULL;		/* freed by mta when this returns */
		if (dl != NULL) {	/* not expected: mta reports first */
			c->dl = NULL;
			dl->conn = NULL;
			dl_try_next(dl);
		}
		conn_free(d, c);
		break;
	}
}

/* Puts recipients of a delivery that could not start back in the
 * schedule, a retry interval from now. */
static void
dl_put_back(struct delivery *d, const struct sched_delivery *sd,
    int64_t due)
{
	size_t i;

	for (i = 0; i < sd->nrcpt; i++)
		sched_add(d->sched, sd->id, sd->rcpts[i], sd->addrs[i], due);
}

/* A delivery ready to go: to an idle session, or to a suspended
 * destination's deferral, or to the next hop's look-up. */
static void
dl_go(struct dl *dl, int64_t now)
{
	struct delivery *d = dl->d;
	struct dl_conn *c = conn_idle(d, dl->dest);
	struct dl_dead *x;

	if (c != NULL) {
		dl_send(dl, c);
		return;
	}
	if ((x = dead_find(d, dl->dest, now)) != NULL) {
		struct mta_result r = x->why;

		snprintf(r.text, sizeof(r.text), "delivery temporarily "
		    "suspended: %.900s", x->why.text);
		dl_outcome_all(dl, &r, NULL, NULL);
		return;
	}
	dl_resolve(dl);
}

int64_t
dl_sched_due(enum queue_state st, int64_t due, int64_t expire)
{
	return st == QUEUE_DEFERRED && expire > 0 && expire < due ? expire :
	    due;
}

/*
 * The recipients of sd that dl takes: the pending ones.  A deferred one
 * that is not due yet has given up waiting (max-defer): if any have,
 * dl takes those alone (they bounce) and the others wait for the next
 * turn; one that is early for another reason waits for its time.
 */
static void
dl_pick(struct dl *dl, const struct sched_delivery *sd, int64_t now)
{
	const struct queue_delivery_rcpt *qr;
	size_t i, nexp = 0;
	int r;

	for (i = 0; i < sd->nrcpt; i++) {
		r = sd->rcpts[i];
		if (r < 0 || (size_t)r >= dl->msg->nrcpt)
			continue;
		qr = &dl->msg->rcpts[r];
		if (qr->state == QUEUE_DEFERRED && qr->due > now &&
		    qr->expire > 0 && qr->expire <= now)
			nexp++;
	}
	for (i = 0; i < sd->nrcpt; i++) {
		r = sd->rcpts[i];
		if (r < 0 || (size_t)r >= dl->msg->nrcpt ||
		    !pending_state(dl->msg->rcpts[r].state))
			continue;
		qr = &dl->msg->rcpts[r];
		if (qr->state == QUEUE_DEFERRED && qr->due > now) {
			if (qr->expire > 0 && qr->expire <= now) {
				dl->rcpt[dl->n] = r;
				dl->mr[dl->n].addr = qr->addr;
				dl->mr[dl->n].id = (uint64_t)r;
				dl->n++;
			} else
				sched_add(dl->d->sched, sd->id, r, qr->addr,
				    dl_sched_due(qr->state, qr->due,
				    qr->expire));
			continue;
		}
		if (nexp > 0) {
			sched_add(dl->d->sched, sd->id, r, qr->addr, now);
			continue;
		}
		dl->rcpt[dl->n] = r;
		dl->mr[dl->n].addr = qr->addr;
		dl->mr[dl->n].id = (uint64_t)r;
		dl->n++;
	}
	dl->expiry = nexp > 0;
}

static void
dl_start(struct delivery *d, struct sched_delivery *sd, int64_t now)
{
	struct dl *dl = xcalloc(1, sizeof(*dl));
	const char *errstr;
	int rc;

	dl->d = d;
	dl->conf = conf_ref(d->deps.conf);
	dl->res = resolver_ref(d->res);
	dl->sd = sd;
	str_copy(dl->id, sd->id, sizeof(dl->id));
	TAILQ_INSERT_TAIL(&d->active, dl, link);
	if ((rc = queue_load_delivery(d->deps.queue, sd->id, &dl->msg,
	    &errstr)) == -1) {
		log_err("queue_id=%s event=load-failed error=\"%s\"", sd->id,
		    errstr);
		dl_put_back(d, sd, now + (int64_t)d->deps.conf->retry.initial);
	}
	if (rc != 1) {			/* deleted meanwhile, or unreadable */
		dl_free(&dl);
		return;
	}
	dl->rcpt = xcalloc(sd->nrcpt, sizeof(*dl->rcpt));
	dl->mr = xcalloc(sd->nrcpt, sizeof(*dl->mr));
	dl_pick(dl, sd, now);
	if (dl->n == 0) {		/* held or done meanwhile */
		dl_free(&dl);
		return;
	}
	dl->dest = xstrdup(sd->dest);
	dl->domain = xstrdup(domain_of(dl->mr[0].addr));
	str_lower(dl->domain);
	dl->via = conf_route_for(dl->conf, dl->domain);
	dl->tx.sender = dl->msg->sender;
	dl->tx.rcpts = dl->mr;
	dl->tx.nrcpt = dl->n;
	dl->tx.data = dl->msg->body;
	dl->tx.len = dl->msg->body_len;
	dl->tx.flags = dl->msg->flags & (MTA_TX_8BITMIME | MTA_TX_SMTPUTF8);
	if (dl->expiry)
		dl_expire(dl, now);
	else
		dl_go(dl, now);
}

int64_t
dl_now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
pump(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	struct sched_delivery *sd;
	int64_t now = dl_now_usec() / 1000000, due, wait;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	while ((sd = sched_next(d->sched, now)) != NULL)
		dl_start(d, sd, now);
	due = sched_next_due(d->sched);
	if (due == INT64_MIN || due == INT64_MAX || due <= now) {
		evtimer_del(d->ev_pump);	/* a finish will kick */
		return;
	}
	wait = due * 1000000 - dl_now_usec();
	if (wait < 0)
		wait = 0;
	tv.tv_sec = (time_t)(wait / 1000000);
	tv.tv_usec = (suseconds_t)(wait % 1000000);
	evtimer_add(d->ev_pump, &tv);
}

/* The delivery a recipient is in (until its outcome is committed). */
static struct dl *
rcpt_delivery(struct delivery *d, const char *id, int rcpt)
{
	struct dl *dl;
	size_t i;

	TAILQ_FOREACH(dl, &d->active, link) {
		if (strcmp(dl->id, id) != 0)
			continue;
		for (i = 0; i < dl->n; i++)
			if (dl->rcpt[i] == rcpt)
				return dl;
	}
	return NULL;
}

void
delivery_queued(struct delivery *d, const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (pending_state(m->rcpts[i].state))
			sched_add(d->sched, m->id, (int)i, m->rcpts[i].addr,
			    dl_sched_due(m->rcpts[i].state, m->rcpts[i].due,
			    m->rcpts[i].expire));
	delivery_kick(d);
}

void
delivery_sync(struct delivery *d, const char *id)
{
	struct queue_detail *qd = NULL;
	const char *errstr;
	size_t i;
	int rc;

	if ((rc = queue_show(d->deps.queue, id, &qd, &errstr)) == -1) {
		log_err("queue_id=%s event=sync-failed error=\"%s\"", id,
		    errstr);
		return;
	}
	sched_remove(d->sched, id, -1);
	if (rc == 1) {
		for (i = 0; i < qd->nrcpt; i++) {
			const struct queue_rcpt_info *r = &qd->rcpts[i];
			struct dl *dl = rcpt_delivery(d, id, (int)i);

			if (dl != NULL)		/* its outcome will look again */
				dl->resync = true;
			else if (pending_state(r->state))
				sched_add(d->sched, id, (int)i, r->addr,
				    dl_sched_due(r->state, r->due, r->expire));
		}
		queue_detail_free(&qd);
	}
	delivery_kick(d);
}

static void
load_one(const struct queue_pending *p, void *arg)
{
	struct delivery *d = arg;

	if (pending_state(p->state))
		sched_add(d->sched, p->id, p->rcpt, p->addr,
		    dl_sched_due(p->state, p->due, p->expire));
}

int
delivery_start(struct delivery **dp, const struct delivery_deps *deps,
    const char **errstr)
{
	const struct conf *conf = deps->conf;
	struct sched_limits lim;
	struct delivery *d;
	struct dns *dns;
	int line;

	d = xcalloc(1, sizeof(*d));
	d->deps = *deps;
	conf_ref(d->deps.conf);
	TAILQ_INIT(&d->active);
	TAILQ_INIT(&d->conns);
	TAILQ_INIT(&d->dead);
	if (delivery_preload_tls(conf, &line, errstr) == -1)
		goto fail;
	if ((dns = dns_new(deps->base, conf->resolver, DL_DNS_SECS,
	    errstr)) == NULL)
		goto fail;
	d->res = resolver_new(dns);
	lim.connections = (unsigned)conf->delivery.connections;
	lim.per_destination = (unsigned)conf->delivery.per_destination;
	d->sched = sched_new(&lim, dest_of, d);
	if (queue_load_pending(deps->queue, load_one, d, errstr) == -1)
		goto fail;
	d->ev_pump = evtimer_new(deps->base, pump, d);
	log_info("event=delivery-started waiting=%zu connections=%u "
	    "per_destination=%u", sched_waiting(d->sched), lim.connections,
	    lim.per_destination);
	*dp = d;
	delivery_kick(d);
	return 0;
fail:
	delivery_free(&d);
	return -1;
}

void
delivery_check_done(struct delivery *d)
{
	void (*done)(void *) = d->done;

	if (!d->stopping || done == NULL || !TAILQ_EMPTY(&d->active) ||
	    d->jobs > 0)
		return;
	d->done = NULL;
	if (d->ev_grace != NULL)
		evtimer_del(d->ev_grace);
	done(d->done_arg);
}

/* Grace over: what is still under way is dropped, not recorded. */
static void
grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *d = arg;
	struct dl *dl, *next;

	(void)fd;
	(void)what;
	for (dl = TAILQ_FIRST(&d->active); dl != NULL; dl = next) {
		next = TAILQ_NEXT(dl, link);
		if (dl->sd == NULL)	/* its outcome is being committed */
			continue;
		log_info("queue_id=%s event=delivery-abandoned reason="
		    "\"shutdown\" nrcpt=%zu", dl->id, dl->n);
		dl_free(&dl);
	}
	delivery_check_done(d);
}

void
delivery_shutdown(struct delivery *d, unsigned grace, void (*done)(void *),
    void *arg)
{
	struct dl_conn *c, *next;
	struct timeval tv = { (time_t)grace, 0 };

	d->stopping = true;
	d->done = done;
	d->done_arg = arg;
	evtimer_del(d->ev_pump);
	for (c = TAILQ_FIRST(&d->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->dl == NULL)
			conn_abort(d, c);
	}
	if (!TAILQ_EMPTY(&d->active)) {
		log_info("event=delivery-stopping active=%u grace=%u",
		    sched_active(d->sched), grace);
		d->ev_grace = evtimer_new(d->deps.base, grace_over, d);
		evtimer_add(d->ev_grace, &tv);
	}
	delivery_check_done(d);
}

void
delivery_free(struct delivery **dp)
{
	struct delivery *d = *dp;
	struct dl *dl;
	struct dl_conn *c;

	if (d == NULL)
		return;
	*dp = NULL;
	d->stopping = true;
	d->done = NULL;
	while ((dl = TAILQ_FIRST(&d->active)) != NULL)
		dl_free(&dl);
	while ((c = TAILQ_FIRST(&d->conns)) != NULL)
		conn_abort(d, c);
	while (!TAILQ_EMPTY(&d->dead))
		dead_free(d, TAILQ_FIRST(&d->dead));
	resolver_unref(&d->res);
	sched_free(&d->sched);
	if (d->ev_pump != NULL)
		event_free(d->ev_pump);
	if (d->ev_grace != NULL)
		event_free(d->ev_grace);
	mta_tls_cache_clear();
	conf_unref(&d->deps.conf);
	free(d);
}

void
delivery_set_conf(struct delivery *d, struct conf *conf)
{
	struct conf *old = d->deps.conf;
	struct sched_limits lim;
	struct dl_conn *c;
	const char *errstr;
	struct dns *dns;
	d->deps.conf = conf_ref(conf);
	conf_unref(&old);
	/* a new resolver: the setting may have changed, and the system's
	 * servers (resolv.conf) are read again */
	if ((dns = dns_new(d->deps.base, conf->resolver, DL_DNS_SECS,
	    &errstr)) == NULL)
		log_warn("event=reload-warning setting=resolver reason=\"%s; "
		    "the running resolver stays\"", errstr);
	else {
		resolver_unref(&d->res);
		d->res = resolver_new(dns);
	}
	lim.connections = (unsigned)conf->delivery.connections;
	lim.per_destination = (unsigned)conf->delivery.per_destination;
	sched_set_limits(d->sched, &lim);
	sched_rekey(d->sched);
	TAILQ_FOREACH(c, &d->conns, link) {
		c->stale = true;
		if (c->dl == NULL && c->ready) {
			c->ready = false;
			mta_session_close(c->s);
		}
	}
	delivery_unsuspend(d);
	delivery_kick(d);
}

void
delivery_status_json(struct delivery *d, struct buf *b)
{
	const struct delivery_counts *n = &d->counts;

	buf_printf(b, "\"delivery\":{\"active\":%u,\"waiting\":%zu,"
	    "\"connections\":%u,\"connections_total\":%llu,\"sent\":%llu,"
	    "\"deferred\":%llu,\"bounced\":%llu,\"notifications\":%llu},",
	    sched_active(d->sched), sched_waiting(d->sched), d->nconn,
	    (unsigned long long)n->connections,
	    (unsigned long long)n->sent, (unsigned long long)n->deferred,
	    (unsigned long long)n->bounced, (unsigned long long)n->dsns);
}
