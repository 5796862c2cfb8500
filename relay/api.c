/*
 * api: the admin API, JSON over HTTP/1.x (libevent evhttp) on a UNIX
 * socket of mode 0660.  sluicectl is its client; curl --unix-socket works.
 *
 * Invariants: everything here runs on the event loop's thread.  Reads use
 * the queue's reader connection (WAL: they never wait for the writer).
 * Changes (hold, release, delete, flush) go to the queue writer as jobs
 * and are answered once committed (api_ops.c).  Every query parameter an
 * endpoint does not know is a 400, so a typo never widens an operation.
 *
 * Ownership: struct api owns the evhttp and the socket file; an operation
 * in flight owns itself (api_ops.c).
 *
 * What an attacker controls: whoever can connect to the socket (root and
 * the sluice group) sends arbitrary request lines, headers and query
 * strings (bounded by evhttp's limits set below).  Senders, recipients,
 * HELO names and replies in the queue came from SMTP peers: they may hold
 * any byte, so every string goes out through api_json_str(), which also
 * replaces invalid UTF-8 so the JSON stays valid.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "api_priv.h"

#define API_TIMEOUT		30	/* seconds, idle HTTP connection */
#define API_MAX_HEADERS		8192	/* bytes of request header */
#define API_MAX_BODY		1024	/* no endpoint takes a body */
#define API_LIST_DEFAULT	10000	/* messages per listing */
#define API_LIST_MAX		1000000
#define API_SEGMENT_MAX		64	/* bytes of an id in a path */

struct api_list_ctx {
	struct buf	*json;
	uint64_t	 count, bytes, limit;
	bool		 truncated;
};

void
api_json_str(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_addstr(b, "null");
	else
		buf_add_json_str(b, s);
}

void
api_json_time(struct buf *b, int64_t t)
{
	char tb[TIMEFMT_LEN];

	time_rfc3339((time_t)t, tb, sizeof(tb));
	buf_printf(b, "\"%s\"", tb);
}

void
api_json_time_or_null(struct buf *b, int64_t t)
{
	if (t == 0)
		buf_addstr(b, "null");
	else
		api_json_time(b, t);
}

static const char *
api_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 422: return "Unprocessable Entity";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

void
api_reply(struct evhttp_request *req, int code, struct buf *json)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	buf_addc(json, '\n');
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evbuffer_add(evhttp_request_get_output_buffer(req), json->data,
	    json->len);
	evhttp_send_reply(req, code, api_reason(code), NULL);
}

void
api_error(struct evhttp_request *req, int code, const char *msg)
{
	struct buf json = BUF_INIT;

	buf_addstr(&json, "{\"error\":");
	api_json_str(&json, msg);
	buf_addc(&json, '}');
	api_reply(req, code, &json);
	buf_free(&json);
}

void
api_bad_method(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	api_error(req, 405, "method not allowed");
}

const char *
api_summary_state(const struct queue_info *qi)
{
	int s, found = -1;

	for (s = QUEUE_READY; s < QUEUE_DONE; s++) {
		if (qi->nstate[s] == 0)
			continue;
		if (found >= 0)
			return "mixed";
		found = s;
	}
	return queue_state_name(found >= 0 ? found : QUEUE_DONE);
}

/* The fields a listing row and the detail share, without braces; the
 * detail has the recipients as an array instead of their number. */
static void
api_json_info(struct buf *b, const struct queue_info *qi, bool count)
{
	buf_addstr(b, "\"id\":");
	api_json_str(b, qi->id);
	buf_addstr(b, ",\"arrival\":");
	api_json_time(b, qi->arrival);
	buf_addstr(b, ",\"sender\":");
	api_json_str(b, qi->sender ? qi->sender : "");
	buf_printf(b, ",\"size\":%" PRIu64, qi->size);
	if (count)
		buf_printf(b, ",\"recipients\":%u", qi->nrcpt);
	buf_printf(b, ",\"pending\":%u,\"state\":\"%s\",\"next_due\":",
	    qi->npending, api_summary_state(qi));
	/* held mail is due when an administrator says so, not before */
	if (qi->npending > qi->nstate[QUEUE_HOLD])
		api_json_time(b, qi->next_due);
	else
		buf_addstr(b, "null");
}

