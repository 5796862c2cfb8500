/*
 * engine_state: greylisting's and HELO tracking's state in the daemon
 * (engine_priv.h).  The state lives in memory (policy/'s greylist and
 * helo modules) and the queue database keeps its durable copy, written
 * behind the decisions: a change arms a timer, and when it fires the
 * changed records go to the writer in one job (at most one job at a
 * time; what changes meanwhile goes in the next).  A crash loses at most
 * the last ENGINE_FLUSH_MS of changes: a client greylisted again, never
 * mail.  The clean-up (every ENGINE_PRUNE_SECS) forgets what the longest
 * validity or window of any policy can no longer use, and its removals
 * are written the same way, so the tables stay bounded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "engine_priv.h"
#include "loop.h"

#define ENGINE_FLUSH_MS		500

/* One write: copies of the rows (the strings in one arena per row). */
struct flush_job {
	struct engine		*e;
	struct queue_grey_row	*grey;
	size_t			 ngrey;
	struct queue_helo_row	*helo;
	size_t			 nhelo;
	char			**strs;		/* every string copied */
	size_t			 nstr;
	int			 rc;
	char			 err[256];
};

static const char *
keep(struct flush_job *j, const char *s)
{
	if (s == NULL)
		return NULL;
	j->strs = xreallocarray(j->strs, j->nstr + 1, sizeof(*j->strs));
	j->strs[j->nstr] = xstrdup(s);
	return j->strs[j->nstr++];
}

static void
flush_job_free(struct flush_job *j)
{
	size_t i;

	for (i = 0; i < j->nstr; i++)
		free(j->strs[i]);
	free(j->strs);
	free(j->grey);
	free(j->helo);
	free(j);
}

static void
take_grey(const struct grey_row *r, void *arg)
{
	struct flush_job *j = arg;
	struct queue_grey_row *q;

	j->grey = xreallocarray(j->grey, j->ngrey + 1, sizeof(*j->grey));
	q = &j->grey[j->ngrey++];
	memset(q, 0, sizeof(*q));
	q->kind = r->kind == GREY_ROW_TRIPLET ? QUEUE_GREY_TRIPLET :
	    r->kind == GREY_ROW_AWL ? QUEUE_GREY_AWL : QUEUE_GREY_ABL;
	q->deleted = r->deleted;
	q->net = keep(j, r->net);
	q->sender = keep(j, r->sender);
	q->recipient = keep(j, r->recipient);
	q->first_seen = r->first_seen;
	q->last_seen = r->last_seen;
	q->last_pass = r->last_pass;
	q->tries = r->tries;
	q->passes = r->passes;
}

static void
take_helo(void *arg, const struct helo_row *r, bool gone)
{
	struct flush_job *j = arg;
	struct queue_helo_row *q;
	char ip[ADDR_STRLEN];

	addr_format(&r->client, ip, sizeof(ip));
	j->helo = xreallocarray(j->helo, j->nhelo + 1, sizeof(*j->helo));
	q = &j->helo[j->nhelo++];
	q->deleted = gone;
	q->client = keep(j, ip);
	q->helo = keep(j, r->helo);
	q->last_seen = r->last_seen;
}

static int
flush_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct flush_job *j = arg;

	if (j->ngrey > 0 && queue_txn_grey_apply(txn, j->grey, j->ngrey,
	    errstr) == -1)
		return -1;
	if (j->nhelo > 0 && queue_txn_helo_apply(txn, j->helo, j->nhelo,
	    errstr) == -1)
		return -1;
	return 0;
}

static void	flush(struct engine *);

