/*
 * api_notify: POST /v1/notify/NAME/test, `sluicectl notify test NAME`.
 * The reply waits for the sample's outcome (the webhook's answer, or the
 * alert mail committed to the queue): notify.c does the work.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "../lib/xalloc.h"
#include "api_priv.h"
#include "notify.h"

struct api_ntest {
	struct api_op	*op;
	int		 code;
	struct buf	 json;
};

static void
ntest_finish(struct api *api, struct evhttp_request *req, int rc,
    const char *err, void *arg)
{
	struct api_ntest *t = arg;

	(void)api;
	(void)rc;
	(void)err;
	if (req != NULL)
		api_reply(req, t->code, &t->json);
	buf_free(&t->json);
	free(t);
}

static void
ntest_done(void *arg, int code, struct buf *json)
{
	struct api_ntest *t = arg;

	t->code = code;
	buf_add(&t->json, json->data, json->len);
	api_wait_end(t->op, 0, NULL);
}

void
api_notify(struct api *api, struct evhttp_request *req, const char *rest)
{
	const char *slash = strchr(rest, '/');
	struct api_ntest *t;
	char name[128];

	if (slash == NULL || strcmp(slash, "/test") != 0 || slash == rest ||
	    (size_t)(slash - rest) >= sizeof(name)) {
		api_error(req, 404, "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		api_bad_method(req, "POST");
		return;
	}
	memcpy(name, rest, (size_t)(slash - rest));
	name[slash - rest] = '\0';
	t = xcalloc(1, sizeof(*t));
	t->op = api_wait_start(api, req, ntest_finish, t);
	notify_test(api->deps.notify, name, ntest_done, t);
}