static void
api_status(struct api *api, struct evhttp_request *req)
{
	struct queue_stats st;
	struct buf json = BUF_INIT;
	uint64_t commits = 0, jobs = 0;
	const char *errstr;

	if (queue_stats(api->deps.queue, &st, &errstr) == -1) {
		log_err("event=api-error what=stats error=\"%s\"", errstr);
		api_error(req, 500, errstr);
		return;
	}
	if (api->deps.writer != NULL)
		queue_writer_counts(api->deps.writer, &commits, &jobs);
	buf_addc(&json, '{');
	if (api->deps.status != NULL)
		api->deps.status(&json, api->deps.status_arg);
	buf_printf(&json, "\"queue\":{\"messages\":%" PRIu64 ",\"ready\":%"
	    PRIu64 ",\"deferred\":%" PRIu64 ",\"retry\":%" PRIu64 ",\"hold\":%"
	    PRIu64 ",\"bytes\":%" PRIu64 "},\"writer\":{\"commits\":%" PRIu64
	    ",\"jobs\":%" PRIu64 "}}", st.messages, st.rcpts[QUEUE_READY],
	    st.rcpts[QUEUE_DEFERRED], st.rcpts[QUEUE_RETRY],
	    st.rcpts[QUEUE_HOLD], st.bytes, commits, jobs);
	api_reply(req, 200, &json);
	buf_free(&json);
}

static void
api_list_row(const struct queue_info *qi, void *arg)
{
	struct api_list_ctx *c = arg;

	c->count++;
	c->bytes += qi->size;
	if (c->count > c->limit) {
		c->truncated = true;
		return;
	}
	if (c->count > 1)
		buf_addc(c->json, ',');
	buf_addc(c->json, '{');
	api_json_info(c->json, qi, true);
	buf_addc(c->json, '}');
}

/* What a query string may carry. */
struct api_query {
	int		 state;		/* -1: any */
	char		*sender;	/* NULL: none given; "" the null sender */
	uint64_t	 limit;
	bool		 now;		/* release: bypassing quotas */
};

/* One parameter: 0, or -1 with *msg. */
static int
api_query_param(const struct evkeyval *e, const char *allowed,
    struct api_query *qa, const char **msg)
{
	const char *errstr;

	if (strcmp(e->key, "state") == 0 && strchr(allowed, 't') != NULL) {
		if ((qa->state = queue_state_from_name(e->value)) < 0) {
			*msg = "unknown state";
			return -1;
		}
	} else if (strcmp(e->key, "sender") == 0 &&
	    strchr(allowed, 's') != NULL) {
		free(qa->sender);
		qa->sender = xstrdup(e->value);
	} else if (strcmp(e->key, "now") == 0 &&
	    strchr(allowed, 'n') != NULL) {
		if (strcmp(e->value, "1") != 0 && strcmp(e->value, "0") != 0) {
			*msg = "now: 1 or 0";
			return -1;
		}
		qa->now = strcmp(e->value, "1") == 0;
	} else if (strcmp(e->key, "limit") == 0 &&
	    strchr(allowed, 'l') != NULL) {
		if (str_to_u64(e->value, 1, API_LIST_MAX, &qa->limit,
		    &errstr) == -1) {
			*msg = "limit: not a number in 1-1000000";
			return -1;
		}
	} else {
		*msg = "unknown query parameter";
		return -1;
	}
	return 0;
}

int
api_query_parse(struct evhttp_request *req, struct evkeyvalq *kv,
    const char **msg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;

	TAILQ_INIT(kv);
	if (q != NULL && evhttp_parse_query_str(q, kv) == -1) {
		*msg = "malformed query string";
		return -1;
	}
	return 0;
}