/* Back on the loop: the next write may go. */
static void
flush_back(void *arg)
{
	struct flush_job *j = arg;
	struct engine_filters *f = j->e->filt;

	if (j->rc < 0) {
		f->write_failures++;
		log_warn("event=filter-state-write-failed rows=%zu error=\"%s\"",
		    j->ngrey + j->nhelo, j->err);
	}
	f->writing = false;
	f->in_writer = 0;
	if (f->again) {
		/* what changed while it wrote, or did not fit: at once, so
		 * the writes keep up with a burst (they group as they come) */
		f->again = false;
		flush(j->e);
	}
	flush_job_free(j);
}

/* Writer thread. */
static void
flush_done(void *arg, int rc, const char *errstr)
{
	struct flush_job *j = arg;

	j->rc = rc;
	if (rc < 0)
		snprintf(j->err, sizeof(j->err), "%s", errstr ? errstr :
		    "unknown");
	loop_call(j->e->base, flush_back, j);
}

static void
flush(struct engine *e)
{
	struct engine_filters *f = e->filt;
	struct flush_job *j;
	struct grey_stats gs;

	if (f->stopped)
		return;			/* no writer any more */
	if (f->writing) {
		f->again = true;
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->e = e;
	grey_changes(f->grey, ENGINE_FLUSH_ROWS, take_grey, j);
	helo_state_changes(f->helo, take_helo, j);
	if (j->ngrey == 0 && j->nhelo == 0) {
		flush_job_free(j);
		return;
	}
	grey_stats(f->grey, &gs);
	f->again = gs.pending > 0;	/* the rest, after this one */
	f->writing = true;
	f->in_writer = j->ngrey + j->nhelo;
	queue_writer_submit(e->writer, flush_run, flush_done, j);
}

static void
flush_timer(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	flush(arg);
}

void
engine_filters_changed(struct engine *e)
{
	struct timeval tv = { 0, ENGINE_FLUSH_MS * 1000 };

	if (e->filt->stopped)
		return;
	if (e->filt->writing) {
		e->filt->again = true;
		return;
	}
	if (!evtimer_pending(e->filt->flush, NULL))
		evtimer_add(e->filt->flush, &tv);
}

void
engine_filters_stop(struct engine *e)
{
	if (e->filt == NULL)
		return;
	evtimer_del(e->filt->flush);
	e->filt->writing = false;	/* the writer runs what it has */
	flush(e);
	while (e->filt->again) {
		e->filt->writing = false;
		flush(e);
	}
	e->filt->stopped = true;	/* nothing more goes to it */
}

/* --- start-up -------------------------------------------------------- */

struct load_ctx {
	struct engine_filters	*f;
	size_t			 bad;
	const char		*why;
};

static void
load_grey(const struct queue_grey_row *q, void *arg)
{
	struct load_ctx *c = arg;
	struct grey_row r;

	memset(&r, 0, sizeof(r));
	r.kind = q->kind == QUEUE_GREY_TRIPLET ? GREY_ROW_TRIPLET :
	    q->kind == QUEUE_GREY_AWL ? GREY_ROW_AWL : GREY_ROW_ABL;
	r.net = q->net;
	r.sender = q->sender;
	r.recipient = q->recipient;
	r.first_seen = q->first_seen;
	r.last_seen = q->last_seen;
	r.last_pass = q->last_pass;
	r.tries = q->tries;
	r.passes = q->passes;
	if (grey_load(c->f->grey, &r, &c->why) == -1)
		c->bad++;
}

static void
load_helo(const struct queue_helo_row *q, void *arg)
{
	struct load_ctx *c = arg;
	struct helo_row r;

	memset(&r, 0, sizeof(r));
	if (addr_parse(q->client, &r.client) == -1) {
		c->bad++;
		c->why = "not an address";
		return;
	}
	r.helo = q->helo;
	r.last_seen = q->last_seen;
	if (helo_state_load(c->f->helo, &r, &c->why) == -1)
		c->bad++;
}

int
engine_filters_new(struct engine *e, struct queue *q, const char **errstr)
{
	struct engine_filters *f = xcalloc(1, sizeof(*f));
	struct load_ctx c = { f, 0, NULL };
	struct grey_stats gs;
	struct helo_stats hs;

	e->filt = f;
	f->grey = grey_state_new(0, 0);
	f->helo = helo_state_new(2);
	f->flush = evtimer_new(e->base, flush_timer, e);
	engine_filters_reconf(e);
	if (queue_load_grey(q, load_grey, &c, errstr) == -1 ||
	    queue_load_helo(q, load_helo, &c, errstr) == -1)
		return -1;
	/* what load took is the store's already; what it had to drop (a
	 * client over its HELO cap) goes */
	engine_filters_changed(e);
	if (c.bad > 0)
		log_warn("event=filter-state-skipped rows=%zu reason=\"%s\"",
		    c.bad, c.why ? c.why : "unknown");
	grey_stats(f->grey, &gs);
	helo_state_stats(f->helo, &hs);
	log_info("event=filter-state-loaded triplets=%zu awl=%zu abl=%zu "
	    "helo_clients=%zu helos=%zu", gs.triplets, gs.awl, gs.abl,
	    hs.clients, hs.rows);
	return 0;
}

void
engine_filters_free(struct engine *e)
{
	struct engine_filters *f = e->filt;

	if (f == NULL)
		return;
	if (f->flush != NULL)
		event_free(f->flush);
	grey_state_free(&f->grey);
	helo_state_free(&f->helo);
	engine_res_unref(&f->res);
	free(f);
	e->filt = NULL;
}

void
engine_filters_reconf(struct engine *e)
{
	struct engine_filters *f = e->filt;
	const struct pol_set *set = e->conf->policy;
	const struct helo_settings **v;
	size_t i, n = set != NULL ? set->npolicy : 0;

	memset(&f->glim, 0, sizeof(f->glim));
	f->any = false;
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		const struct pol_policy *p = set->policies[i];

		if (p->grey != NULL)
			grey_limits_add(&f->glim, p->grey);
		v[i] = p->helo;
		if (p->grey != NULL || p->helo != NULL || p->spf != NULL)
			f->any = true;
	}
	helo_limits(v, n, &f->hlim);
	helo_state_set_cap(f->helo, f->hlim.per_client);
	free(v);
}

