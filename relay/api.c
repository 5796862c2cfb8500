/*
 * api: the admin API, JSON over HTTP/1.x (libevent evhttp) on a UNIX
 * socket of mode 0660.  sluicectl is its client; curl --unix-socket works.
 *
 * Invariants: everything here runs on the event loop's thread.  Reads use
 * the queue's reader connection (WAL: they never wait for the writer).
 * Changes go to the queue writer as jobs; their done callback runs on the
 * writer thread, copies the result into the job and hands it back with
 * loop_call(), and only then is the reply sent.  A client may hang up
 * while its job is in flight: the connection's close callback records
 * whether libevent frees the request or leaves it to us, so the late
 * result touches nothing freed and leaks nothing.
 *
 * Ownership: struct api owns the evhttp and the socket file; a pending
 * delete owns itself and is freed when its result is back on the loop,
 * after api_stop() too (it is then only unlinked from the api).
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
#include "api.h"
#include "loop.h"

#define API_TIMEOUT		30	/* seconds, idle HTTP connection */
#define API_MAX_HEADERS		8192	/* bytes of request header */
#define API_MAX_BODY		1024	/* no endpoint takes a body */
#define API_LIST_DEFAULT	10000	/* messages per listing */
#define API_LIST_MAX		1000000
#define API_SEGMENT_MAX		64	/* bytes of an id in a path */

struct api_del;

struct api {
	struct event_base	*base;
	struct evhttp		*http;
	struct api_deps		 deps;
	char			*path;
	TAILQ_HEAD(, api_del)	 pending;
};

/* One POST .../delete on its way through the writer. */
struct api_del {
	struct api		*api;	/* NULL once api_stop() ran */
	struct event_base	*base;	/* for the writer thread */
	struct evhttp_request	*req;	/* NULL: libevent freed it */
	bool			 detached; /* req is ours to free */
	char			 id[QUEUE_ID_SIZE];
	int			 rc;	/* set on the writer thread */
	char			 err[256];
	TAILQ_ENTRY(api_del)	 link;
};

struct api_list_ctx {
	struct buf	*json;
	uint64_t	 count, bytes, limit;
	bool		 truncated;
};

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
/* A JSON string, or null for NULL. */
static void
api_json_str(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_addstr(b, "null");
	else
		buf_add_json_str(b, s);
}

static void
api_json_time(struct buf *b, int64_t t)
{
	char tb[TIMEFMT_LEN];

	time_rfc3339((time_t)t, tb, sizeof(tb));
	buf_printf(b, "\"%s\"", tb);
}

static const char *
api_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

/* Sends json (a complete JSON text) with status code. */
static void
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

static void
api_error(struct evhttp_request *req, int code, const char *msg)
{
	struct buf json = BUF_INIT;

	buf_addstr(&json, "{\"error\":");
	api_json_str(&json, msg);
	buf_addc(&json, '}');
	api_reply(req, code, &json);
	buf_free(&json);
}

static void
api_bad_method(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	api_error(req, 405, "method not allowed");
}

/* The summary state of a message: its pending recipients' state, "mixed"
 * when they differ, "done" when none is pending. */
static const char *
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
	if (qi->npending > 0)
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

/* Reads state=, sender= and limit= from the query; 0, or -1 with *msg. */
static int
api_list_args(struct evhttp_request *req, int *state, char **sender,
    uint64_t *limit, const char **msg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	struct evkeyval *e;
	const char *errstr;
	int rc = 0;

	if (q == NULL)
		return 0;
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(q, &kv) == -1) {
		*msg = "malformed query string";
		return -1;
	}
	TAILQ_FOREACH(e, &kv, next) {
		if (strcmp(e->key, "state") == 0) {
			if ((*state = queue_state_from_name(e->value)) < 0) {
				*msg = "unknown state";
				rc = -1;
			}
		} else if (strcmp(e->key, "sender") == 0) {
			free(*sender);
			*sender = xstrdup(e->value);
		} else if (strcmp(e->key, "limit") == 0) {
			if (str_to_u64(e->value, 1, API_LIST_MAX, limit,
			    &errstr) == -1) {
				*msg = "limit: not a number in 1-1000000";
				rc = -1;
			}
		} else {
			*msg = "unknown query parameter";
			rc = -1;
		}
		if (rc == -1)
			break;
	}
	evhttp_clear_headers(&kv);
	return rc;
}