/* Reads the query's parameters the endpoint takes (allowed: t state=,
 * s sender=, l limit=, n now=) into *qa, which holds the defaults; 0, or -1 with
 * *msg.  qa->sender is the caller's to free either way. */
static int
api_query(struct evhttp_request *req, const char *allowed,
    struct api_query *qa, const char **msg)
{
	struct evkeyvalq kv;
	struct evkeyval *e;
	int rc;

	if ((rc = api_query_parse(req, &kv, msg)) == 0)
		TAILQ_FOREACH(e, &kv, next)
			if ((rc = api_query_param(e, allowed, qa, msg)) == -1)
				break;
	evhttp_clear_headers(&kv);
	return rc;
}

static void
api_list(struct api *api, struct evhttp_request *req)
{
	struct buf json = BUF_INIT, rcpts = BUF_INIT;
	struct api_list_ctx c = { &json, 0, 0, API_LIST_DEFAULT, false };
	struct api_query qa = { -1, NULL, API_LIST_DEFAULT, false };
	const char *errstr, *msg;

	if (api_query(req, "tsl", &qa, &msg) == -1) {
		free(qa.sender);
		api_error(req, 400, msg);
		return;
	}
	c.limit = qa.limit;
	buf_addstr(&json, "{\"messages\":[");
	/* deferred mail also one row per recipient, with its quota */
	if (queue_list(api->deps.queue, qa.state, qa.sender, api_list_row, &c,
	    &errstr) == -1 || (qa.state == QUEUE_DEFERRED &&
	    api_list_rcpts(api, &rcpts, qa.state, qa.sender, qa.limit,
	    &c.truncated, &errstr) == -1)) {
		log_err("event=api-error what=list error=\"%s\"", errstr);
		api_error(req, 500, errstr);
	} else {
		buf_printf(&json, "],\"count\":%" PRIu64 ",\"bytes\":%" PRIu64
		    ",\"truncated\":%s", c.count, c.bytes,
		    c.truncated ? "true" : "false");
		if (rcpts.len > 0) {
			buf_addc(&json, ',');
			buf_add(&json, rcpts.data, rcpts.len);
		}
		buf_addc(&json, '}');
		api_reply(req, 200, &json);
	}
	free(qa.sender);
	buf_free(&rcpts);
	buf_free(&json);
}

static void
api_json_rcpt(struct buf *b, const struct queue_rcpt_info *r)
{
	buf_addstr(b, "{\"address\":");
	api_json_str(b, r->addr);
	buf_printf(b, ",\"state\":\"%s\",\"due\":", queue_state_name(r->state));
	if (r->state == QUEUE_DONE)
		buf_addstr(b, "null");
	else
		api_json_time(b, r->due);
	buf_printf(b, ",\"attempts\":%u,\"first_attempt\":", r->attempts);
	api_json_time_or_null(b, r->first_attempt);
	buf_addstr(b, ",\"last_attempt\":");
	api_json_time_or_null(b, r->last_attempt);
	buf_addstr(b, ",\"last_reply\":");
	api_json_str(b, r->last_reply);
	buf_addstr(b, ",\"dsn_status\":");
	api_json_str(b, r->dsn_status);
	/* what a quota did: who defers it, when it gives up, a release past
	 * its quota, what it reserves */
	buf_addstr(b, ",\"quota\":");
	api_json_str(b, r->quota);
	buf_addstr(b, ",\"key\":");
	api_json_str(b, r->qkey);
	buf_addstr(b, ",\"expire\":");
	api_json_time_or_null(b, r->expire);
	buf_printf(b, ",\"bypass\":%s,\"reservations\":",
	    r->rflags & QUEUE_RF_BYPASS ? "true" : "false");
	if (r->resv_bad)	/* unreadable: none can be given back */
		buf_addstr(b, "null");
	else
		buf_printf(b, "%zu", r->nresv);
	buf_addc(b, '}');
}

