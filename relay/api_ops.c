/*
 * api_ops: the admin API's queue operations: hold, release and delete a
 * message or every message of a sender, and flush the retries
 * (POST /v1/queue/ID/ACTION, /v1/queue/ACTION?sender=A, /v1/queue/flush).
 *
 * Invariants:
 * - An operation is one job of the queue writer, so it is atomic and its
 *   reply reports exactly what was committed.  The job collects, on the
 *   writer thread, the messages the queue says it changed (one entry per
 *   message, with its count of recipients) and sorts and merges them
 *   there, so the loop thread only reads the result.
 * - Only after the commit, on the loop thread, is deps.changed told each
 *   changed message once, so the delivery schedule follows what is on
 *   disk.  A failed job changed nothing and tells nobody.
 * - Flush makes every retry due now (queue_admin.c says why quota
 *   deferrals are not flushed).  Release is api_release.c's: it goes
 *   through the quotas again.
 * - Deferred recipients held or deleted give back what they reserved
 *   (engine_giveback), once the change is committed.
 *
 * Ownership: a job in flight (struct api_op, the request's side of any
 * change through the writer: these operations and api_policy.c's quota
 * overrides) owns itself from api_job_start until its result is back on
 * the loop, after api_stop() too (it is then only unlinked from the api,
 * and its request forgotten).  A client may hang up while its job is in
 * flight: the connection's close callback records whether libevent frees
 * the request or leaves it to us (see api_op_closed).
 *
 * What an attacker controls: the sender (any bytes from the query string),
 * which reaches SQL as a bound parameter and the log as a JSON string.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "api_priv.h"
#include "engine.h"
#include "loop.h"

/* One message an operation changed. */
struct api_changed {
	char		 id[QUEUE_ID_SIZE];
	unsigned	 nrcpt;		/* its recipients changed */
};

/* A job in flight and the request that waits for it. */
struct api_op {
	struct api		*api;	/* NULL once api_stop() ran */
	struct event_base	*base;	/* for the writer thread */
	struct evhttp_request	*req;	/* NULL: libevent freed it */
	bool			 detached; /* req is ours to free */
	queue_job_fn		*run;
	api_finish_fn		*finish;
	void			*arg;	/* run's and finish's */
	/* set on the writer thread, read on the loop after loop_call */
	int			 rc;
	char			 err[256];
	TAILQ_ENTRY(api_op)	 link;
};

/* A queue operation: what it acts on and what it changed. */
struct api_qop {
	enum api_action		 action;
	char			 id[QUEUE_ID_SIZE]; /* "" unless by id */
	char			*sender; /* by sender, or NULL */
	int64_t			 now;	/* release's and flush's due */
	/* filled by the job on the writer thread */
	struct api_changed	*msgs;
	size_t			 nmsg, cap;
	unsigned		 nrcpt;
	/* reservations deferred recipients gave up (copies) */
	struct queue_counter	*gb;
	size_t			 ngb;
};

static const struct {
	const char	*name;		/* in the path */
	const char	*done;		/* in the log and the reply */
} api_actions[] = {
	[API_HOLD] = { "hold", "held" },
	[API_RELEASE] = { "release", "released" },
	[API_DELETE] = { "delete", "deleted" },
	[API_FLUSH] = { "flush", "flushed" },
};

int
api_action_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(api_actions) / sizeof(api_actions[0]); i++)
		if (strcmp(name, api_actions[i].name) == 0)
			return (int)i;
	return -1;
}

/* Writer thread: a change the queue reports.  A message's rows come
 * together, so merging with the last entry keeps the list short; the
 * job merges whatever else repeats once it is done. */
static void
api_qop_change(const struct queue_change *c, void *arg)
{
	struct api_qop *op = arg;
	struct api_changed *m;

	if (op->nmsg == 0 || strcmp(op->msgs[op->nmsg - 1].id, c->id) != 0) {
		if (op->nmsg == op->cap) {
			op->cap = op->cap ? op->cap * 2 : 16;
			op->msgs = xreallocarray(op->msgs, op->cap,
			    sizeof(*op->msgs));
		}
		m = &op->msgs[op->nmsg++];
		str_copy(m->id, c->id, sizeof(m->id));
		m->nrcpt = 0;
	}
	if (c->rcpt >= 0) {
		op->msgs[op->nmsg - 1].nrcpt++;
		op->nrcpt++;
	}
	queue_counters_keep(&op->gb, &op->ngb, c->resv, c->nresv);
}

static int
api_changed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct api_changed *)a)->id,
	    ((const struct api_changed *)b)->id);
}

/* Writer thread: sorts the changed messages (by id, so by arrival) and
 * merges the entries of a message that came apart. */
static void
api_qop_merge(struct api_qop *op)
{
	size_t i, n = 0;

	if (op->nmsg < 2)
		return;
	qsort(op->msgs, op->nmsg, sizeof(*op->msgs), api_changed_cmp);
	for (i = 1; i < op->nmsg; i++) {
		if (strcmp(op->msgs[i].id, op->msgs[n].id) == 0)
			op->msgs[n].nrcpt += op->msgs[i].nrcpt;
		else
			op->msgs[++n] = op->msgs[i];
	}
	op->nmsg = n + 1;
}