void
engine_filters_prune(struct engine *e, int64_t now)
{
	struct engine_filters *f = e->filt;
	size_t triplets, helos;

	triplets = grey_prune(f->grey, &f->glim, now);
	helos = helo_state_prune(f->helo, now, f->hlim.max_window);
	log_debug("event=filter-state-prune triplets=%zu helos=%zu", triplets,
	    helos);
	engine_filters_changed(e);
}

void
engine_status_json(struct engine *e, struct buf *b)
{
	const struct engine_filters *f = e->filt;
	struct grey_stats gs;
	struct helo_stats hs;

	grey_stats(f->grey, &gs);
	helo_state_stats(f->helo, &hs);
	buf_printf(b, "\"greylisting\":{\"triplets\":%zu,\"networks\":%zu,"
	    "\"auto_whitelisted\":%zu,\"auto_blacklisted\":%zu,"
	    "\"deferred\":%" PRIu64 ",\"passed\":%" PRIu64 ",\"rejected\":%"
	    PRIu64 ",\"full\":%" PRIu64 ",\"unwritten\":%zu},",
	    gs.triplets, gs.networks, gs.awl, gs.abl, f->grey_deferred,
	    f->grey_passed, f->grey_rejected, gs.full, gs.pending +
	    f->in_writer);
	buf_printf(b, "\"helo\":{\"clients\":%zu,\"names\":%zu,"
	    "\"refused\":%" PRIu64 "},\"spf\":{\"checks\":%" PRIu64
	    ",\"refused\":%" PRIu64 "},\"filter_state\":{\"write_failures\":%"
	    PRIu64 "},", hs.clients, hs.rows, f->helo_refused, f->spf_checks,
	    f->spf_refused, f->write_failures);
}
