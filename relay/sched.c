/*
 * sched: the delivery schedule (see sched.h).
 *
 * Structures: each waiting recipient is an item, either in the heap (by
 * due time) or in its destination's line (due, but the destination was
 * busy).  Items are found by message (to group a message's recipients
 * for one destination into one delivery) through a hash of messages, and
 * destinations through a hash of destinations that counts their active
 * deliveries.  A handed-out delivery owns copies of what it carries; its
 * items are gone from the schedule.
 */
#include <sys/queue.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/heap.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "sched.h"

struct sched_dest;
struct sched_msg;

struct sched_item {
	struct heap_node	 node;		/* first: heap_node -> item */
	struct sched_msg	*msg;
	struct sched_dest	*dest;
	int			 rcpt;
	char			*addr;
	bool			 in_line;	/* in dest->line, not the heap */
	TAILQ_ENTRY(sched_item)	 line_link;
	TAILQ_ENTRY(sched_item)	 msg_link;
};

TAILQ_HEAD(sched_items, sched_item);

struct sched_msg {
	char			 id[QUEUE_ID_SIZE];
	struct sched_items	 items;
	bool			 unsorted;	/* items not in ascending rcpt
						   order (a miss must scan) */
	struct sched_msg	*hnext;
};

struct sched_dest {
	char			*name;
	unsigned		 active;
	struct sched_items	 line;
	size_t			 nline;
	struct sched_dest	*hnext;
};

struct sched {
	struct sched_limits	 lim;
	sched_dest_fn		*dest_of;
	void			*arg;
	struct heap		 heap;
	size_t			 nline;		/* items in all lines */
	unsigned		 active;
	struct sched_msg	**msgs;
	size_t			 nmsgbuckets, nmsgs;
	struct sched_dest	**dests;
	size_t			 ndestbuckets, ndests;
};

static size_t
sched_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Doubles a chained table of either kind; next_of gives the chain link. */
#define SCHED_GROW(tab, nb, type, key) do {				\
	size_t i_, nnb_ = (nb) * 2;					\
	type **nt_ = xcalloc(nnb_, sizeof(*nt_));			\
	for (i_ = 0; i_ < (nb); i_++) {					\
		type *e_, *n_;						\
		for (e_ = (tab)[i_]; e_ != NULL; e_ = n_) {		\
			size_t b_ = sched_hash(e_->key) & (nnb_ - 1);	\
			n_ = e_->hnext;					\
			e_->hnext = nt_[b_];				\
			nt_[b_] = e_;					\
		}							\
	}								\
	free(tab);							\
	(tab) = nt_;							\
	(nb) = nnb_;							\
} while (0)

