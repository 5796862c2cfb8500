/*
 * notify: the outbox and its drain (notify.h says what the module does).
 *
 * Invariants:
 * - Every webhook event in memory is a row of the outbox: it is added
 *   in the job of the message that caused it (or loaded at start-up) and
 *   forgotten only after a job deleting its row was submitted (sent, or
 *   dropped).  The depth notify_status_json reports is those rows.
 * - Per notifier, events leave in order, at most NOTIFY_PAR at once while
 *   the endpoint answers; after a failure only one is in flight (a probe)
 *   until one succeeds, and nothing is tried before next_try.  So an
 *   endpoint that is down costs one request per backoff step, not one
 *   per event.
 * - The backoff after f failures in a row is 2^(f-1) s, at most
 *   NOTIFY_BACKOFF_MAX; an event older than its notifier's lifetime is
 *   dropped when a try fails (and every queued one that old with it).
 * - Strings of the configuration are copied into a batch: a reload may
 *   free that configuration before the writer runs the batch's job.
 * - A notifier is never freed before notify_free: an HTTP result or a
 *   timer always finds its nstate, even after a reload removed it (cf is
 *   then NULL and its events are dropped).
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "ctl_priv.h"
#include "loop.h"
#include "notify.h"
#include "notify_priv.h"

#define NOTIFY_PAR		4	/* requests at once per notifier */
#define NOTIFY_BACKOFF_MAX	300	/* seconds between tries, at most */

struct nstate;

struct nevent {
	TAILQ_ENTRY(nevent)	 link;
	struct nstate		*ns;
	int64_t			 id;		/* outbox row */
	int64_t			 created;
	char			*payload;	/* the JSON body */
	size_t			 len;
	char			*what;		/* "quota=P/Q key=K threshold=T"
						   for the log */
	unsigned		 attempts;
	bool			 inflight;
};

struct nstate {
	struct notify			*n;
	char				*name;
	const struct conf_notifier	*cf;	/* NULL: not configured */
	TAILQ_HEAD(, nevent)		 q;
	size_t				 depth, inflight;
	unsigned			 failures;	/* in a row */
	int64_t				 next_try;
	struct event			*timer;
	uint64_t			 sent, retried, dropped, mails;
	char				 last_error[256];
	int64_t				 last_error_at;
	int64_t				 last_sent_at;
};

struct notify {
	struct event_base	*base;
	const struct conf	*conf;
	struct queue		*queue;
	struct queue_writer	*writer;
	struct notify_http	*http;
	struct nstate		**ns;
	size_t			 nns;
	notify_queued_fn	*queued;
	void			*queued_arg;
	char			*conf_path;	/* absolute, or NULL: the
						   default (sluicectl's) */
	int64_t			*del;		/* outbox rows to delete, by
						   the next job */
	size_t			 ndel;
	struct event		*del_ev;	/* submits that job */
	bool			 stopped;
};

#define NOTIFY_DEFAULT_CONF	"/etc/sluice/sluice.conf"


/* One event for one notifier, on its way to the store. */
struct nitem {
	char			*notifier;
	bool			 mail;
	struct buf		 payload;	/* JSON, or the alert message */
	int64_t			 id;		/* outbox row, once stored */
	struct queue_msg	 msg;		/* mail */
	struct queue_rcpt_in	*rin;
	char			**to;
	size_t			 nto;
};

struct notify_batch {
	struct nitem		*it;
	size_t			 n;
	struct buf		 log;		/* one line per event */
	int64_t			 now;
};

static void	ns_kick(struct nstate *);

static int64_t
now_secs(void)
{
	return (int64_t)time(NULL);
}

static struct nstate *
ns_find(struct notify *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->nns; i++)
		if (strcmp(n->ns[i]->name, name) == 0)
			return n->ns[i];
	return NULL;
}

static void
ns_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ns_kick(arg);
}