static void
api_show(struct api *api, struct evhttp_request *req, const char *id)
{
	struct queue_detail *d = NULL;
	struct buf json = BUF_INIT;
	const char *errstr;
	size_t i;
	int rc;

	rc = queue_show(api->deps.queue, id, &d, &errstr);
	if (rc == -1) {
		log_err("queue_id=%s event=api-error what=show error=\"%s\"",
		    id, errstr);
		api_error(req, 500, errstr);
		return;
	}
	if (rc == 0 || d == NULL) {
		api_error(req, 404, "no such message");
		return;
	}
	buf_addc(&json, '{');
	api_json_info(&json, &d->info, false);
	buf_addstr(&json, ",\"client_addr\":");
	api_json_str(&json, d->client_addr);
	buf_addstr(&json, ",\"client_name\":");
	api_json_str(&json, d->client_name);
	buf_addstr(&json, ",\"client_helo\":");
	api_json_str(&json, d->client_helo);
	buf_addstr(&json, ",\"client_proto\":");
	api_json_str(&json, d->client_proto);
	buf_addstr(&json, ",\"peer_addr\":");
	api_json_str(&json, d->peer_addr);
	buf_addstr(&json, ",\"peer_helo\":");
	api_json_str(&json, d->peer_helo);
	buf_addstr(&json, ",\"sasl_user\":");
	api_json_str(&json, d->sasl_user);
	buf_printf(&json, ",\"8bitmime\":%s,\"smtputf8\":%s,\"recipients\":[",
	    d->flags & QUEUE_F_8BITMIME ? "true" : "false",
	    d->flags & QUEUE_F_SMTPUTF8 ? "true" : "false");
	for (i = 0; i < d->nrcpt; i++) {
		if (i > 0)
			buf_addc(&json, ',');
		api_json_rcpt(&json, &d->rcpts[i]);
	}
	buf_addstr(&json, "]}");
	api_reply(req, 200, &json);
	buf_free(&json);
	queue_detail_free(&d);
}

