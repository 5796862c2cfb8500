/*
 * engine_acct: the accountings in the daemon (engine_priv.h).
 */
#include "engine_priv.h"

int
engine_acct_new(struct engine *e, struct queue *q, const char **errstr)
{
	(void)e;
	(void)q;
	(void)errstr;
	return 0;
}

void
engine_acct_free(struct engine *e)
{
	(void)e;
}

void
engine_acct_reconf(struct engine *e)
{
	(void)e;
}

void
engine_acct_prune(struct engine *e, int64_t now)
{
	(void)e;
	(void)now;
}
