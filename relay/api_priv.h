/*
 * api_priv.h: what the files of the admin API share.  api.c has the
 * socket, the routing and the read endpoints; api_ops.c the changes that
 * go through the writer (the request's lifetime while its job is in
 * flight, and the queue operations: hold, release, delete, flush);
 * api_policy.c the quota report and overrides; api_acct.c the
 * accounting report; api_explain.c explain.
 * Everything here runs on the event loop's thread unless it says so.
 */
#ifndef SLUICE_API_PRIV_H
#define SLUICE_API_PRIV_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../lib/buf.h"
#include "api.h"

struct api_op;

struct api {
	struct event_base	*base;
	struct evhttp		*http;
	struct api_deps		 deps;
	char			*path;
	TAILQ_HEAD(, api_op)	 pending;	/* operations in flight */
};

/* What a POST does; the names are the last segment of its path. */
enum api_action {
	API_HOLD, API_RELEASE, API_DELETE, API_FLUSH
};

/* The action a path segment names ("hold", ...), or -1. */
int	api_action_from_name(const char *);

/* The request's query parameters, decoded, into *kv (the caller clears
 * it with evhttp_clear_headers() either way).  0, or -1 with *msg. */
int	api_query_parse(struct evhttp_request *, struct evkeyvalq *kv,
	    const char **msg);
/* Sends json (a complete JSON text; a newline is added) with code. */
void	api_reply(struct evhttp_request *, int code, struct buf *json);
/* {"error": msg} with code. */
void	api_error(struct evhttp_request *, int code, const char *msg);
/* 405 with an Allow header of allow ("GET, HEAD"). */
void	api_bad_method(struct evhttp_request *, const char *allow);
/* A JSON string (any bytes: invalid UTF-8 is replaced), or null. */
void	api_json_str(struct buf *, const char *s);
/* "2026-11-24T14:27:01Z". */
void	api_json_time(struct buf *, int64_t t);
/* The same, or null for 0 (never). */
void	api_json_time_or_null(struct buf *, int64_t t);
/* A message's summary state: its pending recipients' state, "mixed" when
 * they differ, "done" when none is pending. */
const char *api_summary_state(const struct queue_info *);

/*
 * A change that goes through the queue writer and is answered once it is
 * committed.  run is the job (writer thread, inside the group
 * transaction, with arg).  finish is then called once on the loop thread
 * with the job's result (rc < 0: failed, err says why) and owns arg: api
 * is NULL when api_stop() ran meanwhile, req NULL when nobody waits for
 * the reply any more (the client hung up); otherwise finish replies.
 * 0, or -1 when there is no writer: then 503 was sent and arg is still
 * the caller's.
 */
typedef void api_finish_fn(struct api *, struct evhttp_request *, int rc,
    const char *err, void *arg);
int	api_job_start(struct api *, struct evhttp_request *, queue_job_fn *run,
	    api_finish_fn *finish, void *arg);

/* The same lifetime for a reply that waits for something other than the
 * writer: finish is called (as above) once api_wait_end runs, on the
 * loop thread, which may be before api_wait_start's caller returns. */
struct api_op *api_wait_start(struct api *, struct evhttp_request *,
	    api_finish_fn *finish, void *arg);
void	api_wait_end(struct api_op *, int rc, const char *err);
/* api_notify.c: POST /v1/notify/NAME/test (rest: "NAME/test"). */
void	api_notify(struct api *, struct evhttp_request *, const char *rest);

/*
 * Starts action on the message id, or (id NULL) on every message of
 * sender ("" the null sender), or for API_FLUSH (both NULL) on the whole
 * queue.  The reply is sent once the writer has committed the change;
 * then deps.changed is told each message that changed.
 */
void	api_op_start(struct api *, struct evhttp_request *, enum api_action,
	    const char *id, const char *sender);
/* api_release.c: releases the held recipients of message id, or (id
 * NULL) of every message of sender, through their quotas again; with
 * bypass, held and deferred ones now, whatever the quotas say. */
void	api_release_start(struct api *, struct evhttp_request *,
	    const char *id, const char *sender, bool bypass);
/* For api_stop(): the operations in flight lose their api and request;
 * their results are still logged, but nobody is told. */
void	api_ops_orphan(struct api *);

/* api_rcpts.c: the per-recipient part of GET /v1/queue?state=S (deferred
 * mail): "recipients":[...],"recipient_count":N appended to json (no
 * comma before), each pending recipient in state of sender's messages
 * (NULL: every sender), at most limit of them (*truncated set when there
 * were more).  0, or -1 with *errstr. */
int	api_list_rcpts(struct api *, struct buf *json, int state,
	    const char *sender, uint64_t limit, bool *truncated,
	    const char **errstr);
/* api_policy.c: GET /v1/quotas, POST /v1/quotas/set|exempt|clear (rest is
 * what follows "/v1/quotas": "" or "/set" ...). */
void	api_quotas(struct api *, struct evhttp_request *, const char *rest);
/* api_acct.c: GET /v1/accounting[?key=K][&history=1]. */
void	api_accounting(struct api *, struct evhttp_request *);
/* An accounting's key and period opens a JSON object: '{' and its
 * policy, accounting, track, key and period members (no '}'). */
struct pol_acct;
void	api_acct_json_head(struct buf *, const struct pol_acct *,
	    const char *key, const char *period);
/* api_explain.c: GET /v1/explain. */
void	api_explain(struct api *, struct evhttp_request *);
/* The endpoints of the policy engine share these (api_policy.c).  Reads
 * the query parameters named in names (NULL-terminated) into vals (NULL
 * when absent), skipping those named many (the caller collects them);
 * -1 with *msg for any other parameter, or one given twice. */
int	api_query_params(const struct evkeyvalq *, const char *const *names,
	    const char **vals, const char *many, const char **msg);
#define API_KEY_MAX	255	/* bytes of a quota or accounting key */
/* A key as the engine writes it (lower-cased, <> stripped), into out of
 * outsz bytes; 0, or -1 with *msg (none given, control characters, too
 * long). */
int	api_key(const char *in, char *out, size_t outsz, const char **msg);
/* A counter's figure: an integer, or two decimals (sliding windows). */
void	api_json_figure(struct buf *, double);
/* deps.engine, or NULL after a 503. */
struct engine *api_engine(struct api *, struct evhttp_request *);

#endif