static struct sched_msg *
sched_msg_get(struct sched *s, const char *id, bool create)
{
	size_t b = sched_hash(id) & (s->nmsgbuckets - 1);
	struct sched_msg *m;

	for (m = s->msgs[b]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	if (!create)
		return NULL;
	if (s->nmsgs >= s->nmsgbuckets) {
		SCHED_GROW(s->msgs, s->nmsgbuckets, struct sched_msg, id);
		b = sched_hash(id) & (s->nmsgbuckets - 1);
	}
	m = xcalloc(1, sizeof(*m));
	str_copy(m->id, id, sizeof(m->id));
	TAILQ_INIT(&m->items);
	m->hnext = s->msgs[b];
	s->msgs[b] = m;
	s->nmsgs++;
	return m;
}

static void
sched_msg_drop_if_empty(struct sched *s, struct sched_msg *m)
{
	struct sched_msg **pp;

	if (!TAILQ_EMPTY(&m->items))
		return;
	pp = &s->msgs[sched_hash(m->id) & (s->nmsgbuckets - 1)];
	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	s->nmsgs--;
	free(m);
}

static struct sched_dest *
sched_dest_get(struct sched *s, const char *name)
{
	size_t b = sched_hash(name) & (s->ndestbuckets - 1);
	struct sched_dest *d;

	for (d = s->dests[b]; d != NULL; d = d->hnext)
		if (strcmp(d->name, name) == 0)
			return d;
	if (s->ndests >= s->ndestbuckets) {
		SCHED_GROW(s->dests, s->ndestbuckets, struct sched_dest, name);
		b = sched_hash(name) & (s->ndestbuckets - 1);
	}
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	TAILQ_INIT(&d->line);
	d->hnext = s->dests[b];
	s->dests[b] = d;
	s->ndests++;
	return d;
}

void
sched_set_limits(struct sched *s, const struct sched_limits *lim)
{
	s->lim = *lim;
	if (s->lim.connections == 0)
		s->lim.connections = 1;
	if (s->lim.per_destination == 0)
		s->lim.per_destination = 1;
}

struct sched *
sched_new(const struct sched_limits *lim, sched_dest_fn *dest_of, void *arg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	sched_set_limits(s, lim);
	s->dest_of = dest_of;
	s->arg = arg;
	heap_init(&s->heap);
	s->nmsgbuckets = s->ndestbuckets = 64;
	s->msgs = xcalloc(s->nmsgbuckets, sizeof(*s->msgs));
	s->dests = xcalloc(s->ndestbuckets, sizeof(*s->dests));
	return s;
}

/* Takes an item out of the heap or its line and out of its message. */
static void
sched_unlink(struct sched *s, struct sched_item *it)
{
	if (it->in_line) {
		TAILQ_REMOVE(&it->dest->line, it, line_link);
		it->dest->nline--;
		s->nline--;
		it->in_line = false;
	} else if (heap_node_is_queued(&it->node))
		heap_remove(&s->heap, &it->node);
	TAILQ_REMOVE(&it->msg->items, it, msg_link);
}

static void
sched_item_free(struct sched_item *it)
{
	free(it->addr);
	free(it);
}

void
sched_free(struct sched **sp)
{
	struct sched *s = *sp;
	struct sched_item *it;
	struct sched_dest *d, *dn;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nmsgbuckets; i++) {
		while (s->msgs[i] != NULL) {
			struct sched_msg *m = s->msgs[i];

			while ((it = TAILQ_FIRST(&m->items)) != NULL) {
				sched_unlink(s, it);
				sched_item_free(it);
			}
			s->msgs[i] = m->hnext;
			free(m);
		}
	}
	for (i = 0; i < s->ndestbuckets; i++) {
		for (d = s->dests[i]; d != NULL; d = dn) {
			dn = d->hnext;
			free(d->name);
			free(d);
		}
	}
	heap_free(&s->heap);
	free(s->msgs);
	free(s->dests);
	free(s);
	*sp = NULL;
}

static struct sched_item *
sched_find(struct sched_msg *m, int rcpt)
{
	struct sched_item *it = TAILQ_LAST(&m->items, sched_items);

	/* loading a message adds its recipients in order: past the last,
	 * none can match (no scan: 1,000 recipients would cost 500,000) */
	if (!m->unsorted && (it == NULL || it->rcpt < rcpt))
		return NULL;
	TAILQ_FOREACH(it, &m->items, msg_link)
		if (it->rcpt == rcpt)
			return it;
	return NULL;
}

/* Before rcpt goes to the tail of m's items: still ascending? */
static void
sched_note_order(struct sched_msg *m, int rcpt)
{
	struct sched_item *last = TAILQ_LAST(&m->items, sched_items);

	if (last != NULL && last->rcpt >= rcpt)
		m->unsorted = true;
}

void
sched_add(struct sched *s, const char *id, int rcpt, const char *addr,
    int64_t due)
{
	struct sched_msg *m = sched_msg_get(s, id, true);
	struct sched_item *it = sched_find(m, rcpt);

	if (it != NULL) {
		if (it->in_line) {
			sched_unlink(s, it);
			sched_note_order(m, rcpt);
			TAILQ_INSERT_TAIL(&m->items, it, msg_link);
			heap_push(&s->heap, &it->node, due);
		} else
			heap_rekey(&s->heap, &it->node, due);
		return;
	}
	it = xcalloc(1, sizeof(*it));
	it->msg = m;
	it->rcpt = rcpt;
	it->addr = xstrdup(addr);
	it->dest = sched_dest_get(s, s->dest_of(addr, s->arg));
	sched_note_order(m, rcpt);
	TAILQ_INSERT_TAIL(&m->items, it, msg_link);
	heap_push(&s->heap, &it->node, due);
}

/* One waiting item's destination, asked again. */
static void
sched_item_rekey(struct sched *s, struct sched_item *it)
{
	const char *name = s->dest_of(it->addr, s->arg);

	if (strcmp(name, it->dest->name) == 0)
		return;
	if (it->in_line) {
		/* due already: back to the heap, at the due time it had */
		TAILQ_REMOVE(&it->dest->line, it, line_link);
		it->dest->nline--;
		s->nline--;
		it->in_line = false;
		heap_push(&s->heap, &it->node, it->node.key);
	}
	it->dest = sched_dest_get(s, name);
}