static struct nstate *
ns_get(struct notify *n, const char *name)
{
	struct nstate *ns = ns_find(n, name);

	if (ns != NULL)
		return ns;
	ns = xcalloc(1, sizeof(*ns));
	ns->n = n;
	ns->name = xstrdup(name);
	TAILQ_INIT(&ns->q);
	ns->timer = evtimer_new(n->base, ns_timer, ns);
	n->ns = xreallocarray(n->ns, n->nns + 1, sizeof(*n->ns));
	n->ns[n->nns++] = ns;
	return ns;
}

static void
ns_error(struct nstate *ns, const char *what)
{
	str_copy(ns->last_error, what, sizeof(ns->last_error));
	ns->last_error_at = now_secs();
}

/*
 * Outbox rows go by jobs of their own: a sent or dropped event is
 * forgotten at once, and its row follows.  A crash in between sends it
 * again (at least once).
 */
struct ndel {
	int64_t		*id;
	size_t		 n;
};

static int
del_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	const struct ndel *d = arg;
	size_t i;

	for (i = 0; i < d->n; i++)
		if (queue_txn_outbox_delete(txn, d->id[i], errstr) < 0)
			return -1;
	return 0;
}

static void
del_done(void *arg, int rc, const char *errstr)
{
	struct ndel *d = arg;

	if (rc < 0)
		log_err("event=notify-error what=delete events=%zu "
		    "error=\"%s\"", d->n, errstr ? errstr : "?");
	free(d->id);
	free(d);
}

/* The rows gone during one turn of the loop leave in one job. */
static void
del_flush(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	struct ndel *d;

	(void)fd;
	(void)what;
	/* after notify_stop the writer is gone: the rows stay, and are
	 * sent again after a restart (at least once) */
	if (n->ndel == 0 || n->stopped)
		return;
	d = xmalloc(sizeof(*d));
	d->id = n->del;
	d->n = n->ndel;
	n->del = NULL;
	n->ndel = 0;
	queue_writer_submit(n->writer, del_run, del_done, d);
}

static void
outbox_delete(struct notify *n, int64_t id)
{
	static const struct timeval now = { 0, 0 };

	if (n->stopped)
		return;
	n->del = xreallocarray(n->del, n->ndel + 1, sizeof(*n->del));
	n->del[n->ndel++] = id;
	if (n->ndel == 1)
		evtimer_add(n->del_ev, &now);
}

static void
ev_forget(struct nevent *ev)
{
	struct nstate *ns = ev->ns;

	TAILQ_REMOVE(&ns->q, ev, link);
	ns->depth--;
	outbox_delete(ns->n, ev->id);
	free(ev->payload);
	free(ev->what);
	free(ev);
}

static void
ev_drop(struct nevent *ev, const char *reason)
{
	log_warn("event=notify-dropped notifier=%s outbox_id=%" PRId64
	    " attempts=%u reason=\"%s\" %s", ev->ns->name, ev->id,
	    ev->attempts, reason, ev->what);
	ev->ns->dropped++;
	ev_forget(ev);
}

/* Past the notifier's lifetime: every queued event that old goes. */
static void
ns_drop_old(struct nstate *ns, int64_t now)
{
	struct nevent *ev, *next;
	char why[320];

	for (ev = TAILQ_FIRST(&ns->q); ev != NULL; ev = next) {
		next = TAILQ_NEXT(ev, link);
		if (ev->inflight || ns->cf == NULL ||
		    now - ev->created < (int64_t)ns->cf->lifetime)
			continue;
		snprintf(why, sizeof(why), "not delivered within %" PRIu64
		    " s (lifetime); last error: %s", ns->cf->lifetime,
		    ns->last_error);
		ev_drop(ev, why);
	}
}

