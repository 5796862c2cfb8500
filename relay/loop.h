/*
 * loop: hands work from another thread (the queue writer) back to the
 * event loop.  Requires evthread_use_pthreads() before event_base_new().
 */
#ifndef SLUICE_LOOP_H
#define SLUICE_LOOP_H

#include <event2/event.h>

typedef void loop_fn(void *arg);

/* Runs fn(arg) on base's thread at its next turn.  Thread-safe. */
void	loop_call(struct event_base *, loop_fn *, void *arg);

#endif
