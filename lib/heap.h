/*
 * heap: a binary min-heap of nodes the caller embeds in its own structs
 * (the scheduler's due times).  Equal keys come out in insertion order, so
 * recipients due at the same second leave in arrival order.  O(log n)
 * push, pop, remove and re-key; no allocation per node.
 */
#ifndef SLUICE_HEAP_H
#define SLUICE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct heap_node {
	int64_t		key;
	uint64_t	seq;	/* insertion order, breaks ties */
	size_t		idx;	/* position + 1; 0 when not in a heap */
};

struct heap {
	struct heap_node	**v;
	size_t			  n, cap;
	uint64_t		  seq;
};

void	heap_init(struct heap *);
/* Frees the array; the nodes are the caller's. */
void	heap_free(struct heap *);
size_t	heap_len(const struct heap *);
/* Adds a node that is in no heap. */
void	heap_push(struct heap *, struct heap_node *, int64_t key);
/* The node with the smallest key, or NULL. */
struct heap_node *heap_peek(const struct heap *);
/* Removes and returns the smallest, or NULL. */
struct heap_node *heap_pop(struct heap *);
/* Removes a node that is in this heap. */
void	heap_remove(struct heap *, struct heap_node *);
/* Gives a node in this heap a new key (it keeps its insertion order). */
void	heap_rekey(struct heap *, struct heap_node *, int64_t key);
bool	heap_node_is_queued(const struct heap_node *);

#endif