static void
api_list(struct api *api, struct evhttp_request *req)
{
	struct buf json = BUF_INIT;
	struct api_list_ctx c = { &json, 0, 0, API_LIST_DEFAULT, false };
	const char *errstr, *msg;
	char *sender = NULL;
	int state = -1;

	if (api_list_args(req, &state, &sender, &c.limit, &msg) == -1) {
		free(sender);
		api_error(req, 400, msg);
		return;
	}
	buf_addstr(&json, "{\"messages\":[");
	if (queue_list(api->deps.queue, state, sender, api_list_row, &c,
	    &errstr) == -1) {
		log_err("event=api-error what=list error=\"%s\"", errstr);
		api_error(req, 500, errstr);
	} else {
		buf_printf(&json, "],\"count\":%" PRIu64 ",\"bytes\":%" PRIu64
		    ",\"truncated\":%s}", c.count, c.bytes,
		    c.truncated ? "true" : "false");
		api_reply(req, 200, &json);
	}
	free(sender);
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
	buf_printf(b, ",\"attempts\":%u,\"last_reply\":", r->attempts);
	api_json_str(b, r->last_reply);
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

/* Writer thread: the job inside the group transaction. */
static int
api_del_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_del *d = arg;

	return queue_txn_delete(txn, d->id, errstr);
}

/*
 * The client's connection is going away with the job in flight.  libevent
 * either frees the request right after this callback (evhttp_free, the
 * request still on the connection), or, on EOF or a timeout, detaches it
 * (its connection is then NULL) and leaves it to us to free.
 */
static void
api_del_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_del *d = arg;

	(void)evcon;
	if (d->req != NULL && evhttp_request_get_connection(d->req) == NULL)
		d->detached = true;
	else
		d->req = NULL;
}

/* Loop thread: the job's result is back. */
static void
api_del_finish(void *arg)
{
	struct api_del *d = arg;
	struct buf json = BUF_INIT;

	if (d->api != NULL)
		TAILQ_REMOVE(&d->api->pending, d, link);
	if (d->rc == 1)
		log_info("queue_id=%s event=deleted by=admin-api", d->id);
	else if (d->rc == -1)
		log_err("queue_id=%s event=api-error what=delete "
		    "error=\"%s\"", d->id, d->err);
	if (d->detached)
		evhttp_request_free(d->req);
	else if (d->req != NULL) {
		/* before the reply: sending it may free the connection */
		evhttp_connection_set_closecb(evhttp_request_get_connection(
		    d->req), NULL, NULL);
		if (d->rc == 1) {
			buf_addstr(&json, "{\"deleted\":");
			api_json_str(&json, d->id);
			buf_addc(&json, '}');
			api_reply(d->req, 200, &json);
		} else if (d->rc == 0)
			api_error(d->req, 404, "no such message");
		else
			api_error(d->req, 500, d->err);
	}
	buf_free(&json);
	free(d);
}

/* Writer thread: copy what the loop needs, then hand it over. */
static void
api_del_done(void *arg, int rc, const char *errstr)
{
	struct api_del *d = arg;

	d->rc = rc;
	str_copy(d->err, rc == -1 && errstr ? errstr : "", sizeof(d->err));
	loop_call(d->base, api_del_finish, d);
}

static void
api_delete(struct api *api, struct evhttp_request *req, const char *id)
{
	struct api_del *d;

	if (api->deps.writer == NULL) {
		api_error(req, 503, "the queue writer is not running");
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->api = api;
	d->base = api->base;
	d->req = req;
	str_copy(d->id, id, sizeof(d->id));
	TAILQ_INSERT_TAIL(&api->pending, d, link);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    api_del_closed, d);
	queue_writer_submit(api->deps.writer, api_del_job, api_del_done, d);
}

/* Routes /v1/queue/ID[/body|/delete]; rest is what follows "/v1/queue/". */
static void
api_route_msg(struct api *api, struct evhttp_request *req, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char id[API_SEGMENT_MAX];
	const char *slash = strchr(rest, '/');
	const char *action = slash ? slash + 1 : "";
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	bool del = strcmp(action, "delete") == 0;

	if ((n == 0 && slash == NULL) || (strcmp(action, "") != 0 &&
	    strcmp(action, "body") != 0 && !del)) {
		api_error(req, 404, "not found");
		return;
	}
	if (del ? cmd != EVHTTP_REQ_POST :
	    cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		api_bad_method(req, del ? "POST" : "GET, HEAD");
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
	else if (strcmp(action, "") == 0)
		api_show(api, req, id);
	else if (!del)
		api_body(api, req, id);
	else
		api_delete(api, req, id);
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
	struct api_del *d;

	if (api == NULL)
		return;
	/* frees the connections: their close callbacks orphan the jobs */
	evhttp_free(api->http);
	while ((d = TAILQ_FIRST(&api->pending)) != NULL) {
		TAILQ_REMOVE(&api->pending, d, link);
		d->api = NULL;
		if (!d->detached)
			d->req = NULL;
	}
	unlink(api->path);
	free(api->path);
	free(api);
	*apip = NULL;
}
