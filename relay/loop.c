/*
 * loop: event_base_once with no timeout activates at once and, with
 * pthread locking enabled, wakes the loop from any thread.  The closure
 * is allocated here and freed after the call.
 */
#include <stdlib.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "loop.h"

struct loop_call {
	loop_fn	*fn;
	void	*arg;
};

static void
loop_trampoline(evutil_socket_t fd, short ev, void *arg)
{
	struct loop_call *c = arg;

	(void)fd;
	(void)ev;
	c->fn(c->arg);
	free(c);
}

void
loop_call(struct event_base *base, loop_fn *fn, void *arg)
{
	struct loop_call *c = xmalloc(sizeof(*c));

	c->fn = fn;
	c->arg = arg;
	if (event_base_once(base, -1, EV_TIMEOUT, loop_trampoline, c,
	    NULL) == -1)
		fatal("event=loop-call-failed");
}