static void
on_result(void *arg, const struct notify_http_result *r)
{
	struct nevent *ev = arg;
	struct nstate *ns = ev->ns;
	int64_t now = now_secs(), wait;

	ev->inflight = false;
	ns->inflight--;
	ev->attempts++;
	if (r->ok) {
		log_info("event=notify-sent notifier=%s outbox_id=%" PRId64
		    " status=%ld attempts=%u delay=%" PRId64 " request=%.3f %s",
		    ns->name, ev->id, r->status, ev->attempts,
		    now - ev->created, r->elapsed, ev->what);
		ns->sent++;
		ns->last_sent_at = now;
		ns->failures = 0;
		ns->next_try = 0;
		ev_forget(ev);
	} else if (ns->cf == NULL) {
		ev_drop(ev, "the notifier is no longer in the configuration");
	} else if (!r->retry) {
		ns_error(ns, r->error);
		ev_drop(ev, r->error);
	} else {
		ns_error(ns, r->error);
		ns->retried++;
		/* requests that were in flight together fail together:
		 * one step of backoff for them all */
		if (now >= ns->next_try) {
			ns->failures++;
			wait = ns->failures > 9 ? NOTIFY_BACKOFF_MAX :
			    (int64_t)1 << (ns->failures - 1);
			if (wait > NOTIFY_BACKOFF_MAX)
				wait = NOTIFY_BACKOFF_MAX;
			ns->next_try = now + wait;
		}
		if (now - ev->created < (int64_t)ns->cf->lifetime)
			log_warn("event=notify-retry notifier=%s outbox_id=%"
			    PRId64 " attempts=%u error=\"%s\" retry_in=%"
			    PRId64 " %s", ns->name, ev->id, ev->attempts,
			    r->error, ns->next_try - now, ev->what);
		ns_drop_old(ns, now);
	}
	if (ns->depth == 0)
		ns->next_try = 0;
	ns_kick(ns);
}

static void
ev_post(struct nevent *ev)
{
	struct nstate *ns = ev->ns;
	const struct conf_notifier *cf = ns->cf;
	const char *errstr = "libcurl refused the request";

	ev->inflight = true;
	ns->inflight++;
	if (notify_http_post(ns->n->http, cf->url, ev->payload, ev->len,
	    cf->secret, cf->secret_len, cf->timeout, on_result, ev,
	    &errstr) == 0)
		return;
	ev->inflight = false;
	ns->inflight--;
	ns_error(ns, errstr);
	ev_drop(ev, errstr);
}

/* Starts what may start now; arms the timer for what must wait. */
static void
ns_kick(struct nstate *ns)
{
	struct nevent *ev, *next;
	struct timeval tv;
	int64_t now = now_secs();
	size_t par;

	if (ns->n->stopped || ns->cf == NULL ||
	    ns->cf->kind != CONF_NOTIFIER_WEBHOOK || ns->depth == 0)
		return;
	if (now < ns->next_try) {
		tv.tv_sec = (time_t)(ns->next_try - now);
		tv.tv_usec = 0;
		evtimer_add(ns->timer, &tv);
		return;
	}
	par = ns->failures > 0 ? 1 : NOTIFY_PAR;
	for (ev = TAILQ_FIRST(&ns->q); ev != NULL && ns->inflight < par;
	    ev = next) {
		next = TAILQ_NEXT(ev, link);
		if (!ev->inflight)
			ev_post(ev);
	}
}

/* What an event is about, read back from its body, for the log. */
static char *
ev_what(const char *payload, size_t len)
{
	struct ctl_json *j;
	struct buf b = BUF_INIT;
	const char *errstr;
	char *s;
	uint64_t t = 0;

	if ((j = ctl_json_parse(payload, len, &errstr)) == NULL)
		return xstrdup("quota=? key=? threshold=?");
	(void)ctl_json_u64(j, "threshold", &t);
	buf_printf(&b, "quota=%s/%s key=", ctl_json_str(j, "policy") ?
	    ctl_json_str(j, "policy") : "?", ctl_json_str(j, "quota") ?
	    ctl_json_str(j, "quota") : "?");
	buf_addstr(&b, ctl_json_str(j, "key") ? ctl_json_str(j, "key") : "?");
	buf_printf(&b, " threshold=%" PRIu64, t);
	ctl_json_free(&j);
	buf_addc(&b, '\0');
	s = xstrdup(b.data);
	buf_free(&b);
	return s;
}