static void
api_free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void
api_body(struct api *api, struct evhttp_request *req, const char *id)
{
	const char *errstr;
	char *body = NULL;
	size_t len = 0;
	int rc;

	rc = queue_body(api->deps.queue, id, &body, &len, &errstr);
	if (rc == -1) {
		log_err("queue_id=%s event=api-error what=body error=\"%s\"",
		    id, errstr);
		api_error(req, 500, errstr);
		return;
	}
	if (rc == 0) {
		api_error(req, 404, "no such message");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "message/rfc822");
	if (evbuffer_add_reference(evhttp_request_get_output_buffer(req),
	    body, len, api_free_body, NULL) == -1) {
		free(body);
		api_error(req, 500, "out of memory");
		return;
	}
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* POST /v1/queue/flush, and /v1/queue/ACTION?sender=A for the messages
 * of a sender. */
static void
api_route_queue_op(struct api *api, struct evhttp_request *req,
    enum api_action action)
{
	struct api_query qa = { -1, NULL, 0, false };
	const char *msg;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
		api_bad_method(req, "POST");
	else if (api_query(req, action == API_FLUSH ? "" : action ==
	    API_RELEASE ? "sn" : "s", &qa, &msg) == -1)
		api_error(req, 400, msg);
	else if (action != API_FLUSH && qa.sender == NULL)
		api_error(req, 400, "sender= is required (empty for the null "
		    "sender)");
	else if (action == API_RELEASE)
		api_release_start(api, req, NULL, qa.sender, qa.now);
	else
		api_op_start(api, req, action, NULL, qa.sender);
	free(qa.sender);
}

/* Routes /v1/queue/ID[/body|/hold|/release|/delete] and
 * /v1/queue/ACTION; rest is what follows "/v1/queue/". */
static void
api_route_msg(struct api *api, struct evhttp_request *req, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct api_query qa = { -1, NULL, 0, false };
	char id[API_SEGMENT_MAX];
	const char *slash = strchr(rest, '/'), *msg;
	const char *sub = slash ? slash + 1 : "";
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	int action = slash ? api_action_from_name(sub) : -1;
	bool read = strcmp(sub, "") == 0 || strcmp(sub, "body") == 0;

	if (slash == NULL && (action = api_action_from_name(rest)) >= 0) {
		api_route_queue_op(api, req, action);
		return;
	}
	if ((n == 0 && slash == NULL) || action == API_FLUSH ||
	    (action < 0 && !read)) {
		api_error(req, 404, "not found");
		return;
	}
	if (action >= 0 ? cmd != EVHTTP_REQ_POST :
	    cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		api_bad_method(req, action >= 0 ? "POST" : "GET, HEAD");
		return;
	}
	if (n >= sizeof(id)) {
		api_error(req, 400, "invalid queue id");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!queue_id_is_valid(id))
		api_error(req, 400, "invalid queue id");
	else if (action >= 0 && api_query(req, action == API_RELEASE ? "n" :
	    "", &qa, &msg) == -1)
		api_error(req, 400, msg);
	else if (action == API_RELEASE)
		api_release_start(api, req, id, NULL, qa.now);
	else if (action >= 0)
		api_op_start(api, req, action, id, NULL);
	else if (strcmp(sub, "") == 0)
		api_show(api, req, id);
	else
		api_body(api, req, id);
}

/* Appends "name":[...] with each line of text (lines end in '\n'). */
static void
api_json_lines(struct buf *json, const char *name, const char *text)
{
	const char *p, *nl;
	char *line;
	bool first = true;

	buf_printf(json, "\"%s\":[", name);
	for (p = text; p != NULL && (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1) {
		line = xstrndup(p, (size_t)(nl - p));
		if (!first)
			buf_addc(json, ',');
		api_json_str(json, line);
		free(line);
		first = false;
	}
	buf_addc(json, ']');
}

/* POST /v1/reload: 200 {"reloaded":true,"notes":[...]} or, when the
 * file was refused, 422 {"error":...,"errors":["file:line: ...",...]}. */
static void
api_reload(struct api *api, struct evhttp_request *req)
{
	struct buf errors = BUF_INIT, notes = BUF_INIT, json = BUF_INIT;
	struct api_query qa = { -1, NULL, 0, false };
	const char *msg;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		api_bad_method(req, "POST");
		return;
	}
	if (api_query(req, "", &qa, &msg) == -1) {
		api_error(req, 400, msg);
		return;
	}
	if (api->deps.reload == NULL) {
		api_error(req, 503, "reload not available");
		return;
	}
	if (api->deps.reload(api->deps.reload_arg, &errors, &notes) == 0) {
		buf_addstr(&json, "{\"reloaded\":true,");
		api_json_lines(&json, "notes", notes.data);
		buf_addc(&json, '}');
		api_reply(req, 200, &json);
	} else {
		buf_addstr(&json, "{\"error\":\"the configuration was refused; "
		    "the running one stays\",\"reloaded\":false,");
		api_json_lines(&json, "errors", errors.data);
		buf_addc(&json, '}');
		api_reply(req, 422, &json);
	}
	buf_free(&errors);
	buf_free(&notes);
	buf_free(&json);
}

static void
api_request(struct evhttp_request *req, void *arg)
{
	struct api *api = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (path == NULL || strncmp(path, "/v1/", 4) != 0) {
		api_error(req, 404, "not found");
		return;
	}
	path += 4;
	if (strncmp(path, "queue/", 6) == 0)
		api_route_msg(api, req, path + 6);
	else if (strcmp(path, "reload") == 0)
		api_reload(api, req);
	else if (strncmp(path, "quotas", 6) == 0 && (path[6] == '\0' ||
	    path[6] == '/'))
		api_quotas(api, req, path + 6);
	else if (strcmp(path, "explain") == 0)
		api_explain(api, req);
	else if (strcmp(path, "accounting") == 0)
		api_accounting(api, req);
	else if (strncmp(path, "notify/", 7) == 0)
		api_notify(api, req, path + 7);
	else if (strcmp(path, "status") != 0 && strcmp(path, "queue") != 0)
		api_error(req, 404, "not found");
	else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
		api_bad_method(req, "GET, HEAD");
	else if (path[0] == 's')
		api_status(api, req);
	else
		api_list(api, req);
}

/* Removes path when it is a socket nobody answers on (a daemon that
 * died); refuses when a daemon answers or when it is not a socket. */
static int
api_clear_stale(const struct sockaddr_un *sun, const char **errstr)
{
	static char msg[128];
	struct stat st;
	int fd, rc, e;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		e = errno;
		*errstr = "stat";
		goto fail;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*errstr = "exists and is not a socket";
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		e = errno;
		*errstr = "socket";
		goto fail;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN) {
		*errstr = "another daemon is listening on it";
		return -1;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		*errstr = "connect";
		goto fail;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		e = errno;
		*errstr = "unlink";
		goto fail;
	}
	return 0;
fail:
	snprintf(msg, sizeof(msg), "%s: %s", *errstr, strerror(e));
	*errstr = msg;
	return -1;
}

