/*
 * api_release: `sluicectl queue release [--now] ID | --sender A`
 * (POST /v1/queue/ID/release, /v1/queue/release?sender=A, with now=1).
 *
 * Invariants:
 * - A released held recipient goes through its quotas again (DESIGN.md,
 *   "hold"): it may leave now, be deferred (with its reservations, quota
 *   and max-defer, as at end of DATA), or stay held when a quota still
 *   holds or refuses it; nothing is counted for one that stays.
 * - With now (bypass), held and deferred recipients leave now whatever
 *   their quotas say: they are counted in the current window (it may go
 *   over: the log's quota lines say verdict=bypass by=admin and `queue
 *   show` says so), and the reservations deferred ones held are given
 *   back.  Deferred ones are otherwise left alone: to send them through
 *   a changed limit, hold them (their reservations go back) and release.
 * - The decisions are made on the loop (the counters are its own) from
 *   what the reader sees; one writer job then moves each recipient only
 *   if it is still in the state it was read in, and stores the counters,
 *   so the change is atomic.  A recipient that changed meanwhile stays
 *   as it is (what was counted for it stays counted: mail may wait a
 *   little longer, no window goes over).  A failed job undoes the
 *   decisions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "api_priv.h"
#include "engine.h"

/* One recipient to move. */
struct rel_rcpt {
	int			 rcpt;
	enum queue_state	 was;
	struct queue_rcpt_in	 to;
	char			*qname;
	bool			 moved;		/* the job did */
};

/* One message and its decision. */
struct rel_msg {
	char			 id[QUEUE_ID_SIZE];
	struct pol_decision	 d;
	struct queue_counter	*rows, *resv;
	size_t			 nrows;
	struct rel_rcpt		*r;
	size_t			 nr;
	char			*why;		/* stays held: the reason */
	unsigned		 moved, deferred;
};

struct api_rel {
	bool			 bypass;
	char			 id[QUEUE_ID_SIZE];	/* "" by sender */
	char			*sender;
	int64_t			 now;
	struct engine		*engine;
	struct rel_msg		*m;
	size_t			 nm;
	/* from the job */
	struct queue_counter	*gb;
	size_t			 ngb;
	struct rel_msg		*cur;
};

static void
rel_ids(const struct queue_info *info, void *arg)
{
	struct api_rel *rel = arg;

	if (info->nstate[QUEUE_HOLD] == 0 && (!rel->bypass ||
	    info->nstate[QUEUE_DEFERRED] == 0))
		return;
	rel->m = xreallocarray(rel->m, rel->nm + 1, sizeof(*rel->m));
	memset(&rel->m[rel->nm], 0, sizeof(rel->m[rel->nm]));
	str_copy(rel->m[rel->nm++].id, info->id, sizeof(rel->m[0].id));
}

/* What a released recipient becomes, from the decision. */
static bool
rel_target(struct api_rel *rel, struct rel_msg *m, size_t i,
    const struct queue_detail *qd, struct rel_rcpt *t)
{
	const struct pol_rcpt_out *o = &m->d.rcpt[i];

	t->rcpt = (int)i;
	t->was = qd->rcpts[i].state;
	t->to.addr = qd->rcpts[i].addr;
	t->to.state = QUEUE_READY;
	t->to.due = rel->now;
	if (rel->bypass) {
		t->to.rflags = QUEUE_RF_BYPASS;
		return true;
	}
	if (m->d.refuse != POL_V_NONE || o->verdict == POL_V_HOLD ||
	    o->verdict == POL_V_DISCARD)
		return false;
	if (o->verdict != POL_V_DEFER)
		return true;
	t->to.state = QUEUE_DEFERRED;
	t->to.due = o->release;
	t->to.expire = rel->now + (int64_t)o->max_defer;
	t->to.resv = m->resv + o->resv0;
	t->to.nresv = o->nresv;
	if (o->use != NULL) {
		t->qname = xasprintf("%s/%s", o->use->quota->policy->name,
		    o->use->quota->name);
		t->to.quota = t->qname;
		t->to.qkey = o->use->key;
	}
	return true;
}

/* Why a released recipient stays held. */
static char *
rel_why(const struct pol_rcpt_out *o)
{
	if (o->use == NULL)
		return xstrdup("a quota holds it");
	return xasprintf("quota %s/%s (key %s) is over%s: verdict %s",
	    o->use->quota->policy->name, o->use->quota->name, o->use->key,
	    o->use->full ? " and its backlog is full" : "",
	    pol_verdict_name(o->verdict));
}