/* Writer thread: the queue operation inside the group transaction. */
static int
api_qop_run(struct queue_txn *txn, struct api_qop *op, const char **errstr)
{
	bool id = op->id[0] != '\0';
	int rc = -1;

	switch (op->action) {
	case API_HOLD:
		rc = id ? queue_txn_rcpt_hold(txn, op->id, -1, api_qop_change,
		    op, errstr) : queue_txn_hold_sender(txn, op->sender,
		    api_qop_change, op, errstr);
		break;
	case API_RELEASE:	/* through the quotas: api_release.c */
		*errstr = "release goes through api_release";
		return -1;
	case API_DELETE:
		if (!id)
			return queue_txn_delete_sender(txn, op->sender,
			    api_qop_change, op, errstr);
		rc = queue_txn_delete_cb(txn, op->id, api_qop_change, op,
		    errstr);
		break;
	case API_FLUSH:
		rc = queue_txn_flush(txn, op->now, api_qop_change, op, errstr);
		break;
	}
	return rc;
}

static int
api_qop_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_qop *op = arg;
	int rc;

	op->nmsg = 0;
	op->nrcpt = 0;
	queue_counters_free(&op->gb, &op->ngb);
	if ((rc = api_qop_run(txn, op, errstr)) >= 0)
		api_qop_merge(op);
	return rc;
}

/* One line per changed message (each message's lines carry its id; a
 * deleted one also gets the "event=removed" that marks every message
 * leaving the queue, as postsuper -d logs "removed"), and one for a
 * whole-sender operation or a flush.  Called after the commit. */
static void
api_qop_log(const struct api_qop *op, int rc, const char *err)
{
	const char *done = api_actions[op->action].done;
	struct buf sender = BUF_INIT;
	size_t i;

	if (rc < 0) {
		log_err("%s%s%sevent=api-error what=%s error=\"%s\"",
		    op->id[0] ? "queue_id=" : "", op->id, op->id[0] ? " " : "",
		    api_actions[op->action].name, err);
		return;
	}
	for (i = 0; i < op->nmsg; i++)
		if (op->action == API_DELETE) {
			log_info("queue_id=%s event=deleted by=admin-api",
			    op->msgs[i].id);
			log_info("queue_id=%s event=removed", op->msgs[i].id);
		} else
			log_info("queue_id=%s event=%s by=admin-api "
			    "recipients=%u", op->msgs[i].id, done,
			    op->msgs[i].nrcpt);
	if (op->id[0] != '\0')
		return;
	if (op->sender != NULL)
		buf_add_json_str(&sender, op->sender);
	if (op->action == API_DELETE)
		log_info("event=admin-delete by=admin-api sender=%s "
		    "messages=%zu", sender.data, op->nmsg);
	else
		log_info("event=admin-%s by=admin-api%s%s messages=%zu "
		    "recipients=%u", api_actions[op->action].name,
		    op->sender ? " sender=" : "", op->sender ? sender.data : "",
		    op->nmsg, op->nrcpt);
	buf_free(&sender);
}

/* The reply: what was asked, the counts, and each changed message. */
static void
api_qop_json(const struct api_qop *op, struct buf *json, const char *state)
{
	size_t i;

	buf_printf(json, "{\"action\":\"%s\"", api_actions[op->action].name);
	if (op->id[0] != '\0') {
		buf_addstr(json, ",\"id\":");
		api_json_str(json, op->id);
		buf_addstr(json, ",\"state\":");
		api_json_str(json, state);
	} else if (op->sender != NULL) {
		buf_addstr(json, ",\"sender\":");
		api_json_str(json, op->sender);
	}
	buf_printf(json, ",\"messages\":%zu", op->nmsg);
	if (op->action != API_DELETE)
		buf_printf(json, ",\"recipients\":%u", op->nrcpt);
	buf_addstr(json, ",\"changed\":[");
	for (i = 0; i < op->nmsg; i++) {
		buf_addstr(json, i ? ",{\"id\":" : "{\"id\":");
		api_json_str(json, op->msgs[i].id);
		if (op->action != API_DELETE)
			buf_printf(json, ",\"recipients\":%u",
			    op->msgs[i].nrcpt);
		buf_addc(json, '}');
	}
	buf_addstr(json, "]}");
}

/* Replies to a committed operation.  Hold and release of one message
 * also say its state now, and whether it exists at all when nothing
 * changed (the queue does not tell "no such message" from "nothing to
 * do"). */
