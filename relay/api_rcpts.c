/*
 * api_rcpts: the admin API's listing of recipients rather than messages,
 * for mail a quota holds back (GET /v1/queue?state=deferred, `sluicectl
 * queue --state deferred`): each deferred recipient with the quota and
 * key that hold it, when it is released and when it gives up.  The
 * per-message rows of the same answer stay as they are (api.c).
 *
 * Invariants: read on the queue's reader connection, in due order (the
 * order in which they will leave), bounded by the listing's limit like
 * the messages.
 *
 * What an attacker controls: senders, recipients and quota keys came
 * from SMTP peers (a key is an address or a login): every string goes
 * out through api_json_str().
 */
#include <inttypes.h>

#include "../lib/buf.h"
#include "api_priv.h"

struct api_rcpts_ctx {
	struct buf	*json;
	uint64_t	 count, limit;
	bool		 truncated;
};

static void
api_rcpt_row(const struct queue_rcpt_row *r, void *arg)
{
	struct api_rcpts_ctx *c = arg;
	struct buf *b = c->json;

	if (++c->count > c->limit) {
		c->truncated = true;
		return;
	}
	buf_addstr(b, c->count > 1 ? ",{\"id\":" : "{\"id\":");
	api_json_str(b, r->id);
	buf_addstr(b, ",\"arrival\":");
	api_json_time(b, r->arrival);
	buf_addstr(b, ",\"sender\":");
	api_json_str(b, r->sender);
	buf_printf(b, ",\"rcpt\":%d,\"recipient\":", r->rcpt);
	api_json_str(b, r->addr);
	buf_printf(b, ",\"state\":\"%s\",\"quota\":",
	    queue_state_name(r->state));
	api_json_str(b, r->quota);
	buf_addstr(b, ",\"key\":");
	api_json_str(b, r->qkey);
	buf_addstr(b, ",\"release\":");
	api_json_time(b, r->due);
	buf_addstr(b, ",\"expire\":");
	api_json_time_or_null(b, r->expire);
	buf_addc(b, '}');
}

int
api_list_rcpts(struct api *api, struct buf *json, int state,
    const char *sender, uint64_t limit, bool *truncated, const char **errstr)
{
	struct api_rcpts_ctx c = { json, 0, limit, false };

	buf_addstr(json, "\"recipients\":[");
	if (queue_list_rcpts(api->deps.queue, state, sender, api_rcpt_row, &c,
	    errstr) == -1)
		return -1;
	buf_printf(json, "],\"recipient_count\":%" PRIu64, c.count);
	if (c.truncated)
		*truncated = true;
	return 0;
}
