/*
 * api_policy: the quotas of the admin API (DESIGN.md, "Quotas" and
 * "Contracts"; README.md, "Quotas: usage, overrides and explain"):
 *   GET  /v1/quotas[?key=K]            the usage of every quota and key
 *   POST /v1/quotas/set?key=K&limit=N  K gets a different first limit
 *   POST /v1/quotas/exempt?key=K       K is counted but never limited
 *   POST /v1/quotas/clear?key=K        K's override goes
 * (api_explain.c has GET /v1/explain.)
 *
 * Invariants: everything here runs on the loop thread, which owns the
 * engine's counters, so the report reads them without a lock and sees
 * one instant.  An override is stored by one writer job (api_job_start)
 * and applied to the counters on the loop thread only once it is
 * committed, so memory never runs ahead of the disk; a daemon stopping
 * meanwhile loads it from the disk at its next start.  The reply comes
 * after both.
 *
 * Keys are normalised as the engine writes them: lower-cased.
 *
 * What an attacker controls: whoever can reach the socket sends any
 * query; keys with control characters are refused, so a key cannot forge
 * a log line, and every string goes out through api_json_str().  The
 * policy and quota names come from the configuration.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "../policy/quota.h"
#include "api_priv.h"
#include "engine.h"

#define API_LIMIT_MAX		1000000000000000ULL	/* 10^15 */

enum api_ovr_action { API_OVR_SET, API_OVR_EXEMPT, API_OVR_CLEAR };

static const char *const api_ovr_names[] = { "set", "exempt", "clear" };

/* An override on its way to the disk. */
struct api_ovr {
	enum api_ovr_action	 action;
	char			 key[API_KEY_MAX + 1];
	uint64_t		 limit;		/* set */
	int64_t			 now;
	int			 found;		/* clear: there was one */
};

int
api_query_params(const struct evkeyvalq *kv, const char *const *names,
    const char **vals, const char *many, const char **msg)
{
	static char err[96];
	const struct evkeyval *e;
	size_t i;

	TAILQ_FOREACH(e, kv, next) {
		if (many != NULL && strcmp(e->key, many) == 0)
			continue;
		for (i = 0; names[i] != NULL && strcmp(e->key, names[i]) != 0;
		    i++)
			;
		if (names[i] == NULL) {
			snprintf(err, sizeof(err), "unknown query parameter: "
			    "%.40s", e->key);
			*msg = err;
			return -1;
		}
		if (vals[i] != NULL) {
			snprintf(err, sizeof(err), "%s= given twice", names[i]);
			*msg = err;
			return -1;
		}
		vals[i] = e->value;
	}
	return 0;
}

int
api_key(const char *in, char *out, size_t outsz, const char **msg)
{
	size_t n, i;

	if (in == NULL || *in == '\0') {
		*msg = "key= is required (an address, @domain, user@, a "
		    "network, a login or a policy name)";
		return -1;
	}
	for (i = 0; in[i] != '\0'; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) {
			*msg = "key: control characters are not allowed";
			return -1;
		}
	n = strlen(in);
	if (n > 2 && in[0] == '<' && in[n - 1] == '>') {
		in++;
		n -= 2;
	}
	if (n >= outsz) {
		*msg = "key: longer than 255 bytes";
		return -1;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	str_lower(out);
	return 0;
}

/* A key in a log line: as is, or quoted when it holds a space, a quote
 * or a backslash (a key=value reader must see it whole). */
static const char *
api_log_key(const char *key, struct buf *b)
{
	buf_reset(b);
	if (strpbrk(key, " \"\\") != NULL)
		buf_add_json_str(b, key);
	else
		buf_addstr(b, key);
	return b->data;
}

void
api_json_figure(struct buf *b, double v)
{
	if (!(v > 0))
		v = 0;
	if (v < 9e15 && v == (double)(uint64_t)v)
		buf_printf(b, "%" PRIu64, (uint64_t)v);
	else
		buf_printf(b, "%.2f", v);
}

struct engine *
api_engine(struct api *api, struct evhttp_request *req)
{
	if (api->deps.engine == NULL)
		api_error(req, 503, "the policy engine is not running");
	return api->deps.engine;
}

/*
 * GET /v1/quotas: the report.
 */
struct api_usage {
	struct pol_usage_report	*r;
	size_t			 n, cap;
};

static void
api_usage_add(const struct pol_usage_report *r, void *arg)
{
	struct api_usage *u = arg;

	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 32;
		u->r = xreallocarray(u->r, u->cap, sizeof(*u->r));
	}
	u->r[u->n++] = *r;
}

static int
api_usage_cmp(const void *a, const void *b)
{
	const struct pol_usage_report *x = a, *y = b;
	int c;

	if ((c = strcmp(x->quota->policy->name, y->quota->policy->name)) != 0)
		return c;
	if ((c = strcmp(x->quota->name, y->quota->name)) != 0)
		return c;
	return strcmp(x->key, y->key);
}

