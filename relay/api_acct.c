/*
 * api_acct: GET /v1/accounting[?key=K][&history=1] (`sluicectl
 * accounting`): what each accounting counted per key and calendar period
 * (policy/accounting.h; README.md, "Accounting"): messages, recipients
 * and bytes, each against its limit where the accounting has one.  The
 * current period only, unless history=1 asks for the previous ones the
 * accounting keeps (`keep N`) too, newest first.
 *
 * Invariants: runs on the loop thread, which owns the counters, so the
 * report is one instant; it reads, never writes.  Keys are normalised as
 * the engine writes them (api_key: lower-cased, <> stripped).
 *
 * What an attacker controls: whoever can reach the socket sends any
 * query; the keys came from SMTP peers.  Every string goes out through
 * api_json_str().
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "api_priv.h"
#include "engine_acct.h"

void
api_acct_json_head(struct buf *b, const struct pol_acct *a, const char *key,
    const char *period)
{
	char track[64];

	engine_acct_track(a, track, sizeof(track));
	buf_addstr(b, "{\"policy\":");
	api_json_str(b, a->policy->name);
	buf_addstr(b, ",\"accounting\":");
	api_json_str(b, a->name);
	buf_addstr(b, ",\"track\":");
	api_json_str(b, track);
	buf_addstr(b, ",\"key\":");
	api_json_str(b, key);
	buf_addstr(b, ",\"period\":");
	api_json_str(b, period);
}

static void
api_acct_unit(struct buf *b, const struct pol_acct_usage *u, enum pol_unit k)
{
	buf_printf(b, ",\"%s\":{\"used\":%" PRIu64 ",\"limit\":",
	    pol_unit_name(k), u->used[k]);
	if (u->has_limit[k])
		buf_printf(b, "%" PRIu64 ",\"percent\":%.1f}", u->limit[k],
		    u->pct[k]);
	else
		buf_addstr(b, "null,\"percent\":null}");
}

/* The report's entries, as they come. */
struct api_acct_list {
	struct buf	b;
	size_t		n;
};

static void
api_acct_usage(const struct pol_acct_usage *u, void *arg)
{
	struct api_acct_list *l = arg;
	struct buf *b = &l->b;
	const struct pol_acct *a = u->acct;
	char kind[16];
	unsigned k;

	pol_period_format(&a->period, kind, sizeof(kind));
	if (l->n++ > 0)
		buf_addc(b, ',');
	api_acct_json_head(b, a, u->key, u->period);
	buf_printf(b, ",\"period_kind\":\"%s\",\"period_start\":", kind);
	api_json_time(b, u->start);
	buf_addstr(b, ",\"period_end\":");
	api_json_time(b, u->end);
	buf_printf(b, ",\"current\":%s", u->current ? "true" : "false");
	for (k = 0; k < POL_NUNIT; k++)
		api_acct_unit(b, u, k);
	buf_addstr(b, ",\"verdict\":");
	if (a->verdict == POL_V_NONE)
		buf_addstr(b, "null");
	else
		buf_printf(b, "\"%s\"", pol_verdict_name(a->verdict));
	buf_addc(b, '}');
}

/* The key and history parameters; 0, or -1 with *msg. */
static int
api_acct_args(struct evhttp_request *req, char *key, size_t keysz,
    bool *has_key, bool *history, const char **msg)
{
	static const char *const names[] = { "key", "history", NULL };
	const char *vals[2] = { NULL, NULL };
	struct evkeyvalq kv;
	int rc;

	if ((rc = api_query_parse(req, &kv, msg)) == 0)
		rc = api_query_params(&kv, names, vals, NULL, msg);
	if (rc == 0 && (*has_key = vals[0] != NULL))
		rc = api_key(vals[0], key, keysz, msg);
	if (rc == 0 && vals[1] != NULL && strcmp(vals[1], "0") != 0 &&
	    strcmp(vals[1], "1") != 0) {
		*msg = "history: 0 or 1";
		rc = -1;
	}
	*history = vals[1] != NULL && strcmp(vals[1], "1") == 0;
	evhttp_clear_headers(&kv);
	return rc;
}

void
api_accounting(struct api *api, struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct api_acct_list list = { BUF_INIT, 0 };
	struct buf json = BUF_INIT;
	char key[API_KEY_MAX + 1];
	const char *msg;
	struct engine *e;
	bool has_key = false, history = false;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		api_bad_method(req, "GET, HEAD");
		return;
	}
	if (api_acct_args(req, key, sizeof(key), &has_key, &history,
	    &msg) == -1) {
		api_error(req, 400, msg);
		return;
	}
	if ((e = api_engine(api, req)) == NULL)
		return;
	engine_acct_report(e, has_key ? key : NULL, history,
	    (int64_t)time(NULL), api_acct_usage, &list);
	buf_addc(&json, '{');
	if (has_key) {
		buf_addstr(&json, "\"key\":");
		api_json_str(&json, key);
		buf_addc(&json, ',');
	}
	buf_printf(&json, "\"history\":%s,\"accounting\":[%s],\"count\":%zu}",
	    history ? "true" : "false", list.b.data ? list.b.data : "",
	    list.n);
	api_reply(req, 200, &json);
	buf_free(&json);
	buf_free(&list.b);
}
