/*
 * engine_state: greylisting's and HELO tracking's state in the daemon
 * (engine_priv.h).
 */
#include "engine_priv.h"

int
engine_filters_new(struct engine *e, struct queue *q, const char **errstr)
{
	(void)e;
	(void)q;
	(void)errstr;
	return 0;
}

void
engine_filters_free(struct engine *e)
{
	(void)e;
}

void
engine_filters_reconf(struct engine *e)
{
	(void)e;
}

void
engine_filters_prune(struct engine *e, int64_t now)
{
	(void)e;
	(void)now;
}
