/*
 * heap: the classic array heap.  Each node knows its index (idx - 1) so it
 * can be removed or re-keyed in place; idx 0 means "not queued".
 */
#include <stdlib.h>

#include "heap.h"
#include "xalloc.h"

static bool
heap_less(const struct heap_node *a, const struct heap_node *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void
heap_set(struct heap *h, size_t i, struct heap_node *node)
{
	h->v[i] = node;
	node->idx = i + 1;
}

static void
heap_up(struct heap *h, size_t i)
{
	struct heap_node *node = h->v[i];

	while (i > 0 && heap_less(node, h->v[(i - 1) / 2])) {
		heap_set(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, node);
}

static void
heap_down(struct heap *h, size_t i)
{
	struct heap_node *node = h->v[i];
	size_t c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && heap_less(h->v[c + 1], h->v[c]))
			c++;
		if (!heap_less(h->v[c], node))
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, node);
}

void
heap_init(struct heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->seq = 0;
}

void
heap_free(struct heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		h->v[i]->idx = 0;
	free(h->v);
	heap_init(h);
}

size_t
heap_len(const struct heap *h)
{
	return h->n;
}

void
heap_push(struct heap *h, struct heap_node *node, int64_t key)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	node->key = key;
	node->seq = h->seq++;
	h->v[h->n] = node;
	h->n++;
	heap_up(h, h->n - 1);
}

struct heap_node *
heap_peek(const struct heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void
heap_remove(struct heap *h, struct heap_node *node)
{
	size_t i = node->idx - 1;
	struct heap_node *last;

	node->idx = 0;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	heap_set(h, i, last);
	if (i > 0 && heap_less(last, h->v[(i - 1) / 2]))
		heap_up(h, i);
	else
		heap_down(h, i);
}

struct heap_node *
heap_pop(struct heap *h)
{
	struct heap_node *top = heap_peek(h);

	if (top != NULL)
		heap_remove(h, top);
	return top;
}

void
heap_rekey(struct heap *h, struct heap_node *node, int64_t key)
{
	size_t i = node->idx - 1;

	node->key = key;
	if (i > 0 && heap_less(node, h->v[(i - 1) / 2]))
		heap_up(h, i);
	else
		heap_down(h, i);
}

bool
heap_node_is_queued(const struct heap_node *node)
{
	return node->idx != 0;
}
