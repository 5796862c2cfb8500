/*
 * api_priv.h: what the files of the admin API share.  api.c has the
 * socket, the routing and the read endpoints; api_ops.c the queue
 * operations (hold, release, delete, flush) that go through the writer.
 * Everything here runs on the event loop's thread unless it says so.
 */
#ifndef SLUICE_API_PRIV_H
#define SLUICE_API_PRIV_H

#include <sys/queue.h>

#include <stdint.h>

#include <event2/http.h>

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

/* Sends json (a complete JSON text; a newline is added) with code. */
void	api_reply(struct evhttp_request *, int code, struct buf *json);
/* {"error": msg} with code. */
void	api_error(struct evhttp_request *, int code, const char *msg);
/* A JSON string (any bytes: invalid UTF-8 is replaced), or null. */
void	api_json_str(struct buf *, const char *s);
/* "2026-11-24T14:27:01Z". */
void	api_json_time(struct buf *, int64_t t);
/* A message's summary state: its pending recipients' state, "mixed" when
 * they differ, "done" when none is pending. */
const char *api_summary_state(const struct queue_info *);

/*
 * Starts action on the message id, or (id NULL) on every message of
 * sender ("" the null sender), or for API_FLUSH (both NULL) on the whole
 * queue.  The reply is sent once the writer has committed the change;
 * then deps.changed is told each message that changed.
 */
void	api_op_start(struct api *, struct evhttp_request *, enum api_action,
	    const char *id, const char *sender);
/* For api_stop(): the operations in flight lose their api and request;
 * their results are still logged, but nobody is told. */
void	api_ops_orphan(struct api *);

#endif