/* "limits":[{"unit","limit","configured","used","reserved"}...]: limit is
 * what applies (the override's for the first one, null when exempt). */
static void
api_usage_limits(struct buf *b, const struct pol_usage_report *r)
{
	const struct pol_quota *q = r->quota;
	const struct pol_limit *l;
	size_t i;
	bool over;

	buf_addstr(b, ",\"limits\":[");
	for (i = 0; i < q->nlimit; i++) {
		l = &q->limits[i];
		buf_printf(b, "%s{\"unit\":\"%s\",\"limit\":", i ? "," : "",
		    pol_unit_name(l->unit));
		over = r->override == POL_OVR_LIMIT &&
		    i == pol_quota_override_index(q);
		if (r->override == POL_OVR_EXEMPT)
			buf_addstr(b, "null");
		else
			buf_printf(b, "%" PRIu64, over ? r->override_limit :
			    l->n);
		buf_printf(b, ",\"configured\":%" PRIu64 ",\"overridden\":%s"
		    ",\"used\":", l->n, over ? "true" : "false");
		api_json_figure(b, r->used[l->unit]);
		buf_addstr(b, ",\"reserved\":");
		api_json_figure(b, r->reserved[l->unit]);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

static void
api_usage_json(struct buf *b, const struct pol_usage_report *r)
{
	const struct pol_quota *q = r->quota;
	char track[64], period[32];

	pol_track_format(q, track, sizeof(track));
	pol_period_format(&q->period, period, sizeof(period));
	buf_addstr(b, "{\"policy\":");
	api_json_str(b, q->policy->name);
	buf_addstr(b, ",\"quota\":");
	api_json_str(b, q->name);
	buf_addstr(b, ",\"track\":");
	api_json_str(b, track);
	buf_addstr(b, ",\"key\":");
	api_json_str(b, r->key);
	buf_printf(b, ",\"period\":\"%s\",\"window\":\"%s\",\"window_start\":",
	    period, q->window == POL_WIN_SLIDING ? "sliding" : "fixed");
	api_json_time(b, r->start);
	buf_addstr(b, ",\"window_end\":");
	api_json_time(b, r->end);
	api_usage_limits(b, r);
	buf_addstr(b, ",\"last_release\":");
	api_json_time_or_null(b, r->last_release);
	/* the key's deferred recipients waiting, and the cap (backlog) */
	buf_printf(b, ",\"backlog\":%.0f,\"backlog_max\":%" PRIu64,
	    r->reserved[POL_UNIT_RECIPIENTS], pol_quota_backlog(q));
	buf_addstr(b, ",\"override\":");
	if (r->override == POL_OVR_EXEMPT)
		buf_addstr(b, "\"exempt\"");
	else if (r->override == POL_OVR_LIMIT)
		buf_printf(b, "{\"limit\":%" PRIu64 "}", r->override_limit);
	else
		buf_addstr(b, "null");
	buf_addc(b, '}');
}

static void
api_quota_report(struct api *api, struct evhttp_request *req)
{
	static const char *const names[] = { "key", NULL };
	const char *vals[1] = { NULL }, *msg;
	char key[API_KEY_MAX + 1];
	struct api_usage u = { NULL, 0, 0 };
	struct buf json = BUF_INIT;
	struct evkeyvalq kv;
	struct engine *e;
	size_t i;
	int rc;

	if ((rc = api_query_parse(req, &kv, &msg)) == 0)
		rc = api_query_params(&kv, names, vals, NULL, &msg);
	if (rc == 0 && vals[0] != NULL)
		rc = api_key(vals[0], key, sizeof(key), &msg);
	evhttp_clear_headers(&kv);
	if (rc == -1) {
		api_error(req, 400, msg);
		return;
	}
	if ((e = api_engine(api, req)) == NULL)
		return;
	if (engine_policies(e) != NULL)
		pol_counters_report(engine_counters(e), engine_policies(e),
		    vals[0] != NULL ? key : NULL, (int64_t)time(NULL),
		    api_usage_add, &u);
	if (u.n > 1)
		qsort(u.r, u.n, sizeof(*u.r), api_usage_cmp);
	buf_addc(&json, '{');
	if (vals[0] != NULL) {
		buf_addstr(&json, "\"key\":");
		api_json_str(&json, key);
		buf_addc(&json, ',');
	}
	buf_addstr(&json, "\"quotas\":[");
	for (i = 0; i < u.n; i++) {
		if (i > 0)
			buf_addc(&json, ',');
		api_usage_json(&json, &u.r[i]);
	}
	buf_printf(&json, "],\"count\":%zu}", u.n);
	api_reply(req, 200, &json);
	buf_free(&json);
	free(u.r);
}

/*
 * POST /v1/quotas/set|exempt|clear: overrides.
 */

/* Writer thread: the override inside the group transaction. */
static int
api_ovr_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_ovr *o = arg;

	switch (o->action) {
	case API_OVR_SET:
		return queue_txn_override_set(txn, o->key, QUEUE_OVR_LIMIT,
		    o->limit, o->now, errstr);
	case API_OVR_EXEMPT:
		return queue_txn_override_set(txn, o->key, QUEUE_OVR_EXEMPT,
		    0, o->now, errstr);
	case API_OVR_CLEAR:
		break;
	}
	if ((o->found = queue_txn_override_clear(txn, o->key, errstr)) < 0)
		return -1;
	return 0;
}

static void
api_ovr_json(struct buf *b, const struct api_ovr *o)
{
	buf_addstr(b, "{\"key\":");
	api_json_str(b, o->key);
	buf_printf(b, ",\"action\":\"%s\",\"override\":",
	    api_ovr_names[o->action]);
	if (o->action == API_OVR_SET)
		buf_printf(b, "{\"limit\":%" PRIu64 "}", o->limit);
	else if (o->action == API_OVR_EXEMPT)
		buf_addstr(b, "\"exempt\"");
	else
		buf_printf(b, "null,\"cleared\":%s", o->found > 0 ? "true" :
		    "false");
	buf_addc(b, '}');
}

/* Loop thread, once committed: the counters follow, then the reply. */
static void
api_ovr_finish(struct api *api, struct evhttp_request *req, int rc,
    const char *err, void *arg)
{
	struct api_ovr *o = arg;
	struct buf lk = BUF_INIT, json = BUF_INIT;
	enum pol_override_kind kind = o->action == API_OVR_SET ?
	    POL_OVR_LIMIT : o->action == API_OVR_EXEMPT ? POL_OVR_EXEMPT :
	    POL_OVR_NONE;

	api_log_key(o->key, &lk);
	if (rc < 0) {
		log_err("event=api-error what=quota-%s key=%s error=\"%s\"",
		    api_ovr_names[o->action], lk.data, err);
		if (req != NULL)
			api_error(req, 500, err);
	} else {
		if (api != NULL && api->deps.engine != NULL)
			pol_counters_override(engine_counters(
			    api->deps.engine), o->key, kind, o->limit);
		if (o->action == API_OVR_SET)
			log_info("event=quota-override key=%s action=set "
			    "limit=%" PRIu64, lk.data, o->limit);
		else
			log_info("event=quota-override key=%s action=%s%s",
			    lk.data, api_ovr_names[o->action],
			    o->action == API_OVR_CLEAR && o->found == 0 ?
			    " found=no" : "");
		if (req != NULL) {
			api_ovr_json(&json, o);
			api_reply(req, 200, &json);
		}
	}
	buf_free(&lk);
	buf_free(&json);
	free(o);
}

static void
api_quota_override(struct api *api, struct evhttp_request *req,
    enum api_ovr_action action)
{
	static const char *const names[] = { "key", "limit", NULL };
	const char *vals[2] = { NULL, NULL }, *msg, *errstr;
	struct api_ovr *o = xcalloc(1, sizeof(*o));
	struct evkeyvalq kv;
	int rc;

	o->action = action;
	o->now = (int64_t)time(NULL);
	if ((rc = api_query_parse(req, &kv, &msg)) == 0)
		rc = api_query_params(&kv, names, vals, NULL, &msg);
	if (rc == 0)
		rc = api_key(vals[0], o->key, sizeof(o->key), &msg);
	if (rc == 0 && action == API_OVR_SET && vals[1] == NULL) {
		msg = "limit= is required";
		rc = -1;
	} else if (rc == 0 && action != API_OVR_SET && vals[1] != NULL) {
		msg = "limit= is for set only";
		rc = -1;
	} else if (rc == 0 && action == API_OVR_SET && str_to_size(vals[1],
	    0, API_LIMIT_MAX, &o->limit, &errstr) == -1) {
		msg = "limit: not a number (a count, or a size with K, M or G)";
		rc = -1;
	}
	evhttp_clear_headers(&kv);
	if (rc == -1)
		api_error(req, 400, msg);
	if (rc == -1 || api_engine(api, req) == NULL ||
	    api_job_start(api, req, api_ovr_job, api_ovr_finish, o) == -1)
		free(o);
}

void
api_quotas(struct api *api, struct evhttp_request *req, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	size_t i;

	if (*rest == '\0') {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			api_bad_method(req, "GET, HEAD");
		else
			api_quota_report(api, req);
		return;
	}
	for (i = 0; i < sizeof(api_ovr_names) / sizeof(api_ovr_names[0]); i++)
		if (strcmp(rest + 1, api_ovr_names[i]) == 0)
			break;
	if (i == sizeof(api_ovr_names) / sizeof(api_ovr_names[0]))
		api_error(req, 404, "not found");
	else if (cmd != EVHTTP_REQ_POST)
		api_bad_method(req, "POST");
	else
		api_quota_override(api, req, (enum api_ovr_action)i);
}