static void
api_qop_answer(struct api *api, struct evhttp_request *req,
    const struct api_qop *op)
{
	struct queue_detail *d = NULL;
	struct buf json = BUF_INIT;
	const char *errstr, *state = NULL;
	int found = op->nmsg > 0;

	if (op->id[0] != '\0' && op->action != API_DELETE) {
		found = queue_show(api->deps.queue, op->id, &d, &errstr);
		if (found == 1 && d != NULL)
			state = api_summary_state(&d->info);
		else if (found == -1) {
			log_err("queue_id=%s event=api-error what=show "
			    "error=\"%s\"", op->id, errstr);
			found = op->nmsg > 0;
		}
	}
	if (op->id[0] != '\0' && !found)
		api_error(req, 404, "no such message");
	else {
		api_qop_json(op, &json, state);
		api_reply(req, 200, &json);
	}
	queue_detail_free(&d);
	buf_free(&json);
}

/* Loop thread: a queue operation's result: logged, the schedule told,
 * the client answered. */
static void
api_qop_finish(struct api *api, struct evhttp_request *req, int rc,
    const char *err, void *arg)
{
	struct api_qop *op = arg;
	size_t i;

	if (rc < 0)
		op->nmsg = op->nrcpt = 0;
	api_qop_log(op, rc, err);
	if (rc >= 0 && api != NULL && api->deps.engine != NULL)
		engine_giveback(api->deps.engine, op->gb, op->ngb);
	if (rc >= 0 && api != NULL && api->deps.changed != NULL)
		for (i = 0; i < op->nmsg; i++)
			api->deps.changed(api->deps.changed_arg,
			    op->msgs[i].id);
	if (req != NULL && rc >= 0)
		api_qop_answer(api, req, op);
	else if (req != NULL)
		api_error(req, 500, err);
	queue_counters_free(&op->gb, &op->ngb);
	free(op->msgs);
	free(op->sender);
	free(op);
}

void
api_op_start(struct api *api, struct evhttp_request *req,
    enum api_action action, const char *id, const char *sender)
{
	struct api_qop *op = xcalloc(1, sizeof(*op));

	op->action = action;
	if (id != NULL)
		str_copy(op->id, id, sizeof(op->id));
	else if (sender != NULL)
		op->sender = xstrdup(sender);
	op->now = (int64_t)time(NULL);
	if (api_job_start(api, req, api_qop_job, api_qop_finish, op) == -1) {
		free(op->sender);
		free(op);
	}
}

/*
 * The client's connection is going away with the job in flight.  libevent
 * either frees the request right after this callback (evhttp_free, the
 * request still on the connection), or, on EOF or a timeout, detaches it
 * (its connection is then NULL) and leaves it to us to free.
 */
static void
api_op_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_op *op = arg;

	(void)evcon;
	if (op->req != NULL && evhttp_request_get_connection(op->req) == NULL)
		op->detached = true;
	else
		op->req = NULL;
}

/* Loop thread: the job's result is back. */
static void
api_op_finish(void *arg)
{
	struct api_op *op = arg;
	struct evhttp_request *req = NULL;

	if (op->api != NULL)
		TAILQ_REMOVE(&op->api->pending, op, link);
	if (!op->detached && op->req != NULL && op->api != NULL) {
		/* before the reply: sending it may free the connection */
		evhttp_connection_set_closecb(evhttp_request_get_connection(
		    op->req), NULL, NULL);
		req = op->req;
	}
	op->finish(op->api, req, op->rc, op->err, op->arg);
	if (op->detached)
		evhttp_request_free(op->req);
	free(op);
}

static int
api_op_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_op *op = arg;

	return op->run(txn, op->arg, errstr);
}

/* Writer thread: copy what the loop needs, then hand it over. */
static void
api_op_done(void *arg, int rc, const char *errstr)
{
	struct api_op *op = arg;

	op->rc = rc < 0 ? -1 : rc;
	str_copy(op->err, rc < 0 && errstr ? errstr : "", sizeof(op->err));
	loop_call(op->base, api_op_finish, op);
}

struct api_op *
api_wait_start(struct api *api, struct evhttp_request *req,
    api_finish_fn *finish, void *arg)
{
	struct api_op *op = xcalloc(1, sizeof(*op));

	op->api = api;
	op->base = api->base;
	op->req = req;
	op->finish = finish;
	op->arg = arg;
	TAILQ_INSERT_TAIL(&api->pending, op, link);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    api_op_closed, op);
	return op;
}

int
api_job_start(struct api *api, struct evhttp_request *req, queue_job_fn *run,
    api_finish_fn *finish, void *arg)
{
	struct api_op *op;

	if (api->deps.writer == NULL) {
		api_error(req, 503, "the queue writer is not running");
		return -1;
	}
	op = api_wait_start(api, req, finish, arg);
	op->run = run;
	queue_writer_submit(api->deps.writer, api_op_run, api_op_done, op);
	return 0;
}

void
api_wait_end(struct api_op *op, int rc, const char *err)
{
	op->rc = rc < 0 ? -1 : rc;
	str_copy(op->err, rc < 0 && err ? err : "", sizeof(op->err));
	api_op_finish(op);
}

void
api_ops_orphan(struct api *api)
{
	struct api_op *op;

	while ((op = TAILQ_FIRST(&api->pending)) != NULL) {
		TAILQ_REMOVE(&api->pending, op, link);
		op->api = NULL;
		if (!op->detached)
			op->req = NULL;
	}
}
