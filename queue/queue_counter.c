/*
 * queue_counter: copies of counter rows (struct queue_counter) that must
 * outlive a change callback: the reservations a recipient gave up are
 * handed over on the writer thread and given back on the loop's.
 */
#include <stdlib.h>

#include "../lib/xalloc.h"
#include "queue.h"

void
queue_counters_keep(struct queue_counter **v, size_t *n,
    const struct queue_counter *rows, size_t nrows)
{
	struct queue_counter *g;
	size_t i;

	if (nrows == 0)
		return;
	*v = xreallocarray(*v, *n + nrows, sizeof(**v));
	for (i = 0; i < nrows; i++) {
		g = &(*v)[(*n)++];
		*g = rows[i];
		g->quota = xstrdup(rows[i].quota);
		g->key = xstrdup(rows[i].key);
	}
}

void
queue_counters_free(struct queue_counter **v, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free((char *)(*v)[i].quota);
		free((char *)(*v)[i].key);
	}
	free(*v);
	*v = NULL;
	*n = 0;
}
