/*
 * test_heap: the scheduler's min-heap against a brute-force model: random
 * pushes, pops, removals and re-keys; ties leave in insertion order.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/heap.h"
#include "t.h"

#define N	2000

struct item {
	struct heap_node	node;	/* first: a cast gets the item back */
	int			id;
	int64_t			key;
	uint64_t		order;	/* the model's insertion order */
	int			queued;
};

/* The model's minimum: smallest key, then earliest insertion. */
static struct item *
model_min(struct item *it, size_t n)
{
	struct item *best = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (it[i].queued && (best == NULL || it[i].key < best->key ||
		    (it[i].key == best->key && it[i].order < best->order)))
			best = &it[i];
	return best;
}

static void
test_random(void)
{
	static struct item it[N];
	struct heap h;
	uint64_t order = 0;
	int i, step, bad = 0, ops = 0;

	srand(42);
	heap_init(&h);
	for (step = 0; step < 20000; step++) {
		struct item *x = &it[rand() % N];
		int op = rand() % 4;

		ops++;
		if (!x->queued && op != 3) {
			x->id = (int)(x - it);
			x->key = rand() % 50;		/* many ties */
			x->order = order++;
			x->queued = 1;
			heap_push(&h, &x->node, x->key);
		} else if (x->queued && op == 0) {
			heap_remove(&h, &x->node);
			x->queued = 0;
		} else if (x->queued && op == 1) {
			x->key = rand() % 50;
			heap_rekey(&h, &x->node, x->key);
		} else {
			struct item *want = model_min(it, N);
			struct item *got = (struct item *)heap_pop(&h);

			if (want != got) {
				bad++;
				break;
			}
			if (got != NULL)
				got->queued = 0;
		}
	}
	T_EQ_INT(bad, 0, "heap agrees with the model over 20000 operations");
	for (i = 0, bad = 0; i < N; i++)
		if ((it[i].queued != 0) != heap_node_is_queued(&it[i].node))
			bad++;
	T_EQ_INT(bad, 0, "queued flags agree");
	heap_free(&h);
	T_EQ_INT(heap_len(&h), 0, "freed heap is empty");
}

static void
test_ties_fifo(void)
{
	struct item it[5];
	struct heap h;
	char got[8];
	int i;

	heap_init(&h);
	for (i = 0; i < 5; i++) {
		it[i].id = i;
		heap_push(&h, &it[i].node, i == 2 ? 1 : 7);
	}
	for (i = 0; i < 5; i++)
		got[i] = (char)('0' + ((struct item *)heap_pop(&h))->id);
	got[5] = '\0';
	T_EQ_STR(got, "20134", "equal due times leave in arrival order");
	T_OK(heap_pop(&h) == NULL, "empty heap pops NULL");
	heap_free(&h);
}

int
main(void)
{
	test_ties_fifo();
	test_random();
	return t_done();
}