static void
ns_add(struct nstate *ns, int64_t id, int64_t created, const char *payload,
    size_t len)
{
	struct nevent *ev = xcalloc(1, sizeof(*ev));

	ev->ns = ns;
	ev->id = id;
	ev->created = created;
	ev->payload = xmalloc(len + 1);
	memcpy(ev->payload, payload, len);
	ev->payload[len] = '\0';
	ev->len = len;
	ev->what = ev_what(payload, len);
	TAILQ_INSERT_TAIL(&ns->q, ev, link);
	ns->depth++;
}

/* A notifier that is gone (or is no webhook any more): its events go. */
static void
ns_orphan(struct nstate *ns)
{
	struct nevent *ev, *next;

	for (ev = TAILQ_FIRST(&ns->q); ev != NULL; ev = next) {
		next = TAILQ_NEXT(ev, link);
		if (!ev->inflight)
			ev_drop(ev, ns->cf == NULL ? "the notifier is no "
			    "longer in the configuration" : "the notifier is "
			    "no longer a webhook");
	}
}

static void
load_row(const struct queue_outbox_row *r, void *arg)
{
	struct notify *n = arg;
	const struct conf_notifier *cf = conf_notifier(n->conf, r->notifier);

	if (cf == NULL || cf->kind != CONF_NOTIFIER_WEBHOOK) {
		log_warn("event=notify-dropped notifier=%s outbox_id=%" PRId64
		    " reason=\"no webhook notifier of that name is "
		    "configured\"", r->notifier, r->id);
		outbox_delete(n, r->id);
		return;
	}
	ns_add(ns_get(n, r->notifier), r->id, r->created, r->payload, r->len);
}

void
notify_set_conf(struct notify *n, const struct conf *conf)
{
	char *abs;
	size_t i;

	n->conf = conf;
	free(n->conf_path);
	n->conf_path = NULL;
	abs = conf->path != NULL ? realpath(conf->path, NULL) : NULL;
	if (abs != NULL && strcmp(abs, NOTIFY_DEFAULT_CONF) != 0)
		n->conf_path = xstrdup(abs);
	free(abs);
	for (i = 0; i < conf->nnotifiers; i++)
		(void)ns_get(n, conf->notifiers[i].name);
	for (i = 0; i < n->nns; i++) {
		n->ns[i]->cf = conf_notifier(conf, n->ns[i]->name);
		if (n->ns[i]->cf == NULL ||
		    n->ns[i]->cf->kind != CONF_NOTIFIER_WEBHOOK)
			ns_orphan(n->ns[i]);
		ns_kick(n->ns[i]);
	}
}

int
notify_new(struct notify **np, struct event_base *base,
    const struct conf *conf, struct queue *q, struct queue_writer *w,
    const char **errstr)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	size_t i;
	int rows;

	n->base = base;
	n->conf = conf;
	n->queue = q;
	n->writer = w;
	n->del_ev = evtimer_new(base, del_flush, n);
	if (notify_http_new(&n->http, base, errstr) == -1) {
		event_free(n->del_ev);
		free(n);
		return -1;
	}
	for (i = 0; i < conf->nnotifiers; i++)
		(void)ns_get(n, conf->notifiers[i].name);
	for (i = 0; i < n->nns; i++)
		n->ns[i]->cf = conf_notifier(conf, n->ns[i]->name);
	if ((rows = queue_load_outbox(q, 0, 0, load_row, n, errstr)) < 0) {
		notify_free(&n);
		return -1;
	}
	log_info("event=notifiers-loaded notifiers=%zu outbox=%d",
	    conf->nnotifiers, rows);
	*np = n;
	notify_set_conf(n, conf);
	return 0;
}

void
notify_set_queued(struct notify *n, notify_queued_fn *fn, void *arg)
{
	n->queued = fn;
	n->queued_arg = arg;
}

void
notify_stop(struct notify *n)
{
	size_t i;

	if (n == NULL)
		return;
	evtimer_del(n->del_ev);
	del_flush(-1, 0, n);
	n->stopped = true;
	notify_http_free(&n->http);
	for (i = 0; i < n->nns; i++)
		evtimer_del(n->ns[i]->timer);
}