/* A listening AF_UNIX socket at path, mode 0660; -1 with *errstr. */
static int
api_listen(const char *path, const char **errstr)
{
	static char msg[128];
	struct sockaddr_un sun;
	const char *what;
	int fd = -1, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		*errstr = "socket path too long";
		return -1;
	}
	if (api_clear_stale(&sun, errstr) == -1)
		return -1;
	what = "socket";
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* Linux creates the file with the socket's own mode less the umask:
	 * set it first so the file is never wider than 0660, then chmod to
	 * make it exactly 0660 whatever the umask */
	what = "fchmod";
	if (fchmod(fd, 0660) == -1)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	what = "chmod";
	if (chmod(path, 0660) == -1)
		goto fail_unlink;
	what = "listen";
	if (listen(fd, 64) == -1)
		goto fail_unlink;
	return fd;
fail_unlink:
	e = errno;
	unlink(path);
	errno = e;
fail:
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	*errstr = msg;
	if (fd != -1)
		close(fd);
	return -1;
}

int
api_start(struct api **apip, struct event_base *base, const char *path,
    const struct api_deps *deps, const char **errstr)
{
	struct api *api;
	int fd;

	if (deps->queue == NULL) {
		*errstr = "no queue";
		return -1;
	}
	if ((fd = api_listen(path, errstr)) == -1)
		return -1;
	api = xcalloc(1, sizeof(*api));
	api->base = base;
	api->deps = *deps;
	api->path = xstrdup(path);
	TAILQ_INIT(&api->pending);
	if ((api->http = evhttp_new(base)) == NULL ||
	    evhttp_accept_socket(api->http, fd) == -1) {
		*errstr = "evhttp setup failed";
		if (api->http != NULL)
			evhttp_free(api->http);
		close(fd);
		unlink(path);
		free(api->path);
		free(api);
		return -1;
	}
	evhttp_set_timeout(api->http, API_TIMEOUT);
	evhttp_set_max_headers_size(api->http, API_MAX_HEADERS);
	evhttp_set_max_body_size(api->http, API_MAX_BODY);
	/* every method reaches api_request, which answers 405 itself */
	evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(api->http, api_request, api);
	log_info("event=api-listen socket=%s", path);
	*apip = api;
	return 0;
}

void
api_stop(struct api **apip)
{
	struct api *api = *apip;

	if (api == NULL)
		return;
	/* frees the connections: their close callbacks orphan the jobs */
	evhttp_free(api->http);
	api_ops_orphan(api);
	unlink(api->path);
	free(api->path);
	free(api);
	*apip = NULL;
}
