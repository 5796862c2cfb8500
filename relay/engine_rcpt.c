/*
 * engine_rcpt: the RCPT stage in the daemon (engine.h): access control,
 * HELO checks, SPF and greylisting.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "engine_priv.h"

struct engine_tx {
	int	unused;
};

struct engine_tx *
engine_tx_new(void)
{
	return xcalloc(1, sizeof(struct engine_tx));
}

void
engine_tx_free(struct engine_tx **tp)
{
	free(*tp);
	*tp = NULL;
}

const char *
engine_tx_spf_header(const struct engine_tx *t)
{
	if (t == NULL)
		return NULL;
	return NULL;
}

bool
engine_rcpt_check(struct engine *e, struct engine_tx *t,
    const struct engine_ident *id, const char *rcpt, const char *qid,
    struct engine_rcpt_out *out, engine_rcpt_cb *cb, void *arg)
{
	(void)t;
	(void)cb;
	(void)arg;
	memset(out, 0, sizeof(*out));
	out->module = "access";
	out->verdict = engine_rcpt(e, id, rcpt, qid, out->reply,
	    sizeof(out->reply));
	return true;
}