void
notify_free(struct notify **np)
{
	struct notify *n = *np;
	struct nevent *ev;
	size_t i;

	if (n == NULL)
		return;
	notify_http_free(&n->http);
	for (i = 0; i < n->nns; i++) {
		while ((ev = TAILQ_FIRST(&n->ns[i]->q)) != NULL) {
			TAILQ_REMOVE(&n->ns[i]->q, ev, link);
			free(ev->payload);
			free(ev->what);
			free(ev);
		}
		event_free(n->ns[i]->timer);
		free(n->ns[i]->name);
		free(n->ns[i]);
	}
	free(n->ns);
	if (n->del_ev != NULL)
		event_free(n->del_ev);
	free(n->del);
	free(n->conf_path);
	free(n);
	*np = NULL;
}

/*
 * Batches: the events of one decision.
 */

static void
event_of(const struct notify *n, const struct pol_notice *no, int64_t now,
    struct notify_event *ev, char *period, size_t periodsz)
{
	memset(ev, 0, sizeof(*ev));
	pol_period_format(&no->quota->period, period, periodsz);
	ev->threshold = no->threshold;
	ev->policy = no->quota->policy->name;
	ev->quota = no->quota->name;
	ev->track = pol_track_name(no->quota->track);
	ev->key = no->key;
	ev->used = no->used;
	ev->limit = no->limit;
	ev->unit = no->unit == POL_UNIT_SIZE ? "bytes" :
	    pol_unit_name(no->unit);
	ev->period = period;
	ev->window_start = no->start;
	ev->window_end = no->end;
	ev->deferred = no->deferred;
	ev->next_release = no->next_release;
	ev->hostname = n->conf->hostname;
	ev->conf_path = n->conf_path;
	ev->time = now;
}

static struct nitem *
item_add(struct notify_batch *b, const struct conf_notifier *cf)
{
	struct nitem *it;

	b->it = xreallocarray(b->it, b->n + 1, sizeof(*b->it));
	it = &b->it[b->n++];
	memset(it, 0, sizeof(*it));
	it->notifier = xstrdup(cf->name);
	it->mail = cf->kind == CONF_NOTIFIER_MAIL;
	return it;
}

/* The alert message of ev for the mail notifier cf, into it. */
static void
item_mail(struct nitem *it, const struct notify *n,
    const struct conf_notifier *cf, const struct notify_event *ev)
{
	struct timespec ts;
	char from[512], msgid[512];
	bool eightbit = false;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	queue_id_new(it->msg.id, (int64_t)ts.tv_sec * 1000000 +
	    ts.tv_nsec / 1000);
	if (cf->from != NULL)
		str_copy(from, cf->from, sizeof(from));
	else
		snprintf(from, sizeof(from), "MAILER-DAEMON@%s",
		    n->conf->hostname);
	snprintf(msgid, sizeof(msgid), "%s.alert@%s", it->msg.id,
	    n->conf->hostname);
	notify_mail(ev, from, (const char *const *)cf->to, cf->nto, msgid,
	    ev->time, &it->payload, &eightbit);
	it->nto = cf->nto;
	it->to = xcalloc(cf->nto + 1, sizeof(*it->to));
	it->rin = xcalloc(cf->nto + 1, sizeof(*it->rin));
	for (i = 0; i < cf->nto; i++) {
		it->to[i] = xstrdup(cf->to[i]);
		it->rin[i].addr = it->to[i];
		it->rin[i].state = QUEUE_READY;
		it->rin[i].due = ev->time;
	}
	it->msg.arrival = ev->time;
	it->msg.sender = "";
	it->msg.flags = eightbit ? QUEUE_F_8BITMIME : 0;
	it->msg.client_addr = "127.0.0.1";
	it->msg.client_name = "localhost";
	it->msg.client_proto = "LOCAL";
	it->msg.rcpts = it->rin;
	it->msg.nrcpt = cf->nto;
	it->msg.body = it->payload.data;
	it->msg.body_len = it->payload.len;
}

/* Adds ev for the notifier cf to b. */
static void
batch_event(struct notify_batch *b, const struct notify *n,
    const struct conf_notifier *cf, const struct notify_event *ev)
{
	struct nitem *it = item_add(b, cf);

	if (it->mail)
		item_mail(it, n, cf, ev);
	else
		notify_json(ev, &it->payload);
}