void
sched_rekey(struct sched *s)
{
	struct sched_msg *m;
	struct sched_item *it;
	size_t i;

	for (i = 0; i < s->nmsgbuckets; i++)
		for (m = s->msgs[i]; m != NULL; m = m->hnext)
			TAILQ_FOREACH(it, &m->items, msg_link)
				sched_item_rekey(s, it);
}

void
sched_remove(struct sched *s, const char *id, int rcpt)
{
	struct sched_msg *m = sched_msg_get(s, id, false);
	struct sched_item *it, *next;

	if (m == NULL)
		return;
	for (it = TAILQ_FIRST(&m->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, msg_link);
		if (rcpt == -1 || it->rcpt == rcpt) {
			sched_unlink(s, it);
			sched_item_free(it);
		}
	}
	sched_msg_drop_if_empty(s, m);
}

size_t
sched_waiting(const struct sched *s)
{
	return heap_len(&s->heap) + s->nline;
}

unsigned
sched_active(const struct sched *s)
{
	return s->active;
}

static bool
sched_dest_free(const struct sched *s, const struct sched_dest *d)
{
	return d->active < s->lim.per_destination;
}

/* A destination with a line and a free slot, if any. */
static struct sched_dest *
sched_ready_line(const struct sched *s)
{
	struct sched_dest *d;
	size_t i;

	if (s->nline == 0)
		return NULL;
	for (i = 0; i < s->ndestbuckets; i++)
		for (d = s->dests[i]; d != NULL; d = d->hnext)
			if (d->nline > 0 && sched_dest_free(s, d))
				return d;
	return NULL;
}

int64_t
sched_next_due(const struct sched *s)
{
	const struct heap_node *top = heap_peek(&s->heap);

	if (s->active < s->lim.connections && sched_ready_line(s) != NULL)
		return INT64_MIN;
	return top ? top->key : INT64_MAX;
}

/* Makes the delivery of `first` and every other recipient of its message
 * for the same destination that is due by now. */
static struct sched_delivery *
sched_make(struct sched *s, struct sched_item *first, int64_t now)
{
	struct sched_msg *m = first->msg;
	struct sched_dest *d = first->dest;
	struct sched_delivery *dl = xcalloc(1, sizeof(*dl));
	struct sched_item *it, *next;
	size_t n = 0;

	TAILQ_FOREACH(it, &m->items, msg_link)
		n++;
	dl->rcpts = xcalloc(n, sizeof(*dl->rcpts));
	dl->addrs = xcalloc(n, sizeof(*dl->addrs));
	memcpy(dl->id, m->id, sizeof(dl->id));
	dl->dest = d->name;
	for (it = TAILQ_FIRST(&m->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, msg_link);
		if (it != first && (it->dest != d || (!it->in_line &&
		    it->node.key > now)))
			continue;
		sched_unlink(s, it);
		dl->rcpts[dl->nrcpt] = it->rcpt;
		dl->addrs[dl->nrcpt++] = it->addr;	/* the delivery owns it */
		free(it);
	}
	sched_msg_drop_if_empty(s, m);
	d->active++;
	s->active++;
	return dl;
}

struct sched_delivery *
sched_next(struct sched *s, int64_t now)
{
	struct heap_node *top;
	struct sched_item *it;
	struct sched_dest *d;

	if (s->active >= s->lim.connections)
		return NULL;
	if ((d = sched_ready_line(s)) != NULL)
		return sched_make(s, TAILQ_FIRST(&d->line), now);
	while ((top = heap_peek(&s->heap)) != NULL && top->key <= now) {
		it = (struct sched_item *)(void *)top;
		if (sched_dest_free(s, it->dest))
			return sched_make(s, it, now);
		/* busy: wait in the destination's line, in due order */
		heap_remove(&s->heap, top);
		TAILQ_INSERT_TAIL(&it->dest->line, it, line_link);
		it->in_line = true;
		it->dest->nline++;
		s->nline++;
	}
	return NULL;
}

void
sched_finish(struct sched *s, struct sched_delivery **dlp)
{
	struct sched_delivery *dl = *dlp;
	struct sched_dest *d;
	size_t i;

	if (dl == NULL)
		return;
	d = sched_dest_get(s, dl->dest);
	d->active--;
	s->active--;
	for (i = 0; i < dl->nrcpt; i++)
		free((char *)(uintptr_t)dl->addrs[i]);
	free(dl->addrs);
	free(dl->rcpts);
	free(dl);
	*dlp = NULL;
}