/* Reads message m and decides its released recipients. */
static int
rel_decide(struct api *api, struct api_rel *rel, struct rel_msg *m,
    const char **errstr)
{
	struct queue_detail *qd = NULL;
	struct engine_ident id;
	struct addr client;
	const char **rcpts;
	bool *skip, any = false;
	size_t i;
	int rc;

	if ((rc = queue_show(api->deps.queue, m->id, &qd, errstr)) != 1)
		return rc;
	rcpts = xcalloc(qd->nrcpt + 1, sizeof(*rcpts));
	skip = xcalloc(qd->nrcpt + 1, sizeof(*skip));
	for (i = 0; i < qd->nrcpt; i++) {
		rcpts[i] = qd->rcpts[i].addr;
		skip[i] = !(qd->rcpts[i].state == QUEUE_HOLD ||
		    (rel->bypass && qd->rcpts[i].state == QUEUE_DEFERRED));
		any |= !skip[i];
	}
	if (any) {
		memset(&id, 0, sizeof(id));
		id.client = qd->client_addr != NULL &&
		    engine_parse_client(qd->client_addr, &client) ? &client :
		    NULL;
		id.helo = qd->client_helo;
		id.sender = qd->info.sender;
		id.sasl = qd->sasl_user;
		engine_release(rel->engine, &id, rcpts, skip, qd->nrcpt,
		    qd->info.size, m->id, rel->bypass, &m->d);
		m->rows = engine_rows(&m->d, &m->nrows);
		m->resv = engine_resv(&m->d);
		if (m->d.refuse != POL_V_NONE)
			m->why = xstrdup(m->d.reply);
		m->r = xcalloc(qd->nrcpt, sizeof(*m->r));
		for (i = 0; i < qd->nrcpt; i++)
			if (!skip[i] && rel_target(rel, m, i, qd,
			    &m->r[m->nr]))
				m->nr++;
			else if (!skip[i] && m->why == NULL)
				m->why = rel_why(&m->d.rcpt[i]);
		/* the strings the job stores must outlive the detail */
		for (i = 0; i < m->nr; i++)
			m->r[i].to.addr = NULL;
	}
	free(rcpts);
	free(skip);
	queue_detail_free(&qd);
	return 1;
}

/* Writer thread: a recipient left QUEUE_DEFERRED (bypass). */
static void
rel_change(const struct queue_change *c, void *arg)
{
	struct api_rel *rel = arg;

	queue_counters_keep(&rel->gb, &rel->ngb, c->resv, c->nresv);
}

/* Writer thread: each recipient moved if it is still as it was read,
 * and the counters stored, in one transaction. */
static int
rel_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_rel *rel = arg;
	struct rel_msg *m;
	size_t i, j;
	int rc;

	queue_counters_free(&rel->gb, &rel->ngb);
	for (i = 0; i < rel->nm; i++) {
		m = &rel->m[i];
		m->moved = m->deferred = 0;
		for (j = 0; j < m->nr; j++) {
			rc = queue_txn_rcpt_requeue(txn, m->id, m->r[j].rcpt,
			    1u << m->r[j].was, &m->r[j].to, rel_change, rel,
			    errstr);
			if (rc == -1)
				return -1;
			m->r[j].moved = rc == 1;
			m->moved += rc == 1;
			m->deferred += rc == 1 &&
			    m->r[j].to.state == QUEUE_DEFERRED;
		}
		if (m->nrows > 0 && queue_txn_counters_set(txn, m->rows,
		    m->nrows, errstr) == -1)
			return -1;
	}
	return 0;
}

static void
rel_free(struct api_rel *rel)
{
	size_t i, j;

	for (i = 0; i < rel->nm; i++) {
		for (j = 0; j < rel->m[i].nr; j++)
			free(rel->m[i].r[j].qname);
		free(rel->m[i].r);
		free(rel->m[i].rows);
		free(rel->m[i].resv);
		free(rel->m[i].why);
		pol_decision_clear(&rel->m[i].d);
	}
	free(rel->m);
	queue_counters_free(&rel->gb, &rel->ngb);
	free(rel->sender);
	free(rel);
}

/* A message's state after the release (by id: what sluicectl says when
 * nothing was on hold). */
static void
rel_state(struct api *api, const char *id, struct buf *b)
{
	struct queue_detail *d = NULL;
	const char *errstr;

	if (api == NULL || queue_show(api->deps.queue, id, &d, &errstr) != 1)
		return;
	buf_addstr(b, ",\"state\":");
	api_json_str(b, api_summary_state(&d->info));
	queue_detail_free(&d);
}