static void
batch_log(struct notify_batch *b, const struct pol_notice *no,
    const char *qid)
{
	size_t i;

	buf_printf(&b->log, "queue_id=%s event=notify quota=%s/%s key=%s "
	    "threshold=%u used=%.0f limit=%" PRIu64 " unit=%s deferred=%.0f "
	    "notifiers=", qid, no->quota->policy->name, no->quota->name,
	    no->key, no->threshold, no->used, no->limit,
	    pol_unit_name(no->unit), no->deferred);
	for (i = 0; i < no->quota->nnotify_to; i++)
		buf_printf(&b->log, "%s%s", i ? "," : "",
		    no->quota->notify_to[i]);
	buf_addc(&b->log, '\n');
}

struct notify_batch *
notify_batch_new(struct notify *n, const struct pol_decision *d,
    const char *qid, int64_t now)
{
	const struct conf_notifier *cf;
	const struct pol_notice *no;
	struct notify_batch *b;
	struct notify_event ev;
	char period[32];
	size_t i, j;

	if (n == NULL || d->nnotice == 0)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->now = now;
	for (i = 0; i < d->nnotice; i++) {
		no = &d->notice[i];
		event_of(n, no, now, &ev, period, sizeof(period));
		batch_log(b, no, qid);
		for (j = 0; j < no->quota->nnotify_to; j++)
			if ((cf = conf_notifier(n->conf,
			    no->quota->notify_to[j])) != NULL)
				batch_event(b, n, cf, &ev);
	}
	return b;
}

int
notify_batch_store(struct queue_txn *txn, struct notify_batch *b,
    const char **errstr)
{
	struct queue_outbox_in in;
	size_t i;

	for (i = 0; b != NULL && i < b->n; i++) {
		if (b->it[i].mail) {
			if (queue_txn_store(txn, &b->it[i].msg, errstr) == -1)
				return -1;
			continue;
		}
		in.notifier = b->it[i].notifier;
		in.payload = b->it[i].payload.data;
		in.len = b->it[i].payload.len;
		in.created = b->now;
		if (queue_txn_outbox_add(txn, &in, &b->it[i].id, errstr) == -1)
			return -1;
	}
	return 0;
}

static void
batch_free(struct notify_batch *b)
{
	size_t i, j;

	for (i = 0; i < b->n; i++) {
		free(b->it[i].notifier);
		buf_free(&b->it[i].payload);
		for (j = 0; j < b->it[i].nto; j++)
			free(b->it[i].to[j]);
		free(b->it[i].to);
		free(b->it[i].rin);
	}
	free(b->it);
	buf_free(&b->log);
	free(b);
}

static void
log_lines(const struct buf *b)
{
	const char *p, *nl;

	for (p = b->data; p != NULL && p < b->data + b->len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(b->data + b->len - p))) ==
		    NULL)
			break;
		log_info("%.*s", (int)(nl - p), p);
	}
}

static void
item_committed(struct notify *n, struct nitem *it, int64_t now)
{
	struct nstate *ns = ns_get(n, it->notifier);
	size_t i;

	if (!it->mail) {
		ns_add(ns, it->id, now, it->payload.data, it->payload.len);
		if (ns->cf == NULL || ns->cf->kind != CONF_NOTIFIER_WEBHOOK)
			ns_orphan(ns);
		return;
	}
	ns->mails++;
	for (i = 0; i < it->nto; i++)
		log_info("event=notify-mail notifier=%s notification=%s "
		    "to=<%s>", it->notifier, it->msg.id, it->to[i]);
	if (n->queued != NULL)
		n->queued(n->queued_arg, &it->msg);
}

void
notify_batch_done(struct notify *n, struct notify_batch **bp, int rc)
{
	struct notify_batch *b = *bp;
	size_t i;

	if (b == NULL)
		return;
	*bp = NULL;
	if (rc >= 0 && n != NULL) {
		log_lines(&b->log);
		for (i = 0; i < b->n; i++)
			item_committed(n, &b->it[i], b->now);
		for (i = 0; i < n->nns; i++)
			ns_kick(n->ns[i]);
	}
	batch_free(b);
}

/*
 * sluicectl notify test NAME.
 */
struct ntest {
	struct notify		*n;
	char			*name;
	notify_test_fn		*done;
	void			*arg;
	struct notify_batch	*b;
	int			 rc;
	char			 err[256];
};

static void
test_event(const struct notify *n, struct notify_event *ev, int64_t now)
{
	memset(ev, 0, sizeof(*ev));
	ev->threshold = 100;
	ev->policy = "test";
	ev->quota = "test";
	ev->track = "Sender:user@domain";
	ev->key = "test@example.com";
	ev->used = 10;
	ev->limit = 10;
	ev->unit = "messages";
	ev->period = "1h";
	ev->window_start = now - now % 3600;
	ev->window_end = ev->window_start + 3600;
	ev->hostname = n->conf->hostname;
	ev->conf_path = n->conf_path;
	ev->time = now;
	ev->test = true;
}

static void
test_reply(struct ntest *t, int code, struct buf *json)
{
	t->done(t->arg, code, json);
	free(t->name);
	free(t);
}

static void
test_http_done(void *arg, const struct notify_http_result *r)
{
	struct ntest *t = arg;
	struct buf json = BUF_INIT;

	log_info("event=notify-test notifier=%s delivered=%s status=%ld "
	    "error=\"%s\"", t->name, r->ok ? "yes" : "no", r->status,
	    r->error);
	buf_addstr(&json, "{\"notifier\":");
	buf_add_json_str(&json, t->name);
	buf_printf(&json, ",\"kind\":\"webhook\",\"delivered\":%s,"
	    "\"status\":%ld,\"elapsed\":%.3f,\"error\":", r->ok ? "true" :
	    "false", r->status, r->elapsed);
	if (r->ok)
		buf_addstr(&json, "null}");
	else {
		buf_add_json_str(&json, r->error);
		buf_addc(&json, '}');
	}
	test_reply(t, 200, &json);
	buf_free(&json);
}

static int
test_mail_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct ntest *t = arg;

	return notify_batch_store(txn, t->b, errstr);
}

static void
test_mail_back(void *arg)
{
	struct ntest *t = arg;
	struct buf json = BUF_INIT;
	struct nitem *it = &t->b->it[0];
	size_t i;

	buf_addstr(&json, "{\"notifier\":");
	buf_add_json_str(&json, t->name);
	if (t->rc < 0) {
		buf_addstr(&json, ",\"kind\":\"mail\",\"queued\":false,"
		    "\"error\":");
		buf_add_json_str(&json, t->err);
	} else {
		buf_printf(&json, ",\"kind\":\"mail\",\"queued\":true,"
		    "\"queue_id\":\"%s\",\"to\":[", it->msg.id);
		for (i = 0; i < it->nto; i++) {
			buf_addstr(&json, i ? "," : "");
			buf_add_json_str(&json, it->to[i]);
		}
		buf_addc(&json, ']');
	}
	buf_addc(&json, '}');
	notify_batch_done(t->n, &t->b, t->rc);
	test_reply(t, t->rc < 0 ? 500 : 200, &json);
	buf_free(&json);
}

static void
test_mail_done(void *arg, int rc, const char *errstr)
{
	struct ntest *t = arg;

	t->rc = rc;
	str_copy(t->err, rc < 0 && errstr ? errstr : "", sizeof(t->err));
	loop_call(t->n->base, test_mail_back, t);
}