static void
rel_json(struct api *api, const struct api_rel *rel, struct buf *b)
{
	unsigned moved = 0, deferred = 0;
	size_t i, nmsg = 0;

	for (i = 0; i < rel->nm; i++) {
		moved += rel->m[i].moved;
		deferred += rel->m[i].deferred;
		nmsg += rel->m[i].moved > 0;
	}
	buf_addstr(b, "{\"action\":\"release\"");
	if (rel->id[0] != '\0') {
		buf_addstr(b, ",\"id\":");
		api_json_str(b, rel->id);
		rel_state(api, rel->id, b);
	} else {
		buf_addstr(b, ",\"sender\":");
		api_json_str(b, rel->sender);
	}
	buf_printf(b, ",\"bypass\":%s,\"messages\":%zu,\"recipients\":%u,"
	    "\"deferred\":%u,\"changed\":[", rel->bypass ? "true" : "false",
	    nmsg, moved, deferred);
	for (i = 0, nmsg = 0; i < rel->nm; i++) {
		const struct rel_msg *m = &rel->m[i];

		if (m->moved == 0 && m->why == NULL)
			continue;
		buf_addstr(b, nmsg++ ? ",{\"id\":" : "{\"id\":");
		api_json_str(b, m->id);
		buf_printf(b, ",\"recipients\":%u", m->moved);
		if (m->deferred > 0)
			buf_printf(b, ",\"deferred\":%u", m->deferred);
		if (m->why != NULL) {
			buf_addstr(b, ",\"still_held\":");
			api_json_str(b, m->why);
		}
		buf_addc(b, '}');
	}
	buf_addstr(b, "]}");
}

/* Loop thread: the job is committed (or not). */
static void
rel_finish(struct api *api, struct evhttp_request *req, int rc,
    const char *err, void *arg)
{
	struct api_rel *rel = arg;
	struct buf json = BUF_INIT;
	size_t i;

	if (rc < 0) {
		for (i = rel->nm; i > 0; i--)
			pol_decision_undo(engine_counters(rel->engine),
			    &rel->m[i - 1].d);
		log_err("%s%s%sevent=api-error what=release error=\"%s\"",
		    rel->id[0] ? "queue_id=" : "", rel->id,
		    rel->id[0] ? " " : "", err);
		if (req != NULL)
			api_error(req, 500, err);
		rel_free(rel);
		return;
	}
	engine_giveback(rel->engine, rel->gb, rel->ngb);
	for (i = 0; i < rel->nm; i++) {
		const struct rel_msg *m = &rel->m[i];

		if (m->moved > 0)
			log_info("queue_id=%s event=released by=admin-api "
			    "recipients=%u deferred=%u%s", m->id, m->moved,
			    m->deferred, rel->bypass ? " bypass=yes" : "");
		if (m->why != NULL)
			log_info("queue_id=%s event=still-held by=admin-api "
			    "reason=\"%s\"", m->id, m->why);
		if (m->moved > 0 && api != NULL && api->deps.changed != NULL)
			api->deps.changed(api->deps.changed_arg, m->id);
	}
	if (req != NULL) {
		rel_json(api, rel, &json);
		api_reply(req, 200, &json);
		buf_free(&json);
	}
	rel_free(rel);
}

void
api_release_start(struct api *api, struct evhttp_request *req,
    const char *id, const char *sender, bool bypass)
{
	struct api_rel *rel = xcalloc(1, sizeof(*rel));
	const char *errstr;
	size_t i;
	int rc;

	if ((rel->engine = api_engine(api, req)) == NULL) {
		free(rel);
		return;
	}
	rel->bypass = bypass;
	rel->now = (int64_t)time(NULL);
	if (id != NULL) {
		str_copy(rel->id, id, sizeof(rel->id));
		rel->m = xcalloc(1, sizeof(*rel->m));
		str_copy(rel->m[0].id, id, sizeof(rel->m[0].id));
		rel->nm = 1;
	} else {
		rel->sender = xstrdup(sender);
		if (queue_list(api->deps.queue, -1, sender, rel_ids, rel,
		    &errstr) == -1)
			goto fail;
	}
	for (i = 0; i < rel->nm; i++) {
		if ((rc = rel_decide(api, rel, &rel->m[i], &errstr)) == -1)
			goto fail;
		if (rc == 0 && id != NULL) {
			api_error(req, 404, "no such message");
			rel_free(rel);
			return;
		}
	}
	if (api_job_start(api, req, rel_job, rel_finish, rel) == -1) {
		for (i = rel->nm; i > 0; i--)
			pol_decision_undo(engine_counters(rel->engine),
			    &rel->m[i - 1].d);
		rel_free(rel);
	}
	return;
fail:
	for (i = rel->nm; i > 0; i--)
		pol_decision_undo(engine_counters(rel->engine),
		    &rel->m[i - 1].d);
	log_err("event=api-error what=release error=\"%s\"", errstr);
	api_error(req, 500, errstr);
	rel_free(rel);
}