void
notify_test(struct notify *n, const char *name, notify_test_fn *done,
    void *arg)
{
	const struct conf_notifier *cf;
	struct notify_event ev;
	struct buf json = BUF_INIT;
	struct ntest *t;
	const char *errstr = "libcurl refused the request";

	cf = n != NULL ? conf_notifier(n->conf, name) : NULL;
	if (cf == NULL || n->stopped) {
		struct buf msg = BUF_INIT;

		if (n == NULL || n->stopped)
			buf_addstr(&msg, "notifications are not running");
		else
			buf_printf(&msg, "no notifier \"%s\" in the "
			    "configuration", name);
		buf_addstr(&json, "{\"error\":");
		buf_add_json_str(&json, msg.data);
		buf_addc(&json, '}');
		buf_free(&msg);
		done(arg, n == NULL || n->stopped ? 503 : 404, &json);
		buf_free(&json);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->n = n;
	t->name = xstrdup(name);
	t->done = done;
	t->arg = arg;
	test_event(n, &ev, now_secs());
	t->b = xcalloc(1, sizeof(*t->b));
	t->b->now = ev.time;
	batch_event(t->b, n, cf, &ev);
	if (cf->kind == CONF_NOTIFIER_MAIL) {
		buf_printf(&t->b->log, "event=notify-test notifier=%s "
		    "kind=mail\n", name);
		queue_writer_submit(n->writer, test_mail_run, test_mail_done,
		    t);
		return;
	}
	if (notify_http_post(n->http, cf->url, t->b->it[0].payload.data,
	    t->b->it[0].payload.len, cf->secret, cf->secret_len, cf->timeout,
	    test_http_done, t, &errstr) == -1) {
		struct notify_http_result r;

		memset(&r, 0, sizeof(r));
		str_copy(r.error, errstr, sizeof(r.error));
		batch_free(t->b);
		t->b = NULL;
		test_http_done(t, &r);
		return;
	}
	batch_free(t->b);
	t->b = NULL;
}

static void
json_time_or_null(struct buf *b, int64_t t)
{
	char tb[64];

	if (t == 0) {
		buf_addstr(b, "null");
		return;
	}
	time_rfc3339((time_t)t, tb, sizeof(tb));
	buf_printf(b, "\"%s\"", tb);
}

static void
status_target(struct buf *b, const struct conf_notifier *cf)
{
	struct buf t = BUF_INIT;
	size_t j;

	if (cf == NULL) {
		buf_addstr(b, ",\"kind\":null,\"target\":null");
		return;
	}
	if (cf->kind == CONF_NOTIFIER_WEBHOOK)
		buf_addstr(&t, cf->url);
	for (j = 0; cf->kind == CONF_NOTIFIER_MAIL && j < cf->nto; j++)
		buf_printf(&t, "%s%s", j ? ", " : "", cf->to[j]);
	buf_printf(b, ",\"kind\":\"%s\",\"target\":",
	    cf->kind == CONF_NOTIFIER_WEBHOOK ? "webhook" : "mail");
	buf_add_json_str(b, t.data != NULL ? t.data : "");
	buf_free(&t);
}

void
notify_status_json(struct notify *n, struct buf *b)
{
	const struct nstate *ns;
	bool first = true;
	size_t i;

	buf_addstr(b, "\"notifiers\":[");
	for (i = 0; n != NULL && i < n->nns; i++) {
		ns = n->ns[i];
		if (ns->cf == NULL && ns->depth == 0)
			continue;
		buf_addstr(b, first ? "{\"name\":" : ",{\"name\":");
		first = false;
		buf_add_json_str(b, ns->name);
		status_target(b, ns->cf);
		buf_printf(b, ",\"outbox\":%zu,\"in_flight\":%zu,\"sent\":%"
		    PRIu64 ",\"retried\":%" PRIu64 ",\"dropped\":%" PRIu64
		    ",\"mails\":%" PRIu64 ",\"next_try\":", ns->depth,
		    ns->inflight, ns->sent, ns->retried, ns->dropped,
		    ns->mails);
		json_time_or_null(b, ns->depth > 0 && ns->next_try >
		    now_secs() ? ns->next_try : 0);
		buf_addstr(b, ",\"last_error\":");
		if (ns->last_error[0] != '\0')
			buf_add_json_str(b, ns->last_error);
		else
			buf_addstr(b, "null");
		buf_addstr(b, ",\"last_error_at\":");
		json_time_or_null(b, ns->last_error_at);
		buf_addstr(b, ",\"last_sent_at\":");
		json_time_or_null(b, ns->last_sent_at);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}
